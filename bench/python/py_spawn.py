"""py_spawn — start N concurrent units of Python work that each do almost
nothing, and wait until all of them have finished (the Python twin of
bench/spawn.c's ns_per_go_wg shape):

    gort     N Python goroutines (gort.go), each calls wg.done(); the main
             goroutine does wg.add(N) up front and then wg.wait()
    asyncio  N tasks (asyncio.create_task of a coroutine), each decrements a
             counter (the asyncio idiom for a WaitGroup: the last one
             resolves a future), awaited by the main coroutine

Both are timed inside their scheduler (a goroutine / a coroutine), after a
1000-unit warm-up. Metric: ns_per_spawn = wall time from the first spawn to
the end of the wait / N. No threading twin: 100k OS threads is not an idiom.

usage: py_spawn.py {gort|asyncio} [N]
"""
import time

import benchutil

WARMUP = 1000


def run_gort(n):
    import gort

    def work(wg):
        wg.done()

    def burst(k):
        wg = gort.WaitGroup()
        wg.add(k)
        t0 = time.perf_counter_ns()
        for _ in range(k):
            gort.go(work, wg)
        wg.wait()
        return time.perf_counter_ns() - t0

    def main():
        burst(WARMUP)
        return burst(n)

    return gort.spawn(main).result()


def run_asyncio(n):
    import asyncio

    class Counter:
        __slots__ = ("left", "fut")

        def __init__(self, k, fut):
            self.left, self.fut = k, fut

        def done(self):
            self.left -= 1
            if self.left == 0:
                self.fut.set_result(None)

    async def work(c):
        c.done()

    async def burst(k):
        c = Counter(k, asyncio.get_running_loop().create_future())
        t0 = time.perf_counter_ns()
        for _ in range(k):
            asyncio.create_task(work(c))   # the loop holds each task until it has run
        await c.fut
        return time.perf_counter_ns() - t0

    async def main():
        await burst(WARMUP)
        return await burst(n)

    return asyncio.run(main())


def main():
    side = benchutil.side(("gort", "asyncio"))
    n = benchutil.arg(2, 100_000)
    el = {"gort": run_gort, "asyncio": run_asyncio}[side](n)
    benchutil.result("ns_per_spawn", el / n, "ns")


if __name__ == "__main__":
    main()
