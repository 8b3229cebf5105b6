/*
 * addon.c — the Node-API addon's core: one genv per Node environment, gort's
 * loop embedded into Node's libuv loop, boxes for JS values, goroutine-backed
 * operations, errors. The JS surface lives in lib/; chan.c, sync.c and
 * promise.c add the native functions each concern needs.
 *
 * Driving the loop. gort's loop for an env runs only on the env's JS thread,
 * one turn at a time, through gort_loop_run_once(loop, GORT_NOWAIT), from two
 * places:
 *   1. a uv_poll on gort_loop_fd() (an eventfd the engine writes when another
 *      thread posts, a goroutine op finishes, or a loop timer falls due):
 *      libuv calls us in its poll phase; we open a callback scope, so that
 *      V8's microtasks and process.nextTick run right after, as after any
 *      Node I/O callback;
 *   2. a V8 microtask (queueMicrotask(drain)) queued whenever JS itself gave
 *      the loop work (a then() on a settled promise, a resolve): gort's
 *      reactions then run after the current JS job, among V8's microtasks,
 *      not a whole libuv iteration later.
 * Alternatives rejected: a threadsafe function per env (one more queue and
 * an uv_async whose callbacks cannot interleave with V8 microtasks; gort's
 * loop already has a thread-safe inbox and an fd); running gort's loop on a
 * thread of its own (reactions would have to hop to the JS thread anyway).
 *
 * Liveness. The uv_poll is unref'd except while `keepalive` > 0: timers
 * (gort.sleep, after, Ticker) and operations in flight on goroutines (a
 * blocked send, recv, select, wait or lock) keep the process alive, like
 * Node's timers and libuv requests. The engine cannot tell us whether a
 * parked operation can still complete (a native goroutine of another addon
 * may be its partner), so a receive nothing will ever complete keeps the
 * process alive, as an open server handle does; give such operations a
 * timeout (select) or close the channel. Reactions on gort promises hold a
 * reference on gort's loop, which we do not consult: a then() on a promise
 * nobody settles does not keep Node alive, as in Node.
 *
 * Teardown. An async cleanup hook (env exit, worker termination) marks the
 * genv dead, stops and closes the uv_poll; when the handle is closed it
 * frees the env's gort loop (so an ended worker leaves no loop or eventfd
 * behind) and drops the env's reference. If fn.async calls whose arguments
 * point into JS memory (Buffers, TypedArrays) are still running, the hook
 * completes only when the last of them returned (a uv_async the call's end
 * signals): Node frees an env's ArrayBuffers once its cleanup hooks are
 * done, and a call reading a freed (unmapped) Buffer faults — measured:
 * SIGSEGV in crc32 of a terminated worker before this. A worker's
 * terminate() therefore waits for such calls, as Node's own teardown
 * waits for thread-pool requests; calls on plain values are not waited
 * for. The env's orphan timer (native.c: calls whose reaction could not be
 * registered) is closed once the last orphan returned. Goroutine ops and boxes that
 * outlive the env find `dead` under the lock and free their C parts
 * without JS; code on the JS thread that may run after the cleanup hook
 * (finalizers) checks `dead` before touching the loop. process.exit() leaves engine threads
 * running until the process ends; nothing of theirs touches JS.
 */
#include "gortnode.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- genv ------------------------------------------------------------- */

genv *genv_get(napi_env env)
{
    genv *e = NULL;
    napi_get_instance_data(env, (void **)&e);
    return e;
}

void genv_ref(genv *e)
{
    pthread_mutex_lock(&e->mu);
    e->refs++;
    pthread_mutex_unlock(&e->mu);
}

void genv_unref(genv *e)
{
    pthread_mutex_lock(&e->mu);
    long left = --e->refs;
    pthread_mutex_unlock(&e->mu);
    if (left == 0) {
        /* The loop was freed at the env's cleanup (poll_closed), not here:
         * this may run inside the engine's promise code (a cancelled or
         * released reaction's destructor dropping a box), which still uses
         * the loop after the destructor returns. */
        pthread_mutex_destroy(&e->mu);
        free(e);
    }
}

void genv_hold(genv *e)
{
    if (e->keepalive++ == 0 && !e->dead)
        uv_ref((uv_handle_t *)&e->poll);
}

