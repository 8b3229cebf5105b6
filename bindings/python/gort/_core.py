"""The engine, errors and the executor thread that runs Python goroutines.

Python goroutines run on one executor thread (see csrc/gortpy.c for the
design). It starts on first use and stops at interpreter exit (atexit):
parked goroutines are then simply never resumed; a goroutine still
computing gets SystemExit at its next bytecode (via the thread state's
async-exception slot) and the exit waits for it a short while.
"""
import atexit
import os
import signal
import sys
import tempfile
import threading
import traceback

from ._gort import ffi, lib

if lib.gort_version() != lib.GORT_VERSION_HEX:
    # Another libgort.so.0 was loaded first (one engine per process, by SONAME).
    raise ImportError("gort: the loaded libgort is version %#x, this package was built for %#x"
                      % (lib.gort_version(), lib.GORT_VERSION_HEX))
if lib.gortpy_init() != 0:  # installs gort._native
    raise ImportError("gort: cannot initialise the native module")
from . import _native  # noqa: E402  (created by gortpy_init)

__all__ = ["ffi", "lib", "_native", "GortError", "ChanClosed", "AggregateError", "Deadlock", "error_for",
           "ensure_executor", "address_of", "Handle"]

# Error codes used by the Python layer (gort.h's X-macro table).
ETIMEDOUT = -110
EAGAIN = -11
ECLOSED = -1002
EAGGREGATE = -1005
EINVAL = -22
ENOMEM = -12


class GortError(Exception):
    """A negative GORT_E* code from the C library."""

    def __init__(self, code, message=None):
        self.code = int(code)
        self.name = ffi.string(lib.gort_err_name(self.code)).decode()
        if message is None:
            message = ffi.string(lib.gort_strerror(self.code)).decode()
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.code, str(self)))


class ChanClosed(GortError):
    """Send on a closed channel, close of a closed channel, or receive from a
    closed and drained channel (the ok == false of Go)."""

    def __init__(self, code=ECLOSED, message=None):
        super().__init__(code, message)


class AggregateError(GortError):
    """Promise.any: every input rejected; .errors holds their exceptions."""

    def __init__(self, errors, code=EAGGREGATE, message=None):
        super().__init__(code, message)
        self.errors = list(errors)

    def __reduce__(self):
        return (type(self), (self.errors, self.code, str(self)))


class GortTimeoutError(GortError, TimeoutError):
    """GORT_ETIMEDOUT: also a TimeoutError."""


class GortValueError(GortError, ValueError):
    """GORT_EINVAL: also a ValueError."""


class GortMemoryError(GortError, MemoryError):
    """GORT_ENOMEM: also a MemoryError."""


_ERROR_CLASSES = {ECLOSED: ChanClosed, ETIMEDOUT: GortTimeoutError, EINVAL: GortValueError,
                  ENOMEM: GortMemoryError}


def error_for(code, message=None):
    """The exception instance for a GORT_E* code: a GortError (code, name),
    also the matching built-in exception where there is one."""
    return _ERROR_CLASSES.get(code, GortError)(code, message)


class Deadlock(RuntimeError):
    """The main thread waits (without timeout) for something nothing can
    ever do: every goroutine is asleep, no timer, I/O wait or other thread
    is left to wake anyone (Go's fatal "all goroutines are asleep -
    deadlock!"). .dump holds the goroutine dump (gort_dump), also shown
    after the message."""

    __module__ = "gort"  # shown as gort.Deadlock in tracebacks
    MESSAGE = "all goroutines are asleep - deadlock!"

    def __init__(self, message=MESSAGE, dump=""):
        super().__init__(message)
        self.dump = dump

    def __str__(self):
        message = super().__str__()
        return message + "\n\n" + self.dump if self.dump else message

    def __reduce__(self):
        return (type(self), (self.args[0], self.dump))


def _python_signal_handlers():
    """True if a Python signal handler is installed (other than Ctrl-C's
    default): it runs between the main thread's wait slices and may wake
    the wait, which the engine cannot know."""
    for signum in signal.valid_signals():
        try:
            handler = signal.getsignal(signum)
        except (OSError, ValueError):
            continue
        if callable(handler) and handler is not signal.default_int_handler:
            return True
    return False


def _deadlock():
    """Called by the main thread's wait once the engine has seen nothing
    that could wake anyone for several slices: the Deadlock to raise, or
    None if a signal handler may still do it."""
    if _python_signal_handlers():
        return None
    with tempfile.TemporaryFile() as f:
        lib.gort_dump(f.fileno())
        f.seek(0)
        dump = f.read().decode("utf-8", "replace").rstrip("\n")
    return Deadlock(Deadlock.MESSAGE, dump)


