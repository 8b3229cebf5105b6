/*
 * timeouts — many pending timeouts on one loop.
 *
 * N timeouts (default 100,000) of d ms each, d a whole number in [0, 10]
 * from splitmix64 (seed 42; the Node twin computes the same sequence), all
 * set by the loop's first task and pending at once. Each callback counts
 * itself and notes its lateness (fire time - set time - d).
 *
 *   total_ms       first set_timeout .. last callback
 *   ns_per_set     cost of one gort_loop_set_timeout (the setting loop / N)
 *   late_mean_us   mean lateness (informational; Node runs d = 0 at 1 ms)
 *
 * Node twin (bench/node/timeouts.js): setTimeout(cb, d, i).
 *
 * usage: timeouts [n] [seed]
 */
#include "loop_bench.h"

static gort_loop *g_loop;
static long long g_n, g_fired;
static int64_t *g_delay, *g_set_at;
static int64_t g_t0, g_tset, g_tend;
static double g_late_sum;

static void cb(void *arg)
{
    intptr_t i = (intptr_t)arg;
    int64_t t = gort_now();
    g_late_sum += (double)(t - g_set_at[i] - g_delay[i]);
    if (++g_fired == g_n)
        g_tend = t;
}

static void setup(void *arg)
{
    (void)arg;
    g_t0 = gort_now();
    for (long long i = 0; i < g_n; i++) {
        g_set_at[i] = gort_now();
        if (gort_loop_set_timeout(g_loop, g_delay[i], cb, (void *)(intptr_t)i) <= 0)
            bench_die("gort_loop_set_timeout failed");
    }
    g_tset = gort_now();
}

int main(int argc, char **argv)
{
    g_n = bench_arg(argc, argv, 1, 100000);
    uint64_t st = (uint64_t)bench_arg(argc, argv, 2, 42);
    g_delay = malloc(sizeof(int64_t) * (size_t)g_n);
    g_set_at = malloc(sizeof(int64_t) * (size_t)g_n);
    if (g_delay == NULL || g_set_at == NULL)
        bench_die("out of memory");
    for (long long i = 0; i < g_n; i++)
        g_delay[i] = (int64_t)(bench_splitmix64(&st) % 11) * GORT_MILLISECOND;
    g_loop = lbench_start();
    lbench_run(g_loop, setup, NULL);
    if (g_fired != g_n)
        bench_die("timeouts: %lld of %lld fired", g_fired, g_n);
    lbench_stop(g_loop);
    bench_result("total_ms", (double)(g_tend - g_t0) / 1e6, "ms");
    bench_result("ns_per_set", (double)(g_tset - g_t0) / (double)g_n, "ns");
    bench_result("late_mean_us", g_late_sum / (double)g_n / 1e3, "us");
    free(g_delay);
    free(g_set_at);
    return 0;
}
