/*
 * chan.c — gort.Chan, gort.select, gort.after and gort.Ticker.
 *
 * A JS channel is a plain gort_chan. Its element depends on the kind:
 *   any      a box * (gortnode.h): a JS value held by a napi_ref, created
 *            by the sender and consumed by the receiver, both on the env's
 *            JS thread (such a channel is only reachable from that env);
 *   int64    int64_t;  float64  double;
 *   bytes    gort_node_bytes { uint8_t *data; size_t len; }: a malloc'd copy
 *            owned by whoever holds the element; the receiver frees it
 *            (JS: the Buffer it gets is that memory, freed at GC).
 * Typed channels are shared with native code through ch.handle (the
 * gort_chan * as a BigInt; see docs/node.md for the convention).
 *
 * Every operation first tries the non-blocking form on the JS thread
 * (gort_chan_try_*, gort_select with GORT_NOWAIT); only when it would block
 * does a loop-bound goroutine do the blocking call (an op, addon.c) and
 * settle the promise. An operation that succeeds at once may have readied
 * such a goroutine (its partner): the loop is kicked (genv_kick) so it
 * resumes after the current JS job. The op holds a channel reference and owns
 * the element it sends until the send succeeds, so nothing is lost when a
 * send fails (closed channel) or a select case loses: the element returns
 * to the JS thread and is freed there.
 *
 * Liveness: a blocked operation does not keep the process alive (addon.c).
 * Timer channels (after, Ticker) are fed by loop timers, which do.
 *
 * Rejected: one goroutine per channel multiplexing JS waiters (it would
 * re-implement gort's wait queues, select and fairness); a JS-only queue
 * for `any` channels (select could not mix them with typed channels, and
 * they would not be gort's channels).
 */
#include "gortnode.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { K_ANY = 0, K_INT64 = 1, K_FLOAT64 = 2, K_BYTES = 3 };

typedef struct gort_node_bytes {
    uint8_t *data; /* malloc'd, owned by the holder of the element */
    size_t   len;
} gort_node_bytes;

typedef union elem {
    box            *b;
    int64_t         i;
    double          d;
    gort_node_bytes bytes;
} elem;

static const size_t kind_size[] = { sizeof(box *), sizeof(int64_t), sizeof(double),
                                    sizeof(gort_node_bytes) };

typedef struct gchan {
    gort_chan *ch;   /* one reference */
    int        kind; /* K_* */
} gchan;

/* ---- elements ------------------------------------------------------------ */

static bool to_int64(napi_env env, napi_value v, int64_t *out, const char *what)
{
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_bigint) {
        bool lossless;
        napi_get_value_bigint_int64(env, v, out, &lossless);
        if (!lossless) {
            throw_range(env, what);
            return false;
        }
        return true;
    }
    if (t != napi_number) {
        throw_type(env, what);
        return false;
    }
    double d;
    napi_get_value_double(env, v, &d);
    if (!(d == floor(d) && fabs(d) <= 9007199254740991.0)) {
        throw_range(env, what);
        return false;
    }
    *out = (int64_t)d;
    return true;
}

/* JS value -> element (JS thread). false with a JS exception pending. */
static bool elem_from_js(napi_env env, int kind, napi_value v, elem *out)
{
    switch (kind) {
    case K_ANY:
        out->b = box_new(env, v);
        return out->b != NULL;
    case K_INT64:
        return to_int64(env, v, &out->i,
                        "value must be an integer Number (safe range) or a BigInt in int64 range");
    case K_FLOAT64: {
        napi_valuetype t;
        napi_typeof(env, v, &t);
        if (t != napi_number) {
            throw_type(env, "value must be a Number for a 'float64' channel");
            return false;
        }
        napi_get_value_double(env, v, &out->d);
        return true;
    }
    default: {
        void *data = NULL;
        size_t len = 0;
        bool is;
        napi_is_buffer(env, v, &is);
        if (is) {
            napi_get_buffer_info(env, v, &data, &len);
        } else if (napi_is_typedarray(env, v, &is), is) {
            napi_typedarray_type tt;
            size_t n;
            napi_value ab;
            size_t off;
            napi_get_typedarray_info(env, v, &tt, &n, &data, &ab, &off);
            napi_value bl;
            uint32_t bytes;
            napi_get_named_property(env, v, "byteLength", &bl);
            napi_get_value_uint32(env, bl, &bytes);
            len = bytes;
        } else {
            napi_valuetype t;
            napi_typeof(env, v, &t);
            if (t != napi_string) {
                throw_type(env, "value must be a Buffer, a TypedArray or a string for a 'bytes' channel");
                return false;
            }
            napi_get_value_string_utf8(env, v, NULL, 0, &len);
            out->bytes.data = malloc(len + 1);
            if (!out->bytes.data) {
                throw_gort(env, GORT_ENOMEM);
                return false;
            }
            napi_get_value_string_utf8(env, v, (char *)out->bytes.data, len + 1, &len);
            out->bytes.len = len;
            return true;
        }
        out->bytes.data = malloc(len ? len : 1);
        if (!out->bytes.data) {
            throw_gort(env, GORT_ENOMEM);
            return false;
        }
        if (len)
            memcpy(out->bytes.data, data, len);
        out->bytes.len = len;
        return true;
    }
    }
}

