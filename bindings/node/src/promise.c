/*
 * promise.c — the native half of gort.Promise (lib/promise.js has the rest).
 *
 * A gort.Promise is a JS object whose `_h` is an external owning one
 * reference to a gort_promise. Values and reasons are boxes (gortnode.h)
 * with box_free as destructor, so the engine may drop them on any thread.
 * A value whose destructor is not box_free came from C (another addon's
 * promise adopted through gort.fromHandle): JS sees its address as a
 * BigInt (NULL: undefined); a C rejection becomes an Error with the
 * GORT_E* code. A value whose destructor is native_result_free is the
 * result of a gort.native fn.async call (native.c), converted at each read.
 *
 * then(): gort_promise_then_ex on the env's loop with one reaction for both
 * outcomes, holding the two handlers and the result object in one box. The reaction runs as a microtask of gort's loop on the JS
 * thread (addon.c drives it) and hands (handler, rejected, value, result)
 * to the JS dispatcher, which runs the handler and settles `result` — the
 * gort.Promise then() returned — through the A+ resolution procedure in
 * JS (thenables must be called from JS anyway). The engine's own `next`
 * is not used (it is fulfilled with NULL and dropped), because a handler
 * returning a thenable settles `result` later, not when the reaction ends.
 * Combinators use gort_promise_all/all_settled/race/any; their reaction
 * turns the C result (arrays of values or of inputs) into JS.
 *
 * Unhandled rejections are tracked by the JS layer (it knows which
 * gort.Promise had a then); a rejection therefore also gets a silent engine
 * reaction so that gort's own unhandled-rejection hook stays quiet.
 */
#include "gortnode.h"

#include <stdlib.h>

enum { C_NONE = 0, C_ALL = 1, C_SETTLED = 2, C_RACE = 3, C_ANY = 4 };

static void gp_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    gort_promise_release(data);
}

static gort_promise *get_gp(napi_env env, napi_value v)
{
    void *p = NULL;
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
        napi_get_value_external(env, v, &p) != napi_ok || !p) {
        throw_type(env, "expected a gort.Promise handle");
        return NULL;
    }
    return p;
}

static napi_value wrap_gp(napi_env env, gort_promise *p)
{
    napi_value v;
    if (napi_create_external(env, p, gp_finalize, NULL, &v) != napi_ok) {
        gort_promise_release(p);
        return NULL;
    }
    return v;
}

/* The JS value of a settled promise's value (fulfilled) or reason. */
static napi_value settled_js(napi_env env, const gort_promise *p)
{
    napi_value v;
    bool fulfilled = gort_promise_state(p) == GORT_FULFILLED;
    void *raw = fulfilled ? gort_promise_value(p) : gort_promise_reason(p);
    if (gort_promise_dtor(p) == box_free && raw)
        return box_peek(env, raw);
    if (gort_promise_dtor(p) == native_result_free)
        return native_result_js(env, raw);
    if (!fulfilled && !raw)
        return gort_error(env, gort_promise_error(p), gort_promise_message(p));
    if (!raw)
        napi_get_undefined(env, &v);
    else
        napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)raw, &v);
    return v;
}

static napi_value js_new(napi_env env, napi_callback_info info)
{
    (void)info;
    gort_promise *p = gort_promise_new();
    return p ? wrap_gp(env, p) : throw_gort(env, GORT_ENOMEM);
}

/* fromHandle(bigint): adopt a gort_promise * (one reference is taken). */
static napi_value js_from_handle(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    js_args(env, info, a, 1);
    uint64_t addr;
    bool lossless;
    if (napi_get_value_bigint_uint64(env, a[0], &addr, &lossless) != napi_ok || !addr)
        return throw_type(env, "handle must be a non-zero BigInt (a gort_promise *)");
    return wrap_gp(env, gort_promise_retain((gort_promise *)(uintptr_t)addr));
}

static napi_value js_handle(napi_env env, napi_callback_info info)
{
    napi_value a[1], v;
    js_args(env, info, a, 1);
    gort_promise *p = get_gp(env, a[0]);
    if (!p)
        return NULL;
    napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)p, &v);
    return v;
}

static void quiet(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)settled;
    (void)ud;
}

