"""asyncio integration: awaiting gort promises, from_asyncio."""
import asyncio
import threading
import time

import pytest

import gort
from conftest import T, run_in_thread


class MyError(Exception):
    pass


def run(coro, timeout=30):
    """asyncio.run with an overall watchdog so a lost wake-up fails the test."""
    async def guarded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(guarded())


def test_await_spawn():
    async def main():
        return await gort.spawn(lambda: 6 * 7)

    assert run(main()) == 42


def test_await_already_settled_promise():
    p = gort.Promise.resolved("early")

    async def main():
        return await p

    assert run(main()) == "early"


def test_await_promise_resolved_by_goroutine_after_sleep():
    async def main():
        t0 = time.monotonic()

        def slow():
            gort.sleep(0.05)
            return "slow"

        v = await gort.spawn(slow)
        return v, time.monotonic() - t0

    v, dt = run(main())
    assert v == "slow" and dt >= 0.045


def test_await_promise_resolved_by_thread():
    async def main():
        p = gort.Promise()
        t = threading.Thread(target=lambda: p.resolve("thread"))
        t.start()
        v = await p
        t.join(T)
        return v

    assert run(main()) == "thread"


def test_awaited_rejection_raises_same_exception():
    e = MyError("rejected")

    def f():
        raise e

    async def main():
        try:
            await gort.spawn(f)
        except MyError as got:
            return got
        return None

    assert run(main()) is e


def test_many_concurrent_awaits():
    n = 1000

    def work(i):
        gort.sleep(0.001 * (i % 7))
        return i * 2

    async def main():
        return await asyncio.gather(*[gort.spawn(work, i) for i in range(n)])

    assert run(main()) == [i * 2 for i in range(n)]


def test_loop_stays_responsive_while_awaiting():
    async def main():
        p = gort.spawn(gort.sleep, 0.2)
        ticks = 0
        task = asyncio.ensure_future(p)
        while not task.done():
            await asyncio.sleep(0.01)
            ticks += 1
        await task
        return ticks

    assert run(main()) >= 5


def test_awaiting_does_not_start_a_thread_per_await():
    n = 1000

    async def main():
        before = threading.active_count()
        ps = [gort.Promise() for _ in range(n)]
        tasks = [asyncio.ensure_future(p) for p in ps]
        await asyncio.sleep(0.05)           # let every task start awaiting
        during = threading.active_count()
        assert not any(t.done() for t in tasks)

        def settle_all():
            for i, p in enumerate(ps):
                p.resolve(i)

        gort.go(settle_all)
        res = await asyncio.gather(*tasks)
        return before, during, threading.active_count(), res

    before, during, after, res = run(main())
    assert res == list(range(n))
    assert during <= before + 4, (before, during)
    assert after <= before + 4, (before, after)


def test_await_then_chain():
    async def main():
        return await gort.Promise.resolved(2).then(lambda v: v * 21)

    assert run(main()) == 42


def test_asyncio_wait_for_timeout_and_cancel():
    p = gort.Promise()

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(p, 0.05)
        task = asyncio.ensure_future(p)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return True

    assert run(main())
    # the promise itself is untouched and still usable
    assert p.state == "pending"
    p.resolve("later")
    assert p.result(timeout=T) == "later"


def test_await_in_successive_event_loops():
    for i in range(3):
        async def main(i=i):
            return await gort.spawn(lambda: i)
        assert run(main()) == i


def test_await_in_loop_on_another_thread():
    async def main():
        return await gort.spawn(lambda: "other thread")

    assert run_in_thread(lambda: run(main())) == "other thread"


def test_promise_awaited_by_two_tasks():
    async def main():
        p = gort.Promise()
        t1 = asyncio.ensure_future(p)
        t2 = asyncio.ensure_future(p)
        await asyncio.sleep(0)
        p.resolve("both")
        return await asyncio.gather(t1, t2)

    assert run(main()) == ["both", "both"]


# ---- from_asyncio ------------------------------------------------------------------

