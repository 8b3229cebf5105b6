"""gort.native: C functions from their declarations, called here (GIL
released) or on gort's pool (spawn/go -> gort.Promise): conversions and
range checks, buffers as pointers kept alive until the call ends, variadic
calls, asyncio, errors."""
import array
import asyncio
import ctypes
import gc
import math
import os
import subprocess
import threading
import zlib

import pytest

import gort
from conftest import T, _find_cc, run_in_thread, wait_until

# Every type both ways (id_*), a writer, and a call that blocks on a pipe and
# then reads its buffer (for the keep-alive tests).
HELPERS_C = r"""
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#define ID(T, name) T id_##name(T v) { return v; }
ID(bool, bool) ID(int8_t, i8) ID(uint8_t, u8) ID(int16_t, i16) ID(uint16_t, u16)
ID(int32_t, i32) ID(uint32_t, u32) ID(int64_t, i64) ID(uint64_t, u64)
ID(float, f32) ID(double, f64) ID(void *, ptr) ID(char *, str)
void fill(uint8_t *buf, size_t n, int v) { for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)v; }
int64_t sum_after_read(const uint8_t *buf, size_t n, int fd)
{
    char c;
    if (read(fd, &c, 1) != 1)
        return -1;
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += buf[i];
    return s;
}
"""


