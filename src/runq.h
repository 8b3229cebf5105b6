/*
 * runq.h — a P's local run queue: a lock-free single-producer ring of 256
 * goroutines plus a `runnext` slot (Go's runq/runnext design).
 *
 * Concurrency contract:
 *   - Only the owning P puts (gort__runq_put): it writes the slot, then
 *     publishes it with a store-release of `tail`.
 *   - Anyone takes (the owner in gort__runq_get, thieves in
 *     gort__runq_grab): load-acquire `tail`, read the slots, then claim them
 *     with a CAS on `head` (release). If the CAS fails the slots may have been
 *     reused, so the reads are discarded and retried; slots are atomics read
 *     relaxed, so that speculative read is not a data race.
 *   - `runnext` holds the goroutine readied most recently by this P; it runs
 *     before the ring (so a ping-pong pair stays hot on one P). Only the
 *     owner stores a non-NULL value; takers (the owner too) take it with a
 *     CAS to NULL. So the owner fills an empty slot with a plain
 *     store-release (nobody else can change an empty slot) and swaps a
 *     full one with an exchange.
 *   - `next_taken` counts the owner's takes of runnext (owner-only store,
 *     relaxed; thieves only compare two samples of it): a thief that sees
 *     it move while it pauses before stealing runnext knows the owner is
 *     handing off through runnext and leaves the slot alone (sched.c).
 * `head` and `tail` are free-running 32-bit counters; tail - head is the
 * length even across wrap-around.
 */
#ifndef GORT_RUNQ_H
#define GORT_RUNQ_H

#include "internal.h"

#define GORT__RUNQ_SIZE 256u

typedef struct gort__runq {
    _Atomic uint32_t head;                       /* next slot to take; CAS by takers */
    _Atomic uint32_t tail;                       /* next slot to fill; owner only */
    _Atomic(gort__g *) runnext;                  /* run before the ring; NULL if empty */
    _Atomic uint32_t next_taken;                 /* owner: +1 each time it takes runnext;
                                                    thieves compare two reads to tell an
                                                    owner handing off from a stuck one */
    _Atomic(gort__g *) ring[GORT__RUNQ_SIZE];    /* slots [head, tail) are live */
} gort__runq;

/* Owner: append g to the ring. false if the ring is full (nothing changed). */
bool gort__runq_put(gort__runq *q, gort__g *g);
/* Owner: take half of a full ring (the oldest) into out[]; returns how many
 * (0 if it raced with thieves and the ring is no longer full). out must hold
 * GORT__RUNQ_SIZE / 2 entries. Used to spill to the global queue. */
uint32_t gort__runq_take_half(gort__runq *q, gort__g **out);
/* Owner: put g in runnext; returns the goroutine it displaced (or NULL),
 * which the caller must append to the ring. */
gort__g *gort__runq_set_next(gort__runq *q, gort__g *g);
/* Owner: take runnext, else the ring's head; NULL if empty.
 * *from_next tells which (a runnext G inherits the time slice). */
gort__g *gort__runq_get(gort__runq *q, bool *from_next);
/* Owner: take runnext only; NULL if empty (or a thief took it first).
 * Counts the take in next_taken. */
gort__g *gort__runq_take_next(gort__runq *q);
/* Thief: move half of src (rounded up) into dst's ring (dst is the thief's
 * own, empty, queue) and return one of them to run; NULL if src had none.
 * steal_next: also take src's runnext when the ring is empty. */
gort__g *gort__runq_steal(gort__runq *dst, gort__runq *src, bool steal_next);
/* Approximate emptiness, for the spinning protocol (reads head, tail and
 * runnext; may be stale by the time it returns). */
bool gort__runq_empty(gort__runq *q);
/* Whether the ring (runnext aside) is empty; approximate like the above. */
bool gort__runq_ring_empty(gort__runq *q);
uint32_t gort__runq_len(gort__runq *q);

#endif
