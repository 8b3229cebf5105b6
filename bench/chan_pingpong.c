/*
 * chan_pingpong — unbuffered channel round trip.
 *
 * The main goroutine sends a value on unbuffered channel `ping`; a partner
 * goroutine receives it and sends it back on unbuffered channel `pong`; the
 * main goroutine receives it. N round trips (default 2,000,000) on all Ps.
 * Metric: wall time / N (one round trip = 2 sends + 2 receives + 2 park /
 * ready pairs).
 *
 * Go twin: the same with two `chan int64` (cf. Go's BenchmarkChanSync,
 * which does the same hand-off on one channel).
 *
 * usage: chan_pingpong [round-trips]
 */
#include "bench.h"

static long long g_n;
static gort_chan *g_ping, *g_pong;
static gort_wg g_wg = GORT_WG_INIT;
static double g_ns;

static void partner(void *arg)
{
    (void)arg;
    int64_t v;
    for (;;) {
        if (gort_chan_recv(g_ping, &v) != 0)
            bench_die("chan_pingpong: recv failed");
        if (v < 0)
            break;
        if (gort_chan_send(g_pong, &v) != 0)
            bench_die("chan_pingpong: send failed");
    }
    gort_wg_done(&g_wg);
}

static void bench(void *arg)
{
    (void)arg;
    g_ping = bench_chan(sizeof(int64_t), 0);
    g_pong = bench_chan(sizeof(int64_t), 0);
    gort_wg_add(&g_wg, 1);
    bench_go(partner, NULL);
    int64_t t0 = gort_now();
    for (int64_t i = 0; i < g_n; i++) {
        int64_t v = i, w = -1;
        gort_chan_send(g_ping, &v);
        gort_chan_recv(g_pong, &w);
        if (w != i)
            bench_die("chan_pingpong: got %lld, want %lld", (long long)w, (long long)i);
    }
    int64_t t1 = gort_now();
    int64_t stop = -1;
    gort_chan_send(g_ping, &stop);
    gort_wg_wait(&g_wg);
    gort_chan_release(g_ping);
    gort_chan_release(g_pong);
    g_ns = (double)(t1 - t0) / (double)g_n;
}

int main(int argc, char **argv)
{
    g_n = bench_arg(argc, argv, 1, 2000000);
    bench_main(bench, NULL);
    bench_result("ns_per_roundtrip", g_ns, "ns");
    return 0;
}
