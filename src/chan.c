/*
 * chan.c — channels (Go's runtime/chan.go, re-derived for C), with a
 * lock-free ring for buffered traffic while nobody waits.
 *
 * CONCEPTS
 *
 * A channel is a FIFO of fixed-size values (elem_size bytes, 0 allowed,
 * at most GORT_CHAN_ELEM_MAX) with a capacity (0 = unbuffered, synchronous).
 * Its parts:
 *
 *   - the buffer. With cap > 0 and elem_size > 0 it is a ring of `cap`
 *     slots (THE RING), each a 32-bit sequence stamp and the element; its
 *     receive position `head` and send position `tail` live on separate
 *     cache lines. With elem_size == 0 and cap > 0 there is nothing to
 *     store: `tail` and `head` just count sends and receives (under the
 *     lock).
 *   - `recvq`, the FIFO of blocked receivers, and `sendq`, the FIFO of
 *     blocked senders. Each element is a gort__chan_entry (Go's sudog) that
 *     lives on the blocked party's stack and points at its gort__waiter and
 *     at the memory the value comes from (send) or goes to (recv);
 *   - `closed`, set once by close (and, for a ring, the CLOSED flag in
 *     `tail`);
 *   - `lock`, which protects the queues, `closed`, and the buffer whenever
 *     the ring is FROZEN (or there is no ring).
 *
 * A ring is in one of two modes. LIVE: nobody is queued, and senders and
 * receivers move values through the ring with one CAS each and never touch
 * the lock, the queues or any waiter state (Go's "anyone waiting?" question
 * is answered by the FROZEN flag in the very word the CAS works on). FROZEN:
 * the FROZEN flag is set in `tail` and `head`, no lock-free operation can
 * start, and the channel behaves exactly like a purely locked one — in
 * particular blocked parties are served by Go's direct hand-offs. Whoever
 * is about to queue an entry, or to trust a "nothing is ready" answer under
 * the lock, freezes the ring first; the last one to leave an empty pair of
 * queues thaws it (gort__chan_unlock).
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
 * THE RING (Vyukov's bounded MPMC queue, in crossbeam-channel's "array"
 * layout)
 *
 *   Positions. P = the smallest power of two > cap; a position word is
 *   lap * 4P + index (index < cap), with two flag bits between index and
 *   lap: CLOSED = P (tail only) and FROZEN = 2P; one_lap = 4P. The position
 *   after the last index is index 0 of the next lap (ring_next). Laps wrap
 *   around modulo 2^64 / 4P; every comparison is an equality of positions
 *   at most one lap apart, so the wrap is harmless. tail - head (in
 *   elements, ring_distance) is the number of values in the buffer,
 *   counting those whose copy is still in flight.
 *
 *   Stamps. Slot i's stamp (conceptually a position) says what the slot is
 *   ready for: stamp == t means "free for the send at position t";
 *   stamp == h + 1 means "holds the value sent at position h, ready for the
 *   receive at h". A send at t reserves the slot by CAS tail t -> next(t),
 *   copies the value in, and stores stamp = t + 1 (release). A receive at h
 *   reserves by CAS head h -> next(h), copies the value out, and stores
 *   stamp = h + one_lap (release), i.e. "free for the send one lap later".
 *   The stamp's acquire load and release store carry the element: the
 *   receiver's copy happens after the sender's, and the next lap's sender
 *   writes only after the receiver has read.
 *
 *   Lock-free send (ring_try_send): t = tail; CLOSED -> GORT_ECLOSED;
 *   FROZEN -> take the lock; stamp == t -> CAS and copy; stamp says "value
 *   of the previous lap still there" and head + one_lap == t -> full
 *   (GORT_EAGAIN); anything else is a peer's copy in flight or a stale t:
 *   back off and reload. Lock-free receive (ring_try_recv) mirrors it:
 *   FROZEN -> lock; stamp == h + 1 -> CAS and copy; stamp == h and tail ==
 *   h (flags masked) -> empty: GORT_ECLOSED if tail has CLOSED, else
 *   GORT_EAGAIN.
 *
 *   STAMPS are 32 bits (slot = 4 + elem_size bytes, rounded up to 4: 12
 *   bytes for an int64, against 16 with word stamps; a 1M-element channel
 *   is touched page by page in the benchmarks, so this matters). Only the
 *   low 32 bits of a stamp are compared. That is exact as long as one_lap
 *   <= 2^31: a decision to reserve is validated by the CAS on the full
 *   64-bit position, and while tail == t (monotone, so for the whole time
 *   between the load of t and a successful CAS) the slot's stamp can only
 *   be t - one_lap (the previous lap's send still copying), t - one_lap + 1
 *   (its value not yet received) or t — three values distinct modulo 2^32
 *   when one_lap < 2^32; the same holds for head and for the waits under
 *   the lock. "Full" and "empty" are decided on the full position words,
 *   the stamp only selects the branch. A ring with a longer lap (cap >=
 *   2^29) starts frozen and is never thawed, so it is used under the lock
 *   only, where stamps always match. The stored value is the stamp minus
 *   the slot index, so a fresh calloc'ed ring is valid as it is (no
 *   initialisation pass over a large buffer).
 *
 *   A reserved slot is published within one element copy:
 *   gort__tls_locks++ around it keeps asynchronous preemption away, as for
 *   an internal lock. A peer that finds a slot in flight spins with PAUSE
 *   (RING_SPINS times at one position: a running publisher is done within
 *   nanoseconds); still in flight after that, the publisher is a thread the
 *   OS descheduled, and the peer sleeps on the slot's stamp word for a few
 *   microseconds at a time (a futex wait with a timeout: it returns at once
 *   if the stamp has moved, and it gives the CPU to whoever needs it — on
 *   an oversubscribed machine, maybe that publisher). Backoffs caused by
 *   contention (the position moved: peers are making progress) restart the
 *   count, so only a stuck slot ever sleeps. Rejected: sched_yield after
 *   the spins (until 2026-12-03): on a loaded machine one sched_yield gave
 *   the CPU away for ~2 ms (measured with TSC stamps around it: 305 M
 *   cycles for 58 calls), so a receiver of a 10-slot ring waited one time
 *   slice of an unrelated process for a publisher that needed nanoseconds;
 *   a publisher-wakes-waiter handshake (a StoreLoad fence on every
 *   publication, so that a waiter could park on the channel): costs every
 *   operation for a rare event.
 *
 * FROZEN
 *
 *   F1  A ring with a queued entry is frozen. (Entries are only pushed by
 *       a lock holder after gort__chan_freeze; gort__chan_unlock thaws
 *       only when both queues are empty — dead entries of a fired select or
 *       a timed-out wait included, until their owners unlink them.)
 *   F2  While frozen, `tail` and `head` change only under the lock. A
 *       lock-free CAS expects a word without flags, so once freezing set
 *       FROZEN in a word, no CAS on it can succeed; operations that
 *       reserved before are "in flight": they are counted in tail - head,
 *       and the lock holder waits for their stamps (stamp_wait) before it
 *       uses their slots. So the frozen buffer is exactly as stable as a
 *       locked one: values enter only through the lock holder.
 *
 *   Freezing is two fetch_or's (tail, then head), thawing two fetch_and's,
 *   all by the lock holder. Between the two fetch_or's one end is still
 *   live; that is harmless, because the state the freezer then reads is
 *   whatever the words hold after both RMWs, and nothing moves afterwards.
 *
 * THE OPERATIONS (lock held unless said otherwise)
 *
 *   send: lock-free on a live ring (above); else lock, and
 *         closed -> GORT_ECLOSED. Live ring (it thawed meanwhile) -> the
 *         lock-free attempt again. A claimable receiver at the head of
 *         recvq -> copy the value straight into its destination (direct
 *         hand-off: the buffer is not touched, and for an unbuffered
 *         channel this is the only way a value moves), wake it after
 *         unlocking. Free buffer slot -> append. Else: freeze (if that
 *         changed the mode, look again) and block on sendq (or fail:
 *         try/NOWAIT).
 *   recv: lock-free on a live ring; else lock, and closed and empty ->
 *         zero the destination, GORT_ECLOSED (so a closed channel is
 *         drained before it reports closed). A claimable sender at the
 *         head of sendq -> unbuffered: copy its value directly; buffered
 *         (then the buffer is full): take the oldest value, and append the
 *         sender's — FIFO order is kept and the sender completes (Go's
 *         recv). Buffer not empty -> take the oldest. Else freeze, look
 *         again if that changed the mode, block on recvq (or fail).
 *   close: closed -> GORT_ECLOSED. Set closed (and CLOSED in a ring's
 *         tail); claim every queued receiver (zero its destination, result
 *         GORT_ECLOSED) and every queued sender (result GORT_ECLOSED); wake
 *         them all after unlocking.
 *
 *   Blocked senders are thus served in FIFO order and their values enter
 *   the buffer in that order, and blocked receivers get values in the
 *   order they blocked, as in Go: there is no "wake to retry", so no
 *   woken party can lose its slot to a newcomer (on a frozen ring every
 *   newcomer goes through the lock and finds the queue; on a live ring
 *   nobody is waiting).
 *
 * INVARIANTS
 *
 *   I1  0 <= tail - head <= cap; buffered values sit at the positions
 *       head, next(head), ... (for zero-size elements only the count
 *       exists).
 *   I2  A queued sender implies the buffer is full and a queued receiver
 *       implies it is empty, except for entries whose waiter was already
 *       claimed elsewhere (a select that fired on another case) or timed
 *       out: those are dead weight that the next dequeuer drops. (Go's "at
 *       most one of sendq/recvq is non-empty" has the same exception, for
 *       a select sending and receiving on one channel.) By F1/F2 the ring
 *       cannot change behind a queued party's back.
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
 *   the queues, the writes of closed and of the queue heads, the FROZEN
 *   flag, and the buffer of a frozen ring or of a zero-size channel.
 *   select holds several channel locks at once; it always takes them in
 *   increasing address order, skipping duplicates, so two selects over
 *   overlapping sets cannot deadlock. Nothing else is locked inside a
 *   channel lock except the engine's own short locks taken by
 *   gort__waiter_wake()/gort__ready() — which is why we wake after
 *   unlocking where we can (shorter hold time), but it would also be legal
 *   inside. Under the lock we may spin for a lock-free peer's copy in
 *   flight (F2): bounded by one element copy unless that thread is
 *   descheduled, when we sleep on the slot a few microseconds at a time
 *   (THE RING).
 *
 * MEMORY ORDER, LINEARIZABILITY, NO LOST WAKE-UPS
 *
 *   Every access to `tail` and `head` is seq_cst (loads are plain moves on
 *   x86-64, the RMWs cost what acq_rel costs), so all of them lie in one
 *   total order S consistent with each word's modification order, and a
 *   load returns the last write before it in S. The lock-free operations
 *   are linearized in S: a send or receive at its successful CAS, a
 *   "closed" answer at the load of tail that showed CLOSED, a "full" or
 *   "empty" answer at the load described below. Operations under the lock
 *   are linearized at their critical section (a frozen ring is quiescent:
 *   F2), close at its fetch_or of CLOSED.
 *
 *   - "full" (send): we loaded tail = t (no flags) at point A, then head =
 *     h at point B, with h + one_lap == t, i.e. t - h == cap. head is
 *     monotone, so head(A) <= h, and tail(A) - head(A) >= cap; with I1 the
 *     buffer was full at A, and A's word had neither CLOSED nor FROZEN:
 *     full, open and nobody waiting at A. (At B tail might have gained
 *     CLOSED; we answer as of A.)
 *   - "empty" (receive): head = h at A, tail at B with position h. tail is
 *     monotone and head <= tail always (a receive's CAS at h follows, in
 *     S, the send's CAS at h, whose stamp store it acquired), so at B both
 *     are h: empty at B; open at B if B's word has no CLOSED, else closed
 *     and empty at B — and that answer is final: after CLOSED no send can
 *     reserve (lock-free ones see the flag, locked ones check `closed`,
 *     both set in one critical section before anything can see them), so
 *     the buffer only drains. Drain-then-closed follows: a receive reports
 *     closed only with tail == head.
 *   - close vs. lock-free send: close's fetch_or and a send's CAS are RMWs
 *     on the same word; a send ordered before it in tail's modification
 *     order has reserved and its value will be received (it is counted in
 *     tail - head, so no receiver reports "closed" before taking it); one
 *     ordered after it fails its CAS, reloads, and reports GORT_ECLOSED.
 *   - unbuffered channels keep the old lock-free failure checks of the
 *     non-blocking operations (try_send: recvq empty; try_recv: sendq
 *     empty), read with acquire before `closed` (acquire): if the
 *     readiness load read the value written by critical section S and
 *     close's critical section C were ordered before S, C's store of
 *     closed happens-before our later load, which must then see it; so
 *     "closed == 0" proves the channel was open and not ready right after
 *     S. For the "closed" answer of try_recv we re-check the queue after
 *     seeing closed == 1: after close no sender can be queued, so "closed
 *     and no sender" observed then is final.
 *
 *   No lost wake-ups. A party blocks only after, under the lock, (1) it
 *   froze the ring — with fetch_or's, RMWs that read the latest value of
 *   each word, so every lock-free reservation is either ordered before
 *   them (then counted in the state we look at, and we wait for its copy
 *   rather than block) or after them (then it fails and comes to the
 *   lock) — and (2) it found the operation impossible in that frozen
 *   state. From then on every operation that could complete it runs under
 *   the same lock and finds its entry (F1, F2); that is the locked
 *   channel's argument, unchanged. There is no Dekker-style "set a flag,
 *   then re-check" between a lock-free op and a sleeper, because the flag
 *   and the position are one word: a send that succeeds lock-free provably
 *   ran while nobody was queued, so it has nobody to wake.
 *
 *   Values are copied with plain memcpy: into ring slots under the stamp
 *   protocol (above), and into or out of a sleeper's memory by the claim
 *   winner under the lock; the sleeper published its memory under the same
 *   lock and reads it back after the waiter's release/acquire wake, so
 *   there are no data races.
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
 *   - Always lock-free buffered channels, waking blocked parties to retry
 *     (crossbeam's array flavour with its SyncWaker: an "is anyone
 *     waiting" flag checked after every operation with SeqCst fences on
 *     both sides): a woken sender can lose its slot to a newcomer again
 *     and again, blocked senders' values are no longer moved into the
 *     buffer in blocking order, a woken select that picks another case
 *     must pass the wake-up on, and select's "one instant of all its
 *     channels" needs a snapshot anyway. Freezing gets Go's semantics
 *     back exactly whenever somebody waits, and costs nothing while
 *     nobody does.
 *   - A fully locked channel (before 2026-12, and Go's choice): an SPSC
 *     stream through one lock word and one `count` word moves both cache
 *     lines between the cores on every operation (worker_pool: 71k
 *     contended acquisitions per 200k jobs at P=2).
 *   - Word-sized stamps: simpler to argue, but 16 instead of 12 bytes per
 *     int64 slot, and the 1M-element channels of worker_pool are slower
 *     for it (page faults and cache footprint; docs/design.md).
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

#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------- */

