"""Channels: object and typed channels, timeouts, close, iteration, threads,
reference counting, the worker pool."""
import gc
import sys
import threading
import time
import weakref

import pytest

import gort
from conftest import T, assert_clean_exit, run_in_goroutine, run_in_thread, run_python, wait_until


class Obj:
    """A weak-referenceable value."""

    def __init__(self, v=None):
        self.v = v


# ---- construction and properties -----------------------------------------------

def test_defaults_and_properties():
    ch = gort.Chan()
    assert ch.cap == 0
    assert len(ch) == 0
    assert ch.ctype is None
    b = gort.Chan(5)
    assert b.cap == 5 and len(b) == 0 and b.ctype is None
    b2 = gort.Chan(cap=3)
    assert b2.cap == 3


def test_handle_and_address():
    ch = gort.Chan(2)
    assert ch.handle is not None
    a = ch.address
    assert isinstance(a, int) and a != 0
    assert ch.address == a                     # stable
    assert gort.Chan(2).address != a           # distinct channels


@pytest.mark.parametrize("cap", [-1, -100])
def test_negative_cap_is_value_error(cap):
    with pytest.raises(ValueError):
        gort.Chan(cap)


@pytest.mark.parametrize("cap", ["3", None, 1.5, [1]])
def test_bad_cap_type(cap):
    with pytest.raises(TypeError):
        gort.Chan(cap)


def test_huge_cap_fails_cleanly():
    with pytest.raises((ValueError, OverflowError, MemoryError)):
        gort.Chan(2 ** 62)


def test_bad_ctype():
    with pytest.raises((ValueError, TypeError)):
        gort.Chan(1, ctype="no_such_type_t")
    with pytest.raises(TypeError):
        gort.Chan(1, ctype=5)


# ---- send / recv -------------------------------------------------------------------

def test_buffered_fifo_and_len():
    ch = gort.Chan(3)
    for v in ("a", "b", "c"):
        ch.send(v, timeout=T)
    assert len(ch) == 3
    assert [ch.recv(timeout=T) for _ in range(3)] == ["a", "b", "c"]
    assert len(ch) == 0


def test_object_identity_preserved():
    ch = gort.Chan(1)
    o = Obj()
    ch.send(o)
    assert ch.recv(timeout=T) is o


def test_none_is_a_value():
    ch = gort.Chan(3)
    ch.send(None)
    ch.send(None)
    ch.send(None)
    assert ch.recv(timeout=T) is None
    assert ch.try_recv() == (None, True)
    assert ch.recv2(timeout=T) == (None, True)


def test_unbuffered_rendezvous_thread_to_main():
    ch = gort.Chan()
    t = threading.Thread(target=lambda: [ch.send(i, timeout=T) for i in range(100)])
    t.start()
    got = [ch.recv(timeout=T) for _ in range(100)]
    t.join(T)
    assert got == list(range(100))


def test_unbuffered_send_completes_only_when_received():
    ch = gort.Chan()
    sent = threading.Event()

    def sender():
        ch.send("x", timeout=T)
        sent.set()

    gort.go(sender)
    assert not sent.wait(0.1)                 # no receiver yet: still blocked
    assert ch.recv(timeout=T) == "x"
    assert sent.wait(T)


def test_recv_timeout_on_empty():
    ch = gort.Chan(1)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.05)
    dt = time.monotonic() - t0
    assert 0.045 <= dt < 5
    with pytest.raises(TimeoutError):
        ch.recv2(timeout=0.01)


def test_timeout_zero_never_blocks():
    ch = gort.Chan(1)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0)
    ch.send(1, timeout=0)
    with pytest.raises(TimeoutError):
        ch.send(2, timeout=0)
    assert time.monotonic() - t0 < 1
    assert ch.recv(timeout=0) == 1        # a ready value is still taken


def test_send_timeout_full_and_unbuffered():
    full = gort.Chan(1)
    full.send(1)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        full.send(2, timeout=0.05)
    assert time.monotonic() - t0 >= 0.045
    assert len(full) == 1 and full.recv(timeout=T) == 1
    with pytest.raises(TimeoutError):
        gort.Chan().send(1, timeout=0.02)