/* fulfill(h, value) / reject(h, reason) -> boolean (false: already settled) */
static napi_value settle(napi_env env, napi_callback_info info, bool reject)
{
    napi_value a[2], v;
    js_args(env, info, a, 2);
    gort_promise *p = get_gp(env, a[0]);
    if (!p)
        return NULL;
    box *b = box_new(env, a[1]);
    if (!b)
        return NULL;
    int rc = reject ? gort_promise_reject_value(p, GORT_EREJECTED, b, box_free)
                    : gort_promise_resolve(p, b, box_free);
    genv *e = genv_get(env);
    if (rc == 0 && reject)
        gort_promise_release(gort_promise_then(p, e->loop, NULL, quiet, NULL));
    genv_kick(e);
    napi_get_boolean(env, rc == 0, &v);
    return v;
}

static napi_value js_fulfill(napi_env env, napi_callback_info info)
{
    return settle(env, info, false);
}

static napi_value js_reject(napi_env env, napi_callback_info info)
{
    return settle(env, info, true);
}

/* value(h): the value or reason of a settled promise */
static napi_value js_value(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    js_args(env, info, a, 1);
    gort_promise *p = get_gp(env, a[0]);
    return p ? settled_js(env, p) : NULL;
}

static napi_value js_state(napi_env env, napi_callback_info info)
{
    napi_value a[1], v;
    js_args(env, info, a, 1);
    gort_promise *p = get_gp(env, a[0]);
    if (!p)
        return NULL;
    napi_create_int32(env, gort_promise_state(p), &v);
    return v;
}

/* ---- reactions ----------------------------------------------------------- */

typedef struct reaction {
    genv *e;
    box  *held;   /* [onFulfilled, onRejected, result]: the handlers (undefined:
                   * pass through) and the gort.Promise object to settle */
    int   combo;  /* C_*: how to read the settled value */
} reaction;

static void reaction_free(void *arg)
{
    reaction *r = arg;
    box_free(r->held);
    free(r);
}

/* What the dispatcher gets as the value: the settled value or reason, or
 * undefined where the JS layer builds the result from the inputs it keeps
 * (all and allSettled fulfilled, any rejected with GORT_EAGGREGATE): the C
 * arrays hold the very values the inputs hold. */
static napi_value combo_js(napi_env env, const gort_promise *p, int combo)
{
    bool fulfilled = gort_promise_state(p) == GORT_FULFILLED;
    if ((fulfilled && (combo == C_ALL || combo == C_SETTLED)) ||
        (!fulfilled && combo == C_ANY && gort_promise_error(p) == GORT_EAGGREGATE)) {
        napi_value u;
        napi_get_undefined(env, &u);
        return u;
    }
    return settled_js(env, p);
}

/* dispatch(handler, rejected, value, result) in lib/promise.js; an
 * exception out of it is the process's uncaught exception. */
static void call_dispatch(napi_env env, napi_value *argv)
{
    napi_value fn, global;
    napi_get_global(env, &global);
    napi_get_reference_value(env, genv_get(env)->dispatch, &fn);
    if (napi_call_function(env, global, fn, 4, argv, NULL) != napi_ok) {
        napi_value exc;
        if (napi_get_and_clear_last_exception(env, &exc) == napi_ok)
            napi_fatal_exception(env, exc);
    }
}

static void react(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    reaction *r = ud;
    genv *e = r->e;
    if (e->dead)
        return;
    napi_env env = e->env;
    napi_handle_scope hs;
    if (napi_open_handle_scope(env, &hs) != napi_ok)
        return;
    bool rejected = gort_promise_state(settled) == GORT_REJECTED;
    napi_value argv[4];
    argv[0] = box_element(env, r->held, rejected ? 1 : 0);
    napi_get_boolean(env, rejected, &argv[1]);
    argv[2] = combo_js(env, settled, r->combo);
    argv[3] = box_element(env, r->held, 2);
    call_dispatch(env, argv);
    napi_close_handle_scope(env, hs);
}

void reject_from_c(napi_env env, napi_value promise, napi_value reason)
{
    napi_value argv[4];
    napi_get_undefined(env, &argv[0]);
    napi_get_boolean(env, true, &argv[1]);
    argv[2] = reason;
    argv[3] = promise;
    call_dispatch(env, argv);
}

