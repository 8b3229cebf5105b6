/*
 * test_promise_slab.c — the per-loop memory behind promises and tasks:
 * slab.c's blocks (promises, then() blocks and reaction nodes made on a
 * loop's thread) and loop.c's recycled task records.
 *
 * What is checked:
 *   slab (white-box): blocks are zeroed, aligned, distinct, usable while
 *        freed on other threads in any order, before and after the slab
 *        moves on or is released; heap blocks (no slab) free the same way.
 *   promises made on a loop's thread outlive the loop: a then-chain built
 *        there and released after gort_loop_free; a reaction registered
 *        there on a pending promise, settled by another thread after
 *        gort_loop_free, rejects its promise with GORT_ECANCELED.
 *   promises made on a loop's thread (by a loop-bound goroutine) and
 *        settled and released by foreign threads while it keeps making more
 *        (slab chunks freed on other threads than the one carving them).
 *   task records: bursts of microtasks and macrotasks much larger than the
 *        loop's spare list, queued from the loop's thread and from a
 *        foreign thread, run once each, in FIFO order per source, and the
 *        loop returns only when all have run.
 *   combinators whose inputs settle on another thread while
 *        gort_promise_all registers on them: every value arrives, in input
 *        order.
 *
 * ASan/LSan and Valgrind runs check that nothing leaks or is touched after
 * its free (freed slab blocks are poisoned for both).
 */
#define _GNU_SOURCE 1
#include "gort.h"
#include "harness.h"
#include "slab.h"
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static void start(void)
{
    CHECK_EQ(gort_init(NULL), 0);
}

/* ---- slab (white-box) ------------------------------------------------------ */

#define SLAB_N 100 /* several chunks' worth */

typedef struct slab_batch {
    void **blocks;
    int    from, to, step; /* which of them this thread frees */
} slab_batch;

static void *free_batch(void *arg)
{
    slab_batch *b = arg;
    for (int i = b->from; i != b->to; i += b->step)
        gort__slab_free(b->blocks[i]);
    return NULL;
}

static void slab_round(gort__slab *s, size_t size)
{
    void *blocks[SLAB_N];
    for (int i = 0; i < SLAB_N; i++) {
        unsigned char *b = gort__slab_alloc(s, size);
        CHECK(b != NULL);
        CHECK_EQ((uintptr_t)b % GORT__SLAB_ALIGN, 0);
        for (size_t k = 0; k < size; k++)
            CHECK_EQ(b[k], 0);
        memset(b, 0xa0 + i % 16, size);
        blocks[i] = b;
    }
    /* Distinct and intact: each still holds its own pattern. */
    for (int i = 0; i < SLAB_N; i++) {
        unsigned char *b = blocks[i];
        CHECK_EQ(b[0], 0xa0 + i % 16);
        CHECK_EQ(b[size - 1], 0xa0 + i % 16);
    }
    /* Odd ones freed backwards by another thread, even ones here. */
    slab_batch odd = {blocks, SLAB_N - 1, -1, -2};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, free_batch, &odd), 0);
    slab_batch even = {blocks, 0, SLAB_N, 2};
    free_batch(&even);
    CHECK_EQ(pthread_join(th, NULL), 0);
}

TEST(slab_blocks_zeroed_distinct_freed_anywhere)
{
    gort__slab s = {0};
    slab_round(&s, 40);
    slab_round(&s, 40);  /* the same slab carries on */
    slab_round(&s, 200); /* another size: the slab moves to a chunk of that size */
    slab_round(NULL, 24); /* heap blocks */
    /* A block outliving its slab's release. */
    void *last = gort__slab_alloc(&s, 40);
    CHECK(last != NULL);
    gort__slab_release(&s);
    CHECK(s.cur == NULL);
    memset(last, 1, 40);
    gort__slab_free(last);
    gort__slab_release(&s); /* nothing to release: a no-op */
}

/* ---- promises made on a loop's thread outlive the loop ---------------------- */

#define CHAIN_N 1000

static gort_loop *g_loop;
static gort_promise *g_kept;

static void add_one(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)ud;
    gort_promise_resolve(next, (void *)((intptr_t)gort_promise_value(settled) + 1), NULL);
}

