/*
 * chan.c — channels (Go's runtime/chan.go, re-derived for C).
 *
 * CONCEPTS
 *
 * A channel is a FIFO of fixed-size values (elem_size bytes, 0 allowed,
 * at most GORT_CHAN_ELEM_MAX) with a capacity (0 = unbuffered, synchronous).
 * It has three parts, all protected by one lock:
 *
 *   - a ring buffer of `cap` slots (`buf`, `sendx`, `recvx`, `count`);
 *   - `recvq`, the FIFO of blocked receivers, and `sendq`, the FIFO of
 *     blocked senders. Each element is a gort__chan_entry (Go's sudog) that
 *     lives on the blocked party's stack and points at its gort__waiter and
 *     at the memory the value comes from (send) or goes to (recv);
 *   - `closed`, set once by close.
 *
 * Blocking uses the engine's waiter protocol (internal.h): a blocked
 * operation publishes an entry under the channel lock and sleeps with
 * gort__waiter_sleep_lock(), which drops the lock only once the sleeper
 * cannot miss its wake-up. Whoever completes it (a peer operation, close,
 * or the deadline timer) must first win gort__waiter_claim(); only the
 * winner writes into the sleeper's memory (`elem`, `result`, the waiter's
 * `token`) and then wakes it. A select publishes one entry per case, all
 * sharing one waiter, so exactly one case can ever be completed and the
 * others are skipped by whoever dequeues them (Go's selectDone). The same
 * code path serves goroutines (they park) and foreign threads (they block
 * on a futex): nothing here knows which one it is talking to.
 *
 * THE OPERATIONS (ch->lock held unless said otherwise)
 *
 *   send: closed -> GORT_ECLOSED. A claimable receiver at the head of recvq
 *         -> copy the value straight into its destination (direct hand-off:
 *         the buffer is not touched, and for an unbuffered channel this is
 *         the only way a value moves), wake it after unlocking. Free buffer
 *         slot -> enqueue at sendx. Else block on sendq (or fail: try/NOWAIT).
 *   recv: closed and count == 0 -> zero the destination, GORT_ECLOSED (so a
 *         closed channel is drained before it reports closed). A claimable
 *         sender at the head of sendq -> unbuffered: copy its value directly;
 *         buffered (then the buffer is full): take the head slot and put the
 *         sender's value in that same slot, which becomes the tail — FIFO
 *         order is kept and the sender completes. count > 0 -> dequeue.
 *         Else block on recvq (or fail).
 *   close: closed -> GORT_ECLOSED. Set closed; claim every queued receiver
 *         (zero its destination, result GORT_ECLOSED) and every queued sender
 *         (result GORT_ECLOSED); wake them all after unlocking.
 *
 * INVARIANTS
 *
 *   I1  count <= cap; buffered values sit at recvx, recvx+1, ... (mod cap).
 *   I2  A queued sender implies the buffer is full (count == cap) and a
 *       queued receiver implies it is empty, except for entries whose waiter
 *       was already claimed elsewhere (a select that fired on another case)
 *       or timed out: those are dead weight that the next dequeuer drops.
 *       (Go's "at most one of sendq/recvq is non-empty" has the same
 *       exception, for a select sending and receiving on one channel.)
 *   I3  closed implies sendq and recvq hold no claimable entry: close
 *       completed them all, and no operation enqueues on a closed channel.
 *   I4  Every entry in a queue holds a reference on the channel, taken
 *       before it was pushed. So the last gort_chan_release() by users
 *       never frees a channel that anybody is blocked on — see REFERENCES.
 *       The reference is dropped by whoever ends the wait: the sleeper
 *       itself after a timeout (it must re-lock to unlink its entry), or
 *       the claim winner, which completes the operation and — holding a
 *       reference of its own, so the count cannot reach zero there — drops
 *       the entry's reference on the sleeper's behalf (ref_moved). A
 *       completed operation thus owns nothing even before its goroutine
 *       runs again (one discarded by gort_shutdown leaks nothing). The one
 *       claimer without a reference, the gort_after timer callback, leaves
 *       it to the sleeper.
 *   I5  An entry is written by others only by the winner of its waiter's
 *       claim, and only until that winner calls gort__waiter_wake(); the
 *       sleeper reads `result`/`token` after its sleep returns (the wake
 *       has release order, the sleep return acquire order).
 *
 * LOCKS
 *
 *   ch->lock (a gort__lock: futex mutex, never held across a park) protects
 *   buf contents, sendx, recvx, the queues and the writes of count, closed
 *   and the queue heads. select holds several channel locks at once; it
 *   always takes them in increasing address order, skipping duplicates, so
 *   two selects over overlapping sets cannot deadlock. Nothing else is
 *   locked inside a channel lock except the engine's own short locks taken
 *   by gort__waiter_wake()/gort__ready() — which is why we wake after
 *   unlocking where we can (shorter hold time), but it would also be legal
 *   inside.
 *
 * FAST PATHS AND MEMORY ORDER
 *
 *   A non-blocking operation that is going to fail takes no lock (Go's
 *   fast path; a polling select loop over an idle channel then costs two
 *   loads). For try_send: "full" is count == cap, or for an unbuffered
 *   channel "recvq is empty"; for try_recv "empty" is count == 0, or "sendq
 *   is empty". The fast path reads the readiness word first (acquire) and
 *   `closed` second:
 *
 *     try_send: full && !closed            -> GORT_EAGAIN
 *     try_recv: empty && !closed           -> GORT_EAGAIN
 *               empty && closed && empty'  -> zero out, GORT_ECLOSED
 *
 *   Why that is linearizable with close. Every write of count, the queue
 *   heads and closed happens inside a critical section with release order;
 *   the fast path loads readiness with acquire and closed after it. Suppose
 *   the readiness load R read the value written by critical section S. If
 *   close's critical section C were ordered before S (by the lock), then C
 *   happens-before S's release store, which R read with acquire, so the
 *   later load of closed must see 1 (coherence). Hence "closed == 0" proves
 *   C is not before S, and at the point right after S the channel was both
 *   not ready and open: we report GORT_EAGAIN as of that point. Reading
 *   closed first and readiness second would not be enough: a send + close
 *   between the two loads could make us report "closed" for a channel that
 *   still has a buffered value. For the "closed" answer of try_recv we
 *   re-check emptiness after seeing closed == 1: that load happens after C
 *   (it read C's release store of closed), and after close a channel can
 *   only get emptier (no send succeeds, close dequeued every sender), so
 *   "closed and empty" observed then is final: reporting GORT_ECLOSED is
 *   correct at that point and at every later one. Everything that
 *   succeeds, and everything that blocks, goes through the lock.
 *
 *   Values are copied with plain memcpy under the lock (buffer) or by the
 *   claim winner under the lock (hand-off into/out of a sleeper's memory);
 *   the sleeper published its memory under the same lock and reads it back
 *   after the waiter's release/acquire wake, so there are no data races.
 *
 * REFERENCES
 *
 *   gort_chan_make returns one reference; retain/release count them; the
 *   channel is freed when the count reaches 0. Every blocking operation
 *   (send, recv, each case of a select) takes its own reference before it
 *   enqueues; it is dropped when the wait ends (I4). Consequences, as documented
 *   in gort.h: releasing the last user reference while goroutines or
 *   threads are blocked on the channel does not free it; the blocked
 *   operations stay blocked (as in Go, where an unreachable channel's
 *   waiters leak) until their deadline passes or, for a select, another of
 *   its cases fires, and the last of them to leave frees the channel. A
 *   caller must of course hold a reference for the whole duration of any
 *   call it makes with the channel; the rule only protects memory that
 *   someone is *waiting* on.
 *
 * NULL CHANNELS AND BAD INPUT (Go's nil channel)
 *
 *   send/recv(NULL) block forever (gort__block_forever); *_until(NULL, d)
 *   sleeps until d and returns GORT_ETIMEDOUT; try_* on NULL return
 *   GORT_EAGAIN; close(NULL) returns GORT_EINVAL (Go panics); len/cap of
 *   NULL are 0. A send of elem == NULL on a channel with elem_size > 0 is
 *   GORT_EINVAL; a NULL receive destination discards the value.
 *   *_until(ch, x, GORT_NOWAIT) is exactly try_*: GORT_EAGAIN, not
 *   GORT_ETIMEDOUT. A deadline already in the past still lets a ready
 *   operation complete; only a wait ends with GORT_ETIMEDOUT.
 *
 * REJECTED ALTERNATIVES
 *
 *   - A lock-free channel (ring with per-slot sequence numbers, as in
 *     crossbeam/Vyukov): fast for buffered traffic, but select over several
 *     channels, close waking everyone, and unbuffered hand-off all need a
 *     consistent multi-word snapshot; Go keeps a lock for the same reasons
 *     and only does the cheap "would fail" checks without it.
 *   - Copying a hand-off through the buffer or a heap temporary: one extra
 *     copy of up to 64 KiB and no place to put it for unbuffered channels.
 *     The claim protocol makes writing into the sleeper's memory safe.
 *   - Heap-allocated queue entries (Go pools sudogs): an entry only lives
 *     while its owner is blocked, so the owner's stack is the natural home.
 *   - Freeing at the last user release regardless of waiters, or failing
 *     it: the first is a use-after-free for every waiter, the second makes
 *     release fallible and racy; holding a reference per blocked operation
 *     costs one atomic add on the (already expensive) blocking path.
 */
