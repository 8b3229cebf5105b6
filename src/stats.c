/* stats.c — the GORT_STATS counters and their report at exit (see stats.h).
 * Empty unless the build defines GORT_STATS. */
#include "stats.h"

#ifdef GORT_STATS
#include <stdio.h>

_Atomic uint64_t gort__stats[GORT__ST_N];

static const char *const stat_names[GORT__ST_N] = {
    [GORT__ST_READY] = "ready",           [GORT__ST_READY_NEXT] = "ready_next",
    [GORT__ST_WAKEP] = "wakep",           [GORT__ST_WAKEP_START] = "wakep_start",
    [GORT__ST_MWAKE] = "mwake",           [GORT__ST_NEWM] = "newm",
    [GORT__ST_SPIN] = "spin",             [GORT__ST_STEAL] = "steal",
    [GORT__ST_STEAL_NEXT] = "steal_next", [GORT__ST_PAUSE] = "pause",
    [GORT__ST_STEAL_NEXT_SKIP] = "steal_next_skip", [GORT__ST_NAP] = "nap",
    [GORT__ST_MPARK] = "mpark",           [GORT__ST_GPARK] = "gpark",
    [GORT__ST_HANDOFF] = "handoff",
    [GORT__ST_RUN_NEXT] = "run_next",     [GORT__ST_RUN_RING] = "run_ring",
    [GORT__ST_RUN_GLOBAL] = "run_global", [GORT__ST_LOCK_SPIN] = "lock_spin",
    [GORT__ST_LOCK_SLEEP] = "lock_sleep", [GORT__ST_LOCK_WAKE] = "lock_wake",
    [GORT__ST_MUTEX_SLOW] = "mutex_slow", [GORT__ST_MUTEX_SPIN] = "mutex_spin",
    [GORT__ST_MUTEX_SLEEP] = "mutex_sleep", [GORT__ST_MUTEX_WAKE] = "mutex_wake",
    [GORT__ST_RUNQ_SPILL] = "runq_spill", [GORT__ST_SPAWN_YIELD] = "spawn_yield",
    [GORT__ST_SLAB_NEW] = "slab_new",     [GORT__ST_GFREE_REFILL] = "gfree_refill",
    [GORT__ST_GFREE_SPILL] = "gfree_spill",
};

__attribute__((destructor)) static void stats_report(void)
{
    for (int i = 0; i < GORT__ST_N; i++)
        fprintf(stderr, "GORT_STATS %-12s %llu\n", stat_names[i],
                (unsigned long long)atomic_load_explicit(&gort__stats[i], memory_order_relaxed));
}
#else
typedef int gort__stats_unused; /* ISO C: a translation unit must not be empty */
#endif