/* Element copy, with the common sizes as fixed-size copies the compiler
 * turns into single moves. */
static inline void elem_copy(void *dst, const void *src, size_t n)
{
    switch (n) {
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, n);
    }
}

/* Copy one element; dst == NULL discards it (a receive into NULL). */
static inline void chan_copy(const gort_chan *ch, void *dst, const void *src)
{
    if (ch->elem_size != 0 && dst != NULL)
        elem_copy(dst, src, ch->elem_size);
}

static inline void chan_zero(const gort_chan *ch, void *dst)
{
    if (ch->elem_size != 0 && dst != NULL)
        memset(dst, 0, ch->elem_size);
}

static inline bool chan_is_ring(const gort_chan *ch)
{
    return ch->slots != NULL;
}

/* ---- the ring: position words and slots (see THE RING) ------------------- */

static inline size_t ring_closed_flag(const gort_chan *ch)
{
    return ch->one_lap >> 2;
}

static inline size_t ring_frozen_flag(const gort_chan *ch)
{
    return ch->one_lap >> 1;
}

static inline size_t ring_flags(const gort_chan *ch)
{
    return ring_closed_flag(ch) | ring_frozen_flag(ch);
}

/* Slot index of a position (its low bits). */
static inline size_t ring_index(const gort_chan *ch, size_t pos)
{
    return pos & (ring_closed_flag(ch) - 1);
}

