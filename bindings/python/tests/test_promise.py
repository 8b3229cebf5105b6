"""Promises: settle, wait, then/catch/finally_, combinators, adoption,
reference counting."""
import gc
import sys
import threading
import time
import weakref

import pytest

import gort
from conftest import T, run_in_goroutine, run_in_thread, wait_until


class Obj:
    def __init__(self, v=None):
        self.v = v


class MyError(Exception):
    pass


# ---- settling and state ------------------------------------------------------------

def test_pending_then_resolved():
    p = gort.Promise()
    assert p.state == "pending"
    assert p.done() is False
    assert p.handle is not None
    assert p.resolve(5) is True
    assert p.state == "fulfilled"
    assert p.done() is True
    assert p.result(timeout=0) == 5
    assert p.result() == 5
    assert p.exception(timeout=0) is None
    # settles once
    assert p.resolve(6) is False
    assert p.reject(MyError()) is False
    assert p.result() == 5 and p.state == "fulfilled"


def test_rejected():
    p = gort.Promise()
    e = MyError("bad")
    assert p.reject(e) is True
    assert p.state == "rejected" and p.done()
    with pytest.raises(MyError) as ei:
        p.result(timeout=T)
    assert ei.value is e
    assert p.exception(timeout=T) is e
    assert p.resolve(1) is False
    assert p.reject(MyError()) is False
    assert p.exception() is e


def test_resolve_with_exception_object_fulfils():
    e = MyError("a value, not a rejection")
    p = gort.Promise()
    p.resolve(e)
    assert p.state == "fulfilled"
    assert p.result(timeout=T) is e


def test_resolved_and_rejected_constructors():
    o = Obj()
    assert gort.Promise.resolved(o).result(timeout=0) is o
    e = MyError()
    r = gort.Promise.rejected(e)
    assert r.state == "rejected"
    assert r.exception(timeout=0) is e
    assert gort.Promise.resolved(None).result(timeout=0) is None


def test_reject_needs_an_exception():
    p = gort.Promise()
    with pytest.raises(TypeError):
        p.reject("not an exception")
    with pytest.raises(TypeError):
        p.reject(None)
    with pytest.raises(TypeError):
        gort.Promise.rejected(42)
    assert p.state == "pending"
    p.resolve(1)


def test_result_timeout_on_pending():
    p = gort.Promise()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        p.result(timeout=0.05)
    assert 0.045 <= time.monotonic() - t0 < 5
    with pytest.raises(TimeoutError):
        p.exception(timeout=0.01)
    with pytest.raises(TimeoutError):
        p.result(timeout=0)
    assert p.state == "pending"
    with pytest.raises(TypeError):
        p.result(timeout="1")


def test_result_waits_for_thread():
    p = gort.Promise()
    t = threading.Thread(target=lambda: p.resolve("from thread"))
    t.start()
    assert p.result(timeout=T) == "from thread"
    t.join(T)


def test_goroutine_parks_on_result():
    p = gort.Promise()
    waiter = gort.spawn(lambda: p.result(timeout=T) * 2)
    # another goroutine on the same executor settles it: works only if the
    # waiting goroutine parked rather than blocking the thread
    gort.go(p.resolve, 21)
    assert waiter.result(timeout=T) == 42


def test_goroutine_waits_on_rejection():
    p = gort.Promise()
    e = MyError()

    def body():
        try:
            p.result(timeout=T)
        except MyError as got:
            return got
        return None

    w = gort.spawn(body)
    p.reject(e)
    assert w.result(timeout=T) is e


def test_only_one_concurrent_resolver_wins():
    p = gort.Promise()
    wins = []
    barrier = threading.Barrier(8)

    def racer(i):
        barrier.wait(T)
        if p.resolve(i):
            wins.append(i)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T)
    assert len(wins) == 1
    assert p.result(timeout=T) == wins[0]


# ---- then / catch / finally_ ------------------------------------------------------------

def test_then_chain():
    p = gort.Promise()
    q = p.then(lambda v: v + 1).then(lambda v: v * 10)
    assert isinstance(q, gort.Promise)
    p.resolve(1)
    assert q.result(timeout=T) == 20


def test_then_on_settled_promise():
    assert gort.Promise.resolved(3).then(lambda v: v * 3).result(timeout=T) == 9


def test_then_without_handlers_passes_through():
    assert gort.Promise.resolved("x").then().result(timeout=T) == "x"
    e = MyError()
    with pytest.raises(MyError) as ei:
        gort.Promise.rejected(e).then(lambda v: "not called").result(timeout=T)
    assert ei.value is e


def test_then_on_rejected_recovers():
    e = MyError("r")
    q = gort.Promise.rejected(e).then(None, lambda exc: ("recovered", exc))
    v = q.result(timeout=T)
    assert v[0] == "recovered" and v[1] is e


def test_handler_exception_rejects_next():
    e = MyError("from handler")

    def h(v):
        raise e

    q = gort.Promise.resolved(1).then(h)
    with pytest.raises(MyError) as ei:
        q.result(timeout=T)
    assert ei.value is e


