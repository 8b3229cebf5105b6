/* runq.c — the per-P lock-free run queue. The contract and the memory-ordering
 * argument are in runq.h. */
#include "runq.h"
#include "stats.h"

#define RELAXED memory_order_relaxed
#define ACQUIRE memory_order_acquire
#define RELEASE memory_order_release

GORT__CORE bool gort__runq_put(gort__runq *q, gort__g *g)
{
    uint32_t head = atomic_load_explicit(&q->head, ACQUIRE);
    uint32_t tail = atomic_load_explicit(&q->tail, RELAXED); /* we are its only writer */
    if (tail - head >= GORT__RUNQ_SIZE)
        return false;
    atomic_store_explicit(&q->ring[tail % GORT__RUNQ_SIZE], g, RELAXED);
    atomic_store_explicit(&q->tail, tail + 1, RELEASE);
    return true;
}

GORT__CORE uint32_t gort__runq_take_half(gort__runq *q, gort__g **out)
{
    uint32_t head = atomic_load_explicit(&q->head, ACQUIRE);
    uint32_t tail = atomic_load_explicit(&q->tail, RELAXED);
    uint32_t n = (tail - head) / 2;
    if (n != GORT__RUNQ_SIZE / 2)
        return 0; /* thieves took some: the ring has room again */
    for (uint32_t i = 0; i < n; i++)
        out[i] = atomic_load_explicit(&q->ring[(head + i) % GORT__RUNQ_SIZE], RELAXED);
    if (!atomic_compare_exchange_strong_explicit(&q->head, &head, head + n, RELEASE, RELAXED))
        return 0;
    return n;
}

GORT__CORE gort__g *gort__runq_set_next(gort__runq *q, gort__g *g)
{
    /* An empty slot stays empty until its owner (we) fills it: thieves only
     * take a non-NULL runnext. So no exchange is needed then (the common
     * case: the G that ran last was taken from this very slot). */
    if (atomic_load_explicit(&q->runnext, RELAXED) == NULL) {
        atomic_store_explicit(&q->runnext, g, RELEASE);
        return NULL;
    }
    return atomic_exchange_explicit(&q->runnext, g, memory_order_acq_rel);
}

GORT__CORE gort__g *gort__runq_take_next(gort__runq *q)
{
    gort__g *next = atomic_load_explicit(&q->runnext, RELAXED);
    if (!next || !atomic_compare_exchange_strong_explicit(&q->runnext, &next, NULL,
                                                         memory_order_acq_rel, RELAXED))
        return NULL;
    /* Only the owner writes the counter: no RMW needed (thieves only sample it). */
    atomic_store_explicit(&q->next_taken, atomic_load_explicit(&q->next_taken, RELAXED) + 1,
                          RELAXED);
    return next;
}

GORT__CORE gort__g *gort__runq_get(gort__runq *q, bool *from_next)
{
    gort__g *next = gort__runq_take_next(q);
    if (next) {
        *from_next = true;
        return next;
    }
    *from_next = false;
    for (;;) {
        uint32_t head = atomic_load_explicit(&q->head, ACQUIRE);
        uint32_t tail = atomic_load_explicit(&q->tail, RELAXED);
        if (tail == head)
            return NULL;
        gort__g *g = atomic_load_explicit(&q->ring[head % GORT__RUNQ_SIZE], RELAXED);
        if (atomic_compare_exchange_weak_explicit(&q->head, &head, head + 1, RELEASE, RELAXED))
            return g;
    }
}

/* Copy up to half of src's goroutines into dst's ring starting at slot
 * dst_tail, without publishing them; returns how many were claimed. */
GORT__CORE static uint32_t runq_grab(gort__runq *dst, uint32_t dst_tail, gort__runq *src, bool steal_next)
{
    for (;;) {
        uint32_t head = atomic_load_explicit(&src->head, ACQUIRE);
        uint32_t tail = atomic_load_explicit(&src->tail, ACQUIRE);
        uint32_t n = tail - head;
        n -= n / 2;
        if (n == 0) {
            if (steal_next) {
                gort__g *next = atomic_load_explicit(&src->runnext, ACQUIRE);
                if (next && atomic_compare_exchange_strong_explicit(
                                &src->runnext, &next, NULL, memory_order_acq_rel, RELAXED)) {
                    atomic_store_explicit(&dst->ring[dst_tail % GORT__RUNQ_SIZE], next, RELAXED);
                    GORT__STAT(STEAL_NEXT);
                    return 1;
                }
            }
            return 0;
        }
        if (n > GORT__RUNQ_SIZE / 2)
            continue; /* inconsistent head/tail snapshot: retry */
        for (uint32_t i = 0; i < n; i++) {
            gort__g *g = atomic_load_explicit(&src->ring[(head + i) % GORT__RUNQ_SIZE], RELAXED);
            atomic_store_explicit(&dst->ring[(dst_tail + i) % GORT__RUNQ_SIZE], g, RELAXED);
        }
        if (atomic_compare_exchange_weak_explicit(&src->head, &head, head + n, RELEASE, RELAXED))
            return n;
    }
}

GORT__CORE gort__g *gort__runq_steal(gort__runq *dst, gort__runq *src, bool steal_next)
{
    uint32_t tail = atomic_load_explicit(&dst->tail, RELAXED);
    uint32_t n = runq_grab(dst, tail, src, steal_next);
    if (n == 0)
        return NULL;
    n--;
    gort__g *g = atomic_load_explicit(&dst->ring[(tail + n) % GORT__RUNQ_SIZE], RELAXED);
    if (n > 0)
        atomic_store_explicit(&dst->tail, tail + n, RELEASE);
    return g;
}

GORT__CORE bool gort__runq_empty(gort__runq *q)
{
    /* The owner moves runnext into the ring (tail++) before replacing it, so
     * a snapshot is consistent only if tail did not move while we read
     * runnext; otherwise a queue that never was empty could look empty. */
    for (;;) {
        uint32_t head = atomic_load_explicit(&q->head, ACQUIRE);
        uint32_t tail = atomic_load_explicit(&q->tail, ACQUIRE);
        gort__g *next = atomic_load_explicit(&q->runnext, ACQUIRE);
        if (tail == atomic_load_explicit(&q->tail, ACQUIRE))
            return head == tail && next == NULL;
    }
}

GORT__CORE bool gort__runq_ring_empty(gort__runq *q)
{
    return atomic_load_explicit(&q->head, ACQUIRE) == atomic_load_explicit(&q->tail, ACQUIRE);
}

GORT__CORE uint32_t gort__runq_len(gort__runq *q)
{
    uint32_t head = atomic_load_explicit(&q->head, ACQUIRE);
    uint32_t tail = atomic_load_explicit(&q->tail, ACQUIRE);
    return (tail - head) + (atomic_load_explicit(&q->runnext, ACQUIRE) != NULL);
}