def test_timeouts_in_goroutine():
    def body():
        ch = gort.Chan()
        t0 = time.monotonic()
        try:
            ch.recv(timeout=0.05)
        except TimeoutError:
            return time.monotonic() - t0
        return None

    dt = run_in_goroutine(body)
    assert dt is not None and 0.045 <= dt < 5


def test_bad_timeout_type():
    ch = gort.Chan(1)
    with pytest.raises(TypeError):
        ch.recv(timeout="1")
    with pytest.raises(TypeError):
        ch.send(1, timeout="1")


def test_negative_timeout_does_not_block():
    ch = gort.Chan(1)
    t0 = time.monotonic()
    with pytest.raises((TimeoutError, ValueError)):
        ch.recv(timeout=-1)
    assert time.monotonic() - t0 < 1


def test_timed_out_receive_leaves_no_stale_receiver():
    ch = gort.Chan()
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.01)
    # nobody waits now: an unbuffered try_send must fail
    assert ch.try_send(1) is False


# ---- try_send / try_recv -------------------------------------------------------------

def test_try_send_try_recv_buffered():
    ch = gort.Chan(1)
    assert ch.try_recv() == (None, False)
    assert ch.try_send("v") is True
    assert ch.try_send("w") is False
    assert ch.try_recv() == ("v", True)   # Go's order: (value, ok)
    assert ch.try_recv() == (None, False)


def test_try_send_unbuffered_needs_waiting_receiver():
    ch = gort.Chan()
    assert ch.try_send(1) is False
    p = gort.spawn(ch.recv, timeout=T)
    assert wait_until(lambda: ch.try_send(42))
    assert p.result(timeout=T) == 42


def test_try_ops_on_closed():
    ch = gort.Chan(2)
    ch.send(1)
    ch.close()
    with pytest.raises(gort.ChanClosed):
        ch.try_send(2)
    assert ch.try_recv() == (1, True)         # buffered values first
    with pytest.raises(gort.ChanClosed):
        ch.try_recv()


# ---- close -------------------------------------------------------------------------

def test_close_semantics():
    ch = gort.Chan(2)
    ch.send("a")
    ch.close()
    with pytest.raises(gort.ChanClosed):
        ch.send("b")
    with pytest.raises(gort.ChanClosed):
        ch.close()
    assert ch.recv(timeout=T) == "a"
    with pytest.raises(gort.ChanClosed):
        ch.recv(timeout=T)
    with pytest.raises(gort.ChanClosed):
        ch.recv()                               # never blocks once closed
    assert ch.recv2(timeout=T) == (None, False)
    assert ch.recv2() == (None, False)


def test_chanclosed_is_a_gort_error():
    ch = gort.Chan()
    ch.close()
    with pytest.raises(gort.ChanClosed) as ei:
        ch.recv(timeout=T)
    e = ei.value
    assert isinstance(e, gort.GortError)
    assert e.code == -1002
    assert e.name == "GORT_ECLOSED"


def test_close_wakes_blocked_receivers_everywhere():
    ch = gort.Chan()
    goroutines = [gort.spawn(ch.recv2, timeout=T) for _ in range(5)]

    def thread_recv():
        try:
            ch.recv(timeout=T)
        except gort.ChanClosed:
            return "closed"
        return "value?"

    results = []
    threads = [threading.Thread(target=lambda: results.append(thread_recv())) for _ in range(3)]
    for t in threads:
        t.start()
    ch.close()
    for t in threads:
        t.join(T)
    assert results == ["closed"] * 3
    assert [p.result(timeout=T) for p in goroutines] == [(None, False)] * 5


def test_close_wakes_blocked_sender_with_chanclosed():
    ch = gort.Chan()
    started = gort.Chan(1)

    def sender():
        started.send(None, timeout=T)
        ch.send("never received", timeout=T)

    p = gort.spawn(sender)
    started.recv(timeout=T)
    ch.close()
    with pytest.raises(gort.ChanClosed):
        p.result(timeout=T)


