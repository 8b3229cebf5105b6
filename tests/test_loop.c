/*
 * test_loop.c — the event loop (serial executor) through the public API.
 *
 * What is checked, case by case (JavaScript / Node semantics unless the
 * header says otherwise):
 *   - gort_loop_run returns when nothing is pending (at once for an empty
 *     loop), runs everything on the calling thread, and the loop can be run
 *     again afterwards;
 *   - macrotasks are FIFO: from the loop thread (nested posts), from pool
 *     goroutines and from foreign pthreads (per-producer FIFO), and not one
 *     is lost or duplicated under a storm of posts from 4 producers;
 *   - microtasks run after the current task and before the next macrotask,
 *     microtasks queued by microtasks run in the same checkpoint, and a
 *     timer callback is a macrotask like any other (task1, micro1, micro2,
 *     task2);
 *   - timers: deadline order, equal deadlines in set order, never early,
 *     clear before firing (never runs, does not keep the loop alive),
 *     GORT_EINVAL for unknown / fired / cleared ids, intervals that clear
 *     themselves, negative delays treated as 0;
 *   - gort_loop_stop from another thread and from a task, run_once with
 *     GORT_NOWAIT (1 while work is pending, 0 when none), gort_loop_fd
 *     readable exactly when the loop has work (posts from other threads and
 *     due timers), gort_loop_start / join;
 *   - loop-bound goroutines: on the loop thread, never concurrently with
 *     tasks or with each other (a plain counter stays exact), never
 *     preempted (15 ms spins between blocking points stay atomic), they
 *     interleave only where they block, keep the loop alive, can await
 *     promises and channels while the loop keeps running;
 *   - fd watchers on a pipe (callbacks on the loop thread, unwatch stops
 *     them);
 *   - responsiveness: a 1 ms interval keeps ticking while gort_async runs
 *     fib(32) jobs on every P (the max lag is printed);
 *   - bad input: NULL loop / fn, run inside a goroutine (GORT_EPERM), run
 *     on a running loop (GORT_EBUSY), run of another loop from a loop's
 *     thread (GORT_EPERM), await on the loop's own thread (GORT_EDEADLK),
 *     microtasks from outside the loop, freeing a loop with pending work.
 *
 * Every TEST runs in its own forked process (harness.h) and starts and stops
 * the engine itself. Nothing synchronises by sleeping: sleeps only create
 * the situation under test (a post that arrives while the loop waits), and
 * waits have an escape hatch so that a broken loop fails instead of hanging.
 * Timing checks have generous slack, multiplied under GORT_TEST_SCALE.
 */
#define _GNU_SOURCE 1
#include "gort.h"
#include "harness.h"
#include "test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS GORT_MILLISECOND
#define US GORT_MICROSECOND

/* ---- helpers ------------------------------------------------------------- */

static void os_sleep(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Spin for ns without any gort call (pure C: clock_gettime only), so that
 * nothing but asynchronous preemption could switch us out. */
static void spin_ns(int64_t ns)
{
    int64_t end = mono_ns() + ns;
    while (mono_ns() < end) {
    }
}

static gort_loop *setup(void)
{
    CHECK_EQ(gort_init(NULL), 0);
    gort_loop *loop = gort_loop_new();
    CHECK(loop != NULL);
    return loop;
}

static void teardown(gort_loop *loop)
{
    gort_loop_free(loop);
    gort_shutdown();
}

static int run_checked(gort_loop *loop)
{
    int rc = gort_loop_run(loop);
    CHECK_MSG(rc == 0, "gort_loop_run: %s", gort_err_name(rc));
    return rc;
}

/* ---- an order log (written on the loop thread only) ---------------------- */

#define LOG_MAX 8192
static int g_log[LOG_MAX];
static int g_nlog;
static gort_loop *g_loop;
static pthread_t g_loop_thread; /* the thread expected to run the loop's work */

static void on_loop_thread(void)
{
    CHECK_MSG(pthread_equal(pthread_self(), g_loop_thread), "work ran off the loop's thread");
}

static void logv(int v)
{
    on_loop_thread();
    CHECK(g_nlog < LOG_MAX);
    g_log[g_nlog++] = v;
}

static void check_log(const int *want, int n)
{
    int ok = g_nlog == n;
    for (int i = 0; ok && i < n; i++)
        ok = g_log[i] == want[i];
    if (!ok) {
        char got[1024] = "", exp[1024] = "";
        size_t a = 0, b = 0;
        for (int i = 0; i < g_nlog && a < sizeof got - 16; i++)
            a += (size_t)snprintf(got + a, sizeof got - a, "%d ", g_log[i]);
        for (int i = 0; i < n && b < sizeof exp - 16; i++)
            b += (size_t)snprintf(exp + b, sizeof exp - b, "%d ", want[i]);
        CHECK_MSG(ok, "order: got [%s] want [%s]", got, exp);
    }
}

static void t_log(void *arg)
{
    logv((int)(intptr_t)arg);
}

/* ---- basics -------------------------------------------------------------- */

TEST(new_without_engine)
{
    CHECK(gort_loop_new() == NULL);
    CHECK_EQ(gort_init(NULL), 0);
    gort_loop *loop = gort_loop_new();
    CHECK(loop != NULL);
    gort_loop_free(loop);
    gort_shutdown();
    CHECK(gort_loop_new() == NULL);
}

TEST(run_empty_returns_at_once)
{
    gort_loop *loop = setup();
    int64_t t0 = gort_now();
    CHECK_EQ(gort_loop_run(loop), 0);
    CHECK_EQ(gort_loop_run(loop), 0);
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 0);
    int64_t dt = gort_now() - t0;
    CHECK_MSG(dt < 500 * MS * slow(), "empty run took %lld ms", (long long)(dt / MS));
    CHECK(gort_loop_current() == NULL);
    teardown(loop);
}

static void t_current(void *arg)
{
    (void)arg;
    on_loop_thread();
    CHECK(gort_loop_current() == g_loop);
    logv(100);
}

TEST(run_until_done_and_again)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    for (int i = 1; i <= 3; i++)
        CHECK_EQ(gort_loop_post(loop, t_log, (void *)(intptr_t)i), 0);
    CHECK_EQ(gort_loop_post(loop, t_current, NULL), 0);
    run_checked(loop);
    check_log((int[]){1, 2, 3, 100}, 4);
    CHECK(gort_loop_current() == NULL);
    /* Nothing pending: returns at once; then the loop is reusable. */
    run_checked(loop);
    CHECK_EQ(g_nlog, 4);
    CHECK_EQ(gort_loop_post(loop, t_log, (void *)(intptr_t)4), 0);
    run_checked(loop);
    check_log((int[]){1, 2, 3, 100, 4}, 5);
    teardown(loop);
}

/* ---- macrotask FIFO ------------------------------------------------------ */

static void t_nest_b(void *arg);
static void t_nest_a(void *arg)
{
    (void)arg;
    logv(1);
    CHECK_EQ(gort_loop_post(g_loop, t_log, (void *)(intptr_t)3), 0);
    CHECK_EQ(gort_loop_post(g_loop, t_log, (void *)(intptr_t)4), 0);
}

static void t_nest_b(void *arg)
{
    (void)arg;
    logv(2);
    CHECK_EQ(gort_loop_post(g_loop, t_log, (void *)(intptr_t)5), 0);
}

static long long g_chain_n, g_chain_done;
static void t_chain(void *arg)
{
    long long i = (long long)(intptr_t)arg;
    CHECK_EQ(i, g_chain_done);
    g_chain_done++;
    if (i + 1 < g_chain_n)
        CHECK_EQ(gort_loop_post(g_loop, t_chain, (void *)(intptr_t)(i + 1)), 0);
}

TEST(post_fifo_from_loop_thread)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    CHECK_EQ(gort_loop_post(loop, t_nest_a, NULL), 0);
    CHECK_EQ(gort_loop_post(loop, t_nest_b, NULL), 0);
    run_checked(loop);
    check_log((int[]){1, 2, 3, 4, 5}, 5);

    /* setImmediate-style chain: every task posts the next one. */
    g_chain_n = T_SCALE(100000);
    g_chain_done = 0;
    CHECK_EQ(gort_loop_post(loop, t_chain, (void *)(intptr_t)0), 0);
    run_checked(loop);
    CHECK_EQ(g_chain_done, g_chain_n);
    teardown(loop);
}

/* Producers: each post carries (producer << 40 | seq). The loop checks
 * per-producer FIFO order and counts; the last task drops the reference
 * that kept the loop alive while producers were still posting. */
#define NPROD_MAX 8
static long long g_per_prod;
static long long g_expect_total;
static long long g_seen_total;
static long long g_next_seq[NPROD_MAX];
static gort_wg g_prod_wg = GORT_WG_INIT;

static void t_prod(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    int p = (int)(v >> 40);
    long long seq = (long long)(v & ((1ULL << 40) - 1));
    on_loop_thread();
    CHECK(p >= 0 && p < NPROD_MAX);
    CHECK_MSG(seq == g_next_seq[p], "producer %d: got seq %lld, expected %lld", p, seq,
              g_next_seq[p]);
    g_next_seq[p]++;
    if (++g_seen_total == g_expect_total)
        gort_loop_unref(g_loop);
}

static void produce(int p)
{
    for (long long i = 0; i < g_per_prod; i++) {
        int rc = gort_loop_post(g_loop, t_prod, (void *)(((uintptr_t)p << 40) | (uintptr_t)i));
        CHECK_MSG(rc == 0, "post: %s", gort_err_name(rc));
        if ((i & 1023) == 0)
            gort_yield();
    }
}

static void prod_goroutine(void *arg)
{
    produce((int)(intptr_t)arg);
    gort_wg_done(&g_prod_wg);
}