void genv_release(genv *e)
{
    if (--e->keepalive == 0 && !e->dead)
        uv_unref((uv_handle_t *)&e->poll);
}

/* One turn of gort's loop on the JS thread (never nested). */
static void drive(genv *e)
{
    if (e->in_run || e->dead)
        return;
    e->in_run = true;
    int rc = gort_loop_run_once(e->loop, GORT_NOWAIT);
    e->in_run = false;
    if (rc < 0 && rc != GORT_ESHUTDOWN)
        fprintf(stderr, "gort: loop turn failed: %s\n", gort_strerror(rc));
}

static napi_value drain_cb(napi_env env, napi_callback_info info)
{
    genv *e;
    napi_get_cb_info(env, info, NULL, NULL, NULL, (void **)&e);
    e->drain_queued = false;
    drive(e);
    return NULL;
}

void genv_kick(genv *e)
{
    if (e->drain_queued || e->in_run || e->dead)
        return;
    napi_env env = e->env;
    napi_value qm, fn, global;
    if (napi_get_reference_value(env, e->queue_microtask, &qm) != napi_ok ||
        napi_get_reference_value(env, e->drain_fn, &fn) != napi_ok ||
        napi_get_global(env, &global) != napi_ok)
        return;
    if (napi_call_function(env, global, qm, 1, &fn, NULL) == napi_ok)
        e->drain_queued = true;
}

/* Run fn(e, arg) from libuv as Node runs a callback: in a handle scope and
 * a callback scope of the env's async resource, whose closing runs
 * nextTicks and microtasks. false: the scopes could not be opened (fn did
 * not run). The env must be alive. */
static bool in_callback_scope(genv *e, void (*fn)(genv *e, void *arg), void *arg)
{
    napi_env env = e->env;
    napi_handle_scope hs;
    napi_callback_scope cs;
    napi_value res;
    if (napi_open_handle_scope(env, &hs) != napi_ok)
        return false;
    bool ran = napi_get_reference_value(env, e->resource, &res) == napi_ok &&
               napi_open_callback_scope(env, res, e->actx, &cs) == napi_ok;
    if (ran) {
        fn(e, arg);
        napi_close_callback_scope(env, cs); /* runs nextTicks and microtasks */
    }
    napi_close_handle_scope(env, hs);
    return ran;
}

static void drive_in_scope(genv *e, void *arg)
{
    (void)arg;
    drive(e);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    genv *e = h->data;
    if (e->dead)
        return;
    (void)in_callback_scope(e, drive_in_scope, NULL);
}

/* Orphaned fn.async calls (see native.c's acall): every ORPHAN_POLL_MS
 * until the last returned, like on_poll in a callback scope while the env
 * lives; at teardown without JS (their memory still goes). The timer is
 * closed once none is left and the env is dead. */
#define ORPHAN_POLL_MS 1

static void orphan_timer_closed(uv_handle_t *h);

static void poll_orphans_in_scope(genv *e, void *left)
{
    *(bool *)left = native_poll_orphans(e);
    drive(e); /* the gort.Promises they settled react now */
}

static void on_orphan_timer(uv_timer_t *t)
{
    genv *e = t->data;
    bool left;
    if (e->dead)
        left = native_poll_orphans(e);
    else if (!in_callback_scope(e, poll_orphans_in_scope, &left))
        return; /* no scope this time: the timer polls again */
    if (left)
        return;
    uv_timer_stop(t);
    if (e->dead)
        uv_close((uv_handle_t *)t, orphan_timer_closed);
}

void genv_watch_orphans(genv *e)
{
    if (!uv_is_active((uv_handle_t *)&e->orphan_timer))
        uv_timer_start(&e->orphan_timer, on_orphan_timer, ORPHAN_POLL_MS, ORPHAN_POLL_MS);
}

/* Loops of live envs (internal: the worker-teardown test reads it). */
static _Atomic long live_loops;

/* The last step of the teardown: Node may now free the env (and its
 * Buffers). */
static void teardown_step_done(genv *e)
{
    if (--e->teardown_steps > 0)
        return;
    napi_remove_async_cleanup_hook(e->cleanup);
    genv_unref(e);
}

static void calls_done_closed(uv_handle_t *h)
{
    teardown_step_done(h->data);
}

static void orphan_timer_closed(uv_handle_t *h)
{
    teardown_step_done(h->data);
}

