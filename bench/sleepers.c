/*
 * sleepers — timer scalability and accuracy.
 *
 * N goroutines (default 100,000) each sleep a pseudo-random duration in
 * [0, 10 ms], derived from a splitmix64 sequence with a fixed seed, so the C
 * benchmark and its Go twin sleep exactly the same durations. Each goroutine
 * reads the clock right before and after its sleep; oversleep = measured -
 * requested.
 *
 *   wall_ms              spawn of the first sleeper .. last one done
 *   oversleep_mean_us    mean oversleep
 *   oversleep_p99_us     99th percentile oversleep (informational)
 *
 * Go twin: time.Sleep in the same goroutines, time.Now() (monotonic) clock.
 *
 * usage: sleepers [n] [seed]
 */
#include "bench.h"

#define MAX_SLEEP_NS 10000000ULL /* 10 ms */

static long long g_n;
static uint64_t g_seed;
static int64_t *g_dur;  /* requested ns, per goroutine */
static int64_t *g_over; /* measured - requested, per goroutine */
static gort_wg g_wg = GORT_WG_INIT;
static double g_wall_ms, g_mean_us, g_p99_us;

static void sleeper(void *arg)
{
    intptr_t i = (intptr_t)arg;
    int64_t d = g_dur[i];
    int64_t t0 = gort_now();
    gort_sleep(d);
    int64_t t1 = gort_now();
    g_over[i] = (t1 - t0) - d;
    gort_wg_done(&g_wg);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void bench(void *arg)
{
    (void)arg;
    gort_wg_add(&g_wg, g_n);
    int64_t t0 = gort_now();
    for (long long i = 0; i < g_n; i++)
        bench_go(sleeper, (void *)(intptr_t)i);
    gort_wg_wait(&g_wg);
    int64_t t1 = gort_now();
    g_wall_ms = (double)(t1 - t0) / 1e6;
}

int main(int argc, char **argv)
{
    g_n = bench_arg(argc, argv, 1, 100000);
    g_seed = (uint64_t)bench_arg(argc, argv, 2, 42);
    g_dur = malloc(sizeof(int64_t) * (size_t)g_n);
    g_over = malloc(sizeof(int64_t) * (size_t)g_n);
    if (g_dur == NULL || g_over == NULL)
        bench_die("out of memory");
    uint64_t st = g_seed;
    for (long long i = 0; i < g_n; i++)
        g_dur[i] = (int64_t)(bench_splitmix64(&st) % (MAX_SLEEP_NS + 1));

    bench_main(bench, NULL);

    double sum = 0;
    for (long long i = 0; i < g_n; i++)
        sum += (double)g_over[i];
    qsort(g_over, (size_t)g_n, sizeof(int64_t), cmp_i64);
    g_mean_us = sum / (double)g_n / 1e3;
    g_p99_us = (double)g_over[(g_n * 99) / 100] / 1e3;
    if (g_over[0] < 0)
        fprintf(stderr, "sleepers: warning: a sleep returned %.1f us early\n", (double)-g_over[0] / 1e3);

    bench_result("wall_ms", g_wall_ms, "ms");
    bench_result("oversleep_mean_us", g_mean_us, "us");
    bench_result("oversleep_p99_us", g_p99_us, "us");
    free(g_dur);
    free(g_over);
    return 0;
}
