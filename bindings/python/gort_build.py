"""cffi builder (API mode) for gort's Python extension `gort._gort`.

The extension holds two layers, both compiled from C here:
  - cffi's `lib`: thin wrappers of the C API for values that are plain C
    (typed channels, sync primitives, timers, native goroutines, promises
    made in C);
  - `gort._native` (csrc/gortpy.c): CPython C-API functions for everything
    that carries Python objects or runs Python code (the executor and its
    goroutines, object channels, select, promise values). cffi cannot pass a
    PyObject * nor run Python on a goroutine stack with its own thread state,
    so these are written against the C API and installed by `lib.gortpy_init`.

It links the shared libgort.so.0 (built by setup.py from ../../src and
shipped inside the package) so that every extension in the process that
links libgort talks to one engine.
"""
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
# The C sources live in the repository (../../); an sdist vendors them into
# _vendor/ (see setup.py).
ROOT = os.path.join(HERE, "_vendor") if os.path.isdir(os.path.join(HERE, "_vendor")) \
    else os.path.abspath(os.path.join(HERE, "..", ".."))
INCLUDE = os.path.join(ROOT, "include")

CDEF = r"""
typedef struct gort_chan gort_chan;
typedef struct gort_promise gort_promise;
typedef struct gort_timer gort_timer;
typedef struct gort_mutex   { uint64_t opaque_[8]; }  gort_mutex;
typedef struct gort_rwmutex { uint64_t opaque_[16]; } gort_rwmutex;
typedef struct gort_wg      { uint64_t opaque_[8]; }  gort_wg;
typedef struct gort_sem     { uint64_t opaque_[8]; }  gort_sem;
typedef struct gort_go_options {
    size_t      struct_size;
    size_t      stack_size;
    const char *name;
    int         pinned;
    int         nopreempt;
    uint64_t    reserved[6];
} gort_go_options;

#define GORT_VERSION_HEX ...  /* the header this extension was compiled with */
unsigned    gort_version(void);
const char *gort_version_string(void);
const char *gort_strerror(int err);
const char *gort_err_name(int err);
int64_t     gort_now(void);
int         gort_procs(void);
int64_t     gort_num_goroutine(void);
int         gort_dump(int fd);
uint64_t    gort_self(void);
void        gort_yield(void);

void gort_go_options_init(gort_go_options *opts);
int  gort_go(void (*fn)(void *), void *arg);
int  gort_go_opts(void (*fn)(void *), void *arg, const gort_go_options *opts);

gort_chan *gort_chan_make(size_t elem_size, size_t cap);
gort_chan *gort_chan_retain(gort_chan *ch);
void    gort_chan_release(gort_chan *ch);
int     gort_chan_send_until(gort_chan *ch, const void *elem, int64_t deadline);
int     gort_chan_recv_until(gort_chan *ch, void *out, int64_t deadline);
int     gort_chan_try_send(gort_chan *ch, const void *elem);
int     gort_chan_try_recv(gort_chan *ch, void *out);
int     gort_chan_close(gort_chan *ch);
size_t  gort_chan_len(gort_chan *ch);
size_t  gort_chan_cap(gort_chan *ch);
size_t  gort_chan_elem_size(gort_chan *ch);
gort_chan  *gort_after(int64_t ns);
gort_timer *gort_ticker_new(int64_t period_ns);
gort_chan  *gort_ticker_chan(gort_timer *t);
void        gort_ticker_stop(gort_timer *t);


gort_promise *gort_promise_retain(gort_promise *p);
void gort_promise_release(gort_promise *p);
int  gort_promise_state(const gort_promise *p);
gort_promise *gort_promise_all(gort_promise *const *ps, size_t n);
gort_promise *gort_promise_all_settled(gort_promise *const *ps, size_t n);
gort_promise *gort_promise_race(gort_promise *const *ps, size_t n);
gort_promise *gort_promise_any(gort_promise *const *ps, size_t n);

/* native calls (gort._nativecall) */
typedef struct gort_sig gort_sig;
typedef struct gort_sig_diag { size_t pos; char msg[120]; } gort_sig_diag;
#define GORT_SIG_MAX_ARGS ...
int  gort_sig_parse(gort_sig **out, const char *decl, gort_sig_diag *diag);
int  gort_sig_new_var(gort_sig **out, const gort_sig *base, const char *types, gort_sig_diag *diag);
void gort_sig_free(gort_sig *sig);
const char *gort_sig_name(const gort_sig *sig);
size_t gort_sig_nargs(const gort_sig *sig);
size_t gort_sig_nfixed(const gort_sig *sig);
int    gort_sig_variadic(const gort_sig *sig);
int    gort_sig_ret(const gort_sig *sig);
int    gort_sig_arg(const gort_sig *sig, size_t i);
const char *gort_type_name(int type);
int gort_call(const gort_sig *sig, void (*fn)(void), void *const *args, void *ret);
gort_promise *gort_call_async(const gort_sig *sig, void (*fn)(void), void *const *args);
int gort_go_call(const gort_sig *sig, void (*fn)(void), void *const *args);
int gort_initialized(void);

/* csrc/gortpy.h */
typedef struct gortpy_wg { gort_wg wg; int64_t count; } gortpy_wg;
typedef struct gortpy_mutex { gort_mutex mu; int locked; } gortpy_mutex;
typedef struct gortpy_rwmutex { gort_rwmutex rw; int64_t readers; int writer; } gortpy_rwmutex;
typedef struct gortpy_sem { gort_sem sem; int64_t capacity; int64_t held; } gortpy_sem;
/* csrc/gortpy.c: installs the module gort._native (see there). */
int gortpy_init(void);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "gort._gort",
    '#include "gortpy.h"\n',
    sources=[os.path.join(HERE, "csrc", f) for f in ("gortpy.c", "gilstate.c")],
    include_dirs=[INCLUDE, os.path.join(HERE, "csrc")],
    extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)


def gort_version():
    """The library version, read from include/gort.h (the one source of truth)."""
    with open(os.path.join(INCLUDE, "gort.h")) as f:
        text = f.read()
    parts = [re.search(r"#define GORT_VERSION_%s (\d+)" % k, text).group(1)
             for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
