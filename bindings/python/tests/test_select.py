"""select, after, Ticker."""
import gc
import sys
import threading
import time

import pytest

import gort
from conftest import T, run_in_goroutine, run_in_thread, wait_until


def test_select_recv_ready():
    a, b = gort.Chan(1), gort.Chan(1)
    b.send("vb")
    r = gort.select(gort.Recv(a), gort.Recv(b), timeout=T)
    assert isinstance(r, gort.Selected)
    assert isinstance(r, tuple)
    assert r == (1, "vb", True)
    assert r.index == 1 and r.value == "vb" and r.ok is True
    idx, val, ok = r
    assert (idx, val, ok) == (1, "vb", True)


def test_select_default_when_nothing_ready():
    a = gort.Chan()
    t0 = time.monotonic()
    r = gort.select(gort.Recv(a), gort.Send(a, 1), default=True)
    assert r.index == -1 and r.value is None
    assert time.monotonic() - t0 < 1


def test_select_default_prefers_a_ready_case():
    a = gort.Chan(1)
    a.send(3)
    assert gort.select(gort.Recv(a), default=True) == (0, 3, True)


def test_select_timeout():
    a = gort.Chan()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        gort.select(gort.Recv(a), timeout=0.05)
    assert 0.045 <= time.monotonic() - t0 < 5


def test_select_timeout_zero():
    a = gort.Chan()
    with pytest.raises(TimeoutError):
        gort.select(gort.Recv(a), timeout=0)


def test_select_waits_for_a_goroutine():
    a, b = gort.Chan(), gort.Chan()
    gort.go(lambda: b.send("late", timeout=T))
    assert gort.select(gort.Recv(a), gort.Recv(b), timeout=T) == (1, "late", True)


def test_select_in_goroutine_woken_by_thread():
    a, b = gort.Chan(), gort.Chan()
    p = gort.spawn(lambda: gort.select(gort.Recv(a), gort.Recv(b), timeout=T))
    t = threading.Thread(target=lambda: a.send("from thread", timeout=T))
    t.start()
    assert tuple(p.result(timeout=T)) == (0, "from thread", True)
    t.join(T)


def test_select_send_case():
    a = gort.Chan(1)
    r = gort.select(gort.Send(a, "payload"), timeout=T)
    assert r.index == 0 and r.value is None and r.ok is True
    assert a.recv(timeout=T) == "payload"


def test_select_send_to_receiving_goroutine():
    a = gort.Chan()
    p = gort.spawn(a.recv, timeout=T)
    r = gort.select(gort.Recv(gort.Chan()), gort.Send(a, 123), timeout=T)
    assert r.index == 1
    assert p.result(timeout=T) == 123


def test_select_send_on_closed_raises():
    a = gort.Chan(1)
    a.close()
    with pytest.raises(gort.ChanClosed):
        gort.select(gort.Send(a, 1), timeout=T)
    with pytest.raises(gort.ChanClosed):
        gort.select(gort.Send(a, 1), default=True)


def test_select_recv_on_closed():
    a = gort.Chan(1)
    a.send("buffered")
    a.close()
    assert gort.select(gort.Recv(a), timeout=T) == (0, "buffered", True)
    r = gort.select(gort.Recv(a), timeout=T)
    assert r.index == 0 and r.value is None and r.ok is False


def test_select_woken_by_close():
    a = gort.Chan()
    p = gort.spawn(lambda: tuple(gort.select(gort.Recv(gort.Chan()), gort.Recv(a), timeout=T)))
    gort.go(a.close)
    assert p.result(timeout=T) == (1, None, False)


def test_select_nil_channels_never_fire():
    a = gort.Chan(1)
    a.send("x")
    r = gort.select(gort.Recv(None), gort.Send(None, 1), gort.Recv(a), timeout=T)
    assert r == (2, "x", True)
    assert gort.select(gort.Recv(None), gort.Send(None, 5), default=True).index == -1
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        gort.select(gort.Recv(None), timeout=0.05)
    assert time.monotonic() - t0 >= 0.045


def test_select_without_cases():
    assert gort.select(default=True).index == -1
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        gort.select(timeout=0.05)
    assert time.monotonic() - t0 >= 0.045


def test_select_same_channel_twice():
    a = gort.Chan(1)
    a.send(1)
    r = gort.select(gort.Recv(a), gort.Recv(a), timeout=T)
    assert r.index in (0, 1) and r.value == 1


