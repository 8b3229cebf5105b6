"""Hostile use of the binding (issue 10): copying and pickling handles, a
WaitGroup body that raises, bad arguments, and the messages they give."""
import copy
import multiprocessing
import pickle
import sys

import pytest

import gort

from conftest import T, assert_clean_exit, run_python

if sys.version_info >= (3, 11):
    _EG = ExceptionGroup  # noqa: F821
else:
    from exceptiongroup import ExceptionGroup as _EG


def _handles():
    rw = gort.RWMutex()
    ch = gort.Chan(1)
    return {
        "Chan": ch, "typed Chan": gort.Chan(1, ctype="int64_t"), "after": gort.after(60),
        "Ticker": gort.Ticker(60), "Promise": gort.Promise(), "Mutex": gort.Mutex(),
        "RWMutex": rw, "reader": rw.reader(), "WaitGroup": gort.WaitGroup(),
        "Semaphore": gort.Semaphore(2), "Recv": gort.Recv(ch), "Send": gort.Send(ch, 1),
    }


@pytest.mark.parametrize("op", ["copy", "deepcopy", "pickle", "pickle0", "reduce"])
def test_handles_refuse_copy_and_pickle(op):
    for kind, h in _handles().items():
        with pytest.raises(TypeError, match="cannot"):
            if op == "copy":
                copy.copy(h)
            elif op == "deepcopy":
                copy.deepcopy(h)
            elif op == "pickle":
                pickle.dumps(h, protocol=pickle.HIGHEST_PROTOCOL)
            elif op == "pickle0":
                pickle.dumps(h, protocol=0)
            else:
                h.__reduce__()
        if isinstance(h, gort.Ticker):
            h.stop()
    # the originals still work (nothing was released twice)
    ch = gort.Chan(1)
    with pytest.raises(TypeError):
        copy.copy(ch)
    ch.send("x")
    assert ch.recv(timeout=T) == "x"


def test_deepcopy_of_a_structure_holding_a_channel_refuses():
    with pytest.raises(TypeError):
        copy.deepcopy({"jobs": [gort.Chan(1)]})


def test_chan_to_spawn_process_is_a_typeerror_in_the_parent():
    # The child must never see a raw engine address: the parent refuses.
    cp, _ = run_python("""
        import multiprocessing, gort
        def child(ch):
            ch.send(1)
        if __name__ == "__main__":
            ctx = multiprocessing.get_context("spawn")
            p = ctx.Process(target=child, args=(gort.Chan(1),))
            try:
                p.start()
            except TypeError as e:
                print("TypeError:", e)
            else:
                p.join(10)
                print("child exit", p.exitcode)
    """, timeout=60)
    assert_clean_exit(cp)
    assert "TypeError: cannot pickle 'Chan' object" in cp.stdout, cp.stdout + cp.stderr
    assert multiprocessing  # (the module is importable here too)


# ---- WaitGroup as a context manager ----------------------------------------------------

def test_waitgroup_body_exception_propagates_without_hanging():
    jobs = gort.Chan()
    done = gort.Chan(1)

    def member():
        for _ in jobs:  # waits for the body to close jobs: it never will
            pass
        done.send("member finished")

    with pytest.raises(ZeroDivisionError):
        with gort.WaitGroup() as wg:
            wg.go(member)
            1 / 0
    jobs.close()  # let the member end
    assert done.recv(timeout=T) == "member finished"


def test_waitgroup_members_exceptions_surface_as_exception_group(excepthook_calls):
    def bad(n):
        raise ValueError("member %d" % n)

    with pytest.raises(_EG) as ei:
        with gort.WaitGroup() as wg:
            for n in range(3):
                wg.go(bad, n)
            wg.go(lambda: None)
    excs = ei.value.exceptions
    assert sorted(str(e) for e in excs) == ["member 0", "member 1", "member 2"]
    assert all(isinstance(e, ValueError) for e in excs)
    assert len(excepthook_calls) == 0  # collected, not also reported


def test_waitgroup_members_named_after_their_function(excepthook_calls):
    def worker_fn():
        raise KeyError("k")

    wg = gort.WaitGroup()  # not a context manager: excepthook as for go()
    wg.go(worker_fn)
    assert wg.wait(timeout=T)
    exc, name, _ = excepthook_calls.recv(timeout=T)
    assert isinstance(exc, KeyError)
    assert name.endswith(".worker_fn") and "<locals>.member" not in name


