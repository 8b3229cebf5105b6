/*
 * async_await.c — async functions on gort's event loop, with the heavy
 * lifting on all cores.
 *
 * In JavaScript an async function runs on the one loop thread: while it
 * computes, nothing else runs. With gort an async function is a loop-bound
 * goroutine (gort_loop_go): it runs on the loop's thread and gives the loop
 * back wherever it awaits — and it can await work that gort_async runs on
 * the parallel pool, so the loop stays responsive while every core
 * computes. What this program does, in JavaScript terms:
 *
 *     const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
 *
 *     const ticker = setInterval(() => console.log(`  tick ${++ticks}`), 25);
 *
 *     async function main() {
 *       await sleep(100);                        // a timer, as a promise
 *       const a = await onPool(fib, 39);         // gort_async: not possible
 *       const [b, c, d] = await Promise.all([    //   in plain JavaScript
 *         onPool(fib, 38), onPool(fib, 39), onPool(fib, 40)]);
 *       clearInterval(ticker);
 *     }
 *     main();
 *
 * The ticker keeps printing while fib runs: the loop never froze. There is
 * no `async` keyword in C: gort_await just parks the goroutine and the loop
 * runs other work until the promise settles.
 */
#include <gort.h>

#include <stdint.h>
#include <stdio.h>

static gort_loop *loop;
static int64_t t0;
static int64_t ticker;
static int ticks;
static int ok;

static double ms_since_start(void)
{
    return (double)(gort_now() - t0) / 1e6;
}

/* ---- sleep(ms): a promise that a timer resolves ---------------------------- */

static void resolve_later(void *arg)
{
    gort_promise *p = arg;
    gort_promise_resolve(p, NULL, NULL);
    gort_promise_release(p); /* the timer's reference */
}

static gort_promise *sleep_ms(int ms)
{
    gort_promise *p = gort_promise_new();
    if (p && gort_loop_set_timeout(loop, ms * GORT_MILLISECOND, resolve_later,
                                   gort_promise_retain(p)) <= 0) {
        gort_promise_release(p); /* the timer's reference, never used */
        gort_promise_reject(p, GORT_ENOMEM, "setTimeout failed");
    }
    return p;
}

/* ---- CPU work on the pool ------------------------------------------------- */

static long fib(int n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static void fib_job(gort_promise *p, void *arg)
{
    /* A pool goroutine: any P, any core, in parallel with the others. */
    gort_promise_resolve(p, (void *)(intptr_t)fib((int)(intptr_t)arg), NULL);
}

static gort_promise *on_pool_fib(int n)
{
    return gort_async(fib_job, (void *)(intptr_t)n);
}

/* ---- the ticker: proof that the loop stays responsive ---------------------- */

static void tick(void *arg)
{
    (void)arg;
    printf("  tick %2d  (%6.1f ms)\n", ++ticks, ms_since_start());
}

/* ---- the async function ----------------------------------------------------- */

static void async_main(void *arg)
{
    (void)arg;
    printf("main: sleeping 100 ms (await sleep(100))\n");
    gort_promise *s = sleep_ms(100);
    if (!s || gort_await(s) != 0)
        goto out;
    gort_promise_release(s);
    printf("main: awake at %.1f ms\n", ms_since_start());

    printf("main: await fib(39) on the pool\n");
    int before = ticks;
    gort_promise *a = on_pool_fib(39);
    if (!a || gort_await(a) != 0)
        goto out;
    printf("main: fib(39) = %ld at %.1f ms (%d ticks meanwhile)\n",
           (long)(intptr_t)gort_promise_value(a), ms_since_start(), ticks - before);
    gort_promise_release(a);

    printf("main: await Promise.all([fib(38), fib(39), fib(40)]) on %d cores\n", gort_procs());
    before = ticks;
    gort_promise *jobs[3] = {on_pool_fib(38), on_pool_fib(39), on_pool_fib(40)};
    gort_promise *all = jobs[0] && jobs[1] && jobs[2] ? gort_promise_all(jobs, 3) : NULL;
    if (!all || gort_await(all) != 0)
        goto out;
    void **v = gort_promise_value(all);
    printf("main: fib(38) = %ld, fib(39) = %ld, fib(40) = %ld at %.1f ms (%d ticks meanwhile)\n",
           (long)(intptr_t)v[0], (long)(intptr_t)v[1], (long)(intptr_t)v[2], ms_since_start(),
           ticks - before);
    ok = (intptr_t)v[2] == 102334155;
    gort_promise_release(all);
    for (int i = 0; i < 3; i++)
        gort_promise_release(jobs[i]);
out:
    if (!ok)
        fprintf(stderr, "main: something failed\n");
    gort_loop_clear_timer(loop, ticker); /* clearInterval(ticker) */
    /* Returning ends the goroutine; with the ticker gone nothing is
     * pending and gort_loop_run returns. */
}

int main(void)
{
    if (gort_init(NULL) != 0 || !(loop = gort_loop_new())) {
        fprintf(stderr, "cannot start gort\n");
        return 1;
    }
    t0 = gort_now();
    ticker = gort_loop_set_interval(loop, 25 * GORT_MILLISECOND, tick, NULL);
    if (ticker <= 0 || gort_loop_go(loop, async_main, NULL) != 0) {
        fprintf(stderr, "cannot start the loop's work\n");
        return 1;
    }
    int rc = gort_loop_run(loop);
    printf("loop done after %.1f ms, %d ticks\n", ms_since_start(), ticks);
    gort_loop_free(loop);
    gort_shutdown();
    return rc == 0 && ok ? 0 : 1;
}
