/*
 * test_timerheap.c — white-box tests of the 4-ary timer heap and of timer
 * firing/stopping (timer.h), without a running scheduler; and of how a
 * periodic timer's re-arm reaches the poller M, with one.
 */
#include "harness.h"
#include "engine.h"
#include "test_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void heap_check(gort__timers *ts)
{
    for (uint32_t i = 0; i < ts->len; i++) {
        CHECK_EQ(ts->heap[i]->index_, (long long)i);
        if (i > 0)
            CHECK(ts->heap[(i - 1) / 4]->when <= ts->heap[i]->when);
    }
    CHECK_EQ(atomic_load(&ts->first), ts->len ? ts->heap[0]->when : INT64_MAX);
}

TEST(timerheap_push_pop_sorted)
{
    gort__timers ts;
    memset(&ts, 0, sizeof ts);
    atomic_store(&ts.first, INT64_MAX);
    int n = (int)T_SCALE(20000);
    gort__timer *t = calloc((size_t)n, sizeof *t);
    srand(42);
    for (int i = 0; i < n; i++) {
        t[i].when = rand() % 1000; /* many equal keys */
        CHECK_EQ(gort__theap_push(&ts, &t[i]), 0);
        if (i % 997 == 0)
            heap_check(&ts);
    }
    heap_check(&ts);
    int64_t last = -1;
    for (int i = 0; i < n; i++) {
        gort__timer *top = gort__theap_top(&ts);
        CHECK(top->when >= last);
        last = top->when;
        gort__theap_remove(&ts, 0);
        CHECK_EQ(top->index_, -1);
    }
    CHECK(gort__theap_top(&ts) == NULL);
    CHECK_EQ(atomic_load(&ts.first), INT64_MAX);
    gort__timers_destroy(&ts);
    free(t);
}

TEST(timerheap_remove_arbitrary)
{
    gort__timers ts;
    memset(&ts, 0, sizeof ts);
    atomic_store(&ts.first, INT64_MAX);
    int n = (int)T_SCALE(5000);
    gort__timer *t = calloc((size_t)n, sizeof *t);
    srand(7);
    for (int i = 0; i < n; i++) {
        t[i].when = rand();
        CHECK_EQ(gort__theap_push(&ts, &t[i]), 0);
    }
    /* Remove every third timer from wherever it sits. */
    for (int i = 0; i < n; i += 3) {
        gort__theap_remove(&ts, (uint32_t)t[i].index_);
        if (i % 301 == 0)
            heap_check(&ts);
    }
    heap_check(&ts);
    int64_t last = -1;
    int left = 0;
    while (ts.len) {
        gort__timer *top = gort__theap_top(&ts);
        CHECK((top - t) % 3 != 0);
        CHECK(top->when >= last);
        last = top->when;
        gort__theap_remove(&ts, 0);
        left++;
    }
    CHECK_EQ(left, n - (n + 2) / 3);
    gort__timers_destroy(&ts);
    free(t);
}

static int fired[8];
static void count_fire(gort__timer *t, int64_t now)
{
    (void)now;
    fired[(intptr_t)t->arg]++;
}

TEST(timers_run_fires_due_in_order_and_rearms_periodic)
{
    gort__timers ts;
    memset(&ts, 0, sizeof ts);
    atomic_store(&ts.first, INT64_MAX);
    gort__timer a = {.when = 100, .fn = count_fire, .arg = (void *)0};
    gort__timer b = {.when = 200, .fn = count_fire, .arg = (void *)1};
    gort__timer c = {.when = 50, .period = 100, .fn = count_fire, .arg = (void *)2};
    CHECK_EQ(gort__theap_push(&ts, &a), 0);
    CHECK_EQ(gort__theap_push(&ts, &b), 0);
    CHECK_EQ(gort__theap_push(&ts, &c), 0);
    atomic_store(&a.status_, 1);
    atomic_store(&b.status_, 1);
    atomic_store(&c.status_, 1);
    CHECK_EQ(gort__timers_run(&ts, 10), 50); /* nothing due */
    CHECK_EQ(gort__timers_run(&ts, 120), 150); /* a and c fired; c re-armed at 150 */
    CHECK_EQ(fired[0], 1);
    CHECK_EQ(fired[2], 1);
    CHECK_EQ(fired[1], 0);
    /* Missed periods are skipped, not replayed (Go's tickers). */
    CHECK_EQ(gort__timers_run(&ts, 1000), 1050);
    CHECK_EQ(fired[1], 1);
    CHECK_EQ(fired[2], 2);
    gort__timers_destroy(&ts);
}

/* gort__timer_stop must wait for a callback that is running elsewhere. */
static _Atomic int in_cb, cb_may_return, cb_returned;
static void slow_fire(gort__timer *t, int64_t now)
{
    (void)t;
    (void)now;
    atomic_store(&in_cb, 1);
    while (!atomic_load(&cb_may_return))
        ;
    atomic_store(&cb_returned, 1);
}

static gort__timers stop_ts;
static void *runner(void *arg)
{
    (void)arg;
    gort__timers_run(&stop_ts, 1000);
    return NULL;
}

static _Atomic int stop_done;
static void *stopper(void *arg)
{
    gort__timer_stop(arg);
    CHECK(atomic_load(&cb_returned)); /* never before the callback returned */
    atomic_store(&stop_done, 1);
    return NULL;
}