/* The position after pos: the next index, or index 0 of the next lap
 * (unsigned wrap-around of the lap count is harmless, see THE RING). */
static inline size_t ring_next(const gort_chan *ch, size_t pos)
{
    size_t i = ring_index(ch, pos);
    return i + 1 < ch->cap ? pos + 1 : (pos & ~(ch->one_lap - 1)) + ch->one_lap;
}

/* Elements between the positions h (receivers) and t (senders), flags
 * masked off: the indices tell, except when they are equal (empty or full;
 * then the laps differ iff full). */
static inline size_t ring_distance(const gort_chan *ch, size_t h, size_t t)
{
    size_t hi = ring_index(ch, h), ti = ring_index(ch, t);
    if (hi < ti)
        return ti - hi;
    if (hi > ti)
        return ch->cap - hi + ti;
    return t == h ? 0 : ch->cap;
}

/* Laps longer than this cannot be told apart by 32-bit stamps (STAMPS):
 * such a ring stays frozen for good and is used under the lock only. */
#define RING_LOCKFREE_MAX_LAP ((size_t)1 << 31)

typedef struct ring_slot {
    _Atomic uint32_t stamp;  /* the low 32 bits of (sequence stamp - index) */
    unsigned char    elem[]; /* elem_size bytes */
} ring_slot;

