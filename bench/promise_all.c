/*
 * promise_all — gort_promise_all over many promises.
 *
 * N promises (default 1,000,000), value i each, two shapes:
 *   ns_resolved  the inputs are already fulfilled when gort_promise_all is
 *                called;
 *   ns_async     the inputs are pending when gort_promise_all is called and
 *                are fulfilled afterwards, in order, by one macrotask.
 * Everything runs on the loop (setup in its first task, as a JavaScript
 * main script). The clock runs from creating the first input to the
 * reaction on the combined promise (which checks the sum of the values in
 * the result array) plus releasing the inputs and the result (the C side's
 * equivalent of letting the garbage collector have them). Per promise.
 * A warm-up of N/10 runs each shape first.
 *
 * Node twin (bench/node/promise_all.js): Promise.all(ps).then(...), inputs
 * from Promise.resolve(i) or fulfilled by a setImmediate callback.
 *
 * usage: promise_all [n]
 */
#include "loop_bench.h"

static gort_loop *g_loop;
static long long g_n;
static gort_promise **g_ps;
static gort_promise *g_all;
static int g_checked;

static void on_all(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)ud;
    if (gort_promise_state(settled) != GORT_FULFILLED)
        bench_die("promise_all: combined promise not fulfilled (%s)",
                  gort_err_name(gort_promise_error(settled)));
    void **vals = gort_promise_value(settled);
    long long sum = 0;
    for (long long i = 0; i < g_n; i++)
        sum += (intptr_t)vals[i];
    if (sum != g_n * (g_n - 1) / 2)
        bench_die("promise_all: bad sum %lld", sum);
    g_checked = 1;
}

static void make_all(void)
{
    g_all = gort_promise_all(g_ps, (size_t)g_n);
    if (g_all == NULL)
        bench_die("gort_promise_all returned NULL");
    gort_promise *r = gort_promise_then(g_all, g_loop, on_all, NULL, NULL);
    if (r == NULL)
        bench_die("gort_promise_then returned NULL");
    gort_promise_release(r);
}

static void new_inputs(void)
{
    for (long long i = 0; i < g_n; i++) {
        g_ps[i] = gort_promise_new();
        if (g_ps[i] == NULL)
            bench_die("gort_promise_new returned NULL");
    }
}

static void setup_resolved(void *arg)
{
    (void)arg;
    new_inputs();
    for (long long i = 0; i < g_n; i++)
        gort_promise_resolve(g_ps[i], (void *)(intptr_t)i, NULL);
    make_all();
}

static void resolve_inputs(void *arg)
{
    (void)arg;
    for (long long i = 0; i < g_n; i++)
        gort_promise_resolve(g_ps[i], (void *)(intptr_t)i, NULL);
}

static void setup_async(void *arg)
{
    (void)arg;
    new_inputs();
    make_all();
    if (gort_loop_post(g_loop, resolve_inputs, NULL) != 0)
        bench_die("gort_loop_post failed");
}

static double one(long long n, gort_task_fn setup)
{
    g_n = n;
    g_checked = 0;
    int64_t t0 = gort_now();
    lbench_run(g_loop, setup, NULL);
    if (!g_checked)
        bench_die("promise_all: the combined promise never settled");
    for (long long i = 0; i < n; i++)
        gort_promise_release(g_ps[i]);
    gort_promise_release(g_all);
    int64_t t1 = gort_now();
    return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long long n = bench_arg(argc, argv, 1, 1000000);
    long long w = n / 10 > 0 ? n / 10 : 1;
    g_ps = malloc(sizeof *g_ps * (size_t)n);
    if (g_ps == NULL)
        bench_die("out of memory");
    g_loop = lbench_start();
    one(w, setup_resolved);
    one(w, setup_async);
    double a = one(n, setup_resolved);
    double b = one(n, setup_async);
    lbench_stop(g_loop);
    free(g_ps);
    bench_result("ns_resolved", a, "ns");
    bench_result("ns_async", b, "ns");
    return 0;
}
