"""py_hash_pool — a worker pool whose work is a GIL-releasing call:
W workers hash J jobs with hashlib.sha256, each job 1 MiB
(job j hashes buf[j % 64 : j % 64 + 1 MiB]; hashlib releases the GIL for
buffers over 2 KiB). Every side runs the same function, sha(j):

    gort       W Python goroutines range over a Chan of job numbers and send
               gort.blocking(sha, j) to a results Chan; the main goroutine
               feeds the jobs and drains the results. gort.blocking hands
               the call to a pool thread and parks the goroutine: Python
               goroutines all run on gort's one executor thread, so without
               it the hashing would never use a second core.
    asyncio    asyncio.gather over J loop.run_in_executor(ThreadPoolExecutor(W), sha, j)
    threading  ThreadPoolExecutor(W).map(sha, range(J))

The XOR of all results is checked against a precomputed hashlib value.
Metric: ms (wall time from starting the workers to the last result).
bench/run_py.py runs W = 1 and W = number of CPUs and derives the speed-up.
py_hash_native is the same pool with the hashing in C on native goroutines.

usage: py_hash_pool.py {gort|asyncio|threading} [jobs] [workers]
"""
import hashlib
import os
import time

import benchutil

LEN = 1 << 20


def make_sha(data):
    mv = memoryview(data)

    def sha(j):
        k = j % 64
        return int.from_bytes(hashlib.sha256(mv[k:k + LEN]).digest()[:8], "big", signed=True)
    return sha


def run_gort(sha, jobs, workers):
    import gort

    def worker(jobs_ch, results):
        for j in jobs_ch:                          # for j := range jobs
            results.send(gort.blocking(sha, j))    # parks; the hash runs on a pool thread

    def main():
        jobs_ch, results = gort.Chan(jobs), gort.Chan(jobs)
        t0 = time.perf_counter_ns()
        for _ in range(workers):
            gort.go(worker, jobs_ch, results)
        for j in range(jobs):
            jobs_ch.send(j)
        jobs_ch.close()
        acc = 0
        for _ in range(jobs):
            acc ^= results.recv()
        return time.perf_counter_ns() - t0, acc

    return gort.spawn(main).result()


def run_asyncio(sha, jobs, workers):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def main():
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=workers) as ex:
            t0 = time.perf_counter_ns()
            rs = await asyncio.gather(*(loop.run_in_executor(ex, sha, j) for j in range(jobs)))
            el = time.perf_counter_ns() - t0
        acc = 0
        for r in rs:
            acc ^= r
        return el, acc

    return asyncio.run(main())


def run_threading(sha, jobs, workers):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as ex:
        t0 = time.perf_counter_ns()
        acc = 0
        for r in ex.map(sha, range(jobs)):
            acc ^= r
        el = time.perf_counter_ns() - t0
    return el, acc


def main():
    side = benchutil.side()
    jobs = benchutil.arg(2, 800)
    workers = benchutil.arg(3, os.cpu_count() or 1)
    data = bytes((i * 131 + (i >> 8) * 7) & 0xFF for i in range(LEN + 64))
    sha = make_sha(data)
    digests = [sha(k) for k in range(min(64, jobs))]   # also warms hashlib up
    want = 0
    for j in range(jobs):
        want ^= digests[j % 64]
    run = {"gort": run_gort, "asyncio": run_asyncio, "threading": run_threading}[side]
    el, acc = run(sha, jobs, workers)
    if acc != want:
        benchutil.die(f"checksum {acc:#x}, want {want:#x}")
    benchutil.result("ms", el / 1e6, "ms")


if __name__ == "__main__":
    main()