static inline ring_slot *ring_slot_at(const gort_chan *ch, size_t pos)
{
    return (ring_slot *)(ch->slots + ring_index(ch, pos) * ch->slot_size);
}

/* A slot stores its stamp minus its index, so that the all-zero memory of a
 * fresh calloc means "stamp = index = free for the first lap" (a 1M-slot
 * channel then costs no initialisation pass over its pages). Stamps are
 * compared modulo 2^32 (STAMPS).
 *
 * FIRST TOUCH. Every operation reads a slot's stamp before it writes the
 * slot, and the kernel answers a read of a never-touched anonymous page by
 * mapping the shared zero page; the write that follows then faults again
 * (copy-on-write), and replacing a present mapping flushes the TLB of every
 * CPU the process runs on: an IPI per page, a VM exit each on a VM.
 * Measured (perf, worker_pool at P=2 on the 2-vCPU VM, 1M-slot rings): 10%
 * of all samples in smp_call_function_many_cond under do_wp_page from
 * ring_try_send, 5% more sending the IPIs. So during the first lap (when
 * pages may still be untouched) the first stamp of each 4 KiB page is read
 * with an RMW that adds 0: a write access, so the page is mapped writable
 * at once, and a no-op for the stamp (once per 4 KiB of slots, first lap
 * only; larger pages just take a few more of them). */