#include "chan.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------- */

static inline unsigned char *chan_slot(gort_chan *ch, size_t i)
{
    return ch->buf + i * ch->elem_size;
}

/* Copy one element; dst == NULL discards it (a receive into NULL). */
static inline void chan_copy(const gort_chan *ch, void *dst, const void *src)
{
    if (ch->elem_size != 0 && dst != NULL)
        memcpy(dst, src, ch->elem_size);
}

static inline void chan_zero(const gort_chan *ch, void *dst)
{
    if (ch->elem_size != 0 && dst != NULL)
        memset(dst, 0, ch->elem_size);
}

static inline size_t ring_next(const gort_chan *ch, size_t i)
{
    return i + 1 == ch->cap ? 0 : i + 1;
}

/* Lock-free readiness checks of the fast paths (see the design comment). */
static inline bool chan_full(gort_chan *ch)
{
    if (ch->cap == 0)
        return atomic_load_explicit(&ch->recvq.first, memory_order_acquire) == NULL;
    return atomic_load_explicit(&ch->count, memory_order_acquire) == ch->cap;
}

static inline bool chan_empty(gort_chan *ch)
{
    if (ch->cap == 0)
        return atomic_load_explicit(&ch->sendq.first, memory_order_acquire) == NULL;
    return atomic_load_explicit(&ch->count, memory_order_acquire) == 0;
}