static void free_bytes(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    free(data);
}

/* Element -> JS value, consuming the element (JS thread). */
static napi_value elem_to_js(napi_env env, int kind, elem *el)
{
    napi_value v = NULL;
    switch (kind) {
    case K_ANY:
        if (!el->b)
            break;
        v = box_take(env, el->b);
        el->b = NULL;
        break;
    case K_INT64:
        if (el->i >= -9007199254740991LL && el->i <= 9007199254740991LL)
            napi_create_int64(env, el->i, &v);
        else
            napi_create_bigint_int64(env, el->i, &v);
        break;
    case K_FLOAT64:
        napi_create_double(env, el->d, &v);
        break;
    default:
        if (napi_create_external_buffer(env, el->bytes.len, el->bytes.data ? el->bytes.data : (void *)"",
                                        el->bytes.data ? free_bytes : NULL, NULL, &v) != napi_ok)
            free(el->bytes.data);
        el->bytes.data = NULL;
        break;
    }
    if (!v)
        napi_get_undefined(env, &v);
    return v;
}

/* Drop an element that no one will receive (any thread). */
static void elem_drop(int kind, elem *el)
{
    if (kind == K_ANY && el->b)
        box_free(el->b);
    else if (kind == K_BYTES)
        free(el->bytes.data);
    memset(el, 0, sizeof *el);
}

static void kick(napi_env env)
{
    genv_kick(genv_get(env));
}

static napi_value recv_result(napi_env env, napi_value value, bool ok)
{
    napi_value obj, okv, undef;
    napi_create_object(env, &obj);
    napi_get_boolean(env, ok, &okv);
    napi_get_undefined(env, &undef);
    napi_set_named_property(env, obj, "value", ok ? value : undef);
    napi_set_named_property(env, obj, "ok", okv);
    return obj;
}

/* ---- handles ------------------------------------------------------------- */

/* gchan wrappers not yet finalized (internal: the leak test reads it). */
static _Atomic long live_chans;

static void gchan_finalize(napi_env env, void *data, void *hint)
{
    (void)hint;
    gchan *c = data;
    if (c->kind == K_ANY) {
        /* Values still buffered: free their boxes (blocked senders, if any,
         * keep theirs; see docs/node.md). */
        for (size_t n = gort_chan_len(c->ch); n > 0; n--) {
            elem el = { 0 };
            if (gort_chan_try_recv(c->ch, &el) != 0)
                break;
            if (el.b)
                napi_delete_reference(env, el.b->ref), genv_unref(el.b->e), free(el.b);
        }
    }
    gort_chan_release(c->ch);
    free(c);
    atomic_fetch_sub(&live_chans, 1);
}

static napi_value wrap_chan(napi_env env, gort_chan *ch, int kind)
{
    gchan *c = malloc(sizeof *c);
    napi_value v;
    if (!c) {
        gort_chan_release(ch);
        return throw_gort(env, GORT_ENOMEM);
    }
    c->ch = ch;
    c->kind = kind;
    if (napi_create_external(env, c, gchan_finalize, NULL, &v) != napi_ok) {
        gort_chan_release(ch);
        free(c);
        return NULL;
    }
    atomic_fetch_add(&live_chans, 1);
    return v;
}

static gchan *get_chan(napi_env env, napi_value v)
{
    void *p = NULL;
    napi_valuetype t;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
        napi_get_value_external(env, v, &p) != napi_ok || !p) {
        throw_type(env, "expected a gort.Chan");
        return NULL;
    }
    return p;
}

