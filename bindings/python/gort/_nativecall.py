"""Native calls: any C function of a shared library, from its declaration.

    z = gort.native("libz.so.1")
    crc32 = z.func("unsigned long crc32(unsigned long, const uint8_t *, unsigned int)")
    crc32(0, data, len(data))                 # here, with the GIL released
    await crc32.spawn(0, data, len(data))     # on gort's pool: a gort.Promise

Built on the C API of src/ffi.c (gort_sig_parse, gort_call,
gort_call_async): the declaration is parsed and libffi's call interface
prepared once per function. Arguments are converted here into one array of
8-byte slots (every gort type fits) and a pointer array, per call.

Lifetimes. A sync call keeps its converted arguments (and the buffers they
point into: cffi's from_buffer holds the buffer export, so a bytearray
cannot be resized under the call) as locals until the C call returned. A
spawn()/go() copies the argument values in C at the call, but pointers
still point into Python objects: those are held by the reaction that
converts the result, which runs on gort's executor once the call settled,
so a caller may drop its own references at once. The result promise is
that reaction's promise: it resolves with the converted Python value.

Symbols are looked up with ctypes (dlopen/dlsym), a cffi lib (its
functions' addresses) or a ctypes library; gort never dlcloses.
"""
import ctypes
import ctypes.util
import os

from ._core import GortError, error_for, ffi, lib
from ._promise import Promise

__all__ = ["native", "Library", "Function"]

# GORT_T_* (include/gort.h)
(_VOID, _BOOL, _I8, _U8, _I16, _U16, _I32, _U32, _I64, _U64, _FLOAT, _DOUBLE, _POINTER,
 _STRING) = range(14)
_INT_RANGE = {_I8: (-(1 << 7), (1 << 7) - 1), _U8: (0, (1 << 8) - 1),
              _I16: (-(1 << 15), (1 << 15) - 1), _U16: (0, (1 << 16) - 1),
              _I32: (-(1 << 31), (1 << 31) - 1), _U32: (0, (1 << 32) - 1),
              _I64: (-(1 << 63), (1 << 63) - 1), _U64: (0, (1 << 64) - 1)}
_CNAME = {_BOOL: "bool", _I8: "int8_t", _U8: "uint8_t", _I16: "int16_t", _U16: "uint16_t",
          _I32: "int32_t", _U32: "uint32_t", _I64: "int64_t", _U64: "uint64_t",
          _FLOAT: "float", _DOUBLE: "double", _POINTER: "void *", _STRING: "char *"}
_PTR_CTYPE = {t: ffi.typeof(name + ("*" if name.endswith("*") else " *"))
              for t, name in _CNAME.items()}
_FLT_MAX = 3.4028234663852886e38
_ENOTINIT = -1001


def _type_name(t):
    return ffi.string(lib.gort_type_name(t)).decode()


# ---- Python value -> C value ----------------------------------------------------------
# Each converter returns (value to store in the slot, object to keep alive or None).

def _to_int(fn, i, t, v):
    if isinstance(v, float) or not hasattr(type(v), "__index__"):
        raise TypeError("%s argument %d (%s): expected an int, not %s"
                        % (fn, i + 1, _type_name(t), type(v).__name__))
    v = v.__index__()
    lo, hi = _INT_RANGE[t]
    if not lo <= v <= hi:
        raise OverflowError("%s argument %d (%s): %d is out of range [%d, %d]"
                            % (fn, i + 1, _type_name(t), v, lo, hi))
    return v, None


def _to_bool(fn, i, t, v):
    if not hasattr(type(v), "__index__") or isinstance(v, float):
        raise TypeError("%s argument %d (bool): expected a bool or int, not %s"
                        % (fn, i + 1, type(v).__name__))
    return bool(v.__index__()), None


def _to_float(fn, i, t, v):
    if isinstance(v, (str, bytes, bytearray)) or not (
            hasattr(type(v), "__float__") or hasattr(type(v), "__index__")):
        raise TypeError("%s argument %d (%s): expected a float or int, not %s"
                        % (fn, i + 1, _type_name(t), type(v).__name__))
    try:
        x = float(v)
    except OverflowError:
        raise OverflowError("%s argument %d (%s): %r is out of range"
                            % (fn, i + 1, _type_name(t), v)) from None
    if t == _FLOAT and abs(x) > _FLT_MAX and x == x and abs(x) != float("inf"):
        raise OverflowError("%s argument %d (float): %r is out of range" % (fn, i + 1, v))
    return x, None


