/*
 * chan.h — channel internals shared by chan.c, select.c and timerchan.c.
 *
 * The design (concepts, invariants, locking and memory-ordering arguments)
 * is written at the top of chan.c; this header only declares the pieces the
 * three files share: the channel object, the wait-queue entry that a blocked
 * operation (or one case of a blocked select) publishes in a channel, and the
 * "locked halves" of send and receive that select reuses for its poll pass.
 */
#ifndef GORT_CHAN_H
#define GORT_CHAN_H

#include "internal.h"

#include <stdalign.h>

typedef struct gort__chan_entry gort__chan_entry;
typedef struct gort__timerchan gort__timerchan;

/* One queued operation: a blocked send/recv, or one case of a blocked
 * select (Go's sudog). It lives on the blocked party's stack (or in the
 * select's scratch array) and is linked into exactly one channel queue.
 * All fields except `result` are protected by ch->lock while `queued`;
 * `result` is written by the claim winner only (see the waiter protocol in
 * internal.h), before it calls gort__waiter_wake(). */
struct gort__chan_entry {
    gort__chan_entry *next;    /* (ch->lock) towards the tail; reused as the
                                  wake-list link by close() after unlinking */
    gort__chan_entry *prev;    /* (ch->lock) towards the head */
    gort__waiter     *w;       /* the sleeper; a select shares one waiter
                                  between all of its entries */
    gort_chan        *ch;      /* channel whose queue holds this entry */
    void             *elem;    /* send: the value to copy out (never NULL when
                                  elem_size > 0); recv: where to copy the value
                                  to, or NULL to discard it */
    int               result;  /* claim winner: 0 = value transferred,
                                  GORT_ECLOSED = completed by close() */
    bool              queued;  /* (ch->lock) linked in ch->sendq/recvq */
    bool              ref_moved; /* claim winner: it dropped the channel
                                  reference this entry held (chan.c, I4),
                                  so the sleeper must not */
};

/* FIFO of entries. `first` is atomic only so that the lock-free fast paths
 * of the non-blocking operations can ask "is anyone waiting?"; it is
 * written under the channel lock with release order (see chan.c). */
typedef struct gort__waitq {
    _Atomic(gort__chan_entry *) first; /* head = oldest, or NULL */
    gort__chan_entry           *last;  /* (ch->lock) tail, or NULL */
} gort__waitq;

/* The channel (Go's hchan). One allocation, aligned to a cache line: this
 * header, then for a ring channel (cap > 0 and elem_size > 0) `cap` slots of
 * slot_size bytes, each a sequence stamp followed by the element. The three
 * groups of fields sit on separate cache lines so that a sender and a
 * receiver on two cores only share the slots they hand over (chan.c, THE
 * RING). */
struct gort_chan {
    /* line 0: the lock and what it protects, plus the immutable fields */
    gort__lock       lock;      /* protects everything marked (L) */
    _Atomic uint32_t closed;    /* (L to write) 0 -> 1 once, by close() */
    _Atomic size_t   refs;      /* references: users' + one per queued
                                   blocking operation (freed at 0) */
    size_t           cap;       /* immutable: buffer capacity in elements */
    size_t           elem_size; /* immutable: bytes per element (0 allowed) */
    size_t           slot_size; /* immutable: ring: bytes per slot (stamp +
                                   element, a multiple of the stamp's size) */
    size_t           one_lap;   /* immutable: ring: the amount a position
                                   word grows by per lap; one_lap / 4 is the
                                   CLOSED flag, one_lap / 2 the FROZEN flag */
    gort__waitq      recvq;     /* (L) blocked receivers (and select cases) */
    gort__waitq      sendq;     /* (L) blocked senders (and select cases) */
    unsigned char   *slots;     /* immutable: the ring's slots, NULL unless
                                   cap > 0 and elem_size > 0 */
    gort__timerchan *timer;     /* immutable: gort_after's timer, owned by the
                                   channel (destroyed with it), else NULL */
    void            *alloc;     /* immutable: what calloc returned (freed) */
    /* line 1: senders' end. Ring: position of the next send, plus the
     * CLOSED and FROZEN flags (written by lock-free senders with a CAS while
     * not FROZEN, else only under L). Zero-size elements with cap > 0:
     * number of sends into the buffer so far (L). */
    alignas(GORT__CACHELINE) _Atomic size_t tail;
    /* line 2: receivers' end. Ring: position of the next receive, plus the
     * FROZEN flag (same rules). Zero-size, cap > 0: receives so far (L). */
    alignas(GORT__CACHELINE) _Atomic size_t head;
};