static void build_chain(void *arg)
{
    (void)arg;
    gort_promise *p = gort_promise_new();
    CHECK(p != NULL);
    CHECK_EQ(gort_promise_resolve(p, (void *)(intptr_t)0, NULL), 0);
    for (int i = 0; i < CHAIN_N; i++) {
        gort_promise *next = gort_promise_then(p, g_loop, add_one, NULL, NULL);
        CHECK(next != NULL);
        gort_promise_release(p);
        p = next;
    }
    g_kept = p;
}

TEST(chain_made_on_loop_outlives_loop)
{
    start();
    g_loop = gort_loop_new();
    CHECK(g_loop != NULL);
    CHECK_EQ(gort_loop_post(g_loop, build_chain, NULL), 0);
    CHECK_EQ(gort_loop_run(g_loop), 0);
    gort_loop_free(g_loop);
    CHECK_EQ(gort_promise_state(g_kept), GORT_FULFILLED);
    CHECK_EQ((intptr_t)gort_promise_value(g_kept), CHAIN_N);
    gort_promise_release(g_kept);
    gort_shutdown();
}

static gort_promise *g_src, *g_next;
static _Atomic int g_handler_ran;

static void must_not_run(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)settled;
    (void)ud;
    atomic_store(&g_handler_ran, 1);
}

static void register_pending(void *arg)
{
    (void)arg;
    g_src = gort_promise_new();
    CHECK(g_src != NULL);
    g_next = gort_promise_then(g_src, g_loop, must_not_run, must_not_run, NULL);
    CHECK(g_next != NULL);
}

static void *resolve_src(void *arg)
{
    (void)arg;
    CHECK_EQ(gort_promise_resolve(g_src, NULL, NULL), 0);
    return NULL;
}

TEST(reaction_made_on_loop_cancelled_after_loop_free)
{
    start();
    g_loop = gort_loop_new();
    CHECK(g_loop != NULL);
    CHECK_EQ(gort_loop_post(g_loop, register_pending, NULL), 0);
    /* One turn: the task runs; the reaction keeps the loop alive (1). */
    CHECK_EQ(gort_loop_run_once(g_loop, GORT_NOWAIT), 1);
    gort_loop_free(g_loop);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, resolve_src, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(gort_promise_state(g_next), GORT_REJECTED);
    CHECK_EQ(gort_await_until(g_next, GORT_NOWAIT), GORT_ECANCELED); /* and observed */
    CHECK_EQ(atomic_load(&g_handler_ran), 0);
    gort_promise_release(g_next);
    gort_promise_release(g_src);
    gort_shutdown();
}

/* ---- made on the loop, settled and released by foreign threads ---------------- */

#define HANDOFF_THREADS 2

static gort_chan *g_handoff;   /* gort_promise *: made on the loop, for the threads */
static _Atomic long g_settled; /* promises the threads resolved */
static long g_handoff_n;

static void make_and_hand_off(void *arg)
{
    (void)arg;
    for (long i = 0; i < g_handoff_n; i++) {
        gort_promise *p = gort_promise_new();
        CHECK(p != NULL);
        gort_promise *q = gort_promise_then(p, g_loop, NULL, NULL, NULL); /* pass-through */
        CHECK(q != NULL);
        gort_promise_release(q); /* the chain keeps it until its reaction ran */
        CHECK_EQ(gort_chan_send(g_handoff, &p), 0);
    }
    gort_chan_close(g_handoff);
}

static void *settle_and_release(void *arg)
{
    (void)arg;
    gort_promise *p;
    while (gort_chan_recv(g_handoff, &p) == 0) {
        CHECK_EQ(gort_promise_resolve(p, NULL, NULL), 0);
        gort_promise_release(p);
        atomic_fetch_add(&g_settled, 1);
    }
    return NULL;
}

TEST(made_on_loop_settled_and_released_elsewhere)
{
    start();
    g_handoff_n = T_SCALE(20000);
    g_loop = gort_loop_new();
    CHECK(g_loop != NULL);
    g_handoff = gort_chan_make(sizeof(gort_promise *), 64);
    CHECK(g_handoff != NULL);
    pthread_t th[HANDOFF_THREADS];
    for (int i = 0; i < HANDOFF_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, settle_and_release, NULL), 0);
    /* A loop-bound goroutine: on the loop's thread (its slabs), and free to
     * block on the channel while the loop runs the reactions. */
    CHECK_EQ(gort_loop_go(g_loop, make_and_hand_off, NULL), 0);
    CHECK_EQ(gort_loop_run(g_loop), 0); /* returns once every reaction ran */
    for (int i = 0; i < HANDOFF_THREADS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(atomic_load(&g_settled), g_handoff_n);
    gort_chan_release(g_handoff);
    gort_loop_free(g_loop);
    gort_shutdown();
}

