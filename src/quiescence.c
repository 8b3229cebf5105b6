/*
 * quiescence.c — "could anything ever wake anyone?", asked by a thread that
 * is about to keep waiting forever (a binding's sliced main-thread wait).
 *
 * Concepts
 *   - gort__checkdead (sched.c) answers this for gort_main at the moment the
 *     last pool M goes idle. A binding whose main thread waits in slices (so
 *     that its signal handlers run) and whose goroutines run on an event
 *     loop is invisible to it: the sliced waiter is neither blocked forever
 *     nor an engine thread, and the loop counts as running. gort_quiescent
 *     asks the same question from the waiter's side, between two slices.
 *   - The answer is yes only if, at the time of the look: every pool M is
 *     idle and every P too, nothing is queued, no goroutine is in a syscall
 *     or running on an executor, no engine timer or I/O wait is armed, the
 *     given loop (if any) is asleep with no timer and nothing queued (or not
 *     running and empty), and every thread of the process but the caller is
 *     an engine thread or a foreign thread blocked forever in a gort wait.
 *   - The look is not one atomic snapshot (the thread count comes from
 *     /proc, the loop's state from its own locks), so one "yes" proves
 *     nothing. The witness changes whenever the loop is signalled or a
 *     goroutine is spawned; a caller reports a deadlock only after several
 *     "yes" answers with the same witness, each after a slice of its own
 *     wait that timed out (it was itself registered as a waiter meanwhile,
 *     so whatever was ready for it had its chance).
 *
 * Locks: sched.lock for the M/P counts (as checkdead), the loop's own locks
 * inside gort__loop_asleep. Nothing is written.
 *
 * Rejected alternatives: counting the sliced waiter as blocked forever
 * (its slices end and it runs signal handlers, which may wake anyone);
 * making the loop's timers visible to gort__checkdead (it would still miss
 * the sliced waiter, and it runs under sched.lock on the idle path, where
 * reading /proc/self/task per loop would be paid by every program).
 */
#include "engine.h"
#include "netpoll.h"

#include <dirent.h>

/* Threads of this process (entries of /proc/self/task), or -1. */
static int task_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* The engine proper: no M, P, run queue, syscall, executor run, timer or
 * I/O wait that could make progress. */
static bool engine_idle(void)
{
    gort__lock_acquire(&gort__S.lock);
    bool idle = gort__S.nmidle == gort__S.mcount_pool &&
                atomic_load(&gort__S.npidle) == gort__S.nprocs &&
                !atomic_load(&gort__S.nmspinning) && !atomic_load(&gort__S.runq_size) &&
                !atomic_load(&gort__S.nsyscall) && !atomic_load(&gort__S.exec_busy) &&
                !gort__netpoll_pending();
    for (int i = 0; idle && i < gort__S.nprocs; i++)
        idle = atomic_load(&gort__S.allp[i]->timers.first) == INT64_MAX &&
               gort__runq_empty(&gort__S.allp[i]->runq);
    gort__lock_release(&gort__S.lock);
    return idle;
}

GORT_API int gort_quiescent(gort_loop *loop, uint64_t *witness)
{
    if (!witness)
        return GORT_EINVAL;
    if (!atomic_load(&gort__S.running) || atomic_load(&gort__S.stopping))
        return GORT_ENOTINIT;
    if (gort__this_m())
        return GORT_EPERM; /* a goroutine or an engine thread cannot wait in slices */
    /* The loop's signal word and the spawn counter, read before the look:
     * an event after this changes them, so the next answer differs. */
    uint64_t w = atomic_load(&gort__S.goid) << 32;
    if (loop)
        w ^= gort__loop_signal(loop);
    *witness = w;
    if (!engine_idle() || (loop && !gort__loop_asleep(loop)))
        return 0;
    /* Last, the costly part: nobody outside the engine but the caller. */
    int threads = task_count();
    return threads >= 0 &&
           threads == atomic_load(&gort__S.threads) + atomic_load(&gort__S.foreign_blocked) + 1;
}
