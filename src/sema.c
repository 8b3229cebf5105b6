/*
 * sema.c — the engine's counting semaphore (Go's semacquire/semrelease).
 *
 * Concepts
 * --------
 * A gort__sema is a count of available units plus a queue of sleepers. It is
 * the one blocking primitive under every sync type in sync.c (mutex,
 * rwmutex, wait group); like Go's runtime semaphore it is deliberately dumb:
 * acquire takes a unit or sleeps, release adds a unit and wakes one sleeper.
 * Policy (fairness, starvation, hand-off) lives in the callers.
 *
 * Unlike Go, which finds the queue for a semaphore address in a global
 * treap of 251 buckets, the queue is embedded in the struct (head/tail,
 * guarded by the struct's own gort__lock). The sync structs have reserved
 * space, so this costs nothing and removes the hash-bucket contention.
 *
 * Sleepers are gort__sema_waiter records on the sleeper's own stack, each
 * with a gort__waiter, so the same code blocks a goroutine (park) or a
 * foreign OS thread (futex) — see internal.h, "Blocking model".
 *
 * acquire:  take a unit if count > 0 (lock-free CAS loop). Otherwise lock,
 *           nwait++, try again (see "missed wake-up" below), enqueue (FIFO,
 *           or at the front when lifo), sleep. When woken: if the releaser
 *           handed us its unit (token == &sema_handoff) we are done; else
 *           retry the CAS and re-queue if someone barged in (Go does the
 *           same: a plain release does not reserve the unit for the woken
 *           sleeper, newcomers may take it first).
 * release:  count++; if nwait == 0 done (lock-free). Otherwise lock and pop
 *           sleepers until one can be *claimed* (gort__waiter_claim); with
 *           handoff, take the unit back out of count and give it to the
 *           claimed sleeper directly, then (in a goroutine that allows
 *           it) yield so it runs at once — Go's starvation-mode direct
 *           hand-off.
 *
 * Invariants (all under s->lock unless stated)
 * ----------
 *  - queued == true  <=>  the record is linked in s's list.
 *  - nwait == number of linked records + acquirers that have incremented it
 *    and not yet enqueued or backed out. It is changed only under the lock
 *    and read without it (release's fast path).
 *  - A record is unlinked either by a releaser (which then tries to claim
 *    it) or by its own sleeper after a timeout. Whoever unlinks decrements
 *    nwait. A sleeper never returns while its record is linked, and a
 *    releaser only touches a record while holding the lock (or, after a
 *    successful claim, until it has called gort__waiter_wake): so records
 *    on stacks are never used after their owner returned.
 *  - Units are never lost: a release always increments count first; the
 *    unit leaves count only through a successful CAS (by an acquirer, or by
 *    a releaser that has already claimed the sleeper it hands it to). A
 *    timed-out sleeper could not have been claimed (the deadline won the
 *    claim), so no unit was transferred to it; a releaser that finds such a
 *    record skips it and tries the next sleeper, leaving the unit in count.
 *
 * Missed wake-up argument (memory ordering)
 * ---------------------------------------
 * Acquirer: nwait++ (seq_cst RMW) then load count (seq_cst).
 * Releaser: count++ (seq_cst RMW) then load nwait (seq_cst).
 * In the single total order of seq_cst operations one of the two
 * increments comes first, so either the acquirer sees the unit (and takes
 * it without sleeping) or the releaser sees nwait > 0 and takes the lock —
 * which it can only get after the acquirer has enqueued and its sleep has
 * released the lock. This is Go's argument, with seq_cst standing in for
 * Go's sequentially consistent atomics. A unit is handed from a releaser to
 * an acquirer through the count CAS (seq_cst, so acquire/release) or, for
 * a hand-off, through claim + wake (acq_rel/release per internal.h); either
 * way the releaser's earlier writes are visible to the acquirer.
 *
 * Lifetime: the sema may be freed as soon as an acquirer returns
 * ------------------------------------------------------------------
 * A wait group's waiter may reuse or free the group once gort_wg_wait
 * returns, and a mutex's new owner may free it once it has unlocked (Go
 * allows both). But a releaser still reads nwait, takes the lock and wakes
 * after its count++ made the unit takeable, so the acquirer that took it
 * could return while the releaser still touches *s (TSan saw a wait group
 * on a loop iteration's stack rewritten under a releaser's nwait load). Go
 * avoids it because its wait queues live in a global table keyed by the
 * address; here the queue is inside *s, so releasers announce themselves:
 * release does releasing++ (seq_cst) before count++ and releasing--
 * (release) as its last touch of *s, and every acquirer, before it returns,
 * waits until releasing == 0 (acquire). An acquirer that took a unit saw
 * the count++ that followed its releaser's releasing++, so it cannot miss
 * that releaser. The wait is short: a releaser never parks or yields
 * between the two (the hand-off yield comes after releasing--), and gort's
 * core is never preempted asynchronously.
 *
 * Rejected alternatives
 * ---------------------
 *  - Always hand units directly to the first sleeper (no count while
 *    somebody sleeps): strictly FIFO but it forbids barging, which is what
 *    makes Go's normal-mode mutex fast; the mutex asks for hand-off only
 *    when it is starving.
 *  - A global address-keyed table (Go's semtable): needed in Go because
 *    the sync structs must stay 8 bytes; we have room to embed the queue.
 *  - Waking under the lock: the woken sleeper would immediately contend on
 *    the lock we still hold; we claim under the lock and wake after it.
 */