def address_of(x, ctype, who):
    """A C pointer given as an int address or a cffi pointer cdata (of ctype,
    or void *) -> int; None -> 0. Anything else is a TypeError."""
    if x is None:
        return 0
    if isinstance(x, int) and not isinstance(x, bool):
        if x < 0:
            raise ValueError("%s: negative address" % who)
        return x
    if isinstance(x, ffi.CData):
        kind = ffi.typeof(x).kind
        if kind in ("pointer", "function"):
            return int(ffi.cast("uintptr_t", x))
    raise TypeError("%s: expected %s (cffi pointer or int address), not %s"
                    % (who, ctype, type(x).__name__))


class Handle:
    """Base of every object that owns an engine handle (a channel, promise,
    lock...): like threading.Lock it can be neither copied nor pickled — a
    copy would share (and release twice) the C object, and a pickle would
    carry a raw address into another process."""
    __slots__ = ()

    def __reduce_ex__(self, protocol):
        raise TypeError("cannot pickle %r object (it owns a gort engine handle)"
                        % type(self).__name__)

    def __reduce__(self):
        return self.__reduce_ex__(2)

    def __copy__(self):
        raise TypeError("cannot copy %r object (it owns a gort engine handle)" % type(self).__name__)

    def __deepcopy__(self, memo):
        raise TypeError("cannot deepcopy %r object (it owns a gort engine handle)"
                        % type(self).__name__)


# ---- exceptions escaping fire-and-forget goroutines -------------------------

def default_excepthook(exc, name):
    """Print "Exception in goroutine <name>:" and the traceback on stderr."""
    stderr = sys.stderr
    if stderr is None:
        return
    print("Exception in goroutine %s:" % name, file=stderr, flush=True)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=stderr)
    stderr.flush()


def default_rejection_hook(exc):
    """Print "gort: unhandled promise rejection:" and the traceback on stderr."""
    stderr = sys.stderr
    if stderr is None:
        return
    print("gort: unhandled promise rejection:", file=stderr, flush=True)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=stderr)
    stderr.flush()


def _report_rejection(exc):
    import gort
    hook = getattr(gort, "unhandled_rejection_hook", default_rejection_hook)
    hook(exc)


def _report(exc, name):
    import gort  # the hook is looked up at report time (users replace it)
    hook = getattr(gort, "excepthook", default_excepthook)
    hook(exc, name)


# ---- promise reactions (the reactor is in _promise; late-bound) --------------

_reactor = None


def _react(handlers, fulfilled, settled, nxt):
    return _reactor(handlers, fulfilled, settled, nxt)


def set_reactor(fn):
    global _reactor
    _reactor = fn


_native.init(_report, error_for, _react, _report_rejection)
_native.set_main_thread(threading.main_thread().ident)
_native.set_deadlock_hook(_deadlock)

# ---- the executor thread ------------------------------------------------------

_exec_lock = threading.Lock()
_exec_thread = None
_exec_stopped = False
# How long interpreter exit waits for a goroutine that is still computing.
EXIT_GRACE_SECONDS = 2.0


def ensure_executor():
    """Start the executor thread if it does not run yet."""
    global _exec_thread
    if _exec_thread is not None:
        return
    with _exec_lock:
        if _exec_thread is not None:
            return
        if _exec_stopped:
            raise RuntimeError("gort: the executor has shut down")
        t = threading.Thread(target=_native.executor_run, name="gort-executor", daemon=True)
        t.start()
        _exec_thread = t


def _shutdown():
    """atexit: stop the executor before the interpreter finalizes."""
    global _exec_stopped
    with _exec_lock:
        _exec_stopped = True
        t = _exec_thread
    _native.executor_stop()
    if t is None:
        return
    t.join(0.2)
    if t.is_alive():
        # A goroutine is computing: raise SystemExit in it.
        _native.executor_interrupt()
        t.join(EXIT_GRACE_SECONDS)


atexit.register(_shutdown)

if hasattr(os, "register_at_fork"):
    def _after_fork_child():
        global _exec_stopped, _exec_thread
        # The engine's threads did not survive fork(): refuse instead of hanging.
        _exec_stopped = True
        _exec_thread = None
    os.register_at_fork(after_in_child=_after_fork_child)