static inline bool chan_closed_acquire(gort_chan *ch)
{
    return atomic_load_explicit(&ch->closed, memory_order_acquire) != 0;
}

/* ---- wait queues --------------------------------------------------------- */

void gort__waitq_push(gort__waitq *q, gort__chan_entry *e)
{
    e->next = NULL;
    e->prev = q->last;
    if (q->last != NULL)
        q->last->next = e;
    else
        atomic_store_explicit(&q->first, e, memory_order_release);
    q->last = e;
    e->queued = true;
}

void gort__waitq_remove(gort__waitq *q, gort__chan_entry *e)
{
    if (!e->queued)
        return;
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        atomic_store_explicit(&q->first, e->next, memory_order_release);
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        q->last = e->prev;
    e->next = e->prev = NULL;
    e->queued = false;
}

gort__chan_entry *gort__waitq_claim(gort__waitq *q)
{
    for (;;) {
        gort__chan_entry *e = atomic_load_explicit(&q->first, memory_order_relaxed);
        if (e == NULL)
            return NULL;
        gort__waitq_remove(q, e);
        /* A failed claim means another case of the same select fired, or
         * the deadline won; either way the owner no longer wants this
         * entry, and will find it unlinked when it re-locks. */
        if (gort__waiter_claim(e->w))
            return e;
    }
}

/* ---- the locked halves --------------------------------------------------- */

/* The claim winner (holding its own reference) drops the one e held (I4). */
static inline void entry_take_ref(gort_chan *ch, gort__chan_entry *e)
{
    atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_release);
    e->ref_moved = true;
}

