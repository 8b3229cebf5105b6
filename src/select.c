/*
 * select.c — gort_select, Go's select statement (runtime/select.go,
 * re-derived). Channel internals and the waiter protocol are described in
 * chan.c and internal.h; read those first.
 *
 * CONCEPTS
 *
 * A select gets n cases, each a send or a receive on a channel; cases on a
 * NULL channel never fire (Go's nil channel). It completes exactly one case,
 * chosen uniformly at random among those ready, or, if none is ready, waits
 * for the first that becomes ready, until an absolute deadline.
 * GORT_NOWAIT plays the role of Go's `default:` (GORT_EAGAIN).
 *
 * ALGORITHM (as in Go)
 *
 *   0. Validate. Cases on NULL channels are left out ("active" cases).
 *      0 active cases: NOWAIT -> GORT_EAGAIN, a deadline -> sleep until it,
 *      GORT_ETIMEDOUT, FOREVER -> block forever. 1 active case: it is just
 *      a channel operation with a deadline (Go compiles it that way too).
 *   1. Poll order: a uniformly random permutation of the active cases
 *      (inside-out Fisher-Yates). Lock order: the active cases sorted by
 *      channel address, ties (one channel in several cases) broken by poll
 *      order, i.e. randomly (heap sort: O(n log n) with no allocation even
 *      for GORT_SELECT_MAX cases).
 *   2. Lock every distinct channel in lock order.
 *   3. Pass 1: in poll order, try each case with the same locked halves the
 *      plain operations use (gort__chan_send_locked/recv_locked). The first
 *      that can proceed fires. Because the poll order is a random
 *      permutation, the first ready case in it is uniform among the ready
 *      ones. A send on a closed channel fires with result GORT_ECLOSED (Go
 *      panics); a receive on a closed, drained channel fires with
 *      GORT_ECLOSED and a zeroed destination.
 *      Buffered channels with a live lock-free ring (chan.c, THE RING)
 *      can still change under their locks, so "nothing ready" is only
 *      trusted once every ring is frozen: if freezing changed any channel's
 *      mode, poll again (at most once more: frozen rings stay frozen while
 *      we hold their locks). A poll that finds a ready case does not need
 *      the freeze: the case it completes was ready at that instant.
 *   4. Nothing ready: NOWAIT -> unlock, GORT_EAGAIN; deadline passed ->
 *      GORT_ETIMEDOUT. Otherwise pass 2: arm ONE waiter and push one entry
 *      per active case onto its channel's sendq/recvq, every entry pointing
 *      at that waiter; take one channel reference per entry (chan.c, I4).
 *      Sleep; the sleep releases all channel locks (sel_unlock) once we
 *      cannot miss a wake-up.
 *   5. Whoever wins the waiter's claim (a peer operation, a close, or the
 *      deadline) completes exactly one entry and records it in w.token.
 *      Peers that dequeue any other entry of ours fail the claim and just
 *      drop it, so losers leave nothing behind that could fire later.
 *   6. Pass 3: re-lock, unlink our entries still queued, unlock, drop
 *      their references (the winner's was normally dropped by its claimer,
 *      chan.c I4), and report the winning case (token) or the timeout.
 *
 * INVARIANTS AND SUBTLETIES
 *
 *   - Between the frozen poll and the sleep every involved channel stays
 *     locked and frozen, so the state we polled is the state we enqueue
 *     against: no wake-up can be missed, and a non-blocking select that
 *     reports GORT_EAGAIN acts on one instant of all its channels
 *     (TestNonblockSelectRace). Locks are taken and released through
 *     gort__chan_lock/gort__chan_unlock, which thaws a ring nobody waits
 *     on any more.
 *   - A select may list a channel several times (duplicates are locked once)
 *     and may both send and receive on one channel; its own entries can
 *     never match each other, because it enqueues only after polling and
 *     any matcher must first win the shared claim.
 *   - sel_unlock runs on the scheduler stack after the goroutine's context
 *     was saved (or on the foreign thread before it blocks). Once it has
 *     released a lock, a claimer can complete us and our goroutine may
 *     resume on another thread — but it then re-locks in address order
 *     starting with the lowest channel, whose lock sel_unlock releases
 *     last. So sel_unlock may read the lock order and the cases until its
 *     final release, and touches nothing after it (Go's "sel may be freed
 *     right after the last unlock").
 *   - Memory: the poll order, lock order and entries live on the stack for
 *     up to SEL_STACK active cases (the common case: no malloc at all);
 *     larger selects make one allocation, and report GORT_ENOMEM if it
 *     fails.
 *
 * REJECTED ALTERNATIVES
 *
 *   - Locking all channels with a global select lock: serialises unrelated
 *     selects. Address-ordered per-channel locks are deadlock-free and
 *     scale.
 *   - Polling in case order (or rotating): biased; Go's spec demands a
 *     uniform pseudo-random choice, and the shuffle is cheap.
 *   - One waiter per case with a separate "done" flag: the shared waiter
 *     makes the claim itself the selectDone CAS, and the deadline just
 *     becomes one more contender.
 */
