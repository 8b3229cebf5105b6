"""native_pool.py — zlib's crc32 over many large buffers on all of gort's
cores, called straight from its C declaration (gort.native: no compiler, no
glue), while the interpreter keeps doing its own work.

    z = gort.native("libz.so.1")
    crc32 = z.func("unsigned long crc32(unsigned long, const uint8_t *, unsigned int)")
    promise = crc32.spawn(0, buf, len(buf))   # runs on a pool goroutine

Each spawn copies the argument values, keeps `buf` alive (and exported)
until the call has ended, and runs the call inside gort_blocking: the GIL is
not involved, so the calls run in parallel with each other and with the
Python code below. Every result is checked against Python's own zlib.crc32.
"""
import os
import time
import zlib

import gort

N_BUFFERS = 32
SIZE = 2 << 20  # 2 MiB each


def main():
    z = gort.native("libz.so.1")
    crc32 = z.func("unsigned long crc32(unsigned long, const uint8_t *, unsigned int)")
    print("function:", crc32)
    bufs = [os.urandom(SIZE) for _ in range(N_BUFFERS)]

    t0 = time.perf_counter()
    promises = [crc32.spawn(0, b, len(b)) for b in bufs]
    # The interpreter is free meanwhile: do some Python work of our own.
    ticks = 0
    while not all(p.done() for p in promises):
        sum(i * i for i in range(1000))
        ticks += 1
    got = [p.result() for p in promises]
    elapsed = time.perf_counter() - t0

    want = [zlib.crc32(b) for b in bufs]
    if got != want:
        bad = sum(g != w for g, w in zip(got, want))
        raise SystemExit("native_pool: %d of %d checksums differ from zlib.crc32" % (bad, N_BUFFERS))
    print("crc32 of %d buffers x %d MiB on %d Ps: all %d match zlib.crc32"
          % (N_BUFFERS, SIZE >> 20, gort.procs(), N_BUFFERS))
    print("the interpreter ran %d rounds of its own work meanwhile (%.0f ms in all)"
          % (ticks, elapsed * 1e3))


if __name__ == "__main__":
    main()
