/*
 * sync.c — Go's package sync (and golang.org/x/sync/semaphore) for C:
 * gort_mutex, gort_rwmutex, gort_wg, gort_once, gort_cond, gort_sem.
 *
 * Every type is a caller-allocated opaque array of uint64_t whose all-zero
 * value is the ready state. Below, each gets an internal layout (checked by
 * _Static_assert to fit and to need no more alignment than the public
 * type). The layouts carry __attribute__((may_alias)) because callers
 * declare the objects with the public type and we access them through the
 * internal one.
 *
 * Everything blocks through gort__sema (sema.c) or, for cond and sem,
 * through gort__waiter records in a private queue. Both work identically
 * for goroutines (park) and foreign threads (futex), so every primitive
 * here can be shared between the two kinds of caller.
 *
 * ---- Mutex (Go's sync.Mutex) ---------------------------------------------
 * state (32 bits): LOCKED | WOKEN | STARVING | waiters << 3.
 *   LOCKED   — somebody owns the mutex (in normal mode).
 *   WOKEN    — a "token": some thread of control is awake and about to try
 *              for the lock (a spinner that announced itself, or a sleeper
 *              that unlock has woken), so unlock need not wake another.
 *              At most one holder; the holder clears it in its next CAS.
 *   STARVING — ownership passes from unlock straight to the head sleeper;
 *              newcomers neither spin nor grab, they queue at the tail.
 *   waiters  — registered sleepers ("registrants": they added themselves
 *              here and will consume a sema unit or deregister).
 * sema: the sleepers. Units are produced by unlock only: in normal mode
 *   unlock decrements waiters, sets WOKEN and releases one unit (the woken
 *   sleeper competes with newcomers, and on losing re-queues at the FRONT,
 *   LIFO, so it keeps its place); in starving mode unlock clears LOCKED but
 *   leaves STARVING set and releases one unit with hand-off: the receiver
 *   owns the mutex, sets LOCKED and removes itself from waiters. A sleeper
 *   that waited more than 1 ms sets STARVING; the receiver of a hand-off
 *   clears it when it is the last sleeper or waited less than 1 ms.
 *
 * Timed lock (lock_until) — the part Go does not have. Let u = normal-mode
 * units produced and not yet consumed, counting one whose unlock has won
 * its CAS but not yet called gort__sema_release. Invariants:
 *     #registrants == waiters + u
 *     u <= 1: unlock produces a unit only while WOKEN is clear and sets it;
 *             it stays set until the unit's consumer clears it.
 *     u == 0 while STARVING: only a WOKEN holder that has consumed its unit
 *             sets STARVING. A starving unlock's hand-off unit does not
 *             touch waiters (its receiver decrements them) and is in
 *             flight exactly while STARVING is set and LOCKED clear.
 * Units are interchangeable between registrants. A registrant whose sema
 * wait times out has got no unit (sema.c) and must leave without breaking
 * the invariants:
 *   - waiters == 0: then STARVING is clear and we are the only registrant,
 *     owed the one normal unit in flight. Take it (a bounded wait: its
 *     unlock is between its CAS and its release) and continue as a woken
 *     sleeper: we hold WOKEN; the deadline check below drops it, or we
 *     take the lock if it is free by then.
 *   - STARVING, !LOCKED, waiters == 1: a hand-off is in flight and we are
 *     its only possible receiver. Take it: we own the mutex; return 0.
 *   - otherwise: waiters -= 1 (registrations are interchangeable; any unit
 *     in flight goes to somebody else). If that was the last waiter of a
 *     starving mutex, clear STARVING too, or the owner's unlock would hand
 *     off to nobody.
 * A sleeper woken after its deadline, that would have to wait again, drops
 * WOKEN and returns GORT_ETIMEDOUT instead of re-registering.
 *
 * ---- RWMutex (Go's sync.RWMutex) -----------------------------------------
 * w (a mutex) serialises writers. reader_count counts readers (holding or
 * waiting); a writer subtracts RW_MAX_READERS from it to announce itself,
 * which makes new readers see a negative value and sleep on reader_sem.
 * The writer then adds the number of active readers it saw to reader_wait
 * and sleeps on writer_sem; the last departing reader (reader_wait -> 0)
 * releases writer_sem. Unlock adds RW_MAX_READERS back and releases one
 * reader_sem unit per reader that queued meanwhile, then unlocks w. Writer
 * preferring: a pending writer blocks new readers, so writers are not
 * starved by a stream of readers; readers queued behind a writer all get
 * in before the next writer (which first needs w).
 *
 * ---- WaitGroup (Go's sync.WaitGroup) -------------------------------------
 * state (64 bits): counter (high 32, signed) | waiters (low 32). Wait
 * registers (waiters++) by CAS only while counter > 0 and sleeps on sema.
 * The Add that brings counter to 0 with waiters > 0 is then the only one
 * touching state (Add from 0 concurrently with Wait is misuse, as in Go):
 * it resets state to 0 and releases one unit per waiter.
 * Timed wait: a timed-out registrant must either take back its
 * registration or consume its unit — never leave a stray unit in sema,
 * which would let a later wait (after the group's reuse) return at once.
 * It loops: counter > 0 -> CAS waiters-1 (its registration was still
 * counted; nobody will release a unit for it); counter == 0 -> the zeroing
 * Add counted it and a unit is on its way: take it (bounded wait) and
 * report success (the counter did reach zero). Reusing the group (Add from
 * zero) before every earlier Wait, timed ones included, has returned is
 * misuse exactly as in Go: it can be detected only sometimes ("WaitGroup
 * is reused before previous Wait has returned").
 *
 * ---- Once (Go's sync.Once) -----------------------------------------------
 * done (acquire load) is the fast path; the slow path runs fn under m and
 * stores done (release) after fn returned, so every caller that returns
 * sees fn's effects. A recursive gort_once_do on the same once from inside
 * fn deadlocks (the mutex is not recursive), as in Go. If fn leaves by
 * longjmp the once stays locked: don't.
 *
 * ---- Cond (Go's notifyList) ----------------------------------------------
 * Tickets: wait is the next ticket to hand out, notify the ticket of the
 * oldest waiter not yet notified (== wait when nobody waits), so signal and
 * broadcast with no waiters cost two loads and take no lock. Waiters queue
 * in ticket order. Difference from Go: Go takes the ticket (atomic add)
 * under the user's mutex but enqueues later, under the list lock, after
 * unlocking the user's mutex; a signal for a ticket not yet enqueued is
 * recorded by advancing notify. With timed waits that leaves holes: a
 * waiter that timed out before being notified would keep its ticket and a
 * later signal aimed at it would be lost (a live waiter behind it would
 * not be woken). So here the ticket is taken *and* the waiter enqueued
 * under the list lock while the user's mutex is still held, and the user's
 * mutex is released by the sleep's commit callback (after the list lock).
 * Then every ticket in [notify, wait) is in the queue, a timed-out waiter
 * simply unlinks itself, and signal pops the head, skipping (unlinking)
 * entries whose deadline won the claim. A timed-out waiter returns with
 * the mutex re-held and never swallows a signal.
 *
 * ---- Semaphore (golang.org/x/sync/semaphore.Weighted) ---------------------
 * size (capacity), cur (units held), FIFO of waiters each wanting n units,
 * all under one gort__lock. Acquire succeeds at once only if n units are
 * free *and* nobody waits (no overtaking). Release (and the departure of a
 * waiter at the head) grants units to waiters from the head while they
 * fit, stopping at the first that does not: a big request is not starved
 * by a stream of small ones. A waiter is granted only after it is claimed,
 * so a timed-out waiter was never granted anything.
 *
 * ---- Memory ordering -----------------------------------------------------
 * Lock acquisitions are acquire RMWs that read the value written by the
 * previous unlock's release RMW (or a later RMW in the same release
 * sequence); units passed through gort__sema or claim/wake carry
 * happens-before per sema.c and internal.h. Where a plain store breaks a
 * release sequence (the WaitGroup reset to 0) it is a release store done
 * after an acquire RMW, so happens-before still chains through it.
 *
 * ---- Rejected alternatives -----------------------------------------------
 *  - pthread mutexes/condvars: block the OS thread, i.e. the whole P, when
 *    a goroutine waits.
 *  - A single futex-based mutex for goroutines and threads: same problem.
 *  - Heap-allocated state behind a pointer in the public struct: needs
 *    initialisation (no static initializer) and an allocation per object.
 */