#include "chan.h"

#include <stdlib.h>
#include <string.h>

#define SEL_STACK 8 /* active cases handled without malloc */

/* What sel_lock/sel_unlock need; lives on the selecting party's stack. */
typedef struct sel_locks {
    const gort_case *cases;     /* the caller's cases */
    const uint32_t  *lockorder; /* active case indices by channel address */
    size_t           na;        /* number of active cases */
    gort_chan       *skip;      /* pass 3: a channel not to lock (see there), or NULL */
} sel_locks;

static void sel_lock(const sel_locks *s)
{
    gort_chan *prev = NULL;
    for (size_t k = 0; k < s->na; k++) {
        gort_chan *c = s->cases[s->lockorder[k]].chan;
        if (c != prev && c != s->skip)
            gort__chan_lock(c);
        prev = c;
    }
}

/* Release in reverse lock order, each distinct channel once (at its first
 * position). As the sleep's unlock function (skip == NULL) the release of
 * the lowest channel is the very last access to anything of the select's
 * (see the design comment). */
static void sel_unlock(void *arg)
{
    const sel_locks *s = arg;
    const gort_case *cases = s->cases;
    const uint32_t *lo = s->lockorder;
    gort_chan *skip = s->skip;
    size_t k = s->na;
    while (k-- > 0) {
        gort_chan *c = cases[lo[k]].chan;
        if ((k > 0 && cases[lo[k - 1]].chan == c) || c == skip)
            continue;
        gort__chan_unlock(c);
    }
}

/* Lock order. lo[] first holds positions in the poll order, sorted by
 * (channel address, position) — a strict total order, so cases on the same
 * channel end up in their (random) poll order — and is then mapped to case
 * indices. Breaking ties randomly matters: a blocked select enqueues its
 * entries in lock order, and a peer dequeues the first one, so with a fixed
 * tie order `select { c <- 0; c <- 1 }` would always send the same value
 * (Go gets the same effect by building its heap from the poll order). */
static inline bool lo_less(const gort_case *cases, const uint32_t *po, uint32_t a, uint32_t b)
{
    uintptr_t ka = (uintptr_t)cases[po[a]].chan, kb = (uintptr_t)cases[po[b]].chan;
    return ka < kb || (ka == kb && a < b);
}

static void sift_down(const gort_case *cases, const uint32_t *po, uint32_t *lo, size_t root,
                      size_t n)
{
    uint32_t v = lo[root];
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            break;
        if (child + 1 < n && lo_less(cases, po, lo[child], lo[child + 1]))
            child++;
        if (!lo_less(cases, po, v, lo[child]))
            break;
        lo[root] = lo[child];
        root = child;
    }
    lo[root] = v;
}

/* Insertion sort for the common few cases (a profile of a 2-case select
 * showed the heap sort's sift_down at 15%); heap sort beyond that (no
 * allocation, O(n log n) even for GORT_SELECT_MAX cases). */
#define SMALL_SORT 16
static void make_lockorder(const gort_case *cases, const uint32_t *po, uint32_t *lo, size_t n)
{
    for (size_t k = 0; k < n; k++)
        lo[k] = (uint32_t)k;
    if (n <= SMALL_SORT) {
        for (size_t i = 1; i < n; i++) {
            uint32_t v = lo[i];
            size_t j = i;
            for (; j > 0 && lo_less(cases, po, v, lo[j - 1]); j--)
                lo[j] = lo[j - 1];
            lo[j] = v;
        }
        for (size_t k = 0; k < n; k++)
            lo[k] = po[lo[k]];
        return;
    }
    for (size_t i = n / 2; i-- > 0;)
        sift_down(cases, po, lo, i, n);
    for (size_t end = n; end-- > 1;) {
        uint32_t t = lo[0];
        lo[0] = lo[end];
        lo[end] = t;
        sift_down(cases, po, lo, 0, end);
    }
    for (size_t k = 0; k < n; k++)
        lo[k] = po[lo[k]];
}

static inline gort__waitq *case_queue(const gort_case *c)
{
    return c->dir == GORT_SEND ? &c->chan->sendq : &c->chan->recvq;
}