def _to_pointer(fn, i, t, v):
    if v is None:
        return ffi.NULL, None
    if isinstance(v, int) and not isinstance(v, bool):
        if not 0 <= v < (1 << 64):
            raise OverflowError("%s argument %d (%s): address %d is out of range"
                                % (fn, i + 1, _type_name(t), v))
        return ffi.cast("void *", v), None
    if isinstance(v, ffi.CData):
        if ffi.typeof(v).kind in ("pointer", "array", "function"):
            return ffi.cast("void *", v), v
    elif isinstance(v, str):
        if t == _STRING:
            b = v.encode("utf-8")
            return ffi.from_buffer(b), b  # a bytes object's buffer ends with a NUL
    else:
        try:
            # A buffer (bytes, bytearray, memoryview, array.array, numpy...):
            # the cdata holds the export until it is released.
            cd = ffi.from_buffer(v)
        except TypeError:
            pass
        except (BufferError, ValueError) as e:
            raise TypeError("%s argument %d (%s): %s" % (fn, i + 1, _type_name(t), e)) from None
        else:
            return cd, cd
    raise TypeError("%s argument %d (%s): expected %sa buffer (bytes, bytearray, memoryview, "
                    "array), a cffi pointer, an int address or None, not %s"
                    % (fn, i + 1, _type_name(t), "str, " if t == _STRING else "",
                       type(v).__name__))


_TO_C = {_BOOL: _to_bool, _FLOAT: _to_float, _DOUBLE: _to_float, _POINTER: _to_pointer,
         _STRING: _to_pointer}
for _t in _INT_RANGE:
    _TO_C[_t] = _to_int


# ---- C result -> Python value -----------------------------------------------------------

def _read(t, tp):
    """The result behind tp (a typed pointer to a GORT_T_* t value) as Python."""
    if t == _VOID:
        return None
    v = tp[0]
    if t == _POINTER:
        return int(ffi.cast("uintptr_t", v)) or None
    if t == _STRING:
        return None if v == ffi.NULL else ffi.string(v)
    if t == _BOOL:
        return bool(v)
    return v  # cffi gives int / float


def _from_c(t, ptr):
    """The result at ptr (a void * to a value of GORT_T_* t) as Python."""
    return None if t == _VOID else _read(t, ffi.cast(_PTR_CTYPE[t], ptr))


def _variadic_type(v):
    """The C type of a variadic argument, from its Python value."""
    if isinstance(v, bool):
        return "int"
    if not isinstance(v, (int, float)) and hasattr(type(v), "__index__"):
        v = v.__index__()  # numpy integers and the like
    if isinstance(v, int):
        if -(1 << 31) <= v < (1 << 31):
            return "int"
        return "long long" if -(1 << 63) <= v < (1 << 63) else "unsigned long long"
    if isinstance(v, float):
        return "double"
    if isinstance(v, (str, bytes)):
        return "char *"
    return "void *"


# ---- signatures --------------------------------------------------------------------------

class _Sig:
    """Owns one gort_sig (freed with this object; running jobs hold their own
    C reference)."""
    __slots__ = ("ptr", "nargs", "nfixed", "variadic", "ret", "args", "name", "slow", "all_fast",
                 "plain_ret", "frames")

    def __init__(self, ptr):
        self.ptr = ptr
        self.nargs = lib.gort_sig_nargs(ptr)
        self.nfixed = lib.gort_sig_nfixed(ptr)
        self.variadic = bool(lib.gort_sig_variadic(ptr))
        self.ret = lib.gort_sig_ret(ptr)
        self.args = tuple(lib.gort_sig_arg(ptr, i) for i in range(self.nargs))
        self.name = ffi.string(lib.gort_sig_name(ptr)).decode()
        # Integers and doubles are stored by cffi directly (it range-checks);
        # the others, or a value cffi refuses, go through _TO_C.
        self.slow = tuple(t not in _INT_RANGE and t != _DOUBLE for t in self.args)
        self.all_fast = not any(self.slow)  # the common case: one tight loop
        self.plain_ret = self.ret in _INT_RANGE or self.ret == _DOUBLE  # cffi's value as is
        self.frames = []  # idle _Frames: popped by a call, pushed back after it

    def frame(self):
        """An idle frame for one call (a new one if all are in use)."""
        try:
            return self.frames.pop()  # atomic: threads share the pool safely
        except IndexError:
            return _Frame(self)

    def fill(self, fr, args, fn):
        """Store args into fr's slots; returns what pointer arguments point
        into (to keep alive) or None."""
        keep = None
        i = -1
        for tp, slow, v in zip(fr.tps, self.slow, args):
            i += 1
            if not slow:
                try:
                    tp[0] = v
                    continue
                except (TypeError, OverflowError):
                    pass  # _TO_C converts (an __index__ object) or explains
            t = self.args[i]
            c, k = _TO_C[t](fn, i, t, v)
            tp[0] = c
            if k is not None:
                if keep is None:
                    keep = []
                keep.append(k)
        return keep

    @staticmethod
    def _check(rc, out, diag, text, what):
        if rc == 0:
            return _Sig(out[0])
        if rc == -22:  # GORT_EINVAL: say where
            msg = ffi.string(diag.msg).decode()
            raise ValueError("gort.native: bad %s %r at offset %d: %s\n  %s\n  %s^"
                             % (what, text, diag.pos, msg, text, " " * diag.pos))
        raise error_for(rc, "gort.native: %s" % ffi.string(diag.msg).decode())

    @classmethod
    def parse(cls, decl):
        out = ffi.new("gort_sig **")
        diag = ffi.new("gort_sig_diag *")
        return cls._check(lib.gort_sig_parse(out, decl.encode(), diag), out, diag, decl,
                          "declaration")

    def derive(self, types):
        out = ffi.new("gort_sig **")
        diag = ffi.new("gort_sig_diag *")
        return self._check(lib.gort_sig_new_var(out, self.ptr, types.encode(), diag), out, diag,
                           types, "variadic type list")

    def __del__(self, _free=lib.gort_sig_free):  # bound now: globals may be gone at exit
        _free(self.ptr)


