"""asyncio cancellation safety of channel operations (issue 10, item 13):
a cancelled await withdraws the operation — nothing lost, nothing twice."""
import asyncio
import random

import pytest

import gort

from conftest import T


def run(coro, timeout=60):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def test_timed_out_recv_promise_does_not_lose_the_next_message():
    # The reproducer of the issue: asyncio.Queue gives "msg1", so must we.
    ch = gort.Chan(10)

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ch.recv_promise(), 0.1)
        ch.send("msg1")
        ch.send("msg2")
        return await asyncio.wait_for(ch.recv_async(), T)
    assert run(main()) == "msg1"
    assert ch.recv(timeout=T) == "msg2"


def test_timed_out_recv_async_leaves_the_value_for_a_goroutine():
    ch = gort.Chan()

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ch.recv_async(), 0.05)
    run(main())
    p = gort.spawn(ch.recv, timeout=T)
    ch.send("only", timeout=T)  # an unbuffered send: the withdrawn receive is gone
    assert p.result(timeout=T) == "only"


def test_recv_async_fast_path_and_closed():
    ch = gort.Chan(2)
    ch.send(1)
    ch.close()

    async def main():
        assert await ch.recv_async() == 1
        with pytest.raises(gort.ChanClosed):
            await ch.recv_async()
    run(main())


def test_send_async_timed_out_is_not_sent():
    ch = gort.Chan()

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ch.send_async("x"), 0.05)
    run(main())
    assert ch.try_recv() == (None, False)
    assert len(ch) == 0


def test_async_for_until_closed():
    ch = gort.Chan()

    def producer():
        for i in range(50):
            ch.send(i)
        ch.close()
    gort.go(producer)

    async def main():
        return [x async for x in ch]
    assert run(main()) == list(range(50))


@pytest.mark.parametrize("seed", range(3))
def test_recv_races_with_timeouts_lose_and_duplicate_nothing(seed):
    rnd = random.Random(seed)
    n = 300
    ch = gort.Chan(rnd.choice([0, 1, 4]))

    def producer():
        for i in range(n):
            if i % 7 == 0:
                gort.sleep(rnd.random() * 0.002)
            if i % 50 == 49:
                gort.sleep(0.02)  # longer than any timeout below: some must expire
            ch.send(i)
    gort.go(producer)

    async def main():
        got, timeouts = [], 0
        while len(got) < n:
            try:
                got.append(await asyncio.wait_for(ch.recv_async(), rnd.random() * 0.003))
            except asyncio.TimeoutError:
                timeouts += 1
        return got, timeouts
    got, timeouts = run(main(), timeout=120)
    assert got == list(range(n))  # in order, each exactly once
    assert timeouts > 0           # the races did happen
    assert ch.try_recv() == (None, False)


@pytest.mark.parametrize("seed", range(3))
def test_send_races_with_timeouts_lose_and_duplicate_nothing(seed):
    rnd = random.Random(100 + seed)
    n = 300
    ch = gort.Chan(rnd.choice([0, 1, 4]))
    out = gort.Chan(n + 1)

    def consumer():
        for i, v in enumerate(ch):
            if i % 5 == 0:
                gort.sleep(rnd.random() * 0.002)
            if i % 50 == 49:
                gort.sleep(0.02)  # longer than any timeout below: some must expire
            out.send(v)
        out.close()
    gort.go(consumer)

    async def main():
        i = timeouts = 0
        while i < n:
            try:
                await asyncio.wait_for(ch.send_async(i), rnd.random() * 0.003)
                i += 1  # sent: next value
            except asyncio.TimeoutError:
                timeouts += 1  # not sent: send the same value again
        ch.close()
        return timeouts
    timeouts = run(main(), timeout=120)
    assert list(out) == list(range(n))
    assert timeouts > 0


def test_task_cancel_withdraws_and_cancellation_propagates():
    ch = gort.Chan()

    async def main():
        t = asyncio.ensure_future(ch.recv_async())
        await asyncio.sleep(0.05)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        ch2 = gort.Chan(1)
        return ch2
    run(main())
    assert ch.try_send("x") is False  # no receiver left waiting
