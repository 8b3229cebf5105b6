"""Channels, select and timer channels."""
import asyncio
import types
from collections import namedtuple

from ._core import (ChanClosed, Handle, _native, address_of, ensure_executor, error_for, ffi, lib,
                    ECLOSED, EAGAIN)
from ._promise import Withdrawable

__all__ = ["Chan", "Recv", "Send", "Selected", "select", "after", "Ticker"]

_SEND, _RECV = 1, 2


class _Typed:
    """How a typed channel packs and unpacks its cffi C type."""
    __slots__ = ("ctype", "size", "_ptr_type", "_none_ok")

    def __init__(self, ctype):
        if not isinstance(ctype, str):
            raise TypeError("gort.Chan: ctype must be a C type name (str), not %s" % type(ctype).__name__)
        try:
            self.size = ffi.sizeof(ctype)
            self._ptr_type = ffi.typeof(ctype + " *")
        except (ffi.error, TypeError) as e:
            raise ValueError("gort.Chan: unknown C type %r (%s)" % (ctype, e)) from None
        if self.size <= 0:
            raise ValueError("gort.Chan: C type %r has no size" % ctype)
        self.ctype = ctype
        self._none_ok = ffi.typeof(ctype).kind == "pointer"  # None is NULL

    def pack(self, value):
        if value is None and not self._none_ok:
            raise TypeError("gort.Chan[%s]: cannot send None" % self.ctype)
        try:
            box = ffi.new(self._ptr_type, value)
        except OverflowError as e:
            raise OverflowError("gort.Chan[%s]: %r out of range: %s" % (self.ctype, value, e)) from None
        except TypeError as e:
            raise TypeError("gort.Chan[%s]: cannot send %r: %s" % (self.ctype, value, e)) from None
        return bytes(ffi.buffer(box))

    def unpack(self, data):
        box = ffi.new(self._ptr_type)
        ffi.memmove(box, data, self.size)
        return box[0]


