/*
 * spawn — cost of creating, running and retiring a goroutine.
 *
 * Two shapes, N goroutines each (default 1,000,000):
 *
 *  ns_per_go_chain  Go's BenchmarkCreateGoroutines: P chains (P = number of
 *                   Ps); each goroutine spawns the next one of its chain and
 *                   exits, the last one signals a wait group. Few goroutines
 *                   are alive at once, so this measures the recycled path
 *                   (free G + cached stack).
 *  ns_per_go_wg     The "spawn + join" idiom: the main goroutine spawns N
 *                   goroutines whose body is wg.Done(), then waits on the
 *                   wait group (wg.Add(N) up front). Many goroutines can be
 *                   alive at once, so queue overflow, stealing and stack
 *                   allocation show.
 *
 * A small warm-up (1000 goroutines) runs first in both languages, so engine
 * threads exist before the clock starts. Metric: wall time / N.
 *
 * usage: spawn [n]
 */
#include "bench.h"

static gort_wg g_wg = GORT_WG_INIT;
static long long g_n;
static double g_chain_ns, g_wg_ns;

static void chain(void *arg)
{
    intptr_t n = (intptr_t)arg;
    if (n == 0) {
        gort_wg_done(&g_wg);
        return;
    }
    bench_go(chain, (void *)(n - 1));
}

static void leaf(void *arg)
{
    (void)arg;
    gort_wg_done(&g_wg);
}

static void bench(void *arg)
{
    (void)arg;
    int procs = gort_procs();
    if (procs < 1)
        procs = 1;

    /* warm-up */
    gort_wg_add(&g_wg, 1000);
    for (int i = 0; i < 1000; i++)
        bench_go(leaf, NULL);
    gort_wg_wait(&g_wg);

    /* chains (BenchmarkCreateGoroutines) */
    long long per = g_n / procs;
    gort_wg_add(&g_wg, procs);
    int64_t t0 = gort_now();
    for (int p = 0; p < procs; p++)
        bench_go(chain, (void *)(intptr_t)per);
    gort_wg_wait(&g_wg);
    int64_t t1 = gort_now();
    g_chain_ns = (double)(t1 - t0) / (double)(per * procs);

    /* spawn N from one goroutine, join with a wait group */
    gort_wg_add(&g_wg, g_n);
    t0 = gort_now();
    for (long long i = 0; i < g_n; i++)
        bench_go(leaf, NULL);
    gort_wg_wait(&g_wg);
    t1 = gort_now();
    g_wg_ns = (double)(t1 - t0) / (double)g_n;
}

int main(int argc, char **argv)
{
    g_n = bench_arg(argc, argv, 1, 1000000);
    bench_main(bench, NULL);
    bench_result("ns_per_go_chain", g_chain_ns, "ns");
    bench_result("ns_per_go_wg", g_wg_ns, "ns");
    return 0;
}