def test_handler_returning_promise_is_adopted():
    inner = gort.Promise()
    q = gort.Promise.resolved(1).then(lambda v: inner)
    with pytest.raises(TimeoutError):
        q.result(timeout=0.05)
    inner.resolve("inner value")
    assert q.result(timeout=T) == "inner value"


def test_callbacks_run_in_registration_order():
    p = gort.Promise()
    log = []
    qs = [p.then(lambda v, i=i: log.append((i, v))) for i in range(10)]
    p.resolve("v")
    gort.Promise.all(qs).result(timeout=T)
    assert log == [(i, "v") for i in range(10)]


def test_callbacks_run_on_the_executor_thread():
    goroutine_tid = run_in_goroutine(threading.get_native_id)
    tid = gort.Promise.resolved(0).then(lambda v: threading.get_native_id()).result(timeout=T)
    assert tid == goroutine_tid
    assert tid != threading.get_native_id()


def test_callbacks_are_asynchronous():
    def body():
        log = []
        p = gort.Promise.resolved(1)
        q = p.then(log.append)
        immediately = list(log)
        q.result(timeout=T)
        return immediately, log

    immediately, later = run_in_goroutine(body)
    assert immediately == []
    assert later == [1]


def test_then_bad_input():
    p = gort.Promise.resolved(1)
    with pytest.raises(TypeError):
        p.then(42)
    with pytest.raises(TypeError):
        p.then(None, "x")
    with pytest.raises(TypeError):
        p.catch(42)
    with pytest.raises(TypeError):
        p.finally_(3)


def test_catch():
    got = gort.Promise.rejected(KeyError("k")).catch(lambda e: type(e).__name__)
    assert got.result(timeout=T) == "KeyError"
    # a fulfilled promise passes through catch
    assert gort.Promise.resolved(5).catch(lambda e: "no").result(timeout=T) == 5


def test_catch_rethrow():
    e2 = MyError("second")

    def h(e):
        raise e2

    with pytest.raises(MyError) as ei:
        gort.Promise.rejected(ValueError()).catch(h).result(timeout=T)
    assert ei.value is e2


def test_finally_passes_value_and_rejection_through():
    calls = []
    assert gort.Promise.resolved(7).finally_(lambda: calls.append("f")).result(timeout=T) == 7
    e = MyError()
    with pytest.raises(MyError) as ei:
        gort.Promise.rejected(e).finally_(lambda: calls.append("r")).result(timeout=T)
    assert ei.value is e
    assert calls == ["f", "r"]


def test_finally_raising_rejects():
    e = MyError("finally failed")

    def f():
        raise e

    with pytest.raises(MyError) as ei:
        gort.Promise.resolved(1).finally_(f).result(timeout=T)
    assert ei.value is e


def test_finally_return_value_ignored():
    assert gort.Promise.resolved("kept").finally_(lambda: "ignored").result(timeout=T) == "kept"


def test_handler_can_start_goroutines():
    ch = gort.Chan(1)
    q = gort.Promise.resolved(5).then(lambda v: gort.go(ch.send, v * 2, timeout=T))
    q.result(timeout=T)
    assert ch.recv(timeout=T) == 10


# ---- adoption ------------------------------------------------------------------------

def test_resolve_with_pending_promise_adopts():
    p, q = gort.Promise(), gort.Promise()
    assert p.resolve(q) is True
    assert p.state == "pending"
    assert p.resolve("too late") is False      # already resolving
    q.resolve(7)
    assert p.result(timeout=T) == 7


def test_resolve_with_rejected_promise_adopts_rejection():
    e = MyError()
    p = gort.Promise()
    p.resolve(gort.Promise.rejected(e))
    with pytest.raises(MyError) as ei:
        p.result(timeout=T)
    assert ei.value is e


def test_resolved_of_promise_adopts():
    assert gort.Promise.resolved(gort.Promise.resolved(3)).result(timeout=T) == 3


def test_resolve_with_itself_rejects():
    p = gort.Promise()
    p.resolve(p)
    exc = p.exception(timeout=T)
    assert isinstance(exc, (TypeError, gort.GortError))


# ---- combinators -----------------------------------------------------------------

def test_all_keeps_input_order():
    ps = [gort.Promise() for _ in range(3)]
    a = gort.Promise.all(ps)
    for i in reversed(range(3)):
        ps[i].resolve(i * 10)
    assert a.result(timeout=T) == [0, 10, 20]


def test_all_with_generator_and_mixed_sources():
    a = gort.Promise.all(gort.spawn(lambda i=i: i) for i in range(5))
    assert a.result(timeout=T) == [0, 1, 2, 3, 4]


def test_all_rejects_with_first_rejection():
    e = MyError("one")
    a = gort.Promise.all([gort.Promise(), gort.Promise.rejected(e), gort.Promise.resolved(1)])
    with pytest.raises(MyError) as ei:
        a.result(timeout=T)
    assert ei.value is e


