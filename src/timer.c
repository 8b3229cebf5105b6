/*
 * timer.c — engine timers: per-P 4-ary heaps, run by the scheduler.
 *
 * There is no timer thread (Go's design since 1.14). Each P owns a heap; a
 * goroutine's timer joins its own P's heap. Timers are fired by:
 *   - the P's owner on every trip through the scheduler (cheap: one atomic
 *     load of `first`, a clock read only when something is armed);
 *   - any M looking for work, which also fires other Ps' due timers while
 *     stealing (so an idle P's timers still run);
 *   - the "poller": the one idle M that sleeps until the earliest deadline of
 *     all heaps (sched.c). Adding a timer earlier than its wake-up time wakes
 *     it (gort__timers_changed) — and so does re-arming a periodic timer,
 *     which was in no heap while its callback ran (see gort__timers_run).
 *
 * Timer states (status_), and who moves them:
 *   IDLE ──start──> HEAP ──runner pops──> RUNNING ──cb returns──> IDLE
 *                    │                      │   (or HEAP again if periodic)
 *                  stop                   stop: RUNNING -> STOPPING; the
 *                    v                      runner then ends at IDLE
 *                  IDLE
 * Callbacks run with no timer lock held (they may take channel locks, ready
 * goroutines, even start other timers), which is why stop must wait while a
 * callback runs: after gort__timer_stop returns, the timer memory is free to
 * reuse. The waiting is a short spin then sched_yield: callbacks are short.
 *
 * Locking: a heap's lock protects its array and the index_/owner_ fields of
 * the timers in it; status_ transitions HEAP<->RUNNING happen under it,
 * RUNNING->STOPPING is a CAS outside it. Lock order: a timer lock is a leaf
 * (nothing else is acquired while holding it).
 */
#include "engine.h"

#include <sched.h>
#include <stdlib.h>

enum { T_IDLE = 0, T_HEAP = 1, T_RUNNING = 2, T_STOPPING = 3 };

#define HEAP_ARITY 4

GORT__CORE static void heap_set(gort__timers *ts, uint32_t i, gort__timer *t)
{
    ts->heap[i] = t;
    t->index_ = (int32_t)i;
}

GORT__CORE static void sift_up(gort__timers *ts, uint32_t i)
{
    gort__timer *t = ts->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / HEAP_ARITY;
        if (ts->heap[parent]->when <= t->when)
            break;
        heap_set(ts, i, ts->heap[parent]);
        i = parent;
    }
    heap_set(ts, i, t);
}

GORT__CORE static void sift_down(gort__timers *ts, uint32_t i)
{
    gort__timer *t = ts->heap[i];
    for (;;) {
        uint32_t c = i * HEAP_ARITY + 1;
        if (c >= ts->len)
            break;
        uint32_t best = c;
        uint32_t end = c + HEAP_ARITY < ts->len ? c + HEAP_ARITY : ts->len;
        for (uint32_t k = c + 1; k < end; k++)
            if (ts->heap[k]->when < ts->heap[best]->when)
                best = k;
        if (ts->heap[best]->when >= t->when)
            break;
        heap_set(ts, i, ts->heap[best]);
        i = best;
    }
    heap_set(ts, i, t);
}

GORT__CORE static void update_first(gort__timers *ts)
{
    atomic_store_explicit(&ts->first, ts->len ? ts->heap[0]->when : INT64_MAX,
                          memory_order_release);
}

GORT__CORE int gort__theap_push(gort__timers *ts, gort__timer *t)
{
    if (ts->len == ts->cap) {
        uint32_t cap = ts->cap ? ts->cap * 2 : 64;
        gort__timer **h = realloc(ts->heap, cap * sizeof *h);
        if (!h)
            return GORT_ENOMEM;
        ts->heap = h;
        ts->cap = cap;
    }
    ts->heap[ts->len] = t;
    t->index_ = (int32_t)ts->len;
    ts->len++;
    sift_up(ts, ts->len - 1);
    update_first(ts);
    return 0;
}

GORT__CORE void gort__theap_remove(gort__timers *ts, uint32_t i)
{
    gort__timer *t = ts->heap[i];
    t->index_ = -1;
    ts->len--;
    if (i != ts->len) {
        heap_set(ts, i, ts->heap[ts->len]);
        if (i > 0 && ts->heap[(i - 1) / HEAP_ARITY]->when > ts->heap[i]->when)
            sift_up(ts, i);
        else
            sift_down(ts, i);
    }
    update_first(ts);
}

GORT__CORE gort__timer *gort__theap_top(gort__timers *ts)
{
    return ts->len ? ts->heap[0] : NULL;
}

GORT__CORE static int timer_start_admitted(gort__timer *t);
GORT__CORE static bool timer_stop_admitted(gort__timer *t);

/* Both go through the lifecycle gate (engine.h): a foreign thread's start
 * or stop must not touch a heap that gort_shutdown is freeing. */
GORT__CORE int gort__timer_start(gort__timer *t)
{
    int err = gort__enter();
    if (err)
        return err;
    err = timer_start_admitted(t);
    gort__leave();
    return err;
}

