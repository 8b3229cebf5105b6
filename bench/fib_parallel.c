/*
 * fib_parallel — CPU-bound parallel speed-up.
 *
 * T tasks (default 16), each computing fib(35) recursively in its own
 * goroutine, spread over the Ps. bench/run.py runs this binary with
 * GORT_PROCS=1 and with GORT_PROCS=<all CPUs> and reports
 * speedup = seconds(P=1) / seconds(P=all); T being a multiple of the P count
 * keeps the ideal speed-up equal to P. The task count exceeds P so the run
 * queues and work stealing take part.
 *
 * Go twin: the same recursive fib in T goroutines under GOMAXPROCS=1/all.
 * (Absolute seconds differ between gcc and Go code generation; the
 * speed-up is what is compared.)
 *
 * usage: fib_parallel [tasks] [n]
 */
#include "bench.h"

static long long g_tasks;
static volatile int g_fib_n;
static long long *g_res;
static gort_wg g_wg = GORT_WG_INIT;
static double g_seconds;

__attribute__((noinline)) static long long fib(int n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static void task(void *arg)
{
    intptr_t i = (intptr_t)arg;
    g_res[i] = fib(g_fib_n);
    gort_wg_done(&g_wg);
}

static void bench(void *arg)
{
    (void)arg;
    gort_wg_add(&g_wg, g_tasks);
    int64_t t0 = gort_now();
    for (long long i = 0; i < g_tasks; i++)
        bench_go(task, (void *)(intptr_t)i);
    gort_wg_wait(&g_wg);
    int64_t t1 = gort_now();
    g_seconds = (double)(t1 - t0) / 1e9;
}

int main(int argc, char **argv)
{
    g_tasks = bench_arg(argc, argv, 1, 16);
    g_fib_n = (int)bench_arg(argc, argv, 2, 35);
    g_res = calloc((size_t)g_tasks, sizeof(long long));
    if (g_res == NULL)
        bench_die("out of memory");
    bench_main(bench, NULL);
    for (long long i = 1; i < g_tasks; i++)
        if (g_res[i] != g_res[0])
            bench_die("fib results differ: %lld vs %lld", g_res[i], g_res[0]);
    bench_result("seconds", g_seconds, "s");
    free(g_res);
    return 0;
}
