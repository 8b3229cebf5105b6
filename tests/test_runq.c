/*
 * test_runq.c — white-box tests of the per-P lock-free run queue (runq.h).
 * The queue stores gort__g pointers without dereferencing them, so the
 * tests use fake pointers (small integers) as goroutines.
 */
#include "harness.h"
#include "runq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define G(i) ((gort__g *)(uintptr_t)((i) * 16 + 16))
#define IDX(g) ((long)(((uintptr_t)(g) - 16) / 16))

static gort__runq *newq(void)
{
    gort__runq *q = aligned_alloc(64, (sizeof(gort__runq) + 63) & ~(size_t)63);
    memset(q, 0, sizeof *q);
    return q;
}

TEST(runq_fifo_and_capacity)
{
    gort__runq *q = newq();
    bool next;
    CHECK(gort__runq_get(q, &next) == NULL);
    CHECK(gort__runq_empty(q));
    for (long i = 0; i < (long)GORT__RUNQ_SIZE; i++)
        CHECK(gort__runq_put(q, G(i)));
    CHECK(!gort__runq_put(q, G(999))); /* full: refused, nothing changed */
    CHECK_EQ(gort__runq_len(q), GORT__RUNQ_SIZE);
    for (long i = 0; i < (long)GORT__RUNQ_SIZE; i++) {
        gort__g *g = gort__runq_get(q, &next);
        CHECK_EQ(IDX(g), i);
        CHECK(!next);
    }
    CHECK(gort__runq_get(q, &next) == NULL);
    /* Wrap-around of the free-running counters keeps FIFO. */
    for (int round = 0; round < 10; round++) {
        for (long i = 0; i < 100; i++)
            CHECK(gort__runq_put(q, G(i)));
        for (long i = 0; i < 100; i++)
            CHECK_EQ(IDX(gort__runq_get(q, &next)), i);
    }
    free(q);
}

TEST(runq_runnext_first)
{
    gort__runq *q = newq();
    bool next;
    CHECK(gort__runq_put(q, G(1)));
    CHECK(gort__runq_set_next(q, G(2)) == NULL);
    /* Setting runnext again displaces the previous one to the caller. */
    CHECK_EQ(IDX(gort__runq_set_next(q, G(3))), 2);
    CHECK(!gort__runq_empty(q));
    CHECK_EQ(IDX(gort__runq_get(q, &next)), 3);
    CHECK(next);
    CHECK_EQ(IDX(gort__runq_get(q, &next)), 1);
    CHECK(!next);
    CHECK(gort__runq_empty(q));
    free(q);
}

TEST(runq_take_half_when_full)
{
    gort__runq *q = newq();
    gort__g *out[GORT__RUNQ_SIZE / 2];
    CHECK_EQ(gort__runq_take_half(q, out), 0); /* not full */
    for (long i = 0; i < (long)GORT__RUNQ_SIZE; i++)
        CHECK(gort__runq_put(q, G(i)));
    CHECK_EQ(gort__runq_take_half(q, out), GORT__RUNQ_SIZE / 2);
    for (long i = 0; i < (long)GORT__RUNQ_SIZE / 2; i++)
        CHECK_EQ(IDX(out[i]), i); /* the oldest half */
    CHECK_EQ(gort__runq_len(q), GORT__RUNQ_SIZE / 2);
    bool next;
    CHECK_EQ(IDX(gort__runq_get(q, &next)), (long)GORT__RUNQ_SIZE / 2);
    free(q);
}

