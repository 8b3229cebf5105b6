/*
 * stats.h — scheduler event counters for performance work (GORT_STATS).
 *
 * Compiled in only when the build defines GORT_STATS
 * (cmake -DCMAKE_C_FLAGS=-DGORT_STATS ...); otherwise GORT__STAT() expands
 * to nothing and the release hot paths are unchanged. With GORT_STATS the
 * totals are printed to stderr when the process exits (one line per
 * counter), so a benchmark run tells how many wake-ups, steals and parks
 * each message cost. The counters are relaxed atomics: exact totals, no
 * ordering (they order nothing), and their own cache-line traffic makes a
 * stats build useless for timing — count with it, time the release build.
 * Rejected: per-thread counters summed at exit (exact too, but engine
 * threads outlive nothing we could hook portably; totals are what we need).
 */
#ifndef GORT_STATS_H
#define GORT_STATS_H

#ifdef GORT_STATS
#include <stdatomic.h>
#include <stdint.h>

enum {
    GORT__ST_READY,        /* gort__ready made a parked G runnable */
    GORT__ST_READY_NEXT,   /* ... into this P's runnext */
    GORT__ST_WAKEP,        /* wakep() called */
    GORT__ST_WAKEP_START,  /* ... and it started a spinning M (startm) */
    GORT__ST_MWAKE,        /* futex wake of a parked M (mwake) */
    GORT__ST_NEWM,         /* thread created */
    GORT__ST_SPIN,         /* an M began spinning (steal_work entered) */
    GORT__ST_STEAL,        /* steal_work returned a G */
    GORT__ST_STEAL_NEXT,   /* ... taken from a victim's runnext */
    GORT__ST_PAUSE,        /* short_pause before a runnext steal */
    GORT__ST_STEAL_NEXT_SKIP, /* ... after which the victim had taken runnext itself */
    GORT__ST_NAP,          /* a spinning M napped beside a hand-off pair (spinner_nap) */
    GORT__ST_MPARK,        /* an M released its P and slept */
    GORT__ST_GPARK,        /* a goroutine parked (committed) */
    GORT__ST_HANDOFF,      /* ... by switching straight to its P's runnext G (no g0) */
    GORT__ST_RUN_NEXT,     /* find_runnable took runnext (inherits time slice) */
    GORT__ST_RUN_RING,     /* find_runnable took the local ring */
    GORT__ST_RUN_GLOBAL,   /* find_runnable took the global queue */
    GORT__ST_LOCK_SPIN,    /* gort__lock contended (entered its spin loop) */
    GORT__ST_LOCK_SLEEP,   /* gort__lock futex wait */
    GORT__ST_LOCK_WAKE,    /* gort__lock futex wake */
    GORT__ST_MUTEX_SLOW,   /* gort_mutex lock took the slow path (contended) */
    GORT__ST_MUTEX_SPIN,   /* ... and spun one round (Go's doSpin) */
    GORT__ST_MUTEX_SLEEP,  /* ... and slept on its semaphore */
    GORT__ST_MUTEX_WAKE,   /* gort_mutex unlock released a sleeper (normal or hand-off) */
    GORT__ST_RUNQ_SPILL,   /* a full local ring moved half of itself to the global queue */
    GORT__ST_SPAWN_YIELD,  /* ... on a spawn: the spawner yielded behind the global queue */
    GORT__ST_SLAB_NEW,     /* a slab of default-size stack slots was mapped */
    GORT__ST_GFREE_REFILL, /* a P's free-slot list was refilled from the shared pool */
    GORT__ST_GFREE_SPILL,  /* a P's free-slot list spilled half to the shared pool */
    GORT__ST_N
};

extern _Atomic uint64_t gort__stats[GORT__ST_N];
#define GORT__STAT(k) \
    atomic_fetch_add_explicit(&gort__stats[GORT__ST_##k], 1, memory_order_relaxed)
#else
#define GORT__STAT(k) ((void)0)
#endif

#endif