static void on_calls_done(uv_async_t *h)
{
    uv_close((uv_handle_t *)h, calls_done_closed);
}

void genv_js_mem_call(genv *e, bool start)
{
    if (start) {
        atomic_fetch_add(&e->js_mem_calls, 1);
        return;
    }
    if (atomic_fetch_sub(&e->js_mem_calls, 1) != 1)
        return;
    pthread_mutex_lock(&e->mu);
    if (e->wait_calls) /* under mu: the handle is set up and not yet closed */
        uv_async_send(&e->calls_done);
    pthread_mutex_unlock(&e->mu);
}

static void poll_closed(uv_handle_t *h)
{
    genv *e = h->data;
    /* Free the env's loop here: on its JS thread, outside any loop turn,
     * after `dead` was set under mu (so no thread posts to it any more) and
     * with the env's own reference still held (the destructors of the
     * reactions the free cancels may drop other references). Reactions
     * registered on promises still pending are cancelled when those
     * settle; loop-bound goroutines still parked (an operation of a
     * terminated worker that nothing completed) stay with the engine until
     * gort_shutdown (gort_loop_free). */
    gort_loop_free(e->loop);
    e->loop = NULL;
    atomic_fetch_sub(&live_loops, 1);
    teardown_step_done(e);
}

static void env_cleanup(napi_async_cleanup_hook_handle handle, void *arg)
{
    genv *e = arg;
    (void)handle;
    uv_loop_t *uv = NULL;
    napi_get_uv_event_loop(e->env, &uv);
    e->teardown_steps = 2; /* the uv_poll and the orphan timer */
    pthread_mutex_lock(&e->mu);
    e->dead = true;
    /* fn.async calls still reading or writing Buffers: the env (whose end
     * frees them) goes only once they returned, as Node waits for its own
     * thread-pool requests. The count is read after `dead` is set, under
     * mu, so a call ending now either is not counted or finds wait_calls. */
    if (atomic_load(&e->js_mem_calls) > 0 && uv_async_init(uv, &e->calls_done, on_calls_done) == 0) {
        e->calls_done.data = e;
        e->wait_calls = true;
        e->teardown_steps++;
    }
    pthread_mutex_unlock(&e->mu);
    napi_async_destroy(e->env, e->actx);
    uv_poll_stop(&e->poll);
    uv_close((uv_handle_t *)&e->poll, poll_closed);
    if (!e->orphans) /* else closed by its callback when the last one returned */
        uv_close((uv_handle_t *)&e->orphan_timer, orphan_timer_closed);
}

/* ---- boxes ------------------------------------------------------------- */

box *box_new_n(napi_env env, const napi_value *v, size_t n)
{
    genv *e = genv_get(env);
    box *b = malloc(sizeof *b);
    if (!b) {
        throw_gort(env, GORT_ENOMEM);
        return NULL;
    }
    /* Node-API before version 10 refers to objects only: hold primitives
     * (and everything else, for one code path) in an array. */
    napi_value holder;
    if (napi_create_array_with_length(env, n, &holder) != napi_ok) {
        free(b);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (napi_set_element(env, holder, (uint32_t)i, v[i]) != napi_ok) {
            free(b);
            return NULL;
        }
    }
    if (napi_create_reference(env, holder, 1, &b->ref) != napi_ok) {
        free(b);
        return NULL;
    }
    b->e = e;
    genv_ref(e);
    return b;
}

box *box_new(napi_env env, napi_value v)
{
    return box_new_n(env, &v, 1);
}

napi_value box_element(napi_env env, const box *b, uint32_t i)
{
    napi_value holder, v = NULL;
    if (napi_get_reference_value(env, b->ref, &holder) == napi_ok)
        napi_get_element(env, holder, i, &v);
    return v;
}

napi_value box_peek(napi_env env, const box *b)
{
    return box_element(env, b, 0);
}

napi_value box_take(napi_env env, box *b)
{
    napi_value v = box_peek(env, b);
    napi_delete_reference(env, b->ref);
    genv_unref(b->e);
    free(b);
    return v;
}

static void box_free_task(void *arg)
{
    box *b = arg;
    if (!b->e->dead)
        napi_delete_reference(b->e->env, b->ref);
    genv_unref(b->e);
    free(b);
}

