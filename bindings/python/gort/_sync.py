"""WaitGroup, Mutex, RWMutex and Semaphore over gort's sync primitives.

The C primitives abort the process on misuse (Go panics). Each object here
is a small C struct (csrc/gortpy.h) holding the primitive plus bookkeeping
that gort._native checks with the GIL held, so misuse raises ValueError or
RuntimeError instead, and no operation needs a Python-level lock.
"""
import sys

from ._core import Handle, _native, ffi
from ._goroutine import go as _go

__all__ = ["WaitGroup", "Mutex", "RWMutex", "Semaphore"]


def _new(ctype):
    obj = ffi.new(ctype)  # zeroed: gort's static initializer
    return obj, int(ffi.cast("uintptr_t", obj))


if sys.version_info >= (3, 11):
    _ExceptionGroup = ExceptionGroup  # noqa: F821 (a builtin since 3.11)
else:  # the PEP 654 backport (a dependency on 3.10; pytest brings it too)
    from exceptiongroup import ExceptionGroup as _ExceptionGroup


class WaitGroup(Handle):
    """Go's sync.WaitGroup. As a context manager (like asyncio.TaskGroup) it
    waits for the group when the body ends normally and raises the members'
    exceptions as an ExceptionGroup; when the body raises, that exception
    propagates at once (members cannot be cancelled: those still running
    finish on their own and report their exceptions to gort.excepthook)."""
    __slots__ = ("_mem", "_a", "_errors", "_managed")

    def __init__(self):
        self._mem, self._a = _new("gortpy_wg *")
        self._errors = []
        self._managed = False  # inside `with`: members' exceptions are collected

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
            except BaseException as e:  # noqa: B902 — collected or reported
                if not self._managed or isinstance(e, SystemExit):
                    raise
                self._errors.append(e)  # one executor thread: no lock needed
            finally:
                _native.wg_add(a, -1)
        member.__qualname__ = member.__name__ = _name_of(fn)  # reports name fn, not member
        try:
            _go(member)
        except BaseException:
            _native.wg_add(a, -1)
            raise

    def __enter__(self):
        self._managed = True
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            # The body failed: members may be waiting for it (a channel it
            # would have closed), so waiting could hang. Propagate now.
            self._managed = False
            return False
        try:
            self.wait()
        finally:
            self._managed = False
        errors, self._errors = self._errors, []
        if errors:
            raise _ExceptionGroup("gort.WaitGroup: %d member(s) raised" % len(errors), errors)
        return False


def _name_of(fn):
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else repr(fn)


class Mutex(Handle):
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


class RWMutex(Handle):
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


class _ReadLock(Handle):
    __slots__ = ("_rw",)

    def __init__(self, rw):
        self._rw = rw

    def __enter__(self):
        self._rw.rlock()
        return self._rw

    def __exit__(self, *exc):
        self._rw.runlock()


class Semaphore(Handle):
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
