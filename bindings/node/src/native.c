/*
 * native.c — gort.native(path).func(decl): C functions called from JS
 * through the engine's native-call API (gort_sig_parse, gort_call,
 * gort_call_async; src/ffi.c), synchronously on the JS thread or on the
 * parallel pool with a promise.
 *
 * Arguments are converted on the JS thread into one 8-byte slot each
 * (the C type of the parameter, from gort_sig_arg), with range checks:
 * TypeError for a wrong kind of value, RangeError for a number that does
 * not fit, both naming the argument, thrown synchronously (by fn.async
 * too). Pointers: a Buffer / TypedArray / ArrayBuffer passes its data
 * pointer (no copy), null passes NULL, a BigInt an address. Strings for
 * `char *` parameters are copied (UTF-8, NUL terminated) and freed when
 * the call has returned.
 *
 * fn.async, the path that must be cheap per call (it is a task-pool's
 * per-task overhead): lib/native-lib.js makes the gort.Promise object
 * (one gort_promise), js_call_async converts the arguments, starts
 * gort_call_async and registers ONE C reaction on the engine's call
 * promise (call_settled, run by the env's loop on the JS thread; if it
 * cannot be registered, the call becomes an "orphan" polled by the env's
 * timer: see below). The
 * reaction fulfils the gort.Promise directly with a native_result (the C
 * result, converted to JS when read: no box, no reference, no JS call);
 * only a rejection goes through lib/promise.js (unhandled-rejection
 * tracking). The argument array and the promise object are held in one box
 * until the call has returned (the engine copies argument values, not
 * what they point at), so passed Buffers cannot be collected under the
 * call. Rejected: a JS then() on an adopted handle (three promises and
 * three boxes per call, measured in findings); a V8 promise (fn.async
 * must return a gort.Promise).
 *
 * Variadic functions: the declaration's handle calls with the fixed
 * arguments only; derive() makes the handle of a call with variadic
 * arguments of given types (gort_sig_new_var, its own prepared cif); the
 * JS side (lib/native-lib.js) takes the types at the call, as (type, value)
 * pairs after the fixed arguments, and keeps one derived handle per type list.
 *
 * Libraries are dlopen'ed once and never closed (functions handed out must
 * stay valid; Node keeps its addons loaded the same way).
 */
#include "gortnode.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cfunc {
    gort_sig *sig;
    void    (*fn)(void);
} cfunc;

static void cfunc_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    cfunc *f = data;
    gort_sig_free(f->sig);
    free(f);
}

/* dlopen(path) -> external library handle */
static napi_value js_dlopen(napi_env env, napi_callback_info info)
{
    napi_value a[1], v;
    js_args(env, info, a, 1);
    char path[4096];
    size_t len;
    if (napi_get_value_string_utf8(env, a[0], path, sizeof path, &len) != napi_ok)
        return throw_type(env, "The \"path\" argument must be of type string");
    void *h = dlopen(len ? path : NULL, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *err = dlerror();
        napi_throw_error(env, "GORT_EINVAL", err ? err : "dlopen failed");
        return NULL;
    }
    napi_create_external(env, h, NULL, NULL, &v);
    return v;
}

static cfunc *get_cfunc(napi_env env, napi_value v)
{
    void *p = NULL;
    if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
        throw_type(env, "expected a gort.native function handle");
        return NULL;
    }
    return p;
}

/* [handle, nargs, name, variadic] for sig (owned by the handle from here
 * on, freed with it) calling fn. */
static napi_value func_handle(napi_env env, gort_sig *sig, void (*fn)(void))
{
    cfunc *f = malloc(sizeof *f);
    if (!f) {
        gort_sig_free(sig);
        return throw_gort(env, GORT_ENOMEM);
    }
    f->sig = sig;
    f->fn = fn;
    napi_value out, h, v;
    napi_create_external(env, f, cfunc_finalize, NULL, &h);
    napi_create_array_with_length(env, 4, &out);
    napi_set_element(env, out, 0, h);
    napi_create_uint32(env, (uint32_t)gort_sig_nargs(sig), &v);
    napi_set_element(env, out, 1, v);
    napi_create_string_utf8(env, gort_sig_name(sig), NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, out, 2, v);
    napi_get_boolean(env, gort_sig_variadic(sig), &v);
    napi_set_element(env, out, 3, v);
    return out;
}

