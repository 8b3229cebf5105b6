/*
 * test_spinning.c — the scheduler's spinning and wake-up policy (sched.c):
 * a spinning M that finds only a hand-off pair naps beside it instead of
 * idling (spinner_nap), a thief leaves a runnext that its owner keeps
 * taking, and with more Ps than CPUs a ready onto the readier's own P
 * starts no M once as many Ms run goroutines as there are CPUs
 * (wakep_local). Each test checks through the public API that the policy
 * costs no goroutine its turn: work readied beside a pair gets another P
 * while the pair runs, timers fire beside a pair, and with 4 or 8 Ps every
 * goroutine of a turn-taking ring that never calls into gort gets to run
 * (Go's TestGoroutineParallelism with P = 4).
 */
#include "gort.h"
#include "harness.h"
#include "test_util.h"

#include <stdatomic.h>
#include <stdint.h>

/* ---- a ping-pong pair that runs until told to stop ----------------------- */

static gort_chan *sp_ab, *sp_ba;
static _Atomic int sp_stop;
static _Atomic long sp_rounds;
static join_t sp_join;

/* Side A: one round trip per iteration, until sp_stop; then tells B. */
static void sp_a(void *arg)
{
    void (*hook)(long) = (void (*)(long))arg;
    for (long i = 1; !atomic_load(&sp_stop); i++) {
        long v = 1;
        GCHECK(gort_chan_send(sp_ab, &v) == 0);
        GCHECK(gort_chan_recv(sp_ba, &v) == 0);
        atomic_store_explicit(&sp_rounds, i, memory_order_release);
        if (hook)
            hook(i);
    }
    long stop = 0;
    GCHECK(gort_chan_send(sp_ab, &stop) == 0);
    join_done(&sp_join);
}

static void sp_b(void *arg)
{
    (void)arg;
    for (;;) {
        long v = -1;
        GCHECK(gort_chan_recv(sp_ab, &v) == 0);
        if (v == 0)
            break;
        GCHECK(gort_chan_send(sp_ba, &v) == 0);
    }
    join_done(&sp_join);
}

static void pair_start(int procs, long joiners, void (*hook)(long))
{
    CHECK_EQ(init_procs(procs), 0);
    atomic_store(&sp_stop, 0);
    atomic_store(&sp_rounds, 0);
    join_init(&sp_join, 2 + joiners);
    sp_ab = gort_chan_make(sizeof(long), 0);
    sp_ba = gort_chan_make(sizeof(long), 0);
    CHECK(sp_ab && sp_ba);
    CHECK_EQ(gort_go(sp_b, NULL), 0);
    CHECK_EQ(gort_go(sp_a, (void *)hook), 0);
}

static void pair_finish(const char *what)
{
    CHECK_MSG(join_wait(&sp_join, 30 * GORT_SECOND * slow()), "%s", what);
    gort_shutdown();
    CHECK_GOROUTINES();
    gort_chan_release(sp_ab);
    gort_chan_release(sp_ba);
    join_destroy(&sp_join);
}

/* ---- work readied beside a pair runs while the pair runs ----------------- */

/* Spawned by side A (so it is readied onto the pair's own P). It spins,
 * not preemptible, without calling into gort until the pair has made
 * progress: it can only see that if it runs on another P (on the pair's P
 * it would stand between the two for good). Then it stops the pair. */
static void sp_bystander(void *arg)
{
    (void)arg;
    gort_preempt_disable(); /* no 10 ms slices: only another P lets the pair on */
    long seen = atomic_load_explicit(&sp_rounds, memory_order_acquire);
    int64_t give_up = mono_ns() + 20 * GORT_SECOND * slow();
    unsigned spins = 0;
    while (atomic_load_explicit(&sp_rounds, memory_order_acquire) < seen + 1000) {
        if ((++spins & 0xffff) == 0 && mono_ns() > give_up) {
            GCHECKF(0, "a goroutine readied beside a ping-pong pair never ran beside it");
            break;
        }
    }
    gort_preempt_enable();
    atomic_store(&sp_stop, 1);
    join_done(&sp_join);
}

