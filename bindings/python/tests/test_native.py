"""Python <-> C goroutines through one engine: go_native, typed channels,
Chan/Promise.from_handle, get_include/get_library."""
import asyncio
import ctypes
import os
import time

import pytest

import gort
from conftest import T, assert_clean_exit, run_in_goroutine, run_in_thread, run_python


def _recv_all(ch, timeout=T):
    out = []
    while True:
        v, ok = ch.recv2(timeout=timeout)
        if not ok:
            return out
        out.append(v)


def _chan_ptr(ffi, ch):
    return ffi.cast("gort_chan *", ch.address)


# ---- get_include / get_library -----------------------------------------------------

def test_get_include_and_library():
    inc = gort.get_include()
    assert os.path.isfile(os.path.join(inc, "gort.h"))
    lib = gort.get_library()
    assert os.path.isfile(lib)
    assert os.path.basename(lib).startswith("libgort.so")


def test_version_matches_c_library():
    assert isinstance(gort.__version__, str)
    assert gort.__version__ == "%d.%d.%d" % gort.version_info
    assert all(isinstance(x, int) for x in gort.version_info)
    lib = ctypes.CDLL(gort.get_library())
    lib.gort_version_string.restype = ctypes.c_char_p
    lib.gort_version.restype = ctypes.c_uint
    assert lib.gort_version_string().decode() == gort.__version__
    ma, mi, pa = gort.version_info
    assert lib.gort_version() == (ma << 16) | (mi << 8) | pa
    with open(os.path.join(gort.get_include(), "gort.h")) as f:
        text = f.read()
    for k, v in zip(("MAJOR", "MINOR", "PATCH"), gort.version_info):
        assert "#define GORT_VERSION_%s %d" % (k, v) in text


def test_helpers_use_the_same_engine(native):
    ffi, lib, _ = native
    assert ffi.string(lib.lib_version_string()).decode() == gort.__version__


# ---- native goroutines over typed channels ----------------------------------------------

def test_c_producer_to_python_main_thread(native):
    ffi, lib, _ = native
    ch = gort.Chan(0, ctype="int64_t")
    arg = ffi.new("struct prod_arg *", {"ch": _chan_ptr(ffi, ch), "n": 1000})
    assert gort.go_native(lib.producer, arg) is None
    assert _recv_all(ch) == list(range(1000))


def test_c_producer_to_python_goroutine(native):
    ffi, lib, _ = native
    ch = gort.Chan(16, ctype="int64_t")
    arg = ffi.new("struct prod_arg *", {"ch": _chan_ptr(ffi, ch), "n": 5000})
    gort.go_native(lib.producer, arg, name="producer")
    assert run_in_goroutine(lambda: sum(ch)) == sum(range(5000))


def test_python_goroutine_to_c_doubler_and_back(native):
    ffi, lib, _ = native
    cin = gort.Chan(0, ctype="int64_t")
    cout = gort.Chan(4, ctype="int64_t")
    arg = ffi.new("struct pipe_arg *", {"in": _chan_ptr(ffi, cin), "out": _chan_ptr(ffi, cout)})
    gort.go_native(lib.doubler, arg)

    def feed():
        for i in range(1000):
            cin.send(i, timeout=T)
        cin.close()

    gort.go(feed)
    assert _recv_all(cout) == [2 * i for i in range(1000)]


def test_doubler_from_thread_and_main(native):
    ffi, lib, _ = native
    cin = gort.Chan(0, ctype="int64_t")
    cout = gort.Chan(0, ctype="int64_t")
    arg = ffi.new("struct pipe_arg *", {"in": _chan_ptr(ffi, cin), "out": _chan_ptr(ffi, cout)})
    gort.go_native(lib.doubler, arg)
    collector = gort.spawn(lambda: list(cout))

    def feed():
        for i in range(-50, 50):
            cin.send(i, timeout=T)
        cin.close()

    run_in_thread(feed)
    assert collector.result(timeout=T) == [2 * i for i in range(-50, 50)]


