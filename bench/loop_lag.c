/*
 * loop_lag — does the loop keep ticking while heavy computation runs?
 *
 * A 1 ms interval ticks on the loop. At the 10th tick, JOBS x fib(35) start
 * with gort_async, four per P (JOBS = 4 * gort_procs(): every core busy
 * for a while); a reaction on each counts them. Ten ticks after the last one is done the
 * interval stops. Node (bench/node/loop_lag.js, same JOBS from
 * $GORT_PROCS) can only compute on its one JavaScript thread, so its loop
 * freezes for the whole computation; here the pool computes and the loop
 * keeps ticking.
 *
 *   max_lag_ms  largest gap between consecutive ticks, minus the 1 ms period
 *   fib_ms      start of the jobs .. last one done (informational)
 *   ticks       ticks seen (informational)
 *
 * usage: loop_lag [fib_n]
 */
#include "loop_bench.h"

static gort_loop *g_loop;
static int g_fib_n, g_jobs, g_done, g_ticks, g_done_tick;
static int64_t g_iv, g_last, g_max_gap, g_fib_t0, g_fib_ms;
static long long g_sum;

static long fib(int n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static void job(gort_promise *p, void *arg)
{
    (void)arg;
    gort_promise_resolve(p, (void *)(intptr_t)fib(g_fib_n), NULL);
}

static void on_done(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)ud;
    g_sum += (intptr_t)gort_promise_value(settled);
    if (++g_done == g_jobs) {
        g_fib_ms = gort_now() - g_fib_t0;
        g_done_tick = g_ticks;
    }
}

static void tick(void *arg)
{
    (void)arg;
    int64_t t = gort_now();
    if (g_last && t - g_last > g_max_gap)
        g_max_gap = t - g_last;
    g_last = t;
    g_ticks++;
    if (g_ticks == 10) {
        g_fib_t0 = t;
        for (int j = 0; j < g_jobs; j++) {
            gort_promise *p = gort_async(job, NULL);
            if (p == NULL)
                bench_die("gort_async returned NULL");
            gort_promise *r = gort_promise_then(p, g_loop, on_done, NULL, NULL);
            if (r == NULL)
                bench_die("gort_promise_then returned NULL");
            gort_promise_release(r);
            gort_promise_release(p);
        }
    }
    if (g_done_tick && g_ticks >= g_done_tick + 10)
        gort_loop_clear_timer(g_loop, g_iv);
}

static void start(void *arg)
{
    (void)arg;
    g_iv = gort_loop_set_interval(g_loop, GORT_MILLISECOND, tick, NULL);
    if (g_iv <= 0)
        bench_die("gort_loop_set_interval failed");
}

int main(int argc, char **argv)
{
    g_fib_n = (int)bench_arg(argc, argv, 1, 35);
    g_loop = lbench_start();
    g_jobs = 4 * gort_procs();
    lbench_run(g_loop, start, NULL);
    if (g_done != g_jobs)
        bench_die("loop_lag: %d of %d jobs done", g_done, g_jobs);
    if (g_fib_n == 35 && g_sum != 9227465LL * g_jobs)
        bench_die("loop_lag: bad fib sum %lld", g_sum);
    lbench_stop(g_loop);
    double lag = (double)(g_max_gap - GORT_MILLISECOND) / 1e6;
    bench_result("max_lag_ms", lag > 0 ? lag : 0, "ms");
    bench_result("fib_ms", (double)g_fib_ms / 1e6, "ms");
    bench_result("ticks", g_ticks, "n");
    return 0;
}