def test_close_in_goroutine_seen_by_thread():
    ch = gort.Chan(10)

    def producer():
        for i in range(10):
            ch.send(i, timeout=T)
        ch.close()

    gort.go(producer)
    got = []
    while True:
        v, ok = ch.recv2(timeout=T)
        if not ok:
            break
        got.append(v)
    assert got == list(range(10))


# ---- iteration / recv2 -----------------------------------------------------------

def test_iteration_until_closed():
    ch = gort.Chan(4)

    def producer():
        for i in range(100):
            ch.send(i, timeout=T)
        ch.close()

    gort.go(producer)
    assert run_in_thread(lambda: list(ch)) == list(range(100))


def test_iteration_in_goroutine():
    ch = gort.Chan()

    def producer():
        for i in range(50):
            ch.send(i * i, timeout=T)
        ch.close()

    gort.go(producer)
    assert run_in_goroutine(lambda: [v for v in ch]) == [i * i for i in range(50)]


def test_iteration_of_closed_empty_channel():
    ch = gort.Chan(1)
    ch.close()
    assert list(ch) == []
    it = iter(ch)
    with pytest.raises(StopIteration):
        next(it)


def test_recv2():
    ch = gort.Chan(2)
    ch.send(0)
    ch.send(False)
    ch.close()
    assert ch.recv2(timeout=T) == (0, True)
    assert ch.recv2(timeout=T) == (False, True)
    assert ch.recv2(timeout=T) == (None, False)


def test_recv_promise():
    ch = gort.Chan()
    p = ch.recv_promise()
    assert isinstance(p, gort.Promise)
    ch.send("hello", timeout=T)
    assert p.result(timeout=T) == "hello"
    q = ch.recv_promise()
    ch.close()
    with pytest.raises(gort.ChanClosed):
        q.result(timeout=T)


def test_recv_promise_of_buffered_value():
    ch = gort.Chan(1)
    ch.send([1, 2])
    assert ch.recv_promise().result(timeout=T) == [1, 2]
    assert len(ch) == 0


# ---- typed channels ------------------------------------------------------------------

def test_int64_channel_roundtrip():
    ch = gort.Chan(4, ctype="int64_t")
    assert ch.ctype == "int64_t"
    for v in (0, -1, 2 ** 63 - 1, -(2 ** 63)):
        ch.send(v)
    got = [ch.recv(timeout=T) for _ in range(4)]
    assert got == [0, -1, 2 ** 63 - 1, -(2 ** 63)]
    assert all(type(v) is int for v in got)


def test_double_channel_roundtrip():
    ch = gort.Chan(2, ctype="double")
    ch.send(1.5)
    ch.send(2)
    a, b = ch.recv(timeout=T), ch.recv(timeout=T)
    assert a == 1.5 and isinstance(a, float)
    assert b == 2.0 and isinstance(b, float)


def test_uint32_channel_roundtrip_and_range():
    ch = gort.Chan(2, ctype="uint32_t")
    ch.send(2 ** 32 - 1)
    assert ch.recv(timeout=T) == 2 ** 32 - 1
    with pytest.raises((OverflowError, ValueError)):
        ch.send(-1, timeout=0)
    with pytest.raises((OverflowError, ValueError)):
        ch.send(2 ** 32, timeout=0)
    assert len(ch) == 0


def test_pointer_channel_roundtrip():
    cffi = pytest.importorskip("cffi")
    ffi = cffi.FFI()
    ch = gort.Chan(2, ctype="void *")
    ch.send(ffi.cast("void *", 0x5678))
    v = ch.recv(timeout=T)
    assert int(ffi.cast("uintptr_t", v)) == 0x5678
    with pytest.raises(TypeError):
        ch.send("not a pointer", timeout=0)


def test_typed_channel_bad_values():
    ch = gort.Chan(2, ctype="int64_t")
    with pytest.raises(TypeError):
        ch.send("not an int", timeout=0)
    with pytest.raises(TypeError):
        ch.send(None, timeout=0)
    with pytest.raises(TypeError):
        ch.try_send(object())
    with pytest.raises((OverflowError, ValueError)):
        ch.send(2 ** 70, timeout=0)
    assert len(ch) == 0


