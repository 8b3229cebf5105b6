/*
 * sched.c — the M:N scheduler: goroutines (G) run by OS threads (M) that
 * hold logical processors (P). The design follows Go's runtime/proc.go.
 *
 * Concepts
 *   - A P is the right to run goroutines. It owns a lock-free local run
 *     queue (runq.h), a timer heap (timer.h) and a cache of free G slots.
 *     There are exactly nprocs Ps; an M must hold one to run a goroutine.
 *   - An M is an OS thread. It runs the scheduler on its own thread stack
 *     ("g0") and switches to a goroutine's stack to run it. A goroutine gives
 *     the thread back by switching to g0 with a request in m->op: park
 *     (wait), yield (requeue) or exit. The request is carried out on g0,
 *     after the goroutine's registers are saved, so a goroutine is never
 *     made runnable elsewhere while it is still on its stack.
 *   - The global run queue (sched.lock) takes overflow from full local
 *     queues and goroutines made runnable by threads without a P. Every 61st
 *     schedule a P looks at it first, so it cannot starve. A spawner whose
 *     spawn overflowed its P's queue yields to the global queue's tail, so
 *     what it spawned runs (and frees its stack slot) before it goes on:
 *     a spawner that outruns its goroutines keeps a few hundred alive, not
 *     all of them.
 *   - Spawn and exit touch no line shared by all Ps: G slots come from the
 *     P's free list, ids from a per-P batch, and the live count is kept as
 *     per-P spawn/exit totals summed by gort_num_goroutine (one shared
 *     atomic bounced between the cores on every spawn and exit: the chain
 *     shape at two Ps spent a third of its time there).
 *   - An M that finds its queues empty "spins": it steals half of a random
 *     victim's queue (4 passes over all Ps; the last pass also fires the
 *     victim's due timers and, after a short pause, takes its runnext —
 *     unless the victim took runnext itself during the pause: it is
 *     handing off to a partner, and stealing would split the pair across
 *     CPUs). At most half of the busy Ps may have a spinning M, and with
 *     more Ps than CPUs a G readied onto the readier's own P starts none
 *     once as many Ms run goroutines as there are CPUs (wakep_local).
 *   - A spinner that found nothing but such a pair naps (spinner_nap)
 *     instead of idling, still counted as spinning, so the pair's readies
 *     wake nobody; work worth stealing wakes it at once (the kick in
 *     wakep_spinner). Idling, it would be woken by the pair's next ready
 *     every ~60 us: a futex wake paid by the pair, an IPI on a VM.
 *   - An M that finds nothing releases its P and sleeps on a futex. One idle
 *     M, the "poller", sleeps only until the earliest timer of all Ps (in
 *     epoll instead when goroutines wait for I/O); the others sleep until
 *     startm() hands them a P. What the poller's network poll readies it
 *     runs itself on an idle P, waking another M only for the rest (Go's
 *     findRunnable): at one P, waking one would hand it the only P. An M
 *     that goes idle while I/O is pending wakes a poller asleep on its
 *     futex, so that somebody is in epoll.
 *   - Pinned goroutines run on an executor (gort__exec): an OS thread of
 *     their own that holds no P and runs only them. This is the engine's
 *     serial executor; a goroutine pinned there never migrates.
 *
 * Invariants and the lost-wake-up argument (Go's "spinning" protocol)
 *   Work is published before anyone is woken: a producer puts a G on a run
 *   queue, then (seq_cst fence) reads npidle/nmspinning in wakep() and starts
 *   a spinning M only if there is an idle P and nobody spins. An M that
 *   stops spinning first decrements nmspinning (seq_cst), then re-checks
 *   every P's run queue and the global queue. Either the producer sees the
 *   spinner (which then sees the work), or the spinner's re-check sees the
 *   work. When a spinning M finds work and was the last spinner, it calls
 *   wakep() so that further work is picked up in parallel.
 *   The fence matters only for work no M is bound to run: a G readied onto
 *   the producer's own P is run by the producer's M at the latest when its
 *   current G blocks, yields or is preempted, so wakep_local() skips the
 *   fence (as Go does): a stale "somebody spins" costs parallelism, not a
 *   wake-up.
 *
 * The park/ready handshake
 *   g->park_state is RUNNING, PARKED or NOTIFIED. gort__park() switches to
 *   g0, runs the commit function (which typically releases the lock of the
 *   wait queue where the G is published), then CASes RUNNING -> PARKED.
 *   gort__ready() CASes RUNNING -> NOTIFIED if the G has not finished
 *   parking, which makes the park's CAS fail so the G simply continues;
 *   if it finds PARKED it stores RUNNING (no CAS: once parked, nobody but
 *   the one ready of this park writes the word) and enqueues the G. So a
 *   wake-up racing with the park is never lost, and a G is never enqueued
 *   twice. Callers guarantee at most one ready per park (the waiter
 *   protocol in internal.h).
 *
 * The direct hand-off (Go's ping-pong path without the trip through g0)
 *   A G that parks while its P's runnext holds a G that find_runnable would
 *   pick anyway (no timer armed on this P, global queue empty, not
 *   stopping) takes that G and switches straight to it: two context
 *   switches per hand-off become one. The parker cannot commit itself (its
 *   registers are not saved until the switch), so it leaves itself in
 *   m->handoff_from and whoever is switched to runs the commit and the
 *   RUNNING -> PARKED CAS first thing (finish_handoff), on its own stack
 *   with curg NULL — exactly what g0 would have done, in the same order. A
 *   park that loses to a ready is put back in runnext. Every point where a
 *   G resumes (g_to_scheduler, gort__park, g_entry) calls finish_handoff,
 *   and execute() carries out the request of whichever G comes back to g0
 *   (m->curg), which after hand-offs need not be the one it started. The
 *   target must have HANDOFF_STACK_MIN of stack left for the commit.
 *
 * Locks: sched.lock protects the idle P and M lists, the global run queue,
 * the poller slot and M creation. It is never held while switching stacks.
 * Lock order: sched.lock -> (nothing); a timer heap lock is a leaf; a wait
 * queue's lock may be held while calling gort__ready (which may take
 * sched.lock).
 *
 * Rejected alternatives
 *   - One global queue with a lock (simple, but every spawn and wake-up
 *     contends on it; Go moved away from it for the same reason).
 *   - Switching directly from G to G for every scheduling decision: yield,
 *     exit and the slow paths (timers, the global queue, stealing, idling)
 *     need g0's stack and time; only the hot park-to-runnext case skips it
 *     (the direct hand-off above), with one field of extra state.
 *   - A dedicated timer thread: an extra thread hop per timer and poorer
 *     locality than per-P heaps fired by the scheduler itself.
 */
#include "engine.h"
#include "netpoll.h"
#include "stats.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

gort__sched gort__S;

/* Serialises gort_init / gort_shutdown. */
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

/* This thread's M. Read only through gort__this_m(), an out-of-line call,
 * so that code running on a goroutine (which may migrate between threads
 * across any call that parks) never reuses a stale TLS address. */
static __thread gort__m *tls_m;

GORT__CORE GORT__NOINLINE gort__m *gort__this_m(void)
{
    return tls_m;
}

GORT__CORE GORT__NOINLINE gort__g *gort__current(void)
{
    gort__m *m = tls_m;
    return m ? GORT__RLOAD(m->curg) : NULL;
}

/* ---- the lifecycle gate --------------------------------------------------- */

/* Foreign threads (no M) inside a gated entry point. gort_shutdown waits for
 * zero before it frees what those entries touch (stacks, Ps, timer heaps).
 * Outside gort__S: it must survive the reset in gort_init/gort_shutdown.
 *
 * The check is Dekker's: an entry increments, then reads `life`; shutdown
 * sets it to STOPPING, then reads the count (all seq_cst). Either the entry
 * sees STOPPING and leaves, or shutdown sees the entry and waits for it.
 * The state is one word, not running + stopping read one after the other:
 * a reader could see the old cycle's running and the next cycle's cleared
 * stopping, and enter an engine that is still being built. Engine threads
 * need no count: shutdown joins them before teardown. */
enum { LIFE_DOWN = 0, LIFE_UP = 1, LIFE_STOPPING = 2 };
static _Atomic int64_t gate_entries;
static _Atomic int life;

GORT__CORE int gort__enter(void)
{
    bool foreign = tls_m == NULL;
    if (foreign)
        atomic_fetch_add(&gate_entries, 1);
    int state = atomic_load(&life);
    int err = state == LIFE_UP ? 0 : state == LIFE_DOWN ? GORT_ENOTINIT : GORT_ESHUTDOWN;
    if (err && foreign)
        atomic_fetch_sub(&gate_entries, 1);
    return err;
}

GORT__CORE void gort__leave(void)
{
    if (tls_m == NULL)
        atomic_fetch_sub(&gate_entries, 1);
}

/* gort_shutdown, after setting stopping: wait out the admitted entries. */
GORT__CORE static void gate_drain(void)
{
    while (atomic_load(&gate_entries) != 0)
        sched_yield();
}

/* Reset the scheduler state, except running/stopping, which foreign threads
 * may read at any moment (the caller stores them atomically). */
GORT__CORE static void sched_reset(void)
{
    memset((char *)&gort__S + offsetof(gort__sched, lock), 0,
           sizeof gort__S - offsetof(gort__sched, lock));
}

/* ---- fork ---------------------------------------------------------------- */

/* The child of a fork has one thread: the engine's Ms, sysmon and loop
 * threads are gone, and so is every lock holder. It forgets the parent's
 * engine (its memory stays mapped, unused: freeing it could touch state a
 * vanished thread was changing) and starts uninitialized: gort_initialized()
 * is 0, every call that needs the engine returns GORT_ENOTINIT (or NULL),
 * and gort_init starts a fresh engine. Go offers only exec after fork; this
 * is what a C library can do (pthread_atfork), see docs/api.md "fork". */
/* The parent's engine as a forked child last saw it: kept referenced, not
 * freed (so leak checkers in the child see it as still reachable). `used`:
 * never read, so the stores must not be optimised away. */
static __attribute__((used)) struct {
    gort__sched S;     /* the scheduler state (Ps, Ms, Gs, sysmon's bookkeeping) */
    void       *slabs; /* stack.c's slab list */
    void       *dir;   /* the poller's fd directory */
    void       *loops; /* loop.c's registry */
} forgotten;

GORT__CORE static void fork_child(void)
{
    memcpy(&forgotten.S, &gort__S, sizeof forgotten.S);
    tls_m = NULL;
    pthread_mutex_init(&init_mu, NULL);
    atomic_store(&gate_entries, 0);
    atomic_store(&life, LIFE_DOWN);
    sched_reset();
    atomic_store(&gort__S.running, 0);
    atomic_store(&gort__S.stopping, 0);
    forgotten.slabs = gort__stacks_forget();
    forgotten.dir = gort__netpoll_forget();
    forgotten.loops = gort__loops_forget();
}