def test_waitgroup_clean_body_still_waits():
    out = gort.Chan(10)
    with gort.WaitGroup() as wg:
        for i in range(5):
            wg.go(lambda i=i: (gort.sleep(0.01), out.send(i)))
    assert len(out) == 5


# ---- messages and types ------------------------------------------------------------------

@pytest.mark.parametrize("fn", [gort.go, gort.spawn, gort.WaitGroup().go])
def test_not_callable_message(fn):
    with pytest.raises(TypeError, match="123 is not callable"):
        fn(123)


@pytest.mark.parametrize("make", [gort.after, gort.Ticker])
@pytest.mark.parametrize("bad", ["x", None, [1], True])
def test_timer_bad_seconds_is_a_clear_typeerror(make, bad):
    with pytest.raises(TypeError, match="seconds must be a number, not"):
        make(bad)


def test_timer_nan_is_a_valueerror():
    with pytest.raises(ValueError, match="NaN"):
        gort.after(float("nan"))


def test_try_recv_is_value_ok_like_recv2():
    ch = gort.Chan(2)
    assert ch.try_recv() == (None, False)
    ch.send(7)
    assert ch.try_recv() == (7, True)
    t = gort.Chan(1, ctype="double")
    assert t.try_recv() == (None, False)
    t.send(1.5)
    assert t.try_recv() == (1.5, True)


def test_generic_aliases_at_runtime():
    assert gort.Chan[int].__origin__ is gort.Chan
    assert gort.Promise[str].__origin__ is gort.Promise
    ch: "gort.Chan[int]" = gort.Chan[int](1)  # the alias is callable too
    ch.send(1)
    assert ch.recv(timeout=T) == 1


# ---- interpreter exit (the same on every version: the suite runs per version) -----------

def test_exit_interrupts_a_computing_goroutine_on_an_older_carrier():
    # The computing goroutine runs on the oldest carrier, five parked ones
    # were made after it: SystemExit must reach it, not a parked one.
    cp, _ = run_python("""
        import gort
        started, go_on, ready = gort.Chan(1), gort.Chan(1), gort.Chan(10)
        def busy():
            try:
                go_on.recv()
                started.send(None)
                while True:
                    pass
            except SystemExit:
                print("except SystemExit", flush=True)
                raise
            finally:
                print("busy finally", flush=True)
        def parked():
            try:
                ready.send(1)
                gort.Chan().recv()
            finally:
                print("parked finally", flush=True)
        gort.go(busy)
        for i in range(5):
            gort.go(parked)
        for i in range(5):
            ready.recv(timeout=10)
        go_on.send(1)
        started.recv(timeout=10)
        print("main done", flush=True)
    """)
    assert_clean_exit(cp)
    assert cp.stdout.split() == ["main", "done", "except", "SystemExit", "busy", "finally"], cp.stdout


# ---- unhandled rejections -------------------------------------------------------------------

@pytest.fixture
def rejection_calls(monkeypatch):
    ch = gort.Chan(100)
    monkeypatch.setattr(gort, "unhandled_rejection_hook", lambda exc: ch.send(exc, timeout=T))
    return ch


def test_unhandled_rejection_reports_the_python_exception(rejection_calls):
    p = gort.spawn(lambda: 1 / 0)
    assert isinstance(p.exception(timeout=T), ZeroDivisionError)  # observed: not reported
    del p
    q = gort.spawn(lambda: {}["missing"])
    gort.sleep(0)  # (the goroutine may run later: the report comes when q is freed)
    del q
    exc = rejection_calls.recv(timeout=T)
    assert isinstance(exc, KeyError)
    assert exc.__traceback__ is not None
    assert len(rejection_calls) == 0  # the observed one was not reported


def test_unhandled_rejection_default_prints_the_traceback():
    cp, _ = run_python("""
        import gort
        def boom():
            raise ValueError("boom in a goroutine")
        p = gort.spawn(boom)
        gort.sleep(0.05)
        del p
        q = gort.Promise()
        q.reject(KeyError("rejected directly"))
        del q
    """)
    assert_clean_exit(cp)
    err = cp.stderr
    assert err.count("gort: unhandled promise rejection:") == 2, err
    assert "Traceback (most recent call last):" in err and "in boom" in err, err
    assert "ValueError: boom in a goroutine" in err and "KeyError: 'rejected directly'" in err, err
    assert "GORT_EREJECTED" not in err, err


# ---- deep recursion in a goroutine: RecursionError, never SIGSEGV ----------------------