GORT__CORE bool gort__timer_stop(gort__timer *t)
{
    if (gort__this_m()) /* engine threads: shutdown joins them before teardown */
        return timer_stop_admitted(t);
    int err = gort__enter();
    if (err == GORT_ESHUTDOWN) {
        /* The heaps are about to go (and take the timer out with them):
         * wait for that, so the caller may free the timer on return. */
        while (gort_initialized())
            sched_yield();
        return false;
    }
    if (err) /* no engine: gort_shutdown left every timer idle (a heap of
              * its own, as in white-box tests, is the caller's business) */
        return timer_stop_admitted(t);
    bool stopped = timer_stop_admitted(t);
    gort__leave();
    return stopped;
}

GORT__CORE static int timer_start_admitted(gort__timer *t)
{
    if (!gort__this_m()) {
        int err = gort__pool_ensure_m(); /* someone must be there to fire it */
        if (err)
            return err;
    }
    gort__p *p = gort__timer_home();
    gort__timers *ts = &p->timers;
    gort__lock_acquire(&ts->lock);
    t->owner_ = p;
    int err = gort__theap_push(ts, t);
    if (err == 0)
        atomic_store_explicit(&t->status_, T_HEAP, memory_order_relaxed);
    bool earliest = err == 0 && t->index_ == 0;
    gort__lock_release(&ts->lock);
    if (earliest)
        gort__timers_changed(t->when);
    return err;
}

GORT__CORE static bool timer_stop_admitted(gort__timer *t)
{
    for (int spins = 0;; spins++) {
        uint32_t s = atomic_load_explicit(&t->status_, memory_order_acquire);
        if (s == T_IDLE)
            return false;
        if (s == T_HEAP) {
            gort__timers *ts = &t->owner_->timers;
            gort__lock_acquire(&ts->lock);
            if (atomic_load_explicit(&t->status_, memory_order_relaxed) == T_HEAP) {
                gort__theap_remove(ts, (uint32_t)t->index_);
                atomic_store_explicit(&t->status_, T_IDLE, memory_order_relaxed);
                gort__lock_release(&ts->lock);
                return true;
            }
            gort__lock_release(&ts->lock);
            continue;
        }
        if (s == T_RUNNING) {
            uint32_t expect = T_RUNNING;
            atomic_compare_exchange_strong_explicit(&t->status_, &expect, T_STOPPING,
                                                    memory_order_acq_rel, memory_order_acquire);
            continue;
        }
        /* T_STOPPING: its callback is still running elsewhere; wait. */
        if (spins < 64)
            gort__procyield(16);
        else
            sched_yield();
    }
}

GORT__CORE int64_t gort__timers_run(gort__timers *ts, int64_t now)
{
    if (atomic_load_explicit(&ts->first, memory_order_acquire) > now)
        return atomic_load_explicit(&ts->first, memory_order_relaxed);
    /* Earliest `when` of the periodic timers re-armed below (see the end). */
    int64_t rearmed = INT64_MAX;
    gort__lock_acquire(&ts->lock);
    while (ts->len && ts->heap[0]->when <= now) {
        gort__timer *t = ts->heap[0];
        gort__theap_remove(ts, 0);
        atomic_store_explicit(&t->status_, T_RUNNING, memory_order_relaxed);
        gort__lock_release(&ts->lock);

        t->fn(t, now);

        gort__lock_acquire(&ts->lock);
        uint32_t expect = T_RUNNING;
        if (t->period > 0 &&
            atomic_load_explicit(&t->status_, memory_order_relaxed) == T_RUNNING) {
            /* Next tick after now, skipping missed ones (like Go's tickers). */
            int64_t missed = (now - t->when) / t->period;
            t->when += (missed + 1) * t->period;
            if (gort__theap_push(ts, t) == 0) {
                atomic_store_explicit(&t->status_, T_HEAP, memory_order_release);
                if (t->when < rearmed)
                    rearmed = t->when;
                continue;
            }
        }
        if (!atomic_compare_exchange_strong_explicit(&t->status_, &expect, T_IDLE,
                                                     memory_order_release, memory_order_relaxed))
            atomic_store_explicit(&t->status_, T_IDLE, memory_order_release); /* was STOPPING */
    }
    int64_t first = ts->len ? ts->heap[0]->when : INT64_MAX;
    gort__lock_release(&ts->lock);
    /* A re-armed periodic timer is a new arming, just like
     * gort__timer_start, and must be announced the same way when it became
     * the earliest of its heap. While its callback ran it was in no heap, so
     * an M that went idle meanwhile may have become the poller with a later
     * deadline computed without it (e.g. the deadline timer of a receive
     * armed by the goroutine that this very tick woke up). Without the
     * announcement the poller sleeps past the tick, the M that ran it parks
     * for good behind that poller, and the tick comes late by as much as the
     * poller's deadline (the engine's "ticker stalls until the receive's 5 s
     * deadline" under load, when the runner is descheduled mid-callback). */
    if (rearmed == first && first != INT64_MAX)
        gort__timers_changed(first);
    return first;
}

GORT__CORE void gort__timers_destroy(gort__timers *ts)
{
    for (uint32_t i = 0; i < ts->len; i++) {
        gort__timer *t = ts->heap[i];
        t->index_ = -1;
        atomic_store_explicit(&t->status_, T_IDLE, memory_order_relaxed);
        if (t->dispose)
            t->dispose(t);
    }
    free(ts->heap);
    ts->heap = NULL;
    ts->len = ts->cap = 0;
    atomic_store_explicit(&ts->first, INT64_MAX, memory_order_relaxed);
}
