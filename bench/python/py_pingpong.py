"""py_pingpong — round trips of a token between two Python "threads of
control", each direction over its own channel/queue (the Python twin of
bench/chan_pingpong.c):

    gort       two Python goroutines, two unbuffered gort.Chan
    asyncio    two tasks, two asyncio.Queue(maxsize=1)
    threading  two OS threads, two queue.Queue(maxsize=1)

One round trip = main sends i on ping, the partner receives it and sends it
back on pong, main receives it (and checks it). 1000 warm-up round trips,
then the timed ones. Metric: ns_per_roundtrip (wall time / round trips).

usage: py_pingpong.py {gort|asyncio|threading} [round-trips]
"""
import time

import benchutil

WARMUP = 1000


def run_gort(n):
    import gort

    def partner(ping, pong):
        for v in ping:                  # for v := range ping
            pong.send(v)

    def main():
        ping, pong = gort.Chan(), gort.Chan()   # unbuffered
        gort.go(partner, ping, pong)
        for i in range(WARMUP):
            ping.send(i)
            pong.recv()
        t0 = time.perf_counter_ns()
        for i in range(n):
            ping.send(i)
            if pong.recv() != i:
                benchutil.die("wrong value")
        el = time.perf_counter_ns() - t0
        ping.close()
        return el

    # Timed inside a goroutine, as the asyncio side is timed inside its loop.
    return gort.spawn(main).result()


def run_asyncio(n):
    import asyncio

    async def partner(ping, pong):
        while True:
            v = await ping.get()
            if v is None:
                return
            await pong.put(v)

    async def main():
        ping, pong = asyncio.Queue(maxsize=1), asyncio.Queue(maxsize=1)
        task = asyncio.create_task(partner(ping, pong))
        for i in range(WARMUP):
            await ping.put(i)
            await pong.get()
        t0 = time.perf_counter_ns()
        for i in range(n):
            await ping.put(i)
            if await pong.get() != i:
                benchutil.die("wrong value")
        el = time.perf_counter_ns() - t0
        await ping.put(None)
        await task
        return el

    return asyncio.run(main())


def run_threading(n):
    import queue
    import threading

    def partner(ping, pong):
        while True:
            v = ping.get()
            if v is None:
                return
            pong.put(v)

    ping, pong = queue.Queue(maxsize=1), queue.Queue(maxsize=1)
    t = threading.Thread(target=partner, args=(ping, pong))
    t.start()
    for i in range(WARMUP):
        ping.put(i)
        pong.get()
    t0 = time.perf_counter_ns()
    for i in range(n):
        ping.put(i)
        if pong.get() != i:
            benchutil.die("wrong value")
    el = time.perf_counter_ns() - t0
    ping.put(None)
    t.join()
    return el


def main():
    side = benchutil.side()
    n = benchutil.arg(2, 50_000)
    el = {"gort": run_gort, "asyncio": run_asyncio, "threading": run_threading}[side](n)
    benchutil.result("ns_per_roundtrip", el / n, "ns")


if __name__ == "__main__":
    main()
