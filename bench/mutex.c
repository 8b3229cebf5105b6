/*
 * mutex — contended gort_mutex.
 *
 * G goroutines (default 4) each do K (default 10,000,000) iterations of
 * lock; counter++; unlock on one shared mutex, on all Ps. Metric: wall time
 * / (G*K) lock-unlock pairs.
 *
 * Go twin: sync.Mutex, same shape (cf. Go's BenchmarkMutex, which uses
 * RunParallel with an empty critical section).
 *
 * usage: mutex [iters-per-goroutine] [goroutines]
 */
#include "bench.h"

static gort_mutex g_mu = GORT_MUTEX_INIT;
static gort_wg g_wg = GORT_WG_INIT;
static long long g_k, g_n;
static volatile long long g_counter;
static double g_ns;

static void worker(void *arg)
{
    (void)arg;
    /* The bound in a local, as in the Go twin: g_k shares a cache line with
     * g_counter, and rereading it after every (external) unlock call would
     * pull that line across cores once per iteration. */
    long long k = g_k;
    for (long long i = 0; i < k; i++) {
        gort_mutex_lock(&g_mu);
        g_counter = g_counter + 1;
        gort_mutex_unlock(&g_mu);
    }
    gort_wg_done(&g_wg);
}

static void bench(void *arg)
{
    (void)arg;
    gort_wg_add(&g_wg, g_n);
    int64_t t0 = gort_now();
    for (long long i = 0; i < g_n; i++)
        bench_go(worker, NULL);
    gort_wg_wait(&g_wg);
    int64_t t1 = gort_now();
    if (g_counter != g_n * g_k)
        bench_die("mutex: counter is %lld, want %lld (mutual exclusion broken)", (long long)g_counter,
                  g_n * g_k);
    g_ns = (double)(t1 - t0) / (double)(g_n * g_k);
}

int main(int argc, char **argv)
{
    g_k = bench_arg(argc, argv, 1, 10000000);
    g_n = bench_arg(argc, argv, 2, 4);
    bench_main(bench, NULL);
    bench_result("ns_per_op", g_ns, "ns");
    return 0;
}