#include "internal.h"
#include "stats.h"

#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#define SYNC_MAY_ALIAS __attribute__((__may_alias__))

/* ========================================================================
 * Mutex
 * ===================================================================== */

enum {
    MUTEX_LOCKED = 1u,
    MUTEX_WOKEN = 2u,
    MUTEX_STARVING = 4u,
    MUTEX_WAITER_SHIFT = 3,
    MUTEX_WAITER_ONE = 1u << MUTEX_WAITER_SHIFT,
};
/* A sleeper that waited longer than this makes the mutex starving. */
#define MUTEX_STARVATION_NS ((int64_t)1000000)
/* PAUSEs per spin iteration (Go's active_spin_cnt). */
#define MUTEX_SPIN_PAUSES 30

typedef struct SYNC_MAY_ALIAS mutex_impl {
    _Atomic uint32_t state; /* LOCKED|WOKEN|STARVING|waiters<<3; atomics only */
    uint32_t reserved_;     /* padding, always 0 */
    gort__sema sema;        /* sleepers; units produced by unlock only */
} mutex_impl;

_Static_assert(sizeof(mutex_impl) <= sizeof(gort_mutex), "mutex_impl too big");
_Static_assert(alignof(mutex_impl) <= alignof(gort_mutex), "mutex_impl over-aligned");

static inline mutex_impl *mutex_of(gort_mutex *mu)
{
    return (mutex_impl *)(void *)mu;
}

/* GORT_FOREVER never passes; GORT_NOWAIT always has. */
static bool deadline_passed(int64_t deadline)
{
    if (deadline == GORT_FOREVER)
        return false;
    return deadline == GORT_NOWAIT || gort_now() >= deadline;
}

static bool mutex_cas(mutex_impl *m, uint32_t *old, uint32_t new_)
{
    return atomic_compare_exchange_weak_explicit(&m->state, old, new_, memory_order_acq_rel,
                                                 memory_order_acquire);
}

