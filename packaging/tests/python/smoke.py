"""smoke.py — the installed-wheel smoke test of scripts/dist-python.sh.

Run with the interpreter of a fresh venv into which only the wheel (and its
dependency cffi) was installed, from a directory outside the source tree:

    python smoke.py EXPECTED_VERSION

Checks that gort is imported from that venv's site-packages (not a checkout),
that its bundled libgort.so.0 is the library the process loaded, that the
versions agree, and that goroutines, channels, a WaitGroup and promises work.
Prints one "smoke: ok ..." line; any failure raises (exit status 1).
"""
import os
import sys
import sysconfig

import gort

expected = sys.argv[1]
site = os.path.realpath(sysconfig.get_paths()["platlib"])
pkg = os.path.realpath(os.path.dirname(gort.__file__))
assert pkg.startswith(site + os.sep), "gort imported from %s, not from %s" % (pkg, site)
assert gort.__version__ == expected, (gort.__version__, expected)
assert gort.version_info == tuple(int(x) for x in expected.split("."))
lib = os.path.realpath(gort.get_library())
with open("/proc/self/maps") as f:
    loaded = {line.split()[-1] for line in f if "libgort.so" in line}
assert loaded == {lib}, "loaded libgort: %s, bundled: %s" % (sorted(loaded), lib)
assert os.path.isfile(os.path.join(gort.get_include(), "gort.h"))

# goroutines + a buffered channel + a WaitGroup
ch = gort.Chan(4)
wg = gort.WaitGroup()
n = 50


def produce(lo, hi):
    try:
        for i in range(lo, hi):
            ch.send(i)
    finally:
        wg.done()


wg.add(2)
gort.go(produce, 0, n // 2)
gort.go(produce, n // 2, n)
got = [ch.recv(timeout=60) for _ in range(n)]
assert wg.wait(timeout=60), "WaitGroup did not finish"
assert sorted(got) == list(range(n)), got

# promises: spawn + all
ps = [gort.spawn(lambda k=k: k * k) for k in range(10)]
assert gort.Promise.all(ps).result(timeout=60) == [k * k for k in range(10)]
print("smoke: ok, gort %s from %s (Python %s)" % (gort.__version__, pkg, sys.version.split()[0]))
