/*
 * gortnode.h — shared declarations of the Node-API addon (bindings/node).
 *
 * Model (docs/node.md has the long version):
 *   - One engine per process (libgort.so.0), initialised by the first env
 *     that loads the addon. Each Node environment (the main thread, each
 *     worker_thread) gets a `genv`: its own gort_loop, embedded into that
 *     env's libuv loop by a uv_poll on gort_loop_fd(), plus the JS functions
 *     the addon calls back. genv is the instance data of the env.
 *   - JS code runs only on the env's thread. Engine threads never touch JS:
 *     an operation that would block (a channel send/recv, a select, a wait
 *     group wait, a mutex lock) runs as a loop-bound goroutine of the env's
 *     gort_loop (an `op`): it parks on the JS thread's loop, and when it is
 *     done it queues a microtask on the loop that settles its JS promise.
 *     A partner on the same JS thread therefore wakes it without any thread
 *     hop; a partner elsewhere (a native goroutine) readies it through the
 *     loop's eventfd, which Node's libuv loop watches (addon.c).
 *   - JS values cross gort (in channels and promises) as `box`es: a strong
 *     napi_ref plus its genv. A box is created and its ref deleted on the
 *     env's thread only; a box freed elsewhere is handed back to the env's
 *     loop (box_free).
 *   - Lifetime of genv: refcounted. The env holds one reference until its
 *     cleanup hook; every op in flight and every box hold one. After the
 *     cleanup hook, `dead` is set (under mu): late ops and boxes are freed
 *     without touching JS, and the last reference frees the loop.
 */
#ifndef GORTNODE_H
#define GORTNODE_H

#include <gort.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

typedef struct genv {
    napi_env        env;        /* the env; valid while !dead, JS thread only */
    gort_loop      *loop;       /* this env's loop: run on the JS thread only */
    uv_poll_t       poll;       /* watches gort_loop_fd(loop) */
    pthread_t       thread;     /* the env's JS thread */
    pthread_mutex_t mu;         /* protects dead and refs' last drop vs posts */
    bool            dead;       /* the env is gone (cleanup hook ran) */
    long            refs;       /* under mu: env + ops in flight + boxes */
    int             keepalive;  /* JS thread: work that keeps the process alive */
    bool            in_run;     /* JS thread: inside gort_loop_run_once */
    bool            drain_queued; /* JS thread: a V8 microtask will drain the loop */
    napi_async_context actx;    /* async context for callbacks from uv */
    napi_ref        resource;   /* its resource object */
    napi_ref        drain_fn;   /* native function that drains the loop */
    napi_ref        queue_microtask; /* globalThis.queueMicrotask */
    napi_ref        dispatch;   /* JS: promise reaction dispatcher (lib/promise.js) */
    napi_async_cleanup_hook_handle cleanup; /* removes the uv handle at teardown */
    _Atomic long    js_mem_calls; /* fn.async calls running on JS memory (Buffers) */
    bool            wait_calls; /* under mu: the env's teardown waits for them */
    uv_async_t      calls_done; /* set up at teardown if it waits: the last such
                                 * call's end wakes the JS thread through it */
    int             teardown_steps; /* JS thread: uv handles still closing */
    struct acall   *orphans;    /* JS thread: fn.async calls whose reaction could not
                                 * be registered (ENOMEM after the call started),
                                 * polled through orphan_timer until they return */
    uv_timer_t      orphan_timer; /* runs (unref'd) while orphans is not empty */
} genv;

/* ---- addon.c: env, loop driving, boxes, errors ---- */
genv *genv_get(napi_env env);
void  genv_ref(genv *e);
void  genv_unref(genv *e);
/* Something that keeps the process alive (a timer, a native call) starts
 * or ends. JS thread only. */
void  genv_hold(genv *e);
void  genv_release(genv *e);
/* A fn.async call whose arguments point into JS memory starts (JS thread)
 * or has returned (any thread). The env's teardown waits for the running
 * ones: Node frees a worker's Buffers when its env is gone. */
void  genv_js_mem_call(genv *e, bool start);
/* An orphaned fn.async call (native.c) was queued on e->orphans: poll it. */
void  genv_watch_orphans(genv *e);
/* native.c: finish the orphans whose calls returned; true if some remain. */
bool  native_poll_orphans(genv *e);
/* The loop got work from the JS thread (a reaction, or a goroutine readied
 * by a channel operation): drain it after the current JS job. */
void  genv_kick(genv *e);

typedef struct box {
    napi_ref ref;
    genv    *e;
} box;
box  *box_new(napi_env env, napi_value v);     /* NULL + JS exception on failure */
/* One box (one reference, one genv hold) for n values kept together;
 * box_element reads value i, box_peek value 0. */
box  *box_new_n(napi_env env, const napi_value *v, size_t n);
napi_value box_element(napi_env env, const box *b, uint32_t i);
napi_value box_take(napi_env env, box *b);     /* the value; frees the box */
napi_value box_peek(napi_env env, const box *b);
void  box_free(void *b);                       /* any thread (a gort dtor) */

/* A blocking operation run by a loop-bound goroutine on behalf of JS. */
typedef struct op op;
struct op {
    genv         *e;
    napi_deferred deferred;
    void        (*run)(op *);             /* goroutine: the blocking call */
    napi_value  (*done)(napi_env, op *, bool *ok); /* JS thread: value to settle with */
    void        (*discard)(op *);         /* env gone: free what done would have */
};
/* Starts o->run on a loop-bound goroutine; returns the promise JS gets.
 * Takes o. */
napi_value op_start(napi_env env, op *o);
napi_value promise_resolved(napi_env env, napi_value v, bool ok);

/* promise.c: reject the gort.Promise object `promise` with a JS reason
 * through lib/promise.js (so unhandled rejections are tracked there).
 * JS thread, inside a handle scope. */
void reject_from_c(napi_env env, napi_value promise, napi_value reason);
/* native.c: the fulfilled value of a fn.async promise (the C result, not a
 * box): its destructor, and its JS value. */
void native_result_free(void *result);
napi_value native_result_js(napi_env env, const void *result);

/* Errors: an Error (TypeError for GORT_ECYCLE) with .code = GORT_E* name. */
napi_value gort_error(napi_env env, int err, const char *msg);
size_t js_args(napi_env env, napi_callback_info info, napi_value *a, size_t n);
napi_value throw_gort(napi_env env, int err);
napi_value throw_type(napi_env env, const char *msg);
napi_value throw_range(napi_env env, const char *msg);
bool  ok_or_throw(napi_env env, napi_status s);

/* Helpers to define exports. */
typedef struct export_fn { const char *name; napi_callback fn; } export_fn;
void  define_fns(napi_env env, napi_value obj, const export_fn *fns, size_t n);

/* ---- per-concern init functions ---- */
void chan_init(napi_env env, napi_value exports);
void sync_init(napi_env env, napi_value exports);
void promise_init(napi_env env, napi_value exports);
void native_init(napi_env env, napi_value exports);

#define NAPI_OK(env, call) do { if ((call) != napi_ok) return NULL; } while (0)

#endif
