"""py_hash_native — a worker pool whose work is native code that runs without
the GIL: W workers hash J jobs, each job the SHA-256 of 1 MiB
(job j hashes buf[j % 64 : j % 64 + 1 MiB]). The hash is one C function,
hashwork_sha256 in bench/python/hashwork.c, the same machine code on every
side:

    gort       W native goroutines (gort.go_native(hashwork_worker, &pool))
               range over a Chan(J, ctype="int64_t") of job numbers fed from
               Python and send each digest prefix to a second typed Chan,
               which Python drains. No GIL anywhere in the workers.
    asyncio    asyncio.gather over J loop.run_in_executor(ThreadPoolExecutor(W),
               hashwork_sha256, ...) calls (ctypes releases the GIL)
    threading  ThreadPoolExecutor(W).map(hashwork_sha256, ...) (ctypes)

Python goroutines all run on gort's one executor thread, so hashing inside
them (even with hashlib, which drops the GIL) would not use a second core:
gort's way to use every core is native goroutines, which this measures.
The XOR of all digest prefixes is checked against hashlib on every side.
Metric: ms (wall time from starting the workers to the last result).
bench/run_py.py runs W = 1 and W = number of CPUs and derives the speed-up.

The two shared libraries are built here on first use (cc -O2), next to the
other Python benchmark artefacts: $GORT_BENCH_PY_BUILD, default
build/release/bench-py.

usage: py_hash_native.py {gort|asyncio|threading} [jobs] [workers]
"""
import ctypes
import hashlib
import os
import subprocess
import sys
import time

import benchutil

LEN = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "hashwork.c")
OUT = os.environ.get("GORT_BENCH_PY_BUILD") or \
    os.path.join(HERE, "..", "..", "build", "release", "bench-py")


def build(name, extra):
    """Compile hashwork.c into OUT/name unless it is up to date; returns the path."""
    path = os.path.abspath(os.path.join(OUT, name))
    if os.path.exists(path) and os.path.getmtime(path) >= os.path.getmtime(SRC):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    cmd = [os.environ.get("CC", "cc"), "-O2", "-shared", "-fPIC", "-o", tmp, SRC] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        benchutil.die(f"{' '.join(cmd)} failed:\n{p.stderr}")
    os.replace(tmp, path)   # atomic: a concurrent run never sees half a file
    return path


def load_sha(path):
    lib = ctypes.CDLL(path)  # CDLL: the GIL is released during every call
    lib.hashwork_sha256.restype = ctypes.c_int64
    lib.hashwork_sha256.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return lib


def run_gort(buf, jobs, workers):
    import gort

    lib_dir = os.path.dirname(gort.get_library())
    lib = load_sha(build("libhashwork_gort.so", [
        "-DWITH_GORT", "-I" + gort.get_include(), gort.get_library(),
        "-Wl,-rpath," + lib_dir]))

    class Pool(ctypes.Structure):          # struct hashwork_pool in hashwork.c
        _fields_ = [("jobs", ctypes.c_void_p), ("results", ctypes.c_void_p),
                    ("exited", ctypes.c_void_p), ("buf", ctypes.c_void_p),
                    ("len", ctypes.c_size_t)]

    worker = ctypes.cast(lib.hashwork_worker, ctypes.c_void_p).value
    lib.hashwork_sha256(buf, 64)           # warm up, as the other sides do
    jobs_ch = gort.Chan(jobs, ctype="int64_t")
    results = gort.Chan(jobs, ctype="int64_t")
    exited = gort.Chan(workers, ctype="int64_t")
    pool = Pool(jobs_ch.address, results.address, exited.address, ctypes.addressof(buf), LEN)

    t0 = time.perf_counter_ns()
    for _ in range(workers):
        gort.go_native(worker, ctypes.addressof(pool), name="hashwork")
    for j in range(jobs):
        jobs_ch.send(j)
    jobs_ch.close()                        # the workers' range loops end
    acc = 0
    for _ in range(jobs):
        acc ^= results.recv()
    el = time.perf_counter_ns() - t0
    for _ in range(workers):               # the workers hold raw pointers to the
        exited.recv()                      # channels, pool and buffer: outlive them
    return el, acc, None


def run_asyncio(buf, jobs, workers):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    sha = load_sha(build("libhashwork.so", [])).hashwork_sha256
    base = ctypes.addressof(buf)
    sha(base, 64)

    async def main():
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=workers) as ex:
            t0 = time.perf_counter_ns()
            rs = await asyncio.gather(*(loop.run_in_executor(ex, sha, base + j % 64, LEN)
                                        for j in range(jobs)))
            el = time.perf_counter_ns() - t0
        acc = 0
        for r in rs:
            acc ^= r
        return el, acc, None

    return asyncio.run(main())


def run_threading(buf, jobs, workers):
    from concurrent.futures import ThreadPoolExecutor

    sha = load_sha(build("libhashwork.so", [])).hashwork_sha256
    base = ctypes.addressof(buf)
    sha(base, 64)
    with ThreadPoolExecutor(max_workers=workers) as ex:
        t0 = time.perf_counter_ns()
        acc = 0
        for r in ex.map(sha, (base + j % 64 for j in range(jobs)), (LEN for _ in range(jobs))):
            acc ^= r
        el = time.perf_counter_ns() - t0
    return el, acc, None


def main():
    side = benchutil.side()
    jobs = benchutil.arg(2, 160)
    workers = benchutil.arg(3, os.cpu_count() or 1)
    data = bytes((i * 131 + (i >> 8) * 7) & 0xFF for i in range(LEN + 64))
    buf = ctypes.create_string_buffer(data, len(data))
    digests = [int.from_bytes(hashlib.sha256(data[k:k + LEN]).digest()[:8], "big", signed=True)
               for k in range(min(64, jobs))]
    want = 0
    for j in range(jobs):
        want ^= digests[j % 64]
    run = {"gort": run_gort, "asyncio": run_asyncio, "threading": run_threading}[side]
    el, acc, keep = run(buf, jobs, workers)
    if acc != want:
        benchutil.die(f"checksum {acc:#x}, want {want:#x} (hashlib)")
    benchutil.result("ms", el / 1e6, "ms")
    del keep
    sys.stdout.flush()


if __name__ == "__main__":
    main()