def test_all_empty():
    assert gort.Promise.all([]).result(timeout=T) == []


def test_all_settled():
    e = MyError()
    a = gort.Promise.all_settled([gort.Promise.resolved(1), gort.Promise.rejected(e),
                                  gort.spawn(lambda: "s")])
    out = a.result(timeout=T)
    assert len(out) == 3
    assert all(isinstance(p, gort.Promise) for p in out)
    assert [p.state for p in out] == ["fulfilled", "rejected", "fulfilled"]
    assert out[0].result(timeout=0) == 1
    assert out[1].exception(timeout=0) is e
    assert out[2].result(timeout=0) == "s"
    assert gort.Promise.all_settled([]).result(timeout=T) == []


def test_race():
    p1, p2 = gort.Promise(), gort.Promise()
    r = gort.Promise.race([p1, p2])
    p2.resolve("second wins")
    assert r.result(timeout=T) == "second wins"
    p1.resolve("first, too late")
    assert r.result(timeout=T) == "second wins"


def test_race_rejection_first():
    e = MyError()
    r = gort.Promise.race([gort.Promise(), gort.Promise.rejected(e)])
    with pytest.raises(MyError):
        r.result(timeout=T)


def test_race_empty_stays_pending():
    with pytest.raises(TimeoutError):
        gort.Promise.race([]).result(timeout=0.05)


def test_any_first_fulfilled():
    a = gort.Promise.any([gort.Promise.rejected(MyError()), gort.Promise(),
                          gort.Promise.resolved("ok")])
    assert a.result(timeout=T) == "ok"


def test_any_all_rejected_is_aggregate_error():
    errs = [MyError(i) for i in range(3)]
    a = gort.Promise.any([gort.Promise.rejected(e) for e in errs])
    with pytest.raises(gort.AggregateError) as ei:
        a.result(timeout=T)
    agg = ei.value
    assert isinstance(agg, gort.GortError)
    assert agg.errors == errs
    assert all(x is y for x, y in zip(agg.errors, errs))
    assert agg.code == -1005
    assert agg.name == "GORT_EAGGREGATE"


def test_any_empty_rejects():
    with pytest.raises(gort.AggregateError) as ei:
        gort.Promise.any([]).result(timeout=T)
    assert ei.value.errors == []


@pytest.mark.parametrize("comb", ["all", "all_settled", "race", "any"])
def test_combinators_bad_input(comb):
    f = getattr(gort.Promise, comb)
    with pytest.raises(TypeError):
        f(42)                               # not iterable
    with pytest.raises(TypeError):
        f(None)


# ---- reference counting ----------------------------------------------------------------

def test_value_released_with_the_promise():
    o = Obj()
    r = weakref.ref(o)
    p = gort.Promise.resolved(o)
    del o
    gc.collect()
    assert r() is not None
    assert p.result(timeout=0) is r()
    del p
    gc.collect()
    assert r() is None


def test_value_of_resolve_released_with_the_promise():
    p = gort.Promise()
    o = Obj()
    r = weakref.ref(o)
    p.resolve(o)
    del o, p
    gc.collect()
    assert r() is None


def test_rejection_released_with_the_promise():
    e = MyError()
    r = weakref.ref(e)
    p = gort.Promise()
    p.reject(e)
    del e
    p.exception(timeout=0)   # handled
    del p
    gc.collect()
    assert r() is None


def test_spawn_result_released():
    def make():
        return Obj("made in a goroutine")

    p = gort.spawn(make)
    r = weakref.ref(p.result(timeout=T))
    del p
    gc.collect()
    assert r() is None


def test_losing_resolve_value_not_leaked():
    p = gort.Promise.resolved(1)
    o = Obj()
    before = sys.getrefcount(o)
    for _ in range(100):
        assert p.resolve(o) is False
    assert sys.getrefcount(o) == before


def test_then_chain_values_released():
    o = Obj()
    r = weakref.ref(o)
    p = gort.Promise()
    q = p.then(lambda v: [v]).then(lambda lst: lst[0])
    p.resolve(o)
    assert q.result(timeout=T) is o
    del o, p, q
    # The chain's middle promise is let go by the executor thread after its
    # reaction has run, which can be a moment after q is fulfilled: released
    # soon, not necessarily by the time result() returns.
    assert wait_until(lambda: gc.collect() is not None and r() is None)


def test_combinator_values_released():
    objs = [Obj(i) for i in range(3)]
    refs = [weakref.ref(o) for o in objs]
    a = gort.Promise.all([gort.Promise.resolved(o) for o in objs])
    assert a.result(timeout=T) == objs
    del objs, a
    gc.collect()
    assert all(r() is None for r in refs)


def test_unsettled_promise_with_callbacks_collected():
    # a pending promise dropped with callbacks registered: the callbacks
    # (and what they close over) are released, nothing crashes
    o = Obj()
    r = weakref.ref(o)
    p = gort.Promise()
    p.then(lambda v, o=o: o)
    del o, p
    gc.collect()
    assert r() is None