GORT__CORE static void fork_handler_install(void)
{
    (void)pthread_atfork(NULL, NULL, fork_child);
}

#define GLOBAL_FAIRNESS_TICK 61
#define STEAL_PASSES 4
#define GFREE_MAX 512    /* per-P free slots before spilling half: above a full run queue */
#define GFREE_REFILL 32  /* slots taken from the shared pool at a time (short lock hold) */
#define GOID_BATCH 16

static void wakep(void);
static void wakep_local(gort__p *p);
static void *mstart(void *arg);

/* ---- M parking ----------------------------------------------------------- */

/* Sleep until mwake(m) or deadline. m->park is reset by the caller (under
 * sched.lock) before it publishes itself, so a wake that comes before the
 * sleep is not lost. */
GORT__CORE static void mpark(gort__m *m, int64_t deadline)
{
    while (atomic_load_explicit(&m->park, memory_order_acquire) == 0) {
        if (gort__futex_wait(&m->park, 0, deadline) == GORT_ETIMEDOUT)
            break;
    }
}

GORT__CORE static void mwake(gort__m *m)
{
    GORT__STAT(MWAKE);
    atomic_store_explicit(&m->park, 1, memory_order_release);
    gort__futex_wake(&m->park, 1);
}

/* ---- P and M lists (sched.lock held) ------------------------------------- */

GORT__CORE static void pidleput(gort__p *p)
{
    GORT__RSTORE(p->m, NULL);
    GORT__RSTORE(p->status, GORT__P_IDLE);
    p->link = gort__S.pidle;
    gort__S.pidle = p;
    atomic_fetch_add(&gort__S.npidle, 1);
}

GORT__CORE static gort__p *pidleget(void)
{
    gort__p *p = gort__S.pidle;
    if (p) {
        gort__S.pidle = p->link;
        atomic_fetch_sub(&gort__S.npidle, 1);
    }
    return p;
}

GORT__CORE static void acquirep(gort__m *m, gort__p *p)
{
    m->p = p;
    atomic_store_explicit(&p->m, m, memory_order_release); /* sysmon reads m's fields */
    GORT__RSTORE(p->status, GORT__P_RUNNING);
}

/* ---- the global run queue (sched.lock held, unless said otherwise) -------- */

GORT__CORE static void globrunq_put_batch(gort__g *head, gort__g *tail, int n)
{
    tail->schedlink = NULL;
    if (gort__S.runq_tail)
        gort__S.runq_tail->schedlink = head;
    else
        gort__S.runq_head = head;
    gort__S.runq_tail = tail;
    atomic_fetch_add(&gort__S.runq_size, n);
}

GORT__CORE static void globrunq_put(gort__g *g) /* takes sched.lock */
{
    gort__lock_acquire(&gort__S.lock);
    globrunq_put_batch(g, g, 1);
    gort__lock_release(&gort__S.lock);
}

/* Take a fair share of the global queue into p's local queue; return one G
 * to run. max = 0: no limit beyond the fair share. */
GORT__CORE static gort__g *globrunq_get(gort__p *p, int max)
{
    int size = atomic_load_explicit(&gort__S.runq_size, memory_order_relaxed);
    if (size == 0)
        return NULL;
    int n = size / gort__S.nprocs + 1;
    if (n > size)
        n = size;
    if (max > 0 && n > max)
        n = max;
    int room = (int)(GORT__RUNQ_SIZE - gort__runq_len(&p->runq)) + 1; /* +1: the one we return */
    if (n > room)
        n = room;
    if (n > (int)GORT__RUNQ_SIZE / 2)
        n = GORT__RUNQ_SIZE / 2;
    if (n < 1)
        n = 1; /* the one we return needs no room */
    atomic_fetch_sub(&gort__S.runq_size, n);
    gort__g *g = gort__S.runq_head;
    gort__S.runq_head = g->schedlink;
    for (int i = 1; i < n; i++) {
        gort__g *g2 = gort__S.runq_head;
        gort__S.runq_head = g2->schedlink;
        if (!gort__runq_put(&p->runq, g2)) /* only the owner adds: room was checked */
            gort__fatal("local run queue overflow while taking from the global queue");
    }
    if (!gort__S.runq_head)
        gort__S.runq_tail = NULL;
    return g;
}

/* ---- local run queue ----------------------------------------------------- */

/* Returns true if the local ring overflowed (half of it went global). */
GORT__CORE static bool runqput(gort__p *p, gort__g *g, bool next)
{
    if (next) {
        g = gort__runq_set_next(&p->runq, g);
        if (!g)
            return false;
    }
    for (;;) {
        if (gort__runq_put(&p->runq, g))
            return false;
        /* Full: move half of it plus g to the global queue in one batch. */
        gort__g *batch[GORT__RUNQ_SIZE / 2 + 1];
        uint32_t n = gort__runq_take_half(&p->runq, batch);
        if (n == 0)
            continue; /* thieves made room */
        batch[n++] = g;
        for (uint32_t i = 0; i + 1 < n; i++)
            batch[i]->schedlink = batch[i + 1];
        gort__lock_acquire(&gort__S.lock);
        globrunq_put_batch(batch[0], batch[n - 1], (int)n);
        gort__lock_release(&gort__S.lock);
        GORT__STAT(RUNQ_SPILL);
        return true;
    }
}

/* ---- executors of pinned goroutines -------------------------------------- */

GORT__CORE static gort__g *exec_pop(gort__exec *e);
GORT__CORE static gort__exec_wakeup exec_wake_decide_locked(gort__exec *e);

GORT__CORE static void exec_push(gort__exec *e, gort__g *g)
{
    g->schedlink = NULL;
    gort__lock_acquire(&e->lock);
    if (e->tail)
        e->tail->schedlink = g;
    else
        e->head = g;
    e->tail = g;
    gort__exec_wakeup w = exec_wake_decide_locked(e);
    gort__lock_release(&e->lock);
    gort__exec_wake_end(e, w);
}

/* WAKE-UPS are decided under e->lock and delivered after it. The decision
 * (bump the futex word, see whether the thread sleeps, claim the eventfd
 * write) must be under the lock: the loop's exit check and its eventfd
 * drain read the same state under it. The system calls must not be: the
 * woken thread takes this lock (and a poster's inbox_lock) first thing,
 * and on a busy machine the kernel often runs it on the waker's CPU at
 * once, preempting the waker inside its critical section — the woken
 * thread then spins on, and sleeps for, a lock whose holder cannot run
 * (measured on 2 CPUs with both computing: the Node addon's JS thread spent
 * a third of its loop time in gort__lock_acquire behind settling Ms).
 * Lifetime: a decided wake-up counts in e->wakers until its calls return;
 * whoever frees the executor or closes its eventfd first waits for that
 * count to reach 0 (gort__exec_quiesce), so the calls outside the lock
 * never touch freed memory or a reused descriptor. */
GORT__CORE static gort__exec_wakeup exec_wake_decide_locked(gort__exec *e)
{
    /* Dekker with gort__exec_sleep: bump the word, then look for a sleeper;
     * the sleeper announces itself, then futex-waits on the word. seq_cst on
     * both sides: one of them sees the other. */
    gort__exec_wakeup w = {.fd = 0, .futex = false};
    atomic_fetch_add(&e->signal, 1);
    w.futex = atomic_load(&e->sleeping) != 0;
    if (e->wake_fd > 0 && !e->fd_signalled) {
        w.fd = e->wake_fd;
        e->fd_signalled = true; /* a burst of wakes before the next drain: one write */
    }
    if (w.futex || w.fd)
        atomic_fetch_add_explicit(&e->wakers, 1, memory_order_relaxed); /* under the lock */
    return w;
}

GORT__CORE gort__exec_wakeup gort__exec_wake_begin(gort__exec *e)
{
    gort__lock_acquire(&e->lock);
    gort__exec_wakeup w = exec_wake_decide_locked(e);
    gort__lock_release(&e->lock);
    return w;
}

GORT__CORE void gort__exec_wake_end(gort__exec *e, gort__exec_wakeup w)
{
    if (!w.futex && !w.fd)
        return;
    if (w.futex)
        gort__futex_wake(&e->signal, 1);
    if (w.fd) {
        uint64_t one = 1; /* eventfd: readable until the loop drains it */
        ssize_t ignored = write(w.fd, &one, sizeof one);
        (void)ignored;
    }
    /* Last touch of e. Release: a drain or free that sees the count drop
     * also sees the write done. */
    atomic_fetch_sub_explicit(&e->wakers, 1, memory_order_release);
}

GORT__CORE void gort__exec_wake(gort__exec *e)
{
    gort__exec_wake_end(e, gort__exec_wake_begin(e));
}

GORT__CORE void gort__exec_quiesce(gort__exec *e)
{
    while (atomic_load_explicit(&e->wakers, memory_order_acquire) != 0)
        sched_yield(); /* a waker between its decision and the end of a system call */
}

GORT__CORE void gort__exec_sleep(gort__exec *e, uint32_t seen, int64_t deadline)
{
    atomic_store(&e->sleeping, 1);
    gort__futex_wait(&e->signal, seen, deadline);
    atomic_store(&e->sleeping, 0);
}

GORT__CORE gort__g *gort__exec_take(gort__exec *e)
{
    return exec_pop(e);
}

GORT__CORE bool gort__exec_idle(gort__exec *e)
{
    gort__lock_acquire(&e->lock);
    bool idle = e->head == NULL;
    gort__lock_release(&e->lock);
    return idle;
}

GORT__CORE static gort__g *exec_pop(gort__exec *e)
{
    gort__lock_acquire(&e->lock);
    gort__g *g = e->head;
    if (g) {
        e->head = g->schedlink;
        if (!e->head)
            e->tail = NULL;
    }
    gort__lock_release(&e->lock);
    return g;
}

/* ---- making goroutines runnable ------------------------------------------ */

/* g is runnable: put it where it will run. next: it should run soon (the
 * runnext slot), as for a freshly readied or spawned goroutine. Returns
 * true if this P's run queue overflowed into the global queue. */
GORT__CORE static bool make_runnable(gort__g *g, bool next)
{
    GORT__RSTORE(g->status, GORT__GS_RUNNABLE);
    if (g->home) {
        exec_push(g->home, g);
        return false;
    }
    gort__m *m = gort__this_m();
    bool overflow = false;
    if (m && m->p) {
        if (next)
            GORT__STAT(READY_NEXT);
        overflow = runqput(m->p, g, next);
    } else {
        globrunq_put(g);
    }
    if (m && m->defer_wakep)
        m->wakep_owed = true;
    else if (!(m && m->p))
        wakep();
    else if (gort__S.nprocs > 1)
        wakep_local(m->p); /* with one P, held by us, no P can be idle */
    return overflow;
}