static int mutex_trylock_impl(mutex_impl *m)
{
    uint32_t old = atomic_load_explicit(&m->state, memory_order_relaxed);
    if (old & (MUTEX_LOCKED | MUTEX_STARVING))
        return GORT_EBUSY;
    /* One attempt, like Go's TryLock: failure under contention is fine. */
    if (!atomic_compare_exchange_strong_explicit(&m->state, &old, old | MUTEX_LOCKED,
                                                 memory_order_acquire, memory_order_relaxed))
        return GORT_EBUSY;
    return 0;
}

enum { ABANDON_LEFT, ABANDON_WOKEN, ABANDON_OWNER };

/* A registrant's sema wait timed out: leave the wait (see "Timed lock" at
 * the top). Returns ABANDON_LEFT (deregistered), ABANDON_WOKEN (we had
 * to take a normal-mode unit: continue as a woken sleeper) or
 * ABANDON_OWNER (we had to take a starving hand-off: continue as its
 * receiver). */
static int mutex_abandon(mutex_impl *m, gort__wait_reason why)
{
    uint32_t old = atomic_load_explicit(&m->state, memory_order_acquire);
    for (;;) {
        uint32_t waiters = old >> MUTEX_WAITER_SHIFT;
        bool handoff_in_flight = (old & (MUTEX_STARVING | MUTEX_LOCKED)) == MUTEX_STARVING;
        if (waiters == 0 && (old & MUTEX_STARVING))
            gort__fatal("sync: inconsistent mutex state"); /* we are a waiter */
        if (waiters == 0 || (handoff_in_flight && waiters == 1)) {
            /* The unit is ours and is (about to be) released: a bounded wait. */
            gort__sema_acquire(&m->sema, true, why);
            return handoff_in_flight ? ABANDON_OWNER : ABANDON_WOKEN;
        }
        uint32_t new_ = old - MUTEX_WAITER_ONE;
        if ((old & MUTEX_STARVING) && waiters == 1)
            new_ &= ~(uint32_t)MUTEX_STARVING; /* locked here; nobody left to hand off to */
        if (mutex_cas(m, &old, new_))
            return ABANDON_LEFT;
    }
}

/* Go's lockSlow, with a deadline and a wait reason. 0 or GORT_ETIMEDOUT. */
static GORT__NOINLINE int mutex_lock_slow(mutex_impl *m, int64_t deadline, gort__wait_reason why)
{
    int64_t wait_start = 0; /* when we first slept; 0 = not yet */
    bool starving = false;  /* we waited > 1 ms: ask for starvation mode */
    bool awoke = false;     /* we hold the WOKEN token */
    int iter = 0;           /* spin iterations since we last woke */
    uint32_t old = atomic_load_explicit(&m->state, memory_order_relaxed);

    GORT__STAT(MUTEX_SLOW);
    for (;;) {
        /* Spin while it is locked in normal mode and spinning may pay off. */
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED && gort__sync_can_spin(iter)) {
            /* Tell unlock not to wake a sleeper: we are awake already. */
            if (!awoke && !(old & MUTEX_WOKEN) && (old >> MUTEX_WAITER_SHIFT) != 0 &&
                mutex_cas(m, &old, old | MUTEX_WOKEN)) {
                awoke = true;
            }
            GORT__STAT(MUTEX_SPIN);
            gort__procyield(MUTEX_SPIN_PAUSES);
            iter++;
            old = atomic_load_explicit(&m->state, memory_order_relaxed);
            continue;
        }

        /* We would have to (re-)register and sleep: not past the deadline. */
        if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) != 0 && deadline_passed(deadline)) {
            if (!awoke)
                return GORT_ETIMEDOUT;
            if (!(old & MUTEX_WOKEN))
                gort__fatal("sync: inconsistent mutex state");
            if (mutex_cas(m, &old, old & ~(uint32_t)MUTEX_WOKEN))
                return GORT_ETIMEDOUT;
            continue;
        }

        uint32_t new_ = old;
        /* Newcomers don't grab a starving mutex: it is handed off in order. */
        if (!(old & MUTEX_STARVING))
            new_ |= MUTEX_LOCKED;
        if (old & (MUTEX_LOCKED | MUTEX_STARVING))
            new_ += MUTEX_WAITER_ONE;
        /* Switch to starvation mode, but only if it is locked: unlock of a
         * starving mutex expects a waiter to hand off to. */
        if (starving && (old & MUTEX_LOCKED))
            new_ |= MUTEX_STARVING;
        if (awoke) {
            if (!(new_ & MUTEX_WOKEN))
                gort__fatal("sync: inconsistent mutex state");
            new_ &= ~(uint32_t)MUTEX_WOKEN;
        }
        if (!mutex_cas(m, &old, new_))
            continue; /* old reloaded */
        if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
            return 0; /* locked it with the CAS */

        /* Registered: sleep. Re-sleepers go to the front (LIFO). */
        bool lifo = wait_start != 0;
        if (wait_start == 0)
            wait_start = gort_now();
        GORT__STAT(MUTEX_SLEEP);
        int r = gort__sema_acquire_until(&m->sema, lifo, deadline, why);
        bool owner = false;
        if (r != 0) {
            int a = mutex_abandon(m, why);
            if (a == ABANDON_LEFT)
                return GORT_ETIMEDOUT;
            owner = (a == ABANDON_OWNER);
        }
        starving = starving || gort_now() - wait_start > MUTEX_STARVATION_NS;
        old = atomic_load_explicit(&m->state, memory_order_acquire);
        if (owner || (old & MUTEX_STARVING)) {
            /* Hand-off: we own it, but LOCKED is clear and we still count
             * as a waiter. Fix both. */
            if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) || (old >> MUTEX_WAITER_SHIFT) == 0)
                gort__fatal("sync: inconsistent mutex state");
            uint32_t delta = MUTEX_LOCKED - MUTEX_WAITER_ONE; /* mod 2^32 */
            if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1) {
                /* Leave starvation mode: it is so slow that two threads
                 * could otherwise stay in lock-step in it forever. */
                delta -= MUTEX_STARVING;
            }
            atomic_fetch_add_explicit(&m->state, delta, memory_order_acq_rel);
            return 0;
        }
        awoke = true;
        iter = 0;
    }
}

