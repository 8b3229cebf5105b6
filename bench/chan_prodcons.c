/*
 * chan_prodcons — producer/consumer throughput (Go's BenchmarkChanProdCons).
 *
 * For each capacity in {0, 10, 128}: P producers and P consumers (P = number
 * of Ps) share one channel of int64. Producers claim batches of 1000 sends
 * from a shared atomic counter (Go's CallsPerSched) and send 1 per item;
 * when the counter runs out each producer sends one 0, and a consumer stops
 * at the first 0 it receives. No local work (Go's localWork = 0). N items
 * per capacity (default 3,000,000). Metric: wall time / N, per capacity.
 *
 * Go twin: benchmarkChanProdCons(b, chanSize, 0) from Go's chan_test.go,
 * written out as a program.
 *
 * usage: chan_prodcons [items-per-capacity]
 */
#include "bench.h"

#include <stdatomic.h>

#define CALLS_PER_SCHED 1000

static gort_chan *g_ch;
static _Atomic long long g_batches;
static gort_wg g_wg = GORT_WG_INIT;
static long long g_n;
static const size_t k_caps[] = {0, 10, 128};
static double g_ns[3];

static void producer(void *arg)
{
    (void)arg;
    int64_t one = 1, zero = 0;
    while (atomic_fetch_sub(&g_batches, 1) - 1 >= 0) {
        for (int i = 0; i < CALLS_PER_SCHED; i++)
            gort_chan_send(g_ch, &one);
    }
    gort_chan_send(g_ch, &zero);
    gort_wg_done(&g_wg);
}

static void consumer(void *arg)
{
    (void)arg;
    int64_t v;
    for (;;) {
        if (gort_chan_recv(g_ch, &v) != 0)
            bench_die("chan_prodcons: recv failed");
        if (v == 0)
            break;
    }
    gort_wg_done(&g_wg);
}

static void bench(void *arg)
{
    (void)arg;
    int procs = gort_procs();
    if (procs < 1)
        procs = 1;
    for (int c = 0; c < 3; c++) {
        long long batches = g_n / CALLS_PER_SCHED;
        g_ch = bench_chan(sizeof(int64_t), k_caps[c]);
        atomic_store(&g_batches, batches);
        gort_wg_add(&g_wg, 2 * procs);
        int64_t t0 = gort_now();
        for (int p = 0; p < procs; p++) {
            bench_go(producer, NULL);
            bench_go(consumer, NULL);
        }
        gort_wg_wait(&g_wg);
        int64_t t1 = gort_now();
        gort_chan_release(g_ch);
        g_ns[c] = (double)(t1 - t0) / (double)(batches * CALLS_PER_SCHED);
    }
}

int main(int argc, char **argv)
{
    g_n = bench_arg(argc, argv, 1, 3000000);
    if (g_n < CALLS_PER_SCHED)
        g_n = CALLS_PER_SCHED;
    bench_main(bench, NULL);
    bench_result("ns_cap0", g_ns[0], "ns");
    bench_result("ns_cap10", g_ns[1], "ns");
    bench_result("ns_cap128", g_ns[2], "ns");
    return 0;
}