class _Frame:
    """The C memory of one call of a signature: an 8-byte slot per argument,
    the pointer array libffi reads, a result slot, and typed views of them."""
    __slots__ = ("vals", "ptrs", "ret", "tps", "ret_tp")

    def __init__(self, sig):
        n = sig.nargs
        self.vals = ffi.new("uint64_t[]", max(n, 1))
        self.ptrs = ffi.new("void *[]", [self.vals + i for i in range(n)]) if n else ffi.NULL
        self.tps = [ffi.cast(_PTR_CTYPE[t], self.vals + i) for i, t in enumerate(sig.args)]
        self.ret = ffi.new("uint64_t *")
        self.ret_tp = ffi.cast(_PTR_CTYPE[sig.ret], self.ret) if sig.ret != _VOID else None


# ---- functions -----------------------------------------------------------------------------

class Function:
    """A C function callable from Python (see __init__.pyi)."""

    def __init__(self, library, sig, address, fixed_var=None):
        self._lib = library        # keeps the library (and its handle) alive
        self._sig = sig
        self._fn = ffi.cast("void (*)(void)", address)
        self._var = {}             # variadic type list -> derived _Sig
        self._fixed_var = fixed_var  # from .variadic(types): calls use this sig only
        self.address = address
        self.name = sig.name or "<anonymous>"
        self._fname = self.name + "()"  # for messages
        # The one signature every call uses, or None: variadic, derived per call.
        self._fixed = fixed_var or (None if sig.variadic else sig)

    @property
    def restype(self):
        return _type_name(self._sig.ret)

    @property
    def argtypes(self):
        return tuple(_type_name(t) for t in self._sig.args[:self._sig.nfixed])

    @property
    def is_variadic(self):
        return self._sig.variadic and self._fixed_var is None

    def __repr__(self):
        return "<gort.native.Function %s %s(%s%s) at 0x%x>" % (
            self.restype, self.name, ", ".join(self.argtypes),
            ", ..." if self.is_variadic else "", self.address)

    def variadic(self, types):
        """A function that passes the variadic arguments as the C types given
        ("long, double"), instead of types inferred from the values."""
        if not self._sig.variadic:
            raise TypeError("gort.native: %s() is not variadic" % self.name)
        return Function(self._lib, self._sig, self.address, self._sig.derive(types))

    # ---- calls ----
    def _sig_for(self, args):
        """The signature for this argument list (variadic: derived, cached)."""
        sig = self._fixed_var or self._sig
        n = len(args)
        if not sig.variadic or self._fixed_var is not None:
            if n != sig.nargs:
                raise TypeError("%s() takes %d argument%s (%d given)"
                                % (self.name, sig.nargs, "" if sig.nargs == 1 else "s", n))
            return sig
        if n < sig.nfixed:
            raise TypeError("%s() takes at least %d argument%s (%d given)"
                            % (self.name, sig.nfixed, "" if sig.nfixed == 1 else "s", n))
        if n == sig.nfixed:
            return sig
        types = ", ".join(_variadic_type(v) for v in args[sig.nfixed:])
        d = self._var.get(types)
        if d is None:
            d = self._var[types] = sig.derive(types)
        return d

    def __call__(self, *args):
        """Call on this thread with the GIL released; returns the result."""
        sig = self._fixed
        if sig is None or len(args) != sig.nargs:
            sig = self._sig_for(args)  # variadic, or the count error
        fr = sig.frame()
        try:
            keep = None
            if sig.all_fast:
                try:
                    for tp, v in zip(fr.tps, args):
                        tp[0] = v
                except (TypeError, OverflowError):
                    sig.fill(fr, args, self._fname)  # converts an int-like, or explains
            else:
                keep = sig.fill(fr, args, self._fname)
            rc = lib.gort_call(sig.ptr, self._fn, fr.ptrs, fr.ret)  # cffi releases the GIL
            if rc != 0:
                raise error_for(rc)
            if sig.plain_ret:
                return fr.ret_tp[0]
            # Read while the arguments live: a char * result may point into one.
            result = None if fr.ret_tp is None else _read(sig.ret, fr.ret_tp)
            del keep
            return result
        finally:
            sig.frames.append(fr)

    def _start(self, args):
        """Start the call on the pool: (raw C promise address or 0, sig, keep).
        C copies the argument values, so the frame is free again at once."""
        sig = self._sig_for(args)
        fr = sig.frame()
        try:
            keep = sig.fill(fr, args, self._fname)
            p = lib.gort_call_async(sig.ptr, self._fn, fr.ptrs)
        finally:
            sig.frames.append(fr)
        if p == ffi.NULL:
            if not lib.gort_initialized():
                raise error_for(_ENOTINIT, "gort.native: the engine is not running")
            raise GortError(-12, "gort.native: cannot start the call (out of memory or "
                                 "shutting down)")
        return Promise._adopt(int(ffi.cast("uintptr_t", p))), sig.ret, keep

    def spawn(self, *args):
        """Run the call on gort's pool: a gort.Promise of the result."""
        raw, ret, keep = self._start(args)

        def convert(value, keep=keep):  # keep: alive until the call has settled
            return _from_c(ret, value)
        return raw.then(convert)

    def go(self, *args):
        """Run the call on gort's pool, result discarded (fire and forget)."""
        sig = self._sig_for(args)
        fr = sig.frame()
        try:
            keep = sig.fill(fr, args, self._fname)
            if keep is None:  # nothing to keep alive: no promise needed
                rc = lib.gort_go_call(sig.ptr, self._fn, fr.ptrs)
                if rc != 0:
                    raise error_for(rc, "gort.native: cannot start the call (%s)"
                                    % ffi.string(lib.gort_strerror(rc)).decode())
                return
        finally:
            sig.frames.append(fr)
        self.spawn(*args)  # pointer arguments: kept alive until the call ends