/* The fast path. A mutex that is free but has registered sleepers (or a
 * woken one on its way) has state != 0: the first CAS fails, returns the
 * state and leaves its cache line with us, and a second CAS takes the lock
 * exactly as lockSlow's first round would (no waiter added, WOKEN left to
 * its owner) without the call. Under contention this is most locks. */
static inline bool mutex_lock_fast(mutex_impl *m)
{
    uint32_t old = 0;
    if (GORT__LIKELY(atomic_compare_exchange_strong_explicit(
            &m->state, &old, MUTEX_LOCKED, memory_order_acquire, memory_order_relaxed)))
        return true;
    return !(old & (MUTEX_LOCKED | MUTEX_STARVING)) &&
           atomic_compare_exchange_strong_explicit(&m->state, &old, old | MUTEX_LOCKED,
                                                   memory_order_acquire, memory_order_relaxed);
}

static inline void mutex_lock_impl(mutex_impl *m, gort__wait_reason why)
{
    if (GORT__LIKELY(mutex_lock_fast(m)))
        return;
    (void)mutex_lock_slow(m, GORT_FOREVER, why);
}

static GORT__NOINLINE void mutex_unlock_slow(mutex_impl *m, uint32_t new_)
{
    if (!(new_ & MUTEX_STARVING)) {
        uint32_t old = new_;
        for (;;) {
            /* No waiters, or someone is already awake / has the lock, or a
             * starving hand-off chain we are not part of: nothing to do. */
            if ((old >> MUTEX_WAITER_SHIFT) == 0 ||
                (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)))
                return;
            /* Take the right to wake one sleeper. */
            if (mutex_cas(m, &old, (old - MUTEX_WAITER_ONE) | MUTEX_WOKEN)) {
                GORT__STAT(MUTEX_WAKE);
                gort__sema_release(&m->sema, false);
                return;
            }
        }
    }
    /* Starving: hand ownership to the head sleeper. LOCKED stays clear;
     * STARVING keeps newcomers off until the receiver sets it. */
    GORT__STAT(MUTEX_WAKE);
    gort__sema_release(&m->sema, true);
}

static inline void mutex_unlock_impl(mutex_impl *m)
{
    uint32_t new_ =
        atomic_fetch_sub_explicit(&m->state, MUTEX_LOCKED, memory_order_release) - MUTEX_LOCKED;
    if (GORT__UNLIKELY(((new_ + MUTEX_LOCKED) & MUTEX_LOCKED) == 0))
        gort__fatal("sync: unlock of unlocked mutex");
    if (GORT__UNLIKELY(new_ != 0))
        mutex_unlock_slow(m, new_);
}

void gort_mutex_lock(gort_mutex *mu)
{
    gort__preempt_point(); /* cooperative preemption (Go: at function calls) */
    mutex_lock_impl(mutex_of(mu), GORT__WAIT_MUTEX);
}

int gort_mutex_trylock(gort_mutex *mu)
{
    return mutex_trylock_impl(mutex_of(mu));
}

int gort_mutex_lock_until(gort_mutex *mu, int64_t deadline)
{
    gort__preempt_point(); /* cooperative preemption (Go: at function calls) */
    mutex_impl *m = mutex_of(mu);
    if (mutex_lock_fast(m))
        return 0;
    if (deadline == GORT_NOWAIT)
        return mutex_trylock_impl(m) == 0 ? 0 : GORT_ETIMEDOUT;
    return mutex_lock_slow(m, deadline, GORT__WAIT_MUTEX);
}

void gort_mutex_unlock(gort_mutex *mu)
{
    mutex_unlock_impl(mutex_of(mu));
}

/* ========================================================================
 * RWMutex
 * ===================================================================== */

#define RW_MAX_READERS ((int32_t)1 << 30)

typedef struct SYNC_MAY_ALIAS rwmutex_impl {
    mutex_impl w;                 /* held by the (pending or active) writer */
    gort__sema writer_sem;        /* the writer sleeps here for departing readers */
    gort__sema reader_sem;        /* readers sleep here for the writer to finish */
    _Atomic int32_t reader_count; /* readers in or waiting; -RW_MAX_READERS while a writer is pending */
    _Atomic int32_t reader_wait;  /* departing readers the pending writer still waits for */
} rwmutex_impl;

