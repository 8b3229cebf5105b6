/*
 * sync.c — gort.sleep, gort.WaitGroup and gort.Mutex.
 *
 * sleep is a timer on the env's gort loop (it runs on the JS thread and
 * keeps the process alive, like setTimeout). WaitGroup and Mutex wrap a
 * gort_wg / gort_mutex in a refcounted cell (the JS object holds one
 * reference, a waiting op another, so a wait outlives a collected
 * WaitGroup). The fast paths (wg counter at zero, an unlocked mutex) run on
 * the JS thread; otherwise a loop-bound goroutine waits (an op, addon.c).
 * Misuse that gort treats as fatal (negative counter, unlock of an unlocked
 * mutex) is caught by the JS layer (lib/sync.js) with a JS error first.
 */
#include "gortnode.h"

#include <stdatomic.h>
#include <stdlib.h>

typedef struct cell {
    atomic_long refs;
    gort_wg     wg;
    gort_mutex  mu;
} cell;

static cell *cell_retain(cell *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

static void cell_release(cell *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1)
        free(c);
}

static void cell_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    cell_release(data);
}

static napi_value arg1(napi_env env, napi_callback_info info, size_t n, napi_value *a)
{
    size_t argc = n;
    napi_get_cb_info(env, info, &argc, a, NULL, NULL);
    return argc ? a[0] : NULL;
}

static cell *get_cell(napi_env env, napi_value v)
{
    void *p = NULL;
    if (!v || napi_get_value_external(env, v, &p) != napi_ok || !p) {
        throw_type(env, "expected a gort sync handle");
        return NULL;
    }
    return p;
}

/* ---- sleep --------------------------------------------------------------- */

typedef struct sleeper {
    genv         *e;
    napi_deferred d;
} sleeper;

static void sleep_fire(void *arg)
{
    sleeper *s = arg;
    napi_env env = s->e->env;
    napi_handle_scope hs;
    if (!s->e->dead && napi_open_handle_scope(env, &hs) == napi_ok) {
        napi_value u;
        napi_get_undefined(env, &u);
        napi_resolve_deferred(env, s->d, u);
        napi_close_handle_scope(env, hs);
    }
    genv_release(s->e);
    free(s);
}

static napi_value js_sleep(napi_env env, napi_callback_info info)
{
    napi_value a[1], p;
    double ms = 0;
    if (arg1(env, info, 1, a))
        napi_get_value_double(env, a[0], &ms);
    genv *e = genv_get(env);
    sleeper *s = malloc(sizeof *s);
    if (!s)
        return throw_gort(env, GORT_ENOMEM);
    s->e = e;
    NAPI_OK(env, napi_create_promise(env, &s->d, &p));
    int64_t id = gort_loop_set_timeout(e->loop, (int64_t)(ms * 1e6), sleep_fire, s);
    if (id < 0) {
        napi_reject_deferred(env, s->d, gort_error(env, (int)id, NULL));
        free(s);
        return p;
    }
    genv_hold(e);
    genv_kick(e);
    return p;
}

/* ---- wait groups and mutexes --------------------------------------------- */

static napi_value js_cell_new(napi_env env, napi_callback_info info)
{
    (void)info;
    napi_value v;
    cell *c = calloc(1, sizeof *c);
    if (!c)
        return throw_gort(env, GORT_ENOMEM);
    atomic_init(&c->refs, 1);
    if (napi_create_external(env, c, cell_finalize, NULL, &v) != napi_ok) {
        free(c);
        return NULL;
    }
    return v;
}

static napi_value js_wg_add(napi_env env, napi_callback_info info)
{
    napi_value a[2];
    size_t argc = 2;
    napi_get_cb_info(env, info, &argc, a, NULL, NULL);
    cell *c = get_cell(env, argc ? a[0] : NULL);
    int64_t n;
    if (!c || argc < 2 || napi_get_value_int64(env, a[1], &n) != napi_ok)
        return NULL;
    gort_wg_add(&c->wg, n);
    genv_kick(genv_get(env)); /* waiters may be ready */
    return NULL;
}

typedef struct cell_op {
    op    base;
    cell *c;
    bool  mutex; /* lock the mutex, else wait for the group */
} cell_op;

static void cell_op_run(op *o)
{
    cell_op *c = (cell_op *)o;
    if (c->mutex)
        gort_mutex_lock(&c->c->mu);
    else
        gort_wg_wait(&c->c->wg);
}

static napi_value cell_op_done(napi_env env, op *o, bool *ok)
{
    (void)env;
    (void)ok;
    cell_release(((cell_op *)o)->c);
    return NULL;
}

static void cell_op_discard(op *o)
{
    cell_release(((cell_op *)o)->c);
}

static napi_value start_cell_op(napi_env env, cell *c, bool mutex)
{
    cell_op *o = calloc(1, sizeof *o);
    if (!o)
        return throw_gort(env, GORT_ENOMEM);
    o->base.run = cell_op_run;
    o->base.done = cell_op_done;
    o->base.discard = cell_op_discard;
    o->c = cell_retain(c);
    o->mutex = mutex;
    return op_start(env, &o->base);
}

static napi_value js_wg_wait(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    cell *c = get_cell(env, arg1(env, info, 1, a));
    if (!c)
        return NULL;
    if (gort_wg_wait_until(&c->wg, GORT_NOWAIT) == 0)
        return promise_resolved(env, NULL, true);
    return start_cell_op(env, c, false);
}

static napi_value js_mutex_lock(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    cell *c = get_cell(env, arg1(env, info, 1, a));
    if (!c)
        return NULL;
    if (gort_mutex_trylock(&c->mu) == 0)
        return promise_resolved(env, NULL, true);
    return start_cell_op(env, c, true);
}

static napi_value js_mutex_trylock(napi_env env, napi_callback_info info)
{
    napi_value a[1], v;
    cell *c = get_cell(env, arg1(env, info, 1, a));
    if (!c)
        return NULL;
    napi_get_boolean(env, gort_mutex_trylock(&c->mu) == 0, &v);
    return v;
}

static napi_value js_mutex_unlock(napi_env env, napi_callback_info info)
{
    napi_value a[1];
    cell *c = get_cell(env, arg1(env, info, 1, a));
    if (c) {
        gort_mutex_unlock(&c->mu);
        genv_kick(genv_get(env)); /* a waiter may hold it now */
    }
    return NULL;
}

void sync_init(napi_env env, napi_value exports)
{
    static const export_fn fns[] = {
        { "sleep", js_sleep },           { "cellNew", js_cell_new },
        { "wgAdd", js_wg_add },          { "wgWait", js_wg_wait },
        { "mutexLock", js_mutex_lock },  { "mutexTryLock", js_mutex_trylock },
        { "mutexUnlock", js_mutex_unlock },
    };
    define_fns(env, exports, fns, sizeof fns / sizeof fns[0]);
}