#define RING_FIRST_TOUCH_PAGE ((uintptr_t)4096)
static inline uint32_t stamp_load(const gort_chan *ch, ring_slot *s, size_t pos)
{
    uint32_t raw;
    if (GORT__UNLIKELY(pos < ch->one_lap &&
                       ((uintptr_t)&s->stamp & (RING_FIRST_TOUCH_PAGE - 1)) < ch->slot_size))
        raw = atomic_fetch_add_explicit(&s->stamp, 0, memory_order_acquire); /* FIRST TOUCH */
    else
        raw = atomic_load_explicit(&s->stamp, memory_order_acquire);
    return raw + (uint32_t)ring_index(ch, pos);
}

static inline void stamp_store(const gort_chan *ch, ring_slot *s, size_t pos, size_t stamp)
{
    atomic_store_explicit(&s->stamp, (uint32_t)(stamp - ring_index(ch, pos)),
                          memory_order_release);
}

/* Backoffs at one position before a stuck slot's waiter sleeps, and the
 * length of one sleep (THE RING: a peer's copy in flight). 64 PAUSEs are
 * ~3 us here, a thousand times what a running publisher needs. */
#define RING_SPINS    64
#define RING_SLEEP_NS 20000

/* Back off while a peer's operation on slot s (at position pos, whose
 * stamp we saw as `seen`) is in flight. *spins counts the backoffs at this
 * position; the caller resets it when the position moves. Out of line and
 * cold: the lock-free loops' fast paths keep their registers. */
static GORT__NOINLINE __attribute__((cold)) void
ring_backoff(const gort_chan *ch, int *spins, ring_slot *s, size_t pos, uint32_t seen)
{
    if ((*spins)++ < RING_SPINS) {
        gort__procyield(1);
        return;
    }
    /* Descheduled publisher: sleep while the stamp word still holds what we
     * saw (stamp_load's raw value), for at most RING_SLEEP_NS. */
    gort__futex_wait(&s->stamp, seen - (uint32_t)ring_index(ch, pos), gort_now() + RING_SLEEP_NS);
}

/* Wait until the slot's stamp is `want`: a lock-free operation that
 * reserved it is still copying (FROZEN). */
static void stamp_wait(const gort_chan *ch, ring_slot *s, size_t pos, size_t want)
{
    int spins = 0;
    uint32_t seen;
    while ((seen = stamp_load(ch, s, pos)) != (uint32_t)want)
        ring_backoff(ch, &spins, s, pos, seen);
}

/* Lock-free send into the ring: 0 (done), GORT_ECLOSED, GORT_EAGAIN (full,
 * as of the tail load that saw this position), or RING_FROZEN (take the
 * lock). gort__tls_locks keeps the goroutine from being preempted between
 * reserving a slot and publishing it, where peers would spin on it. */
enum { RING_FROZEN = 1 };

static int ring_try_send(gort_chan *ch, const void *elem)
{
    const size_t one_lap = ch->one_lap, flags = ring_flags(ch);
    int r, spins = 0;
    gort__tls_locks++;
    size_t t = atomic_load_explicit(&ch->tail, memory_order_seq_cst);
    for (;;) {
        if (t & flags) {
            r = (t & ring_closed_flag(ch)) ? GORT_ECLOSED : RING_FROZEN;
            break;
        }
        ring_slot *s = ring_slot_at(ch, t);
        uint32_t stamp = stamp_load(ch, s, t);
        if (stamp == (uint32_t)t) {
            if (atomic_compare_exchange_weak_explicit(&ch->tail, &t, ring_next(ch, t),
                                                      memory_order_seq_cst,
                                                      memory_order_seq_cst)) {
                elem_copy(s->elem, elem, ch->elem_size);
                stamp_store(ch, s, t, t + 1);
                r = 0;
                break;
            }
            spins = 0;
            continue; /* t reloaded by the failed CAS */
        }
        if (stamp == (uint32_t)(t + 1 - one_lap)) {
            /* The slot still holds the value sent one lap ago. Full unless
             * its receiver already advanced head and is copying it out. */
            size_t h = atomic_load_explicit(&ch->head, memory_order_seq_cst);
            if ((h & ~ring_frozen_flag(ch)) + one_lap == t) {
                r = GORT_EAGAIN;
                break;
            }
        }
        /* A peer's operation on this slot is in flight, or t is stale. */
        ring_backoff(ch, &spins, s, t, stamp);
        size_t moved = atomic_load_explicit(&ch->tail, memory_order_seq_cst);
        if (moved != t)
            spins = 0; /* contention, not a stuck slot */
        t = moved;
    }
    gort__tls_locks--;
    return r;
}

/* Lock-free receive from the ring: 0, GORT_ECLOSED (closed and drained; out
 * not written), GORT_EAGAIN (empty and open), RING_FROZEN. */