static napi_value js_live_chans(napi_env env, napi_callback_info info)
{
    (void)info;
    napi_value v;
    napi_create_int64(env, atomic_load(&live_chans), &v);
    return v;
}

/* chanNew(cap, kind) */
static napi_value js_chan_new(napi_env env, napi_callback_info info)
{
    napi_value a[2];
    js_args(env, info, a, 2);
    double cap;
    int32_t kind;
    NAPI_OK(env, napi_get_value_double(env, a[0], &cap));
    NAPI_OK(env, napi_get_value_int32(env, a[1], &kind));
    if (kind < K_ANY || kind > K_BYTES)
        return throw_range(env, "type must be 'int64', 'float64' or 'bytes'");
    gort_chan *ch = gort_chan_make(kind_size[kind], (size_t)cap);
    if (!ch)
        return throw_range(env, "cap is too large");
    return wrap_chan(env, ch, kind);
}

/* chanFromHandle(bigint, kind): adopt a typed gort_chan * from native code. */
static napi_value js_chan_from_handle(napi_env env, napi_callback_info info)
{
    napi_value a[2];
    js_args(env, info, a, 2);
    uint64_t addr;
    bool lossless;
    int32_t kind;
    if (napi_get_value_bigint_uint64(env, a[0], &addr, &lossless) != napi_ok || !addr)
        return throw_type(env, "handle must be a non-zero BigInt (a gort_chan *)");
    NAPI_OK(env, napi_get_value_int32(env, a[1], &kind));
    if (kind <= K_ANY || kind > K_BYTES)
        return throw_range(env, "type must be 'int64', 'float64' or 'bytes'");
    gort_chan *ch = (gort_chan *)(uintptr_t)addr;
    if (gort_chan_elem_size(ch) != kind_size[kind])
        return throw_range(env, "handle: the channel's element size does not match the type");
    return wrap_chan(env, gort_chan_retain(ch), kind);
}

static napi_value js_chan_handle(napi_env env, napi_callback_info info)
{
    napi_value a[1], v;
    js_args(env, info, a, 1);
    gchan *c = get_chan(env, a[0]);
    if (!c)
        return NULL;
    napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)c->ch, &v);
    return v;
}

/* chanLen(ch) / chanCap(ch): a size of the channel as a JS number. */
static napi_value chan_size(napi_env env, napi_callback_info info, size_t (*size)(gort_chan *))
{
    napi_value a[1], v;
    js_args(env, info, a, 1);
    gchan *c = get_chan(env, a[0]);
    if (!c)
        return NULL;
    napi_create_double(env, (double)size(c->ch), &v);
    return v;
}

static napi_value js_chan_len(napi_env env, napi_callback_info info)
{
    return chan_size(env, info, gort_chan_len);
}

static napi_value js_chan_cap(napi_env env, napi_callback_info info)
{
    return chan_size(env, info, gort_chan_cap);
}

static napi_value js_chan_close(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    js_args(env, info, a, 1);
    gchan *c = get_chan(env, a[0]);
    if (!c)
        return NULL;
    int rc = gort_chan_close(c->ch);
    if (rc < 0)
        return throw_gort(env, rc);
    kick(env); /* blocked operations wake up */
    return NULL;
}

/* ---- send / recv ------------------------------------------------------- */

typedef struct chan_op {
    op         base;
    gort_chan *ch;   /* retained */
    int        kind;
    bool       send;
    int        rc;
    elem       el;   /* send: owned until sent; recv: the value received */
} chan_op;

static void chan_op_run(op *o)
{
    chan_op *c = (chan_op *)o;
    if (c->send) {
        c->rc = gort_chan_send(c->ch, &c->el);
        if (c->rc == 0)
            memset(&c->el, 0, sizeof c->el); /* the receiver owns it now */
    } else {
        c->rc = gort_chan_recv(c->ch, &c->el);
    }
}

static napi_value chan_op_done(napi_env env, op *o, bool *ok)
{
    chan_op *c = (chan_op *)o;
    napi_value v = NULL;
    if (c->send) {
        if (c->rc < 0) {
            elem_to_js(env, c->kind, &c->el); /* frees it */
            *ok = false;
            v = gort_error(env, c->rc, NULL);
        }
    } else {
        v = recv_result(env, c->rc == 0 ? elem_to_js(env, c->kind, &c->el) : NULL, c->rc == 0);
    }
    gort_chan_release(c->ch);
    return v;
}