_Static_assert(sizeof(rwmutex_impl) <= sizeof(gort_rwmutex), "rwmutex_impl too big");
_Static_assert(alignof(rwmutex_impl) <= alignof(gort_rwmutex), "rwmutex_impl over-aligned");

static inline rwmutex_impl *rwmutex_of(gort_rwmutex *rw)
{
    return (rwmutex_impl *)(void *)rw;
}

void gort_rwmutex_rlock(gort_rwmutex *rwp)
{
    gort__preempt_point(); /* cooperative preemption (Go: at function calls) */
    rwmutex_impl *rw = rwmutex_of(rwp);
    if (atomic_fetch_add_explicit(&rw->reader_count, 1, memory_order_acq_rel) + 1 < 0) {
        /* A writer is pending: wait for its unlock. */
        gort__sema_acquire(&rw->reader_sem, false, GORT__WAIT_RWMUTEX_R);
    }
}

int gort_rwmutex_tryrlock(gort_rwmutex *rwp)
{
    rwmutex_impl *rw = rwmutex_of(rwp);
    int32_t c = atomic_load_explicit(&rw->reader_count, memory_order_relaxed);
    for (;;) {
        if (c < 0)
            return GORT_EBUSY; /* a writer holds it or waits for it */
        if (atomic_compare_exchange_weak_explicit(&rw->reader_count, &c, c + 1,
                                                  memory_order_acq_rel, memory_order_relaxed))
            return 0;
    }
}

static GORT__NOINLINE void rwmutex_runlock_slow(rwmutex_impl *rw, int32_t r)
{
    if (r + 1 == 0 || r + 1 == -RW_MAX_READERS)
        gort__fatal("sync: RUnlock of unlocked RWMutex");
    /* A writer is pending; the last departing reader lets it in. */
    if (atomic_fetch_sub_explicit(&rw->reader_wait, 1, memory_order_acq_rel) - 1 == 0)
        gort__sema_release(&rw->writer_sem, false);
}

void gort_rwmutex_runlock(gort_rwmutex *rwp)
{
    rwmutex_impl *rw = rwmutex_of(rwp);
    int32_t r = atomic_fetch_sub_explicit(&rw->reader_count, 1, memory_order_acq_rel) - 1;
    if (r < 0)
        rwmutex_runlock_slow(rw, r);
}

void gort_rwmutex_lock(gort_rwmutex *rwp)
{
    gort__preempt_point(); /* cooperative preemption (Go: at function calls) */
    rwmutex_impl *rw = rwmutex_of(rwp);
    /* First, win against other writers. */
    mutex_lock_impl(&rw->w, GORT__WAIT_RWMUTEX_W);
    /* Announce ourselves to readers; r = readers in at that moment. */
    int32_t r = atomic_fetch_sub_explicit(&rw->reader_count, RW_MAX_READERS, memory_order_acq_rel);
    /* Wait for them to leave. */
    if (r != 0 && atomic_fetch_add_explicit(&rw->reader_wait, r, memory_order_acq_rel) + r != 0)
        gort__sema_acquire(&rw->writer_sem, false, GORT__WAIT_RWMUTEX_W);
}

int gort_rwmutex_trylock(gort_rwmutex *rwp)
{
    rwmutex_impl *rw = rwmutex_of(rwp);
    if (mutex_trylock_impl(&rw->w) != 0)
        return GORT_EBUSY;
    int32_t zero = 0;
    if (!atomic_compare_exchange_strong_explicit(&rw->reader_count, &zero, -RW_MAX_READERS,
                                                 memory_order_acq_rel, memory_order_relaxed)) {
        mutex_unlock_impl(&rw->w);
        return GORT_EBUSY;
    }
    return 0;
}

void gort_rwmutex_unlock(gort_rwmutex *rwp)
{
    rwmutex_impl *rw = rwmutex_of(rwp);
    /* Announce to readers that there is no active writer. */
    int32_t r = atomic_fetch_add_explicit(&rw->reader_count, RW_MAX_READERS, memory_order_acq_rel) +
                RW_MAX_READERS;
    if (r >= RW_MAX_READERS)
        gort__fatal("sync: Unlock of unlocked RWMutex");
    /* Let in the readers that queued behind us. */
    for (int32_t i = 0; i < r; i++)
        gort__sema_release(&rw->reader_sem, false);
    /* Let the next writer try. */
    mutex_unlock_impl(&rw->w);
}

/* ========================================================================
 * WaitGroup
 * ===================================================================== */

typedef struct SYNC_MAY_ALIAS wg_impl {
    _Atomic uint64_t state; /* counter (high 32, signed) | waiters (low 32) */
    gort__sema sema;        /* waiters sleep here; one unit per waiter at zero */
} wg_impl;

_Static_assert(sizeof(wg_impl) <= sizeof(gort_wg), "wg_impl too big");
_Static_assert(alignof(wg_impl) <= alignof(gort_wg), "wg_impl over-aligned");

static inline wg_impl *wg_of(gort_wg *wg)
{
    return (wg_impl *)(void *)wg;
}

static inline int32_t wg_counter(uint64_t state)
{
    return (int32_t)(uint32_t)(state >> 32);
}

