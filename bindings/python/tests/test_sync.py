"""WaitGroup, Mutex, RWMutex, Semaphore."""
import threading
import time

import pytest

import gort
from conftest import T, assert_clean_exit, run_in_goroutine, run_in_thread, run_python


# ---- WaitGroup -----------------------------------------------------------------

def test_waitgroup_basic():
    wg = gort.WaitGroup()
    assert wg.wait(timeout=0) is True          # zero counter: returns at once
    out = gort.Chan(3)
    wg.add(3)

    def w(i):
        out.send(i, timeout=T)
        wg.done()

    for i in range(3):
        gort.go(w, i)
    assert wg.wait(timeout=T) is True
    assert sorted(out.recv(timeout=T) for _ in range(3)) == [0, 1, 2]


def test_waitgroup_default_delta_and_wait_without_timeout():
    wg = gort.WaitGroup()
    wg.add()
    gort.go(wg.done)
    assert wg.wait() is True


def test_waitgroup_wait_timeout():
    wg = gort.WaitGroup()
    wg.add(1)
    t0 = time.monotonic()
    assert wg.wait(timeout=0.05) is False
    assert 0.045 <= time.monotonic() - t0 < 5
    assert wg.wait(timeout=0) is False
    wg.done()
    assert wg.wait(timeout=T) is True


def test_waitgroup_go():
    wg = gort.WaitGroup()
    out = gort.Chan(10)
    for i in range(10):
        wg.go(lambda a, b=0: out.send(a + b, timeout=T), i, b=100)
    assert wg.wait(timeout=T)
    assert sorted(out.recv(timeout=T) for _ in range(10)) == list(range(100, 110))


def test_waitgroup_go_exception_still_done(excepthook_calls):
    wg = gort.WaitGroup()
    exc = ValueError("in wg.go")

    def failing():
        raise exc

    wg.go(failing)
    assert wg.wait(timeout=T) is True
    got, _, _ = excepthook_calls.recv(timeout=T)
    assert got is exc


def test_waitgroup_context_manager():
    results = []
    with gort.WaitGroup() as wg:
        assert isinstance(wg, gort.WaitGroup)
        for i in range(5):
            wg.go(lambda i=i: (gort.sleep(0.01), results.append(i)))
    assert sorted(results) == [0, 1, 2, 3, 4]


def test_waitgroup_done_from_threads_wait_in_goroutine():
    wg = gort.WaitGroup()
    wg.add(4)
    threads = [threading.Thread(target=wg.done) for _ in range(4)]
    p = gort.spawn(wg.wait, timeout=T)
    for t in threads:
        t.start()
    assert p.result(timeout=T) is True
    for t in threads:
        t.join(T)


def test_waitgroup_wait_in_goroutine_parks():
    wg = gort.WaitGroup()
    wg.add(1)
    waiter = gort.spawn(wg.wait, timeout=T)
    # another goroutine (same executor thread) can still run and finish the group
    run_in_goroutine(wg.done)
    assert waiter.result(timeout=T) is True


def test_waitgroup_negative_counter_is_value_error():
    wg = gort.WaitGroup()
    with pytest.raises(ValueError):
        wg.add(-1)
    with pytest.raises(ValueError):
        wg.done()
    wg.add(2)
    with pytest.raises(ValueError):
        wg.add(-3)
    wg.done()
    wg.done()
    assert wg.wait(timeout=T) is True


def test_waitgroup_bad_input():
    wg = gort.WaitGroup()
    with pytest.raises(TypeError):
        wg.add("1")
    with pytest.raises(TypeError):
        wg.go(42)
    with pytest.raises(TypeError):
        wg.wait(timeout="x")
    assert wg.wait(timeout=0) is True     # the failed go() did not add


def test_waitgroup_negative_counter_never_aborts_the_process():
    cp, _ = run_python("""
        import gort
        wg = gort.WaitGroup()
        for f in (lambda: wg.add(-1), wg.done, lambda: gort.spawn(wg.done).result(timeout=10)):
            try:
                f()
            except ValueError:
                print("ValueError")
        wg.add(1); wg.done()
        print(wg.wait(timeout=1))
    """)
    assert_clean_exit(cp)
    assert cp.stdout.split() == ["ValueError"] * 3 + ["True"]


# ---- Mutex ------------------------------------------------------------------------

def test_mutex_mutual_exclusion_goroutines_and_threads():
    mu = gort.Mutex()
    state = {"n": 0, "inside": 0, "max_inside": 0}

    def incr(k):
        for _ in range(k):
            with mu:
                state["inside"] += 1
                state["max_inside"] = max(state["max_inside"], state["inside"])
                v = state["n"]
                gort.yield_()             # invite interleaving inside the section
                state["n"] = v + 1
                state["inside"] -= 1

    wg = gort.WaitGroup()
    for _ in range(10):
        wg.go(incr, 100)
    threads = [threading.Thread(target=incr, args=(100,)) for _ in range(4)]
    for t in threads:
        t.start()
    incr(100)                              # and the main thread
    for t in threads:
        t.join(T)
    assert wg.wait(timeout=T)
    assert state["n"] == 1500
    assert state["max_inside"] == 1


