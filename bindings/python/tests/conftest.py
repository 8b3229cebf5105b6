"""Shared helpers for the gort Python binding tests.

Conventions used throughout the suite:
  - every blocking call gets a timeout, so that a bug fails a test instead of
    hanging the run;
  - nothing synchronises with sleeps: channels, wait groups and events do;
    timing assertions have generous slack;
  - tests that could kill the interpreter (aborts in the C library, signals,
    interpreter shutdown) run in a subprocess (run_python).
"""
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import gort

# Generous timeout for anything that should complete "at once".
T = 10.0


def run_in_goroutine(fn, *args, timeout=T, **kwargs):
    """Run fn(*args, **kwargs) in a Python goroutine; return its result (or
    raise its exception) within timeout seconds."""
    return gort.spawn(fn, *args, **kwargs).result(timeout=timeout)


def run_in_thread(fn, *args, timeout=T, **kwargs):
    """Run fn in a plain Python thread; return its result or raise its
    exception. Fails (AssertionError) if it does not finish in time."""
    box = {}

    def body():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            box["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "thread did not finish within %ss" % timeout
    if "error" in box:
        raise box["error"]
    return box.get("value")


def wait_until(pred, timeout=T, interval=0.002):
    """Poll pred() until it is true (a condition check, not a synchronising
    sleep); returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def _pythonpath_env():
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(gort.__file__)))
    env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"]
                                      if env.get("PYTHONPATH") else "")
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONFAULTHANDLER"] = "1"   # a crash prints a traceback: easier to report
    return env


def run_python(code, timeout=30.0, **kwargs):
    """Run `code` (dedented) in a fresh interpreter that imports the same gort.
    Returns (CompletedProcess, elapsed seconds)."""
    t0 = time.monotonic()
    cp = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                        capture_output=True, text=True, timeout=timeout,
                        env=_pythonpath_env(), **kwargs)
    return cp, time.monotonic() - t0


def popen_python(code, **kwargs):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_pythonpath_env(), **kwargs)


CRASH_MARKERS = ("Fatal Python error", "Segmentation fault", "gort: fatal",
                 "Aborted", "core dumped", "SIGSEGV", "SIGABRT")


def assert_clean_exit(cp, expect_rc=0):
    """No crash markers, the expected exit status."""
    out = "stdout:\n%s\nstderr:\n%s" % (cp.stdout, cp.stderr)
    for m in CRASH_MARKERS:
        assert m not in cp.stderr, "crash output (%r):\n%s" % (m, out)
    assert cp.returncode == expect_rc, "exit status %s, expected %s\n%s" % (
        cp.returncode, expect_rc, out)


@pytest.fixture
def excepthook_calls(monkeypatch):
    """Replace gort.excepthook; returns a Chan that receives
    (exception, goroutine_name, native thread id) for each call."""
    ch = gort.Chan(1000)

    def hook(exc, name):
        ch.send((exc, name, threading.get_native_id()), timeout=T)

    monkeypatch.setattr(gort, "excepthook", hook)
    return ch


# ---- native helpers (a tiny C library linked to the bundled libgort) -------

HERE = os.path.dirname(os.path.abspath(__file__))

NATIVE_CDEF = """
typedef struct gort_chan gort_chan;
typedef struct gort_promise gort_promise;
struct prod_arg { gort_chan *ch; int64_t n; };
struct pipe_arg { gort_chan *in; gort_chan *out; };
struct sum_arg  { gort_chan *in; gort_chan *done; int64_t sum; int64_t count; };
struct spin_arg { volatile int64_t counter; volatile int stop; gort_chan *done; };
void producer(void *arg);
void doubler(void *arg);
void summer(void *arg);
void spinner(void *arg);
void dproducer(void *arg);
gort_chan *make_chan_int64(size_t cap);
void release_chan(gort_chan *ch);
gort_promise *make_resolved_promise(intptr_t v);
gort_promise *make_int64_promise(int64_t v);
gort_promise *make_null_promise(void);
gort_promise *make_rejected_promise(void);
gort_promise *make_pending_promise(void);
int resolve_promise_int64(gort_promise *p, int64_t v);
void release_promise(gort_promise *p);
gort_promise *async_square(int64_t x);
const char *lib_version_string(void);
"""


def _find_cc():
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="session")
def native(tmp_path_factory):
    """(ffi, lib, path): the C helpers of native_helpers.c compiled against
    gort.get_include()/gort.get_library() and loaded with cffi's ABI mode."""
    cffi = pytest.importorskip("cffi")
    cc = _find_cc()
    if cc is None:
        pytest.skip("no C compiler (cc/gcc/clang) found")
    d = tmp_path_factory.mktemp("native")
    out = str(d / "libgorttest.so")
    libpath = gort.get_library()
    cmd = [cc, "-shared", "-fPIC", "-O1", "-std=gnu11",
           "-I" + gort.get_include(), os.path.join(HERE, "native_helpers.c"),
           libpath, "-Wl,-rpath," + os.path.dirname(libpath), "-o", out]
    cp = subprocess.run(cmd, capture_output=True, text=True)
    assert cp.returncode == 0, "compiling the native helpers failed:\n%s\n%s" % (
        " ".join(cmd), cp.stderr)
    ffi = cffi.FFI()
    ffi.cdef(NATIVE_CDEF)
    lib = ffi.dlopen(out)
    return ffi, lib, out
