/*
 * test_handoff.c — the scheduler's direct hand-off (sched.c): a goroutine
 * that parks while its P's runnext holds a G switches straight to that G,
 * which then commits the park on its own stack. Each test drives one of
 * the paths through it via the public API and checks that no goroutine
 * and no message is lost: plain ping-pong (the hot path, and at 2 Ps its
 * races with thieves), a target on a small stack (declined: put back in
 * runnext, run from g0), a timer armed on the pair's P (declined
 * while it is armed: the timer must still fire), and a commit that readies
 * goroutines itself (gort_cond_wait releases the user's mutex there).
 */
#include "gort.h"
#include "harness.h"
#include "test_util.h"

#include <stdatomic.h>
#include <stdint.h>

static gort_chan *hp_ab, *hp_ba;
static long hp_n;
static join_t hp_join;

/* Side A sends 1..n and expects each back; side B echoes. */
static void hp_a(void *arg)
{
    (void)arg;
    for (long i = 1; i <= hp_n; i++) {
        long v = i, w = 0;
        GCHECK(gort_chan_send(hp_ab, &v) == 0);
        GCHECK(gort_chan_recv(hp_ba, &w) == 0);
        GCHECKF(w == i, "got %ld back, sent %ld", w, i);
    }
    long stop = 0;
    GCHECK(gort_chan_send(hp_ab, &stop) == 0);
    join_done(&hp_join);
}

static void hp_b_loop(void)
{
    for (;;) {
        long v = -1;
        GCHECK(gort_chan_recv(hp_ab, &v) == 0);
        if (v == 0)
            break;
        GCHECK(gort_chan_send(hp_ba, &v) == 0);
    }
}

static void hp_b(void *arg)
{
    (void)arg;
    hp_b_loop();
    join_done(&hp_join);
}

static void ping_pong(int procs, long n, void (*b)(void *), const gort_go_options *b_opts)
{
    CHECK_EQ(init_procs(procs), 0);
    hp_n = n;
    join_init(&hp_join, 2);
    hp_ab = gort_chan_make(sizeof(long), 0);
    hp_ba = gort_chan_make(sizeof(long), 0);
    CHECK(hp_ab && hp_ba);
    CHECK_EQ(gort_go_opts(b, NULL, b_opts), 0);
    CHECK_EQ(gort_go(hp_a, NULL), 0);
    CHECK_MSG(join_wait(&hp_join, 30 * GORT_SECOND * slow()), "the ping-pong pair did not finish");
    gort_shutdown();
    CHECK_GOROUTINES();
    gort_chan_release(hp_ab);
    gort_chan_release(hp_ba);
    join_destroy(&hp_join);
}

TEST(handoff_ping_pong_loses_nothing_one_p)
{
    ping_pong(1, scaled(200000, 2000), hp_b, NULL);
}

/* At 2 Ps thieves may take runnext between a ready and the park. */
TEST(handoff_ping_pong_loses_nothing_two_ps)
{
    ping_pong(2, scaled(200000, 2000), hp_b, NULL);
}

/* B runs on a 16 KiB stack (the minimum): wherever it parks, it has less
 * than HANDOFF_STACK_MIN left, so every hand-off to it is declined (it is
 * put back in runnext) and it must still run, through g0. */
TEST(handoff_declined_for_a_small_stack)
{
    gort_go_options o;
    gort_go_options_init(&o);
    o.stack_size = 16 << 10;
    ping_pong(1, scaled(50000, 1000), hp_b, &o);
}

/* A sleeper on the pair's only P: its timer must fire although the pair
 * would hand off to each other forever; the pair runs until it has. */
static _Atomic int ht_slept;

static void ht_sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++)
        gort_sleep(GORT_MILLISECOND);
    atomic_store(&ht_slept, 1);
    join_done(&hp_join);
}

static void ht_side(void *arg)
{
    int a = arg != NULL;
    for (;;) {
        long v = 0;
        if (a) {
            v = atomic_load(&ht_slept);
            GCHECK(gort_chan_send(hp_ab, &v) == 0);
            if (v)
                break;
            GCHECK(gort_chan_recv(hp_ba, &v) == 0);
        } else {
            GCHECK(gort_chan_recv(hp_ab, &v) == 0);
            if (v)
                break;
            GCHECK(gort_chan_send(hp_ba, &v) == 0);
        }
    }
    join_done(&hp_join);
}

TEST(handoff_leaves_timers_of_its_p_firing)
{
    CHECK_EQ(init_procs(1), 0);
    join_init(&hp_join, 3);
    hp_ab = gort_chan_make(sizeof(long), 0);
    hp_ba = gort_chan_make(sizeof(long), 0);
    CHECK(hp_ab && hp_ba);
    CHECK_EQ(gort_go(ht_sleeper, NULL), 0);
    CHECK_EQ(gort_go(ht_side, NULL), 0);
    CHECK_EQ(gort_go(ht_side, (void *)1), 0);
    CHECK_MSG(join_wait(&hp_join, 20 * GORT_SECOND * slow()),
              "a sleeper next to a ping-pong pair never woke");
    gort_shutdown();
    CHECK_GOROUTINES();
    gort_chan_release(hp_ab);
    gort_chan_release(hp_ba);
    join_destroy(&hp_join);
}

/* Turn-taking through a condition variable: each wait's commit (run by the
 * hand-off target) unlocks the user's mutex, which may ready the other. */
static gort_mutex hc_mu = GORT_MUTEX_INIT;
static gort_cond hc_cv = GORT_COND_INIT;
static long hc_turn, hc_n;

static void hc_side(void *arg)
{
    long me = (long)(intptr_t)arg;
    gort_mutex_lock(&hc_mu);
    for (;;) {
        while (hc_turn % 2 != me && hc_turn < hc_n)
            gort_cond_wait(&hc_cv, &hc_mu);
        if (hc_turn >= hc_n)
            break;
        hc_turn++;
        gort_cond_signal(&hc_cv);
    }
    gort_cond_signal(&hc_cv);
    gort_mutex_unlock(&hc_mu);
    join_done(&hp_join);
}

TEST(handoff_commit_that_readies_others)
{
    for (int procs = 1; procs <= 2; procs++) {
        CHECK_EQ(init_procs(procs), 0);
        join_init(&hp_join, 2);
        hc_turn = 0;
        hc_n = scaled(100000, 1000);
        CHECK_EQ(gort_go(hc_side, (void *)0), 0);
        CHECK_EQ(gort_go(hc_side, (void *)1), 0);
        CHECK_MSG(join_wait(&hp_join, 30 * GORT_SECOND * slow()), "cond turn-taking stalled (procs %d)",
                  procs);
        gort_shutdown();
        CHECK_GOROUTINES();
        CHECK_EQ(hc_turn, hc_n);
        join_destroy(&hp_join);
    }
}

HARNESS_MAIN()