TEST(runq_steal_takes_half)
{
    for (long n = 1; n <= 9; n++) {
        gort__runq *src = newq(), *dst = newq();
        for (long i = 0; i < n; i++)
            CHECK(gort__runq_put(src, G(i)));
        gort__g *g = gort__runq_steal(dst, src, false);
        CHECK(g != NULL);
        long stolen = n - n / 2; /* half, rounded up */
        CHECK_EQ(gort__runq_len(dst) + 1, stolen);
        CHECK_EQ(gort__runq_len(src), n - stolen);
        /* The thief got the oldest ones, in order; it runs the last stolen. */
        CHECK_EQ(IDX(g), stolen - 1);
        bool next;
        for (long i = 0; i < stolen - 1; i++)
            CHECK_EQ(IDX(gort__runq_get(dst, &next)), i);
        free(src);
        free(dst);
    }
    /* runnext is stolen only when asked and the ring is empty. */
    gort__runq *src = newq(), *dst = newq();
    gort__runq_set_next(src, G(7));
    CHECK(gort__runq_steal(dst, src, false) == NULL);
    CHECK_EQ(IDX(gort__runq_steal(dst, src, true)), 7);
    CHECK(gort__runq_empty(src));
    free(src);
    free(dst);
}

/* Concurrency: the owner puts and gets, thieves steal; every goroutine is
 * consumed exactly once, and a queue that always holds work never looks
 * empty to an observer. */
#define NTHIEVES 2
static gort__runq *shared_q;
static _Atomic int owner_done;
static _Atomic uint8_t *seen;
static _Atomic long consumed;

static void consume(gort__g *g)
{
    long i = IDX(g);
    uint8_t prev = atomic_fetch_add(&seen[i], 1);
    CHECK_MSG(prev == 0, "goroutine %ld consumed twice", i);
    atomic_fetch_add(&consumed, 1);
}

static void *thief(void *arg)
{
    (void)arg;
    gort__runq *mine = newq();
    bool next;
    int pass = 0;
    while (!atomic_load(&owner_done) || !gort__runq_empty(shared_q)) {
        gort__g *g = gort__runq_steal(mine, shared_q, (pass++ & 3) == 0);
        if (g) {
            consume(g);
            while ((g = gort__runq_get(mine, &next)))
                consume(g);
        }
    }
    free(mine);
    return NULL;
}

TEST(runq_concurrent_owner_and_thieves)
{
    long total = T_SCALE(2000000);
    shared_q = newq();
    seen = calloc((size_t)total, 1);
    pthread_t th[NTHIEVES];
    for (int i = 0; i < NTHIEVES; i++)
        pthread_create(&th[i], NULL, thief, NULL);
    bool next;
    for (long i = 0; i < total; i++) {
        if (i % 3 == 0) {
            gort__g *old = gort__runq_set_next(shared_q, G(i));
            if (old && !gort__runq_put(shared_q, old))
                consume(old);
        } else if (!gort__runq_put(shared_q, G(i))) {
            consume(G(i));
        }
        if (i % 5 == 0) {
            gort__g *g = gort__runq_get(shared_q, &next);
            if (g)
                consume(g);
        }
    }
    atomic_store(&owner_done, 1);
    gort__g *g;
    while ((g = gort__runq_get(shared_q, &next)))
        consume(g);
    for (int i = 0; i < NTHIEVES; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&consumed), total);
    for (long i = 0; i < total; i++)
        CHECK_MSG(atomic_load(&seen[i]) == 1, "goroutine %ld seen %d times", i, seen[i]);
    free((void *)seen);
    free(shared_q);
}

static _Atomic int observer_stop;
static _Atomic long spurious_empty;

static void *observer(void *arg)
{
    gort__runq *q = arg;
    while (!atomic_load(&observer_stop))
        if (gort__runq_empty(q))
            atomic_fetch_add(&spurious_empty, 1);
    return NULL;
}

TEST(runq_never_spuriously_empty)
{
    /* The owner keeps at least one goroutine queued at every instant while
     * it shuffles runnext into the ring and takes from the head. */
    gort__runq *q = newq();
    CHECK(gort__runq_put(q, G(0)));
    pthread_t th;
    pthread_create(&th, NULL, observer, q);
    bool next;
    long n = T_SCALE(3000000);
    for (long i = 1; i < n; i++) {
        gort__g *old = gort__runq_set_next(q, G(i));
        if (old)
            CHECK(gort__runq_put(q, old));
        if (gort__runq_len(q) > 8) {
            gort__g *g = gort__runq_get(q, &next);
            CHECK(g != NULL);
        }
    }
    atomic_store(&observer_stop, 1);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&spurious_empty), 0);
    free(q);
}

HARNESS_MAIN()