static inline uint32_t wg_waiters(uint64_t state)
{
    return (uint32_t)state;
}

void gort_wg_add(gort_wg *wgp, int64_t delta)
{
    wg_impl *wg = wg_of(wgp);
    if (delta < INT32_MIN || delta > INT32_MAX)
        gort__fatal("sync: WaitGroup delta %lld out of range", (long long)delta);
    uint64_t add = (uint64_t)delta << 32; /* two's complement: negative deltas subtract */
    uint64_t state = atomic_fetch_add_explicit(&wg->state, add, memory_order_acq_rel) + add;
    int32_t v = wg_counter(state);
    uint32_t w = wg_waiters(state);
    if (v < 0)
        gort__fatal("sync: negative WaitGroup counter");
    if (w != 0 && delta > 0 && v == (int32_t)delta)
        gort__fatal("sync: WaitGroup misuse: Add called concurrently with Wait");
    if (v > 0 || w == 0)
        return;
    /* We brought the counter to 0 with waiters registered. Nobody else may
     * change state now: waiters don't register (or deregister) at counter
     * 0, and Add from 0 concurrently with Wait is misuse. */
    if (atomic_load_explicit(&wg->state, memory_order_relaxed) != state)
        gort__fatal("sync: WaitGroup misuse: Add called concurrently with Wait");
    atomic_store_explicit(&wg->state, 0, memory_order_release);
    for (; w != 0; w--)
        gort__sema_release(&wg->sema, false);
}

void gort_wg_done(gort_wg *wg)
{
    gort_wg_add(wg, -1);
}

int gort_wg_wait_until(gort_wg *wgp, int64_t deadline)
{
    gort__preempt_point(); /* cooperative preemption (Go: at function calls) */
    wg_impl *wg = wg_of(wgp);
    uint64_t state = atomic_load_explicit(&wg->state, memory_order_acquire);
    for (;;) {
        if (wg_counter(state) == 0)
            return 0;
        if (deadline_passed(deadline))
            return GORT_ETIMEDOUT;
        /* Register as a waiter. */
        if (atomic_compare_exchange_weak_explicit(&wg->state, &state, state + 1,
                                                  memory_order_acq_rel, memory_order_acquire))
            break;
    }

    if (gort__sema_acquire_until(&wg->sema, false, deadline, GORT__WAIT_WAITGROUP) != 0) {
        /* Timed out: take our registration back, or, if the counter reached
         * zero meanwhile, the zeroing Add has counted us and a unit is on its
         * way: consume it (see the top). */
        state = atomic_load_explicit(&wg->state, memory_order_acquire);
        for (;;) {
            if (wg_counter(state) == 0) {
                gort__sema_acquire(&wg->sema, false, GORT__WAIT_WAITGROUP);
                break;
            }
            if (wg_waiters(state) == 0)
                gort__fatal("sync: WaitGroup is reused before previous Wait has returned");
            if (atomic_compare_exchange_weak_explicit(&wg->state, &state, state - 1,
                                                      memory_order_acq_rel, memory_order_acquire))
                return GORT_ETIMEDOUT;
        }
    }
    if (atomic_load_explicit(&wg->state, memory_order_acquire) != 0)
        gort__fatal("sync: WaitGroup is reused before previous Wait has returned");
    return 0;
}

void gort_wg_wait(gort_wg *wg)
{
    (void)gort_wg_wait_until(wg, GORT_FOREVER);
}

/* ========================================================================
 * Once
 * ===================================================================== */

typedef struct SYNC_MAY_ALIAS once_impl {
    _Atomic uint32_t done; /* 1 once fn has returned; release store, acquire load */
    uint32_t reserved_;    /* padding, always 0 */
    mutex_impl m;          /* serialises the slow path; held while fn runs */
} once_impl;

_Static_assert(sizeof(once_impl) <= sizeof(gort_once), "once_impl too big");
_Static_assert(alignof(once_impl) <= alignof(gort_once), "once_impl over-aligned");

static GORT__NOINLINE void once_slow(once_impl *o, void (*fn)(void *), void *arg)
{
    mutex_lock_impl(&o->m, GORT__WAIT_ONCE);
    if (atomic_load_explicit(&o->done, memory_order_relaxed) == 0) {
        if (fn)
            fn(arg);
        atomic_store_explicit(&o->done, 1, memory_order_release);
    }
    mutex_unlock_impl(&o->m);
}

void gort_once_do(gort_once *op, void (*fn)(void *), void *arg)
{
    once_impl *o = (once_impl *)(void *)op;
    if (GORT__LIKELY(atomic_load_explicit(&o->done, memory_order_acquire) != 0))
        return;
    once_slow(o, fn, arg);
}

/* ========================================================================
 * Cond
 * ===================================================================== */

/* A waiter's record; lives on its stack while it waits. */
typedef struct cond_waiter {
    gort__waiter        w;      /* blocking handle; claimed by signal/broadcast or the deadline */
    struct cond_waiter *next;   /* toward the tail; guarded by the cond's lock */
    struct cond_waiter *prev;   /* toward the head; guarded by the cond's lock */
    uint32_t            ticket; /* position in arrival order; immutable once queued */
    bool                queued; /* linked in the list; guarded by the cond's lock */
} cond_waiter;

