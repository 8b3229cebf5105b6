"""Module-level facts: version, errors, public names."""
import pytest

import gort

PUBLIC = [
    "__version__", "version_info", "GortError", "ChanClosed", "AggregateError",
    "procs", "num_goroutine", "goroutine_id", "in_goroutine", "now", "sleep", "yield_",
    "excepthook", "go", "spawn", "go_native", "get_include", "get_library",
    "Chan", "Recv", "Send", "Selected", "select", "after", "Ticker",
    "WaitGroup", "Mutex", "RWMutex", "Semaphore", "Promise", "from_asyncio",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_exist(name):
    assert hasattr(gort, name)


def test_version():
    assert isinstance(gort.__version__, str)
    assert isinstance(gort.version_info, tuple) and len(gort.version_info) == 3
    assert gort.__version__ == ".".join(map(str, gort.version_info))


def test_error_hierarchy():
    assert issubclass(gort.GortError, Exception)
    assert issubclass(gort.ChanClosed, gort.GortError)
    assert issubclass(gort.AggregateError, gort.GortError)


def test_gort_error_fields():
    e = gort.GortError(-22)
    assert e.code == -22
    assert e.name == "GORT_EINVAL"
    assert "invalid argument" in str(e)
    e2 = gort.GortError(-1002, "custom message")
    assert e2.code == -1002 and e2.name == "GORT_ECLOSED"
    assert "custom message" in str(e2)
    with pytest.raises(gort.GortError):
        raise e2


def test_gort_error_unknown_code():
    e = gort.GortError(-99999)
    assert e.code == -99999
    assert isinstance(e.name, str)


def test_chanclosed_and_aggregate_fields():
    ch = gort.Chan()
    ch.close()
    try:
        ch.send(1)
    except gort.ChanClosed as e:
        assert e.code == -1002 and e.name == "GORT_ECLOSED"
    else:
        pytest.fail("no ChanClosed")
    try:
        gort.Promise.any([gort.Promise.rejected(ValueError())]).result(timeout=10)
    except gort.AggregateError as e:
        assert e.code == -1005 and e.name == "GORT_EAGGREGATE"
        assert len(e.errors) == 1 and isinstance(e.errors[0], ValueError)
    else:
        pytest.fail("no AggregateError")


def test_selected_is_a_namedtuple():
    s = gort.Selected(1, "v", True)
    assert s.index == 1 and s.value == "v" and s.ok is True
    assert tuple(s) == (1, "v", True)
    assert gort.Selected._fields == ("index", "value", "ok")
