/*
 * macrotask_chain — the cost of one macrotask, setImmediate style.
 *
 * A chain of N tasks (default 1,000,000): every task posts the next one
 * with gort_loop_post from the loop's own thread. The clock runs from
 * posting the first to the start of the last. A warm-up chain of N/10 runs
 * first.
 *
 *   ns_per_task   wall time / N
 *
 * Node twin (bench/node/macrotask_chain.js): setImmediate(step).
 *
 * usage: macrotask_chain [n]
 */
#include "loop_bench.h"

static gort_loop *g_loop;
static long long g_n, g_i;
static int64_t g_t0, g_t1;

static void step(void *arg)
{
    (void)arg;
    if (++g_i < g_n) {
        if (gort_loop_post(g_loop, step, NULL) != 0)
            bench_die("gort_loop_post failed");
    } else {
        g_t1 = gort_now();
    }
}

static void start(void *arg)
{
    (void)arg;
    g_i = 0;
    g_t0 = gort_now();
    if (gort_loop_post(g_loop, step, NULL) != 0)
        bench_die("gort_loop_post failed");
}

int main(int argc, char **argv)
{
    long long n = bench_arg(argc, argv, 1, 1000000);
    g_loop = lbench_start();
    g_n = n / 10 > 0 ? n / 10 : 1;
    lbench_run(g_loop, start, NULL);
    g_n = n;
    lbench_run(g_loop, start, NULL);
    if (g_i != n)
        bench_die("macrotask_chain: ran %lld of %lld", g_i, n);
    lbench_stop(g_loop);
    bench_result("ns_per_task", (double)(g_t1 - g_t0) / (double)n, "ns");
    return 0;
}
