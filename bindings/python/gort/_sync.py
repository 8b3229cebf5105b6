"""WaitGroup, Mutex, RWMutex and Semaphore over gort's sync primitives.

The C primitives abort the process on misuse (Go panics). Each object here
is a small C struct (csrc/gortpy.h) holding the primitive plus bookkeeping
that gort._native checks with the GIL held, so misuse raises ValueError or
RuntimeError instead, and no operation needs a Python-level lock.
"""
from ._core import _native, ffi
from ._goroutine import go as _go

__all__ = ["WaitGroup", "Mutex", "RWMutex", "Semaphore"]


def _new(ctype):
    obj = ffi.new(ctype)  # zeroed: gort's static initializer
    return obj, int(ffi.cast("uintptr_t", obj))


class WaitGroup:
    """Go's sync.WaitGroup. As a context manager it waits for the group on exit."""
    __slots__ = ("_mem", "_a")

    def __init__(self):
        self._mem, self._a = _new("gortpy_wg *")

    def add(self, delta=1):
        _native.wg_add(self._a, delta)

    def done(self):
        _native.wg_add(self._a, -1)

    def wait(self, timeout=None):
        return _native.wg_wait(self._a, timeout)

    def go(self, fn, /, *args, **kwargs):
        if not callable(fn):
            raise TypeError("gort.WaitGroup.go: %r is not callable" % (fn,))
        a = self._a
        _native.wg_add(a, 1)

        def member():
            try:
                fn(*args, **kwargs)
            finally:
                _native.wg_add(a, -1)
        try:
            _go(member)
        except BaseException:
            _native.wg_add(a, -1)
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.wait()


class Mutex:
    """Go's sync.Mutex (not reentrant; any goroutine or thread may unlock it)."""
    __slots__ = ("_mem", "_a")

    def __init__(self):
        self._mem, self._a = _new("gortpy_mutex *")

    def lock(self, timeout=None):
        return _native.mutex_lock(self._a, timeout)

    def try_lock(self):
        return _native.mutex_trylock(self._a)

    def unlock(self):
        _native.mutex_unlock(self._a)

    def locked(self):
        return bool(self._mem.locked)

    def __enter__(self):
        _native.mutex_lock(self._a, None)
        return self

    def __exit__(self, *exc):
        _native.mutex_unlock(self._a)


class RWMutex:
    """Go's sync.RWMutex: `with rw:` writes, `with rw.reader():` reads."""
    __slots__ = ("_mem", "_a")

    def __init__(self):
        self._mem, self._a = _new("gortpy_rwmutex *")

    def lock(self):
        _native.rw_lock(self._a, True)

    def unlock(self):
        _native.rw_unlock(self._a, True)

    def rlock(self):
        _native.rw_lock(self._a, False)

    def runlock(self):
        _native.rw_unlock(self._a, False)

    def __enter__(self):
        self.lock()
        return self

    def __exit__(self, *exc):
        self.unlock()

    def reader(self):
        return _ReadLock(self)


class _ReadLock:
    __slots__ = ("_rw",)

    def __init__(self, rw):
        self._rw = rw

    def __enter__(self):
        self._rw.rlock()
        return self._rw

    def __exit__(self, *exc):
        self._rw.runlock()


class Semaphore:
    """A weighted semaphore (Go's golang.org/x/sync/semaphore)."""
    __slots__ = ("_mem", "_a")

    def __init__(self, capacity):
        if not isinstance(capacity, int) or isinstance(capacity, bool):
            raise TypeError("gort.Semaphore: capacity must be an int")
        self._mem, self._a = _new("gortpy_sem *")
        _native.sem_init(self._a, capacity)

    def acquire(self, n=1, timeout=None):
        return _native.sem_acquire(self._a, n, timeout)

    def try_acquire(self, n=1):
        return _native.sem_acquire(self._a, n, 0)

    def release(self, n=1):
        _native.sem_release(self._a, n)

    def __enter__(self):
        _native.sem_acquire(self._a, 1, None)
        return self

    def __exit__(self, *exc):
        _native.sem_release(self._a, 1)