static void chan_op_discard(op *o)
{
    chan_op *c = (chan_op *)o;
    elem_drop(c->kind, &c->el);
    gort_chan_release(c->ch);
}

static napi_value start_chan_op(napi_env env, gchan *g, bool send, elem *el)
{
    chan_op *c = calloc(1, sizeof *c);
    if (!c) {
        if (el)
            elem_drop(g->kind, el);
        return throw_gort(env, GORT_ENOMEM);
    }
    c->base.run = chan_op_run;
    c->base.done = chan_op_done;
    c->base.discard = chan_op_discard;
    c->ch = gort_chan_retain(g->ch);
    c->kind = g->kind;
    c->send = send;
    if (el)
        c->el = *el;
    return op_start(env, &c->base);
}

/* chanSend(h, v) -> Promise<undefined> */
static napi_value js_chan_send(napi_env env, napi_callback_info info)
{
    napi_value a[2];
    js_args(env, info, a, 2);
    gchan *c = get_chan(env, a[0]);
    elem el = { 0 };
    if (!c || !elem_from_js(env, c->kind, a[1], &el))
        return NULL;
    int rc = gort_chan_try_send(c->ch, &el);
    if (rc == 0) {
        kick(env);
        return promise_resolved(env, NULL, true);
    }
    if (rc != GORT_EAGAIN) {
        elem_to_js(env, c->kind, &el);
        return promise_resolved(env, gort_error(env, rc, NULL), false);
    }
    return start_chan_op(env, c, true, &el);
}

/* chanTrySend(h, v) -> boolean (false: would block); throws on closed */
static napi_value js_chan_try_send(napi_env env, napi_callback_info info)
{
    napi_value a[2], v;
    js_args(env, info, a, 2);
    gchan *c = get_chan(env, a[0]);
    elem el = { 0 };
    if (!c || !elem_from_js(env, c->kind, a[1], &el))
        return NULL;
    int rc = gort_chan_try_send(c->ch, &el);
    if (rc < 0)
        elem_to_js(env, c->kind, &el);
    else
        kick(env);
    if (rc < 0 && rc != GORT_EAGAIN)
        return throw_gort(env, rc);
    napi_get_boolean(env, rc == 0, &v);
    return v;
}

/* chanRecv(h) -> Promise<{value, ok}> */
static napi_value js_chan_recv(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    js_args(env, info, a, 1);
    gchan *c = get_chan(env, a[0]);
    if (!c)
        return NULL;
    elem el = { 0 };
    int rc = gort_chan_try_recv(c->ch, &el);
    if (rc == 0) {
        kick(env);
        return promise_resolved(env, recv_result(env, elem_to_js(env, c->kind, &el), true), true);
    }
    if (rc == GORT_ECLOSED)
        return promise_resolved(env, recv_result(env, NULL, false), true);
    return start_chan_op(env, c, false, NULL);
}

/* chanTryRecv(h) -> {value, ok} | undefined (would block) */
static napi_value js_chan_try_recv(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    js_args(env, info, a, 1);
    gchan *c = get_chan(env, a[0]);
    if (!c)
        return NULL;
    elem el = { 0 };
    int rc = gort_chan_try_recv(c->ch, &el);
    if (rc == 0) {
        kick(env);
        return recv_result(env, elem_to_js(env, c->kind, &el), true);
    }
    if (rc == GORT_ECLOSED)
        return recv_result(env, NULL, false);
    return NULL;
}

/* ---- select -------------------------------------------------------------- */

typedef struct sel_op {
    op         base;
    size_t     n;
    int64_t    deadline;
    int        rc;     /* index, GORT_ETIMEDOUT, or an error */
    gort_case *cases;  /* n; chans retained */
    int       *kinds;  /* n */
    elem      *elems;  /* n; send elements owned until their case fires */
} sel_op;

static void sel_free(sel_op *s, napi_env env)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->cases[i].dir == GORT_SEND && !(s->rc == (int)i && s->cases[i].result == 0)) {
            if (env)
                elem_to_js(env, s->kinds[i], &s->elems[i]);
            else
                elem_drop(s->kinds[i], &s->elems[i]);
        }
        gort_chan_release(s->cases[i].chan);
    }
    free(s->cases);
    free(s->kinds);
    free(s->elems);
}