/* Poll the network, readying what is ready as one batch: one wakep() for
 * the whole batch instead of one per goroutine (a woken spinning M wakes the
 * next one when it finds work, so a big batch still spreads over the Ps).
 * An M without a P (the blocking poller) does not pay the wake here: it is
 * about to take an idle P and run what it readied itself, and a wakep()
 * now would hand that P (at one P, the only one) to another M — a futex
 * wake and a thread switch per poll. It calls netpoll_settle_wake once it
 * holds a P (or knows there is none). */
GORT__CORE static int netpoll_batch(gort__m *m, int64_t until)
{
    m->defer_wakep = true;
    int n = gort__netpoll_poll(until);
    m->defer_wakep = false;
    if (m->wakep_owed && m->p) {
        m->wakep_owed = false;
        wakep();
    }
    return n;
}

/* The P-less poller of find_runnable, after taking an idle P (had_p) or
 * failing to: pay the wake netpoll_batch deferred. With a P, the first of
 * the `readied` goroutines is ours to run, so another M is worth waking
 * only for the rest (Go's findRunnable runs one itself and injectglist
 * starts Ms for the others). Without a P, every P is busy: their Ms find
 * the goroutines on the global queue, and an M that idles its P checks
 * that queue under sched.lock first, so the wakep() is a cheap no-op kept
 * for the race with a P going idle. */
GORT__CORE static void netpoll_settle_wake(gort__m *m, bool had_p, int readied)
{
    if (!m->wakep_owed)
        return;
    m->wakep_owed = false;
    if (!had_p || readied > 1)
        wakep();
}

GORT__CORE void gort__ready(gort__g *g)
{
    uint32_t s = atomic_load_explicit(&g->park_state, memory_order_acquire);
    /* Still on its way to parking: leave it a permit; its park's CAS fails. */
    if (s == GORT__G_RUNNING &&
        atomic_compare_exchange_strong_explicit(&g->park_state, &s, GORT__G_NOTIFIED,
                                                memory_order_acq_rel, memory_order_acquire))
        return;
    /* s is what we (or the failed CAS) found. PARKED: the park committed,
     * and only this one ready may touch the word now, so a plain store
     * suffices (the run-queue publication below orders it before the G
     * runs again). */
    if (s != GORT__G_PARKED)
        gort__fatal("goroutine %llu readied twice", (unsigned long long)g->id);
    atomic_store_explicit(&g->park_state, GORT__G_RUNNING, memory_order_relaxed);
    GORT__STAT(READY);
    make_runnable(g, true);
}

/* ---- Ms: creation, waking ------------------------------------------------ */

/* sched.lock held. Create a thread that starts with P p (may be NULL for an
 * executor). Returns false if it could not. */
GORT__CORE static gort__m *newm_locked(gort__p *p, bool spinning, gort__exec *exec)
{
    if (gort__S.mcount >= gort__S.max_threads)
        gort__fatal("thread exhaustion: more than %d threads (raise gort_config.max_threads)",
                    gort__S.max_threads);
    gort__m *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->nextp = p;
    m->spinning = spinning;
    m->exec = exec;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 << 10);
    GORT__STAT(NEWM);
    int err = pthread_create(&m->thread, &attr, mstart, m);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        free(m);
        return NULL;
    }
    m->alllink = gort__S.allm;
    gort__S.allm = m;
    gort__S.mcount++;
    if (!exec)
        gort__S.mcount_pool++;
    return m;
}

static void poller_kick(gort__m *poller);

/* Hand P p (or any idle P if NULL) to an idle or new M. */
GORT__CORE static void startm(gort__p *p, bool spinning)
{
    gort__lock_acquire(&gort__S.lock);
    if (atomic_load(&gort__S.stopping))
        goto fail;
    if (!p) {
        p = pidleget();
        if (!p)
            goto fail;
    }
    gort__m *m = gort__S.midle;
    if (m) {
        gort__S.midle = m->idlelink;
        gort__S.nmidle--;
        m->nextp = p;
        m->spinning = spinning;
        gort__lock_release(&gort__S.lock);
        mwake(m);
        return;
    }
    if (newm_locked(p, spinning, NULL)) {
        gort__lock_release(&gort__S.lock);
        return;
    }
    /* No thread (ENOMEM, EAGAIN): the work stays queued and sysmon retries
     * (gort__mstart_retry), so a goroutine accepted still runs. Meanwhile
     * the poller (the M sleeping until the next timer or I/O, which is on
     * no idle list) can run it: wake it, or with thread creation failing
     * for good the work would wait for an unrelated timer or fd forever. */
    atomic_store(&gort__S.mstart_failed, 1);
    pidleput(p);
    gort__m *poller = gort__S.poller;
    gort__lock_release(&gort__S.lock);
    if (poller)
        poller_kick(poller);
    if (spinning)
        atomic_fetch_sub(&gort__S.nmspinning, 1);
    return;
fail:
    gort__lock_release(&gort__S.lock);
    if (spinning)
        atomic_fetch_sub(&gort__S.nmspinning, 1);
}

/* Wake the napping spinner (spinner_nap), if any: there is work for it. */
GORT__CORE static void napper_kick(void)
{
    if (atomic_load_explicit(&gort__S.napper, memory_order_relaxed) == NULL)
        return;
    gort__m *napper = atomic_exchange(&gort__S.napper, NULL);
    if (napper)
        mwake(napper);
}

/* Start a spinning M if there is an idle P and nobody spinning. kick: the
 * work is worth stealing, so a napping spinner (which holds a P and counts
 * as spinning) is woken to look now. */
GORT__CORE static void wakep_spinner(bool kick)
{
    if (kick)
        napper_kick();
    if (atomic_load_explicit(&gort__S.npidle, memory_order_relaxed) == 0)
        return;
    int zero = 0;
    if (atomic_load_explicit(&gort__S.nmspinning, memory_order_relaxed) != 0 ||
        !atomic_compare_exchange_strong(&gort__S.nmspinning, &zero, 1))
        return;
    GORT__STAT(WAKEP_START);
    startm(NULL, true);
}

/* wakep for work the caller has just put on its own P's run queue. Its own
 * M runs that work anyway, so this is about parallelism only:
 *   - no StoreLoad fence: a stale read of npidle/nmspinning costs
 *     parallelism, never a lost wake-up (Go's ready/wakep have none);
 *   - with more Ps than CPUs, no new M once as many Ms run goroutines as
 *     there are CPUs: it could only take a CPU from one of them (a futex
 *     wake-up and an OS context switch each way, on a VM an IPI), and the
 *     work waits at most until our M gets to it. Go wakes one regardless;
 *     at 8 Ps on 2 CPUs that is where its time goes. */
GORT__CORE static void wakep_local(gort__p *p)
{
    GORT__STAT(WAKEP);
    int nprocs = gort__S.nprocs;
    if (nprocs > gort__S.ncpu &&
        nprocs - atomic_load_explicit(&gort__S.npidle, memory_order_relaxed) -
                atomic_load_explicit(&gort__S.nmspinning, memory_order_relaxed) >=
            gort__S.ncpu)
        return;
    /* Only runnext holds work: the G that just ran, or the one readied
     * last, whose readier most likely parks next and hands off to it — no
     * reason to wake a napper that sleeps beside exactly that pair. */
    wakep_spinner(!gort__runq_ring_empty(&p->runq));
}

/* The same for work that only another M can pick up (the global queue, a
 * timer nobody polls): the StoreLoad fence pairs with the spinner's
 * decrement-then-recheck (see the top of this file). */
GORT__CORE static void wakep(void)
{
    GORT__STAT(WAKEP);
    atomic_thread_fence(memory_order_seq_cst); /* publish work, then look */
    wakep_spinner(true);
}

/* Before accepting pool work (a goroutine, a timer): make sure the pool
 * has at least one thread. Once one exists it never exits before shutdown,
 * so accepted work is run by it or by threads started later (sysmon
 * retries failed starts). Without any, nothing could ever run the work, so
 * the call is refused: GORT_EAGAIN (no thread could be created). */
GORT__CORE int gort__pool_ensure_m(void)
{
    if (atomic_load_explicit(&gort__S.pool_started, memory_order_acquire))
        return 0;
    int err = 0;
    gort__lock_acquire(&gort__S.lock);
    if (gort__S.mcount_pool == 0 && !atomic_load(&gort__S.stopping)) {
        gort__p *p = pidleget();
        if (p && !newm_locked(p, false, NULL)) {
            pidleput(p);
            err = GORT_EAGAIN;
        }
    }
    if (gort__S.mcount_pool > 0)
        atomic_store_explicit(&gort__S.pool_started, 1, memory_order_release);
    gort__lock_release(&gort__S.lock);
    return err;
}

GORT__CORE bool gort__mstart_retry(void)
{
    if (!atomic_load_explicit(&gort__S.mstart_failed, memory_order_relaxed) ||
        !atomic_exchange(&gort__S.mstart_failed, 0))
        return false;
    wakep();
    return true;
}

GORT__CORE static void reset_spinning(gort__m *m)
{
    m->spinning = false;
    if (atomic_fetch_sub(&gort__S.nmspinning, 1) == 1)
        wakep(); /* we were the last spinner: let another look for more work */
}

/* ---- timers glue --------------------------------------------------------- */

GORT__CORE gort__p *gort__timer_home(void)
{
    gort__m *m = gort__this_m();
    if (m && m->p)
        return m->p;
    return gort__S.allp[gort__randn((uint32_t)gort__S.nprocs)];
}

/* sched.lock held. If the poller sleeps past `when`, bring its deadline
 * forward and return it: the caller wakes it with poller_kick() after
 * unlocking (it then recomputes the earliest timer itself). NULL if there
 * is no poller or it wakes up in time anyway. */
GORT__CORE static gort__m *poller_advance_locked(int64_t when)
{
    gort__m *poller = gort__S.poller;
    if (!poller || when >= atomic_load_explicit(&gort__S.poll_until, memory_order_relaxed))
        return NULL;
    atomic_store_explicit(&gort__S.poll_until, when, memory_order_release);
    return poller;
}

GORT__CORE static void poller_kick(gort__m *poller)
{
    mwake(poller);
    if (atomic_load(&gort__S.in_netpoll))
        gort__netpoll_break();
}

GORT__CORE void gort__timers_changed(int64_t when)
{
    if (when >= atomic_load_explicit(&gort__S.poll_until, memory_order_acquire))
        return; /* the poller wakes up in time anyway */
    gort__lock_acquire(&gort__S.lock);
    gort__m *poller = gort__S.poller;
    gort__m *kick = poller_advance_locked(when);
    gort__lock_release(&gort__S.lock);
    if (kick)
        poller_kick(kick);
    else if (!poller)
        wakep();
}

GORT__CORE static int64_t earliest_timer(void)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < gort__S.nprocs; i++) {
        int64_t w = atomic_load_explicit(&gort__S.allp[i]->timers.first, memory_order_acquire);
        if (w < next)
            next = w;
    }
    return next;
}