static void *prod_thread(void *arg)
{
    produce((int)(intptr_t)arg);
    return NULL;
}

/* ngo pool goroutines (ids 0..ngo-1) and nth pthreads (ids ngo..) */
static void producers_case(int ngo, int nth, long long per)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    g_per_prod = per;
    g_expect_total = per * (ngo + nth);
    g_seen_total = 0;
    memset(g_next_seq, 0, sizeof g_next_seq);
    gort_loop_ref(loop);
    gort_wg_add(&g_prod_wg, ngo);
    for (int i = 0; i < ngo; i++)
        CHECK_EQ(gort_go(prod_goroutine, (void *)(intptr_t)i), 0);
    pthread_t th[NPROD_MAX];
    for (int i = 0; i < nth; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, prod_thread, (void *)(intptr_t)(ngo + i)), 0);
    int64_t t0 = gort_now();
    run_checked(loop);
    int64_t took = gort_now() - t0;
    CHECK_EQ(g_seen_total, g_expect_total);
    /* A few hundred thousand posts take well under a second; far more
     * means the loop's cost per task grows with the backlog. */
    CHECK_MSG(took < 15 * GORT_SECOND * slow(), "%lld posts took %.1f s", g_expect_total,
              (double)took / 1e9);
    for (int i = 0; i < ngo + nth; i++)
        CHECK_EQ(g_next_seq[i], per);
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(gort_wg_wait_until(&g_prod_wg, hatch()), 0);
    /* Nothing left over. */
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 0);
    CHECK_EQ(g_seen_total, g_expect_total);
    teardown(loop);
}

TEST(post_fifo_from_goroutines)
{
    producers_case(4, 0, scaled(20000, 100));
}

TEST(post_fifo_from_pthreads)
{
    producers_case(0, 4, scaled(20000, 100));
}

TEST(post_storm_4_producers)
{
    producers_case(2, 2, T_SCALE(100000));
}

/* ---- microtasks ---------------------------------------------------------- */

static void m_log(void *arg)
{
    logv((int)(intptr_t)arg);
}

static void m_micro1(void *arg)
{
    (void)arg;
    logv(11);
    CHECK_EQ(gort_loop_microtask(g_loop, m_log, (void *)(intptr_t)12), 0);
}

static void t_task1(void *arg)
{
    (void)arg;
    logv(1);
    /* A macrotask queued now runs after the microtasks, even though it
     * was queued first. */
    CHECK_EQ(gort_loop_post(g_loop, t_log, (void *)(intptr_t)3), 0);
    CHECK_EQ(gort_loop_microtask(g_loop, m_micro1, NULL), 0);
}

static int g_mdepth;
static void m_deep(void *arg)
{
    int i = (int)(intptr_t)arg;
    CHECK_EQ(i, g_mdepth);
    g_mdepth++;
    if (i + 1 < 1000)
        CHECK_EQ(gort_loop_microtask(g_loop, m_deep, (void *)(intptr_t)(i + 1)), 0);
}

static void t_deep(void *arg)
{
    (void)arg;
    logv(4);
    CHECK_EQ(gort_loop_post(g_loop, t_log, (void *)(intptr_t)6), 0);
    CHECK_EQ(gort_loop_microtask(g_loop, m_deep, (void *)(intptr_t)0), 0);
}

static void t_after_deep(void *arg)
{
    (void)arg;
    CHECK_EQ(g_mdepth, 1000); /* the whole microtask chain ran first */
    logv(5);
}

TEST(microtasks_before_next_macrotask)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    CHECK_EQ(gort_loop_post(loop, t_task1, NULL), 0);
    CHECK_EQ(gort_loop_post(loop, t_log, (void *)(intptr_t)2), 0);
    run_checked(loop);
    /* JS: task1, micro1, micro2 (queued by micro1), task2 (queued before
     * run), then task3 (queued by task1). */
    check_log((int[]){1, 11, 12, 2, 3}, 5);

    g_nlog = 0;
    g_mdepth = 0;
    CHECK_EQ(gort_loop_post(loop, t_deep, NULL), 0);
    CHECK_EQ(gort_loop_post(loop, t_after_deep, NULL), 0);
    run_checked(loop);
    check_log((int[]){4, 5, 6}, 3);
    CHECK_EQ(g_mdepth, 1000);
    teardown(loop);
}

static void tm_first(void *arg)
{
    (void)arg;
    logv(1);
    CHECK_EQ(gort_loop_microtask(g_loop, m_log, (void *)(intptr_t)2), 0);
}

TEST(microtasks_after_each_timer)
{
    /* Node >= 11: the microtask queue is drained after every timer
     * callback, not after the whole batch of due timers. */
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    CHECK(gort_loop_set_timeout(loop, 5 * MS, tm_first, NULL) > 0);
    CHECK(gort_loop_set_timeout(loop, 5 * MS, t_log, (void *)(intptr_t)3) > 0);
    /* Make sure both are due when the loop first looks at them. */
    os_sleep(20 * MS);
    run_checked(loop);
    check_log((int[]){1, 2, 3}, 3);
    teardown(loop);
}

static atomic_int g_outside_micro;
static void m_outside(void *arg)
{
    (void)arg;
    on_loop_thread();
    if (atomic_fetch_add(&g_outside_micro, 1) + 1 == 2)
        gort_loop_unref(g_loop); /* the one from the other thread arrived */
}

static void *micro_poster(void *arg)
{
    gort_loop *loop = arg;
    os_sleep(10 * MS); /* usually while the loop waits for work */
    CHECK_EQ(gort_loop_microtask(loop, m_outside, NULL), 0);
    return NULL;
}

TEST(microtask_from_outside)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    /* Before the loop runs: queued, runs once, on the loop thread, and
     * keeps the loop alive until it has run. */
    CHECK_EQ(gort_loop_microtask(loop, m_outside, NULL), 0);
    run_checked(loop);
    CHECK_EQ(atomic_load(&g_outside_micro), 1);
    /* From another thread while the loop runs. */
    gort_loop_ref(loop);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, micro_poster, loop), 0);
    int64_t t0 = gort_now();
    run_checked(loop);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&g_outside_micro), 2);
    CHECK(gort_now() - t0 < 20 * GORT_SECOND * slow());
    teardown(loop);
}

/* ---- timers -------------------------------------------------------------- */

TEST(timeout_order)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    /* The expected orders hold only if setting the timers takes less than
     * the gaps between their delays: the unit is stretched where the build
     * is slow (Valgrind, sanitizers), so a loaded machine cannot reorder
     * them. */
    const int64_t unit = 10 * MS * slow();
    static const int delays[] = {3, 1, 2, 0, 1};
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        ids[i] = gort_loop_set_timeout(loop, delays[i] * unit, t_log, (void *)(intptr_t)i);
        CHECK_MSG(ids[i] > 0, "set_timeout: %s", gort_err_name((int)ids[i]));
        for (int j = 0; j < i; j++)
            CHECK(ids[i] != ids[j]);
    }
    run_checked(loop);
    check_log((int[]){3, 1, 4, 2, 0}, 5);

    /* Many equal delays fire in the order they were set, interleaved with
     * shorter ones that come first. */
    g_nlog = 0;
    for (int i = 0; i < 200; i++) {
        CHECK(gort_loop_set_timeout(loop, 5 * unit, t_log, (void *)(intptr_t)(1000 + i)) > 0);
        if (i % 50 == 0)
            CHECK(gort_loop_set_timeout(loop, 0, t_log, (void *)(intptr_t)(i / 50)) > 0);
    }
    run_checked(loop);
    CHECK_EQ(g_nlog, 204);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(g_log[i], i);
    for (int i = 0; i < 200; i++)
        CHECK_EQ(g_log[4 + i], 1000 + i);
    teardown(loop);
}

static int64_t g_set_at[8], g_fired_at[8];
static void t_stamp(void *arg)
{
    on_loop_thread();
    g_fired_at[(intptr_t)arg] = gort_now();
}

TEST(timeout_accuracy)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    static const int64_t delays[] = {1 * MS, 5 * MS, 20 * MS, 50 * MS, 100 * MS};
    enum { N = 5 };
    for (int i = 0; i < N; i++) {
        g_set_at[i] = gort_now();
        CHECK(gort_loop_set_timeout(loop, delays[i], t_stamp, (void *)(intptr_t)i) > 0);
    }
    run_checked(loop);
    for (int i = 0; i < N; i++) {
        int64_t took = g_fired_at[i] - g_set_at[i];
        printf("    timeout %3lld ms fired after %.3f ms\n", (long long)(delays[i] / MS),
               (double)took / 1e6);
        CHECK_MSG(took >= delays[i], "timeout of %lld ms fired %lld us early",
                  (long long)(delays[i] / MS), (long long)((delays[i] - took) / US));
        CHECK_MSG(took <= delays[i] + 100 * MS * slow(), "timeout of %lld ms fired after %lld ms",
                  (long long)(delays[i] / MS), (long long)(took / MS));
    }
    teardown(loop);
}

static int64_t g_victim;
static int g_clear_rc = 1;
static void t_clearer(void *arg)
{
    (void)arg;
    logv(1);
    g_clear_rc = gort_loop_clear_timer(g_loop, g_victim);
}