static int ring_try_recv(gort_chan *ch, void *out)
{
    const size_t one_lap = ch->one_lap, frozen = ring_frozen_flag(ch);
    int r, spins = 0;
    gort__tls_locks++;
    size_t h = atomic_load_explicit(&ch->head, memory_order_seq_cst);
    for (;;) {
        if (h & frozen) {
            r = RING_FROZEN;
            break;
        }
        ring_slot *s = ring_slot_at(ch, h);
        uint32_t stamp = stamp_load(ch, s, h);
        if (stamp == (uint32_t)(h + 1)) {
            if (atomic_compare_exchange_weak_explicit(&ch->head, &h, ring_next(ch, h),
                                                      memory_order_seq_cst,
                                                      memory_order_seq_cst)) {
                if (out != NULL)
                    elem_copy(out, s->elem, ch->elem_size);
                stamp_store(ch, s, h, h + one_lap);
                r = 0;
                break;
            }
            spins = 0;
            continue;
        }
        if (stamp == (uint32_t)h) {
            /* Nothing sent into this slot yet in this lap. Empty unless a
             * sender already advanced tail and is copying its value in. */
            size_t t = atomic_load_explicit(&ch->tail, memory_order_seq_cst);
            if ((t & ~ring_flags(ch)) == h) {
                r = (t & ring_closed_flag(ch)) ? GORT_ECLOSED : GORT_EAGAIN;
                break;
            }
        }
        ring_backoff(ch, &spins, s, h, stamp);
        size_t moved = atomic_load_explicit(&ch->head, memory_order_seq_cst);
        if (moved != h)
            spins = 0;
        h = moved;
    }
    gort__tls_locks--;
    return r;
}

/* ---- the buffer under the lock (frozen) ---------------------------------- */

/* Elements in the buffer (ch->lock held). For a ring this counts slots
 * reserved by lock-free operations still in flight (THE RING, FROZEN). */
static inline size_t buf_count(gort_chan *ch)
{
    if (ch->cap == 0)
        return 0;
    size_t t = atomic_load_explicit(&ch->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&ch->head, memory_order_relaxed);
    if (!chan_is_ring(ch))
        return t - h;
    return ring_distance(ch, h & ~ring_flags(ch), t & ~ring_flags(ch));
}

/* Append (ch->lock held, buf_count < cap). */
static void buf_push(gort_chan *ch, const void *elem)
{
    size_t w = atomic_load_explicit(&ch->tail, memory_order_relaxed);
    if (!chan_is_ring(ch)) {
        atomic_store_explicit(&ch->tail, w + 1, memory_order_relaxed);
        return;
    }
    size_t flags = w & ring_flags(ch), t = w & ~ring_flags(ch);
    ring_slot *s = ring_slot_at(ch, t);
    stamp_wait(ch, s, t, t); /* a lock-free receive of the last lap may still copy out */
    elem_copy(s->elem, elem, ch->elem_size);
    stamp_store(ch, s, t, t + 1);
    atomic_store_explicit(&ch->tail, ring_next(ch, t) | flags, memory_order_seq_cst);
}

/* Take the oldest element into out (may be NULL) (ch->lock held,
 * buf_count > 0). */
static void buf_pop(gort_chan *ch, void *out)
{
    size_t w = atomic_load_explicit(&ch->head, memory_order_relaxed);
    if (!chan_is_ring(ch)) {
        atomic_store_explicit(&ch->head, w + 1, memory_order_relaxed);
        return;
    }
    size_t flags = w & ring_flags(ch), h = w & ~ring_flags(ch);
    ring_slot *s = ring_slot_at(ch, h);
    stamp_wait(ch, s, h, h + 1); /* a lock-free send may still copy in */
    if (out != NULL)
        elem_copy(out, s->elem, ch->elem_size);
    stamp_store(ch, s, h, h + ch->one_lap);
    atomic_store_explicit(&ch->head, ring_next(ch, h) | flags, memory_order_seq_cst);
}

static inline bool ring_frozen(gort_chan *ch)
{
    return atomic_load_explicit(&ch->tail, memory_order_relaxed) & ring_frozen_flag(ch);
}

/* A ring that lock-free operations may use right now (ch->lock held: only
 * lock holders freeze and thaw). By F1 nobody is queued on it. */
static inline bool ring_live(gort_chan *ch)
{
    return chan_is_ring(ch) && !ring_frozen(ch);
}

bool gort__ring_freeze(gort_chan *ch)
{
    if (ring_frozen(ch))
        return false;
    atomic_fetch_or_explicit(&ch->tail, ring_frozen_flag(ch), memory_order_seq_cst);
    atomic_fetch_or_explicit(&ch->head, ring_frozen_flag(ch), memory_order_seq_cst);
    return true;
}

void gort__ring_thaw_if_idle(gort_chan *ch)
{
    if (ch->one_lap <= RING_LOCKFREE_MAX_LAP &&
        atomic_load_explicit(&ch->recvq.first, memory_order_relaxed) == NULL &&
        atomic_load_explicit(&ch->sendq.first, memory_order_relaxed) == NULL) {
        atomic_fetch_and_explicit(&ch->tail, ~ring_frozen_flag(ch), memory_order_seq_cst);
        atomic_fetch_and_explicit(&ch->head, ~ring_frozen_flag(ch), memory_order_seq_cst);
    }
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

/* ---- the locked halves (ch->lock held via gort__chan_lock) --------------- */

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
    if (ring_live(ch))
        return ring_try_send(ch, elem); /* 0 or GORT_EAGAIN: open, not frozen */

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

    if (buf_count(ch) < ch->cap) {
        buf_push(ch, elem);
        return 0;
    }
    return GORT_EAGAIN;
}