class Chan(Handle):
    """A Go channel (see the stubs in __init__.pyi)."""
    __slots__ = ("_h", "_typed", "__weakref__")
    __class_getitem__ = classmethod(types.GenericAlias)  # gort.Chan[int]

    def __init__(self, cap=0, ctype=None):
        self._h = 0
        if not isinstance(cap, int) or isinstance(cap, bool):
            raise TypeError("gort.Chan: cap must be an int, not %s" % type(cap).__name__)
        if cap < 0:
            raise ValueError("gort.Chan: cap must be >= 0, not %d" % cap)
        if ctype is None:
            self._typed = None
            self._h = _native.chan_make(cap)
        else:
            self._typed = _Typed(ctype)
            h = lib.gort_chan_make(self._typed.size, cap)
            if h == ffi.NULL:
                raise MemoryError("gort.Chan: cannot make a channel of %d %s" % (cap, ctype))
            self._h = int(ffi.cast("uintptr_t", h))

    @classmethod
    def from_handle(cls, handle, ctype=None):
        addr = address_of(handle, "gort_chan *", "gort.Chan.from_handle")
        if not addr:
            raise ValueError("gort.Chan.from_handle: NULL channel")
        self = cls.__new__(cls)
        self._h = 0
        p = ffi.cast("gort_chan *", addr)
        if ctype is None:
            if lib.gort_chan_elem_size(p) != ffi.sizeof("void *"):
                raise ValueError("gort.Chan.from_handle: not an object channel (elements of %d bytes)"
                                 % lib.gort_chan_elem_size(p))
            self._typed = None
        else:
            self._typed = _Typed(ctype)
            if lib.gort_chan_elem_size(p) != self._typed.size:
                raise ValueError("gort.Chan.from_handle: %s is %d bytes, the channel's elements %d"
                                 % (ctype, self._typed.size, lib.gort_chan_elem_size(p)))
        lib.gort_chan_retain(p)
        self._h = addr
        return self

    @classmethod
    def _adopt(cls, addr, typed):
        """Wrap a channel whose reference the caller hands over."""
        self = cls.__new__(cls)
        self._typed = typed
        self._h = addr
        return self

    def __del__(self, _release_objects=_native.release_objects, _release=lib.gort_chan_release,
                _cast=ffi.cast):  # bound now: module globals may be gone at exit
        h, self._h = self._h, 0
        if not h:
            return
        if self._typed is None:
            _release_objects(h)
        else:
            _release(_cast("gort_chan *", h))

    # ---- properties ----
    @property
    def handle(self):
        return ffi.cast("gort_chan *", self._h)

    @property
    def address(self):
        return self._h

    @property
    def ctype(self):
        return self._typed.ctype if self._typed else None

    @property
    def cap(self):
        return lib.gort_chan_cap(ffi.cast("gort_chan *", self._h))

    def __len__(self):
        return lib.gort_chan_len(ffi.cast("gort_chan *", self._h))

    def __repr__(self):
        kind = self._typed.ctype if self._typed else "object"
        return "<gort.Chan[%s] cap=%d len=%d at 0x%x>" % (kind, self.cap, len(self), self._h)

    # ---- operations ----
    def send(self, value, timeout=None):
        if self._typed is None:
            _native.send(self._h, value, timeout)
        else:
            _native.send_raw(self._h, self._typed.pack(value), timeout)

    def recv2(self, timeout=None):
        if self._typed is None:
            return _native.recv(self._h, timeout)
        data, ok = _native.recv_raw(self._h, timeout)
        return (self._typed.unpack(data), True) if ok else (None, False)

    def recv(self, timeout=None):
        if self._typed is None:
            value, ok = _native.recv(self._h, timeout)
        else:
            value, ok = self.recv2(timeout)
        if not ok:
            raise ChanClosed(ECLOSED, "receive from a closed channel")
        return value

    def try_send(self, value):
        if self._typed is None:
            return _native.try_send(self._h, value)
        data = self._typed.pack(value)
        rc = lib.gort_chan_try_send(ffi.cast("gort_chan *", self._h), data)
        if rc == 0:
            return True
        if rc == EAGAIN:
            return False
        raise error_for(rc)

    def try_recv(self):
        """Go's select-with-default receive: (value, True), or (None, False)
        if nothing is ready; ChanClosed once closed and drained."""
        if self._typed is None:
            ready, value, ok = _native.try_recv(self._h)
        else:
            buf = ffi.new("char[]", self._typed.size)
            rc = lib.gort_chan_try_recv(ffi.cast("gort_chan *", self._h), buf)
            if rc == EAGAIN:
                return (None, False)
            ready, ok = True, rc == 0
            if rc not in (0, ECLOSED):
                raise error_for(rc)
            value = self._typed.unpack(ffi.buffer(buf)[:]) if ok else None
        if ready and not ok:
            raise ChanClosed(ECLOSED, "receive from a closed channel")
        return (value, ready)

    def close(self):
        rc = lib.gort_chan_close(ffi.cast("gort_chan *", self._h))
        if rc != 0:
            raise error_for(rc, "close of a closed channel" if rc == ECLOSED else None)

    def __iter__(self):
        recv2 = self.recv2
        while True:
            value, ok = recv2()
            if not ok:
                return
            yield value

    def recv_promise(self):
        """A Promise of the next value received (rejects with ChanClosed).
        Cancelling an asyncio await of it withdraws the receive."""
        return _withdrawable(Recv(self), _value_or_closed)

    # ---- asyncio: cancellation-safe operations ----
    async def recv_async(self):
        """await ch.recv_async(): the next value; ChanClosed once closed and
        drained. Cancellation (asyncio.wait_for, Task.cancel) withdraws the
        receive: the value stays in the channel for the next receiver —
        unless it had already been received, then this returns it."""
        return _value_or_closed(await _chan_op(Recv(self)))

    async def send_async(self, value):
        """await ch.send_async(v): cancellation withdraws the send (v is not
        sent), unless it had already happened (then this returns normally)."""
        await _chan_op(Send(self, value))

    async def __aiter__(self):
        """async for x in ch: receives until closed and drained (cancellation-safe)."""
        while True:
            sel = await _chan_op(Recv(self))
            if not sel.ok:
                return
            yield sel.value

    # select support: (address, dir, value, elem_size)
    def _case(self, direction, value):
        if self._typed is None:
            return (self._h, direction, value, 0)
        packed = self._typed.pack(value) if direction == _SEND else None
        return (self._h, direction, packed, self._typed.size)