#include "internal.h"

#include <sched.h>
#include <stddef.h>

/* A sleeper's queue record; lives on the sleeper's stack. */
struct gort__sema_waiter {
    gort__waiter       w;      /* blocking handle; claimed by the releaser that wakes us */
    gort__sema_waiter *next;   /* toward the tail; guarded by the sema's lock */
    gort__sema_waiter *prev;   /* toward the head; guarded by the sema's lock */
    bool               queued; /* linked in the queue; guarded by the sema's lock */
};

/* Address used as gort__waiter.token: "the releaser gave you its unit". */
static const char sema_handoff = 0;
#define SEMA_HANDOFF ((void *)&sema_handoff)

/* Take one unit if there is one (Go's cansemacquire). */
static bool sema_try(gort__sema *s)
{
    uint32_t v = atomic_load_explicit(&s->count, memory_order_seq_cst);
    while (v != 0) {
        if (atomic_compare_exchange_weak_explicit(&s->count, &v, v - 1, memory_order_seq_cst,
                                                  memory_order_seq_cst))
            return true;
    }
    return false;
}

/* Link e (lock held). */
static void sema_enqueue(gort__sema *s, gort__sema_waiter *e, bool lifo)
{
    if (lifo) {
        e->prev = NULL;
        e->next = s->head;
        if (s->head)
            s->head->prev = e;
        else
            s->tail = e;
        s->head = e;
    } else {
        e->next = NULL;
        e->prev = s->tail;
        if (s->tail)
            s->tail->next = e;
        else
            s->head = e;
        s->tail = e;
    }
    e->queued = true;
}

/* Unlink e (lock held, e->queued) and account for it in nwait. */
static void sema_unlink(gort__sema *s, gort__sema_waiter *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->next = e->prev = NULL;
    e->queued = false;
    atomic_fetch_sub_explicit(&s->nwait, 1, memory_order_seq_cst);
}

/* Before an acquirer returns: wait for releasers still touching *s. */
static void sema_settle(gort__sema *s)
{
    for (int spins = 0; atomic_load_explicit(&s->releasing, memory_order_acquire) != 0; spins++) {
        if (spins < 64)
            gort__procyield(1);
        else
            sched_yield();
    }
}

static int sema_acquire(gort__sema *s, bool lifo, int64_t deadline, gort__wait_reason why);