def test_select_many_cases():
    chans = [gort.Chan(1) for _ in range(100)]
    chans[57].send("fifty-seven")
    r = gort.select(*[gort.Recv(c) for c in chans], timeout=T)
    assert r == (57, "fifty-seven", True)


def test_select_fairness():
    a, b = gort.Chan(1), gort.Chan(1)
    counts = [0, 0]
    for _ in range(1000):
        # both always ready
        a.try_send("a")
        b.try_send("b")
        r = gort.select(gort.Recv(a), gort.Recv(b), timeout=T)
        counts[r.index] += 1
        assert r.value == "ab"[r.index]
    assert sum(counts) == 1000
    assert 350 <= counts[0] <= 650, counts


def test_select_fairness_send_cases():
    a, b = gort.Chan(1), gort.Chan(1)
    counts = [0, 0]
    for _ in range(1000):
        r = gort.select(gort.Send(a, 1), gort.Send(b, 2), timeout=T)
        counts[r.index] += 1
        (a if r.index == 0 else b).recv(timeout=T)
    assert 350 <= counts[0] <= 650, counts


def test_select_typed_channels():
    i = gort.Chan(1, ctype="int64_t")
    d = gort.Chan(1, ctype="double")
    o = gort.Chan(1)
    i.send(5)
    r = gort.select(gort.Recv(d), gort.Recv(i), gort.Recv(o), timeout=T)
    assert r == (1, 5, True) and type(r.value) is int
    assert gort.select(gort.Send(d, 2.5), timeout=T).index == 0
    assert d.recv(timeout=T) == 2.5
    with pytest.raises(TypeError):
        gort.select(gort.Send(i, "not an int"), default=True)
    assert len(i) == 0


def test_select_bad_input():
    with pytest.raises(TypeError):
        gort.select(42, default=True)
    with pytest.raises(TypeError):
        gort.select(gort.Chan(), default=True)          # a channel is not a case
    with pytest.raises(TypeError):
        gort.select(gort.Recv(42), default=True)
    with pytest.raises(TypeError):
        gort.select(gort.Send("chan", 1), default=True)
    with pytest.raises(TypeError):
        gort.Recv()
    with pytest.raises(TypeError):
        gort.Send(gort.Chan())
    with pytest.raises(TypeError):
        gort.select(gort.Recv(gort.Chan(1)), timeout="soon")


def test_select_unfired_send_value_not_leaked():
    full = gort.Chan(1)
    full.send("filler")
    ready = gort.Chan(1)
    o = object()
    before = sys.getrefcount(o)
    for _ in range(200):
        ready.send(1)
        r = gort.select(gort.Send(full, o), gort.Recv(ready), timeout=T)
        assert r.index == 1
    for _ in range(50):
        assert gort.select(gort.Send(full, o), default=True).index == -1
        with pytest.raises(TimeoutError):
            gort.select(gort.Send(full, o), timeout=0)
    gc.collect()
    assert sys.getrefcount(o) == before
    assert full.recv(timeout=T) == "filler"


def test_select_received_value_not_leaked():
    a = gort.Chan(1)
    o = object()
    before = sys.getrefcount(o)
    for _ in range(200):
        a.send(o)
        r = gort.select(gort.Recv(a), timeout=T)
        assert r.value is o
    del r
    assert sys.getrefcount(o) == before


# ---- after -----------------------------------------------------------------

def test_after():
    t0 = time.monotonic()
    g0 = gort.now()
    c = gort.after(0.05)
    assert isinstance(c, gort.Chan)
    v = c.recv(timeout=T)
    assert isinstance(v, float)
    assert time.monotonic() - t0 >= 0.045
    assert g0 + 0.045 <= v <= gort.now()
    with pytest.raises(TimeoutError):       # fires once
        c.recv(timeout=0.05)


def test_after_zero():
    assert isinstance(gort.after(0).recv(timeout=T), float)


def test_after_as_select_timeout():
    never = gort.Chan()
    r = gort.select(gort.Recv(never), gort.Recv(gort.after(0.02)), timeout=T)
    assert r.index == 1 and isinstance(r.value, float)


def test_after_in_goroutine():
    def body():
        t0 = time.monotonic()
        gort.after(0.03).recv(timeout=T)
        return time.monotonic() - t0

    assert run_in_goroutine(body) >= 0.025