void box_free(void *arg)
{
    box *b = arg;
    genv *e = b->e;
    if (pthread_equal(pthread_self(), e->thread)) {
        box_free_task(b);
        return;
    }
    pthread_mutex_lock(&e->mu);
    int rc = e->dead ? GORT_ESHUTDOWN : gort_loop_post(e->loop, box_free_task, b);
    pthread_mutex_unlock(&e->mu);
    if (rc < 0) { /* env gone: its references went with it */
        genv_unref(e);
        free(b);
    }
}

/* ---- goroutine-backed operations --------------------------------------- */

static void op_finish(void *arg)
{
    op *o = arg;
    genv *e = o->e;
    napi_env env = e->env;
    napi_handle_scope hs;
    if (e->dead || napi_open_handle_scope(env, &hs) != napi_ok) {
        o->discard(o);
    } else {
        bool ok = true;
        napi_value v = o->done(env, o, &ok);
        if (!v)
            napi_get_undefined(env, &v);
        if (ok)
            napi_resolve_deferred(env, o->deferred, v);
        else
            napi_reject_deferred(env, o->deferred, v);
        napi_close_handle_scope(env, hs);
        genv_release(e);
    }
    free(o);
    genv_unref(e);
}

/* A loop-bound goroutine: it runs on the JS thread, inside the env's loop
 * turns, and parks in the blocking call; when it resumes, the completion is
 * a microtask of the same turn (a goroutine stack must not call into V8). */
static void op_main(void *arg)
{
    op *o = arg;
    genv *e = o->e;
    o->run(o);
    pthread_mutex_lock(&e->mu);
    int rc = e->dead ? GORT_ESHUTDOWN : gort_loop_microtask(e->loop, op_finish, o);
    pthread_mutex_unlock(&e->mu);
    if (rc < 0) {
        o->discard(o);
        free(o);
        genv_unref(e);
    }
}

napi_value op_start(napi_env env, op *o)
{
    napi_value promise;
    o->e = genv_get(env);
    if (napi_create_promise(env, &o->deferred, &promise) != napi_ok) {
        o->discard(o);
        free(o);
        return NULL;
    }
    genv_ref(o->e);
    genv_hold(o->e);
    int rc = gort_loop_go(o->e->loop, op_main, o);
    if (rc == 0)
        genv_kick(o->e);
    if (rc < 0) {
        genv_release(o->e);
        napi_reject_deferred(env, o->deferred, gort_error(env, rc, NULL));
        o->discard(o);
        free(o);
        genv_unref(genv_get(env));
    }
    return promise;
}

napi_value promise_resolved(napi_env env, napi_value v, bool ok)
{
    napi_deferred d;
    napi_value p;
    NAPI_OK(env, napi_create_promise(env, &d, &p));
    if (!v)
        napi_get_undefined(env, &v);
    if (ok)
        napi_resolve_deferred(env, d, v);
    else
        napi_reject_deferred(env, d, v);
    return p;
}

/* ---- errors ------------------------------------------------------------ */

napi_value gort_error(napi_env env, int err, const char *msg)
{
    napi_value code, text, error;
    const char *name = gort_err_name(err);
    if (!msg)
        msg = gort_strerror(err);
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
    if (err == GORT_ECYCLE)
        napi_create_type_error(env, code, text, &error);
    else
        napi_create_error(env, code, text, &error);
    return error;
}

/* The call's first n arguments into a[], missing ones as undefined (so
 * every js_* function can read a[0..n-1]); returns how many were given. */
size_t js_args(napi_env env, napi_callback_info info, napi_value *a, size_t n)
{
    size_t argc = n;
    napi_get_cb_info(env, info, &argc, a, NULL, NULL);
    napi_value undef;
    napi_get_undefined(env, &undef);
    for (size_t i = argc; i < n; i++)
        a[i] = undef;
    return argc;
}

napi_value throw_gort(napi_env env, int err)
{
    napi_throw(env, gort_error(env, err, NULL));
    return NULL;
}

napi_value throw_type(napi_env env, const char *msg)
{
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
}

napi_value throw_range(napi_env env, const char *msg)
{
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return NULL;
}

bool ok_or_throw(napi_env env, napi_status s)
{
    if (s == napi_ok)
        return true;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending)
        napi_throw_error(env, "GORT_EINVAL", "gort: invalid argument");
    return false;
}