typedef struct SYNC_MAY_ALIAS cond_impl {
    _Atomic uint32_t wait;   /* next ticket to hand out; written under lock, read anywhere */
    _Atomic uint32_t notify; /* head's ticket, or == wait when the list is empty; ditto */
    gort__lock lock;         /* guards the list and the writes to wait/notify */
    uint32_t reserved_;      /* padding, always 0 */
    cond_waiter *head;       /* oldest waiter; guarded by lock */
    cond_waiter *tail;       /* newest waiter; guarded by lock */
} cond_impl;

_Static_assert(sizeof(cond_impl) <= sizeof(gort_cond), "cond_impl too big");
_Static_assert(alignof(cond_impl) <= alignof(gort_cond), "cond_impl over-aligned");

static inline cond_impl *cond_of(gort_cond *c)
{
    return (cond_impl *)(void *)c;
}

/* Unlink e (lock held) and keep notify == head's ticket (or wait). */
static void cond_unlink(cond_impl *c, cond_waiter *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->next = e->prev = NULL;
    e->queued = false;
    uint32_t n = c->head ? c->head->ticket : atomic_load_explicit(&c->wait, memory_order_relaxed);
    atomic_store_explicit(&c->notify, n, memory_order_release);
}

typedef struct cond_commit_arg {
    cond_impl  *c;  /* release its list lock */
    mutex_impl *mu; /* then the user's mutex */
} cond_commit_arg;

/* Runs once the waiter is safely asleep (for a goroutine: on the scheduler
 * context, where gort__current() is NULL so unlock never yields). */
static void cond_commit(void *p)
{
    cond_commit_arg *a = p;
    gort__lock_release(&a->c->lock);
    mutex_unlock_impl(a->mu);
}

int gort_cond_wait_until(gort_cond *cp, gort_mutex *mup, int64_t deadline)
{
    gort__preempt_point(); /* cooperative preemption (Go: at function calls) */
    cond_impl *c = cond_of(cp);
    mutex_impl *mu = mutex_of(mup);
    if (deadline == GORT_NOWAIT)
        return GORT_ETIMEDOUT; /* nothing can signal us without a wait: mu stays held */

    cond_waiter e;
    gort__waiter_init(&e.w, deadline);
    e.next = e.prev = NULL;

    gort__lock_acquire(&c->lock);
    /* Ticket and enqueue together, while mu is still held (see the top). */
    uint32_t t = atomic_load_explicit(&c->wait, memory_order_relaxed);
    atomic_store_explicit(&c->wait, t + 1, memory_order_release);
    e.ticket = t;
    e.prev = c->tail;
    if (c->tail)
        c->tail->next = &e;
    else
        c->head = &e;
    c->tail = &e;
    e.queued = true;
    /* notify already equals head's ticket: if we are the head, the list was
     * empty and notify == old wait == t. */

    cond_commit_arg a = {c, mu};
    int r = gort__waiter_sleep(&e.w, cond_commit, &a, GORT__WAIT_COND);
    if (r != 0) {
        /* The deadline won: nobody notified us. Leave the list if a
         * signaller has not already unlinked (and skipped) us. */
        gort__lock_acquire(&c->lock);
        if (e.queued)
            cond_unlink(c, &e);
        gort__lock_release(&c->lock);
        r = GORT_ETIMEDOUT;
    }
    mutex_lock_impl(mu, GORT__WAIT_MUTEX);
    return r;
}

void gort_cond_wait(gort_cond *c, gort_mutex *mu)
{
    (void)gort_cond_wait_until(c, mu, GORT_FOREVER);
}

static inline bool cond_empty(cond_impl *c)
{
    return atomic_load_explicit(&c->wait, memory_order_acquire) ==
           atomic_load_explicit(&c->notify, memory_order_acquire);
}

void gort_cond_signal(gort_cond *cp)
{
    cond_impl *c = cond_of(cp);
    if (cond_empty(c))
        return;
    cond_waiter *won = NULL;
    gort__lock_acquire(&c->lock);
    cond_waiter *e;
    while ((e = c->head) != NULL) {
        cond_unlink(c, e);
        if (gort__waiter_claim(&e->w)) {
            won = e;
            break;
        }
        /* its deadline won: skip it, the signal goes to the next one */
    }
    gort__lock_release(&c->lock);
    if (won)
        gort__waiter_wake(&won->w);
}

void gort_cond_broadcast(gort_cond *cp)
{
    cond_impl *c = cond_of(cp);
    if (cond_empty(c))
        return;
    cond_waiter *first = NULL, *last = NULL; /* claimed ones, in FIFO order */
    gort__lock_acquire(&c->lock);
    cond_waiter *e;
    while ((e = c->head) != NULL) {
        cond_unlink(c, e);
        if (!gort__waiter_claim(&e->w))
            continue;
        if (last)
            last->next = e;
        else
            first = e;
        last = e;
    }
    gort__lock_release(&c->lock);
    while (first) {
        cond_waiter *next = first->next; /* read before the wake frees it */
        gort__waiter_wake(&first->w);
        first = next;
    }
}

/* ========================================================================
 * Semaphore (weighted)
 * ===================================================================== */

