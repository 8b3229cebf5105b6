/*
 * loop_bench.h — helpers for the event-loop benchmarks (bench/promise_*.c,
 * timeouts.c, macrotask_chain.c, loop_lag.c), whose twins are Node scripts
 * in bench/node/ (bench/run_loop.py compares them).
 *
 * A JavaScript program's main script is the loop's first task: these
 * benchmarks therefore do their setup inside a task posted before
 * gort_loop_run, on the loop's own thread, exactly where Node runs it. The
 * loop runs on the program's main thread (a foreign thread: gort_loop_run
 * refuses to run inside a goroutine).
 */
#ifndef GORT_LOOP_BENCH_H
#define GORT_LOOP_BENCH_H

#include "bench.h"

/* gort_init + a new loop, or die. */
__attribute__((unused)) static gort_loop *lbench_start(void)
{
    int rc = gort_init(NULL);
    if (rc != 0)
        bench_die("gort_init: %s", gort_err_name(rc));
    gort_loop *loop = gort_loop_new();
    if (loop == NULL)
        bench_die("gort_loop_new returned NULL");
    return loop;
}

/* Post fn(arg) as the first task and run the loop until nothing is left. */
__attribute__((unused)) static void lbench_run(gort_loop *loop, gort_task_fn fn, void *arg)
{
    int rc = gort_loop_post(loop, fn, arg);
    if (rc != 0)
        bench_die("gort_loop_post: %s", gort_err_name(rc));
    rc = gort_loop_run(loop);
    if (rc != 0)
        bench_die("gort_loop_run: %s", gort_err_name(rc));
}

__attribute__((unused)) static void lbench_stop(gort_loop *loop)
{
    gort_loop_free(loop);
    gort_shutdown();
}

#endif /* GORT_LOOP_BENCH_H */