TEST(timer_stop_waits_for_running_callback)
{
    memset(&stop_ts, 0, sizeof stop_ts);
    atomic_store(&stop_ts.first, INT64_MAX);
    gort__timer t = {.when = 5, .fn = slow_fire};
    t.owner_ = NULL;
    CHECK_EQ(gort__theap_push(&stop_ts, &t), 0);
    atomic_store(&t.status_, 1);
    pthread_t r, s;
    pthread_create(&r, NULL, runner, NULL);
    while (!atomic_load(&in_cb))
        ;
    pthread_create(&s, NULL, stopper, &t);
    for (int i = 0; i < 20000 && !atomic_load(&stop_done); i++)
        sched_yield();
    CHECK(!atomic_load(&stop_done)); /* still blocked: callback not finished */
    atomic_store(&cb_may_return, 1);
    pthread_join(r, NULL);
    pthread_join(s, NULL);
    CHECK(atomic_load(&stop_done));
    CHECK_EQ(atomic_load(&t.status_), 0);
    gort__timers_destroy(&stop_ts);
}

/* ---- periodic re-arm vs the poller (engine running) ------------------------
 *
 * While a periodic timer's callback runs, the timer is in no heap; the
 * runner puts it back afterwards (gort__timers_run). An M that goes idle in
 * that window computes the earliest deadline without it and may become the
 * poller, sleeping until some later timer. The re-arm must reach that
 * poller, or the tick is late by as much as the poller's deadline: the M
 * that ran it then finds a poller and parks for good. Under CPU load a
 * runner descheduled mid-callback opens the window (a loop-bound goroutine
 * doing ticker + gort_chan_recv_until stalled until its 5 s deadline, the
 * deadline timer armed by the goroutine the tick had just woken being the
 * "later timer"). Here the first callback simply waits until a poller sleeps
 * past the next tick, which makes the window deterministic. */
static _Atomic int rp_calls;     /* callbacks so far */
static _Atomic int rp_hold;      /* 1: the first callback waits for the test */
static _Atomic int rp_spinning;  /* the first callback ran on a spinning M */

static void rearm_fire(gort__timer *t, int64_t now)
{
    (void)t;
    (void)now;
    /* One callback at a time: the timer is in no heap while one runs. */
    if (atomic_load(&rp_calls) != 0) {
        atomic_fetch_add(&rp_calls, 1);
        return;
    }
    /* A spinning M blocks every wakep(), so no other M could become the
     * poller meanwhile: the test releases it at once (nothing to check this
     * round; it re-arms and becomes the poller itself, correctly). Recorded
     * before rp_calls tells the test that the callback runs. */
    gort__m *m = gort__this_m();
    atomic_store(&rp_spinning, m && m->spinning ? 1 : 0);
    atomic_store(&rp_calls, 1);
    while (atomic_load(&rp_hold))
        sched_yield();
}

static void far_fire(gort__timer *t, int64_t now)
{
    (void)t;
    (void)now;
}

static bool poller_sleeps_until_at_least(int64_t when)
{
    gort__lock_acquire(&gort__S.lock);
    bool yes = gort__S.poller != NULL && atomic_load(&gort__S.poll_until) >= when;
    gort__lock_release(&gort__S.lock);
    return yes;
}

TEST(periodic_rearm_reaches_a_poller_that_sleeps_past_it)
{
    CHECK_EQ(init_procs(2), 0);
    int rounds = (int)scaled(100, 10), armed = 0;
    for (int i = 0; i < rounds; i++) {
        atomic_store(&rp_calls, 0);
        atomic_store(&rp_spinning, 0);
        atomic_store(&rp_hold, 1);
        gort__timer tick = {.when = gort_now() + GORT_MILLISECOND,
                            .period = GORT_MILLISECOND,
                            .fn = rearm_fire};
        CHECK_EQ(gort__timer_start(&tick), 0);
        int64_t give_up = hatch();
        while (atomic_load(&rp_calls) == 0) {
            CHECK_MSG(gort_now() < give_up, "round %d: the tick never fired", i);
            sched_yield();
        }
        /* The tick is out of every heap now. A far timer makes the M that
         * goes idle next a poller with a deadline an hour away. */
        gort__timer far = {.when = gort_now() + 3600 * GORT_SECOND, .fn = far_fire};
        CHECK_EQ(gort__timer_start(&far), 0);
        if (!atomic_load(&rp_spinning)) {
            while (!poller_sleeps_until_at_least(far.when)) {
                CHECK_MSG(gort_now() < give_up, "round %d: no M became the poller", i);
                sched_yield();
            }
            armed++;
        }
        int64_t released = gort_now();
        atomic_store(&rp_hold, 0);
        /* The next tick is due 1 ms after the first one: it must not wait
         * for the poller's hour. */
        int64_t late = released + 2 * GORT_SECOND * slow();
        while (atomic_load(&rp_calls) < 2) {
            CHECK_MSG(gort_now() < late,
                      "round %d: the re-armed tick is %lld ms late (lost behind a poller "
                      "sleeping until the far timer)",
                      i, (long long)((gort_now() - released) / GORT_MILLISECOND));
            sched_yield();
        }
        gort__timer_stop(&tick);
        gort__timer_stop(&far);
    }
    printf("    %d of %d rounds had a poller sleep past the re-armed tick\n", armed, rounds);
    CHECK(armed > 0);
    gort_shutdown();
}

HARNESS_MAIN()