/* Fire p's due timers; returns its next deadline. Reads the clock only when
 * something is armed. */
GORT__CORE static int64_t check_timers(gort__p *p, int64_t *now)
{
    int64_t first = atomic_load_explicit(&p->timers.first, memory_order_acquire);
    if (first == INT64_MAX)
        return first;
    if (*now == 0)
        *now = gort_now();
    if (first > *now)
        return first;
    return gort__timers_run(&p->timers, *now);
}

/* ---- finding work -------------------------------------------------------- */

/* Before stealing a running victim's runnext, sleep ~3 us (Go's
 * usleep(3); the kernel makes it tens of us): the victim is most likely
 * about to run it itself (a channel hand-off takes ~100 ns), and stealing
 * would split a ping-pong pair across cores, turning every hand-off into a
 * cross-thread wake-up. Sleeping rather than spinning leaves the core to the
 * victim on a loaded machine. */
GORT__CORE static void short_pause(void)
{
    GORT__STAT(PAUSE);
    struct timespec ts = {0, 3000};
    nanosleep(&ts, NULL);
}

/* *pair: some victim took its runnext itself during the pause (a hand-off
 * pair runs there). */
GORT__CORE static gort__g *steal_work(gort__m *m, int64_t *now, bool *pair)
{
    gort__p *p = m->p;
    int n = gort__S.nprocs;
    for (int pass = 0; pass < STEAL_PASSES; pass++) {
        bool last = pass == STEAL_PASSES - 1;
        uint32_t start = gort__randn((uint32_t)n);
        for (int k = 0; k < n; k++) {
            if (atomic_load_explicit(&gort__S.stopping, memory_order_relaxed))
                return NULL;
            gort__p *victim = gort__S.allp[(start + (uint32_t)k) % (uint32_t)n];
            if (victim == p)
                continue;
            bool steal_next = last;
            if (last) {
                check_timers(victim, now);
                bool from_next;
                gort__g *g = gort__runq_get(&p->runq, &from_next);
                if (g)
                    return g; /* a victim's timer readied something onto our queue */
                if (GORT__RLOAD(victim->m) &&
                    atomic_load_explicit(&victim->runq.runnext, memory_order_relaxed)) {
                    uint32_t taken = GORT__RLOAD(victim->runq.next_taken);
                    short_pause();
                    /* It took runnext meanwhile: it is handing off (a
                     * ping-pong pair); what sits there now is the next
                     * turn, which it runs itself in a moment. Stealing
                     * it would split the pair across CPUs. */
                    steal_next = GORT__RLOAD(victim->runq.next_taken) == taken;
                    if (!steal_next) {
                        GORT__STAT(STEAL_NEXT_SKIP);
                        *pair = true;
                    }
                }
            }
            gort__g *g = gort__runq_steal(&p->runq, &victim->runq, steal_next);
            if (g) {
                GORT__STAT(STEAL);
                return g;
            }
        }
    }
    return NULL;
}

/* A spinning M that found nothing to steal but a hand-off pair (a victim
 * that took its own runnext during the pause) naps instead of giving up
 * its P: given up, it would go to sleep, the pair's next ready would see
 * an idle P and nobody spinning and wake it again (a futex wake-up paid by
 * the pair, an IPI on a VM, every ~60 us: measured 2 370 wake-ups per 2M
 * ping-pong round trips, ~15% of the P=2 round trip). Napping,
 * it still counts as spinning, so the pair's readies start nobody; work
 * worth stealing (a ready that leaves the ring non-empty, the global
 * queue, a timer: wakep_spinner's kick) wakes it at once, and otherwise it
 * looks again after SPINNER_NAP_NS or at the earliest timer. One napper at
 * a time (gort__S.napper). Returns false if it did not nap (another M
 * naps).
 * The kick is Dekker's handshake for work published with a fence (wakep):
 * the napper registers (seq_cst) and then re-checks the global queue and
 * every ring (seq_cst loads); the producer publishes, fences and then reads
 * napper. Work a wakep_local producer (no fence) published may wait out the
 * nap: it sits on that producer's P, whose M runs it anyway. */
#define SPINNER_NAP_NS (1 * GORT_MILLISECOND)

GORT__CORE static bool spinner_nap(gort__m *m)
{
    gort__m *none = NULL;
    atomic_store_explicit(&m->park, 0, memory_order_relaxed);
    if (!atomic_compare_exchange_strong(&gort__S.napper, &none, m))
        return false;
    bool work = atomic_load(&gort__S.runq_size) > 0;
    for (int i = 0; !work && i < gort__S.nprocs; i++)
        work = !gort__runq_ring_empty(&gort__S.allp[i]->runq);
    if (!work) {
        int64_t until = gort_now() + SPINNER_NAP_NS, timer = earliest_timer();
        GORT__STAT(NAP);
        mpark(m, timer < until ? timer : until);
    }
    gort__m *self = m;
    /* Fails if a kicker took us: its mwake may still come, and finds the
     * next sleep of this M spurious, which every sleep tolerates. */
    atomic_compare_exchange_strong(&gort__S.napper, &self, NULL);
    return true;
}

/* Find a runnable goroutine for m (which holds a P on entry and on a
 * non-NULL return). Blocks when there is nothing to do. NULL: the engine is
 * stopping (m holds no P then). */
GORT__CORE static gort__g *find_runnable(gort__m *m)
{
    gort__g *g;
    bool from_next;
    gort__p *p = m->p;
    if (!p)
        goto idle; /* came back from a syscall whose P was handed off */
top:
    p = m->p;
    if (atomic_load_explicit(&gort__S.stopping, memory_order_relaxed))
        return NULL;
    int64_t now = 0;
    check_timers(p, &now);
    /* p->schedtick counts time slices, not scheduling rounds: a G taken
     * from runnext inherits the slice of the G that readied it (Go's
     * inheritTime). Otherwise a pair readying each other through runnext
     * would look like fresh slices to sysmon forever and starve the ring
     * (at one P, for good); with it, sysmon makes the pair yield after
     * FORCE_PREEMPT_NS. Every other source below starts a new slice. */
    uint32_t tick = GORT__RLOAD(p->schedtick) + 1;
    /* Fairness: every 61st tick, and right after a yield (Go sends Gosched
     * through the global queue; we keep the yielder local but still let
     * global work in ahead of it). */
    bool yielded = p->yielded;
    p->yielded = false;
    if ((yielded || tick % GLOBAL_FAIRNESS_TICK == 0) &&
        atomic_load_explicit(&gort__S.runq_size, memory_order_relaxed) > 0) {
        gort__lock_acquire(&gort__S.lock);
        g = globrunq_get(p, 1);
        gort__lock_release(&gort__S.lock);
        if (g) {
            GORT__RSTORE(p->schedtick, tick);
            return g;
        }
    }
    if ((g = gort__runq_get(&p->runq, &from_next))) {
        if (from_next) {
            GORT__STAT(RUN_NEXT);
        } else {
            GORT__STAT(RUN_RING);
            GORT__RSTORE(p->schedtick, tick);
        }
        return g;
    }
    GORT__RSTORE(p->schedtick, tick);
    if (atomic_load_explicit(&gort__S.runq_size, memory_order_relaxed) > 0) {
        gort__lock_acquire(&gort__S.lock);
        g = globrunq_get(p, 0);
        gort__lock_release(&gort__S.lock);
        if (g) {
            GORT__STAT(RUN_GLOBAL);
            return g;
        }
    }
    /* Non-blocking network poll: what it readies lands on our run queue. */
    if (gort__netpoll_pending() && netpoll_batch(m, GORT_NOWAIT) > 0) {
        atomic_store_explicit(&gort__S.last_poll, now ? now : gort_now(), memory_order_relaxed);
        if ((g = gort__runq_get(&p->runq, &from_next)))
            return g;
    }
    /* Spin only if fewer than half of the busy Ps have a spinning M. */
    int busy = gort__S.nprocs - atomic_load(&gort__S.npidle);
    if (m->spinning || 2 * atomic_load(&gort__S.nmspinning) < busy) {
        if (!m->spinning) {
            m->spinning = true;
            atomic_fetch_add(&gort__S.nmspinning, 1);
        }
        GORT__STAT(SPIN);
        bool pair = false;
        if ((g = steal_work(m, &now, &pair)))
            return g;
        if (pair && spinner_nap(m))
            goto top;
    }

    /* Nothing: give up the P. */
    gort__lock_acquire(&gort__S.lock);
    if (atomic_load_explicit(&gort__S.runq_size, memory_order_relaxed) > 0) {
        g = globrunq_get(p, 0);
        gort__lock_release(&gort__S.lock);
        return g;
    }
    m->p = NULL;
    pidleput(p);
    gort__lock_release(&gort__S.lock);
    GORT__STAT(MPARK);

idle:
    if (m->spinning) {
        m->spinning = false;
        atomic_fetch_sub(&gort__S.nmspinning, 1); /* seq_cst: then re-check all queues */
        bool work = atomic_load(&gort__S.runq_size) > 0;
        for (int i = 0; !work && i < gort__S.nprocs; i++)
            work = !gort__runq_empty(&gort__S.allp[i]->runq);
        if (work) {
            gort__lock_acquire(&gort__S.lock);
            p = pidleget();
            gort__lock_release(&gort__S.lock);
            if (p) {
                acquirep(m, p);
                m->spinning = true;
                atomic_fetch_add(&gort__S.nmspinning, 1);
                goto top;
            }
        }
    }

    for (;;) {
        gort__lock_acquire(&gort__S.lock);
        if (atomic_load(&gort__S.stopping)) {
            gort__lock_release(&gort__S.lock);
            return NULL;
        }
        int64_t next = earliest_timer();
        bool io = gort__netpoll_pending();
        atomic_store_explicit(&m->park, 0, memory_order_relaxed);
        if ((next != INT64_MAX || io) && !gort__S.poller) {
            /* Become the poller: sleep until the earliest timer, in the
             * network poller if goroutines wait for I/O. */
            gort__S.poller = m;
            atomic_store_explicit(&gort__S.poll_until, next, memory_order_release);
            if (io)
                atomic_store(&gort__S.in_netpoll, 1);
            gort__lock_release(&gort__S.lock);
            int readied = 0;
            if (io) {
                readied = netpoll_batch(m, next == INT64_MAX ? GORT_FOREVER : next);
                atomic_store(&gort__S.in_netpoll, 0);
                atomic_store_explicit(&gort__S.last_poll, gort_now(), memory_order_relaxed);
            } else {
                mpark(m, next);
            }
            gort__lock_acquire(&gort__S.lock);
            gort__S.poller = NULL;
            atomic_store_explicit(&gort__S.poll_until, INT64_MAX, memory_order_release);
            p = atomic_load(&gort__S.stopping) ? NULL : pidleget();
            gort__lock_release(&gort__S.lock);
            if (p)
                acquirep(m, p);
            netpoll_settle_wake(m, p != NULL, readied);
            if (p)
                goto top;
            /* Every P is busy: fire due timers without a P (what they ready
             * goes to the global queue) and sleep again. */
            int64_t tnow = gort_now();
            for (int i = 0; i < gort__S.nprocs; i++)
                gort__timers_run(&gort__S.allp[i]->timers, tnow);
            continue;
        }
        /* Plain idle M: sleep until startm hands us a P. It sleeps without
         * a deadline, so first make sure the poller covers the earliest
         * timer this M has just seen (Go's findRunnable does the same with
         * netpollBreak): that poller may have computed its deadline while a
         * timer was out of every heap (a periodic timer whose callback was
         * running, see gort__timers_run), and once this M parks, nobody
         * else is left looking at the heaps. Likewise for the network: a
         * poller that went to sleep for a timer alone (in a futex, not in
         * epoll) before goroutines began to wait for I/O must be woken to
         * poll, or their readiness waits for sysmon's stale poll (10 ms). */
        gort__m *kick = next != INT64_MAX ? poller_advance_locked(next) : NULL;
        if (!kick && io && gort__S.poller && !atomic_load(&gort__S.in_netpoll))
            kick = gort__S.poller;
        m->idlelink = gort__S.midle;
        gort__S.midle = m;
        gort__S.nmidle++;
        if (next == INT64_MAX && !io)
            gort__checkdead();
        gort__lock_release(&gort__S.lock);
        if (kick)
            poller_kick(kick);
        mpark(m, GORT_FOREVER);
        gort__lock_acquire(&gort__S.lock);
        p = m->nextp;
        m->nextp = NULL;
        if (!p) {
            /* Woken by shutdown (or spuriously): off the idle list if still there. */
            for (gort__m **pp = &gort__S.midle; *pp; pp = &(*pp)->idlelink)
                if (*pp == m) {
                    *pp = m->idlelink;
                    gort__S.nmidle--;
                    break;
                }
            gort__lock_release(&gort__S.lock);
            continue;
        }
        gort__lock_release(&gort__S.lock);
        acquirep(m, p);
        goto top;
    }
}