int gort__chan_recv_locked(gort_chan *ch, void *out, gort__chan_entry **wake)
{
    if (ring_live(ch)) {
        int r = ring_try_recv(ch, out); /* 0, GORT_EAGAIN or GORT_ECLOSED */
        if (r == GORT_ECLOSED)
            chan_zero(ch, out);
        return r;
    }
    size_t n = buf_count(ch);

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
                 * becomes the new tail — FIFO order is kept. */
                buf_pop(ch, out);
                buf_push(ch, s->elem);
            }
            s->result = 0;
            entry_take_ref(ch, s);
            s->w->token = s;
            *wake = s;
            return 0;
        }
    }

    if (n > 0) {
        buf_pop(ch, out);
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

/* ch locked (gort__chan_lock) and the operation cannot complete now:
 * publish an entry on q and sleep. Returns the entry's result (0 or
 * GORT_ECLOSED) or GORT_ETIMEDOUT. Releases the lock. */
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
    /* A plain release: the ring stays frozen while e is queued. */
    int r = gort__waiter_sleep_lock(&w, &ch->lock, why);
    if (r != 0) {
        /* The deadline won the claim: nobody else will touch e, but it may
         * still be linked. */
        gort__chan_lock(ch);
        gort__waitq_remove(q, &e);
        gort__chan_unlock(ch);
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

/* Unbuffered channels: lock-free "would block" checks of the non-blocking
 * operations (FAST PATHS). */
static inline bool unbuffered_no_receiver(gort_chan *ch)
{
    return atomic_load_explicit(&ch->recvq.first, memory_order_acquire) == NULL;
}

static inline bool unbuffered_no_sender(gort_chan *ch)
{
    return atomic_load_explicit(&ch->sendq.first, memory_order_acquire) == NULL;
}

static inline bool chan_closed_acquire(gort_chan *ch)
{
    return atomic_load_explicit(&ch->closed, memory_order_acquire) != 0;
}

/* The locked part of a send (dir GORT_SEND: elem is the value) or a
 * receive (GORT_RECV: elem is the destination, may be NULL), after its
 * lock-free attempt could not complete: take the lock and try the locked
 * half; if it would block, fail a try (NOWAIT) or an expired deadline, or
 * freeze the ring — which may make the operation possible after all, so
 * look again — and block on the stable state. have_ref: as for
 * gort__chan_send_locked (receives always hold one). Inlined into both
 * callers with a constant dir, so neither pays for the other's branch. */
static inline __attribute__((always_inline)) int
chan_locked_op(gort_chan *ch, int dir, void *elem, int64_t deadline, bool have_ref)
{
    gort__chan_lock(ch);
    for (;;) {
        gort__chan_entry *wake = NULL;
        int r = dir == GORT_SEND ? gort__chan_send_locked(ch, elem, &wake, have_ref)
                                 : gort__chan_recv_locked(ch, elem, &wake);
        if (r != GORT_EAGAIN) {
            gort__chan_unlock(ch);
            if (wake != NULL)
                gort__chan_entry_wake(wake);
            return r;
        }
        if (deadline == GORT_NOWAIT || deadline_passed(deadline)) {
            gort__chan_unlock(ch);
            return deadline == GORT_NOWAIT ? GORT_EAGAIN : GORT_ETIMEDOUT;
        }
        if (!gort__chan_freeze(ch))
            break; /* the state is stable: block on it */
    }
    return dir == GORT_SEND ? chan_block(ch, &ch->sendq, elem, deadline, GORT__WAIT_CHAN_SEND)
                            : chan_block(ch, &ch->recvq, elem, deadline, GORT__WAIT_CHAN_RECV);
}

static int chan_send(gort_chan *ch, const void *elem, int64_t deadline, bool have_ref)
{
    if (GORT__UNLIKELY(ch == NULL))
        return nil_chan_wait(deadline);
    if (GORT__UNLIKELY(elem == NULL && ch->elem_size != 0))
        return GORT_EINVAL;

    if (chan_is_ring(ch)) {
        int r = ring_try_send(ch, elem);
        if (r == 0 || r == GORT_ECLOSED || (r == GORT_EAGAIN && deadline == GORT_NOWAIT))
            return r;
    } else if (ch->cap == 0 && deadline == GORT_NOWAIT && unbuffered_no_receiver(ch) &&
               !chan_closed_acquire(ch)) {
        return GORT_EAGAIN;
    }

    return chan_locked_op(ch, GORT_SEND, (void *)elem, deadline, have_ref);
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

    if (chan_is_ring(ch)) {
        int r = ring_try_recv(ch, out);
        if (r == GORT_ECLOSED)
            chan_zero(ch, out);
        if (r == 0 || r == GORT_ECLOSED || (r == GORT_EAGAIN && deadline == GORT_NOWAIT))
            return r;
    } else if (ch->cap == 0 && deadline == GORT_NOWAIT && unbuffered_no_sender(ch)) {
        if (!chan_closed_acquire(ch))
            return GORT_EAGAIN;
        if (unbuffered_no_sender(ch)) {
            chan_zero(ch, out);
            return GORT_ECLOSED;
        }
        /* Closed, but a sender arrived in between: take the locked path. */
    }

    return chan_locked_op(ch, GORT_RECV, out, deadline, true);
}

/* ---- public API ---------------------------------------------------------- */

#define CHAN_HDR_SIZE \
    ((sizeof(struct gort_chan) + GORT__CACHELINE - 1) & ~(size_t)(GORT__CACHELINE - 1))

/* Smallest power of two > n (n < SIZE_MAX / 8, which the allocation limit
 * guarantees for a ring). */
static size_t pow2_above(size_t n)
{
    size_t p = 1;
    while (p <= n)
        p <<= 1;
    return p;
}

gort_chan *gort_chan_make(size_t elem_size, size_t cap)
{
    if (elem_size > GORT_CHAN_ELEM_MAX)
        return NULL;
    bool ring = cap != 0 && elem_size != 0;
    size_t slot_size = 0, bytes = 0;
    if (ring) {
        slot_size = (sizeof(uint32_t) + elem_size + sizeof(uint32_t) - 1) &
                    ~(sizeof(uint32_t) - 1);
        /* Keep the whole allocation below PTRDIFF_MAX. */
        if (cap > (PTRDIFF_MAX - CHAN_HDR_SIZE - GORT__CACHELINE) / slot_size)
            return NULL;
        bytes = cap * slot_size;
    }
    void *mem = calloc(1, CHAN_HDR_SIZE + bytes + GORT__CACHELINE - 1);
    if (mem == NULL)
        return NULL;
    gort_chan *ch = (gort_chan *)(((uintptr_t)mem + GORT__CACHELINE - 1) &
                                  ~(uintptr_t)(GORT__CACHELINE - 1));
    ch->alloc = mem;
    ch->lock = (gort__lock)GORT__LOCK_INIT;
    atomic_init(&ch->closed, 0);
    atomic_init(&ch->refs, 1);
    atomic_init(&ch->recvq.first, NULL);
    atomic_init(&ch->sendq.first, NULL);
    ch->cap = cap;
    ch->elem_size = elem_size;
    ch->slot_size = slot_size;
    ch->one_lap = ring ? 4 * pow2_above(cap) : 0;
    /* A ring too large for 32-bit stamps starts frozen and stays so. */
    size_t frozen = ring && ch->one_lap > RING_LOCKFREE_MAX_LAP ? ring_frozen_flag(ch) : 0;
    atomic_init(&ch->tail, frozen);
    atomic_init(&ch->head, frozen);
    ch->slots = ring ? (unsigned char *)ch + CHAN_HDR_SIZE : NULL;
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
    free(ch->alloc);
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

    gort__chan_lock(ch);
    if (atomic_load_explicit(&ch->closed, memory_order_relaxed)) {
        gort__chan_unlock(ch);
        return GORT_ECLOSED;
    }
    atomic_store_explicit(&ch->closed, 1, memory_order_release);
    if (chan_is_ring(ch))
        atomic_fetch_or_explicit(&ch->tail, ring_closed_flag(ch), memory_order_seq_cst);

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
    gort__chan_unlock(ch);

    while (list != NULL) {
        e = list;
        list = e->next; /* read before waking: e dies with its owner's frame */
        gort__chan_entry_wake(e);
    }
    return 0;
}

size_t gort_chan_len(gort_chan *ch)
{
    if (ch == NULL || ch->cap == 0)
        return 0;
    if (!chan_is_ring(ch)) {
        /* Zero-size elements: counters written under the lock; head first,
         * so the difference is never negative. */
        size_t h = atomic_load_explicit(&ch->head, memory_order_acquire);
        size_t t = atomic_load_explicit(&ch->tail, memory_order_acquire);
        return t - h < ch->cap ? t - h : ch->cap;
    }
    /* A consistent pair: tail did not move while head was read. */
    for (;;) {
        size_t t = atomic_load_explicit(&ch->tail, memory_order_seq_cst);
        size_t h = atomic_load_explicit(&ch->head, memory_order_seq_cst);
        if (atomic_load_explicit(&ch->tail, memory_order_seq_cst) == t)
            return ring_distance(ch, h & ~ring_flags(ch), t & ~ring_flags(ch));
    }
}

size_t gort_chan_cap(gort_chan *ch)
{
    return ch != NULL ? ch->cap : 0;
}

size_t gort_chan_elem_size(gort_chan *ch)
{
    return ch != NULL ? ch->elem_size : 0;
}
