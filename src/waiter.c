/*
 * waiter.c — one blocking mechanism for goroutines and foreign threads.
 *
 * The protocol is described in internal.h. Here is how each side sleeps:
 *   - A goroutine parks (gort__park); the queue lock is released on the
 *     scheduler stack after its registers are saved, so a claimer that takes
 *     the lock afterwards and calls gort__ready cannot run it too early. A
 *     deadline arms an engine timer whose callback is the second contender
 *     for the claim; after waking, the goroutine stops that timer, which
 *     waits for a callback in progress, so the waiter (on the goroutine's
 *     stack) outlives every access to it.
 *   - A foreign thread releases the lock and futex-waits on w->woken with
 *     the absolute deadline. On timeout it contends for the claim; if a
 *     claimer won meanwhile, it waits (without deadline) for that claimer's
 *     wake, because the claimer may still be writing results into the
 *     sleeper's memory.
 * Memory ordering: the claim CAS is acq_rel; the claimer's result writes
 * happen before gort__waiter_wake, whose release (the run-queue publication
 * for a goroutine, the store to `woken` for a thread) pairs with the
 * sleeper's acquire, so results are visible when the sleep returns.
 */
#include "engine.h"

GORT__CORE void gort__waiter_init(gort__waiter *w, int64_t deadline)
{
    w->g = gort__current();
    atomic_store_explicit(&w->state, GORT__WAITER_WAITING, memory_order_relaxed);
    atomic_store_explicit(&w->woken, 0, memory_order_relaxed);
    w->token = NULL;
    w->deadline = deadline;
    w->counted = 0;
}

GORT__CORE void gort__waiter_wake(gort__waiter *w)
{
    gort__g *g = w->g;
    if (g) {
        gort__ready(g);
        return;
    }
    if (w->counted) /* it can act again: no longer "blocked forever" */
        atomic_fetch_sub(&gort__S.foreign_blocked, 1);
    atomic_store_explicit(&w->woken, 1, memory_order_release);
    /* The sleeper may return (and its frame vanish) right after the store;
     * a wake on a stale address is harmless for a private futex. */
    gort__futex_wake(&w->woken, 1);
}

GORT__CORE static bool timeout_claim(gort__waiter *w)
{
    uint32_t expect = GORT__WAITER_WAITING;
    return atomic_compare_exchange_strong_explicit(&w->state, &expect, GORT__WAITER_TIMEDOUT,
                                                   memory_order_acq_rel, memory_order_acquire);
}

GORT__CORE static void waiter_timeout_fire(gort__timer *t, int64_t now)
{
    (void)now;
    gort__waiter *w = t->arg;
    if (timeout_claim(w))
        gort__ready(w->g);
}

GORT__CORE static int foreign_sleep(gort__waiter *w, int64_t deadline);

GORT__CORE static void no_unlock(void *arg)
{
    (void)arg;
}

GORT__CORE int gort__waiter_sleep(gort__waiter *w, void (*unlock)(void *), void *arg, gort__wait_reason why)
{
    if (!unlock)
        unlock = no_unlock;
    int64_t deadline = w->deadline;
    if (w->g) {
        bool armed = false;
        if (deadline != GORT_FOREVER) {
            if (deadline <= gort_now()) {
                if (timeout_claim(w)) {
                    unlock(arg);
                    return GORT_ETIMEDOUT;
                }
                /* A claimer beat the deadline: its wake-up is coming. */
            } else {
                w->timer = (gort__timer){.when = deadline, .fn = waiter_timeout_fire, .arg = w};
                armed = gort__timer_start(&w->timer) == 0;
            }
        }
        gort__park(unlock, arg, why);
        if (armed)
            gort__timer_stop(&w->timer);
        return atomic_load_explicit(&w->state, memory_order_acquire) == GORT__WAITER_TIMEDOUT
                   ? GORT_ETIMEDOUT
                   : 0;
    }
    /* A thread blocked forever in gort cannot wake anybody (deadlock check). */
    if (deadline == GORT_FOREVER) {
        /* Counted before the unlock: a waker can only find us after it. */
        w->counted = 1;
        atomic_fetch_add(&gort__S.foreign_blocked, 1);
    }
    unlock(arg);
    return foreign_sleep(w, deadline);
}

GORT__CORE static int foreign_sleep(gort__waiter *w, int64_t deadline)
{
    for (;;) {
        if (atomic_load_explicit(&w->woken, memory_order_acquire))
            return 0;
        if (gort__futex_wait(&w->woken, 0, deadline) == GORT_ETIMEDOUT &&
            !atomic_load_explicit(&w->woken, memory_order_acquire)) {
            if (timeout_claim(w))
                return GORT_ETIMEDOUT;
            deadline = GORT_FOREVER; /* claimed: wait for its wake */
        }
    }
}

GORT__CORE static void unlock_lock(void *l)
{
    gort__lock_release(l);
}

GORT__CORE int gort__waiter_sleep_lock(gort__waiter *w, gort__lock *l, gort__wait_reason why)
{
    return gort__waiter_sleep(w, unlock_lock, l, why);
}