TEST(clear_timer)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    /* Cleared by an earlier timer: never runs. */
    g_victim = gort_loop_set_timeout(loop, 40 * MS, t_log, (void *)(intptr_t)99);
    CHECK(g_victim > 0);
    int64_t clearer = gort_loop_set_timeout(loop, 5 * MS, t_clearer, NULL);
    CHECK(clearer > 0);
    run_checked(loop);
    CHECK_EQ(g_clear_rc, 0);
    check_log((int[]){1}, 1);
    /* A fired id, a cleared id, and ids that never existed. */
    CHECK_EQ(gort_loop_clear_timer(loop, clearer), GORT_EINVAL);
    CHECK_EQ(gort_loop_clear_timer(loop, g_victim), GORT_EINVAL);
    CHECK_EQ(gort_loop_clear_timer(loop, 0), GORT_EINVAL);
    CHECK_EQ(gort_loop_clear_timer(loop, -1), GORT_EINVAL);
    CHECK_EQ(gort_loop_clear_timer(loop, INT64_MAX), GORT_EINVAL);
    CHECK_EQ(gort_loop_clear_timer(loop, clearer + 1000000), GORT_EINVAL);

    /* Cleared before the loop runs: it does not keep the loop alive. */
    int64_t far = gort_loop_set_timeout(loop, 10 * GORT_SECOND, t_log, (void *)(intptr_t)98);
    CHECK(far > 0);
    CHECK_EQ(gort_loop_clear_timer(loop, far), 0);
    CHECK_EQ(gort_loop_clear_timer(loop, far), GORT_EINVAL);
    int64_t t0 = gort_now();
    run_checked(loop);
    CHECK_MSG(gort_now() - t0 < 2 * GORT_SECOND * slow(), "a cleared timer kept the loop alive");
    check_log((int[]){1}, 1);
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 0);
    teardown(loop);
}

static int64_t g_iv_id, g_iv_t0, g_iv_period;
static int g_iv_count, g_iv_stop_at;
static void t_interval(void *arg)
{
    (void)arg;
    on_loop_thread();
    g_iv_count++;
    int64_t since = gort_now() - g_iv_t0;
    CHECK_MSG(since >= g_iv_count * g_iv_period, "interval tick %d came early: %lld us after start",
              g_iv_count, (long long)(since / US));
    if (g_iv_count == g_iv_stop_at)
        CHECK_EQ(gort_loop_clear_timer(g_loop, g_iv_id), 0);
    CHECK_MSG(g_iv_count <= g_iv_stop_at, "interval ran after it was cleared");
}

TEST(interval_repeats_and_clears_itself)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    g_iv_period = 5 * MS;
    g_iv_stop_at = 5;
    g_iv_t0 = gort_now();
    g_iv_id = gort_loop_set_interval(loop, g_iv_period, t_interval, NULL);
    CHECK(g_iv_id > 0);
    run_checked(loop); /* returns once the interval is cleared */
    CHECK_EQ(g_iv_count, 5);
    /* From before set_interval: the ticks are due 5, 10, ... ms after the
     * call, so a clock read after the call may be up to that call's
     * duration too late (seen under qemu). */
    CHECK(gort_now() - g_iv_t0 >= 25 * MS);
    CHECK_EQ(gort_loop_clear_timer(loop, g_iv_id), GORT_EINVAL);
    /* And it really stopped. */
    CHECK_EQ(gort_loop_run_once(loop, gort_now() + 30 * MS), 0);
    CHECK_EQ(g_iv_count, 5);
    teardown(loop);
}

static int g_zero_iv_count;
static int64_t g_zero_iv_id;
static void t_zero_iv(void *arg)
{
    (void)arg;
    if (++g_zero_iv_count == 3)
        CHECK_EQ(gort_loop_clear_timer(g_loop, g_zero_iv_id), 0);
}

TEST(negative_delay_is_zero)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    /* If -1 s meant "a second ago", B would come first. */
    CHECK(gort_loop_set_timeout(loop, 0, t_log, (void *)(intptr_t)1) > 0);
    CHECK(gort_loop_set_timeout(loop, -GORT_SECOND, t_log, (void *)(intptr_t)2) > 0);
    CHECK(gort_loop_set_timeout(loop, INT64_MIN, t_log, (void *)(intptr_t)3) > 0);
    int64_t t0 = gort_now();
    run_checked(loop);
    check_log((int[]){1, 2, 3}, 3);
    CHECK(gort_now() - t0 < 2 * GORT_SECOND * slow());
    /* A non-positive interval period: refused, or clamped (it fires). */
    g_zero_iv_id = gort_loop_set_interval(loop, -5, t_zero_iv, NULL);
    CHECK_MSG(g_zero_iv_id > 0 || g_zero_iv_id == GORT_EINVAL, "set_interval(-5): %lld",
              (long long)g_zero_iv_id);
    if (g_zero_iv_id > 0) {
        run_checked(loop);
        CHECK_EQ(g_zero_iv_count, 3);
    }
    teardown(loop);
}

static atomic_int g_far_fired;
static void t_far_fire(void *arg)
{
    (void)arg;
    on_loop_thread();
    atomic_fetch_add(&g_far_fired, 1);
    gort_loop_unref(g_loop);
}

static void t_record_thread(void *arg)
{
    (void)arg;
    g_loop_thread = pthread_self();
    atomic_store(&g_far_fired, -1);
}

/* A new loop (g_loop, referenced) running on its own thread
 * (gort_loop_start), which it has recorded in g_loop_thread. */
static gort_loop *start_on_own_thread(void)
{
    gort_loop *loop = setup();
    g_loop = loop;
    gort_loop_ref(loop);
    CHECK_EQ(gort_loop_post(loop, t_record_thread, NULL), 0);
    CHECK_EQ(gort_loop_start(loop), 0);
    int64_t h = hatch();
    while (atomic_load(&g_far_fired) != -1 && gort_now() < h)
        os_sleep(100 * US);
    CHECK_EQ(atomic_load(&g_far_fired), -1);
    return loop;
}

TEST(set_timeout_from_other_thread)
{
    /* The loop runs on its own thread (gort_loop_start); the main thread
     * sets a timeout on it, as a host thread would. */
    gort_loop *loop = start_on_own_thread();
    atomic_store(&g_far_fired, 0);
    int64_t t0 = gort_now();
    CHECK(gort_loop_set_timeout(loop, 10 * MS, t_far_fire, NULL) > 0);
    CHECK_EQ(gort_loop_join(loop), 0);
    CHECK_EQ(atomic_load(&g_far_fired), 1);
    CHECK(gort_now() - t0 >= 10 * MS);
    teardown(loop);
}

static atomic_long g_storm_fired;
static void t_storm_timer(void *arg)
{
    (void)arg;
    on_loop_thread();
    atomic_fetch_add(&g_storm_fired, 1);
}

static void t_unref(void *arg)
{
    (void)arg;
    gort_loop_unref(g_loop);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

TEST(set_timeout_storm_from_other_thread)
{
    /* Zero-delay timeouts set from the main thread while the loop (on its
     * own thread) fires them as fast as it can: the setter must not touch
     * a timer after handing it over (a sanitizer build sees any such use
     * after free); ids stay unique and every timer fires once. */
    gort_loop *loop = start_on_own_thread();
    long n = (long)scaled(50000, 2000);
    int64_t *ids = malloc(sizeof *ids * (size_t)n);
    CHECK(ids != NULL);
    for (long i = 0; i < n; i++) {
        ids[i] = gort_loop_set_timeout(loop, 0, t_storm_timer, NULL);
        CHECK_MSG(ids[i] > 0, "set_timeout #%ld: %lld", i, (long long)ids[i]);
    }
    CHECK_EQ(gort_loop_post(loop, t_unref, NULL), 0);
    CHECK_EQ(gort_loop_join(loop), 0);
    CHECK_EQ(atomic_load(&g_storm_fired), n);
    qsort(ids, (size_t)n, sizeof *ids, cmp_i64);
    for (long i = 1; i < n; i++)
        CHECK_MSG(ids[i] != ids[i - 1], "timer id %lld returned twice", (long long)ids[i]);
    free(ids);
    teardown(loop);
}

/* ---- stop, run_once, fd ---------------------------------------------------- */

static atomic_int g_running;
static void t_mark_running(void *arg)
{
    (void)arg;
    atomic_store(&g_running, 1);
}

static void *stopper(void *arg)
{
    gort_loop *loop = arg;
    int64_t h = hatch();
    while (!atomic_load(&g_running) && gort_now() < h)
        os_sleep(100 * US);
    os_sleep(20 * MS); /* let the loop go to sleep waiting for work */
    gort_loop_stop(loop);
    return NULL;
}

static void t_stop_self(void *arg)
{
    (void)arg;
    logv(1);
    gort_loop_stop(g_loop);
}

TEST(stop_from_other_thread_and_from_task)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    gort_loop_ref(loop); /* would run forever without the stop */
    CHECK_EQ(gort_loop_post(loop, t_mark_running, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, stopper, loop), 0);
    int64_t t0 = gort_now();
    run_checked(loop);
    pthread_join(th, NULL);
    CHECK(gort_now() - t0 >= 20 * MS);
    /* Still referenced: work pending. */
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 1);
    gort_loop_unref(loop);
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 0);

    /* From a task: run returns after the current task; the rest stays
     * queued for the next run. */
    CHECK_EQ(gort_loop_post(loop, t_stop_self, NULL), 0);
    CHECK_EQ(gort_loop_post(loop, t_log, (void *)(intptr_t)2), 0);
    run_checked(loop);
    check_log((int[]){1}, 1);
    run_checked(loop);
    check_log((int[]){1, 2}, 2);
    teardown(loop);
}

/* A stop before run is not lost (a thread asked to stop a loop that another
 * thread is only about to run): that run returns at once, and the request
 * is consumed. */
TEST(stop_before_run_is_honoured_once)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    gort_loop_ref(loop); /* would run forever without the stop */
    CHECK_EQ(gort_loop_post(loop, t_log, (void *)(intptr_t)1), 0);
    gort_loop_stop(loop);
    run_checked(loop);
    check_log(NULL, 0); /* returned before running anything */
    gort_loop_unref(loop);
    run_checked(loop); /* consumed: this run runs the task */
    check_log((int[]){1}, 1);
    teardown(loop);
}