@pytest.fixture(scope="module")
def helpers(tmp_path_factory):
    cc = _find_cc()
    if cc is None:
        pytest.skip("no C compiler (cc/gcc/clang) found")
    d = tmp_path_factory.mktemp("ffi")
    src, out = d / "helpers.c", str(d / "libffihelpers.so")
    src.write_text(HELPERS_C)
    cp = subprocess.run([cc, "-shared", "-fPIC", "-O1", str(src), "-o", out],
                        capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    return gort.native(out)


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    os.close(r)
    os.close(w)


def _same(a, b):
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


# ---- every type, both directions ----------------------------------------------------------

INT_CASES = [("int8_t", "i8", -128, 127), ("uint8_t", "u8", 0, 255),
             ("int16_t", "i16", -2 ** 15, 2 ** 15 - 1), ("uint16_t", "u16", 0, 2 ** 16 - 1),
             ("int32_t", "i32", -2 ** 31, 2 ** 31 - 1), ("uint32_t", "u32", 0, 2 ** 32 - 1),
             ("int64_t", "i64", -2 ** 63, 2 ** 63 - 1), ("uint64_t", "u64", 0, 2 ** 64 - 1)]


class _Int:
    """An int-like that is not an int (as numpy integers are)."""

    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


@pytest.mark.parametrize("ctype,tag,lo,hi", INT_CASES)
def test_integers_extremes_and_range_checks(helpers, ctype, tag, lo, hi):
    f = helpers.func("%s id_%s(%s)" % (ctype, tag, ctype))
    for v in (lo, hi, 0, 1, lo + 1, hi - 1):
        assert f(v) == v
        assert f.spawn(v).result(T) == v
        assert f(_Int(v)) == v
    with pytest.raises(OverflowError):
        f(_Int(hi + 1))
    with pytest.raises(OverflowError, match=r"id_%s\(\) argument 1 \(%s\): %d is out of range"
                       % (tag, ctype, hi + 1)):
        f(hi + 1)
    with pytest.raises(OverflowError, match="argument 1"):
        f(lo - 1)
    with pytest.raises(TypeError, match=r"argument 1 \(%s\): expected an int, not float" % ctype):
        f(1.0)
    with pytest.raises(TypeError, match="not str"):
        f("1")
    with pytest.raises(OverflowError):  # nothing was called, and the range check is per call
        f.spawn(hi + 1)


def test_bool(helpers):
    f = helpers.func("bool id_bool(bool)")
    assert f(True) is True and f(False) is False and f(5) is True
    assert f.spawn(True).result(T) is True
    with pytest.raises(TypeError, match=r"argument 1 \(bool\)"):
        f(None)


@pytest.mark.parametrize("decl", ["double id_f64(double)", "float id_f32(float)"])
def test_floats(helpers, decl):
    f = helpers.func(decl)
    for v in (0.0, 1.5, -2.25, float("inf"), float("-inf"), float("nan"), 3):
        assert _same(f(v), float(v))
    z = f(-0.0)
    assert z == 0 and math.copysign(1, z) == -1
    assert math.isnan(f.spawn(float("nan")).result(T))
    with pytest.raises(TypeError, match=r"argument 1 \((float|double)\): expected a float or int"):
        f("1.0")
    with pytest.raises(OverflowError):
        f(10 ** 400)


def test_float_range(helpers):
    f32 = helpers.func("float id_f32(float)")
    f64 = helpers.func("double id_f64(double)")
    assert f64(1.7976931348623157e308) == 1.7976931348623157e308
    assert f32(3.0e38) == pytest.approx(3.0e38, rel=1e-6)
    with pytest.raises(OverflowError, match=r"argument 1 \(float\)"):
        f32(1e39)


def test_pointers_and_strings(helpers):
    p = helpers.func("void *id_ptr(void *)")
    assert p(None) is None
    assert p(0x1234) == 0x1234
    assert p(2 ** 64 - 1) == 2 ** 64 - 1
    with pytest.raises(OverflowError):
        p(-1)
    buf = bytearray(b"abc")
    assert p(buf) == ctypes.addressof((ctypes.c_char * 3).from_buffer(buf))
    s = helpers.func("char *id_str(char *)")
    assert s(b"bytes") == b"bytes"
    assert s("str \u00e9") == "str \u00e9".encode()
    assert s(None) is None
    assert s.spawn("async").result(T) == b"async"
    with pytest.raises(TypeError, match=r"argument 1 \(void \*\).*not str"):
        p("a str is text, not memory")
    with pytest.raises(TypeError, match=r"argument 1 \(char \*\).*not list"):
        s([1, 2])
    cffi = pytest.importorskip("cffi")
    other = cffi.FFI()
    cd = other.new("char[]", b"cffi")
    assert s(cd) == b"cffi"


def test_writable_buffers(helpers):
    fill = helpers.func("void fill(uint8_t *buf, size_t n, int v)")
    b = bytearray(16)
    assert fill(b, 8, 7) is None
    assert b == bytes([7] * 8 + [0] * 8)
    a = array.array("B", bytes(4))
    fill(a, 4, 255)
    assert a.tolist() == [255] * 4
    m = memoryview(bytearray(8))[2:6]
    fill(m, 4, 1)
    assert m.obj == bytearray([0, 0, 1, 1, 1, 1, 0, 0])
    fill.spawn(b, 16, 9).result(T)
    assert b == bytes([9] * 16)
    with pytest.raises(TypeError, match=r"argument 1 \(void \*\)"):
        fill(memoryview(bytearray(8))[::2], 4, 1)  # not contiguous


def test_numpy_arrays(helpers):
    np = pytest.importorskip("numpy")
    fill = helpers.func("void fill(uint8_t *buf, size_t n, int v)")
    a = np.zeros(32, dtype=np.uint8)
    fill.spawn(a, a.nbytes, 3).result(T)
    assert (a == 3).all()


# ---- keep-alive and exports ------------------------------------------------------------------

def test_buffer_kept_alive_while_the_call_runs(helpers, pipe):
    r, w = pipe
    f = helpers.func("int64_t sum_after_read(const uint8_t *, size_t, int)")
    n = 1 << 20
    p = f.spawn(bytearray(b"\x01" * n), n, r)  # the only reference is the call's
    gc.collect()
    junk = [bytearray(b"\x00" * n) for _ in range(8)]  # reuse freed memory, if any
    os.write(w, b"x")
    assert p.result(T) == n
    del junk


def test_writable_buffer_exported_until_the_call_ends(helpers, pipe):
    r, w = pipe
    f = helpers.func("int64_t sum_after_read(const uint8_t *, size_t, int)")
    b = bytearray(b"\x02" * 100)
    p = f.spawn(b, len(b), r)
    with pytest.raises(BufferError):
        b.extend(b"more")  # exported: cannot be resized under the call
    os.write(w, b"x")
    assert p.result(T) == 200

    def resizable():
        try:
            b.extend(b"!")
            return True
        except BufferError:
            return False
    assert wait_until(resizable)


def test_go_fire_and_forget(helpers, pipe):
    r, w = pipe
    fill = helpers.func("void fill(uint8_t *buf, size_t n, int v)")
    b = bytearray(64)
    fill.go(b, 64, 5)
    assert wait_until(lambda: b == bytes([5] * 64))
    pw = gort.native(None).func("ssize_t write(int, const void *, size_t)")
    pw.go(w, b"ok", 2)  # a buffer argument: kept alive, as spawn
    assert os.read(r, 2) == b"ok"
    rd = gort.native(None).func("int close(int)")
    rd.go(-1)  # no pointer: straight gort_go_call


# ---- GIL, pool, asyncio ------------------------------------------------------------------------

def test_sync_call_releases_the_gil(pipe):
    r, w = pipe
    read = gort.native(None).func("ssize_t read(int, void *, size_t)")
    buf = bytearray(1)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("n", read(r, buf, 1)), daemon=True)
    t.start()
    # This thread runs Python while the other one is blocked in read(2): it
    # could not if the call held the GIL, and the write would never happen.
    total = sum(range(10000))
    os.write(w, b"z")
    t.join(T)
    assert not t.is_alive() and box["n"] == 1 and buf == b"z" and total == 49995000


