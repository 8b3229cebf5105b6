/*
 * worker_pool — the seed example (examples/worker_pool.c, Go by Example's
 * "Worker Pools") scaled up: N jobs (default 1,000,000), no sleep, no
 * printing.
 *
 *     jobs := make(chan int64, numJobs); results := make(chan int64, numJobs)
 *     W workers: for j := range jobs { results <- j * 2 }; wg.Done()
 *     main: jobs <- 1..numJobs; close(jobs)
 *           go func() { wg.Wait(); close(results) }()
 *           for r := range results { total += r }
 *
 * Run with W = 3 (the seed's count) and W = 64 workers. The total is
 * checked. Metric: wall time of the whole pipeline (make .. last result
 * received), per W.
 *
 * usage: worker_pool [jobs]
 */
#include "bench.h"

static long long g_n;
static gort_chan *g_jobs, *g_results;
static gort_wg g_wg = GORT_WG_INIT;
static double g_ms[2];
static const int k_workers[2] = {3, 64};

/* for j := range jobs { results <- j * 2 } */
static void worker(void *arg)
{
    (void)arg;
    int64_t j;
    while (gort_chan_recv(g_jobs, &j) == 0) {
        int64_t r = j * 2;
        if (gort_chan_send(g_results, &r) != 0)
            bench_die("worker_pool: send on results failed");
    }
    gort_wg_done(&g_wg);
}

/* go func() { wg.Wait(); close(results) }() */
static void closer(void *arg)
{
    gort_chan *res = arg;
    gort_wg_wait(&g_wg);
    gort_chan_close(res);
    gort_chan_release(res);
}

static void bench(void *arg)
{
    (void)arg;
    for (int w = 0; w < 2; w++) {
        int64_t t0 = gort_now();
        g_jobs = bench_chan(sizeof(int64_t), (size_t)g_n);
        g_results = bench_chan(sizeof(int64_t), (size_t)g_n);
        for (int i = 0; i < k_workers[w]; i++) {
            gort_wg_add(&g_wg, 1);
            bench_go(worker, NULL);
        }
        for (int64_t j = 1; j <= g_n; j++)
            if (gort_chan_send(g_jobs, &j) != 0)
                bench_die("worker_pool: send on jobs failed");
        gort_chan_close(g_jobs);
        bench_go(closer, gort_chan_retain(g_results));
        int64_t r, total = 0;
        while (gort_chan_recv(g_results, &r) == 0)
            total += r;
        int64_t t1 = gort_now();
        if (total != g_n * (g_n + 1))
            bench_die("worker_pool: total %lld, want %lld", (long long)total, g_n * (g_n + 1));
        gort_chan_release(g_jobs);
        gort_chan_release(g_results);
        g_ms[w] = (double)(t1 - t0) / 1e6;
    }
}

int main(int argc, char **argv)
{
    g_n = bench_arg(argc, argv, 1, 1000000);
    bench_main(bench, NULL);
    bench_result("ms_w3", g_ms[0], "ms");
    bench_result("ms_w64", g_ms[1], "ms");
    return 0;
}