def test_mutex_lock_unlock_try_lock():
    mu = gort.Mutex()
    assert mu.try_lock() is True
    assert mu.try_lock() is False
    mu.unlock()
    assert mu.lock() is True
    assert mu.try_lock() is False
    mu.unlock()


def test_mutex_lock_timeout():
    mu = gort.Mutex()
    mu.lock()
    t0 = time.monotonic()
    assert run_in_goroutine(lambda: mu.lock(timeout=0.05)) is False
    assert run_in_thread(lambda: mu.lock(timeout=0.05)) is False
    assert mu.lock(timeout=0) is False
    assert time.monotonic() - t0 >= 0.09
    mu.unlock()
    assert run_in_goroutine(lambda: (mu.lock(timeout=T), mu.unlock())[0]) is True


def test_mutex_blocked_goroutine_parks():
    mu = gort.Mutex()
    mu.lock()                              # held by the main thread
    p = gort.spawn(lambda: (mu.lock(timeout=T), mu.unlock())[0])
    # the blocked goroutine does not block the executor
    assert run_in_goroutine(lambda: "other goroutine runs") == "other goroutine runs"
    mu.unlock()
    assert p.result(timeout=T) is True


def test_mutex_main_thread_blocked_releases_gil():
    mu = gort.Mutex()
    held = gort.Chan()
    release = gort.Chan()

    def holder():
        mu.lock()
        held.send(None, timeout=T)
        release.recv(timeout=T)
        mu.unlock()

    gort.go(holder)
    held.recv(timeout=T)
    # a goroutine must run (needs the GIL) while main waits for the lock
    gort.go(lambda: release.send(None, timeout=T))
    assert mu.lock(timeout=T) is True
    mu.unlock()


def test_mutex_context_manager_and_exceptions():
    mu = gort.Mutex()
    with mu as m:
        assert m is mu
        assert mu.try_lock() is False
    assert mu.try_lock() is True
    mu.unlock()
    with pytest.raises(KeyError):
        with mu:
            raise KeyError("x")
    assert mu.try_lock() is True          # released by the exception
    mu.unlock()


def test_mutex_unlock_of_unlocked_is_runtime_error():
    mu = gort.Mutex()
    with pytest.raises(RuntimeError):
        mu.unlock()
    mu.lock()
    mu.unlock()
    with pytest.raises(RuntimeError):
        mu.unlock()
    assert mu.try_lock() is True
    mu.unlock()


def test_mutex_bad_timeout():
    mu = gort.Mutex()
    with pytest.raises(TypeError):
        mu.lock(timeout="x")
    assert mu.try_lock() is True
    mu.unlock()


def test_mutex_unlocked_by_another_goroutine():
    # Go allows unlocking from another goroutine than the locker
    mu = gort.Mutex()
    mu.lock()
    run_in_goroutine(mu.unlock)
    assert mu.try_lock() is True
    mu.unlock()


# ---- RWMutex -------------------------------------------------------------------------

def test_rwmutex_readers_share():
    rw = gort.RWMutex()
    n = 3
    holding = gort.Chan(n)
    gate = gort.Chan()
    wg = gort.WaitGroup()

    def reader():
        rw.rlock()
        try:
            holding.send(None, timeout=T)
            gate.recv2(timeout=T)
        finally:
            rw.runlock()

    for _ in range(n):
        wg.go(reader)
    for _ in range(n):                   # all three hold the read lock at once
        holding.recv(timeout=T)
    with rw.reader():                    # and one more reader on the main thread
        pass
    gate.close()
    assert wg.wait(timeout=T)


def test_rwmutex_writer_excludes_readers_and_writers():
    rw = gort.RWMutex()
    events = gort.Chan(10)

    def reader():
        events.send("trying", timeout=T)
        with rw.reader():
            events.send("reader got it", timeout=T)

    def writer():
        events.send("trying", timeout=T)
        with rw:
            events.send("writer got it", timeout=T)

    with rw:
        gort.go(reader)
        gort.go(writer)
        assert events.recv(timeout=T) == "trying"
        assert events.recv(timeout=T) == "trying"
        with pytest.raises(TimeoutError):
            events.recv(timeout=0.1)           # both blocked by the writer
    got = sorted(events.recv(timeout=T) for _ in range(2))
    assert got == ["reader got it", "writer got it"]


def test_rwmutex_reader_blocks_writer():
    rw = gort.RWMutex()
    done = gort.Chan(1)
    rw.rlock()

    def writer():
        rw.lock()
        done.send("w", timeout=T)
        rw.unlock()

    gort.go(writer)
    with pytest.raises(TimeoutError):
        done.recv(timeout=0.1)
    rw.runlock()
    assert done.recv(timeout=T) == "w"