static napi_value add_reaction(napi_env env, gort_promise *p, napi_value onf, napi_value onr,
                               napi_value result, int combo)
{
    genv *e = genv_get(env);
    reaction *r = calloc(1, sizeof *r);
    if (!r)
        return throw_gort(env, GORT_ENOMEM);
    r->e = e;
    r->combo = combo;
    napi_value held[3] = { onf, onr, result };
    for (int i = 0; i < 2; i++) {
        napi_valuetype t;
        napi_typeof(env, held[i], &t);
        if (t != napi_function)
            napi_get_undefined(env, &held[i]);
    }
    r->held = box_new_n(env, held, 3);
    if (!r->held) {
        free(r);
        return NULL;
    }
    gort_promise *next = gort_promise_then_ex(p, e->loop, react, react, r, reaction_free);
    if (!next) {
        reaction_free(r);
        return throw_gort(env, GORT_ENOMEM);
    }
    gort_promise_release(next);
    genv_kick(e);
    return NULL;
}

/* then(h, onFulfilled, onRejected, resultPromise) */
static napi_value js_then(napi_env env, napi_callback_info info)
{
    napi_value a[4];
    js_args(env, info, a, 4);
    gort_promise *p = get_gp(env, a[0]);
    return p ? add_reaction(env, p, a[1], a[2], a[3], C_NONE) : NULL;
}

/* combine(kind, handles[], resultPromise): the engine's combinator, whose
 * reaction passes the outcome to the dispatcher (see combo_js). */
static napi_value js_combine(napi_env env, napi_callback_info info)
{
    napi_value a[3];
    js_args(env, info, a, 3);
    int32_t kind;
    uint32_t n;
    NAPI_OK(env, napi_get_value_int32(env, a[0], &kind));
    NAPI_OK(env, napi_get_array_length(env, a[1], &n));
    if (kind < C_ALL || kind > C_ANY)
        return throw_range(env, "combinator kind");
    gort_promise **ps = calloc(n ? n : 1, sizeof *ps);
    if (!ps)
        return throw_gort(env, GORT_ENOMEM);
    for (uint32_t i = 0; i < n; i++) {
        napi_value h;
        napi_get_element(env, a[1], i, &h);
        if (!(ps[i] = get_gp(env, h))) {
            free(ps);
            return NULL;
        }
    }
    gort_promise *c = kind == C_ALL ? gort_promise_all(ps, n)
                    : kind == C_SETTLED ? gort_promise_all_settled(ps, n)
                    : kind == C_RACE ? gort_promise_race(ps, n)
                    : gort_promise_any(ps, n);
    free(ps);
    if (!c)
        return throw_gort(env, GORT_ENOMEM);
    napi_value u;
    napi_get_undefined(env, &u);
    add_reaction(env, c, u, u, a[2], kind);
    gort_promise_release(c);
    return NULL;
}

/* readC(address, kind): a C value a foreign promise was fulfilled with
 * (gort.fromHandle's type: 0 pointer, 1 int64, 2 float64, 3 string). The
 * address comes from the engine (the promise's value), which the JS side
 * still holds, so the memory is live. */
static napi_value js_read_c(napi_env env, napi_callback_info info)
{
    napi_value a[2], v = NULL;
    js_args(env, info, a, 2);
    uint64_t addr;
    bool lossless;
    int32_t kind;
    NAPI_OK(env, napi_get_value_bigint_uint64(env, a[0], &addr, &lossless));
    NAPI_OK(env, napi_get_value_int32(env, a[1], &kind));
    const void *p = (const void *)(uintptr_t)addr;
    switch (kind) {
    case 1: {
        int64_t i = *(const int64_t *)p;
        if (i >= -9007199254740991LL && i <= 9007199254740991LL)
            napi_create_int64(env, i, &v);
        else
            napi_create_bigint_int64(env, i, &v);
        break;
    }
    case 2:
        napi_create_double(env, *(const double *)p, &v);
        break;
    case 3:
        napi_create_string_utf8(env, p, NAPI_AUTO_LENGTH, &v);
        break;
    default:
        v = a[0];
    }
    return v;
}

static napi_value js_setup(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    js_args(env, info, a, 1);
    genv *e = genv_get(env);
    if (e->dispatch)
        napi_delete_reference(env, e->dispatch);
    napi_create_reference(env, a[0], 1, &e->dispatch);
    return NULL;
}

void promise_init(napi_env env, napi_value exports)
{
    static const export_fn fns[] = {
        { "promiseNew", js_new },         { "promiseFromHandle", js_from_handle },
        { "promiseHandle", js_handle },   { "promiseFulfill", js_fulfill },
        { "promiseReject", js_reject },   { "promiseState", js_state },
        { "promiseValue", js_value },
        { "promiseThen", js_then },       { "promiseCombine", js_combine },
        { "promiseSetup", js_setup },     { "readC", js_read_c },
    };
    define_fns(env, exports, fns, sizeof fns / sizeof fns[0]);
}