int gort_select(gort_case *cases, size_t n, int64_t deadline)
{
    gort__preempt_point();
    deadline = gort__chan_deadline(deadline);
    if (n > GORT_SELECT_MAX || (n > 0 && cases == NULL))
        return GORT_EINVAL;

    /* 0. Validate, count the active cases. */
    size_t na = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        gort_case *c = &cases[i];
        if (c->dir != GORT_SEND && c->dir != GORT_RECV)
            return GORT_EINVAL;
        c->result = 0;
        if (c->chan == NULL)
            continue;
        if (c->dir == GORT_SEND && c->elem == NULL && c->chan->elem_size != 0)
            return GORT_EINVAL;
        na++;
        last = i;
    }

    if (na == 0) {
        if (deadline == GORT_NOWAIT)
            return GORT_EAGAIN;
        gort__wait_reason why = n == 0 ? GORT__WAIT_SELECT_NO_CASES : GORT__WAIT_SELECT;
        if (deadline == GORT_FOREVER)
            gort__block_forever(why);
        return gort__sleep_until_deadline(deadline, why);
    }

    if (na == 1) {
        gort_case *c = &cases[last];
        int r = c->dir == GORT_SEND ? gort__chan_send(c->chan, c->elem, deadline)
                                    : gort__chan_recv(c->chan, c->elem, deadline);
        if (r != 0 && r != GORT_ECLOSED)
            return r; /* GORT_EAGAIN or GORT_ETIMEDOUT */
        c->result = r;
        return (int)last;
    }

    /* 1. Scratch space: stack for small selects, one allocation otherwise. */
    uint32_t po_stack[SEL_STACK], lo_stack[SEL_STACK];
    gort__chan_entry e_stack[SEL_STACK];
    uint32_t *pollorder = po_stack, *lockorder = lo_stack;
    gort__chan_entry *entries = e_stack;
    void *heap = NULL;
    if (na > SEL_STACK) {
        heap = malloc(na * (sizeof(gort__chan_entry) + 2 * sizeof(uint32_t)));
        if (heap == NULL)
            return GORT_ENOMEM;
        entries = heap;
        pollorder = (uint32_t *)(entries + na);
        lockorder = pollorder + na;
    }

    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (cases[i].chan == NULL)
            continue;
        uint32_t j = gort__randn((uint32_t)m + 1);
        pollorder[m] = pollorder[j];
        pollorder[j] = (uint32_t)i;
        m++;
    }
    make_lockorder(cases, pollorder, lockorder, na);

    sel_locks locks = {.cases = cases, .lockorder = lockorder, .na = na, .skip = NULL};
    int ret;

    /* 2 + 3. Lock, then poll in random order; if nothing is ready, freeze
     * the ring channels and poll again (see the design comment). */
    sel_lock(&locks);
poll:
    for (size_t k = 0; k < na; k++) {
        uint32_t i = pollorder[k];
        gort_case *c = &cases[i];
        gort__chan_entry *wake = NULL;
        int r = c->dir == GORT_SEND ? gort__chan_send_locked(c->chan, c->elem, &wake, true)
                                    : gort__chan_recv_locked(c->chan, c->elem, &wake);
        if (r != GORT_EAGAIN) {
            sel_unlock(&locks);
            if (wake != NULL)
                gort__chan_entry_wake(wake);
            c->result = r;
            ret = (int)i;
            goto out;
        }
    }

    bool froze = false;
    for (size_t k = 0; k < na; k++)
        froze |= gort__chan_freeze(cases[lockorder[k]].chan);
    if (froze)
        goto poll;

    /* 4. Nothing ready. */
    if (deadline == GORT_NOWAIT || (deadline != GORT_FOREVER && gort_now() >= deadline)) {
        sel_unlock(&locks);
        ret = deadline == GORT_NOWAIT ? GORT_EAGAIN : GORT_ETIMEDOUT;
        goto out;
    }

    gort__waiter w;
    gort__waiter_init(&w, deadline);
    w.token = NULL;
    for (size_t k = 0; k < na; k++) {
        gort_case *c = &cases[lockorder[k]];
        gort__chan_entry *e = &entries[k];
        memset(e, 0, sizeof *e);
        e->w = &w;
        e->ch = c->chan;
        e->elem = c->elem;
        atomic_fetch_add_explicit(&c->chan->refs, 1, memory_order_relaxed);
        gort__waitq_push(case_queue(c), e);
    }
    int r = gort__waiter_sleep(&w, sel_unlock, &locks, GORT__WAIT_SELECT);

    /* 6. Pass 3: unlink the entries that did not fire and drop their
     * references. The winner was unlinked by its claimer, which normally
     * also dropped its reference (ref_moved); if no other entry of ours is
     * on the winner's channel we need not lock that channel at all. This
     * keeps the "lowest lock released last" argument intact: if the winner
     * is on the lowest channel, its claimer could only take that lock after
     * our sleep's sel_unlock had finished. */
    gort__chan_entry *won = r == 0 ? w.token : NULL;
    size_t kw = na; /* position of the winner in lock order */
    if (r == 0) {
        if (won == NULL)
            gort__fatal("gort_select: woken without a winning case");
        kw = (size_t)(won - entries);
        bool dup = (kw > 0 && entries[kw - 1].ch == won->ch) ||
                   (kw + 1 < na && entries[kw + 1].ch == won->ch);
        if (!dup)
            locks.skip = won->ch;
    }
    sel_lock(&locks);
    for (size_t k = 0; k < na; k++)
        if (k != kw)
            gort__waitq_remove(case_queue(&cases[lockorder[k]]), &entries[k]);
    sel_unlock(&locks);
    for (size_t k = 0; k < na; k++)
        if (k != kw || !won->ref_moved)
            gort_chan_release(entries[k].ch);

    if (r != 0) {
        ret = GORT_ETIMEDOUT;
    } else {
        uint32_t i = lockorder[kw];
        cases[i].result = won->result;
        ret = (int)i;
    }

out:
    free(heap);
    return ret;
}
