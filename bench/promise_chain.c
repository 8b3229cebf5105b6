/*
 * promise_chain — the cost of one link of a then-chain.
 *
 * On a promise already fulfilled with 0, build a chain of N links
 * (default 1,000,000): p = gort_promise_then(p, loop, add_one, NULL, NULL),
 * N times (each reaction fulfils its `next` with value + 1), then let the
 * loop run the chain as microtasks. The build happens in the loop's first
 * task, as a JavaScript main script would. The clock runs from the first
 * then() to the last reaction, which checks the final value; the builder
 * drops its reference to each link as it goes (the chain keeps them alive).
 * A warm-up chain of N/10 runs first.
 *
 *   ns_per_then   wall time / N
 *
 * Node twin (bench/node/promise_chain.js): p = p.then(v => v + 1).
 *
 * usage: promise_chain [n]
 */
#include "loop_bench.h"

static gort_loop *g_loop;
static long long g_n;
static int64_t g_t0, g_t1;

static void add_one(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)ud;
    gort_promise_resolve(next, (void *)((intptr_t)gort_promise_value(settled) + 1), NULL);
}

static void at_end(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)ud;
    g_t1 = gort_now();
    intptr_t v = (intptr_t)gort_promise_value(settled);
    if (v != (intptr_t)g_n)
        bench_die("promise_chain: got %lld, want %lld", (long long)v, g_n);
}

static void build(void *arg)
{
    (void)arg;
    g_t0 = gort_now();
    gort_promise *p = gort_promise_new();
    if (p == NULL)
        bench_die("gort_promise_new returned NULL");
    gort_promise_resolve(p, (void *)(intptr_t)0, NULL);
    for (long long i = 0; i < g_n; i++) {
        gort_promise *next = gort_promise_then(p, g_loop, add_one, NULL, NULL);
        if (next == NULL)
            bench_die("gort_promise_then returned NULL at %lld", i);
        gort_promise_release(p);
        p = next;
    }
    gort_promise *last = gort_promise_then(p, g_loop, at_end, NULL, NULL);
    if (last == NULL)
        bench_die("gort_promise_then returned NULL");
    gort_promise_release(p);
    gort_promise_release(last);
}

int main(int argc, char **argv)
{
    long long n = bench_arg(argc, argv, 1, 1000000);
    g_loop = lbench_start();
    g_n = n / 10 > 0 ? n / 10 : 1;
    lbench_run(g_loop, build, NULL); /* warm-up */
    g_n = n;
    g_t1 = 0;
    lbench_run(g_loop, build, NULL);
    if (g_t1 == 0)
        bench_die("promise_chain: the chain never finished");
    lbench_stop(g_loop);
    bench_result("ns_per_then", (double)(g_t1 - g_t0) / (double)n, "ns");
    return 0;
}