void define_fns(napi_env env, napi_value obj, const export_fn *fns, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        napi_value f;
        napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
        napi_set_named_property(env, obj, fns[i].name, f);
    }
}

/* ---- module init ------------------------------------------------------- */

static napi_value err_names(napi_env env)
{
    napi_value obj, v;
    napi_create_object(env, &obj);
#define GORTNODE_ERR(name, val, msg)                          \
    napi_create_int32(env, val, &v);                          \
    napi_set_named_property(env, obj, "GORT_" #name, v);
    GORT_ERRNO_MAP(GORTNODE_ERR)
#undef GORTNODE_ERR
    return obj;
}

static napi_value js_procs(napi_env env, napi_callback_info info)
{
    (void)info;
    napi_value v;
    napi_create_int32(env, gort_procs(), &v);
    return v;
}

static napi_value js_live_loops(napi_env env, napi_callback_info info)
{
    (void)info;
    napi_value v;
    napi_create_int64(env, atomic_load(&live_loops), &v);
    return v;
}

static napi_value js_goroutines(napi_env env, napi_callback_info info)
{
    (void)info;
    napi_value v;
    napi_create_int64(env, gort_num_goroutine(), &v);
    return v;
}

/* ref() / unref(): keep the process alive while native work the JS layer
 * waits for is in flight (gort.fromHandle). */
static napi_value js_ref(napi_env env, napi_callback_info info)
{
    (void)info;
    genv_hold(genv_get(env));
    return NULL;
}

static napi_value js_unref(napi_env env, napi_callback_info info)
{
    (void)info;
    genv_release(genv_get(env));
    return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */)
{
    int rc = gort_init(NULL);
    if (rc < 0 && rc != GORT_EALREADY)
        return throw_gort(env, rc);
    genv *e = calloc(1, sizeof *e);
    if (!e)
        return throw_gort(env, GORT_ENOMEM);
    e->env = env;
    e->thread = pthread_self();
    e->refs = 1;
    pthread_mutex_init(&e->mu, NULL);
    e->loop = gort_loop_new();
    int fd = e->loop ? gort_loop_fd(e->loop) : GORT_ENOMEM;
    uv_loop_t *uv = NULL;
    if (fd < 0 || napi_get_uv_event_loop(env, &uv) != napi_ok ||
        uv_poll_init(uv, &e->poll, fd) != 0) {
        if (e->loop)
            gort_loop_free(e->loop);
        free(e);
        return throw_gort(env, fd < 0 ? fd : GORT_ENOMEM);
    }
    atomic_fetch_add(&live_loops, 1);
    e->poll.data = e;
    uv_poll_start(&e->poll, UV_READABLE, on_poll);
    uv_unref((uv_handle_t *)&e->poll);
    uv_timer_init(uv, &e->orphan_timer); /* cannot fail (libuv: no allocation) */
    e->orphan_timer.data = e;
    uv_unref((uv_handle_t *)&e->orphan_timer); /* the orphans' genv_hold keeps the process */
    napi_set_instance_data(env, e, NULL, NULL);

    napi_value res, name, fn, global, qm;
    napi_create_object(env, &res);
    napi_create_reference(env, res, 1, &e->resource);
    napi_create_string_utf8(env, "gort", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, res, name, &e->actx);
    napi_create_function(env, "drain", NAPI_AUTO_LENGTH, drain_cb, e, &fn);
    napi_create_reference(env, fn, 1, &e->drain_fn);
    napi_get_global(env, &global);
    napi_get_named_property(env, global, "queueMicrotask", &qm);
    napi_create_reference(env, qm, 1, &e->queue_microtask);
    napi_add_async_cleanup_hook(env, env_cleanup, e, &e->cleanup);

    static const export_fn fns[] = { { "procs", js_procs }, { "goroutines", js_goroutines },
                                     { "ref", js_ref }, { "unref", js_unref },
                                     { "liveLoops", js_live_loops } };
    define_fns(env, exports, fns, sizeof fns / sizeof fns[0]);
    napi_value v;
    napi_set_named_property(env, exports, "errors", err_names(env));
    napi_create_string_utf8(env, gort_version_string(), NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, exports, "version", v);
    chan_init(env, exports);
    sync_init(env, exports);
    promise_init(env, exports);
    native_init(env, exports);
    return exports;
}