async def _coro_value(v, delay=0.01):
    await asyncio.sleep(delay)
    return v


async def _coro_fail(e, delay=0.01):
    await asyncio.sleep(delay)
    raise e


def test_from_asyncio_awaited_on_its_loop():
    async def main():
        p = gort.from_asyncio(_coro_value("direct"))
        assert isinstance(p, gort.Promise)
        return await p

    assert run(main()) == "direct"


def test_goroutine_waits_for_asyncio_value():
    async def main():
        loop = asyncio.get_running_loop()

        def g():
            return gort.from_asyncio(_coro_value(41), loop).result(timeout=T) + 1

        return await gort.spawn(g)

    assert run(main()) == 42


def test_many_goroutines_wait_for_asyncio_values():
    async def main():
        loop = asyncio.get_running_loop()

        def g(i):
            return gort.from_asyncio(_coro_value(i, 0.001), loop).result(timeout=T)

        return await asyncio.gather(*[gort.spawn(g, i) for i in range(200)])

    assert run(main()) == list(range(200))


def test_goroutine_sees_asyncio_rejection():
    e = MyError("from asyncio")

    async def main():
        loop = asyncio.get_running_loop()

        def g():
            try:
                gort.from_asyncio(_coro_fail(e), loop).result(timeout=T)
            except MyError as got:
                return got
            return None

        return await gort.spawn(g)

    assert run(main()) is e


def test_thread_waits_for_asyncio_value():
    async def main():
        loop = asyncio.get_running_loop()

        def on_thread():
            return gort.from_asyncio(_coro_value("to thread"), loop).result(timeout=T)

        return await asyncio.to_thread(on_thread)

    assert run(main()) == "to thread"


def test_from_asyncio_task_and_future():
    async def main():
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(_coro_value("task"))
        fut = loop.create_future()
        loop.call_later(0.01, fut.set_result, "future")
        pt = gort.from_asyncio(task, loop)
        pf = gort.from_asyncio(fut, loop)
        return await gort.spawn(lambda: (pt.result(timeout=T), pf.result(timeout=T)))

    assert run(main()) == ("task", "future")


def test_from_asyncio_cancelled_task_rejects():
    async def main():
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(asyncio.sleep(100))
        p = gort.from_asyncio(task, loop)
        await asyncio.sleep(0)
        task.cancel()
        return await gort.spawn(lambda: p.exception(timeout=T))

    exc = run(main())
    assert isinstance(exc, asyncio.CancelledError)


def test_from_asyncio_bad_input():
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(TypeError):
            gort.from_asyncio(42, loop)
        with pytest.raises(TypeError):
            gort.from_asyncio(lambda: None, loop)
        return True

    assert run(main())


def test_from_asyncio_without_loop_fails_cleanly():
    coro = _coro_value(1)
    try:
        with pytest.raises((RuntimeError, ValueError)):
            gort.from_asyncio(coro)        # no running loop, none set
    finally:
        coro.close()


def test_set_asyncio_loop_default_for_goroutines():
    # from_asyncio's docstring names gort.set_asyncio_loop (not declared in
    # the .pyi): the default loop for callers off the loop's thread.
    if not hasattr(gort, "set_asyncio_loop"):
        pytest.fail("gort.set_asyncio_loop (named by from_asyncio's docstring) is missing")

    async def main():
        gort.set_asyncio_loop(asyncio.get_running_loop())
        try:
            def g():
                return gort.from_asyncio(_coro_value("via default loop")).result(timeout=T)
            return await gort.spawn(g)
        finally:
            gort.set_asyncio_loop(None)

    assert run(main()) == "via default loop"


def test_await_recv_promise_and_chanclosed():
    async def main():
        ch = gort.Chan()
        gort.go(lambda: ch.send("via chan", timeout=T))
        v = await ch.recv_promise()
        ch.close()
        try:
            await ch.recv_promise()
        except gort.ChanClosed:
            return v, "closed"
        return v, "no exception"

    assert run(main()) == ("via chan", "closed")