def test_typed_channel_closed_and_empty():
    ch = gort.Chan(1, ctype="int64_t")
    assert ch.try_recv() == (None, False)
    ch.send(5)
    ch.close()
    assert ch.recv2(timeout=T) == (5, True)
    assert ch.recv2(timeout=T) == (None, False)
    with pytest.raises(gort.ChanClosed):
        ch.recv(timeout=T)


def test_typed_channel_between_goroutine_and_thread():
    ch = gort.Chan(0, ctype="int64_t")

    def producer():
        for i in range(1000):
            ch.send(i, timeout=T)
        ch.close()

    gort.go(producer)
    assert sum(run_in_thread(lambda: list(ch))) == sum(range(1000))


def test_typed_recv_promise():
    ch = gort.Chan(1, ctype="int64_t")
    ch.send(99)
    assert ch.recv_promise().result(timeout=T) == 99


def test_from_handle_shares_the_channel():
    a = gort.Chan(4, ctype="int64_t")
    b = gort.Chan.from_handle(a.handle, ctype="int64_t")
    c = gort.Chan.from_handle(a.address, ctype="int64_t")
    assert b.address == a.address == c.address
    assert b.cap == 4 and b.ctype == "int64_t"
    a.send(1)
    b.send(2)
    assert c.recv(timeout=T) == 1
    assert a.recv(timeout=T) == 2


def test_from_handle_takes_its_own_reference():
    a = gort.Chan(4, ctype="int64_t")
    b = gort.Chan.from_handle(a.address, ctype="int64_t")
    a.send(7)
    del a
    gc.collect()
    assert b.recv(timeout=T) == 7
    b.send(8)
    assert b.recv(timeout=T) == 8


def test_from_handle_object_channel():
    a = gort.Chan(2)
    b = gort.Chan.from_handle(a.handle)
    o = Obj()
    a.send(o)
    assert b.recv(timeout=T) is o


@pytest.mark.parametrize("bad", ["None", "0", "'0x1234'", "'p'", "b'q'", "4096.0", "[1]"])
def test_from_handle_bad_input(bad):
    # in a subprocess: a bad handle must raise, and must not crash
    cp, _ = run_python("""
        import gort
        try:
            gort.Chan.from_handle(%s)
        except (TypeError, ValueError) as e:
            print("raised", type(e).__name__)
        else:
            print("no exception")
    """ % bad)
    assert_clean_exit(cp)
    assert cp.stdout.startswith("raised"), cp.stdout


# ---- goroutines, plain threads and the main thread together ------------------------------

def test_fan_in_from_goroutines_threads_and_main():
    ch = gort.Chan(8)
    per = 200

    def produce(tag):
        for i in range(per):
            ch.send((tag, i), timeout=T)

    wg = gort.WaitGroup()
    for g in range(4):
        wg.go(produce, "g%d" % g)
    threads = [threading.Thread(target=produce, args=("t%d" % t,)) for t in range(4)]
    for t in threads:
        t.start()
    consumer = gort.spawn(lambda: [ch.recv(timeout=T) for _ in range(9 * per)])
    produce("main")
    for t in threads:
        t.join(T)
    assert wg.wait(timeout=T)
    got = consumer.result(timeout=T)
    by_tag = {}
    for tag, i in got:
        by_tag.setdefault(tag, []).append(i)
    assert sorted(by_tag) == sorted(["main"] + ["g%d" % i for i in range(4)] + ["t%d" % i for i in range(4)])
    assert all(v == list(range(per)) for v in by_tag.values())   # per-sender FIFO


