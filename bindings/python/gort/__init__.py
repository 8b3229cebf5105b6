"""gort: Go's concurrency engine and JavaScript-style promises for Python.

Goroutines (gort.go/spawn), channels (gort.Chan, gort.select), sync
(WaitGroup, Mutex, RWMutex, Semaphore), timers (sleep, after, Ticker) and
promises awaitable in asyncio, all on the C engine libgort that C, Lua and
Node code in the same process share. See docs/python.md.
"""
import os as _os

from ._core import AggregateError, ChanClosed, GortError, default_excepthook, lib as _lib, ffi as _ffi
from ._core import Deadlock
from ._core import default_rejection_hook
from ._chan import Chan, Recv, Send, Selected, Ticker, after, select
from ._sync import Mutex, RWMutex, Semaphore, WaitGroup
from ._promise import Promise, from_asyncio, set_asyncio_loop
from ._goroutine import (blocking, go, go_native, goroutine_id, in_goroutine, now, num_goroutine,
                         procs, sleep, spawn, yield_)
from ._nativecall import native, Function as NativeFunction, Library as NativeLibrary

__version__ = _ffi.string(_lib.gort_version_string()).decode()
version_info = tuple(int(x) for x in __version__.split("."))

# Replace to handle exceptions of fire-and-forget goroutines: excepthook(exc, name).
excepthook = default_excepthook
# Replace to handle rejected promises freed unobserved: unhandled_rejection_hook(exc).
unhandled_rejection_hook = default_rejection_hook

_HERE = _os.path.dirname(_os.path.abspath(__file__))


def get_include():
    """The directory holding gort.h, for building C extensions against gort."""
    return _os.path.join(_HERE, "include")


def get_library():
    """The bundled libgort.so.0: link C extensions to it to share this engine."""
    return _os.path.join(_HERE, "libgort.so.0")


__all__ = [
    "AggregateError", "ChanClosed", "Deadlock", "GortError", "Chan", "Recv", "Send", "Selected", "Ticker",
    "after", "select", "Mutex", "RWMutex", "Semaphore", "WaitGroup", "Promise", "from_asyncio",
    "set_asyncio_loop", "blocking", "go", "go_native", "goroutine_id", "in_goroutine", "now",
    "num_goroutine", "procs", "sleep", "spawn", "yield_", "excepthook", "unhandled_rejection_hook",
    "get_include",
    "get_library", "__version__", "version_info",
    "native", "NativeFunction", "NativeLibrary",
]