int gort__chan_send_locked(gort_chan *ch, const void *elem, gort__chan_entry **wake,
                           bool have_ref)
{
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed))
        return GORT_ECLOSED;

    gort__chan_entry *r = gort__waitq_claim(&ch->recvq);
    if (r != NULL) {
        /* Direct hand-off into the parked receiver's destination. */
        chan_copy(ch, r->elem, elem);
        r->result = 0;
        if (have_ref)
            entry_take_ref(ch, r);
        r->w->token = r;
        *wake = r;
        return 0;
    }

    size_t n = atomic_load_explicit(&ch->count, memory_order_relaxed);
    if (n < ch->cap) {
        chan_copy(ch, ch->elem_size ? chan_slot(ch, ch->sendx) : NULL, elem);
        ch->sendx = ring_next(ch, ch->sendx);
        atomic_store_explicit(&ch->count, n + 1, memory_order_release);
        return 0;
    }
    return GORT_EAGAIN;
}

int gort__chan_recv_locked(gort_chan *ch, void *out, gort__chan_entry **wake)
{
    size_t n = atomic_load_explicit(&ch->count, memory_order_relaxed);

    if (atomic_load_explicit(&ch->closed, memory_order_relaxed)) {
        if (n == 0) {
            chan_zero(ch, out);
            return GORT_ECLOSED;
        }
        /* Closed but not drained: fall through to the buffer (I3: no
         * sender can be queued). */
    } else {
        gort__chan_entry *s = gort__waitq_claim(&ch->sendq);
        if (s != NULL) {
            if (ch->cap == 0) {
                chan_copy(ch, out, s->elem);
            } else {
                /* Buffer full (I2): take the head, and the sender's value
                 * goes into the slot just freed, which is the new tail. */
                if (ch->elem_size != 0) {
                    unsigned char *slot = chan_slot(ch, ch->recvx);
                    chan_copy(ch, out, slot);
                    memcpy(slot, s->elem, ch->elem_size);
                }
                ch->recvx = ring_next(ch, ch->recvx);
                ch->sendx = ch->recvx;
            }
            s->result = 0;
            entry_take_ref(ch, s);
            s->w->token = s;
            *wake = s;
            return 0;
        }
    }

    if (n > 0) {
        chan_copy(ch, out, ch->elem_size ? chan_slot(ch, ch->recvx) : NULL);
        ch->recvx = ring_next(ch, ch->recvx);
        atomic_store_explicit(&ch->count, n - 1, memory_order_release);
        return 0;
    }
    return GORT_EAGAIN;
}

/* ---- blocking ------------------------------------------------------------ */

static void nop_unlock(void *arg)
{
    (void)arg;
}

int gort__sleep_until_deadline(int64_t deadline, gort__wait_reason why)
{
    gort__waiter w;
    gort__waiter_init(&w, deadline);
    /* Published nowhere: only the deadline can complete it. */
    (void)gort__waiter_sleep(&w, nop_unlock, NULL, why);
    return GORT_ETIMEDOUT;
}

/* ch->lock held and the operation cannot complete now: publish an entry on
 * q and sleep. Returns the entry's result (0 or GORT_ECLOSED) or
 * GORT_ETIMEDOUT. Releases the lock. */
static int chan_block(gort_chan *ch, gort__waitq *q, void *elem, int64_t deadline,
                      gort__wait_reason why)
{
    gort__waiter w;
    gort__chan_entry e;

    gort__waiter_init(&w, deadline);
    memset(&e, 0, sizeof e);
    e.w = &w;
    e.ch = ch;
    e.elem = elem;

    atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed); /* I4 */
    gort__waitq_push(q, &e);
    int r = gort__waiter_sleep_lock(&w, &ch->lock, why);
    if (r != 0) {
        /* The deadline won the claim: nobody else will touch e, but it may
         * still be linked. */
        gort__lock_acquire(&ch->lock);
        gort__waitq_remove(q, &e);
        gort__lock_release(&ch->lock);
        r = GORT_ETIMEDOUT;
        gort_chan_release(ch);
    } else {
        r = e.result;
        if (!e.ref_moved)
            gort_chan_release(ch);
    }
    return r;
}

static _Noreturn void block_nil(void)
{
    gort__block_forever(GORT__WAIT_CHAN_NIL);
}