/* func(lib, decl) -> func_handle's array */
static napi_value js_func(napi_env env, napi_callback_info info)
{
    napi_value a[2];
    js_args(env, info, a, 2);
    void *lib = NULL;
    char decl[2048];
    size_t len;
    NAPI_OK(env, napi_get_value_external(env, a[0], &lib));
    if (napi_get_value_string_utf8(env, a[1], decl, sizeof decl, &len) != napi_ok)
        return throw_type(env, "The \"decl\" argument must be of type string");
    gort_sig *sig = NULL;
    gort_sig_diag diag = { 0 };
    int rc = gort_sig_parse(&sig, decl, &diag);
    if (rc < 0) {
        char msg[sizeof decl + 200];
        snprintf(msg, sizeof msg, "bad declaration \"%s\" at offset %zu: %s", decl, diag.pos,
                 rc == GORT_EINVAL ? diag.msg : gort_strerror(rc));
        napi_throw(env, gort_error(env, rc, msg));
        return NULL;
    }
    const char *name = gort_sig_name(sig);
    if (!*name) {
        gort_sig_free(sig);
        return throw_type(env, "decl: the declaration must name the function");
    }
    dlerror();
    void *sym = dlsym(lib, name);
    if (!sym) {
        char msg[sizeof decl + 40];
        snprintf(msg, sizeof msg, "symbol '%s' not found", name);
        gort_sig_free(sig);
        napi_throw_error(env, "GORT_EINVAL", msg);
        return NULL;
    }
    void (*fn)(void);
    memcpy(&fn, &sym, sizeof sym);
    return func_handle(env, sig, fn);
}

/* derive(fh, types) -> the handle of fh's variadic function called with
 * variadic arguments of these types ("int, double"; gort_sig_new_var),
 * as func's. lib/native.js derives one per distinct type list and keeps it. */
static napi_value js_derive(napi_env env, napi_callback_info info)
{
    napi_value a[2];
    js_args(env, info, a, 2);
    cfunc *f = get_cfunc(env, a[0]);
    if (!f)
        return NULL;
    char types[1024];
    size_t len;
    if (napi_get_value_string_utf8(env, a[1], types, sizeof types, &len) != napi_ok)
        return throw_type(env, "The \"types\" argument must be of type string");
    gort_sig *sig = NULL;
    gort_sig_diag diag = { 0 };
    int rc = gort_sig_new_var(&sig, f->sig, types, &diag);
    if (rc < 0) {
        char msg[sizeof types + 200];
        snprintf(msg, sizeof msg, "%s(): bad variadic argument types \"%s\" at offset %zu: %s",
                 gort_sig_name(f->sig), types, diag.pos, rc == GORT_EINVAL ? diag.msg : gort_strerror(rc));
        if (rc == GORT_EINVAL)
            return throw_type(env, msg);
        napi_throw(env, gort_error(env, rc, msg));
        return NULL;
    }
    return func_handle(env, sig, f->fn);
}

typedef union slot {
    int8_t i8; uint8_t u8; int16_t i16; uint16_t u16; int32_t i32; uint32_t u32;
    int64_t i64; uint64_t u64; float f; double d; void *p; bool b;
} slot;

static bool arg_error(napi_env env, bool range, size_t i, int type, const char *what)
{
    char msg[200];
    snprintf(msg, sizeof msg, "The argument #%zu (%s) %s", i + 1, gort_type_name(type), what);
    if (range)
        throw_range(env, msg);
    else
        throw_type(env, msg);
    return false;
}

/* One JS value -> the slot of a parameter. *owned: malloc'd copy to free;
 * *js_mem set if the slot points into JS-owned memory (a Buffer...). */