class Recv(Handle):
    """A select case receiving from chan (None: a nil channel, never fires)."""
    __slots__ = ("chan",)

    def __init__(self, chan):
        if chan is not None and not isinstance(chan, Chan):
            raise TypeError("gort.Recv: expected a gort.Chan or None, not %s" % type(chan).__name__)
        self.chan = chan

    def _case(self):
        if self.chan is None:
            return (None, _RECV, None, 0)
        return self.chan._case(_RECV, None)


class Send(Handle):
    """A select case sending value on chan (None: a nil channel, never fires)."""
    __slots__ = ("chan", "value")

    def __init__(self, chan, value):
        if chan is not None and not isinstance(chan, Chan):
            raise TypeError("gort.Send: expected a gort.Chan or None, not %s" % type(chan).__name__)
        self.chan = chan
        self.value = value

    def _case(self):
        if self.chan is None:
            return (None, _SEND, None, 0)
        return self.chan._case(_SEND, self.value)


Selected = namedtuple("Selected", "index value ok")


def select(*cases, default=False, timeout=None):
    """Go's select (see __init__.pyi)."""
    raw = []
    for c in cases:
        if not isinstance(c, (Recv, Send)):
            raise TypeError("gort.select: cases are gort.Recv or gort.Send, not %s" % type(c).__name__)
        raw.append(c._case())
    index, value, ok = _native.select(raw, timeout, default)
    if index >= 0 and ok and isinstance(cases[index], Recv):
        ch = cases[index].chan
        if ch._typed is not None:
            value = ch._typed.unpack(value)
    return Selected(index, value, ok)


def _value_or_closed(sel):
    if not sel.ok:
        raise ChanClosed(ECLOSED, "receive from a closed channel")
    return sel.value


def _withdrawable(case, finish):
    """A Withdrawable promise of finish(select(case, Recv(cancel))), run by a goroutine."""
    cancel = Chan()

    def op():
        sel = select(case, Recv(cancel))
        if sel.index == 1:
            raise asyncio.CancelledError("gort: channel operation withdrawn")
        return finish(sel)
    ensure_executor()
    p = Withdrawable(cancel)
    _native.go(op, (), None, p._p)
    return p


def _same(sel):
    return sel


async def _chan_op(case):
    """One channel operation in asyncio -> Selected: done at once when ready
    (no goroutine), else by a withdrawable goroutine."""
    sel = select(case, default=True)
    if sel.index == 0:
        return sel
    return await _withdrawable(case, _same)


class _Seconds(_Typed):
    """Timer channels carry int64 nanoseconds of gort.now(); Python sees seconds."""
    __slots__ = ()

    def __init__(self):
        super().__init__("int64_t")

    def unpack(self, data):
        return super().unpack(data) / 1e9

    def pack(self, value):
        return super().pack(int(value * 1e9))


def _seconds_ns(seconds, who):
    """seconds (int or float) -> int nanoseconds; TypeError for anything else."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError("%s: seconds must be a number, not %s" % (who, type(seconds).__name__))
    if seconds != seconds:
        raise ValueError("%s: seconds is NaN" % who)
    return int(max(min(seconds, 1e9), -1e9) * 1e9)  # beyond ~31 years: forever


def after(seconds):
    """Go's time.After: a channel that receives gort.now() once, after seconds."""
    h = lib.gort_after(_seconds_ns(seconds, "gort.after"))
    if h == ffi.NULL:
        raise MemoryError("gort.after: cannot make a timer")
    return Chan._adopt(int(ffi.cast("uintptr_t", h)), _Seconds())  # we own its only reference


class Ticker(Handle):
    """Go's time.Ticker: .chan receives gort.now() every period seconds."""

    def __init__(self, period):
        self._t = None
        ns = _seconds_ns(period, "gort.Ticker")
        if ns <= 0:
            raise ValueError("gort.Ticker: period must be > 0")
        t = lib.gort_ticker_new(ns)
        if t == ffi.NULL:
            raise MemoryError("gort.Ticker: cannot make a ticker")
        self._t = t
        h = lib.gort_chan_retain(lib.gort_ticker_chan(t))  # usable after stop()
        self._chan = Chan._adopt(int(ffi.cast("uintptr_t", h)), _Seconds())

    @property
    def chan(self):
        return self._chan

    def stop(self):
        t, self._t = self._t, None
        if t is not None:
            lib.gort_ticker_stop(t)

    def __del__(self):
        self.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