/* ---- running goroutines -------------------------------------------------- */

static void g_free(gort__m *m, gort__g *g);

/* g's registers are saved on its stack: account for the stack it used. */
GORT__CORE static void g_switched_out(gort__g *g)
{
    uintptr_t sp = (uintptr_t)g->ctx.sp;
    if (!g->lowest_sp || sp < g->lowest_sp)
        g->lowest_sp = sp;
    gort__stack_check(g);
}

/* g has switched away to park (its commit in m->op_fn/op_arg): commit the
 * park. false: a ready came first and g must continue. */
GORT__CORE static bool park_commit(gort__m *m, gort__g *g)
{
    GORT__RSTORE(g->status, GORT__GS_WAITING);
    if (m->op_fn)
        m->op_fn(m->op_arg);
    uint32_t expect = GORT__G_RUNNING;
    if (atomic_compare_exchange_strong_explicit(&g->park_state, &expect, GORT__G_PARKED,
                                                memory_order_acq_rel, memory_order_acquire)) {
        GORT__STAT(GPARK);
        return true; /* g may already be running elsewhere: hands off */
    }
    /* NOTIFIED: the wake-up came first. */
    atomic_store_explicit(&g->park_state, GORT__G_RUNNING, memory_order_relaxed);
    return false;
}

/* Make g the goroutine running on m (it is about to be switched to). */
GORT__CORE static void g_start(gort__m *m, gort__g *g)
{
    g->m = m;
    GORT__RSTORE(g->status, GORT__GS_RUNNING);
    GORT__RSTORE(g->preempt, 0);
}

/* Run g until it switches back to g0 and carry out the request of the G
 * that does (g, or one it handed off to directly). Returns that G again if
 * it must continue at once (a ready raced with its park). */
GORT__CORE static gort__g *execute(gort__m *m, gort__g *g)
{
    g_start(m, g);
    m->op = GORT__OP_NONE;
    GORT__RSTORE(m->curg, g);
    gort__ctx_jump(&m->g0, &g->ctx, 0);
    g = GORT__RLOAD(m->curg); /* not necessarily the G we started: see gort__park */
    GORT__RSTORE(m->curg, NULL);
    g_switched_out(g);
    switch (m->op) {
    case GORT__OP_YIELD:
        GORT__RSTORE(g->status, GORT__GS_RUNNABLE);
        if (g->home)
            exec_push(g->home, g);
        else {
            runqput(m->p, g, false);
            m->p->yielded = true;
        }
        return NULL;
    case GORT__OP_YIELD_GLOBAL:
        GORT__RSTORE(g->status, GORT__GS_RUNNABLE);
        globrunq_put(g); /* only pool goroutines overflow a P's queue: g has no home */
        return NULL;
    case GORT__OP_PARK:
        return park_commit(m, g) ? NULL : g; /* NOTIFIED: continue g right away */
    case GORT__OP_EXIT:
        g_free(m, g);
        return NULL;
    case GORT__OP_LOST_P:
        make_runnable(g, false); /* m holds no P: the global queue */
        return NULL;
    default:
        gort__fatal("goroutine switched to the scheduler without a request");
    }
}

/* The scheduler loop of an M that runs the parallel pool. */
GORT__CORE static void schedule(gort__m *m)
{
    for (;;) {
        gort__g *g = find_runnable(m);
        if (!g)
            return;
        if (m->spinning)
            reset_spinning(m);
        while (g)
            g = execute(m, g);
    }
}

/* The loop of an executor thread: run its goroutines one at a time. */
GORT__CORE static void exec_loop(gort__m *m)
{
    gort__exec *e = m->exec;
    for (;;) {
        uint32_t seen = atomic_load_explicit(&e->signal, memory_order_acquire);
        gort__g *g = exec_pop(e);
        if (g) {
            gort__exec_run(m, g);
            continue;
        }
        if (atomic_load(&e->live) == 0 || atomic_load(&gort__S.stopping))
            return;
        gort__exec_sleep(e, seen, GORT_FOREVER);
    }
}

GORT__CORE static void thread_stack_bounds(gort__ctx *ctx);

GORT__CORE void gort__exec_run(gort__m *m, gort__g *g)
{
    atomic_fetch_add(&gort__S.exec_busy, 1);
    while (g)
        g = execute(m, g);
    atomic_fetch_sub(&gort__S.exec_busy, 1);
}

GORT__CORE gort__m *gort__m_attach(gort__exec *e, void *altstack)
{
    gort__m *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->exec = e;
    m->thread = pthread_self();
    thread_stack_bounds(&m->g0);
    e->m = m;
    gort__guard_thread_start(&m->alt, altstack);
    tls_m = m;
    atomic_fetch_add(&gort__S.threads, 1);
    return m;
}

GORT__CORE void gort__m_detach(gort__m *m)
{
    atomic_fetch_sub(&gort__S.threads, 1);
    tls_m = NULL;
    gort__guard_thread_stop(&m->alt);
    m->exec->m = NULL;
    free(m);
}

/* A thread's stack never moves: computed once per thread. (On the main
 * thread glibc's pthread_getattr_np parses /proc/self/maps, and a host
 * loop that embeds a gort loop attaches at every gort_loop_run_once.) */
static __thread void  *tls_stack_lo;
static __thread size_t tls_stack_size;
static __thread bool   tls_stack_known;

GORT__CORE static void thread_stack_bounds(gort__ctx *ctx)
{
    if (!tls_stack_known) {
        pthread_attr_t attr;
        void *lo = NULL;
        size_t size = 0;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            pthread_attr_getstack(&attr, &lo, &size);
            pthread_attr_destroy(&attr);
        }
        tls_stack_lo = lo;
        tls_stack_size = size;
        tls_stack_known = true;
    }
    ctx->stack_lo = tls_stack_lo;
    ctx->stack_size = tls_stack_size;
#ifdef GORT__TSAN
    ctx->tsan_fiber = __tsan_get_current_fiber();
    ctx->tsan_owned = 0;
#endif
}

GORT__CORE static void *mstart(void *arg)
{
    gort__m *m = arg;
    tls_m = m;
    atomic_fetch_add(&gort__S.threads, 1);
    thread_stack_bounds(&m->g0);
    void *altstack = gort__guard_altstack_map(); /* for the thread's life */
    gort__guard_thread_start(&m->alt, altstack);
    if (m->exec) {
        exec_loop(m);
        gort__lock_acquire(&gort__S.lock);
        gort__S.mcount--; /* its thread is done: it no longer counts against max_threads */
        gort__lock_release(&gort__S.lock);
    } else {
        gort__sysmon_thread_start(m); /* before acquirep publishes m to sysmon */
        gort__lock_acquire(&gort__S.lock);
        gort__p *p = m->nextp;
        m->nextp = NULL;
        gort__lock_release(&gort__S.lock);
        acquirep(m, p);
        schedule(m);
    }
    gort__guard_thread_stop(&m->alt);
    gort__guard_altstack_unmap(altstack);
    tls_m = NULL;
    atomic_fetch_sub(&gort__S.threads, 1);
    return NULL;
}

/* ---- goroutine life cycle ------------------------------------------------ */

void gort__gls_destroy(gort__g *g); /* gls.c: run destructors, clear values */

/* g has just been switched to (it resumes, or starts). If the G that switched
 * to it parked by a direct hand-off (gort__park), commit that park here, on
 * g's stack, now that the parker's registers are saved: what g0 would have
 * done. Meanwhile curg is NULL, so the commit runs as it would on g0
 * (gort__current() is NULL there: no hand-off yield, no preemption). */
GORT__CORE static GORT__NOINLINE void commit_handoff(gort__m *m, gort__g *g, gort__g *prev);

GORT__CORE static inline void finish_handoff(gort__g *g)
{
    gort__m *m = g->m;
    gort__g *prev = m->handoff_from;
    if (prev)
        commit_handoff(m, g, prev);
    /* else switched to by g0 (execute), which set curg */
}

GORT__CORE static GORT__NOINLINE void commit_handoff(gort__m *m, gort__g *g, gort__g *prev)
{
    m->handoff_from = NULL;
    g_switched_out(prev);
    if (!park_commit(m, prev))
        make_runnable(prev, true); /* readied before it parked: run it next */
    GORT__RSTORE(m->curg, g);
}

/* Switch from goroutine g to its M's scheduler context with request op. */
GORT__CORE static void g_to_scheduler(gort__g *g, int op)
{
    gort__m *m = g->m;
    m->op = op;
    gort__ctx_jump(&g->ctx, &m->g0, op == GORT__OP_EXIT);
    finish_handoff(g); /* g->m: the M that resumed g (it set it) */
}

GORT__CORE static _Noreturn void g_entry(void *arg)
{
    gort__ctx_started();
    gort__g *g = arg;
    finish_handoff(g);
    g->fn(g->arg);
    gort__gls_destroy(g);
    g_to_scheduler(g, GORT__OP_EXIT);
    gort__fatal("dead goroutine resumed");
}