int gort__sema_acquire_until(gort__sema *s, bool lifo, int64_t deadline, gort__wait_reason why)
{
    int r = sema_acquire(s, lifo, deadline, why);
    sema_settle(s);
    return r;
}

static int sema_acquire(gort__sema *s, bool lifo, int64_t deadline, gort__wait_reason why)
{
    if (sema_try(s))
        return 0;
    if (deadline == GORT_NOWAIT)
        return GORT_ETIMEDOUT;

    gort__sema_waiter e;
    for (;;) {
        gort__waiter_init(&e.w, deadline);
        e.w.token = NULL;
        e.next = e.prev = NULL;
        e.queued = false;

        gort__lock_acquire(&s->lock);
        /* Disable release's lock-free exit, then look again (see top). */
        atomic_fetch_add_explicit(&s->nwait, 1, memory_order_seq_cst);
        if (sema_try(s)) {
            atomic_fetch_sub_explicit(&s->nwait, 1, memory_order_seq_cst);
            gort__lock_release(&s->lock);
            return 0;
        }
        sema_enqueue(s, &e, lifo);
        int r = gort__waiter_sleep_lock(&e.w, &s->lock, why);
        if (r == 0) {
            /* A releaser unlinked and claimed us. */
            if (e.w.token == SEMA_HANDOFF || sema_try(s))
                return 0;
            continue; /* somebody barged in; queue again (same end, as Go) */
        }

        /* The deadline won the claim: nobody transferred a unit to us. Our
         * record may still be linked (no release since) or may have been
         * unlinked by a releaser whose claim then failed. */
        gort__lock_acquire(&s->lock);
        if (e.queued)
            sema_unlink(s, &e);
        gort__lock_release(&s->lock);
        /* A unit released while we were timing out stays in count; taking
         * it now is as good as having been woken for it. */
        return sema_try(s) ? 0 : GORT_ETIMEDOUT;
    }
}

void gort__sema_acquire(gort__sema *s, bool lifo, gort__wait_reason why)
{
    (void)gort__sema_acquire_until(s, lifo, GORT_FOREVER, why);
}

void gort__sema_release(gort__sema *s, bool handoff)
{
    atomic_fetch_add_explicit(&s->releasing, 1, memory_order_seq_cst); /* "lifetime" above */
    atomic_fetch_add_explicit(&s->count, 1, memory_order_seq_cst);
    /* Must come after the increment (see "missed wake-up" at the top). */
    if (atomic_load_explicit(&s->nwait, memory_order_seq_cst) == 0) {
        atomic_fetch_sub_explicit(&s->releasing, 1, memory_order_release);
        return;
    }

    gort__lock_acquire(&s->lock);
    if (atomic_load_explicit(&s->nwait, memory_order_seq_cst) == 0) {
        /* The unit was taken by an acquirer that re-checked under the lock. */
        gort__lock_release(&s->lock);
        atomic_fetch_sub_explicit(&s->releasing, 1, memory_order_release);
        return;
    }
    gort__sema_waiter *won = NULL;
    bool handed = false;
    gort__sema_waiter *e;
    while ((e = s->head) != NULL) {
        sema_unlink(s, e);
        /* Claim under the lock: a timed-out owner cannot return (and
         * reuse its stack) before it has taken the lock to check e->queued. */
        if (!gort__waiter_claim(&e->w))
            continue; /* its deadline won; the unit stays for the next one */
        if (handoff && sema_try(s)) {
            e->w.token = SEMA_HANDOFF;
            handed = true;
        }
        won = e;
        break;
    }
    gort__lock_release(&s->lock);
    if (won) {
        /* won stays valid until it is woken: it cannot time out any more. */
        gort__waiter_wake(&won->w);
    }
    /* The last touch of *s: from here its acquirers may return and free it. */
    atomic_fetch_sub_explicit(&s->releasing, 1, memory_order_release);
    /* Let the new owner run now, on our time slice (Go: goyield). */
    if (handed)
        gort__handoff_yield();
}
