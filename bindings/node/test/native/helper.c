/*
 * helper.c — a small native addon used by native.test.js: it links the same
 * libgort.so.0 as gort's addon and talks to JS only through gort handles,
 * the convention of docs/node.md ("sharing with native code"):
 *   doubler(inHandle, outHandle, n): a C goroutine receives n int64 values
 *       from `in`, sends each doubled on `out`, then closes `out`;
 *   asyncSum(n): a gort_async promise (as a BigInt gort_promise *, one
 *       reference passed to the caller) fulfilled with a malloc'd int64_t
 *       sum of 0..n-1 — or rejected with GORT_EINVAL for n < 0.
 */
#include <gort.h>
#include <node_api.h>
#include <stdlib.h>

typedef struct job {
    gort_chan *in, *out;
    int64_t    n;
} job;

static void doubler_main(void *arg)
{
    job *j = arg;
    for (int64_t i = 0; i < j->n; i++) {
        int64_t v;
        if (gort_chan_recv(j->in, &v) != 0)
            break;
        v *= 2;
        if (gort_chan_send(j->out, &v) != 0)
            break;
    }
    gort_chan_close(j->out);
    gort_chan_release(j->in);
    gort_chan_release(j->out);
    free(j);
}

static gort_chan *chan_arg(napi_env env, napi_value v)
{
    uint64_t addr = 0;
    bool lossless;
    napi_get_value_bigint_uint64(env, v, &addr, &lossless);
    return (gort_chan *)(uintptr_t)addr;
}

static napi_value doubler(napi_env env, napi_callback_info info)
{
    size_t argc = 3;
    napi_value a[3];
    napi_get_cb_info(env, info, &argc, a, NULL, NULL);
    job *j = malloc(sizeof *j);
    if (!j)
        return NULL;
    j->in = gort_chan_retain(chan_arg(env, a[0]));
    j->out = gort_chan_retain(chan_arg(env, a[1]));
    napi_get_value_int64(env, a[2], &j->n);
    if (gort_go(doubler_main, j) != 0) {
        gort_chan_release(j->in);
        gort_chan_release(j->out);
        free(j);
        napi_throw_error(env, NULL, "gort_go failed");
    }
    return NULL;
}

static void sum_main(gort_promise *p, void *arg)
{
    int64_t n = (int64_t)(intptr_t)arg;
    if (n < 0) {
        gort_promise_reject(p, GORT_EINVAL, "n must be >= 0");
        return;
    }
    int64_t *sum = malloc(sizeof *sum);
    if (!sum) {
        gort_promise_reject(p, GORT_ENOMEM, NULL);
        return;
    }
    *sum = 0;
    for (int64_t i = 0; i < n; i++)
        *sum += i;
    gort_promise_resolve(p, sum, free);
}

static napi_value async_sum(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value a[1], v;
    napi_get_cb_info(env, info, &argc, a, NULL, NULL);
    int64_t n;
    napi_get_value_int64(env, a[0], &n);
    gort_promise *p = gort_async(sum_main, (void *)(intptr_t)n);
    napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)p, &v);
    return v;
}

static napi_value release_promise(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value a[1];
    napi_get_cb_info(env, info, &argc, a, NULL, NULL);
    uint64_t addr;
    bool lossless;
    napi_get_value_bigint_uint64(env, a[0], &addr, &lossless);
    gort_promise_release((gort_promise *)(uintptr_t)addr);
    return NULL;
}

NAPI_MODULE_INIT(/* env, exports */)
{
    napi_value f;
    napi_create_function(env, "doubler", NAPI_AUTO_LENGTH, doubler, NULL, &f);
    napi_set_named_property(env, exports, "doubler", f);
    napi_create_function(env, "asyncSum", NAPI_AUTO_LENGTH, async_sum, NULL, &f);
    napi_set_named_property(env, exports, "asyncSum", f);
    napi_create_function(env, "releasePromise", NAPI_AUTO_LENGTH, release_promise, NULL, &f);
    napi_set_named_property(env, exports, "releasePromise", f);
    return exports;
}