def test_pipeline_main_goroutine_thread_goroutine():
    c1, c2, c3 = gort.Chan(), gort.Chan(3), gort.Chan()

    def plus_one():                      # goroutine stage
        for v in c1:
            c2.send(v + 1, timeout=T)
        c2.close()

    def times_two():                     # plain-thread stage
        for v in c2:
            c3.send(v * 2, timeout=T)
        c3.close()

    gort.go(plus_one)
    t = threading.Thread(target=times_two)
    t.start()
    total = gort.spawn(lambda: sum(c3))   # goroutine collector
    for i in range(500):
        c1.send(i, timeout=T)
    c1.close()
    assert total.result(timeout=T) == sum((i + 1) * 2 for i in range(500))
    t.join(T)


def test_blocking_recv_on_main_releases_gil():
    """While main blocks in recv, another Python thread keeps running Python
    code; it sends only after it did a good amount of work, so the recv can
    only succeed if the GIL was released."""
    ch = gort.Chan()
    go_ahead = threading.Event()

    def worker():
        go_ahead.wait(T)
        n = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.2:
            n += 1
        ch.send(n, timeout=T)

    t = threading.Thread(target=worker)
    t.start()
    go_ahead.set()
    n = ch.recv(timeout=T)
    t.join(T)
    assert n > 1000


def test_blocking_send_on_thread_releases_gil_for_goroutines():
    ch = gort.Chan()
    # a thread blocks in send; a goroutine (needs the GIL) receives
    t = threading.Thread(target=lambda: ch.send("from thread", timeout=T))
    t.start()
    assert run_in_goroutine(lambda: ch.recv(timeout=T)) == "from thread"
    t.join(T)


def test_goroutine_blocked_in_recv_does_not_block_other_goroutines():
    blocked = gort.Chan()
    p = gort.spawn(blocked.recv, timeout=T)
    assert run_in_goroutine(lambda: sum(range(10))) == 45
    blocked.send("late", timeout=T)
    assert p.result(timeout=T) == "late"


# ---- worker pool (Go by Example) ------------------------------------------------------

def _worker_pool(job_time):
    num_jobs = 5
    jobs = gort.Chan(num_jobs)
    results = gort.Chan(num_jobs)
    wg = gort.WaitGroup()
    seen = []

    def worker(wid):
        for j in jobs:
            seen.append((wid, j))
            gort.sleep(job_time)        # the example's "expensive task"
            results.send(j * 2, timeout=T)

    for w in range(1, 4):
        wg.add(1)

        def run(w=w):
            try:
                worker(w)
            finally:
                wg.done()

        gort.go(run)
    for j in range(1, num_jobs + 1):
        jobs.send(j, timeout=T)
    jobs.close()
    assert wg.wait(timeout=T)
    results.close()
    return sorted(results), seen


@pytest.mark.parametrize("where", ["main", "goroutine"])
def test_worker_pool(where):
    job_time = 0.3
    t0 = time.monotonic()
    if where == "main":
        res, seen = _worker_pool(job_time)
    else:
        res, seen = run_in_goroutine(_worker_pool, job_time)
    dt = time.monotonic() - t0
    assert res == [2, 4, 6, 8, 10]
    assert sum(res) == 30
    assert sorted(j for _, j in seen) == [1, 2, 3, 4, 5]
    assert {w for w, _ in seen} <= {1, 2, 3}
    # 3 workers over 5 jobs: two rounds (0.6 s), not five (1.5 s)
    assert 2 * job_time - 0.01 <= dt < 4.5 * job_time


# ---- reference counting --------------------------------------------------------------

def test_buffered_values_released_with_the_channel():
    ch = gort.Chan(4)
    objs = [Obj(i) for i in range(3)]
    refs = [weakref.ref(o) for o in objs]
    for o in objs:
        ch.send(o)
    del o, objs
    gc.collect()
    assert all(r() is not None for r in refs)     # the channel holds them
    del ch
    gc.collect()
    assert all(r() is None for r in refs)


def test_closed_channel_values_released_with_the_channel():
    ch = gort.Chan(2)
    o = Obj()
    r = weakref.ref(o)
    ch.send(o)
    ch.close()
    del o
    gc.collect()
    assert r() is not None
    del ch
    gc.collect()
    assert r() is None


