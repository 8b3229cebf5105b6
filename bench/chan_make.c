/*
 * chan_make — channel creation + release.
 *
 * N times (default 5,000,000) in one goroutine: make a channel of int64 and
 * release it; once unbuffered (cap 0) and once buffered (cap 8, Go's
 * BenchmarkMakeChan). Metric: wall time / N, per kind.
 *
 * Go twin: make(chan int64[, 8]) stored into a package-level variable so it
 * escapes to the heap; the garbage collector reclaims it (its cost is part
 * of Go's number, as release is part of ours).
 *
 * usage: chan_make [n]
 */
#include "bench.h"

static long long g_n;
static double g_ns[2];

static void bench(void *arg)
{
    (void)arg;
    const size_t caps[2] = {0, 8};
    for (int k = 0; k < 2; k++) {
        int64_t t0 = gort_now();
        for (long long i = 0; i < g_n; i++) {
            gort_chan *ch = gort_chan_make(sizeof(int64_t), caps[k]);
            if (ch == NULL)
                bench_die("gort_chan_make returned NULL");
            gort_chan_release(ch);
        }
        int64_t t1 = gort_now();
        g_ns[k] = (double)(t1 - t0) / (double)g_n;
    }
}

int main(int argc, char **argv)
{
    g_n = bench_arg(argc, argv, 1, 5000000);
    bench_main(bench, NULL);
    bench_result("ns_unbuffered", g_ns[0], "ns");
    bench_result("ns_cap8", g_ns[1], "ns");
    return 0;
}
