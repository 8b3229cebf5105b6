/*
 * sysmon.c — the system monitor: one thread, holding no P, that watches the
 * scheduler from outside (Go's sysmon in runtime/proc.go).
 *
 * Every tick it:
 *   - retakes Ps from goroutines blocked in a system call: a P whose status
 *     has been SYSCALL for a whole tick (>= 20 us) with the same syscalltick
 *     and whose thread is not computing is CASed SYSCALL -> IDLE and handed
 *     to another M (gort__handoffp), so other goroutines keep running. Like
 *     Go it leaves the P alone for up to 10 ms when the P has nothing queued
 *     and other Ms/Ps are idle anyway.
 *     "Computing": gort_blocking also wraps long CPU-bound native calls
 *     (ffi.c's gort_call_async). Handing their P away after 20 us made a
 *     batch of 64 such calls run on ~64 threads at once on 2 cores: cache
 *     thrash, and the event-loop thread of a binding queued for a CPU behind
 *     them (measured: up to 14 runnable threads, 35 threads in all, Node's
 *     event-loop p99 4-8 ms). So at each look sysmon reads the thread's CPU
 *     clock (m->cpuclock, recorded by the M at start): a thread that ran at
 *     least half of the time since the last look, or that the kernel reports
 *     runnable ('R' in /proc/self/task/TID/stat: only preempted, e.g. on a
 *     loaded machine; read only when the clock says it ran less), is using
 *     the CPU its P stands for and keeps the P, for up to COMPUTE_SLICE_NS
 *     (10 ms) of its own CPU time, the slice after which a goroutine is
 *     preempted; past it the Go rule applies again, so other goroutines
 *     (timers, a goroutine a spin-waiting C function waits for) are not
 *     starved by calls that never end. A thread asleep in the kernel (read,
 *     usleep, a futex) shows neither and loses its P as before. A thread
 *     whose clock cannot be read (no clock, thread gone) counts as blocked:
 *     the old behaviour. Both reads are only hints: the CAS on p->status
 *     decides, so a stale p->m (the call ended, the P moved on) can only
 *     delay or hasten one handoff.
 *     Rejected: bounding concurrency in ffi.c (a semaphore of GORT_PROCS
 *     slots): a call blocked in read(2) would hold a slot that the call
 *     that writes the byte needs (deadlock with one P), which is exactly
 *     what the handoff exists for; an "is CPU-bound" flag per call: the
 *     caller cannot know (crc32 over an mmap'd file both faults and
 *     computes); per-thread CPU time alone: a computing thread descheduled
 *     by other processes would look blocked, hence the /proc look. Known
 *     limit: calls that compute longer than the slice are handed off as
 *     before, so a batch of such calls still ends up oversubscribed.
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
 * an idle engine costs ~100 wake-ups per second. A P in a syscall caps it:
 * at 20 us while the call is new (to be judged at the next tick) or blocked
 * (to be handed off promptly once work waits), at 1 ms (COMPUTE_RECHECK_NS)
 * while its thread computes, so long computing calls do not cost 50k
 * sysmon wake-ups per second; gort_syscall_enter wakes a backed-off sysmon
 * (sysmon_slow) so that a new call is looked at within 20 us — except while
 * the tick is held at 1 ms by computing calls: then the next look judges
 * a new call, and one on the thread sysmon last saw computing that has kept
 * computing since (the end of its last call, the start of this one) is
 * judged computing at once, from that look's CPU clock. Measured (Node,
 * crc32 of 64 x 4 MiB on 2 Ps): sysmon had woken 5.3 times per call (the
 * enter wake-up, the 20 us look, the 1 ms rechecks) at ~30 us of CPU each
 * (thread clocks, /proc reads, the timed futex on a VM), 10% of a CPU,
 * with 4-5 preemptions of the computing threads per call; now 0.9 per
 * call. The cost: a call that blocks right after computing calls is
 * handed off up to 1 ms later (Go's sysmon, backed off, takes up to 10).
 *
 * Concurrency: sysmon only samples other threads' state through relaxed
 * atomics (p->status, p->m, p->schedtick, p->syscalltick, m->curg), plain
 * fields an M wrote before publishing itself in p->m with release
 * (m->tid, m->cpuclock, read after an acquire load of p->m) and the
 * kernel's per-thread clock and /proc state, and acts
 * through CAS (retake) or by setting a flag and sending a signal; the M
 * structs it reads live until gort_shutdown, which stops sysmon first.
 * Its private bookkeeping (last seen ticks) is touched by no one else.
 * Rejected: timer-driven retake from the Ms themselves — they are exactly
 * the threads that are stuck.
 */
#include "engine.h"
#include "netpoll.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SYSMON_TICK_MIN (20 * GORT_MICROSECOND)
#define SYSMON_TICK_MAX (10 * GORT_MILLISECOND)
#define FORCE_PREEMPT_NS (10 * GORT_MILLISECOND)
#define NETPOLL_STALE_NS (10 * GORT_MILLISECOND)
/* A computing blocking call keeps its P for this much of its thread's CPU
 * time (the time slice a goroutine gets before preemption)... */