def test_rwmutex_mixed_goroutines_and_threads_consistency():
    rw = gort.RWMutex()
    data = {"a": 0, "b": 0}
    bad = []

    def write(k):
        for _ in range(k):
            with rw:
                data["a"] += 1
                gort.yield_()
                data["b"] += 1

    def read(k):
        for _ in range(k):
            with rw.reader():
                if data["a"] != data["b"]:
                    bad.append(dict(data))

    wg = gort.WaitGroup()
    for _ in range(3):
        wg.go(write, 50)
        wg.go(read, 100)
    threads = [threading.Thread(target=f, args=(50,)) for f in (write, read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T)
    assert wg.wait(timeout=T)
    assert not bad
    assert data == {"a": 200, "b": 200}


def test_rwmutex_context_manager_releases_on_exception():
    rw = gort.RWMutex()
    with pytest.raises(ValueError):
        with rw:
            raise ValueError
    with pytest.raises(ValueError):
        with rw.reader():
            raise ValueError
    # free again: a writer gets it at once (in a goroutine, with a watchdog)
    assert run_in_goroutine(lambda: (rw.lock(), rw.unlock(), True)[2])


def test_rwmutex_misuse_is_runtime_error():
    rw = gort.RWMutex()
    with pytest.raises(RuntimeError):
        rw.unlock()
    with pytest.raises(RuntimeError):
        rw.runlock()
    rw.lock()
    rw.unlock()
    rw.rlock()
    rw.runlock()


# ---- Semaphore ---------------------------------------------------------------------------

def test_semaphore_basic():
    s = gort.Semaphore(2)
    assert s.acquire() is True
    assert s.try_acquire() is True
    assert s.try_acquire() is False
    s.release()
    assert s.try_acquire() is True
    s.release(2)
    assert s.try_acquire(2) is True
    s.release(2)


def test_semaphore_weighted_and_timeout():
    s = gort.Semaphore(5)
    assert s.acquire(3, timeout=T) is True
    t0 = time.monotonic()
    assert s.acquire(3, timeout=0.05) is False
    assert time.monotonic() - t0 >= 0.045
    assert s.acquire(2, timeout=0) is True
    assert s.try_acquire(1) is False
    s.release(5)
    assert s.acquire(5, timeout=0) is True
    s.release(5)


def test_semaphore_blocked_acquirer_woken_by_release_from_thread():
    s = gort.Semaphore(1)
    s.acquire()
    p = gort.spawn(s.acquire, timeout=T)
    t = threading.Thread(target=s.release)
    t.start()
    assert p.result(timeout=T) is True
    t.join(T)
    s.release()


def test_semaphore_limits_concurrency():
    s = gort.Semaphore(3)
    state = {"inside": 0, "max": 0}
    wg = gort.WaitGroup()

    def job():
        with s:
            state["inside"] += 1
            state["max"] = max(state["max"], state["inside"])
            gort.sleep(0.01)
            state["inside"] -= 1

    for _ in range(12):
        wg.go(job)
    assert wg.wait(timeout=T)
    assert 1 <= state["max"] <= 3
    assert state["inside"] == 0


def test_semaphore_context_manager():
    s = gort.Semaphore(1)
    with s as got:
        assert got is s
        assert s.try_acquire() is False
    assert s.try_acquire() is True
    s.release()


def test_semaphore_bad_input():
    with pytest.raises(ValueError):
        gort.Semaphore(-1)
    with pytest.raises(TypeError):
        gort.Semaphore("3")
    s = gort.Semaphore(2)
    with pytest.raises(ValueError):
        s.acquire(3)                    # more than the capacity: never satisfiable
    with pytest.raises(ValueError):
        s.try_acquire(3)
    with pytest.raises(ValueError):
        s.acquire(-1)
    assert s.try_acquire(2) is True
    s.release(2)


def test_semaphore_over_release_is_an_exception():
    s = gort.Semaphore(2)
    with pytest.raises((ValueError, RuntimeError)):
        s.release()
    s.acquire()
    with pytest.raises((ValueError, RuntimeError)):
        s.release(2)
    s.release()
    assert s.try_acquire(2) is True
    s.release(2)


def test_misuse_never_aborts_the_process():
    """The C library aborts on these (Go's fatal errors); the binding must
    raise instead. In a subprocess so an abort cannot take the suite down."""
    cp, _ = run_python("""
        import gort
        def check(name, f, *excs):
            try:
                f()
            except excs as e:
                print(name, "ok", type(e).__name__)
            else:
                print(name, "NO EXCEPTION")
        check("mutex", gort.Mutex().unlock, RuntimeError)
        check("rw-unlock", gort.RWMutex().unlock, RuntimeError)
        check("rw-runlock", gort.RWMutex().runlock, RuntimeError)
        check("sem", gort.Semaphore(1).release, ValueError, RuntimeError)
        check("wg", gort.WaitGroup().done, ValueError)
        mu = gort.Mutex()
        check("mutex-in-goroutine", lambda: gort.spawn(mu.unlock).result(timeout=10), RuntimeError)
        print("end")
    """)
    assert_clean_exit(cp)
    lines = cp.stdout.splitlines()
    assert lines[-1] == "end", cp.stdout + cp.stderr
    assert all(" ok " in l for l in lines[:-1]), cp.stdout
    assert len(lines) == 7