static void sel_run(op *o)
{
    sel_op *s = (sel_op *)o;
    s->rc = gort_select(s->cases, s->n, s->deadline);
}

static napi_value sel_result(napi_env env, sel_op *s, bool *ok)
{
    napi_value obj, v;
    if (s->rc < 0 && s->rc != GORT_ETIMEDOUT && s->rc != GORT_EAGAIN) {
        *ok = false;
        v = gort_error(env, s->rc, NULL);
        sel_free(s, env);
        return v;
    }
    int idx = s->rc >= 0 ? s->rc : -1;
    bool fired_ok = idx >= 0 && s->cases[idx].result == 0;
    napi_value value = NULL;
    if (idx >= 0 && s->cases[idx].dir == GORT_RECV && fired_ok)
        value = elem_to_js(env, s->kinds[idx], &s->elems[idx]);
    if (!value)
        napi_get_undefined(env, &value);
    napi_create_object(env, &obj);
    napi_create_int32(env, idx, &v);
    napi_set_named_property(env, obj, "index", v);
    napi_set_named_property(env, obj, "value", value);
    napi_get_boolean(env, fired_ok, &v);
    napi_set_named_property(env, obj, "ok", v);
    sel_free(s, env);
    return obj;
}

static napi_value sel_done(napi_env env, op *o, bool *ok)
{
    return sel_result(env, (sel_op *)o, ok);
}

static void sel_discard(op *o)
{
    sel_free((sel_op *)o, NULL);
}

/* select(chans[], dirs[], values[], timeoutMs (-1: forever, 0: default)) */
static napi_value js_select(napi_env env, napi_callback_info info)
{
    napi_value a[4];
    js_args(env, info, a, 4);
    uint32_t n;
    double ms;
    NAPI_OK(env, napi_get_array_length(env, a[0], &n));
    NAPI_OK(env, napi_get_value_double(env, a[3], &ms));
    sel_op *s = calloc(1, sizeof *s);
    if (!s)
        return throw_gort(env, GORT_ENOMEM);
    s->cases = calloc(n ? n : 1, sizeof *s->cases);
    s->kinds = calloc(n ? n : 1, sizeof *s->kinds);
    s->elems = calloc(n ? n : 1, sizeof *s->elems);
    if (!s->cases || !s->kinds || !s->elems) {
        sel_free(s, env);
        free(s);
        return throw_gort(env, GORT_ENOMEM);
    }
    for (uint32_t i = 0; i < n; i++) {
        napi_value ch, dir, val;
        int32_t d;
        napi_get_element(env, a[0], i, &ch);
        napi_get_element(env, a[1], i, &dir);
        napi_get_element(env, a[2], i, &val);
        napi_get_value_int32(env, dir, &d);
        napi_valuetype t;
        napi_typeof(env, ch, &t);
        s->cases[i].dir = d;
        s->n = i + 1;
        if (t == napi_null) /* Go's nil channel: never fires */
            continue;
        gchan *c = get_chan(env, ch);
        if (!c || (d == GORT_SEND && !elem_from_js(env, c->kind, val, &s->elems[i]))) {
            s->cases[i].dir = GORT_RECV; /* nothing to free for this case */
            sel_free(s, env);
            free(s);
            return NULL;
        }
        s->cases[i].chan = gort_chan_retain(c->ch);
        s->kinds[i] = c->kind;
        s->cases[i].elem = &s->elems[i];
    }
    s->n = n;
    s->rc = gort_select(s->cases, s->n, GORT_NOWAIT);
    if (s->rc != GORT_EAGAIN || ms == 0) {
        if (s->rc >= 0)
            kick(env);
        bool ok = true;
        napi_value v = sel_result(env, s, &ok);
        free(s);
        return promise_resolved(env, v, ok);
    }
    s->deadline = ms < 0 ? GORT_FOREVER : gort_now() + (int64_t)(ms * 1e6);
    s->base.run = sel_run;
    s->base.done = sel_done;
    s->base.discard = sel_discard;
    return op_start(env, &s->base);
}

/* ---- timer channels ------------------------------------------------------ */

/* Fed by a loop timer on the JS thread: keeps the process alive while armed. */
typedef struct tchan {
    genv      *e;
    gort_chan *ch;       /* retained */
    int64_t    id;       /* loop timer id */
    bool       periodic;
    bool       stopped;
} tchan;