typedef struct sem_waiter {
    gort__waiter       w;      /* blocking handle; claimed by the granter or the deadline */
    struct sem_waiter *next;   /* toward the tail; guarded by the sem's lock (then wake list) */
    struct sem_waiter *prev;   /* toward the head; guarded by the sem's lock */
    int64_t            n;      /* units wanted; immutable */
    bool               queued; /* linked in the list; guarded by the sem's lock */
} sem_waiter;

typedef struct SYNC_MAY_ALIAS sem_impl {
    gort__lock lock;    /* guards every field below */
    uint32_t reserved_; /* padding, always 0 */
    int64_t size;       /* capacity, set by gort_sem_init; 0 for a zero sem */
    int64_t cur;        /* units currently held, 0 <= cur <= size */
    sem_waiter *head;   /* oldest waiter */
    sem_waiter *tail;   /* newest waiter */
} sem_impl;

_Static_assert(sizeof(sem_impl) <= sizeof(gort_sem), "sem_impl too big");
_Static_assert(alignof(sem_impl) <= alignof(gort_sem), "sem_impl over-aligned");

static inline sem_impl *sem_of(gort_sem *s)
{
    return (sem_impl *)(void *)s;
}

static void sem_unlink(sem_impl *s, sem_waiter *e)
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
}

/* Grant units to waiters from the head while they fit (lock held). The
 * granted (claimed) waiters are returned as a list linked by next, to be
 * woken after the lock is dropped. */
static sem_waiter *sem_grant(sem_impl *s)
{
    sem_waiter *first = NULL, *last = NULL;
    sem_waiter *e;
    while ((e = s->head) != NULL) {
        if (s->size - s->cur < e->n)
            break; /* FIFO: later, smaller requests must not overtake */
        sem_unlink(s, e);
        if (!gort__waiter_claim(&e->w))
            continue; /* timed out: it gets nothing */
        s->cur += e->n;
        if (last)
            last->next = e;
        else
            first = e;
        last = e;
    }
    return first;
}

static void sem_wake_all(sem_waiter *e)
{
    while (e) {
        sem_waiter *next = e->next;
        gort__waiter_wake(&e->w);
        e = next;
    }
}

int gort_sem_init(gort_sem *sp, int64_t capacity)
{
    if (capacity < 0)
        return GORT_EINVAL;
    memset(sp, 0, sizeof *sp);
    sem_of(sp)->size = capacity;
    return 0;
}

int gort_sem_acquire_until(gort_sem *sp, int64_t n, int64_t deadline)
{
    gort__preempt_point(); /* cooperative preemption (Go: at function calls) */
    sem_impl *s = sem_of(sp);
    if (n < 0)
        return GORT_EINVAL;
    gort__lock_acquire(&s->lock);
    if (n > s->size) {
        gort__lock_release(&s->lock);
        return GORT_EINVAL;
    }
    if (s->size - s->cur >= n && s->head == NULL) {
        s->cur += n;
        gort__lock_release(&s->lock);
        return 0;
    }
    if (deadline == GORT_NOWAIT) {
        gort__lock_release(&s->lock);
        return GORT_ETIMEDOUT;
    }

    sem_waiter e;
    gort__waiter_init(&e.w, deadline);
    e.n = n;
    e.next = NULL;
    e.prev = s->tail;
    if (s->tail)
        s->tail->next = &e;
    else
        s->head = &e;
    s->tail = &e;
    e.queued = true;
    if (gort__waiter_sleep_lock(&e.w, &s->lock, GORT__WAIT_SEMAPHORE) == 0)
        return 0; /* granted: cur already includes our n */

    /* The deadline won, so nothing was granted to us. */
    sem_waiter *wake = NULL;
    gort__lock_acquire(&s->lock);
    if (e.queued) {
        bool front = s->head == &e;
        sem_unlink(s, &e);
        /* We may have been what blocked the waiters behind us. */
        if (front && s->size > s->cur)
            wake = sem_grant(s);
    }
    gort__lock_release(&s->lock);
    sem_wake_all(wake);
    return GORT_ETIMEDOUT;
}

int gort_sem_acquire(gort_sem *s, int64_t n)
{
    return gort_sem_acquire_until(s, n, GORT_FOREVER);
}

int gort_sem_try_acquire(gort_sem *sp, int64_t n)
{
    sem_impl *s = sem_of(sp);
    if (n < 0)
        return GORT_EINVAL;
    gort__lock_acquire(&s->lock);
    int r;
    if (n > s->size)
        r = GORT_EINVAL;
    else if (s->size - s->cur >= n && s->head == NULL) {
        s->cur += n;
        r = 0;
    } else
        r = GORT_EAGAIN;
    gort__lock_release(&s->lock);
    return r;
}

void gort_sem_release(gort_sem *sp, int64_t n)
{
    sem_impl *s = sem_of(sp);
    if (n < 0)
        gort__fatal("sync: semaphore release of a negative count (%lld)", (long long)n);
    gort__lock_acquire(&s->lock);
    if (n > s->cur) {
        gort__lock_release(&s->lock);
        gort__fatal("sync: semaphore released more than held");
    }
    s->cur -= n;
    sem_waiter *wake = sem_grant(s);
    gort__lock_release(&s->lock);
    sem_wake_all(wake);
}
