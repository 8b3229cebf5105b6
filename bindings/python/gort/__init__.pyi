"""Type stubs for gort: Go's concurrency engine (goroutines, channels, select,
sync) and JavaScript-style promises, from Python, on the engine C code uses.

Threading model: every Python goroutine of this interpreter runs on one
executor thread ("gort-executor"), each with its own PyThreadState; it gives
up the GIL whenever it parks, so C goroutines, other Python threads and I/O
run meanwhile. Blocking calls park a goroutine, or block a plain thread with
the GIL released (on the main thread Ctrl-C interrupts them: KeyboardInterrupt).
Timeouts are in seconds (float); None waits forever; 0 never blocks.
"""
import sys
from types import TracebackType
from typing import (Any, AsyncIterator, Awaitable, Callable, ClassVar, Generator, Generic,
                    Iterable, Iterator, Optional, ParamSpec, TypeVar, Union)

_T = TypeVar("_T")
_U = TypeVar("_U")
_P = ParamSpec("_P")

__version__: str                       # the C library's version, e.g. "0.1.0"
version_info: tuple[int, int, int]

# ---- errors ---------------------------------------------------------------
class GortError(Exception):
    """A negative GORT_E* code from the C library."""
    code: int                          # e.g. -1001
    name: str                          # e.g. "GORT_ECLOSED"
    def __init__(self, code: int, message: Optional[str] = None) -> None: ...

class ChanClosed(GortError):
    """Send on a closed channel, close of a closed channel, or receive from a
    closed and drained channel (the ok == false of Go)."""
    def __init__(self, code: int = ..., message: Optional[str] = None) -> None: ...

class AggregateError(GortError):
    """Promise.any: every input rejected. .errors holds their exceptions."""
    errors: list[BaseException]
    def __init__(self, errors: Iterable[BaseException], code: int = ...,
                 message: Optional[str] = None) -> None: ...

class Deadlock(RuntimeError):
    """Raised in the main thread when it waits (without timeout) for
    something nothing can ever do: "all goroutines are asleep - deadlock!".
    str() adds the goroutine dump, also in .dump."""
    MESSAGE: str
    dump: str
    def __init__(self, message: str = ..., dump: str = "") -> None: ...

# ---- runtime ---------------------------------------------------------------
def procs() -> int: ...                # number of Ps of the engine
def num_goroutine() -> int: ...        # live goroutines (C and Python)
def goroutine_id() -> int: ...         # id of the calling goroutine, 0 on a plain thread
def in_goroutine() -> bool: ...        # True inside a Python goroutine
def now() -> float: ...                # gort's monotonic clock, seconds
def sleep(seconds: float) -> None: ... # parks a goroutine / blocks a thread (GIL released)
def yield_() -> None: ...              # let other goroutines run (Go's runtime.Gosched)

# An exception escaping a fire-and-forget goroutine is passed to
# gort.excepthook(exc, goroutine_name); the default prints
# "Exception in goroutine <name>:" and the traceback on sys.stderr.
excepthook: Callable[[BaseException, str], Any]
# A rejected promise freed without anyone having looked at it (then, await,
# result, exception) is passed to gort.unhandled_rejection_hook(exc); the
# default prints "gort: unhandled promise rejection:" and the traceback.
unhandled_rejection_hook: Callable[[BaseException], Any]

# ---- goroutines ----------------------------------------------------------------
def go(fn: Callable[_P, Any], /, *args: _P.args, **kwargs: _P.kwargs) -> None:
    """Run fn(*args, **kwargs) as a Python goroutine (in a copy of the caller's
    contextvars context). Its exception goes to gort.excepthook."""