static void t_post_again(void *arg)
{
    logv((int)(intptr_t)arg);
    CHECK_EQ(gort_loop_post(g_loop, t_log, (void *)(intptr_t)((intptr_t)arg + 1)), 0);
}

TEST(run_once_nowait)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 0); /* empty */

    CHECK_EQ(gort_loop_post(loop, t_log, (void *)(intptr_t)1), 0);
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 0); /* ran it; nothing left */
    check_log((int[]){1}, 1);

    /* A pending timer is pending work; NOWAIT does not wait for it. */
    int64_t t0 = gort_now();
    CHECK(gort_loop_set_timeout(loop, 50 * MS, t_log, (void *)(intptr_t)2) > 0);
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 1);
    CHECK_MSG(gort_now() - t0 < 45 * MS || slow() > 1, "NOWAIT waited");
    check_log((int[]){1}, 1);
    /* With a deadline it waits for the timer, then nothing is left. */
    int r = 1;
    int64_t h = hatch();
    while (r == 1 && gort_now() < h)
        r = gort_loop_run_once(loop, gort_now() + 5 * GORT_SECOND);
    CHECK_EQ(r, 0);
    CHECK(gort_now() - t0 >= 50 * MS);
    check_log((int[]){1, 2}, 2);

    /* A task that posts another: work still pending after the first
     * iteration, or both ran; either way everything runs by the time
     * run_once says 0. */
    CHECK_EQ(gort_loop_post(loop, t_post_again, (void *)(intptr_t)3), 0);
    r = gort_loop_run_once(loop, GORT_NOWAIT);
    CHECK(r == 0 || r == 1);
    CHECK_MSG(r == 1 || g_nlog == 4, "run_once said 0 with work left");
    while (r == 1 && gort_now() < h)
        r = gort_loop_run_once(loop, GORT_NOWAIT);
    CHECK_EQ(r, 0);
    check_log((int[]){1, 2, 3, 4}, 4);
    teardown(loop);
}

static int readable(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n;
    do
        n = poll(&pfd, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    CHECK(n >= 0);
    return n > 0 && (pfd.revents & POLLIN);
}

static atomic_int g_fd_round;   /* round the poster should post for */
static atomic_int g_fd_ran;     /* last round the loop ran */
static atomic_int g_fd_posted;  /* last round whose gort_loop_post returned */
static int g_fd_rounds;
static gort_wg g_fd_wg = GORT_WG_INIT;

static void t_fd_work(void *arg)
{
    on_loop_thread();
    atomic_store(&g_fd_ran, (int)(intptr_t)arg);
}

static void fd_post_round(int r)
{
    os_sleep((r % 3) * MS); /* sometimes while the host sleeps in poll */
    CHECK_EQ(gort_loop_post(g_loop, t_fd_work, (void *)(intptr_t)r), 0);
    atomic_store(&g_fd_posted, r);
}

/* Odd rounds are posted by a pool goroutine, even rounds by a pthread. */
static void fd_goroutine(void *arg)
{
    (void)arg;
    for (int r = 1; r <= g_fd_rounds; r += 2) {
        while (atomic_load(&g_fd_round) != r)
            gort_sleep(50 * US);
        fd_post_round(r);
    }
    gort_wg_done(&g_fd_wg);
}

static void *fd_thread(void *arg)
{
    (void)arg;
    for (int r = 2; r <= g_fd_rounds; r += 2) {
        while (atomic_load(&g_fd_round) != r)
            os_sleep(50 * US);
        fd_post_round(r);
    }
    return NULL;
}

TEST(loop_fd_readable_on_post)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    int fd = gort_loop_fd(loop);
    CHECK_MSG(fd >= 0, "gort_loop_fd: %s", gort_err_name(fd));
    CHECK_EQ(gort_loop_fd(loop), fd);
    CHECK_MSG(!readable(fd, 0), "fd readable on an idle loop (a host loop would spin)");

    g_fd_rounds = (int)scaled(200, 20);
    gort_wg_add(&g_fd_wg, 1);
    CHECK_EQ(gort_go(fd_goroutine, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, fd_thread, NULL), 0);
    for (int r = 1; r <= g_fd_rounds; r++) {
        atomic_store(&g_fd_round, r);
        int spins = 0;
        while (atomic_load(&g_fd_ran) != r) {
            CHECK_MSG(readable(fd, 5000 * (int)slow()), "round %d: loop fd never became readable",
                      r);
            int rc = gort_loop_run_once(loop, GORT_NOWAIT);
            CHECK_MSG(rc == 0 || rc == 1, "run_once: %d", rc);
            CHECK_MSG(++spins < 1000, "round %d: fd readable but the work never ran", r);
        }
        /* The poster's eventfd write may land after the task ran (wake-ups
         * are delivered outside the engine's locks): one spurious wake-up
         * is allowed, a readable fd after the post returned and a turn
         * drained it is not (a host loop would spin). */
        int64_t until = hatch();
        while (atomic_load(&g_fd_posted) != r) {
            CHECK_MSG(gort_now() < until, "round %d: the post never returned", r);
            sched_yield();
        }
        CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 0);
        CHECK_MSG(!readable(fd, 0), "round %d: fd still readable after the loop went idle", r);
    }
    pthread_join(th, NULL);
    CHECK_EQ(gort_wg_wait_until(&g_fd_wg, hatch()), 0);
    teardown(loop);
}

/* Bursts: posts from a goroutine and a thread while the host turns the
 * loop. The engine writes the fd once per burst, so every skipped write
 * must be covered by a turn: the host below sleeps in poll() whenever
 * run_once says nothing is pending, and reads the fd itself now and then
 * (a host may), so a lost wake-up shows as a poll that never returns. */
static _Atomic long g_burst_ran;
static long g_burst_each;
static gort_wg g_burst_wg = GORT_WG_INIT;
static void burst_task(void *arg)
{
    (void)arg;
    atomic_fetch_add(&g_burst_ran, 1);
}
static void burst_post_all(void)
{
    for (long i = 0; i < g_burst_each; i++) {
        while (gort_loop_post(g_loop, burst_task, NULL) == GORT_ENOMEM)
            ;
        if (i % 64 == 0)
            gort_yield(); /* bursts of varying size, interleaved with turns */
    }
}
static void burst_goroutine(void *arg)
{
    (void)arg;
    burst_post_all();
    gort_wg_done(&g_burst_wg);
}
static void *burst_thread(void *arg)
{
    (void)arg;
    burst_post_all();
    return NULL;
}

TEST(loop_fd_bursts_lose_no_wakeup)
{
    gort_loop *loop = setup();
    g_loop = loop;
    int fd = gort_loop_fd(loop);
    CHECK(fd >= 0);
    g_burst_each = scaled(20000, 2000);
    atomic_store(&g_burst_ran, 0);
    gort_wg_add(&g_burst_wg, 1);
    CHECK_EQ(gort_go(burst_goroutine, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, burst_thread, NULL), 0);
    long total = 2 * g_burst_each, turns = 0;
    int rc = 0;
    while (atomic_load(&g_burst_ran) < total) {
        if (rc == 0) {
            CHECK_MSG(readable(fd, 5000 * (int)slow()),
                      "lost wake-up: %ld of %ld tasks ran, the fd stays unreadable",
                      atomic_load(&g_burst_ran), total);
            if (++turns % 3 == 0) {
                uint64_t drained;
                ssize_t ignored = read(fd, &drained, sizeof drained);
                (void)ignored;
            }
        }
        rc = gort_loop_run_once(loop, GORT_NOWAIT);
        CHECK_MSG(rc == 0 || rc == 1, "run_once: %d", rc);
    }
    pthread_join(th, NULL);
    CHECK_EQ(gort_wg_wait_until(&g_burst_wg, hatch()), 0);
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 0);
    CHECK_EQ(atomic_load(&g_burst_ran), total);
    CHECK_MSG(!readable(fd, 0), "fd still readable after the loop went idle");
    teardown(loop);
}

static int64_t g_fdt_fired;
static void t_fdt(void *arg)
{
    (void)arg;
    on_loop_thread();
    g_fdt_fired = gort_now();
}

TEST(loop_fd_readable_on_due_timer)
{
    /* Embedding: the host sleeps in poll() on the fd; a due timer must
     * wake it, or setTimeout inside an embedded loop never fires. */
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    int fd = gort_loop_fd(loop);
    CHECK(fd >= 0);
    int64_t t0 = gort_now();
    CHECK(gort_loop_set_timeout(loop, 30 * MS, t_fdt, NULL) > 0);
    int wakeups = 0, r = 1;
    while (r == 1) {
        CHECK_MSG(readable(fd, 5000 * (int)slow()),
                  "loop fd did not become readable for a due timer");
        r = gort_loop_run_once(loop, GORT_NOWAIT);
        CHECK(r == 0 || r == 1);
        CHECK_MSG(++wakeups <= 50, "fd readable %d times for one timer (busy host loop)", wakeups);
    }
    CHECK(g_fdt_fired >= t0 + 30 * MS);
    CHECK_MSG(g_fdt_fired < t0 + 30 * MS + 500 * MS * slow(), "timer fired %lld ms late",
              (long long)((g_fdt_fired - t0) / MS - 30));
    printf("    timer through the fd: %d wake-up(s), fired after %.2f ms\n", wakeups,
           (double)(g_fdt_fired - t0) / 1e6);
    teardown(loop);
}

