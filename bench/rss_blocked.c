/*
 * rss_blocked — memory cost of a blocked goroutine.
 *
 * The main goroutine reads VmRSS (/proc/self/status) as a baseline, then
 * spawns N goroutines (default 1,000,000); each signals a "started" wait
 * group and blocks receiving from one shared unbuffered channel. Once all N
 * are blocked, VmRSS is read again. Then the channel is closed, which
 * releases every receiver, and the program waits for all of them to exit.
 *
 *   bytes_per_g   (VmRSS blocked - VmRSS baseline) / N
 *   spawn_ms      first spawn .. all N blocked       (informational)
 *   release_ms    close .. all N exited              (informational)
 *
 * Go twin: same, with `<-ch` and close(ch); no GC is forced.
 *
 * usage: rss_blocked [n]
 */
#include "bench.h"

static long long g_n;
static gort_chan *g_ch;
static gort_wg g_started = GORT_WG_INIT, g_done = GORT_WG_INIT;
static double g_bytes_per_g, g_spawn_ms, g_release_ms;

static void blocked(void *arg)
{
    (void)arg;
    gort_wg_done(&g_started);
    int rc = gort_chan_recv(g_ch, NULL);
    if (rc != GORT_ECLOSED)
        bench_die("rss_blocked: recv returned %s, want GORT_ECLOSED", gort_err_name(rc));
    gort_wg_done(&g_done);
}

static void bench(void *arg)
{
    (void)arg;
    g_ch = bench_chan(sizeof(int64_t), 0);
    long long base = bench_vmrss();
    gort_wg_add(&g_started, g_n);
    gort_wg_add(&g_done, g_n);
    int64_t t0 = gort_now();
    for (long long i = 0; i < g_n; i++)
        bench_go(blocked, NULL);
    gort_wg_wait(&g_started);
    int64_t t1 = gort_now();
    long long rss = bench_vmrss();
    if (base < 0 || rss < 0)
        bench_die("cannot read VmRSS from /proc/self/status");
    int64_t t2 = gort_now();
    gort_chan_close(g_ch);
    gort_wg_wait(&g_done);
    int64_t t3 = gort_now();
    gort_chan_release(g_ch);
    g_bytes_per_g = (double)(rss - base) / (double)g_n;
    g_spawn_ms = (double)(t1 - t0) / 1e6;
    g_release_ms = (double)(t3 - t2) / 1e6;
    fprintf(stderr, "rss_blocked: baseline %lld KiB, blocked %lld KiB\n", base / 1024, rss / 1024);
}

int main(int argc, char **argv)
{
    g_n = bench_arg(argc, argv, 1, 1000000);
    bench_main(bench, NULL);
    bench_result("bytes_per_g", g_bytes_per_g, "B");
    bench_result("spawn_ms", g_spawn_ms, "ms");
    bench_result("release_ms", g_release_ms, "ms");
    return 0;
}