GORT__CORE static void allg_add(gort__g *g)
{
    gort__lock_acquire(&gort__S.allg_lock);
    g->allprev = NULL;
    g->alllink = gort__S.allg;
    if (gort__S.allg)
        gort__S.allg->allprev = g;
    gort__S.allg = g;
    g->listed = 1;
    gort__lock_release(&gort__S.allg_lock);
}

GORT__CORE static void allg_remove(gort__g *g)
{
    gort__lock_acquire(&gort__S.allg_lock);
    if (g->allprev)
        g->allprev->alllink = g->alllink;
    else
        gort__S.allg = g->alllink;
    if (g->alllink)
        g->alllink->allprev = g->allprev;
    g->listed = 0;
    gort__lock_release(&gort__S.allg_lock);
}

/* On g0, after g's last switch. */
/* TSan caps threads + fibers at 8128: a fiber lives exactly as long as its
 * goroutine (created in g_alloc, destroyed here, on g0 — never the current
 * fiber). */
GORT__CORE static void g_release_fiber(gort__g *g)
{
#ifdef GORT__TSAN
    __tsan_destroy_fiber(g->ctx.tsan_fiber);
    g->ctx.tsan_fiber = NULL;
    g->ctx.tsan_owned = 0;
#else
    (void)g;
#endif
}

/* Count a spawn or an exit: on `own`, a counter of the P this thread holds
 * (only it writes there, so no locked instruction), or, holding no P (own
 * NULL), on the shared one. The store-release orders a spawn's count before
 * the goroutine is published and an exit's after everything the goroutine
 * did (see gort__num_goroutines). */
GORT__CORE static void count_goroutine(_Atomic uint64_t *own, _Atomic uint64_t *shared)
{
    if (own)
        atomic_store_explicit(own, atomic_load_explicit(own, memory_order_relaxed) + 1,
                              memory_order_release);
    else
        atomic_fetch_add(shared, 1);
}

/* Exits are read before spawns, each with acquire: a goroutine counted as
 * exited was spawned before its exit, so its spawn is counted too and the
 * difference never goes below the number alive when the exits were read
 * (it may include goroutines spawned while the spawns were being read, and
 * it is exact when nothing runs). Never negative. */
GORT__CORE int64_t gort__num_goroutines(void)
{
    uint64_t exited = atomic_load(&gort__S.exited_nop), spawned;
    for (int i = 0; i < gort__S.nprocs; i++)
        exited += atomic_load_explicit(&gort__S.allp[i]->nexited, memory_order_acquire);
    spawned = atomic_load(&gort__S.spawned_nop);
    for (int i = 0; i < gort__S.nprocs; i++)
        spawned += atomic_load_explicit(&gort__S.allp[i]->nspawned, memory_order_acquire);
    return (int64_t)(spawned - exited);
}

GORT__CORE static void g_free(gort__m *m, gort__g *g)
{
    GORT__RSTORE(g->status, GORT__GS_DEAD);
    g_release_fiber(g);
    count_goroutine(m->p ? &m->p->nexited : NULL, &gort__S.exited_nop);
    if (g->home) {
        atomic_fetch_sub(&g->home->live, 1);
        g->home = NULL;
    }
    if (!g->default_size) {
        allg_remove(g);
        gort__slot_free(g);
        return;
    }
    gort__slot_trim(g);
    gort__p *p = m->p;
    if (!p || g->from_pool) {
        /* A foreign thread's goroutine gives its slot back where that
         * thread takes slots from: kept in this P's cache, out of its
         * reach, it would be replaced by a fresh one (a madvise and page
         * faults; measured: nearly every fn.async call of the Node crc32
         * benchmark built a new slot, 9 slabs for 576 calls). */
        gort__slot_free(g);
        return;
    }
    g->schedlink = p->gfree;
    p->gfree = g;
    if (++p->ngfree > GFREE_MAX) {
        /* Spill half to the shared pool so other Ps can reuse them. */
        gort__g *head = p->gfree, *tail = head;
        for (int i = 1; i < GFREE_MAX / 2; i++)
            tail = tail->schedlink;
        p->gfree = tail->schedlink;
        p->ngfree -= GFREE_MAX / 2;
        gort__slot_free_batch(head, tail);
        GORT__STAT(GFREE_SPILL);
    }
}

GORT__CORE static gort__g *g_alloc(gort__p *p, size_t slot_size)
{
    gort__g *g = NULL;
    if (p && slot_size == gort__S.stack_size) {
        if (!p->gfree) {
            p->ngfree = gort__slot_alloc_batch(&p->gfree, GFREE_REFILL);
            GORT__STAT(GFREE_REFILL);
        }
        if (!p->gfree)
            return NULL;
        g = p->gfree;
        p->gfree = g->schedlink;
        p->ngfree--;
    } else {
        g = gort__slot_alloc(slot_size);
        if (!g)
            return NULL;
    }
    g->from_pool = !p;
    if (!g->listed)
        allg_add(g);
#ifdef GORT__TSAN
    g->ctx.tsan_fiber = __tsan_create_fiber(0);
    g->ctx.tsan_owned = 1;
#endif
    return g;
}

GORT__CORE static uint64_t new_goid(gort__p *p)
{
    if (!p)
        return atomic_fetch_add(&gort__S.goid, 1) + 1;
    if (p->goid_next == p->goid_end) {
        p->goid_next = atomic_fetch_add(&gort__S.goid, GOID_BATCH) + 1;
        p->goid_end = p->goid_next + GOID_BATCH;
    }
    return p->goid_next++;
}

GORT__CORE static size_t round_slot(size_t stack_size)
{
    size_t page = gort__page_size();
    return (stack_size + page - 1) & ~(page - 1);
}

GORT__CORE GORT_API void gort_go_options_init(gort_go_options *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
}

#define GORT__STACK_MIN ((size_t)16 << 10)
#define GORT__STACK_MAX ((size_t)1 << 30)

static gort__exec *exec_new(gort__g *g);

GORT__CORE static int spawn(void (*fn)(void *), void *arg, const gort_go_options *opts,
                            gort__exec *home, uintptr_t creator);

GORT__CORE GORT_API int gort_go_opts(void (*fn)(void *), void *arg, const gort_go_options *opts)
{
    return spawn(fn, arg, opts, NULL, (uintptr_t)__builtin_return_address(0));
}

GORT__CORE int gort__spawn_on(gort__exec *e, void (*fn)(void *), void *arg,
                              const gort_go_options *opts)
{
    if (opts && opts->pinned)
        return GORT_EINVAL; /* it runs on e's thread: it cannot have its own */
    return spawn(fn, arg, opts, e, (uintptr_t)__builtin_return_address(0));
}

/* Spawn fn(arg): on the parallel pool, on executor `home`, or (opts->pinned)
 * on a new executor thread of its own. */
GORT__CORE static int spawn_admitted(void (*fn)(void *), void *arg, const gort_go_options *opts,
                                     gort__exec *home, uintptr_t creator);

GORT__CORE static int spawn(void (*fn)(void *), void *arg, const gort_go_options *opts,
                            gort__exec *home, uintptr_t creator)
{
    if (!fn)
        return GORT_EINVAL;
    int err = gort__enter();
    if (err)
        return err;
    err = spawn_admitted(fn, arg, opts, home, creator);
    gort__leave();
    return err;
}

GORT__CORE static int spawn_admitted(void (*fn)(void *), void *arg, const gort_go_options *opts,
                                     gort__exec *home, uintptr_t creator)
{
    size_t slot_size = gort__S.stack_size;
    bool pinned = false;
    const char *name = NULL;
    if (opts) {
        if (opts->stack_size) {
            if (opts->stack_size > GORT__STACK_MAX)
                return GORT_EINVAL;
            slot_size = opts->stack_size < GORT__STACK_MIN ? GORT__STACK_MIN : opts->stack_size;
            slot_size = round_slot(slot_size);
        }
        pinned = opts->pinned != 0;
        name = opts->name;
    }
    gort__m *m = gort__this_m();
    gort__p *p = m ? m->p : NULL;
    if (!home && !pinned && !p) {
        int err = gort__pool_ensure_m();
        if (err)
            return err;
    }
    gort__g *g = g_alloc(p, slot_size);
    if (!g)
        return GORT_ENOMEM;
    g->fn = fn;
    g->arg = arg;
    g->creator_pc = creator;
    g->nopreempt = opts && opts->nopreempt ? 1 : 0;
    GORT__RSTORE(g->in_syscall, 0);
    g->id = new_goid(p);
    g->home = NULL;
    GORT__RSTORE(g->wait_reason, GORT__WAIT_NONE);
    atomic_store_explicit(&g->park_state, GORT__G_RUNNING, memory_order_relaxed);
    if (name) {
        strncpy(g->name, name, GORT_NAME_MAX - 1);
        g->name[GORT_NAME_MAX - 1] = 0;
    } else {
        g->name[0] = 0;
    }
    gort__ctx_make(&g->ctx, g->ctx.stack_lo, g->ctx.stack_size, (void (*)(void *))g_entry, g);
    count_goroutine(p ? &p->nspawned : NULL, &gort__S.spawned_nop);
    if (home) {
        g->home = home;
        atomic_fetch_add(&home->live, 1);
        make_runnable(g, false);
        return 0;
    }
    if (pinned) {
        if (!exec_new(g)) {
            count_goroutine(p ? &p->nexited : NULL, &gort__S.exited_nop);
            GORT__RSTORE(g->status, GORT__GS_DEAD);
            g_release_fiber(g);
            if (!g->default_size)
                allg_remove(g);
            gort__slot_free(g);
            return GORT_ENOMEM;
        }
        return 0;
    }
    /* Backpressure: a spawner that overflows its P's run queue (half of
     * the ring went to the global queue) yields behind the global queue,
     * so every goroutine it has spawned so far runs, and its slot returns
     * to this P's free list, before it spawns more. At one P the spawner
     * then reuses the same few hundred slots; yielding only behind the
     * local ring would leave the spilled halves on the global queue
     * (which a P looks at first only every 61st tick) to pile up, each
     * with a fresh slot: at 1M spawns ~480k slots, 1.9 GB of first-touch
     * faults. Go's spawner is preempted after 10 ms and goes to the
     * global queue's tail as well (gopreempt_m), with ~100k spawns done. */
    gort__g *self = m ? GORT__RLOAD(m->curg) : NULL; /* gort__current(): same thread */
    if (make_runnable(g, true) && self) {
        GORT__STAT(SPAWN_YIELD);
        g_to_scheduler(self, GORT__OP_YIELD_GLOBAL);
    } else if (self && GORT__RLOAD(self->preempt)) {
        gort__preempt_point();
    }
    return 0;
}

