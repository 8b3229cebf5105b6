/*
 * sysmon.c — the system monitor: one thread, holding no P, that watches the
 * scheduler from outside (Go's sysmon in runtime/proc.go).
 *
 * Every tick it:
 *   - retakes Ps from goroutines blocked in a system call: a P whose status
 *     has been SYSCALL for a whole tick (>= 20 us) with the same syscalltick
 *     is CASed SYSCALL -> IDLE and handed to another M (gort__handoffp), so
 *     other goroutines keep running. Like Go it leaves the P alone for up to
 *     10 ms when the P has nothing queued and other Ms/Ps are idle anyway.
 *   - asks a goroutine that has run for 10 ms without passing through the
 *     scheduler (same schedtick) to yield: a flag checked at its next gort
 *     call, plus a signal for async preemption (preempt.c). It repeats the
 *     request every tick until the goroutine is descheduled, because the
 *     signal handler declines at unsafe points.
 *   - polls the network if nobody did for 10 ms (readied goroutines go to
 *     the global queue), so busy Ms do not starve I/O waiters.
 *   - re-runs the deadlock check while gort_main waits on an idle engine
 *     (the check an M makes when it goes idle can miss a thread that was
 *     still starting).
 * The tick starts at 20 us and doubles after 50 idle ticks, up to 10 ms, so
 * an idle engine costs ~100 wake-ups per second.
 *
 * Concurrency: sysmon only samples other threads' state through relaxed
 * atomics (p->status, p->m, p->schedtick, p->syscalltick, m->curg) and acts
 * through CAS (retake) or by setting a flag and sending a signal; the M
 * structs it reads live until gort_shutdown, which stops sysmon first.
 * Its private bookkeeping (last seen ticks) is touched by no one else.
 * Rejected: timer-driven retake from the Ms themselves — they are exactly
 * the threads that are stuck.
 */
#include "engine.h"
#include "netpoll.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SYSMON_TICK_MIN (20 * GORT_MICROSECOND)
#define SYSMON_TICK_MAX (10 * GORT_MILLISECOND)
#define FORCE_PREEMPT_NS (10 * GORT_MILLISECOND)
#define NETPOLL_STALE_NS (10 * GORT_MILLISECOND)

/* What sysmon saw of one P last time. */
typedef struct p_seen {
    uint32_t schedtick;   /* p->schedtick at schedwhen */
    int64_t  schedwhen;   /* when sysmon first saw that tick */
    uint32_t syscalltick; /* p->syscalltick at syscallwhen */
    int64_t  syscallwhen;
    int64_t  preemptwhen; /* last preemption request (re-sent every 1 ms) */
} p_seen;

GORT__CORE void gort__sysmon_thread_start(gort__m *m)
{
    m->tid = (int)syscall(SYS_gettid);
    if (pthread_getcpuclockid(pthread_self(), &m->cpuclock) != 0)
        m->tid = 0; /* no clock: sysmon never judges this thread computing */
}

/* Returns whether it did anything (resets the back-off). */
GORT__CORE static bool retake(p_seen *seen, int64_t now)
{
    bool acted = false;
    for (int i = 0; i < gort__S.nprocs; i++) {
        gort__p *p = gort__S.allp[i];
        p_seen *ps = &seen[i];
        uint32_t status = atomic_load_explicit(&p->status, memory_order_acquire);
        if (status == GORT__P_RUNNING) {
            uint32_t t = GORT__RLOAD(p->schedtick);
            if (t != ps->schedtick) {
                ps->schedtick = t;
                ps->schedwhen = now;
            } else if (now - ps->schedwhen >= FORCE_PREEMPT_NS) {
                gort__m *m = atomic_load_explicit(&p->m, memory_order_acquire);
                gort__g *g = m ? GORT__RLOAD(m->curg) : NULL;
                if (g && now - ps->preemptwhen >= GORT_MILLISECOND) {
                    ps->preemptwhen = now;
                    gort__preempt_request(m, g);
                    acted = true;
                }
            }
        } else if (status == GORT__P_SYSCALL) {
            uint32_t t = GORT__RLOAD(p->syscalltick);
            if (t != ps->syscalltick) {
                ps->syscalltick = t;
                ps->syscallwhen = now;
                continue;
            }
            if (gort__runq_empty(&p->runq) &&
                atomic_load(&gort__S.nmspinning) + atomic_load(&gort__S.npidle) > 0 &&
                now - ps->syscallwhen < SYSMON_TICK_MAX)
                continue;
            uint32_t expect = GORT__P_SYSCALL;
            if (atomic_compare_exchange_strong(&p->status, &expect, GORT__P_IDLE)) {
                gort__handoffp(p);
                acted = true;
            }
        }
    }
    return acted;
}