static int nil_chan_wait(int64_t deadline)
{
    if (deadline == GORT_NOWAIT)
        return GORT_EAGAIN;
    if (deadline == GORT_FOREVER)
        block_nil();
    return gort__sleep_until_deadline(deadline, GORT__WAIT_CHAN_NIL);
}

static inline bool deadline_passed(int64_t deadline)
{
    return deadline != GORT_FOREVER && gort_now() >= deadline;
}

static int chan_send(gort_chan *ch, const void *elem, int64_t deadline, bool have_ref)
{
    if (GORT__UNLIKELY(ch == NULL))
        return nil_chan_wait(deadline);
    if (GORT__UNLIKELY(elem == NULL && ch->elem_size != 0))
        return GORT_EINVAL;

    /* Fast path: a non-blocking send that would fail takes no lock. */
    if (deadline == GORT_NOWAIT && chan_full(ch) && !chan_closed_acquire(ch))
        return GORT_EAGAIN;

    gort__lock_acquire(&ch->lock);
    gort__chan_entry *wake = NULL;
    int r = gort__chan_send_locked(ch, elem, &wake, have_ref);
    if (r != GORT_EAGAIN) {
        gort__lock_release(&ch->lock);
        if (wake != NULL)
            gort__chan_entry_wake(wake);
        return r;
    }
    if (deadline == GORT_NOWAIT) {
        gort__lock_release(&ch->lock);
        return GORT_EAGAIN;
    }
    if (deadline_passed(deadline)) {
        gort__lock_release(&ch->lock);
        return GORT_ETIMEDOUT;
    }
    return chan_block(ch, &ch->sendq, (void *)elem, deadline, GORT__WAIT_CHAN_SEND);
}

int gort__chan_send(gort_chan *ch, const void *elem, int64_t deadline)
{
    gort__preempt_point(); /* cooperative preemption at every channel call */
    return chan_send(ch, elem, deadline, true);
}

int gort__chan_try_send_noref(gort_chan *ch, const void *elem)
{
    return chan_send(ch, elem, GORT_NOWAIT, false);
}

int gort__chan_recv(gort_chan *ch, void *out, int64_t deadline)
{
    gort__preempt_point();
    if (GORT__UNLIKELY(ch == NULL))
        return nil_chan_wait(deadline);

    /* Fast path: a non-blocking receive that would fail takes no lock. */
    if (deadline == GORT_NOWAIT && chan_empty(ch)) {
        if (!chan_closed_acquire(ch))
            return GORT_EAGAIN;
        if (chan_empty(ch)) {
            chan_zero(ch, out);
            return GORT_ECLOSED;
        }
        /* Closed, but a value arrived in between: take the locked path. */
    }

    gort__lock_acquire(&ch->lock);
    gort__chan_entry *wake = NULL;
    int r = gort__chan_recv_locked(ch, out, &wake);
    if (r != GORT_EAGAIN) {
        gort__lock_release(&ch->lock);
        if (wake != NULL)
            gort__chan_entry_wake(wake);
        return r;
    }
    if (deadline == GORT_NOWAIT) {
        gort__lock_release(&ch->lock);
        return GORT_EAGAIN;
    }
    if (deadline_passed(deadline)) {
        gort__lock_release(&ch->lock);
        return GORT_ETIMEDOUT;
    }
    return chan_block(ch, &ch->recvq, out, deadline, GORT__WAIT_CHAN_RECV);
}

/* ---- public API ---------------------------------------------------------- */