static bool to_slot(napi_env env, napi_value v, int type, size_t i, slot *s, void **owned, bool *js_mem)
{
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (type == GORT_T_POINTER || type == GORT_T_STRING) {
        bool is = false;
        if (t == napi_null || t == napi_undefined) {
            s->p = NULL;
            return true;
        }
        if (t == napi_bigint) {
            uint64_t u;
            bool lossless;
            napi_get_value_bigint_uint64(env, v, &u, &lossless);
            s->p = (void *)(uintptr_t)u;
            return lossless || arg_error(env, true, i, type, "must be an address in range");
        }
        if (type == GORT_T_STRING && t == napi_string) {
            size_t len;
            napi_get_value_string_utf8(env, v, NULL, 0, &len);
            char *c = malloc(len + 1);
            if (!c) {
                throw_gort(env, GORT_ENOMEM);
                return false;
            }
            napi_get_value_string_utf8(env, v, c, len + 1, &len);
            s->p = *owned = c;
            return true;
        }
        size_t len;
        *js_mem = true;
        if (napi_is_buffer(env, v, &is), is)
            return napi_get_buffer_info(env, v, &s->p, &len) == napi_ok;
        if (napi_is_typedarray(env, v, &is), is) {
            napi_typedarray_type tt;
            napi_value ab;
            size_t off;
            return napi_get_typedarray_info(env, v, &tt, &len, &s->p, &ab, &off) == napi_ok;
        }
        if (napi_is_arraybuffer(env, v, &is), is)
            return napi_get_arraybuffer_info(env, v, &s->p, &len) == napi_ok;
        return arg_error(env, false, i, type,
                         "must be a Buffer, TypedArray, ArrayBuffer, BigInt address or null");
    }
    if (type == GORT_T_BOOL) {
        if (t != napi_boolean && t != napi_number)
            return arg_error(env, false, i, type, "must be a boolean");
        bool b = false;
        double d = 0;
        if (t == napi_boolean)
            napi_get_value_bool(env, v, &b);
        else
            napi_get_value_double(env, v, &d), b = d != 0;
        s->b = b;
        return true;
    }
    if (type == GORT_T_FLOAT || type == GORT_T_DOUBLE) {
        double d;
        if (t != napi_number)
            return arg_error(env, false, i, type, "must be a number");
        napi_get_value_double(env, v, &d);
        if (type == GORT_T_FLOAT)
            s->f = (float)d;
        else
            s->d = d;
        return true;
    }
    /* integers */
    bool is_signed = type == GORT_T_INT8 || type == GORT_T_INT16 || type == GORT_T_INT32 ||
                     type == GORT_T_INT64;
    int bits = type <= GORT_T_UINT8 ? 8 : type <= GORT_T_UINT16 ? 16 : type <= GORT_T_UINT32 ? 32 : 64;
    int64_t iv = 0;
    uint64_t uv = 0;
    if (t == napi_bigint) {
        bool lossless;
        if (is_signed)
            napi_get_value_bigint_int64(env, v, &iv, &lossless);
        else
            napi_get_value_bigint_uint64(env, v, &uv, &lossless);
        if (!lossless)
            return arg_error(env, true, i, type, "is out of range");
    } else if (t == napi_number) {
        double d;
        napi_get_value_double(env, v, &d);
        if (d != floor(d) || fabs(d) > 9007199254740991.0)
            return arg_error(env, true, i, type, "must be an integer (a safe integer Number or a BigInt)");
        if (is_signed)
            iv = (int64_t)d;
        else if (d < 0)
            return arg_error(env, true, i, type, "must be >= 0");
        else
            uv = (uint64_t)d;
    } else {
        return arg_error(env, false, i, type, "must be a number or a BigInt");
    }
    if (bits < 64) {
        int64_t lo = -(INT64_C(1) << (bits - 1)), hi = (INT64_C(1) << (bits - 1)) - 1;
        uint64_t uhi = (UINT64_C(1) << bits) - 1;
        if (is_signed ? (iv < lo || iv > hi) : uv > uhi)
            return arg_error(env, true, i, type, "is out of range");
    }
    switch (type) {
    case GORT_T_INT8: s->i8 = (int8_t)iv; break;
    case GORT_T_UINT8: s->u8 = (uint8_t)uv; break;
    case GORT_T_INT16: s->i16 = (int16_t)iv; break;
    case GORT_T_UINT16: s->u16 = (uint16_t)uv; break;
    case GORT_T_INT32: s->i32 = (int32_t)iv; break;
    case GORT_T_UINT32: s->u32 = (uint32_t)uv; break;
    case GORT_T_INT64: s->i64 = iv; break;
    default: s->u64 = uv; break;
    }
    return true;
}

