"""py_native_call — per-call cost of a C function called from Python:
labs(long) from libc, N calls each way, alternating in rounds in one
process (so machine noise hits every way alike), medians of the rounds:

    call_ns         gort.native(None).func("long labs(long)")(i)
    ctypes_ns       ctypes.CDLL(None).labs with argtypes/restype set
    ratio_ctypes    call_ns / ctypes_ns
    spawn_rt_ns     f.spawn(i).result(), one at a time (pool round trip)
    spawn_batch_ns  B f.spawn(i) in flight, then every result, per call

The sync ways are timed with the thread's CPU clock (time.thread_time_ns),
so a loaded machine that deschedules the loop does not inflate them; the
spawns cross threads and use the wall clock.

usage: py_native_call.py gort [calls] [spawns]
"""
import ctypes
import statistics
import time

import benchutil

ROUNDS = 5


def timed(clock, fn, n):
    t0 = clock()
    fn(n)
    return (clock() - t0) / n


def main():
    benchutil.side(("gort",))
    n = benchutil.arg(2, 200_000)
    ns = benchutil.arg(3, 20_000)
    import gort
    f = gort.native(None).func("long labs(long)")
    c = ctypes.CDLL(None).labs
    c.argtypes, c.restype = [ctypes.c_long], ctypes.c_long

    def gort_loop(k):
        for i in range(k):
            f(-i)

    def ctypes_loop(k):
        for i in range(k):
            c(-i)

    def spawn_rt(k):
        for i in range(k):
            f.spawn(-i).result()

    def spawn_batch(k):
        ps = [f.spawn(-i) for i in range(k)]
        if [p.result() for p in ps] != list(range(k)):
            benchutil.die("wrong results")

    if f(-5) != 5 or c(-5) != 5:
        benchutil.die("wrong results")
    spawn_batch(100)  # warm up the executor
    cpu, wall = time.thread_time_ns, time.perf_counter_ns
    g, ct, rt, batch = [], [], [], []
    for _ in range(ROUNDS):
        g.append(timed(cpu, gort_loop, n))
        ct.append(timed(cpu, ctypes_loop, n))
        rt.append(timed(wall, spawn_rt, ns))
        batch.append(timed(wall, spawn_batch, ns))
    m = statistics.median
    benchutil.result("call_ns", m(g), "ns")
    benchutil.result("ctypes_ns", m(ct), "ns")
    benchutil.result("ratio_ctypes", m(g) / m(ct), "x")
    benchutil.result("spawn_rt_ns", m(rt), "ns")
    benchutil.result("spawn_batch_ns", m(batch), "ns")


if __name__ == "__main__":
    main()