def spawn(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> "Promise[_T]":
    """Like go(), returning a Promise fulfilled with fn's return value or
    rejected with the exception it raised (or MemoryError: no stack for it)."""

def blocking(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Go's syscall hand-off for Python: run fn(*args, **kwargs) — a call that
    blocks or releases the GIL for long (hashlib on big buffers, file I/O,
    zlib, time.sleep, a C extension) — on a pool thread and park the calling
    goroutine until it returns (its result or exception), so the executor
    keeps running other goroutines and such calls run in parallel on all
    cores. On a plain thread it just calls fn."""

def go_native(fn: Any, arg: Any = None, *, name: Optional[str] = None) -> None:
    """Spawn a C function `void fn(void *)` as a native goroutine on the
    parallel pool (all cores, no GIL). fn: a cffi function pointer cdata or
    an integer address (e.g. ctypes.cast(f, c_void_p).value); arg: a cffi
    pointer cdata, an integer address, or None."""

def get_include() -> str: ...          # directory holding gort.h (for C extensions)
def get_library() -> str: ...          # path of the bundled libgort.so.0 (link C extensions to it)

# ---- channels ----------------------------------------------------------------
class Chan(Generic[_T]):
    """A Go channel. Chan(cap) carries any Python object (references are
    counted: a value sent and never received is released when the channel
    is collected). Chan(cap, ctype="int64_t") carries C values of that cffi
    type (int64_t, uint32_t, double, void *, ...) and is the one to share with
    native goroutines: Python ints/floats are converted on send and receive."""
    def __init__(self, cap: int = 0, ctype: Optional[str] = None) -> None: ...
    @classmethod
    def from_handle(cls, handle: Any, ctype: Optional[str] = None) -> "Chan[Any]":
        """Wrap a gort_chan * made in C (cffi cdata or integer address); takes a
        new reference. ctype None means the channel carries Python objects."""
    @property
    def handle(self) -> Any: ...       # the gort_chan * (cffi cdata, borrowed)
    @property
    def address(self) -> int: ...      # the gort_chan * as an integer (borrowed)
    @property
    def ctype(self) -> Optional[str]: ...
    @property
    def cap(self) -> int: ...
    def __len__(self) -> int: ...      # buffered values now
    def send(self, value: _T, timeout: Optional[float] = None) -> None:
        """Raises ChanClosed if closed, TimeoutError at the timeout."""
    def recv(self, timeout: Optional[float] = None) -> _T:
        """Raises ChanClosed once closed and drained, TimeoutError at the timeout."""
    def recv2(self, timeout: Optional[float] = None) -> tuple[Optional[_T], bool]:
        """Go's v, ok := <-ch: (value, True), or (None, False) once closed and drained."""
    def try_send(self, value: _T) -> bool: ...          # False if it would block; ChanClosed if closed
    def try_recv(self) -> tuple[Optional[_T], bool]: ...  # (v, True), or (None, False) if empty; ChanClosed
    def close(self) -> None: ...       # ChanClosed if already closed
    def __iter__(self) -> Iterator[_T]: ...  # receives until closed and drained
    def recv_promise(self) -> "Promise[_T]": ...  # a Promise of the next value (rejects with ChanClosed)
    # asyncio, cancellation-safe: a cancelled await withdraws the operation
    # (nothing lost, nothing done twice); if it had already happened, the
    # await returns its result instead of raising CancelledError.
    async def recv_async(self) -> _T: ...       # ChanClosed once closed and drained
    async def send_async(self, value: _T) -> None: ...
    def __aiter__(self) -> AsyncIterator[_T]: ...  # async for: until closed and drained

class Recv:
    """A select case receiving from chan (None: a nil channel, never fires)."""
    chan: Optional[Chan[Any]]
    def __init__(self, chan: Optional[Chan[Any]]) -> None: ...
class Send:
    """A select case sending value on chan."""
    chan: Optional[Chan[Any]]
    value: Any
    def __init__(self, chan: Optional[Chan[Any]], value: Any) -> None: ...

class Selected(tuple[int, Any, bool]):
    """A collections.namedtuple (index, value, ok); its field `index` hides
    tuple.index (typed here as a plain tuple subclass for that reason)."""
    __match_args__ = ("index", "value", "ok")
    _fields: ClassVar[tuple[str, str, str]]
    def __new__(_cls, index: int, value: Any, ok: bool) -> "Selected": ...
    if sys.version_info >= (3, 13):
        def __replace__(self, **kwds: Any) -> "Selected": ...
    @property
    def index(self) -> int: ...  # type: ignore[override]  # the case that fired; -1: default
    @property
    def value(self) -> Any: ...  # the value received (None for a send case, or a closed channel)
    @property
    def ok(self) -> bool: ...    # False if the fired case's channel was closed

def select(*cases: Union[Recv, Send], default: bool = False,
           timeout: Optional[float] = None) -> Selected:
    """Go's select: waits until one case can proceed, chosen uniformly among the
    ready ones. default=True: never blocks (index -1 if none is ready).
    timeout: raises TimeoutError. A send case on a closed channel raises
    ChanClosed (Go panics)."""

def after(seconds: float) -> Chan[float]:
    """Go's time.After: a channel that receives gort.now() once, after seconds."""

class Ticker:
    def __init__(self, period: float) -> None: ...
    @property
    def chan(self) -> Chan[float]: ...
    def stop(self) -> None: ...
    def __enter__(self) -> "Ticker": ...
    def __exit__(self, *exc: Any) -> None: ...

# ---- sync -------------------------------------------------------------------------
class WaitGroup:
    def add(self, delta: int = 1) -> None: ...   # ValueError if the counter goes negative
    def done(self) -> None: ...
    def wait(self, timeout: Optional[float] = None) -> bool: ...  # False at the timeout
    def go(self, fn: Callable[_P, Any], /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        """add(1), then go(fn, ...) calling done() when fn returns (Go 1.25's wg.Go)."""
    def __enter__(self) -> "WaitGroup": ...
    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> bool:
        """Body ended normally: wait for the group, then raise the members'
        exceptions as an ExceptionGroup. Body raised: propagate at once."""

class Mutex:
    def lock(self, timeout: Optional[float] = None) -> bool: ...  # False at the timeout
    def try_lock(self) -> bool: ...
    def unlock(self) -> None: ...      # RuntimeError if not locked
    def locked(self) -> bool: ...
    def __enter__(self) -> "Mutex": ...
    def __exit__(self, *exc: Any) -> None: ...

class RWMutex:
    def lock(self) -> None: ...
    def unlock(self) -> None: ...
    def rlock(self) -> None: ...
    def runlock(self) -> None: ...
    def __enter__(self) -> "RWMutex": ...        # write lock
    def __exit__(self, *exc: Any) -> None: ...
    def reader(self) -> Any: ...                  # context manager for the read lock

class Semaphore:
    def __init__(self, capacity: int) -> None: ...
    def acquire(self, n: int = 1, timeout: Optional[float] = None) -> bool: ...
    def try_acquire(self, n: int = 1) -> bool: ...
    def release(self, n: int = 1) -> None: ...
    def __enter__(self) -> "Semaphore": ...
    def __exit__(self, *exc: Any) -> None: ...

# ---- promises -------------------------------------------------------------------
class Promise(Generic[_T]):
    """A gort promise (Promises/A+). Promise() is pending; settle it with
    resolve()/reject() from any thread or goroutine. Await it in asyncio
    (the loop is woken through an fd it watches), block on it with result()
    from a plain thread (or park a goroutine on it). Callbacks given to
    then/catch/finally_ run on the gort executor thread as microtasks."""
    def __init__(self) -> None: ...
    @staticmethod
    def resolved(value: _U) -> "Promise[_U]": ...
    @staticmethod
    def rejected(exc: BaseException) -> "Promise[Any]": ...
    @classmethod
    def from_handle(cls, handle: Any) -> "Promise[Any]":
        """Wrap a gort_promise * made in C (takes a new reference). Values that
        C code fulfils it with come back as cffi `void *` cdata (None for NULL);
        C rejections raise GortError(code, message)."""
    @property
    def handle(self) -> Any: ...
    def resolve(self, value: Any) -> bool: ...        # False if already settled; a Promise value is adopted
    def reject(self, exc: BaseException) -> bool: ...
    @property
    def state(self) -> str: ...                        # "pending" | "fulfilled" | "rejected"
    def done(self) -> bool: ...
    def result(self, timeout: Optional[float] = None) -> _T:
        """Wait; return the value or raise the rejection. TimeoutError at timeout."""
    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]: ...
    def then(self, on_fulfilled: Optional[Callable[[_T], Any]] = None,
             on_rejected: Optional[Callable[[BaseException], Any]] = None) -> "Promise[Any]": ...
    def catch(self, on_rejected: Callable[[BaseException], Any]) -> "Promise[Any]": ...
    def finally_(self, fn: Callable[[], Any]) -> "Promise[_T]": ...
    def __await__(self) -> Generator[Any, None, _T]: ...
    @staticmethod
    def all(ps: Iterable["Promise[Any]"]) -> "Promise[list[Any]]": ...
    @staticmethod
    def all_settled(ps: Iterable["Promise[Any]"]) -> "Promise[list[Promise[Any]]]": ...
    @staticmethod
    def race(ps: Iterable["Promise[Any]"]) -> "Promise[Any]": ...
    @staticmethod
    def any(ps: Iterable["Promise[Any]"]) -> "Promise[Any]": ...  # rejects with AggregateError

def set_asyncio_loop(loop: Any) -> None:
    """The asyncio loop from_asyncio uses when called off that loop's thread
    (default: the first loop that awaited a gort promise)."""

def from_asyncio(aw: Awaitable[_T], loop: Any = None) -> Promise[_T]:
    """A gort Promise settled by an asyncio awaitable (coroutine, Task or Future)
    running on loop (default: the running loop, else the one set with
    set_asyncio_loop). A goroutine can block on it with .result()."""

# ---- native calls (gort.native; docs/python.md "Native calls") ----

class NativeFunction:
    """A C function from its declaration. Arguments convert with range checks
    (OverflowError / TypeError naming the argument's position and C type):
    ints for integer types (not floats), floats or ints for float/double,
    bool or int for bool; for pointers None, an int address, a cffi pointer or
    array, or any contiguous buffer (bytes, bytearray, memoryview, array,
    numpy arrays), passed as its address and kept alive (exported: a
    bytearray cannot be resized) until the call ends; for char * also str
    (UTF-8, NUL-terminated). Results: int, float, bool, None (void), an int
    address or None (pointers), bytes or None (char *)."""
    name: str
    address: int
    @property
    def restype(self) -> str: ...
    @property
    def argtypes(self) -> tuple[str, ...]: ...     # the fixed parameters
    @property
    def is_variadic(self) -> bool: ...
    def __call__(self, *args: Any) -> Any:
        """Call on this thread with the GIL released."""
    def spawn(self, *args: Any) -> "Promise[Any]":
        """Run the call on gort's pool (inside gort_blocking): a Promise of the
        result, awaitable in asyncio."""
    def go(self, *args: Any) -> None:
        """Run the call on gort's pool, result discarded."""
    def variadic(self, types: str) -> "NativeFunction":
        """Pass the variadic arguments as these C types ("long, double")
        instead of types inferred from the values (int -> int or long long,
        float -> double, str/bytes -> char *, others -> void *)."""

class NativeLibrary:
    name: str
    def func(self, decl: str, symbol: Optional[str] = None) -> NativeFunction:
        """"double pow(double, double)" -> a NativeFunction; ValueError with
        the offset for a bad declaration, AttributeError for a missing symbol."""
    def address(self, symbol: str) -> int: ...

def native(target: Any = None) -> NativeLibrary:
    """A shared library by path or name ("libz.so.1", "z"), None for the
    running process, a cffi lib, or a ctypes.CDLL. No sandbox: a wrong
    declaration or a bad pointer crashes the process, as with ctypes."""