static napi_value from_ret(napi_env env, int type, const void *p)
{
    napi_value v = NULL;
    slot s;
    memset(&s, 0, sizeof s);
    if (p)
        memcpy(&s, p, gort_type_size(type));
    switch (type) {
    case GORT_T_VOID: napi_get_undefined(env, &v); break;
    case GORT_T_BOOL: napi_get_boolean(env, s.b, &v); break;
    case GORT_T_INT8: napi_create_int32(env, s.i8, &v); break;
    case GORT_T_UINT8: napi_create_uint32(env, s.u8, &v); break;
    case GORT_T_INT16: napi_create_int32(env, s.i16, &v); break;
    case GORT_T_UINT16: napi_create_uint32(env, s.u16, &v); break;
    case GORT_T_INT32: napi_create_int32(env, s.i32, &v); break;
    case GORT_T_UINT32: napi_create_uint32(env, s.u32, &v); break;
    case GORT_T_INT64:
        if (s.i64 >= -9007199254740991LL && s.i64 <= 9007199254740991LL)
            napi_create_int64(env, s.i64, &v);
        else
            napi_create_bigint_int64(env, s.i64, &v);
        break;
    case GORT_T_UINT64:
        if (s.u64 <= 9007199254740991ULL)
            napi_create_double(env, (double)s.u64, &v);
        else
            napi_create_bigint_uint64(env, s.u64, &v);
        break;
    case GORT_T_FLOAT: napi_create_double(env, s.f, &v); break;
    case GORT_T_DOUBLE: napi_create_double(env, s.d, &v); break;
    case GORT_T_STRING:
        if (s.p)
            napi_create_string_utf8(env, s.p, NAPI_AUTO_LENGTH, &v);
        else
            napi_get_null(env, &v);
        break;
    default:
        if (s.p)
            napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)s.p, &v);
        else
            napi_get_null(env, &v);
    }
    return v;
}

/* Convert argv (a JS array) into slots; *owned gets the copies to free,
 * *js_mem whether some slot points into JS-owned memory. */
static bool prepare(napi_env env, cfunc *f, napi_value arr, slot *slots, void **ptrs, void **owned,
                    bool *js_mem)
{
    uint32_t n;
    size_t nargs = gort_sig_nargs(f->sig);
    napi_get_array_length(env, arr, &n);
    if (n != nargs) {
        char msg[120];
        snprintf(msg, sizeof msg, "%s() takes %zu argument(s), got %u", gort_sig_name(f->sig), nargs, n);
        throw_type(env, msg);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        napi_value v;
        napi_get_element(env, arr, i, &v);
        owned[i] = NULL;
        ptrs[i] = &slots[i];
        if (!to_slot(env, v, gort_sig_arg(f->sig, i), i, &slots[i], &owned[i], js_mem))
            return false;
    }
    return true;
}

static void free_owned(void **owned, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(owned[i]);
}

/* call(fh, argv) -> result, on this thread */
static napi_value js_call(napi_env env, napi_callback_info info)
{
    napi_value a[2];
    js_args(env, info, a, 2);
    cfunc *f = get_cfunc(env, a[0]);
    if (!f)
        return NULL;
    slot slots[GORT_SIG_MAX_ARGS], ret;
    void *ptrs[GORT_SIG_MAX_ARGS], *owned[GORT_SIG_MAX_ARGS] = { 0 };
    size_t n = gort_sig_nargs(f->sig);
    bool js_mem = false;
    if (!prepare(env, f, a[1], slots, ptrs, owned, &js_mem)) {
        free_owned(owned, n);
        return NULL;
    }
    memset(&ret, 0, sizeof ret);
    int rc = gort_call(f->sig, f->fn, ptrs, &ret);
    free_owned(owned, n);
    if (rc < 0)
        return throw_gort(env, rc);
    return from_ret(env, gort_sig_ret(f->sig), &ret);
}

