"""Goroutines: go, spawn, go_native, blocking, sleep and friends."""
import threading

from ._core import _native, address_of, ensure_executor, ffi, lib, error_for
from ._chan import Chan
from ._promise import Promise

__all__ = ["go", "spawn", "go_native", "blocking", "sleep", "yield_", "procs",
           "num_goroutine", "goroutine_id", "in_goroutine", "now"]


def _check_callable(fn, who):
    if not callable(fn):
        raise TypeError("%s: %r is not callable" % (who, fn))


def go(fn, /, *args, **kwargs):
    """Run fn(*args, **kwargs) as a Python goroutine."""
    _check_callable(fn, "gort.go")
    ensure_executor()
    _native.go(fn, args, kwargs or None, 0)


def spawn(fn, /, *args, **kwargs):
    """Like go(), returning a Promise of fn's result."""
    _check_callable(fn, "gort.spawn")
    ensure_executor()
    p = Promise()
    try:
        _native.go(fn, args, kwargs or None, p._p)
    except MemoryError as e:  # no stack for a goroutine: the promise says so
        p.reject(e)
    return p


def go_native(fn, arg=None, *, name=None):
    """Spawn the C function void fn(void *) as a native goroutine."""
    f = address_of(fn, "void (*)(void *)", "gort.go_native")
    if not f:
        raise ValueError("gort.go_native: NULL function")
    opts = ffi.new("gort_go_options *")
    lib.gort_go_options_init(opts)
    keep = None
    if name is not None:
        keep = ffi.new("char[]", name.encode())
        opts.name = keep  # copied by gort_go_opts
    rc = lib.gort_go_opts(ffi.cast("void (*)(void *)", f), ffi.cast("void *", address_of(arg, "void *", "gort.go_native")), opts)
    if rc != 0:
        raise error_for(rc)


# ---- blocking(): Go's syscall hand-off ---------------------------------------------

_OFFLOAD_MAX = 32


class _Offload:
    """Threads that run calls handed off by goroutines. Jobs go through an
    unbuffered channel: a send succeeds at once only if a thread is idle."""

    def __init__(self):
        self.jobs = Chan(0)
        self.lock = threading.Lock()
        self.threads = 0

    def _worker(self):
        for fn, args, kwargs, p in self.jobs:
            try:
                p.resolve(fn(*args, **kwargs))
            except BaseException as e:  # noqa: B902 — delivered to the caller
                p.reject(e)
            del fn, args, kwargs, p

    def submit(self, fn, args, kwargs):
        p = Promise()
        job = (fn, args, kwargs, p)
        if not self.jobs.try_send(job):
            with self.lock:
                start = self.threads < _OFFLOAD_MAX
                if start:
                    self.threads += 1
            if start:
                threading.Thread(target=self._worker, name="gort-blocking", daemon=True).start()
            self.jobs.send(job)
        return p


_offload = None
_offload_lock = threading.Lock()


def blocking(fn, /, *args, **kwargs):
    """Run a blocking or GIL-releasing call off the executor (see __init__.pyi)."""
    global _offload
    if not _native.in_goroutine():
        return fn(*args, **kwargs)
    if _offload is None:
        with _offload_lock:
            if _offload is None:
                _offload = _Offload()
    return _offload.submit(fn, args, kwargs).result()


# ---- small things -------------------------------------------------------------------------

def sleep(seconds):
    """Park the goroutine (or block the thread, GIL released) for seconds."""
    _native.sleep(seconds)


def yield_():
    """Let other goroutines run (Go's runtime.Gosched)."""
    _native.sleep(0)


def procs():
    return lib.gort_procs()


def num_goroutine():
    """Live goroutines, C and Python (idle carriers not counted)."""
    return lib.gort_num_goroutine() - _native.idle_carriers()


def goroutine_id():
    return lib.gort_self()


def in_goroutine():
    return _native.in_goroutine()


def now():
    return lib.gort_now() / 1e9