def test_received_values_keep_no_extra_reference():
    o = Obj()
    before = sys.getrefcount(o)
    ch = gort.Chan(1000)
    for _ in range(1000):
        ch.send(o)
    assert sys.getrefcount(o) == before + 1000
    for _ in range(1000):
        assert ch.recv(timeout=T) is o
    assert sys.getrefcount(o) == before


def test_failed_operations_do_not_leak_references():
    o = Obj()
    before = sys.getrefcount(o)
    full = gort.Chan(1)
    full.send("filler")
    for _ in range(100):
        assert full.try_send(o) is False
    with pytest.raises(TimeoutError):
        full.send(o, timeout=0.01)
    closed = gort.Chan(1)
    closed.close()
    for _ in range(100):
        with pytest.raises(gort.ChanClosed):
            closed.send(o)
        with pytest.raises(gort.ChanClosed):
            closed.try_send(o)
    assert sys.getrefcount(o) == before


def test_values_through_goroutines_released():
    ch = gort.Chan()
    out = gort.Chan(100)
    o = Obj()
    before = sys.getrefcount(o)

    def relay():
        for v in ch:
            out.send(v, timeout=T)
        out.close()

    gort.go(relay)
    for _ in range(100):
        ch.send(o, timeout=T)
    ch.close()
    got = list(out)
    assert len(got) == 100 and all(v is o for v in got)
    del got
    gc.collect()
    assert sys.getrefcount(o) == before


def test_unreceived_values_of_abandoned_channel_collected():
    # many channels with buffered values, all dropped
    refs = []
    for _ in range(50):
        ch = gort.Chan(3)
        for _ in range(3):
            o = Obj()
            refs.append(weakref.ref(o))
            ch.send(o)
        del o
    del ch
    gc.collect()
    assert all(r() is None for r in refs)


# ---- concurrency consistency ---------------------------------------------------------

def test_close_racing_with_senders_loses_nothing():
    """Senders on goroutines and threads race a close: every send either
    succeeds (and its value is received) or raises ChanClosed."""
    ch = gort.Chan(16)
    ok_count = {"n": 0}
    lock = threading.Lock()

    def sender(tag):
        sent = 0
        for i in range(10_000):
            try:
                ch.send((tag, i), timeout=T)
            except gort.ChanClosed:
                break
            sent += 1
        with lock:
            ok_count["n"] += sent

    wg = gort.WaitGroup()
    for g in range(4):
        wg.go(sender, "g%d" % g)
    threads = [threading.Thread(target=sender, args=("t%d" % t,)) for t in range(2)]
    for t in threads:
        t.start()
    received = 0
    for _ in range(500):
        ch.recv(timeout=T)
        received += 1
    ch.close()
    while True:
        v, ok = ch.recv2(timeout=T)
        if not ok:
            break
        received += 1
    for t in threads:
        t.join(T)
    assert wg.wait(timeout=T)
    assert received == ok_count["n"]


def test_request_reply_with_channels_of_channels():
    requests = gort.Chan()

    def server():
        for x, reply in requests:
            reply.send(x * x, timeout=T)

    gort.go(server)

    def client(x):
        reply = gort.Chan(1)
        requests.send((x, reply), timeout=T)
        return reply.recv(timeout=T)

    ps = [gort.spawn(client, i) for i in range(100)]
    from_thread = run_in_thread(client, 12)
    assert [p.result(timeout=T) for p in ps] == [i * i for i in range(100)]
    assert from_thread == 144
    requests.close()


def test_many_concurrent_timeouts():
    n = 1000
    ch = gort.Chan()

    def waiter():
        t0 = time.monotonic()
        try:
            ch.recv(timeout=0.05)
        except TimeoutError:
            return time.monotonic() - t0
        return None

    t0 = time.monotonic()
    ps = [gort.spawn(waiter) for _ in range(n)]
    dts = gort.Promise.all(ps).result(timeout=30)
    assert all(dt is not None and dt >= 0.045 for dt in dts)
    assert time.monotonic() - t0 < 10       # they wait concurrently, not one by one
    assert ch.try_send(1) is False          # no receiver left behind