GORT__CORE GORT_API int gort_go(void (*fn)(void *), void *arg)
{
    return spawn(fn, arg, NULL, NULL, (uintptr_t)__builtin_return_address(0));
}

/* A pinned goroutine gets an executor thread of its own. */
GORT__CORE static gort__exec *exec_new(gort__g *g)
{
    gort__exec *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->live = 1;
    g->home = e;
    GORT__RSTORE(g->status, GORT__GS_RUNNABLE);
    e->head = e->tail = g;
    g->schedlink = NULL;
    gort__lock_acquire(&gort__S.lock);
    gort__m *m = atomic_load(&gort__S.stopping) ? NULL : newm_locked(NULL, false, e);
    if (m)
        e->m = m;
    gort__lock_release(&gort__S.lock);
    if (!m) {
        g->home = NULL;
        free(e);
        return NULL;
    }
    return e;
}

GORT__CORE GORT_API void gort_yield(void)
{
    gort__g *g = gort__current();
    if (!g) {
        sched_yield();
        return;
    }
    g_to_scheduler(g, GORT__OP_YIELD);
}

/* ---- blocking system calls ----------------------------------------------- */

/* Hand a P retaken from a syscall to an M if it has work, else idle it. */
GORT__CORE void gort__handoffp(gort__p *p)
{
    if (!gort__runq_empty(&p->runq) || atomic_load(&gort__S.runq_size) > 0 ||
        atomic_load(&p->timers.first) != INT64_MAX) {
        startm(p, false);
        return;
    }
    int zero = 0;
    if (atomic_load(&gort__S.nmspinning) + atomic_load(&gort__S.npidle) == 0 &&
        atomic_compare_exchange_strong(&gort__S.nmspinning, &zero, 1)) {
        startm(p, true);
        return;
    }
    gort__lock_acquire(&gort__S.lock);
    pidleput(p);
    gort__lock_release(&gort__S.lock);
}

GORT__CORE GORT_API int gort_syscall_enter(void)
{
    gort__g *g = gort__current();
    if (!g)
        return 0; /* a foreign thread blocks only itself */
    if (GORT__RLOAD(g->in_syscall))
        return GORT_EINVAL;
    gort__preempt_point();
    GORT__RSTORE(g->in_syscall, 1);
    GORT__RSTORE(g->wait_reason, GORT__WAIT_SYSCALL);
    GORT__RSTORE(g->wait_since, gort__now_coarse());
    atomic_fetch_add(&gort__S.nsyscall, 1);
    gort__p *p = g->m->p;
    if (p) {
        GORT__RSTORE(p->syscalltick, GORT__RLOAD(p->syscalltick) + 1);
        atomic_store_explicit(&p->status, GORT__P_SYSCALL, memory_order_release);
        /* A backed-off sysmon would take up to 10 ms to notice: wake it. */
        if (atomic_load_explicit(&gort__S.sysmon_slow, memory_order_relaxed))
            gort__sysmon_wake();
    }
    return 0;
}

GORT__CORE GORT_API int gort_syscall_exit(void)
{
    gort__g *g = gort__current();
    if (!g)
        return 0;
    if (!GORT__RLOAD(g->in_syscall))
        return GORT_EINVAL;
    GORT__RSTORE(g->in_syscall, 0);
    GORT__RSTORE(g->wait_reason, GORT__WAIT_NONE);
    atomic_fetch_sub(&gort__S.nsyscall, 1);
    gort__m *m = g->m;
    gort__p *p = m->p;
    if (!p)
        return 0; /* pinned: its executor holds no P */
    uint32_t expect = GORT__P_SYSCALL;
    if (atomic_compare_exchange_strong_explicit(&p->status, &expect, GORT__P_RUNNING,
                                                memory_order_acq_rel, memory_order_acquire))
        return 0; /* fast path: nobody took our P */
    /* sysmon handed our P to another M. Take an idle P, or queue ourselves
     * and let this thread go idle. */
    m->p = NULL;
    gort__lock_acquire(&gort__S.lock);
    p = atomic_load(&gort__S.stopping) ? NULL : pidleget();
    gort__lock_release(&gort__S.lock);
    if (p) {
        acquirep(m, p);
        return 0;
    }
    g_to_scheduler(g, GORT__OP_LOST_P);
    return 0;
}

GORT__CORE GORT_API int gort_blocking(void (*fn)(void *), void *arg)
{
    if (!fn)
        return GORT_EINVAL;
    int err = gort_syscall_enter();
    if (err)
        return err;
    fn(arg);
    return gort_syscall_exit();
}

/* ---- preemption ----------------------------------------------------------- */

GORT__CORE void gort__preempt_point(void)
{
    gort__g *g = gort__current();
    if (g && GORT__RLOAD(g->preempt) && g->nopreempt == 0 && !GORT__RLOAD(g->in_syscall) &&
        gort__tls_locks == 0)
        gort_yield();
}

GORT__CORE void gort__handoff_yield(void)
{
    gort__g *g = gort__current();
    if (g && g->nopreempt == 0)
        gort_yield();
}

GORT__CORE GORT_API void gort_preempt_disable(void)
{
    gort__g *g = gort__current();
    if (g)
        g->nopreempt++;
}

GORT__CORE GORT_API void gort_preempt_enable(void)
{
    gort__g *g = gort__current();
    if (g && g->nopreempt > 0 && --g->nopreempt == 0)
        gort__preempt_point();
}

/* ---- deadlock detection --------------------------------------------------- */

/* Threads in this process, from /proc/self/status ("Threads:"). */
GORT__CORE static int process_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

/* Called, with sched.lock held, by a pool M that has just put itself on
 * the idle list with no timer and no I/O pending. Go's checkdead, adapted
 * to foreign threads: the engine is deadlocked when every pool M is idle
 * (so none is firing a timer or about to queue work), every P is idle,
 * nothing is queued, no goroutine is in a syscall or on a busy executor, no
 * timer or I/O wait is armed, and every thread of the process is either an
 * engine thread or a foreign thread blocked forever in a gort wait (so
 * nobody is left who could wake anyone). Only gort_main acts on it: it
 * reports and returns GORT_EDEADLK; a program that does not use gort_main
 * simply waits, as it asked to. */
GORT__CORE void gort__checkdead(void)
{
    _Atomic uint32_t *main_wait = atomic_load(&gort__S.main_wait);
    if (!main_wait || atomic_load(&gort__S.stopping))
        return;
    if (gort__S.nmidle != gort__S.mcount_pool || atomic_load(&gort__S.npidle) != gort__S.nprocs ||
        atomic_load(&gort__S.nmspinning) || atomic_load(&gort__S.runq_size) ||
        atomic_load(&gort__S.nsyscall) || atomic_load(&gort__S.exec_busy) ||
        atomic_load(&gort__S.loops_running) || earliest_timer() != INT64_MAX || gort__netpoll_pending() ||
        gort__num_goroutines() == 0)
        return;
    for (int i = 0; i < gort__S.nprocs; i++)
        if (!gort__runq_empty(&gort__S.allp[i]->runq))
            return;
    int threads = process_threads();
    if (threads < 0 ||
        threads != atomic_load(&gort__S.threads) + atomic_load(&gort__S.foreign_blocked))
        return;
    /* Only a still-waiting gort_main is told (its word goes 0 -> 2). */
    uint32_t waiting = 0;
    if (!atomic_compare_exchange_strong(main_wait, &waiting, 2))
        return;
    gort__futex_wake(main_wait, 1);
}

/* Stack a direct hand-off leaves for the commit, which runs on the target's
 * stack where it last switched out (a commit may ready goroutines and start
 * a thread); a target deeper than this goes through g0. */
#define HANDOFF_STACK_MIN ((uintptr_t)16 << 10)

/* The goroutine g, parking on m, may switch straight to: the G in runnext
 * of m's P, when nothing else would be done first on g0 — find_runnable
 * would take that same G, with no timer to check on this P, the global
 * queue empty (its fairness turn cannot be due) and the engine not
 * stopping. NULL: park through g0. */
GORT__CORE static gort__g *handoff_target(gort__m *m, gort__g *g)
{
    gort__p *p = m->p;
    if (!p || GORT__RLOAD(g->in_syscall) ||
        atomic_load_explicit(&gort__S.stopping, memory_order_relaxed) ||
        atomic_load_explicit(&p->timers.first, memory_order_relaxed) != INT64_MAX ||
        atomic_load_explicit(&gort__S.runq_size, memory_order_relaxed) != 0)
        return NULL;
    gort__g *next = gort__runq_take_next(&p->runq);
    if (next && (uintptr_t)next->ctx.sp - (uintptr_t)next->ctx.stack_lo < HANDOFF_STACK_MIN) {
        /* Put it back (the slot is empty: nothing is displaced). */
        (void)gort__runq_set_next(&p->runq, next);
        return NULL;
    }
    return next;
}

GORT__CORE void gort__park(void (*commit)(void *), void *commit_arg, gort__wait_reason why)
{
    gort__g *g = gort__current();
    if (!g)
        gort__fatal("gort__park called outside a goroutine");
    GORT__RSTORE(g->wait_reason, why);
    GORT__RSTORE(g->wait_since, gort__now_coarse());
    gort__m *m = g->m;
    m->op_fn = commit;
    m->op_arg = commit_arg;
    gort__g *next = handoff_target(m, g);
    if (!next) {
        g_to_scheduler(g, GORT__OP_PARK);
    } else {
        /* Direct hand-off: next inherits the time slice, as from
         * find_runnable's runnext; it commits our park (finish_handoff). */
        GORT__STAT(HANDOFF);
        GORT__STAT(RUN_NEXT);
        g_start(m, next);
        m->handoff_from = g;
        GORT__RSTORE(m->curg, NULL);
        gort__ctx_jump(&g->ctx, &next->ctx, 0);
        finish_handoff(g);
    }
    GORT__RSTORE(g->wait_reason, GORT__WAIT_NONE);
}

GORT__CORE static void sleep_fire(gort__timer *t, int64_t now)
{
    (void)now;
    gort__ready(t->arg);
}