GORT__CORE static void *sysmon_main(void *arg)
{
    p_seen *seen = arg;
    atomic_fetch_add(&gort__S.threads, 1);
    int64_t tick = SYSMON_TICK_MIN;
    int idle = 0;
    for (;;) {
        uint32_t w = atomic_load(&gort__S.sysmon_wake);
        if (atomic_load(&gort__S.sysmon_exit))
            break;
        gort__futex_wait(&gort__S.sysmon_wake, w, gort_now() + tick);
        if (atomic_load(&gort__S.sysmon_exit))
            break;
        int64_t now = gort_now();
        bool acted = retake(seen, now);
        /* Work queued while no thread could be created: try again. */
        acted |= gort__mstart_retry();
        /* The deadlock check runs when the last M goes idle; a thread that
         * was still starting then (not yet counted) makes it miss, so while
         * gort_main waits on an idle engine, look again every tick. */
        if (atomic_load(&gort__S.main_wait) &&
            atomic_load(&gort__S.npidle) == gort__S.nprocs) {
            gort__lock_acquire(&gort__S.lock);
            gort__checkdead();
            gort__lock_release(&gort__S.lock);
        }
        if (gort__netpoll_pending() &&
            now - atomic_load_explicit(&gort__S.last_poll, memory_order_relaxed) > NETPOLL_STALE_NS) {
            atomic_store_explicit(&gort__S.last_poll, now, memory_order_relaxed);
            if (gort__netpoll_poll(GORT_NOWAIT) > 0)
                acted = true;
        }
        if (acted || atomic_load(&gort__S.nsyscall) > 0) {
            idle = acted ? 0 : idle;
            tick = SYSMON_TICK_MIN;
        } else if (++idle > 50 && tick < SYSMON_TICK_MAX) {
            tick = tick * 2 > SYSMON_TICK_MAX ? SYSMON_TICK_MAX : tick * 2;
        }
        atomic_store_explicit(&gort__S.sysmon_slow, tick > SYSMON_TICK_MIN, memory_order_relaxed);
    }
    free(seen);
    atomic_fetch_sub(&gort__S.threads, 1);
    return NULL;
}

GORT__CORE int gort__sysmon_start(void)
{
    p_seen *seen = calloc((size_t)gort__S.nprocs, sizeof *seen);
    if (!seen)
        return GORT_ENOMEM;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 << 10);
    int err = pthread_create(&gort__S.sysmon, &attr, sysmon_main, seen);
    pthread_attr_destroy(&attr);
    if (err) {
        free(seen);
        return GORT_ENOMEM;
    }
    gort__S.sysmon_seen = seen;
    gort__S.sysmon_started = true;
    return 0;
}

GORT__CORE void gort__sysmon_wake(void)
{
    atomic_fetch_add(&gort__S.sysmon_wake, 1);
    gort__futex_wake(&gort__S.sysmon_wake, 1);
}

GORT__CORE void gort__sysmon_stop(void)
{
    if (!gort__S.sysmon_started)
        return;
    atomic_store(&gort__S.sysmon_exit, 1);
    gort__sysmon_wake();
    pthread_join(gort__S.sysmon, NULL);
    gort__S.sysmon_started = false;
}
