/*
 * select_contended — contended select on unbuffered channels
 * (Go's BenchmarkSelectSyncContended).
 *
 * Three shared unbuffered channels c1..c3 and a `done` channel. For each of
 * P workers (P = number of Ps) there is a sender goroutine that loops on
 * select { c1 <- 0; c2 <- 0; c3 <- 0; <-done } and a receiver goroutine
 * that does its share of N iterations (default 1,000,000) of
 * select { <-c1; <-c2; <-c3 }. Metric: wall time until all receivers are
 * done / N. Then done is closed and the senders exit.
 *
 * usage: select_contended [iterations]
 */
#include "bench.h"

static gort_chan *g_c[3], *g_done;
static long long g_per;
static gort_wg g_recv_wg = GORT_WG_INIT, g_send_wg = GORT_WG_INIT;
static double g_ns;

static void sender(void *arg)
{
    (void)arg;
    int64_t zero = 0;
    gort_case cases[4] = {
        {.chan = g_c[0], .dir = GORT_SEND, .elem = &zero},
        {.chan = g_c[1], .dir = GORT_SEND, .elem = &zero},
        {.chan = g_c[2], .dir = GORT_SEND, .elem = &zero},
        {.chan = g_done, .dir = GORT_RECV, .elem = NULL},
    };
    for (;;) {
        int k = gort_select(cases, 4, GORT_FOREVER);
        if (k == 3)
            break;
        if (k < 0)
            bench_die("select_contended: sender select returned %d (%s)", k, gort_err_name(k));
    }
    gort_wg_done(&g_send_wg);
}

static void receiver(void *arg)
{
    (void)arg;
    int64_t v;
    gort_case cases[3] = {
        {.chan = g_c[0], .dir = GORT_RECV, .elem = &v},
        {.chan = g_c[1], .dir = GORT_RECV, .elem = &v},
        {.chan = g_c[2], .dir = GORT_RECV, .elem = &v},
    };
    for (long long i = 0; i < g_per; i++) {
        int k = gort_select(cases, 3, GORT_FOREVER);
        if (k < 0)
            bench_die("select_contended: receiver select returned %d (%s)", k, gort_err_name(k));
    }
    gort_wg_done(&g_recv_wg);
}

static void bench(void *arg)
{
    long long n = *(long long *)arg;
    int procs = gort_procs();
    if (procs < 1)
        procs = 1;
    for (int i = 0; i < 3; i++)
        g_c[i] = bench_chan(sizeof(int64_t), 0);
    g_done = bench_chan(sizeof(int64_t), 0);
    g_per = n / procs;
    gort_wg_add(&g_recv_wg, procs);
    gort_wg_add(&g_send_wg, procs);
    int64_t t0 = gort_now();
    for (int p = 0; p < procs; p++) {
        bench_go(sender, NULL);
        bench_go(receiver, NULL);
    }
    gort_wg_wait(&g_recv_wg);
    int64_t t1 = gort_now();
    gort_chan_close(g_done);
    gort_wg_wait(&g_send_wg);
    for (int i = 0; i < 3; i++)
        gort_chan_release(g_c[i]);
    gort_chan_release(g_done);
    g_ns = (double)(t1 - t0) / (double)(g_per * procs);
}

int main(int argc, char **argv)
{
    long long n = bench_arg(argc, argv, 1, 1000000);
    bench_main(bench, &n);
    bench_result("ns_per_op", g_ns, "ns");
    return 0;
}
