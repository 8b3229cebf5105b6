/*
 * timer.h — a P's timer heap: a 4-ary min-heap of gort__timer pointers
 * ordered by `when`, each timer knowing its index (so removal is O(log n)).
 * Go uses the same shape (wider nodes = fewer cache misses on sift-down).
 * The heap is protected by its lock; `first` mirrors heap[0]->when (or
 * INT64_MAX) so the scheduler can decide "nothing due" without the lock.
 */
#ifndef GORT_TIMER_H
#define GORT_TIMER_H

#include "internal.h"

typedef struct gort__timers {
    gort__lock     lock;  /* protects heap, len, cap and the timers' index_/owner_ */
    gort__timer  **heap;  /* heap[0] is the earliest */
    uint32_t       len;   /* timers in the heap */
    uint32_t       cap;   /* allocated slots */
    _Atomic int64_t first; /* heap[0]->when, INT64_MAX if empty; written under lock */
} gort__timers;

/* Heap primitives (lock held). push: GORT_ENOMEM if it cannot grow. */
int          gort__theap_push(gort__timers *ts, gort__timer *t);
void         gort__theap_remove(gort__timers *ts, uint32_t index);
gort__timer *gort__theap_top(gort__timers *ts);

/* Fire every timer of ts that is due at `now` (callbacks run without the
 * lock). Returns the new earliest deadline, INT64_MAX if none. */
int64_t gort__timers_run(gort__timers *ts, int64_t now);
/* Free the heap; timers still in it are disposed (shutdown). */
void gort__timers_destroy(gort__timers *ts);

#endif
