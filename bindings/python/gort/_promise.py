"""Promises (Promises/A+ on gort's C promises) and the asyncio bridge.

A Promise owns one reference to a gort_promise. Values and reasons set from
Python live in boxes (csrc/gortpy.c); values set by C code come back as cffi
`void *`. then() callbacks run on the executor thread as microtasks (the
reactor below). Awaiting in asyncio goes through a per-loop bridge: an
eventfd the loop watches with add_reader, written by a pool goroutine when
the promise settles.
"""
import asyncio
import threading
import types
import weakref

from ._core import (AggregateError, EAGGREGATE, GortError, Handle, _native, address_of, error_for, ffi, lib,
                    ensure_executor, set_reactor)

__all__ = ["Promise", "Withdrawable", "from_asyncio", "set_asyncio_loop"]

_PENDING, _FULFILLED, _REJECTED = 0, 1, 2
_STATES = {0: "pending", 1: "fulfilled", 2: "rejected"}
_RESOLVE, _REJECT, _ADOPT = 0, 1, 2


def _c_value(addr):
    return None if not addr else ffi.cast("void *", addr)


def _value(addr, shape):
    """The fulfilled value of the promise at addr, shaped for Python: a
    combinator's value is built from its inputs (shape = (kind, inputs))."""
    if shape is not None:
        kind, inputs = shape
        if kind == "all":
            return [p.result(0) for p in inputs]
        if kind == "all_settled":
            return list(inputs)
    state, is_box, value, code, msg = _native.promise_outcome(addr)
    return value if is_box else _c_value(value)


def _exception(addr, shape):
    """The rejection of the promise at addr as an exception instance."""
    state, is_box, value, code, msg = _native.promise_outcome(addr)
    if is_box:
        if isinstance(value, BaseException):
            return value
        return GortError(code, "promise rejected with %r" % (value,))
    if code == EAGGREGATE and shape is not None and shape[0] == "any":
        return AggregateError([p.exception(0) for p in shape[1]], code, msg)
    return error_for(code, msg)


class Promise(Handle):
    """A gort promise (see __init__.pyi)."""
    __slots__ = ("_p", "_shape", "__weakref__")
    __class_getitem__ = classmethod(types.GenericAlias)  # gort.Promise[int]

    def __init__(self):
        self._p = 0
        self._shape = None
        self._p = _native.promise_new()

    @classmethod
    def _adopt(cls, addr, shape=None):
        """Wrap a promise whose reference the caller hands over."""
        self = cls.__new__(cls)
        self._p = addr
        self._shape = shape
        return self

    @classmethod
    def from_handle(cls, handle):
        addr = address_of(handle, "gort_promise *", "gort.Promise.from_handle")
        if not addr:
            raise ValueError("gort.Promise.from_handle: NULL promise")
        lib.gort_promise_retain(ffi.cast("gort_promise *", addr))
        return cls._adopt(addr)

    def __del__(self, _release=_native.promise_release):  # bound now: globals may be gone at exit
        p, self._p = self._p, 0
        if p:
            _release(p)

    @property
    def handle(self):
        return ffi.cast("gort_promise *", self._p)

    @staticmethod
    def resolved(value):
        p = Promise()
        p.resolve(value)
        return p

    @staticmethod
    def rejected(exc):
        p = Promise()
        p.reject(exc)
        return p

    # ---- settling ----
    def resolve(self, value):
        if isinstance(value, Promise):
            return _native.promise_settle(self._p, _ADOPT, value._p) == 0
        return _native.promise_settle(self._p, _RESOLVE, value) == 0

    def reject(self, exc):
        if isinstance(exc, type) and issubclass(exc, BaseException):
            exc = exc()
        if not isinstance(exc, BaseException):
            raise TypeError("gort.Promise.reject: expected an exception, not %s" % type(exc).__name__)
        return _native.promise_settle(self._p, _REJECT, exc) == 0

    # ---- state ----
    @property
    def state(self):
        return _STATES[_native.promise_outcome(self._p)[0]]

    def done(self):
        return _native.promise_outcome(self._p)[0] != _PENDING

    def _wait(self, timeout):
        _native.promise_wait(self._p, timeout)
        state = _native.promise_outcome(self._p)[0]
        if state == _PENDING:
            raise TimeoutError("gort.Promise: not settled within %r s" % (timeout,))
        return state

    def result(self, timeout=None):
        if self._wait(timeout) == _FULFILLED:
            return _value(self._p, self._shape)
        raise _exception(self._p, self._shape)

    def exception(self, timeout=None):
        if self._wait(timeout) == _FULFILLED:
            return None
        return _exception(self._p, self._shape)

    def __repr__(self):
        return "<gort.Promise %s at 0x%x>" % (self.state, self._p)

    # ---- chaining ----
    def then(self, on_fulfilled=None, on_rejected=None):
        for fn in (on_fulfilled, on_rejected):
            if fn is not None and not callable(fn):
                raise TypeError("gort.Promise.then: handlers must be callable or None")
        ensure_executor()
        return Promise._adopt(_native.promise_then(self._p, (on_fulfilled, on_rejected, self._shape)))

    def catch(self, on_rejected):
        return self.then(None, on_rejected)

    def finally_(self, fn):
        if not callable(fn):
            raise TypeError("gort.Promise.finally_: handler must be callable")

        def after_value(value):
            fn()
            return value

        def after_error(exc):
            fn()
            raise exc
        return self.then(after_value, after_error)

    # ---- combinators ----
    @staticmethod
    def _combine(c_fn, ps, kind):
        ps = list(ps)
        for p in ps:
            if not isinstance(p, Promise):
                raise TypeError("gort.Promise.%s: expected Promises, got %s" % (kind, type(p).__name__))
        arr = ffi.new("gort_promise *[]", [p.handle for p in ps] or [ffi.NULL])
        res = getattr(lib, c_fn)(arr, len(ps))
        if res == ffi.NULL:
            raise MemoryError("gort.Promise.%s" % kind)
        return Promise._adopt(int(ffi.cast("uintptr_t", res)), (kind, ps))

    @staticmethod
    def all(ps):
        return Promise._combine("gort_promise_all", ps, "all")

    @staticmethod
    def all_settled(ps):
        return Promise._combine("gort_promise_all_settled", ps, "all_settled")

    @staticmethod
    def race(ps):
        return Promise._combine("gort_promise_race", ps, "race")

    @staticmethod
    def any(ps):
        return Promise._combine("gort_promise_any", ps, "any")

    # ---- asyncio ----
    def _until_settled(self):
        """Generator for `yield from` in asyncio: returns once settled."""
        if not self.done():
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            _bridge_for(loop).watch(self, fut)
            yield from fut.__await__()

    def __await__(self):
        yield from self._until_settled()
        return self.result(0)