# ---- libraries -----------------------------------------------------------------------------

class Library:
    """Symbols of a shared library, the running process, or a cffi/ctypes lib."""

    def __init__(self, target=None):
        self._target = target
        self._cffi = None
        self._dll = None
        if target is None or isinstance(target, (str, bytes, os.PathLike)):
            self._dll = self._open(target)
            self.name = "<process>" if target is None else os.fsdecode(target)
        elif isinstance(target, ctypes.CDLL):
            self._dll = target
            self.name = target._name or "<process>"
        else:
            self._cffi = target
            self.name = getattr(target, "__name__", repr(target))

    @staticmethod
    def _open(target):
        if target is None:
            return ctypes.CDLL(None)
        path = os.fsdecode(target)
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            found = None if "/" in path else ctypes.util.find_library(path)
            if found:
                return ctypes.CDLL(found)
            raise OSError("gort.native: cannot load %r: %s" % (path, e)) from None

    def address(self, symbol):
        """The address of a function (or data) symbol as an int."""
        if self._dll is not None:
            try:
                fn = getattr(self._dll, symbol)
            except AttributeError:
                raise AttributeError("gort.native: %s has no symbol %r" % (self.name, symbol)) \
                    from None
            return ctypes.cast(fn, ctypes.c_void_p).value
        try:
            obj = getattr(self._cffi, symbol)
        except AttributeError:
            raise AttributeError("gort.native: %s has no symbol %r" % (self.name, symbol)) from None
        if not isinstance(obj, ffi.CData):
            # an API-mode (compiled) cffi lib gives a built-in; its address:
            obj = ffi.addressof(self._cffi, symbol)
        return int(ffi.cast("uintptr_t", obj))

    def func(self, decl, symbol=None):
        """A Function for the C declaration decl ("double pow(double, double)");
        the symbol is the declared name unless given."""
        if not isinstance(decl, str):
            raise TypeError("gort.native: the declaration must be a str")
        sig = _Sig.parse(decl)
        name = symbol or sig.name
        if not name:
            raise ValueError("gort.native: %r names no function: give symbol=" % decl)
        addr = self.address(name)
        if not addr:
            raise AttributeError("gort.native: %s: symbol %r is NULL" % (self.name, name))
        return Function(self, sig, addr)

    def __repr__(self):
        return "<gort.native.Library %s>" % self.name


def native(target=None):
    """gort.native(path | None | cffi lib | ctypes.CDLL) -> Library."""
    return Library(target)