#define CHAN_HDR_SIZE \
    ((sizeof(struct gort_chan) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

gort_chan *gort_chan_make(size_t elem_size, size_t cap)
{
    if (elem_size > GORT_CHAN_ELEM_MAX)
        return NULL;
    size_t bytes = 0;
    if (elem_size != 0) {
        /* Keep the whole allocation below PTRDIFF_MAX. */
        if (cap > (PTRDIFF_MAX - CHAN_HDR_SIZE) / elem_size)
            return NULL;
        bytes = cap * elem_size;
    }
    gort_chan *ch = calloc(1, CHAN_HDR_SIZE + bytes);
    if (ch == NULL)
        return NULL;
    ch->lock = (gort__lock)GORT__LOCK_INIT;
    atomic_init(&ch->count, 0);
    atomic_init(&ch->closed, 0);
    atomic_init(&ch->refs, 1);
    atomic_init(&ch->recvq.first, NULL);
    atomic_init(&ch->sendq.first, NULL);
    ch->cap = cap;
    ch->elem_size = elem_size;
    ch->buf = bytes != 0 ? (unsigned char *)ch + CHAN_HDR_SIZE : NULL;
    ch->timer = NULL;
    return ch;
}

gort_chan *gort_chan_retain(gort_chan *ch)
{
    if (ch != NULL)
        atomic_fetch_add_explicit(&ch->refs, 1, memory_order_relaxed);
    return ch;
}

void gort_chan_release(gort_chan *ch)
{
    if (ch == NULL)
        return;
    /* acq_rel: every use of the channel by other reference holders happens
     * before the free (a standalone fence would do, but TSan does not model
     * fences). */
    size_t old = atomic_fetch_sub_explicit(&ch->refs, 1, memory_order_acq_rel);
    if (GORT__LIKELY(old > 1))
        return;
    if (old == 0)
        gort__fatal("gort_chan_release: channel %p released more often than retained", (void *)ch);
    /* I4: nobody can be queued. Seeing an entry means a reference was
     * released twice while someone was blocked. */
    if (atomic_load_explicit(&ch->recvq.first, memory_order_relaxed) != NULL ||
        atomic_load_explicit(&ch->sendq.first, memory_order_relaxed) != NULL)
        gort__fatal("gort_chan_release: channel %p freed with blocked operations "
                    "(over-released)", (void *)ch);
    if (ch->timer != NULL)
        gort__timerchan_destroy(ch->timer);
    free(ch);
}

int gort_chan_send(gort_chan *ch, const void *elem)
{
    return gort__chan_send(ch, elem, GORT_FOREVER);
}

int gort_chan_recv(gort_chan *ch, void *out)
{
    return gort__chan_recv(ch, out, GORT_FOREVER);
}

int gort_chan_try_send(gort_chan *ch, const void *elem)
{
    return gort__chan_send(ch, elem, GORT_NOWAIT);
}

int gort_chan_try_recv(gort_chan *ch, void *out)
{
    return gort__chan_recv(ch, out, GORT_NOWAIT);
}

int gort_chan_send_until(gort_chan *ch, const void *elem, int64_t deadline)
{
    return gort__chan_send(ch, elem, gort__chan_deadline(deadline));
}

int gort_chan_recv_until(gort_chan *ch, void *out, int64_t deadline)
{
    return gort__chan_recv(ch, out, gort__chan_deadline(deadline));
}

int gort_chan_close(gort_chan *ch)
{
    if (ch == NULL)
        return GORT_EINVAL;

    gort__lock_acquire(&ch->lock);
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed)) {
        gort__lock_release(&ch->lock);
        return GORT_ECLOSED;
    }
    atomic_store_explicit(&ch->closed, 1, memory_order_release);

    /* Complete every queued operation; wake them after unlocking. The
     * claimed entries are unlinked, so `next` is free to chain them. */
    gort__chan_entry *list = NULL, **tail = &list, *e;
    while ((e = gort__waitq_claim(&ch->recvq)) != NULL) {
        chan_zero(ch, e->elem);
        e->result = GORT_ECLOSED;
        entry_take_ref(ch, e);
        e->w->token = e;
        *tail = e;
        tail = &e->next;
    }
    while ((e = gort__waitq_claim(&ch->sendq)) != NULL) {
        e->result = GORT_ECLOSED;
        entry_take_ref(ch, e);
        e->w->token = e;
        *tail = e;
        tail = &e->next;
    }
    *tail = NULL;
    gort__lock_release(&ch->lock);

    while (list != NULL) {
        e = list;
        list = e->next; /* read before waking: e dies with its owner's frame */
        gort__chan_entry_wake(e);
    }
    return 0;
}

size_t gort_chan_len(gort_chan *ch)
{
    return ch != NULL ? atomic_load_explicit(&ch->count, memory_order_relaxed) : 0;
}

size_t gort_chan_cap(gort_chan *ch)
{
    return ch != NULL ? ch->cap : 0;
}

size_t gort_chan_elem_size(gort_chan *ch)
{
    return ch != NULL ? ch->elem_size : 0;
}