/* ---- locking ------------------------------------------------------------- */
/* Take ch->lock. A ring channel's buffer may still change under it through
 * lock-free operations unless it is frozen (chan.c, THE RING). */
static inline void gort__chan_lock(gort_chan *ch)
{
    gort__lock_acquire(&ch->lock);
}
/* The ring halves of the two calls below (chan.c). */
bool gort__ring_freeze(gort_chan *ch);
void gort__ring_thaw_if_idle(gort_chan *ch);
/* ch->lock held: freeze a live ring, so that no lock-free operation can
 * start until it is thawed and the buffer is as stable as in a purely
 * locked channel. Required before queueing an entry, and before trusting a
 * "nothing ready" answer of the locked halves. Returns true if it froze
 * the ring now (the caller must then look again), false if the channel was
 * already stable (frozen ring, or no ring). */
static inline bool gort__chan_freeze(gort_chan *ch)
{
    return ch->slots != NULL && gort__ring_freeze(ch);
}
/* Thaw a frozen ring if nobody is queued any more, then release ch->lock.
 * (one_lap / 2 is the FROZEN flag; the test is inlined because a live ring
 * under the lock is the common case of select's poll.) */
static inline void gort__chan_unlock(gort_chan *ch)
{
    if (ch->slots != NULL &&
        (atomic_load_explicit(&ch->tail, memory_order_relaxed) & (ch->one_lap >> 1)))
        gort__ring_thaw_if_idle(ch);
    gort__lock_release(&ch->lock);
}

/* ---- queue operations (ch->lock held) ------------------------------------ */
void              gort__waitq_push(gort__waitq *q, gort__chan_entry *e);
/* Unlink e if it is still queued (idempotent). */
void              gort__waitq_remove(gort__waitq *q, gort__chan_entry *e);
/* Unlink entries from the head until one whose waiter we can claim; entries
 * whose waiter is already claimed (another select case fired) or timed out
 * are dropped on the way. Returns the claimed entry or NULL. */
gort__chan_entry *gort__waitq_claim(gort__waitq *q);

/* ---- the locked halves of send and receive (ch->lock held) -------------- */
/* Try to complete a send of elem without blocking: GORT_ECLOSED (closed),
 * 0 (done: buffered, or handed to the receiver now stored in *wake, which
 * the caller must pass to gort__chan_entry_wake() after unlocking), or
 * GORT_EAGAIN (it would block). have_ref: the caller holds a reference of
 * its own (everyone but the gort_after timer callback), which lets it drop
 * the completed receiver's reference (chan.c, I4). The receive half is
 * only ever called with a reference. */
int  gort__chan_send_locked(gort_chan *ch, const void *elem, gort__chan_entry **wake,
                            bool have_ref);
/* Same for a receive into out (may be NULL): 0, GORT_ECLOSED (closed and
 * drained; out zeroed), GORT_EAGAIN. */
int  gort__chan_recv_locked(gort_chan *ch, void *out, gort__chan_entry **wake);
/* Wake the (already claimed and completed) entry's sleeper. After this the
 * entry's memory may be gone. */
static inline void gort__chan_entry_wake(gort__chan_entry *e)
{
    gort__waiter_wake(e->w);
}

/* ---- helpers ------------------------------------------------------------- */
/* Sleep until an absolute deadline that nobody else can cut short (a NULL
 * channel or an empty select with a deadline). Returns GORT_ETIMEDOUT. */
int gort__sleep_until_deadline(int64_t deadline, gort__wait_reason why);
/* Normalise a user deadline: negative values other than GORT_FOREVER are
 * treated as GORT_FOREVER. */
/* The API's deadline rules: GORT_FOREVER waits forever, GORT_NOWAIT is the
 * try variant, any other negative value is a time long past (expired). */
static inline int64_t gort__chan_deadline(int64_t d)
{
    return d == GORT_FOREVER ? d : d < 0 ? 1 : d;
}

/* The blocking operations with an absolute deadline (GORT_FOREVER,
 * GORT_NOWAIT = the try_ variant, or gort_now() ns); the public calls are
 * thin wrappers. */
int gort__chan_send(gort_chan *ch, const void *elem, int64_t deadline);
int gort__chan_recv(gort_chan *ch, void *out, int64_t deadline);
/* try_send for a caller that holds no reference, because the channel's
 * destruction waits for it (the gort_after timer callback). */
int gort__chan_try_send_noref(gort_chan *ch, const void *elem);

/* timerchan.c: called by the final gort_chan_release of a channel with a
 * timer (gort_after): disarm it (waiting for a running callback) and free. */
void gort__timerchan_destroy(gort__timerchan *tc);

#endif /* GORT_CHAN_H */