/* ---- task records: bursts beyond the spare list -------------------------------- */

#define BURST 1000

static long g_next_local, g_next_foreign, g_next_macro; /* expected next index */
static _Atomic long g_foreign_posted;
static int g_rounds;

static void m_local(void *arg)
{
    CHECK_EQ((long)(intptr_t)arg, g_next_local);
    g_next_local++;
}

static void m_foreign(void *arg)
{
    CHECK_EQ((long)(intptr_t)arg, g_next_foreign);
    g_next_foreign++;
}

static void burst(void *arg);

static void t_macro(void *arg)
{
    CHECK_EQ((long)(intptr_t)arg, g_next_macro);
    g_next_macro++;
    if (g_next_macro % BURST == 0 && --g_rounds > 0)
        CHECK_EQ(gort_loop_post(g_loop, burst, NULL), 0);
}

/* From the loop's thread: a burst of microtasks and one of macrotasks. */
static void burst(void *arg)
{
    (void)arg;
    long base = g_next_local;
    for (long i = 0; i < BURST; i++)
        CHECK_EQ(gort_loop_microtask(g_loop, m_local, (void *)(intptr_t)(base + i)), 0);
    long mbase = g_next_macro;
    for (long i = 0; i < BURST; i++)
        CHECK_EQ(gort_loop_post(g_loop, t_macro, (void *)(intptr_t)(mbase + i)), 0);
}

static void *post_foreign(void *arg)
{
    (void)arg;
    for (long i = 0; i < 3 * BURST; i++) {
        CHECK_EQ(gort_loop_microtask(g_loop, m_foreign, (void *)(intptr_t)i), 0);
        atomic_fetch_add(&g_foreign_posted, 1);
    }
    gort_loop_unref(g_loop);
    return NULL;
}

TEST(task_bursts_beyond_spares_run_in_order)
{
    start();
    g_loop = gort_loop_new();
    CHECK(g_loop != NULL);
    g_rounds = 3;
    gort_loop_ref(g_loop); /* until the foreign poster is done */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, post_foreign, NULL), 0);
    CHECK_EQ(gort_loop_post(g_loop, burst, NULL), 0);
    CHECK_EQ(gort_loop_run(g_loop), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(g_next_local, 3 * BURST);
    CHECK_EQ(g_next_macro, 3 * BURST);
    CHECK_EQ(g_next_foreign, atomic_load(&g_foreign_posted));
    CHECK_EQ(g_next_foreign, 3 * BURST);
    gort_loop_free(g_loop);
    gort_shutdown();
}

/* ---- combinator inputs settling during registration ---------------------------- */

#define ALL_N 64

static gort_promise *g_inputs[ALL_N];

static void *resolve_inputs(void *arg)
{
    (void)arg;
    for (int i = 0; i < ALL_N; i++)
        CHECK_EQ(gort_promise_resolve(g_inputs[i], (void *)(intptr_t)(i + 1), NULL), 0);
    return NULL;
}

TEST(all_inputs_settling_during_registration)
{
    start();
    for (long round = 0; round < T_SCALE(300); round++) {
        for (int i = 0; i < ALL_N; i++) {
            g_inputs[i] = gort_promise_new();
            CHECK(g_inputs[i] != NULL);
        }
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, resolve_inputs, NULL), 0);
        gort_promise *all = gort_promise_all(g_inputs, ALL_N);
        CHECK(all != NULL);
        CHECK_EQ(gort_await_until(all, hatch()), 0);
        void **vals = gort_promise_value(all);
        for (int i = 0; i < ALL_N; i++)
            CHECK_EQ((intptr_t)vals[i], i + 1);
        CHECK_EQ(pthread_join(th, NULL), 0);
        gort_promise_release(all);
        for (int i = 0; i < ALL_N; i++)
            gort_promise_release(g_inputs[i]);
    }
    gort_shutdown();
}

HARNESS_MAIN()
