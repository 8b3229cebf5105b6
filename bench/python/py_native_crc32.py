"""py_native_crc32 — zlib's crc32 over B buffers of M MiB on all cores:

    gort       gort.native("libz.so.1").func("unsigned long crc32(...)"):
               B f.spawn(0, buf, len) on gort's pool, then every result
    threading  ThreadPoolExecutor(cpus).map(zlib.crc32, buffers)
               (zlib.crc32 releases the GIL for large buffers)

Each side first times the serial baseline in the same process: Python's
zlib.crc32 over the buffers one after another. Metrics: ms (the side's
parallel run), serial_ms, speedup = serial_ms / ms (same process, same
run). Results are checked against zlib.crc32. The buffers are distinct,
overlapping windows (offset i * 4 KiB) of one random block, so the run
needs M MiB + B * 4 KiB of memory instead of B * M MiB.

usage: py_native_crc32.py {gort|threading} [buffers] [MiB]
"""
import os
import time
import zlib

import benchutil

SIDES = ("gort", "threading")


def main():
    side = benchutil.side(SIDES)
    nbuf = benchutil.arg(2, 64)
    size = benchutil.arg(3, 4) << 20
    block = os.urandom(size + nbuf * 4096)
    mv = memoryview(block)
    bufs = [mv[i * 4096:i * 4096 + size] for i in range(nbuf)]
    t0 = time.perf_counter_ns()
    want = [zlib.crc32(b) for b in bufs]
    serial = time.perf_counter_ns() - t0
    if side == "gort":
        import gort
        crc32 = gort.native("libz.so.1").func(
            "unsigned long crc32(unsigned long, const uint8_t *, unsigned int)")
        crc32(0, bufs[0], size)  # warm up: symbol, executor
        t0 = time.perf_counter_ns()
        ps = [crc32.spawn(0, b, size) for b in bufs]
        got = [p.result() for p in ps]
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(zlib.crc32, bufs[:2]))  # warm up the threads
            t0 = time.perf_counter_ns()
            got = list(pool.map(zlib.crc32, bufs))
    ms = (time.perf_counter_ns() - t0) / 1e6
    if got != want:
        benchutil.die("checksums differ from zlib.crc32")
    benchutil.result("ms", ms, "ms")
    benchutil.result("serial_ms", serial / 1e6, "ms")
    benchutil.result("speedup", serial / 1e6 / ms, "x")


if __name__ == "__main__":
    main()
