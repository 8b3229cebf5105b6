/*
 * select_recv2 — uncontended two-case select receive
 * (Go's BenchmarkSelectUncontended).
 *
 * P goroutines (P = number of Ps) run in parallel, each with two private
 * channels of capacity 1, c1 holding one value. Each iteration selects a
 * receive on {c1, c2} and sends the value to the other channel, so exactly
 * one case is ready. N iterations in total (default 10,000,000), split over
 * the goroutines (Go's RunParallel). Metric: wall time / N.
 *
 * usage: select_recv2 [iterations]
 */
#include "bench.h"

static long long g_per;
static gort_wg g_wg = GORT_WG_INIT;
static double g_ns;

static void worker(void *arg)
{
    (void)arg;
    gort_chan *c1 = bench_chan(sizeof(int64_t), 1);
    gort_chan *c2 = bench_chan(sizeof(int64_t), 1);
    int64_t v = 0;
    gort_chan_send(c1, &v);
    gort_case cases[2] = {
        {.chan = c1, .dir = GORT_RECV, .elem = &v},
        {.chan = c2, .dir = GORT_RECV, .elem = &v},
    };
    for (long long i = 0; i < g_per; i++) {
        int k = gort_select(cases, 2, GORT_FOREVER);
        if (k == 0)
            gort_chan_send(c2, &v);
        else if (k == 1)
            gort_chan_send(c1, &v);
        else
            bench_die("select_recv2: gort_select returned %d (%s)", k, gort_err_name(k));
    }
    gort_chan_release(c1);
    gort_chan_release(c2);
    gort_wg_done(&g_wg);
}

static void bench(void *arg)
{
    long long n = *(long long *)arg;
    int procs = gort_procs();
    if (procs < 1)
        procs = 1;
    g_per = n / procs;
    gort_wg_add(&g_wg, procs);
    int64_t t0 = gort_now();
    for (int p = 0; p < procs; p++)
        bench_go(worker, NULL);
    gort_wg_wait(&g_wg);
    int64_t t1 = gort_now();
    g_ns = (double)(t1 - t0) / (double)(g_per * procs);
}

int main(int argc, char **argv)
{
    long long n = bench_arg(argc, argv, 1, 10000000);
    bench_main(bench, &n);
    bench_result("ns_per_op", g_ns, "ns");
    return 0;
}