/* ---- fn.async ------------------------------------------------------------ */

/* The value a fn.async promise is fulfilled with: the C result itself, not
 * a JS value, so settling takes no reference and no call into JS; JS reads
 * convert it (settled_js in promise.c). A char * result is copied when the
 * call settles, so a later read does not depend on the callee's memory. */
typedef struct native_result {
    int  type; /* GORT_T_* of the result */
    slot s;    /* the result (a GORT_T_STRING's copy is owned) */
} native_result;

void native_result_free(void *arg)
{
    native_result *r = arg;
    if (r->type == GORT_T_STRING)
        free(r->s.p);
    free(r);
}

napi_value native_result_js(napi_env env, const void *arg)
{
    const native_result *r = arg;
    return from_ret(env, r->type, &r->s);
}

/* One call in flight: the user data of the reaction on the engine's call
 * promise (gort_call_async's), which settles the JS-visible one. */
typedef struct acall {
    gort_promise *result; /* the gort.Promise's promise (one reference) */
    gort_promise *call;   /* orphans only: the engine's call promise (one reference) */
    struct acall *next_orphan; /* orphans only: genv.orphans list link */
    box          *held;   /* [argument array, gort.Promise object]: the
                           * Buffers passed stay referenced (alive, not
                           * collected) until the call settled; the object
                           * is rejected through JS. Its genv reference
                           * keeps e valid. */
    genv         *e;
    int           ret;    /* GORT_T_* of the result */
    bool          ran;    /* the reaction ran (and released the keepalive) */
    bool          js_mem; /* an argument points into JS memory: counted in
                           * genv.js_mem_calls while the call runs */
    size_t        nargs;
    void         *owned[]; /* nargs entries: copies of strings passed as char * */
} acall;

/* The reaction on the call's promise: a microtask of the env's loop, so on
 * the JS thread. A result settles the gort.Promise at once (its own
 * reactions follow in the same loop turn); a rejection (the engine could
 * not run the call) goes through lib/promise.js. */
static void call_settled(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    acall *c = ud;
    genv *e = c->e;
    c->ran = true;
    if (e->dead)
        return;
    genv_release(e);
    int err = gort_promise_error(settled);
    const char *msg = gort_promise_message(settled);
    if (gort_promise_state(settled) == GORT_FULFILLED) {
        native_result *r = calloc(1, sizeof *r);
        const void *v = gort_promise_value(settled);
        if (r) {
            r->type = c->ret;
            if (v)
                memcpy(&r->s, v, gort_type_size(c->ret));
            if (r->type == GORT_T_STRING && r->s.p && !(r->s.p = strdup(r->s.p))) {
                free(r);
                r = NULL;
            }
        }
        if (r) {
            gort_promise_resolve(c->result, r, native_result_free);
            return;
        }
        err = GORT_ENOMEM;
        msg = NULL;
    }
    napi_env env = e->env;
    napi_handle_scope hs;
    if (napi_open_handle_scope(env, &hs) != napi_ok)
        return;
    reject_from_c(env, box_element(env, c->held, 1), gort_error(env, err, msg));
    napi_close_handle_scope(env, hs);
}

/* After the reaction, or when the engine drops it (the env's loop was freed
 * while the call ran: then on the thread that settled the call). Either way
 * the call has returned, so its memory may go. */
static _Atomic long live_calls; /* acalls alive (internal: the leak test reads it) */

static void acall_free(void *ud)
{
    acall *c = ud;
    atomic_fetch_sub(&live_calls, 1);
    if (!c->ran && pthread_equal(pthread_self(), c->e->thread) && !c->e->dead)
        genv_release(c->e);
    if (c->js_mem)
        genv_js_mem_call(c->e, false);
    free_owned(c->owned, c->nargs);
    gort_promise_release(c->result);
    box_free(c->held); /* last: it may drop the last genv reference */
    free(c);
}