TEST(loop_fd_readable_on_second_timer)
{
    /* The embedded alarm stays marked armed after it fired: a later timer
     * must still arm a new one (the Node binding's second gort.sleep). */
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    int fd = gort_loop_fd(loop);
    CHECK(fd >= 0);
    /* Long enough that the timer is still pending after the first turn even
     * on a slow machine (Valgrind): that turn must leave the alarm armed. */
    int64_t delay = 50 * MS * (int64_t)slow();
    for (int round = 0; round < 2; round++) {
        int64_t t0 = gort_now();
        g_fdt_fired = 0;
        CHECK(gort_loop_set_timeout(loop, delay, t_fdt, NULL) > 0);
        int r = gort_loop_run_once(loop, GORT_NOWAIT); /* arms the alarm */
        if (r == 0) /* the turn came after the deadline: the timer ran in it */
            CHECK(g_fdt_fired != 0);
        while (r == 1) {
            CHECK_MSG(readable(fd, 5000 * (int)slow()),
                      "round %d: loop fd did not become readable for a due timer", round);
            r = gort_loop_run_once(loop, GORT_NOWAIT);
        }
        CHECK(g_fdt_fired >= t0 + delay);
    }
    teardown(loop);
}

static atomic_int g_ro_reacted;
static void ro_react(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next, (void)settled, (void)ud;
    atomic_store(&g_ro_reacted, 1);
}
static void ro_never(void *arg)
{
    (void)arg;
}

TEST(loop_run_once_returns_after_running_only_a_reaction)
{
    /* A turn that runs only microtasks did work: run_once must return
     * rather than sleep until the next timer (an embedding host's driver,
     * like the Lua binding's, acts on what the reaction did). */
    gort_loop *loop = setup();
    CHECK(gort_loop_set_timeout(loop, 600 * GORT_SECOND, ro_never, NULL) > 0); /* keeps work pending */
    gort_promise *p = gort_promise_new();
    CHECK(p != NULL);
    CHECK_EQ(gort_promise_resolve(p, NULL, NULL), 0);
    gort_promise *q = gort_promise_then(p, loop, ro_react, NULL, NULL);
    CHECK(q != NULL);
    int64_t t0 = gort_now();
    CHECK_EQ(gort_loop_run_once(loop, t0 + 300 * GORT_SECOND), 1);
    CHECK(atomic_load(&g_ro_reacted) == 1);
    CHECK_MSG(gort_now() - t0 < 100 * GORT_SECOND, "run_once slept after running the reaction");
    gort_promise_release(q);
    gort_promise_release(p);
    teardown(loop);
}

/* ---- loop-bound goroutines ------------------------------------------------- */

static atomic_int g_lg_done;
static int64_t g_lg_t0;
static void lg_basic(void *arg)
{
    (void)arg;
    on_loop_thread();
    CHECK(gort_loop_current() == g_loop);
    CHECK(gort_self() != 0);
    logv(1);
    gort_sleep(20 * MS);
    on_loop_thread();
    CHECK(gort_now() - g_lg_t0 >= 20 * MS);
    logv(3);
    gort_yield();
    on_loop_thread();
    atomic_store(&g_lg_done, 1);
}

static void lg_child(void *arg)
{
    (void)arg;
    gort_sleep(10 * MS);
    logv(4);
}

static void lg_parent(void *arg)
{
    (void)arg;
    CHECK_EQ(gort_loop_go(g_loop, lg_child, NULL), 0);
}

TEST(loop_go_runs_on_loop_thread_and_keeps_it_alive)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    g_lg_t0 = gort_now();
    CHECK_EQ(gort_loop_go(loop, lg_basic, NULL), 0);
    CHECK_EQ(gort_loop_set_timeout(loop, 5 * MS, t_log, (void *)(intptr_t)2) > 0, 1);
    run_checked(loop);
    CHECK_EQ(atomic_load(&g_lg_done), 1);
    check_log((int[]){1, 2, 3}, 3);
    /* A loop goroutine spawning another: run waits for the grandchild. */
    CHECK_EQ(gort_loop_go(loop, lg_parent, NULL), 0);
    run_checked(loop);
    check_log((int[]){1, 2, 3, 4}, 4);
    teardown(loop);
}

/* One plain (non-atomic) counter and an owner word, touched by tasks,
 * timers and loop goroutines; the loop guarantees they never overlap. */
static long long g_counter;
static int g_owner;
static long long g_total;
static int g_lgs, g_rounds, g_tasks;

static void enter(int who)
{
    on_loop_thread();
    CHECK_MSG(g_owner == 0, "%d entered while %d was running", who, g_owner);
    g_owner = who;
}

static void leave(int who)
{
    CHECK_MSG(g_owner == who, "owner changed under %d to %d", who, g_owner);
    g_owner = 0;
    if (g_counter == g_total)
        gort_loop_unref(g_loop);
}

static void bump(int who)
{
    enter(who);
    long long c = g_counter;
    for (volatile int k = 0; k < 50; k++) {
    }
    g_counter = c + 1;
    leave(who);
}

static void lg_counter(void *arg)
{
    int who = (int)(intptr_t)arg;
    for (int r = 0; r < g_rounds; r++) {
        bump(who);
        switch (r % 3) {
        case 0: gort_yield(); break;
        case 1: gort_sleep(20 * US); break;
        default: break; /* two bumps in a row without blocking */
        }
    }
}

static void t_counter(void *arg)
{
    bump((int)(intptr_t)arg);
}

static void *counter_poster(void *arg)
{
    (void)arg;
    for (int i = 0; i < g_tasks; i++) {
        CHECK_EQ(gort_loop_post(g_loop, t_counter, (void *)(intptr_t)1000), 0);
        if (i % 64 == 0)
            os_sleep(10 * US);
    }
    return NULL;
}

/* gort_loop_go_opts: a big stack (deep recursion that would overflow the
 * default 256 KiB), the name, and pinned refused. */
static int deep(int n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    return n == 0 ? pad[0] : deep(n - 1) + 1 + (pad[0] & 0);
}

static void lg_deep(void *arg)
{
    on_loop_thread();
    CHECK_EQ(strcmp(gort_self_name(), "deep"), 0);
    *(int *)arg = deep(1500); /* ~1.5 MiB of frames */
}

TEST(loop_go_opts_stack_size_and_name)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    gort_go_options o;
    gort_go_options_init(&o);
    o.stack_size = (size_t)4 << 20;
    o.name = "deep";
    int depth = 0;
    CHECK_EQ(gort_loop_go_opts(loop, lg_deep, &depth, &o), 0);
    run_checked(loop);
    CHECK_EQ(depth, 1500);
    o.pinned = 1;
    CHECK_EQ(gort_loop_go_opts(loop, lg_deep, &depth, &o), GORT_EINVAL);
    CHECK_EQ(gort_loop_go_opts(NULL, lg_deep, &depth, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_go_opts(loop, NULL, NULL, NULL), GORT_EINVAL);
    teardown(loop);
}

TEST(loop_go_never_concurrent_with_tasks)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    g_lgs = 8;
    g_rounds = (int)scaled(3000, 30);
    g_tasks = (int)scaled(20000, 200);
    g_total = (long long)g_lgs * g_rounds + g_tasks;
    gort_loop_ref(loop); /* dropped by whoever makes the counter complete */
    for (int i = 0; i < g_lgs; i++)
        CHECK_EQ(gort_loop_go(loop, lg_counter, (void *)(intptr_t)(i + 1)), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, counter_poster, NULL), 0);
    run_checked(loop);
    pthread_join(th, NULL);
    CHECK_EQ(g_counter, g_total);
    CHECK_EQ(g_owner, 0);
    teardown(loop);
}

/* Segments of 15 ms pure computation (longer than the 10 ms preemption
 * slice) between blocking points stay atomic: loop goroutines and tasks
 * are never preempted. */
static int g_seg_done;
static void seg(int who)
{
    enter(who);
    spin_ns(15 * MS);
    CHECK_MSG(g_owner == who, "preempted: %d ran inside %d's segment", g_owner, who);
    g_owner = 0;
    g_seg_done++;
}

static void lg_spinner(void *arg)
{
    int who = (int)(intptr_t)arg;
    for (int r = 0; r < 4; r++) {
        seg(who);
        gort_yield();
    }
}

static void t_spinner(void *arg)
{
    seg((int)(intptr_t)arg);
}

TEST(loop_go_interleaves_only_at_blocking_points)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    g_total = -1; /* leave() never unrefs */
    CHECK_EQ(gort_loop_go(loop, lg_spinner, (void *)(intptr_t)1), 0);
    CHECK_EQ(gort_loop_go(loop, lg_spinner, (void *)(intptr_t)2), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gort_loop_post(loop, t_spinner, (void *)(intptr_t)(10 + i)), 0);
    CHECK(gort_loop_set_timeout(loop, 1 * MS, t_spinner, (void *)(intptr_t)20) > 0);
    run_checked(loop);
    CHECK_EQ(g_seg_done, 4 + 4 + 3 + 1);
    teardown(loop);
}

/* Blocking in a loop goroutine gives the loop back: an interval keeps
 * ticking while it waits on a channel, a sleep and promises. */
static _Atomic int g_ticks; /* written on the loop thread, read by a pool goroutine */
static int64_t g_tick_id;
static void t_tick(void *arg)
{
    (void)arg;
    on_loop_thread();
    g_ticks++;
}

static gort_chan *g_ch;
static void pool_sender(void *arg)
{
    (void)arg;
    /* Send only once the loop has ticked twice while its goroutine waits:
     * a condition, not a time (a loaded machine or Valgrind can stall the
     * loop's thread for longer than any fixed sleep). */
    int64_t deadline = hatch();
    while (atomic_load(&g_ticks) < 2 && gort_now() < deadline)
        gort_sleep(MS);
    int v = 42;
    CHECK_EQ(gort_chan_send(g_ch, &v), 0);
}

static gort_promise *g_timer_p;
static void t_resolve_timer_p(void *arg)
{
    (void)arg;
    on_loop_thread();
    CHECK_EQ(gort_promise_resolve(g_timer_p, (void *)(intptr_t)7, NULL), 0);
}

