/*
 * yield_ping — cost of one gort_yield() context switch.
 *
 * N goroutines (default 4) each call gort_yield() ITERS times (default
 * 2000000). Run with GORT_PROCS=1 (bench/run.py does), so every yield is a
 * switch to the next runnable goroutine on the one P. Metric: wall time /
 * total yields.
 *
 * Go twin: the same goroutines calling runtime.Gosched() with GOMAXPROCS=1.
 *
 * usage: yield_ping [goroutines] [yields-per-goroutine]
 */
#include "bench.h"

static long long g_n, g_iters;
static gort_wg g_wg = GORT_WG_INIT;
static double g_ns_per_yield;

static void yielder(void *arg)
{
    (void)arg;
    for (long long i = 0; i < g_iters; i++)
        gort_yield();
    gort_wg_done(&g_wg);
}

static void bench(void *arg)
{
    (void)arg;
    gort_wg_add(&g_wg, g_n);
    int64_t t0 = gort_now();
    for (long long i = 0; i < g_n; i++)
        bench_go(yielder, NULL);
    gort_wg_wait(&g_wg);
    int64_t t1 = gort_now();
    g_ns_per_yield = (double)(t1 - t0) / (double)(g_n * g_iters);
}

int main(int argc, char **argv)
{
    g_n = bench_arg(argc, argv, 1, 4);
    g_iters = bench_arg(argc, argv, 2, 2000000);
    bench_main(bench, NULL);
    bench_result("ns_per_yield", g_ns_per_yield, "ns");
    return 0;
}