def test_deep_recursion_through_a_c_builtin_in_a_goroutine():
    # A goroutine handles the depth the main thread handles (3.12 counts C
    # recursion with a small limit: there both raise RecursionError at 2000),
    # and endless recursion is a RecursionError, never a crash.
    cp, _ = run_python("""
        import sys, gort
        sys.setrecursionlimit(20000)
        def f(n):  # each level goes through C (map, list): C stack per level
            return 0 if n == 0 else list(map(f, [n - 1]))[0] + 1
        def endless(n):
            return list(map(endless, [n + 1]))
        def endless_py(n):
            return endless_py(n + 1)
        def outcome(call):
            try:
                return "depth %d" % call()
            except RecursionError:
                return "RecursionError"
        print(outcome(lambda: f(2000)), flush=True)
        print(outcome(lambda: gort.spawn(f, 2000).result(60)), flush=True)
        for fn in (endless, endless_py):
            e = gort.spawn(fn, 0).exception(60)
            print(type(e).__name__, flush=True)
        print("main still fine", f(100), flush=True)
    """, timeout=120)
    assert_clean_exit(cp)
    out = cp.stdout.split("\n")
    assert out[0] == out[1], cp.stdout + cp.stderr   # the goroutine does what main does
    if sys.version_info[:2] != (3, 12):
        assert out[1] == "depth 2000", cp.stdout
    assert out[2:5] == ["RecursionError", "RecursionError", "main still fine 100"], cp.stdout


# ---- no stack for a goroutine (the vm.max_map_count limit, simulated with RLIMIT_AS) ----

def test_no_stack_for_a_goroutine_is_a_memoryerror_never_a_silent_drop():
    cp, _ = run_python("""
        import resource, gort
        ch, ran, reported = gort.Chan(), gort.Chan(100000), gort.Chan(100000)
        gort.excepthook = lambda exc, name: reported.send((exc, name))
        def member(i):
            ran.send(i)
            ch.recv2()          # parks: its carrier (and stack) stays taken
        gort.spawn(lambda: 1).result(10)   # the executor and engine threads are up
        vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1])
        resource.setrlimit(resource.RLIMIT_AS, ((vm << 10) + (600 << 20), resource.RLIM_INFINITY))
        accepted, err = 0, None
        for i in range(20000):
            if i % 500 == 499:
                gort.sleep(0.01)   # let carriers start (and fail) meanwhile
            try:
                gort.go(member, i)
            except MemoryError as e:
                err = e
                break
            accepted += 1
        p = gort.spawn(ch.recv2)
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        print("go raised:", err)
        print("spawn rejected:", p.exception(10))
        ch.close()
        deadline = gort.now() + 20
        while len(ran) + len(reported) < accepted and gort.now() < deadline:
            gort.sleep(0.01)
        n_reported = len(reported)
        kinds = {type(reported.recv()[0]).__name__ for _ in range(n_reported)}
        print("accepted", accepted, "ran+reported", len(ran) + n_reported, "kinds", sorted(kinds))
    """, timeout=120)
    assert_clean_exit(cp)
    lines = cp.stdout.splitlines()
    for line in lines[:2]:
        assert "vm.max_map_count" in line and "16 MiB" in line, cp.stdout + cp.stderr
    words = lines[2].split()
    assert words[1] == words[3], lines[2]       # every accepted goroutine ran or was reported
    assert words[5:] in ([], ["['MemoryError']"]), lines[2]
    assert "Exception ignored" not in cp.stderr, cp.stderr


# ---- -X dev (debug allocators + GIL checks) on the running version -----------------------

def test_x_dev_goroutines_promises_and_the_worker_pool_example():
    import os
    import subprocess
    from conftest import _pythonpath_env
    example = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "worker_pool.py")
    code = """
import gort, asyncio
assert gort.spawn(lambda: 1).result(10) == 1
ch = gort.Chan()
gort.go(lambda: [ch.send(i) for i in range(100)] and ch.close())
assert sum(ch) == 4950
async def main():
    return await gort.spawn(sum, range(10))
assert asyncio.run(main()) == 45
p = gort.Promise(); p.reject(ValueError("x")); del p
print("ok")
"""
    for args in (["-c", code], [os.path.abspath(example)]):
        cp = subprocess.run([sys.executable, "-X", "dev"] + args, capture_output=True, text=True,
                            timeout=120, env=_pythonpath_env())
        assert_clean_exit(cp)
        assert "Python memory allocator called without holding the GIL" not in cp.stderr
    assert cp.stdout.splitlines()[-1] == "total 30", cp.stdout