GORT__CORE GORT_API void gort_sleep(int64_t ns)
{
    gort__g *g = gort__current();
    if (ns <= 0) {
        gort_yield();
        return;
    }
    int64_t now = gort_now();
    int64_t deadline = gort__deadline_add(now, ns);
    if (!g) {
        struct timespec ts = {(time_t)(deadline / GORT_SECOND), (long)(deadline % GORT_SECOND)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        return;
    }
    gort__timer t = {.when = deadline, .fn = sleep_fire, .arg = g};
    if (gort__timer_start(&t) != 0) {
        /* Cannot allocate timer-heap space: degrade to a yielding wait. */
        while (gort_now() < deadline)
            gort_yield();
        return;
    }
    gort__park(NULL, NULL, GORT__WAIT_SLEEP);
    gort__timer_stop(&t); /* waits until the callback has returned */
}

GORT__CORE _Noreturn void gort__block_forever(gort__wait_reason why)
{
    if (gort__current()) {
        for (;;)
            gort__park(NULL, NULL, why);
    }
    _Atomic uint32_t never = 0;
    atomic_fetch_add(&gort__S.foreign_blocked, 1);
    for (;;)
        gort__futex_wait(&never, 0, GORT_FOREVER);
}

GORT__CORE bool gort__sync_can_spin(int iter)
{
    if (iter >= 4 || gort__S.ncpu <= 1 || gort__S.nprocs <= 1)
        return false;
    gort__m *m = gort__this_m();
    if (!m || !m->p)
        return false;
    if (atomic_load(&gort__S.npidle) + atomic_load(&gort__S.nmspinning) + 1 >= gort__S.nprocs)
        return false;
    return gort__runq_empty(&m->p->runq);
}

GORT__CORE GORT_API uint64_t gort_self(void)
{
    gort__g *g = gort__current();
    return g ? g->id : 0;
}

GORT__CORE GORT_API const char *gort_self_name(void)
{
    gort__g *g = gort__current();
    return g ? g->name : "";
}

/* ---- init, main, shutdown ------------------------------------------------ */

GORT__CORE GORT_API void gort_config_init(gort_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
}

#define GORT__DEFAULT_STACK ((size_t)256 << 10)
#define GORT__PROCS_MAX 1024

GORT__CORE static int env_procs(void)
{
    const char *s = getenv("GORT_PROCS");
    if (!s || !*s)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > GORT__PROCS_MAX)
        return 0; /* ignored, like an invalid GOMAXPROCS */
    return (int)v;
}

GORT__CORE GORT_API int gort_init(const gort_config *cfg)
{
    gort_config defaults;
    if (!cfg) {
        gort_config_init(&defaults);
        cfg = &defaults;
    }
    if (cfg->procs < 0 || cfg->procs > GORT__PROCS_MAX || cfg->max_threads < 0 ||
        (cfg->stack_size && (cfg->stack_size < GORT__STACK_MIN || cfg->stack_size > GORT__STACK_MAX)))
        return GORT_EINVAL;
    if (gort__this_m())
        return GORT_EALREADY;
    static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
    pthread_once(&fork_once, fork_handler_install);
    pthread_mutex_lock(&init_mu);
    if (atomic_load(&gort__S.running)) {
        pthread_mutex_unlock(&init_mu);
        return GORT_EALREADY;
    }
    int ncpu = gort__ncpu();
    int procs = cfg->procs ? cfg->procs : env_procs();
    if (!procs)
        procs = ncpu;
    sched_reset();
    gort__S.nprocs = procs;
    gort__S.ncpu = ncpu;
    gort__S.stack_size = round_slot(cfg->stack_size ? cfg->stack_size : GORT__DEFAULT_STACK);
    gort__S.max_threads = cfg->max_threads ? cfg->max_threads : 10000;
    atomic_store(&gort__S.poll_until, INT64_MAX);
    gort__S.allp = calloc((size_t)procs, sizeof *gort__S.allp);
    if (!gort__S.allp)
        goto nomem;
    for (int i = 0; i < procs; i++) {
        gort__p *p = aligned_alloc(GORT__CACHELINE, (sizeof *p + GORT__CACHELINE - 1) &
                                                        ~(size_t)(GORT__CACHELINE - 1));
        if (!p)
            goto nomem;
        memset(p, 0, sizeof *p);
        p->id = i;
        atomic_store(&p->timers.first, INT64_MAX);
        gort__S.allp[i] = p;
    }
    for (int i = procs - 1; i >= 0; i--)
        pidleput(gort__S.allp[i]);
    gort__stacks_init(gort__S.stack_size);
    gort__preempt_init();
    gort__dump_init();
    gort__guard_init();
    if (gort__sysmon_start() != 0) {
        for (int i = 0; i < procs; i++)
            free(gort__S.allp[i]);
        free(gort__S.allp);
        gort__S.allp = NULL;
        pthread_mutex_unlock(&init_mu);
        return GORT_ENOMEM;
    }
    atomic_store_explicit(&gort__S.running, 1, memory_order_release);
    atomic_store(&life, LIFE_UP);
    pthread_mutex_unlock(&init_mu);
    return 0;
nomem:
    if (gort__S.allp)
        for (int i = 0; i < procs; i++)
            free(gort__S.allp[i]);
    free(gort__S.allp);
    gort__S.allp = NULL;
    pthread_mutex_unlock(&init_mu);
    return GORT_ENOMEM;
}

GORT__CORE GORT_API int gort_initialized(void)
{
    return atomic_load_explicit(&gort__S.running, memory_order_acquire);
}

GORT__CORE GORT_API int gort_procs(void)
{
    return gort_initialized() ? gort__S.nprocs : 0;
}

/* gort_main's goroutine: run the user's function, then wake the caller. */
typedef struct main_call {
    void (*fn)(void *);
    void *arg;
    _Atomic uint32_t done;
} main_call;

GORT__CORE static void main_trampoline(void *arg)
{
    main_call *mc = arg;
    mc->fn(mc->arg);
    uint32_t waiting = 0; /* 0 -> 1, unless a deadlock was declared (2) */
    atomic_compare_exchange_strong_explicit(&mc->done, &waiting, 1, memory_order_release,
                                            memory_order_relaxed);
    gort__futex_wake(&mc->done, 1);
}

GORT__CORE GORT_API int gort_main(void (*fn)(void *), void *arg)
{
    if (!fn)
        return GORT_EINVAL;
    if (gort__this_m())
        return GORT_EPERM;
    bool inited_here = false;
    if (!gort_initialized()) {
        int err = gort_init(NULL);
        if (err && err != GORT_EALREADY)
            return err;
        inited_here = err == 0;
    }
    main_call mc = {.fn = fn, .arg = arg};
    int err = gort_go(main_trampoline, &mc);
    /* Only now (the goroutine is queued, so the engine is not idle) may the
     * deadlock check see us as a thread blocked forever. */
    atomic_store(&gort__S.main_wait, &mc.done);
    atomic_fetch_add(&gort__S.foreign_blocked, 1);
    if (err == 0) {
        while (atomic_load_explicit(&mc.done, memory_order_acquire) == 0)
            gort__futex_wait(&mc.done, 0, GORT_FOREVER);
        if (atomic_load_explicit(&mc.done, memory_order_acquire) == 2) {
            static const char msg[] = "gort: fatal error: all goroutines are asleep - deadlock!\n\n";
            ssize_t ignored = write(2, msg, sizeof msg - 1);
            (void)ignored;
            gort__dump_fd(2, true);
            err = GORT_EDEADLK;
        }
    }
    atomic_fetch_sub(&gort__S.foreign_blocked, 1);
    atomic_store(&gort__S.main_wait, NULL);
    if (inited_here)
        gort_shutdown();
    return err;
}

GORT__CORE GORT_API void gort_shutdown(void)
{
    if (gort__this_m())
        gort__fatal("gort_shutdown called from a goroutine or engine thread "
                    "(call it from the thread that called gort_init)");
    pthread_mutex_lock(&init_mu);
    if (!atomic_load(&gort__S.running)) {
        pthread_mutex_unlock(&init_mu);
        return;
    }
    /* 1. Stop: no new Ms; wake every sleeping one; each exits at its next
     *    trip through the scheduler. */
    gort__lock_acquire(&gort__S.lock);
    atomic_store(&gort__S.stopping, 1);
    atomic_store(&life, LIFE_STOPPING);
    for (gort__m *m = gort__S.allm; m; m = m->alllink) {
        if (m->exec) {
            atomic_fetch_add(&m->exec->signal, 1);
            gort__futex_wake(&m->exec->signal, 1);
        } else {
            mwake(m);
        }
    }
    gort__m *allm = gort__S.allm;
    gort__S.allm = NULL;
    gort__lock_release(&gort__S.lock);
    gate_drain();
    gort__loops_shutdown();
    if (atomic_load(&gort__S.in_netpoll))
        gort__netpoll_break();
    /* sysmon keeps running meanwhile: it preempts goroutines that compute
     * without ever reaching the scheduler, so their threads can exit. */
    for (gort__m *m = allm; m; m = m->alllink)
        pthread_join(m->thread, NULL);
    gort__sysmon_stop();
    for (gort__m *m = allm, *next; m; m = next) {
        next = m->alllink;
        if (m->exec)
            gort__exec_quiesce(m->exec); /* a foreign thread may still be waking it */
        free(m->exec);
        free(m);
    }
    /* 2. Disarm timers (many live on goroutine stacks, so before those go),
     *    then free what abandoned goroutines held. Their stacks go with the
     *    slabs; custom-size slots are unmapped one by one. */
    for (int i = 0; i < gort__S.nprocs; i++)
        gort__timers_destroy(&gort__S.allp[i]->timers);
    gort__netpoll_shutdown();
    for (gort__g *g = gort__S.allg, *next; g; g = next) {
        next = g->alllink;
        free(g->gls_ext);
        g->gls_ext = NULL;
        if (!g->default_size)
            gort__slot_free(g);
    }
    gort__S.allg = NULL;
    for (int i = 0; i < gort__S.nprocs; i++)
        free(gort__S.allp[i]);
    free(gort__S.allp);
    gort__stacks_destroy();
    sched_reset();
    atomic_store(&gort__S.running, 0);
    atomic_store(&gort__S.stopping, 0);
    atomic_store(&life, LIFE_DOWN);
    pthread_mutex_unlock(&init_mu);
}

GORT__CORE const char *gort__wait_reason_name(gort__wait_reason r)
{
    static const char *const names[GORT__WAIT_COUNT_] = {
        [GORT__WAIT_NONE] = "",
        [GORT__WAIT_CHAN_RECV] = "chan receive",
        [GORT__WAIT_CHAN_SEND] = "chan send",
        [GORT__WAIT_SELECT] = "select",
        [GORT__WAIT_SELECT_NO_CASES] = "select (no cases)",
        [GORT__WAIT_CHAN_NIL] = "chan receive (nil chan)",
        [GORT__WAIT_SLEEP] = "sleep",
        [GORT__WAIT_MUTEX] = "sync.Mutex.Lock",
        [GORT__WAIT_RWMUTEX_R] = "sync.RWMutex.RLock",
        [GORT__WAIT_RWMUTEX_W] = "sync.RWMutex.Lock",
        [GORT__WAIT_WAITGROUP] = "sync.WaitGroup.Wait",
        [GORT__WAIT_COND] = "sync.Cond.Wait",
        [GORT__WAIT_SEMAPHORE] = "semacquire",
        [GORT__WAIT_ONCE] = "sync.Once.Do",
        [GORT__WAIT_IO] = "IO wait",
        [GORT__WAIT_SYSCALL] = "syscall",
        [GORT__WAIT_PROMISE] = "promise await",
    };
    return (unsigned)r < GORT__WAIT_COUNT_ && names[r] ? names[r] : "?";
}