/* After the pair has run long enough for a spinner to have found it and
 * napped (a few ms), spawn the bystander. */
static void sp_spawn_bystander(long round)
{
    if (round == scaled(200000, 20000))
        GCHECK(gort_go(sp_bystander, NULL) == 0);
}

TEST(spinning_work_beside_a_pair_gets_another_p)
{
    if (T_ON_VALGRIND())
        SKIP("valgrind runs one thread at a time");
    for (int procs = 2; procs <= 4; procs += 2) {
        pair_start(procs, 1, sp_spawn_bystander);
        pair_finish("pair or bystander stalled");
    }
}

/* ---- timers beside a pair ------------------------------------------------ */

/* A sleeper that is not part of the pair: 20 sleeps of 1 ms must all end
 * (whichever P its timers live on: the pair's, or the napping spinner's,
 * whose nap ends at the earliest timer) while the pair keeps running. */
static void sp_sleeper(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++)
        gort_sleep(GORT_MILLISECOND);
    atomic_store(&sp_stop, 1);
    join_done(&sp_join);
}

TEST(spinning_timers_fire_beside_a_pair)
{
    for (int procs = 2; procs <= 4; procs += 2) {
        pair_start(procs, 1, NULL);
        CHECK_EQ(gort_go(sp_sleeper, NULL), 0);
        pair_finish("a sleeper beside a ping-pong pair never finished");
    }
}

/* ---- more Ps than CPUs: nobody waits forever ----------------------------- */

/* Go's TestGoroutineParallelism with its P = 4 (run at 4 and 8 Ps):
 * goroutine p may take step P*i+p only after the others took theirs, and
 * spins without calling into gort. With fewer CPUs than Ps a goroutine may
 * be left queued on a busy P (wakep_local starts no M then) and must get
 * its turn from a thief or through preemption; without async preemption
 * (TSan, valgrind) a ring left on one M cannot advance, so the test is
 * skipped there. */
enum { RING_N = 4, RING_ROUNDS = 3, RING_TRIES = 3 };
static _Atomic uint32_t ring_x;
static _Atomic int ring_abort;
static int64_t ring_deadline;

static void ring_worker(void *arg)
{
    uint32_t p = (uint32_t)(uintptr_t)arg;
    for (uint32_t i = 0; i < RING_ROUNDS; i++) {
        uint32_t expected = RING_N * i + p;
        unsigned spins = 0;
        while (atomic_load_explicit(&ring_x, memory_order_acquire) != expected) {
            if ((++spins & 0xffff) == 0 &&
                (atomic_load(&ring_abort) || mono_ns() > ring_deadline)) {
                atomic_store(&ring_abort, 1);
                join_done(&sp_join);
                return;
            }
        }
        atomic_store_explicit(&ring_x, expected + 1, memory_order_release);
    }
    join_done(&sp_join);
}

TEST(spinning_oversubscribed_ring_takes_every_turn)
{
    const char *why = no_async_preempt();
    if (why)
        SKIP("%s", why);
    for (int procs = 4; procs <= 8; procs *= 2) {
        CHECK_EQ(init_procs(procs), 0);
        ring_deadline = mono_ns() + 20 * GORT_SECOND * slow();
        for (int t = 0; t < RING_TRIES && !atomic_load(&ring_abort); t++) {
            atomic_store(&ring_x, 0);
            join_init(&sp_join, RING_N);
            for (uintptr_t p = 0; p < RING_N; p++)
                CHECK_EQ(gort_go(ring_worker, (void *)p), 0);
            CHECK_MSG(join_wait(&sp_join, 30 * GORT_SECOND * slow()), "ring workers did not finish");
            join_destroy(&sp_join);
        }
        gort_shutdown();
        CHECK_MSG(!atomic_load(&ring_abort), "procs %d: the ring stuck at step %u", procs,
                  atomic_load(&ring_x));
    }
}

HARNESS_MAIN()