static long fib(int n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static void fib_job(gort_promise *p, void *arg)
{
    CHECK_EQ(gort_self() != 0, 1);
    long r = fib((int)(intptr_t)arg);
    CHECK_EQ(gort_promise_resolve(p, (void *)(intptr_t)r, NULL), 0);
}

static void lg_awaiter(void *arg)
{
    (void)arg;
    on_loop_thread();
    int v = 0;
    CHECK_EQ(gort_chan_recv(g_ch, &v), 0); /* parks only this goroutine */
    on_loop_thread();
    CHECK_EQ(v, 42);
    CHECK_MSG(g_ticks >= 2, "the loop did not tick while a loop goroutine waited (%d)", g_ticks);

    int before = g_ticks;
    int64_t deadline = hatch();
    while (g_ticks == before && gort_now() < deadline)
        gort_sleep(2 * MS); /* gives the loop back: the interval ticks meanwhile */
    on_loop_thread();
    CHECK(g_ticks > before);

    /* await a promise settled by a timer callback on the same loop */
    g_timer_p = gort_promise_new();
    CHECK(g_timer_p != NULL);
    CHECK(gort_loop_set_timeout(g_loop, 10 * MS, t_resolve_timer_p, NULL) > 0);
    CHECK_EQ(gort_await(g_timer_p), 0);
    on_loop_thread();
    CHECK_EQ((intptr_t)gort_promise_value(g_timer_p), 7);
    gort_promise_release(g_timer_p);

    /* await work done on the pool */
    gort_promise *p = gort_async(fib_job, (void *)(intptr_t)25);
    CHECK(p != NULL);
    CHECK_EQ(gort_await(p), 0);
    on_loop_thread();
    CHECK_EQ((intptr_t)gort_promise_value(p), 75025);
    gort_promise_release(p);

    CHECK_EQ(gort_loop_clear_timer(g_loop, g_tick_id), 0);
}

TEST(loop_go_blocking_gives_the_loop_back)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    g_ch = gort_chan_make(sizeof(int), 0);
    CHECK(g_ch != NULL);
    g_tick_id = gort_loop_set_interval(loop, 2 * MS, t_tick, NULL);
    CHECK(g_tick_id > 0);
    CHECK_EQ(gort_loop_go(loop, lg_awaiter, NULL), 0);
    CHECK_EQ(gort_go(pool_sender, NULL), 0);
    run_checked(loop);
    gort_chan_release(g_ch);
    teardown(loop);
}

static void tiny_job(gort_promise *p, void *arg)
{
    (void)arg;
    CHECK_EQ(gort_promise_resolve(p, (void *)(intptr_t)1, NULL), 0);
}

static void lg_await_tiny(void *arg)
{
    (void)arg;
    gort_promise *p = gort_async(tiny_job, NULL);
    CHECK(p != NULL);
    CHECK_EQ(gort_await(p), 0);
    gort_promise_release(p);
}

TEST(free_right_after_awaiting_pool_work)
{
    /* The loop's last piece of work is a loop goroutine resumed by a
     * promise that a pool goroutine settled; its owner frees the loop as
     * soon as run returns. The settling thread must be done with the loop
     * by then (a sanitizer build sees any later touch). */
    CHECK_EQ(gort_init(NULL), 0);
    int rounds = (int)scaled(5000, 200);
    for (int i = 0; i < rounds; i++) {
        gort_loop *loop = gort_loop_new();
        CHECK(loop != NULL);
        CHECK_EQ(gort_loop_go(loop, lg_await_tiny, NULL), 0);
        CHECK_EQ(gort_loop_run(loop), 0);
        gort_loop_free(loop);
    }
    gort_shutdown();
}

static void *unref_thread(void *arg)
{
    gort_loop_unref(arg);
    return NULL;
}

TEST(free_right_after_a_remote_unref)
{
    /* The last reference is dropped by another thread, whose wake-up
     * (futex and eventfd: the loop is also embeddable) is delivered after
     * it released the loop's locks; the owner frees the loop as soon as
     * run returns. gort_loop_free must wait for that wake-up to finish
     * before it frees the executor or closes the eventfd (a sanitizer
     * build sees a later touch). */
    CHECK_EQ(gort_init(NULL), 0);
    int rounds = (int)scaled(2000, 100);
    for (int i = 0; i < rounds; i++) {
        gort_loop *loop = gort_loop_new();
        CHECK(loop != NULL);
        CHECK(gort_loop_fd(loop) > 0);
        gort_loop_ref(loop);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, unref_thread, loop), 0);
        CHECK_EQ(gort_loop_run(loop), 0);
        gort_loop_free(loop);
        pthread_join(th, NULL);
    }
    gort_shutdown();
}

static atomic_int g_remote_lg;
static int g_remote_total;
static void lg_remote(void *arg)
{
    (void)arg;
    on_loop_thread();
    gort_yield();
    on_loop_thread();
    if (atomic_fetch_add(&g_remote_lg, 1) + 1 == g_remote_total)
        gort_loop_unref(g_loop);
}

static void remote_spawner(void *arg)
{
    for (int i = 0; i < 50; i++)
        CHECK_EQ(gort_loop_go(g_loop, lg_remote, NULL), 0);
    gort_wg_done(arg);
}

static void *remote_spawner_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++)
        CHECK_EQ(gort_loop_go(g_loop, lg_remote, NULL), 0);
    return NULL;
}

static void t_whoami(void *arg)
{
    (void)arg;
    g_loop_thread = pthread_self();
    atomic_store(&g_running, 1);
}

TEST(start_join_and_remote_spawns)
{
    gort_loop *loop = setup();
    g_loop = loop;
    /* An empty loop started on its own thread finishes by itself. */
    CHECK_EQ(gort_loop_start(loop), 0);
    CHECK_EQ(gort_loop_join(loop), 0);

    g_remote_total = 100;
    gort_loop_ref(loop);
    CHECK_EQ(gort_loop_post(loop, t_whoami, NULL), 0);
    CHECK_EQ(gort_loop_start(loop), 0);
    int64_t h = hatch();
    while (!atomic_load(&g_running) && gort_now() < h)
        os_sleep(100 * US);
    CHECK(atomic_load(&g_running));
    CHECK(!pthread_equal(g_loop_thread, pthread_self()));
    /* Running elsewhere: the main thread may not run it too. */
    CHECK_EQ(gort_loop_run(loop), GORT_EBUSY);
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), GORT_EBUSY);
    CHECK_EQ(gort_loop_start(loop), GORT_EBUSY);
    CHECK(gort_loop_current() == NULL);

    gort_wg wg = GORT_WG_INIT;
    gort_wg_add(&wg, 1);
    CHECK_EQ(gort_go(remote_spawner, &wg), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, remote_spawner_thread, NULL), 0);
    CHECK_EQ(gort_loop_join(loop), 0);
    pthread_join(th, NULL);
    CHECK_EQ(gort_wg_wait_until(&wg, hatch()), 0);
    CHECK_EQ(atomic_load(&g_remote_lg), 100);
    teardown(loop);
}

/* ---- fd watchers ------------------------------------------------------------ */

static int g_pipe[2];
static atomic_int g_watch_calls;
static int64_t g_watch_id;
static char g_watch_buf[64];
static size_t g_watch_len;

static void on_readable(int fd, int revents, void *arg)
{
    CHECK_EQ((intptr_t)arg, 77);
    on_loop_thread();
    CHECK_EQ(fd, g_pipe[0]);
    CHECK(revents & GORT_POLLIN);
    for (;;) { /* drain */
        ssize_t n = read(fd, g_watch_buf + g_watch_len, sizeof g_watch_buf - g_watch_len);
        if (n <= 0)
            break;
        g_watch_len += (size_t)n;
    }
    if (atomic_fetch_add(&g_watch_calls, 1) + 1 == 3)
        CHECK_EQ(gort_loop_unwatch(g_loop, g_watch_id), 0);
}

static void *pipe_writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        int64_t h = hatch();
        while (atomic_load(&g_watch_calls) < i && gort_now() < h)
            os_sleep(200 * US);
        os_sleep(5 * MS);
        char c = (char)('a' + i);
        CHECK_EQ(write(g_pipe[1], &c, 1), 1);
    }
    return NULL;
}

static int g_out_calls;
static int64_t g_out_id;
static void on_writable(int fd, int revents, void *arg)
{
    (void)arg;
    on_loop_thread();
    CHECK_EQ(fd, g_pipe[1]);
    CHECK(revents & GORT_POLLOUT);
    g_out_calls++;
    CHECK_EQ(gort_loop_unwatch(g_loop, g_out_id), 0);
}

TEST(watch_fd_pipe)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    CHECK_EQ(pipe2(g_pipe, O_NONBLOCK | O_CLOEXEC), 0);
    g_watch_id = gort_loop_watch_fd(loop, g_pipe[0], GORT_POLLIN, on_readable, (void *)(intptr_t)77);
    CHECK_MSG(g_watch_id > 0, "watch_fd: %s", gort_err_name((int)g_watch_id));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, pipe_writer, NULL), 0);
    run_checked(loop); /* the watcher keeps it alive until unwatched */
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&g_watch_calls), 3);
    CHECK_EQ(g_watch_len, 3);
    CHECK(memcmp(g_watch_buf, "abc", 3) == 0);
    /* Unwatched: more data does not call back. */
    CHECK_EQ(write(g_pipe[1], "d", 1), 1);
    CHECK_EQ(gort_loop_run_once(loop, gort_now() + 30 * MS), 0);
    CHECK_EQ(atomic_load(&g_watch_calls), 3);
    CHECK(gort_loop_unwatch(loop, g_watch_id) < 0);

    /* POLLOUT on an empty pipe: ready at once. */
    g_out_id = gort_loop_watch_fd(loop, g_pipe[1], GORT_POLLOUT, on_writable, NULL);
    CHECK(g_out_id > 0);
    run_checked(loop);
    CHECK_EQ(g_out_calls, 1);

    /* Bad input. */
    CHECK(gort_loop_watch_fd(loop, -1, GORT_POLLIN, on_readable, NULL) < 0);
    CHECK_EQ(gort_loop_watch_fd(loop, g_pipe[0], 0, on_readable, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_watch_fd(loop, g_pipe[0], GORT_POLLIN, NULL, NULL), GORT_EINVAL);
    CHECK(gort_loop_unwatch(loop, 0) < 0);
    CHECK(gort_loop_unwatch(loop, 123456789) < 0);
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 0);
    close(g_pipe[0]);
    close(g_pipe[1]);
    teardown(loop);
}