def test_python_to_c_summer(native):
    ffi, lib, _ = native
    cin = gort.Chan(8, ctype="int64_t")
    done = gort.Chan(0, ctype="int64_t")
    arg = ffi.new("struct sum_arg *", {"in": _chan_ptr(ffi, cin), "done": _chan_ptr(ffi, done)})
    gort.go_native(lib.summer, arg)
    wg = gort.WaitGroup()
    for g in range(10):
        wg.go(lambda g=g: [cin.send(g * 100 + i, timeout=T) for i in range(100)])
    assert wg.wait(timeout=T)
    cin.close()
    assert done.recv2(timeout=T) == (None, False)
    assert arg.count == 1000
    assert arg.sum == sum(range(1000))


def test_c_double_producer(native):
    ffi, lib, _ = native
    ch = gort.Chan(0, ctype="double")
    arg = ffi.new("struct prod_arg *", {"ch": _chan_ptr(ffi, ch), "n": 10})
    gort.go_native(lib.dproducer, arg)
    assert _recv_all(ch) == [i + 0.5 for i in range(10)]


def test_go_native_integer_addresses(native):
    ffi, lib, _ = native
    ch = gort.Chan(0, ctype="int64_t")
    arg = ffi.new("struct prod_arg *", {"ch": _chan_ptr(ffi, ch), "n": 10})
    fn_addr = int(ffi.cast("uintptr_t", lib.producer))
    arg_addr = int(ffi.cast("uintptr_t", arg))
    gort.go_native(fn_addr, arg_addr)
    assert _recv_all(ch) == list(range(10))


def test_go_native_with_ctypes(native):
    _, _, path = native
    clib = ctypes.CDLL(path)

    class ProdArg(ctypes.Structure):
        _fields_ = [("ch", ctypes.c_void_p), ("n", ctypes.c_int64)]

    ch = gort.Chan(0, ctype="int64_t")
    arg = ProdArg(ch.address, 20)
    fn = ctypes.cast(clib.producer, ctypes.c_void_p).value
    gort.go_native(fn, ctypes.addressof(arg))
    assert _recv_all(ch) == list(range(20))


def test_native_goroutine_runs_without_the_gil(native):
    """A C goroutine keeps counting while the main thread holds the GIL in a
    pure-Python loop."""
    ffi, lib, _ = native
    done = gort.Chan(0, ctype="int64_t")
    arg = ffi.new("struct spin_arg *", {"done": _chan_ptr(ffi, done)})
    gort.go_native(lib.spinner, arg)
    # wait for it to start (a condition, not a sleep)
    deadline = time.monotonic() + T
    while arg.counter == 0 and time.monotonic() < deadline:
        pass
    c0 = arg.counter
    assert c0 > 0
    t0 = time.monotonic()
    x = 0
    while time.monotonic() - t0 < 0.1:   # hold the GIL, busy in Python
        x += 1
    progressed = arg.counter - c0
    arg.stop = 1
    assert done.recv2(timeout=T) == (None, False)
    assert progressed > 1000


def test_go_native_bad_input(native):
    ffi, lib, _ = native
    with pytest.raises((TypeError, ValueError)):
        gort.go_native(None)              # None is NULL for cffi
    with pytest.raises(TypeError):
        gort.go_native("producer")
    with pytest.raises((TypeError, ValueError)):
        gort.go_native(0)                 # NULL function
    with pytest.raises(TypeError):
        gort.go_native(lib.producer, "not a pointer")
    with pytest.raises(TypeError):
        gort.go_native(lib.producer, 1.5)


# ---- C-made channels and promises --------------------------------------------------

def test_chan_from_c_handle(native):
    ffi, lib, _ = native
    raw = lib.make_chan_int64(2)
    ch = gort.Chan.from_handle(raw, ctype="int64_t")
    lib.release_chan(raw)                    # the wrapper holds its own reference
    assert ch.cap == 2
    ch.send(11)
    assert ch.recv(timeout=T) == 11
    # and a C goroutine can use it through the wrapper's address
    arg = ffi.new("struct prod_arg *", {"ch": _chan_ptr(ffi, ch), "n": 5})
    gort.go_native(lib.producer, arg)
    assert _recv_all(ch) == list(range(5))


def _int64_at(ffi, v):
    assert v is not None
    return ffi.cast("int64_t *", v)[0]