static void tchan_fire(void *arg)
{
    tchan *t = arg;
    int64_t now = gort_now();
    gort_chan_try_send(t->ch, &now); /* a slow reader misses ticks (Go) */
    if (!t->periodic) {
        genv_release(t->e);
        gort_chan_release(t->ch);
        free(t);
    }
}

/* The shared part of after(ms) and tickerNew(ms): a one-slot int64 channel
 * and the loop timer (a timeout, or an interval if periodic) that feeds it,
 * holding the env alive while armed. Returns the tchan (it holds one channel
 * reference; *chp gets the caller's), or NULL with a JS exception pending. */
static tchan *tchan_start(napi_env env, napi_callback_info info, bool periodic, gort_chan **chp)
{
    napi_value a[1];
    js_args(env, info, a, 1);
    double ms;
    NAPI_OK(env, napi_get_value_double(env, a[0], &ms));
    genv *e = genv_get(env);
    gort_chan *ch = gort_chan_make(sizeof(int64_t), 1);
    tchan *t = calloc(1, sizeof *t);
    if (!ch || !t) {
        gort_chan_release(ch);
        free(t);
        throw_gort(env, GORT_ENOMEM);
        return NULL;
    }
    t->e = e;
    t->ch = gort_chan_retain(ch);
    t->periodic = periodic;
    int64_t ns = (int64_t)(ms * 1e6);
    t->id = periodic ? gort_loop_set_interval(e->loop, ns, tchan_fire, t)
                     : gort_loop_set_timeout(e->loop, ns, tchan_fire, t);
    if (t->id < 0) {
        int rc = (int)t->id;
        gort_chan_release(ch);
        gort_chan_release(ch);
        free(t);
        throw_gort(env, rc);
        return NULL;
    }
    genv_hold(e);
    genv_kick(e);
    *chp = ch;
    return t;
}

/* after(ms) -> chan handle */
static napi_value js_after(napi_env env, napi_callback_info info)
{
    gort_chan *ch;
    if (!tchan_start(env, info, false, &ch))
        return NULL;
    return wrap_chan(env, ch, K_INT64);
}

static void ticker_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    tchan *t = data;
    if (!t->stopped) {
        if (!t->e->dead) /* else the loop and its timers are gone (addon.c) */
            gort_loop_clear_timer(t->e->loop, t->id);
        genv_release(t->e);
    }
    genv_unref(t->e);
    gort_chan_release(t->ch);
    free(t);
}

/* tickerNew(ms) -> [ticker handle, chan handle] */
static napi_value js_ticker_new(napi_env env, napi_callback_info info)
{
    napi_value out, th, chv;
    gort_chan *ch;
    tchan *t = tchan_start(env, info, true, &ch);
    if (!t)
        return NULL;
    genv_ref(t->e); /* the finalizer may run during the env's teardown */
    NAPI_OK(env, napi_create_external(env, t, ticker_finalize, NULL, &th));
    chv = wrap_chan(env, ch, K_INT64);
    napi_create_array_with_length(env, 2, &out);
    napi_set_element(env, out, 0, th);
    napi_set_element(env, out, 1, chv);
    return out;
}

static napi_value js_ticker_stop(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    js_args(env, info, a, 1);
    tchan *t = NULL;
    NAPI_OK(env, napi_get_value_external(env, a[0], (void **)&t));
    if (t && !t->stopped) {
        t->stopped = true;
        gort_loop_clear_timer(t->e->loop, t->id);
        genv_release(t->e);
    }
    return NULL;
}

void chan_init(napi_env env, napi_value exports)
{
    static const export_fn fns[] = {
        { "chanNew", js_chan_new },         { "chanFromHandle", js_chan_from_handle },
        { "chanHandle", js_chan_handle },   { "chanLen", js_chan_len },
        { "chanCap", js_chan_cap },         { "chanClose", js_chan_close },
        { "chanSend", js_chan_send },       { "chanTrySend", js_chan_try_send },
        { "chanRecv", js_chan_recv },       { "chanTryRecv", js_chan_try_recv },
        { "select", js_select },            { "after", js_after },
        { "tickerNew", js_ticker_new },     { "tickerStop", js_ticker_stop },
        { "liveChans", js_live_chans },
    };
    define_fns(env, exports, fns, sizeof fns / sizeof fns[0]);
}