/* Orphans. gort_promise_then_ex can fail (ENOMEM) after gort_call_async
 * started the call: nothing would then tell us when the call returned, and
 * its memory (acall, the box holding the Buffers it reads) could neither
 * be freed under it nor kept for good (a leak, and a worker's teardown
 * waiting for its js_mem count forever). Such a call goes on the env's
 * orphans list instead and the env's timer polls the state of its promise
 * (an acquire load: no allocation, cannot fail); once settled it is
 * finished exactly as the reaction would have (call_settled, acall_free),
 * only up to ORPHAN_POLL_MS later. JS thread only. */
bool native_poll_orphans(genv *e)
{
    acall **pp = &e->orphans;
    while (*pp) {
        acall *c = *pp;
        if (gort_promise_state(c->call) == GORT_PENDING) {
            pp = &c->next_orphan;
            continue;
        }
        *pp = c->next_orphan;
        call_settled(NULL, c->call, c);
        gort_promise_release(c->call);
        acall_free(c);
    }
    return e->orphans != NULL;
}

/* Internal test hook (lib/native.js only, not exported by gort): the next
 * n registrations behave as if gort_promise_then_ex had failed. */
static int fail_then_left;

static napi_value js_fail_then(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    js_args(env, info, a, 1);
    int32_t n = 0;
    napi_get_value_int32(env, a[0], &n);
    fail_then_left = n;
    return NULL;
}

static napi_value js_live_calls(napi_env env, napi_callback_info info)
{
    (void)info;
    napi_value v;
    napi_create_int64(env, atomic_load(&live_calls), &v);
    return v;
}

/* callAsync(fh, argv, promise, promise._h): run the call on the pool; its
 * result settles `promise` (a gort.Promise lib/native-lib.js made). Bad
 * arguments throw here, synchronously. */
static napi_value js_call_async(napi_env env, napi_callback_info info)
{
    napi_value a[4];
    js_args(env, info, a, 4);
    cfunc *f = get_cfunc(env, a[0]);
    if (!f)
        return NULL;
    gort_promise *result = NULL;
    NAPI_OK(env, napi_get_value_external(env, a[3], (void **)&result));
    size_t n = gort_sig_nargs(f->sig);
    acall *c = calloc(1, sizeof *c + n * sizeof c->owned[0]);
    if (!c)
        return throw_gort(env, GORT_ENOMEM);
    atomic_fetch_add(&live_calls, 1);
    c->nargs = n;
    slot slots[GORT_SIG_MAX_ARGS];
    void *ptrs[GORT_SIG_MAX_ARGS];
    napi_value held[2] = { a[1], a[2] };
    if (!prepare(env, f, a[1], slots, ptrs, c->owned, &c->js_mem) ||
        !(c->held = box_new_n(env, held, 2))) {
        atomic_fetch_sub(&live_calls, 1);
        free_owned(c->owned, n);
        free(c);
        return NULL;
    }
    c->e = genv_get(env);
    c->ret = gort_sig_ret(f->sig);
    c->result = gort_promise_retain(result);
    genv_hold(c->e); /* released by the reaction, or by acall_free if none runs */
    if (c->js_mem)
        genv_js_mem_call(c->e, true);
    gort_promise *call = gort_call_async(f->sig, f->fn, ptrs);
    if (!call) {
        acall_free(c);
        return throw_gort(env, gort_initialized() ? GORT_ENOMEM : GORT_ENOTINIT);
    }
    gort_promise *next = NULL;
    if (fail_then_left > 0)
        fail_then_left--;
    else
        next = gort_promise_then_ex(call, c->e->loop, call_settled, call_settled, c, acall_free);
    if (!next) { /* the call runs: an orphan (see above) */
        c->call = call;
        c->next_orphan = c->e->orphans;
        c->e->orphans = c;
        genv_watch_orphans(c->e);
        return NULL;
    }
    gort_promise_release(call);
    gort_promise_release(next);
    return NULL;
}

void native_init(napi_env env, napi_value exports)
{
    static const export_fn fns[] = {
        { "dlopen", js_dlopen },       { "func", js_func },
        { "call", js_call },           { "callAsync", js_call_async },
        { "derive", js_derive },       { "_failThen", js_fail_then },
        { "_liveCalls", js_live_calls },
    };
    define_fns(env, exports, fns, sizeof fns / sizeof fns[0]);
}