def test_after_bad_input():
    with pytest.raises(TypeError):
        gort.after("1")
    with pytest.raises(TypeError):
        gort.after(None)


def test_many_dropped_after_channels():
    # dropped before firing: cancelled, nothing leaks, nothing crashes
    for _ in range(1000):
        gort.after(0.01)
    gc.collect()
    assert gort.after(0.01).recv(timeout=T) > 0


# ---- Ticker ---------------------------------------------------------------------------

def test_ticker_ticks_and_stops():
    t0 = time.monotonic()
    with gort.Ticker(0.02) as t:
        assert isinstance(t, gort.Ticker)
        ch = t.chan
        assert isinstance(ch, gort.Chan)
        ticks = [ch.recv(timeout=T) for _ in range(3)]
    assert all(isinstance(x, float) for x in ticks)
    assert ticks == sorted(ticks) and ticks[0] < ticks[2]
    assert time.monotonic() - t0 >= 0.055
    # stopped: drain at most one pending tick, then nothing more comes
    ch.try_recv()
    with pytest.raises(TimeoutError):
        ch.recv(timeout=0.1)


def test_ticker_stop_explicit_and_idempotent():
    t = gort.Ticker(0.01)
    t.chan.recv(timeout=T)
    t.stop()
    t.stop()
    c = t.chan
    c.try_recv()
    with pytest.raises(TimeoutError):
        c.recv(timeout=0.05)


def test_ticker_drops_ticks_for_slow_receiver():
    with gort.Ticker(0.005) as t:
        ch = t.chan
        ch.recv(timeout=T)
        gort.sleep(0.1)   # a slow receiver, not synchronisation
        assert len(ch) <= 1
        assert ch.cap == 1


def test_ticker_in_goroutine():
    def body():
        with gort.Ticker(0.01) as t:
            return [t.chan.recv(timeout=T) for _ in range(3)]

    ticks = run_in_goroutine(body)
    assert len(ticks) == 3 and ticks == sorted(ticks)


@pytest.mark.parametrize("period", [0, -1, -0.5])
def test_ticker_bad_period(period):
    with pytest.raises(ValueError):
        gort.Ticker(period)


def test_ticker_bad_type():
    with pytest.raises(TypeError):
        gort.Ticker("fast")


def test_contended_select_from_goroutines_and_threads():
    """Consumers on goroutines and threads select over three channels until
    all are closed; every value arrives exactly once."""
    chans = [gort.Chan(4) for _ in range(3)]
    per = 500
    out = gort.Chan(10_000)

    def consumer():
        live = list(chans)
        while True:
            cases = [gort.Recv(c) for c in live]
            r = gort.select(*cases, timeout=T)
            if not r.ok:
                live = [c for i, c in enumerate(live) if i != r.index]
                if not live:
                    return
                continue
            out.send(r.value, timeout=T)

    def producer(k):
        for i in range(per):
            chans[k].send((k, i), timeout=T)
        chans[k].close()

    wg = gort.WaitGroup()
    for _ in range(3):
        wg.go(consumer)
    threads = [threading.Thread(target=consumer) for _ in range(2)]
    for t in threads:
        t.start()
    for k in range(3):
        gort.go(producer, k)
    assert wg.wait(timeout=T)
    for t in threads:
        t.join(T)
    got = []
    while True:
        v, ok = out.try_recv()
        if not ok:
            break
        got.append(v)
    assert sorted(got) == sorted((k, i) for k in range(3) for i in range(per))


def test_ticker_select_loop_with_done_channel():
    done = gort.Chan()

    def loop():
        ticks = 0
        with gort.Ticker(0.005) as t:
            while True:
                r = gort.select(gort.Recv(done), gort.Recv(t.chan), timeout=T)
                if r.index == 0:
                    return ticks
                ticks += 1
                if ticks == 5:
                    gort.go(done.close)

    assert run_in_goroutine(loop) >= 5


def test_select_send_cases_between_thread_and_goroutine():
    a, b = gort.Chan(), gort.Chan()

    def receiver():
        return [gort.select(gort.Recv(a), gort.Recv(b), timeout=T).value for _ in range(20)]

    p = gort.spawn(receiver)

    def sender():
        for i in range(20):
            gort.select(gort.Send(a, ("a", i)), gort.Send(b, ("b", i)), timeout=T)

    run_in_thread(sender)
    got = p.result(timeout=T)
    assert [i for _, i in got] == list(range(20))