def test_promise_from_c_resolved(native):
    ffi, lib, _ = native
    raw = lib.make_int64_promise(1234)
    p = gort.Promise.from_handle(raw)
    lib.release_promise(raw)
    assert p.state == "fulfilled"
    assert p.done()
    v = p.result(timeout=T)
    assert _int64_at(ffi, v) == 1234


def test_promise_from_c_non_pointer_value(native):
    """A C value is any void *, e.g. an integer cast to a pointer: the
    binding must hand it back without dereferencing it (in a subprocess, in
    case it crashes)."""
    _, _, path = native
    cp, _ = run_python("""
        import cffi, gort
        ffi = cffi.FFI()
        ffi.cdef("typedef struct gort_promise gort_promise;"
                 "gort_promise *make_resolved_promise(intptr_t v);"
                 "void release_promise(gort_promise *p);")
        lib = ffi.dlopen(%r)
        for v in (1234, 1, 8, 0x7fffffff):
            raw = lib.make_resolved_promise(v)
            p = gort.Promise.from_handle(raw)
            lib.release_promise(raw)
            assert p.state == "fulfilled", p.state
            got = p.result(timeout=10)
            assert int(ffi.cast("intptr_t", got)) == v
            got = gort.Promise.all([p]).result(timeout=10)[0]
            assert int(ffi.cast("intptr_t", got)) == v
            assert p.then(lambda x: 5).result(timeout=10) == 5
        print("ok")
    """ % path)
    assert_clean_exit(cp)
    assert cp.stdout.strip() == "ok"


def test_promise_from_c_null_value(native):
    ffi, lib, _ = native
    raw = lib.make_null_promise()
    p = gort.Promise.from_handle(raw)
    lib.release_promise(raw)
    assert p.result(timeout=T) is None


def test_promise_from_c_rejected(native):
    ffi, lib, _ = native
    raw = lib.make_rejected_promise()
    p = gort.Promise.from_handle(raw)
    lib.release_promise(raw)
    with pytest.raises(gort.GortError) as ei:
        p.result(timeout=T)
    e = ei.value
    assert e.code == -22
    assert e.name == "GORT_EINVAL"
    assert "native failure" in str(e)


def test_promise_from_c_settled_later(native):
    ffi, lib, _ = native
    raw = lib.make_pending_promise()
    p = gort.Promise.from_handle(raw)
    assert p.state == "pending"
    waiter = gort.spawn(p.result, timeout=T)
    assert lib.resolve_promise_int64(raw, 77) == 0
    lib.release_promise(raw)
    assert _int64_at(ffi, waiter.result(timeout=T)) == 77


def test_promise_from_gort_async(native):
    ffi, lib, _ = native
    ps = []
    for x in range(10):
        raw = lib.async_square(x)
        ps.append(gort.Promise.from_handle(raw))
        lib.release_promise(raw)
    vals = gort.Promise.all(ps).result(timeout=T)
    assert [_int64_at(ffi, v) for v in vals] == [x * x for x in range(10)]


def test_await_c_promise_in_asyncio(native):
    ffi, lib, _ = native

    async def main():
        raw = lib.async_square(12)
        p = gort.Promise.from_handle(raw)
        lib.release_promise(raw)
        return p, await asyncio.wait_for(asyncio.ensure_future(p), 30)

    p, v = asyncio.run(main())      # p keeps the C value alive
    assert _int64_at(ffi, v) == 144


def test_promise_handle_round_trip(native):
    p = gort.Promise()
    q = gort.Promise.from_handle(p.handle)
    assert q.state == "pending"
    p.resolve("shared")
    assert q.done()
    assert p.result(timeout=T) == "shared"


@pytest.mark.parametrize("bad", ["None", "0", "'p'", "b'q'", "4096.0", "[1]"])
def test_promise_from_handle_bad_input(bad):
    # in a subprocess: a bad handle must raise, and must not crash
    cp, _ = run_python("""
        import gort
        try:
            gort.Promise.from_handle(%s)
        except (TypeError, ValueError) as e:
            print("raised", type(e).__name__)
        else:
            print("no exception")
    """ % bad)
    assert_clean_exit(cp)
    assert cp.stdout.startswith("raised"), cp.stdout