#define COMPUTE_SLICE_NS (10 * GORT_MILLISECOND)
/* ...and sysmon looks at it again at least this often meanwhile. */
#define COMPUTE_RECHECK_NS (1 * GORT_MILLISECOND)

/* What sysmon saw of one P last time. */
typedef struct p_seen {
    uint32_t schedtick;   /* p->schedtick at schedwhen */
    int64_t  schedwhen;   /* when sysmon first saw that tick */
    uint32_t syscalltick; /* p->syscalltick at syscallwhen */
    int64_t  syscallwhen;
    int64_t  syscallcpu;  /* the syscall thread's CPU time at syscallwhen (-1: unknown) */
    int64_t  cpu;         /* its CPU time at the previous look (-1: unknown)... */
    int64_t  cpuwhen;     /* ...and when sysmon took it */
    const gort__m *cpum;  /* ...of which M's thread (a new call on the same thread may be
                             judged from it; only compared, never dereferenced) */
    int64_t  preemptwhen; /* last preemption request (re-sent every 1 ms) */
} p_seen;

GORT__CORE void gort__sysmon_thread_start(gort__m *m)
{
    m->tid = (int)syscall(SYS_gettid);
    if (pthread_getcpuclockid(pthread_self(), &m->cpuclock) != 0)
        m->tid = 0; /* no clock: sysmon never judges this thread computing */
}

/* CPU time m's thread has used (ns), or -1 (no M, no clock, thread gone). */
GORT__CORE static int64_t thread_cpu(const gort__m *m)
{
    struct timespec ts;
    if (!m || m->tid == 0 || clock_gettime(m->cpuclock, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * GORT_SECOND + ts.tv_nsec;
}

/* The kernel's word on m's thread: running or waiting for a CPU ('R' in
 * /proc/self/task/TID/stat), as opposed to sleeping in a wait. false when
 * it cannot tell (no /proc). */
GORT__CORE static bool thread_runnable(const gort__m *m)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", m->tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    const char *rp = strrchr(buf, ')'); /* "tid (comm) S ...": comm may hold ')' */
    return rp && rp[1] == ' ' && rp[2] == 'R';
}

/* Whether the thread in a blocking call on the P behind ps is computing:
 * it ran at least half of the time since sysmon's last look (at the same
 * thread), or, if ask_kernel, the kernel says it is runnable (only
 * preempted, e.g. on a loaded machine; not asked for a call just entered,
 * whose thread runs in any case). Updates the last look. */
GORT__CORE static bool syscall_computing(const gort__m *m, p_seen *ps, int64_t now,
                                         bool ask_kernel)
{
    int64_t cpu = thread_cpu(m);
    bool computing = cpu >= 0 && ps->cpu >= 0 && ps->cpum == m &&
                     (2 * (cpu - ps->cpu) >= now - ps->cpuwhen ||
                      (ask_kernel && thread_runnable(m)));
    ps->cpu = cpu;
    ps->cpuwhen = now;
    ps->cpum = m;
    return computing;
}

/* Returns whether it did anything (resets the back-off); *want is lowered
 * to the longest tick the Ps it watches allow. */
GORT__CORE static bool retake(p_seen *seen, int64_t now, int64_t *want)
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
            gort__m *m = atomic_load_explicit(&p->m, memory_order_acquire);
            uint32_t t = GORT__RLOAD(p->syscalltick);
            if (t != ps->syscalltick) {
                /* A new call. On the thread sysmon last saw computing, and
                 * still computing since (through the end of its last call
                 * into this one), it is judged now: a batch of computing
                 * calls costs no look 20 us into each. Else at the next
                 * tick. */
                ps->syscalltick = t;
                ps->syscallwhen = now;
                bool computing = syscall_computing(m, ps, now, false);
                ps->syscallcpu = ps->cpu;
                if (*want > (computing ? COMPUTE_RECHECK_NS : SYSMON_TICK_MIN))
                    *want = computing ? COMPUTE_RECHECK_NS : SYSMON_TICK_MIN;
                continue;
            }
            if (syscall_computing(m, ps, now, true) && ps->cpu - ps->syscallcpu < COMPUTE_SLICE_NS) {
                if (*want > COMPUTE_RECHECK_NS)
                    *want = COMPUTE_RECHECK_NS;
                continue; /* it uses the CPU its P stands for */
            }
            *want = SYSMON_TICK_MIN;
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
        int64_t want = SYSMON_TICK_MAX;
        bool acted = retake(seen, now, &want);
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
        if (acted) {
            idle = 0;
            tick = SYSMON_TICK_MIN;
        } else if (++idle > 50 && tick < SYSMON_TICK_MAX) {
            tick = tick * 2 > SYSMON_TICK_MAX ? SYSMON_TICK_MAX : tick * 2;
        }
        if (tick > want)
            tick = want;
        /* Backed off: a new call wakes sysmon (gort_syscall_enter), unless
         * the tick is held at COMPUTE_RECHECK_NS by computing calls: then
         * the next look, within 1 ms, judges a new call (see above). */
        atomic_store_explicit(&gort__S.sysmon_slow,
                              tick > SYSMON_TICK_MIN && want != COMPUTE_RECHECK_NS,
                              memory_order_relaxed);
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
