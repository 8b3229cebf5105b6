/*
 * preempt_latency — how long a goroutine that is ready to run waits behind a
 * goroutine that computes without ever calling gort (issue 4).
 *
 * One P. A hog spins on an atomic counter (no calls, no yields: only
 * asynchronous preemption can take the P away). A second goroutine sleeps
 * 1 ms, SAMPLES times; each time it measures how late it woke. Its timer
 * fires on time, but it can only run once the hog is preempted (~10 ms
 * slice in both gort and Go). Metrics: mean and max lateness in ms.
 *
 * Go twin: bench/go/preempt_latency (GOMAXPROCS=1, same loop).
 * usage: preempt_latency [samples]
 */
#include "bench.h"

#include <stdatomic.h>

static _Atomic int g_stop;
static _Atomic long g_spins;
static long long g_samples;
static double g_mean_ms, g_max_ms;
static gort_wg g_wg = GORT_WG_INIT;

static void hog(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed))
        atomic_fetch_add_explicit(&g_spins, 1, memory_order_relaxed);
    gort_wg_done(&g_wg);
}

static void sleeper(void *arg)
{
    (void)arg;
    double sum = 0, max = 0;
    for (long long i = 0; i < g_samples; i++) {
        int64_t t0 = gort_now();
        gort_sleep(GORT_MILLISECOND);
        double late = (double)(gort_now() - t0 - GORT_MILLISECOND) / 1e6;
        sum += late;
        if (late > max)
            max = late;
    }
    g_mean_ms = sum / (double)g_samples;
    g_max_ms = max;
    atomic_store(&g_stop, 1);
    gort_wg_done(&g_wg);
}

static void bench(void *arg)
{
    (void)arg;
    gort_wg_add(&g_wg, 2);
    bench_go(hog, NULL);
    bench_go(sleeper, NULL);
    gort_wg_wait(&g_wg);
}

int main(int argc, char **argv)
{
    g_samples = bench_arg(argc, argv, 1, 20);
    gort_config cfg;
    gort_config_init(&cfg);
    cfg.procs = 1;
    if (gort_init(&cfg) != 0)
        bench_die("gort_init failed");
    if (!gort_preempt_async_enabled())
        bench_die("asynchronous preemption is off in this build (TSan, Valgrind, "
                  "GORT_ASYNCPREEMPT=0 or not x86-64)");
    int rc = gort_main(bench, NULL);
    if (rc != 0)
        bench_die("gort_main: %s", gort_strerror(rc));
    gort_shutdown();
    bench_result("late_mean_ms", g_mean_ms, "ms");
    bench_result("late_max_ms", g_max_ms, "ms");
    return 0;
}