static int g_self_unwatch_calls;
static int64_t g_self_unwatch_id;
static void on_readable_once(int fd, int revents, void *arg)
{
    (void)revents;
    (void)arg;
    char buf[16];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    g_self_unwatch_calls++;
    CHECK_EQ(gort_loop_unwatch(g_loop, g_self_unwatch_id), 0);
}

TEST(watch_fd_unwatch_inside_callback_repeatedly)
{
    /* The usual "read once, then stop watching" pattern, many times: the
     * watch must be torn down cleanly whatever the timing of the engine's
     * side of it. */
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    CHECK_EQ(pipe2(g_pipe, O_NONBLOCK | O_CLOEXEC), 0);
    int rounds = (int)scaled(500, 50);
    for (int i = 0; i < rounds; i++) {
        CHECK_EQ(write(g_pipe[1], "x", 1), 1);
        g_self_unwatch_id = gort_loop_watch_fd(loop, g_pipe[0], GORT_POLLIN, on_readable_once, NULL);
        CHECK(g_self_unwatch_id > 0);
        run_checked(loop);
        CHECK_EQ(g_self_unwatch_calls, i + 1);
    }
    close(g_pipe[0]);
    close(g_pipe[1]);
    teardown(loop);
}

/* ---- responsiveness ----------------------------------------------------------- */

static int64_t g_last_tick, g_max_lag;
static int g_jobs, g_jobs_done, g_resp_ticks;
static int64_t g_resp_iv;

static void t_resp_tick(void *arg)
{
    (void)arg;
    int64_t now = gort_now();
    if (g_last_tick && now - g_last_tick > g_max_lag)
        g_max_lag = now - g_last_tick;
    g_last_tick = now;
    g_resp_ticks++;
}

/* fib(30) over and over until the job's time is up: CPU-bound work on a
 * pool goroutine for a fixed wall time, whatever the build's speed. */
static int64_t g_work_until;
static void busy_job(gort_promise *p, void *arg)
{
    (void)arg;
    long r = 0, n = 0;
    do {
        r = fib(30);
        n++;
    } while (gort_now() < g_work_until);
    CHECK_EQ(r, 832040);
    CHECK_EQ(gort_promise_resolve(p, (void *)(intptr_t)n, NULL), 0);
}

static long g_fibs;
static void on_job_done(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)ud;
    on_loop_thread();
    CHECK_EQ(gort_promise_state(settled), GORT_FULFILLED);
    g_fibs += (long)(intptr_t)gort_promise_value(settled);
    if (++g_jobs_done == g_jobs)
        CHECK_EQ(gort_loop_clear_timer(g_loop, g_resp_iv), 0);
}

TEST(responsive_while_pool_computes)
{
    /* Valgrind runs one thread at a time: the loop's ticks wait behind the
     * pool's computation by construction, so lag means nothing there. */
    if (getenv("GORT_UNDER_VALGRIND"))
        SKIP("loop lag is not measurable under Valgrind's serialised threads");
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    g_jobs = 2 * gort_procs(); /* more runnable work than cores */
    g_resp_iv = gort_loop_set_interval(loop, 1 * MS, t_resp_tick, NULL);
    CHECK(g_resp_iv > 0);
    int64_t t0 = gort_now();
    g_work_until = t0 + 300 * MS;
    for (int i = 0; i < g_jobs; i++) {
        gort_promise *p = gort_async(busy_job, NULL);
        CHECK(p != NULL);
        gort_promise *next = gort_promise_then(p, loop, on_job_done, NULL, NULL);
        CHECK(next != NULL);
        gort_promise_release(next);
        gort_promise_release(p);
    }
    run_checked(loop);
    int64_t wall = gort_now() - t0;
    CHECK_EQ(g_jobs_done, g_jobs);
    printf("    %d jobs (%ld x fib(30)) on %d P(s) for %.0f ms: %d ticks of a 1 ms interval, "
           "max lag %.2f ms\n",
           g_jobs, g_fibs, gort_procs(), (double)wall / 1e6, g_resp_ticks,
           (double)g_max_lag / 1e6);
    CHECK_MSG(g_resp_ticks >= 50, "only %d ticks in %.0f ms", g_resp_ticks, (double)wall / 1e6);
    CHECK_MSG(g_max_lag < 50 * MS * slow(), "max lag %.2f ms", (double)g_max_lag / 1e6);
    teardown(loop);
}

/* ---- bad input ------------------------------------------------------------------- */

static void t_noop(void *arg)
{
    (void)arg;
}

static void io_noop(int fd, int revents, void *arg)
{
    (void)fd;
    (void)revents;
    (void)arg;
}