class Withdrawable(Promise):
    """The promise of one channel operation run by a goroutine as
    select(operation, Recv(cancel)) (see Chan.recv_async): cancelling an
    asyncio await of it closes `cancel`, withdrawing the operation. Then
    either the withdrawal won (the promise rejects with CancelledError, the
    operation never happened, the await raises CancelledError) or the
    operation had already happened (the await returns its result, absorbing
    the cancellation, as a future that completed first does): nothing is
    lost, nothing happens twice."""
    __slots__ = ("_cancel",)

    def __init__(self, cancel):
        super().__init__()
        self._cancel = cancel  # an unbuffered object Chan, closed to withdraw

    def __await__(self):
        try:
            yield from self._until_settled()
        except asyncio.CancelledError:
            try:
                self._cancel.close()
            except GortError:  # ChanClosed: withdrawn by an earlier cancellation
                pass
            while True:  # the goroutine answers promptly; keep waiting through re-cancels
                try:
                    yield from self._until_settled()
                    break
                except asyncio.CancelledError:
                    continue
            if isinstance(self.exception(0), asyncio.CancelledError):
                raise  # withdrawn: the original cancellation goes on
        return self.result(0)


def _reactor(handlers, fulfilled, settled, nxt):
    """Runs a then() reaction on the executor: settles nxt."""
    on_fulfilled, on_rejected, shape = handlers
    handler = on_fulfilled if fulfilled else on_rejected
    if handler is None:
        _native.promise_settle(nxt, _ADOPT, settled)  # pass the outcome through
        return
    try:
        arg = _value(settled, shape) if fulfilled else _exception(settled, shape)
        r = handler(arg)
    except BaseException as e:  # noqa: B902 — a handler's exception rejects next
        _native.promise_settle(nxt, _REJECT, e)
        return
    if isinstance(r, Promise):
        _native.promise_settle(nxt, _ADOPT, r._p)
    else:
        _native.promise_settle(nxt, _RESOLVE, r)


set_reactor(_reactor)


# ---- asyncio bridge -------------------------------------------------------------

class _Bridge:
    """The eventfd one asyncio loop watches for settled gort promises."""

    def __init__(self, loop):
        self.addr, self.fd = _native.bridge_new()
        weakref.finalize(loop, _native.bridge_release, self.addr)
        loop.add_reader(self.fd, self._drain)

    def watch(self, promise, fut):
        _native.bridge_watch(self.addr, promise._p, fut)

    def _drain(self):
        for fut, p in _native.bridge_drain(self.addr):
            _native.promise_release(p)
            if not fut.done():
                fut.set_result(None)  # the awaiter reads the outcome itself


_bridges = weakref.WeakKeyDictionary()
_bridges_lock = threading.Lock()
_default_loop = None  # weakref to the loop from_asyncio uses off its thread


def _bridge_for(loop):
    global _default_loop
    b = _bridges.get(loop)
    if b is None:
        with _bridges_lock:
            b = _bridges.get(loop)
            if b is None:
                b = _bridges[loop] = _Bridge(loop)
                if _default_loop is None or _default_loop() is None:
                    _default_loop = weakref.ref(loop)
    return b


def set_asyncio_loop(loop):
    """The asyncio loop gort.from_asyncio uses when called off that loop's thread."""
    global _default_loop
    _default_loop = None if loop is None else weakref.ref(loop)


def from_asyncio(aw, loop=None):
    """A gort Promise settled by an asyncio awaitable (see __init__.pyi)."""
    p = Promise()

    def settle(fut):
        if fut.cancelled():
            p.reject(asyncio.CancelledError())
        elif fut.exception() is not None:
            p.reject(fut.exception())
        else:
            p.resolve(fut.result())

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is None:
        loop = running
    if loop is None and _default_loop is not None:
        loop = _default_loop()
    if loop is None:
        raise ValueError("gort.from_asyncio: no asyncio loop (pass loop= or call gort.set_asyncio_loop)")
    if loop is running:
        asyncio.ensure_future(aw, loop=loop).add_done_callback(settle)
    else:
        def start():
            asyncio.ensure_future(aw, loop=loop).add_done_callback(settle)
        loop.call_soon_threadsafe(start)
    return p