def test_many_spawns_all_checked():
    crc = gort.native("libz.so.1").func(
        "unsigned long crc32(unsigned long, const uint8_t *, unsigned int)")
    bufs = [os.urandom(1000 + i) for i in range(300)]
    ps = [crc.spawn(0, b, len(b)) for b in bufs]
    assert [p.result(T) for p in ps] == [zlib.crc32(b) for b in bufs]
    assert gort.Promise.all(ps).result(T) == [zlib.crc32(b) for b in bufs]


def test_awaitable_in_asyncio():
    pow_ = gort.native("libm.so.6").func("double pow(double, double)")

    async def main():
        one = await pow_.spawn(2, 10)
        many = await asyncio.gather(*(pow_.spawn(i, 2) for i in range(50)))
        return one, many
    one, many = asyncio.run(asyncio.wait_for(main(), T))
    assert one == 1024.0 and many == [float(i * i) for i in range(50)]


def test_from_a_goroutine_and_a_thread():
    pow_ = gort.native("libm.so.6").func("double pow(double, double)")
    assert gort.spawn(lambda: pow_(3, 3) + pow_.spawn(2, 3).result(T)).result(T) == 35.0
    assert run_in_thread(lambda: pow_.spawn(2, 2).result(T)) == 4.0


# ---- variadic ----------------------------------------------------------------------------------

def test_variadic_inferred_and_explicit():
    snprintf = gort.native(None).func("int snprintf(char *buf, size_t n, const char *fmt, ...)")
    assert snprintf.is_variadic and snprintf.argtypes == ("char *", "uint64_t", "char *")
    buf = bytearray(100)
    n = snprintf(buf, len(buf), b"%d|%s|%.2f|%lld|%s", -7, b"b", 2.5, 2 ** 40, "s")
    want = b"-7|b|2.50|1099511627776|s"
    assert n == len(want) and bytes(buf[:n + 1]) == want + b"\0"
    assert snprintf(buf, len(buf), b"plain") == 5
    assert snprintf(buf, len(buf), b"%lld", _Int(2 ** 40)) == 13 and bytes(buf[:13]) == b"1099511627776"
    as_long = snprintf.variadic("long, double")
    assert not as_long.is_variadic
    assert as_long(buf, len(buf), b"%ld %g", 5, 1) == 3 and bytes(buf[:3]) == b"5 1"
    assert as_long.spawn(buf, len(buf), b"%ld", 12, 0.0).result(T) == 2
    with pytest.raises(TypeError, match="takes 5 arguments"):
        as_long(buf, 10, b"%ld", 5)
    with pytest.raises(TypeError, match="at least 3 arguments"):
        snprintf(buf, 10)
    with pytest.raises(ValueError, match="promoted to double"):
        snprintf.variadic("float")
    with pytest.raises(TypeError, match="not variadic"):
        gort.native("libm.so.6").func("double pow(double, double)").variadic("int")


# ---- errors and libraries ------------------------------------------------------------------------

def test_declaration_errors():
    m = gort.native("libm.so.6")
    with pytest.raises(ValueError, match=r"at offset 11: unknown type name 'dbl'") as e:
        m.func("double pow(dbl, double)")
    assert "\n" + " " * 13 + "^" in str(e.value)  # a caret under the offset
    with pytest.raises(ValueError, match="by value"):
        m.func("struct s f(void)")
    with pytest.raises(ValueError, match="names no function"):
        m.func("double(double, double)")
    assert m.func("double(double, double)", symbol="pow")(2, 3) == 8.0
    with pytest.raises(AttributeError, match="no symbol 'no_such_function'"):
        m.func("int no_such_function(void)")
    with pytest.raises(TypeError):
        m.func(b"double pow(double, double)")


def test_wrong_argument_count(helpers):
    f = helpers.func("int32_t id_i32(int32_t)")
    with pytest.raises(TypeError, match=r"id_i32\(\) takes 1 argument \(0 given\)"):
        f()
    with pytest.raises(TypeError, match=r"takes 1 argument \(2 given\)"):
        f.spawn(1, 2)


def test_libraries():
    with pytest.raises(OSError, match="cannot load"):
        gort.native("/no/such/libfoo.so")
    assert gort.native("z").func("unsigned long crc32(unsigned long, const uint8_t *, unsigned int)")(
        0, b"a", 1) == zlib.crc32(b"a")  # found like ctypes.util.find_library
    assert gort.native(ctypes.CDLL("libm.so.6")).func("double sqrt(double)")(9) == 3.0
    cffi = pytest.importorskip("cffi")
    other = cffi.FFI()
    other.cdef("double cos(double);")
    clib = other.dlopen("libm.so.6")
    f = gort.native(clib).func("double cos(double)")
    assert f(0) == 1.0 and f.spawn(0).result(T) == 1.0
    assert repr(f).startswith("<gort.native.Function double cos(double) at 0x")
    assert f.restype == "double" and f.argtypes == ("double",) and f.name == "cos"
    from gort._gort import lib as gort_api_lib  # an API-mode (compiled) cffi lib
    assert gort.native(gort_api_lib).func("int gort_procs(void)")() == gort.procs()