TEST(bad_input_null)
{
    gort_loop *loop = setup();
    CHECK_EQ(gort_loop_run(NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_run_once(NULL, GORT_NOWAIT), GORT_EINVAL);
    CHECK_EQ(gort_loop_start(NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_join(NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_post(NULL, t_noop, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_microtask(NULL, t_noop, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_set_timeout(NULL, 0, t_noop, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_set_interval(NULL, MS, t_noop, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_clear_timer(NULL, 1), GORT_EINVAL);
    CHECK_EQ(gort_loop_go(NULL, t_noop, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_fd(NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_watch_fd(NULL, 0, GORT_POLLIN, io_noop, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_unwatch(NULL, 1), GORT_EINVAL);
    gort_loop_stop(NULL);
    gort_loop_ref(NULL);
    gort_loop_unref(NULL);
    gort_loop_free(NULL);
    /* NULL callbacks */
    CHECK_EQ(gort_loop_post(loop, NULL, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_microtask(loop, NULL, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_set_timeout(loop, 0, NULL, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_set_interval(loop, MS, NULL, NULL), GORT_EINVAL);
    CHECK_EQ(gort_loop_go(loop, NULL, NULL), GORT_EINVAL);
    /* None of that left work behind. */
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 0);
    teardown(loop);
}

static int g_rc_run, g_rc_once;
static void run_from_goroutine(void *arg)
{
    g_rc_run = gort_loop_run(arg);
    g_rc_once = gort_loop_run_once(arg, GORT_NOWAIT);
    gort_wg_done(&g_prod_wg);
}

static int g_rc_lg;
static void lg_runs_loop(void *arg)
{
    (void)arg;
    g_rc_lg = gort_loop_run(g_loop);
}

TEST(run_inside_goroutine_is_eperm)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    gort_wg_add(&g_prod_wg, 1);
    CHECK_EQ(gort_go(run_from_goroutine, loop), 0);
    CHECK_EQ(gort_wg_wait_until(&g_prod_wg, hatch()), 0);
    CHECK_EQ(g_rc_run, GORT_EPERM);
    CHECK_EQ(g_rc_once, GORT_EPERM);
    /* Also from a loop-bound goroutine of that very loop. */
    g_rc_lg = 1;
    CHECK_EQ(gort_loop_go(loop, lg_runs_loop, NULL), 0);
    run_checked(loop);
    CHECK_MSG(g_rc_lg == GORT_EPERM || g_rc_lg == GORT_EBUSY, "run from a loop goroutine: %d",
              g_rc_lg);
    teardown(loop);
}

static gort_loop *g_other;
static int g_rc_same, g_rc_other, g_rc_other_once, g_rc_await;
static void t_nested_runs(void *arg)
{
    (void)arg;
    g_rc_same = gort_loop_run(g_loop);
    g_rc_other = gort_loop_run(g_other);
    g_rc_other_once = gort_loop_run_once(g_other, GORT_NOWAIT);
    gort_promise *p = gort_promise_new();
    CHECK(p != NULL);
    g_rc_await = gort_await_until(p, gort_now() + 5 * GORT_SECOND);
    gort_promise_release(p);
}

TEST(run_nested_ebusy_eperm_edeadlk)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    g_other = gort_loop_new();
    CHECK(g_other != NULL);
    CHECK_EQ(gort_loop_post(loop, t_nested_runs, NULL), 0);
    int64_t t0 = gort_now();
    run_checked(loop);
    CHECK_MSG(g_rc_same == GORT_EBUSY || g_rc_same == GORT_EPERM, "nested run: %s",
              gort_err_name(g_rc_same));
    CHECK_EQ(g_rc_other, GORT_EPERM);
    CHECK_EQ(g_rc_other_once, GORT_EPERM);
    /* await on the loop's own thread outside a loop goroutine: it could
     * never wake. Reported at once, not after the deadline. */
    CHECK_EQ(g_rc_await, GORT_EDEADLK);
    CHECK(gort_now() - t0 < 4 * GORT_SECOND);
    gort_loop_free(g_other);
    teardown(loop);
}

static atomic_int g_conc_rc = 1;
static void *concurrent_runner(void *arg)
{
    int64_t h = hatch();
    while (!atomic_load(&g_running) && gort_now() < h)
        os_sleep(100 * US);
    atomic_store(&g_conc_rc, gort_loop_run(arg));
    gort_loop_stop(arg);
    return NULL;
}

TEST(run_twice_concurrently_is_ebusy)
{
    gort_loop *loop = setup();
    g_loop = loop;
    g_loop_thread = pthread_self();
    gort_loop_ref(loop); /* runs until the other thread stops it */
    CHECK_EQ(gort_loop_post(loop, t_mark_running, NULL), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, concurrent_runner, loop), 0);
    run_checked(loop);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&g_conc_rc), GORT_EBUSY);
    gort_loop_unref(loop);
    teardown(loop);
}

static void lg_block_forever(void *arg)
{
    /* Parked on a timer, not a channel: a goroutine that shutdown discards
     * while blocked in a channel operation keeps that operation's channel
     * reference (docs/api.md), which LeakSanitizer would report. */
    (void)arg;
    gort_sleep(3600 * GORT_SECOND);
}

TEST(free_with_pending_work)
{
    gort_loop *loop = setup();
    for (int i = 0; i < 100; i++)
        CHECK_EQ(gort_loop_post(loop, t_noop, NULL), 0);
    CHECK_EQ(gort_loop_microtask(loop, t_noop, NULL), 0);
    CHECK(gort_loop_set_timeout(loop, GORT_SECOND, t_noop, NULL) > 0);
    CHECK(gort_loop_set_interval(loop, GORT_SECOND, t_noop, NULL) > 0);
    gort_loop_free(loop); /* dropped, not run; no leak under ASan */
    gort_shutdown();
}

TEST(free_with_parked_loop_goroutine)
{
    /* gort.h: "loop-bound goroutines still parked are discarded at
     * gort_shutdown" — freeing their loop first is allowed. */
    gort_loop *loop = setup();
    gort_chan *ch = gort_chan_make(0, 0);
    CHECK(ch != NULL);
    CHECK_EQ(gort_loop_go(loop, lg_block_forever, ch), 0);
    CHECK_EQ(gort_loop_run_once(loop, GORT_NOWAIT), 1);
    CHECK_EQ(gort_loop_run_once(loop, gort_now() + 10 * MS), 1);
    gort_loop_free(loop);
    gort_chan_release(ch);
    gort_shutdown();
}

/* ---- timer overflow, stop inside timers, free with reactions (issue 10) --- */

static _Atomic int g_fired;
static void t_count(void *arg)
{
    (void)arg;
    atomic_fetch_add(&g_fired, 1);
}

static void t_stop_loop(void *arg)
{
    gort_loop_stop(arg);
}

/* A delay or period of INT64_MAX saturates ("in 292 years"), like
 * gort_after and gort_sleep: it neither fires at once nor, as an interval,
 * fires endlessly. */
TEST(loop_timer_int64_max_saturates)
{
    gort_loop *loop = setup();
    int64_t to = gort_loop_set_timeout(loop, INT64_MAX, t_count, NULL);
    int64_t iv = gort_loop_set_interval(loop, INT64_MAX, t_count, NULL);
    CHECK(to > 0 && iv > 0);
    CHECK(gort_loop_set_timeout(loop, 20 * MS, t_stop_loop, loop) > 0);
    run_checked(loop);
    CHECK_EQ(atomic_load(&g_fired), 0);
    CHECK_EQ(gort_loop_clear_timer(loop, to), 0);
    CHECK_EQ(gort_loop_clear_timer(loop, iv), 0);
    teardown(loop);
}

/* gort_loop_stop from a timer callback ends the turn that runs timers: the
 * next timer due in the same turn waits for the next run. */
TEST(loop_stop_from_timer_breaks_the_turn)
{
    gort_loop *loop = setup();
    CHECK(gort_loop_set_timeout(loop, 0, t_stop_loop, loop) > 0);
    CHECK(gort_loop_set_timeout(loop, 0, t_count, NULL) > 0);
    run_checked(loop);
    CHECK_EQ(atomic_load(&g_fired), 0);
    CHECK(gort_loop_run_once(loop, GORT_NOWAIT) >= 0);
    CHECK_EQ(atomic_load(&g_fired), 1);
    teardown(loop);
}

static _Atomic int g_dtor_runs, g_reaction_runs;
static void ud_dtor(void *ud)
{
    CHECK(ud == &g_dtor_runs);
    atomic_fetch_add(&g_dtor_runs, 1);
}

static void r_count(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)settled;
    (void)ud;
    atomic_fetch_add(&g_reaction_runs, 1);
}

/* gort_loop_free with a reaction queued (its promise already settled): the
 * reaction is cancelled — its derived promise rejected with GORT_ECANCELED,
 * its user data destructor run exactly once, nothing leaked. */
TEST(loop_free_cancels_a_queued_reaction)
{
    gort_loop *loop = setup();
    gort_promise *p = gort_promise_new();
    CHECK(p != NULL);
    CHECK_EQ(gort_promise_resolve(p, NULL, NULL), 0);
    gort_promise *next = gort_promise_then_ex(p, loop, r_count, r_count, &g_dtor_runs, ud_dtor);
    CHECK(next != NULL);
    gort_loop_free(loop);
    CHECK_EQ(atomic_load(&g_dtor_runs), 1);
    CHECK_EQ(atomic_load(&g_reaction_runs), 0);
    CHECK_EQ(gort_await_until(next, GORT_NOWAIT), GORT_ECANCELED); /* handled: no report */
    gort_promise_release(next);
    gort_promise_release(p);
    gort_shutdown();
}

static atomic_int g_unhandled_reports;
static void count_unhandled(gort_promise *p, void *ud)
{
    (void)p;
    (void)ud;
    atomic_fetch_add(&g_unhandled_reports, 1);
}

/* A cancelled reaction whose derived promise nobody holds (a binding that
 * drops then()'s result) is teardown, not a forgotten rejection: no
 * unhandled-rejection report, queued or still registered. */
TEST(loop_free_cancellation_is_not_an_unhandled_rejection)
{
    gort_loop *loop = setup();
    gort_set_unhandled_rejection_hook(count_unhandled, NULL);
    gort_promise *done = gort_promise_new();
    gort_promise *pending = gort_promise_new();
    CHECK(done != NULL && pending != NULL);
    CHECK_EQ(gort_promise_resolve(done, NULL, NULL), 0);
    gort_promise *queued = gort_promise_then_ex(done, loop, r_count, r_count, &g_dtor_runs, ud_dtor);
    gort_promise *registered =
        gort_promise_then_ex(pending, loop, r_count, r_count, &g_dtor_runs, ud_dtor);
    CHECK(queued != NULL && registered != NULL);
    gort_promise_release(queued);
    gort_promise_release(registered);
    gort_loop_free(loop);
    CHECK_EQ(gort_promise_resolve(pending, NULL, NULL), 0);
    CHECK_EQ(atomic_load(&g_dtor_runs), 2);
    CHECK_EQ(atomic_load(&g_reaction_runs), 0);
    /* A real unhandled rejection is still reported: the hook works. */
    gort_promise *lost = gort_promise_new();
    CHECK(lost != NULL);
    CHECK_EQ(gort_promise_reject(lost, GORT_EINVAL, "lost"), 0);
    gort_promise_release(lost);
    CHECK_EQ(atomic_load(&g_unhandled_reports), 1);
    gort_set_unhandled_rejection_hook(NULL, NULL);
    gort_promise_release(done);
    gort_promise_release(pending);
    gort_shutdown();
}

/* gort_loop_free while a reaction waits on a pending promise, then settling
 * it: the late settle finds the loop closed (no use after free) and cancels
 * the reaction the same way. */
TEST(loop_free_then_settle_cancels_a_registered_reaction)
{
    gort_loop *loop = setup();
    gort_promise *p = gort_promise_new();
    CHECK(p != NULL);
    gort_promise *next = gort_promise_then_ex(p, loop, r_count, r_count, &g_dtor_runs, ud_dtor);
    CHECK(next != NULL);
    gort_loop_free(loop);
    CHECK_EQ(atomic_load(&g_dtor_runs), 0);
    CHECK_EQ(gort_promise_resolve(p, NULL, NULL), 0);
    CHECK_EQ(atomic_load(&g_dtor_runs), 1);
    CHECK_EQ(atomic_load(&g_reaction_runs), 0);
    CHECK_EQ(gort_await_until(next, GORT_NOWAIT), GORT_ECANCELED); /* handled: no report */
    gort_promise_release(next);
    gort_promise_release(p);
    gort_shutdown();
}

/* After gort_shutdown a loop can never run again: posting or arming a timer
 * on it fails instead of queueing work nobody will run. */
TEST(loop_post_and_timeout_after_shutdown_fail)
{
    gort_loop *loop = setup();
    gort_shutdown();
    CHECK_EQ(gort_loop_post(loop, t_noop, NULL), GORT_ESHUTDOWN);
    CHECK_EQ(gort_loop_microtask(loop, t_noop, NULL), GORT_ESHUTDOWN);
    int64_t id = gort_loop_set_timeout(loop, MS, t_noop, NULL);
    CHECK_MSG(id == GORT_ENOTINIT || id == GORT_ESHUTDOWN, "set_timeout: %lld", (long long)id);
    CHECK_EQ(gort_loop_run(loop), GORT_ENOTINIT);
    CHECK_EQ(gort_init(NULL), 0); /* a new engine does not revive the old loop */
    CHECK_EQ(gort_loop_run(loop), GORT_ESHUTDOWN);
    CHECK_EQ(gort_loop_post(loop, t_noop, NULL), GORT_ESHUTDOWN);
    CHECK(gort_loop_set_timeout(loop, MS, t_noop, NULL) == GORT_ESHUTDOWN);
    gort_loop_free(loop);
    gort_shutdown();
}

HARNESS_MAIN()
