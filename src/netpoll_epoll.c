/*
 * netpoll_epoll.c — the Linux network poller: epoll + an eventfd.
 *
 * The contract with the scheduler is netpoll.h (pending / poll / break /
 * shutdown); the contract with the I/O wrappers is netpoll_fd.h (register /
 * unregister / wait). This file implements both on epoll. Design after Go's
 * runtime/netpoll.go + netpoll_epoll.go, re-derived for gort's waiters.
 *
 * KERNEL OBJECTS
 *
 *   One epoll instance and one eventfd, created lazily by the first
 *   registration (a program that never does I/O through gort opens
 *   nothing), closed by gort__netpoll_shutdown. Every fd is registered once,
 *   edge-triggered, for both directions: EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET.
 *   So the kernel reports each *change* towards readiness once, and we never
 *   touch epoll_ctl again on the I/O path (no EPOLL_CTL_MOD per wait, which
 *   a level-triggered or one-shot design would need). The eventfd is
 *   registered level-triggered under a tag no fd can have; writing to it
 *   makes a blocked epoll_wait return (gort__netpoll_break).
 *
 * POLL DESCRIPTORS (Go's pollDesc)
 *
 *   One `pd` per fd number, in a table indexed by fd (below). Fields are
 *   protected by pd->lock, a gort__lock held only for a few instructions (and
 *   around the rare epoll_ctl of a registration or close). A pd has:
 *     state   UNREG      not in epoll (never registered, or unregistered);
 *             REG        in epoll: events arrive tagged with (seq, fd);
 *             UNPOLLABLE epoll refused the fd (EPERM: regular files, some
 *                        devices): it is "always ready", waits return at once;
 *             CLOSING    gort_fd_close is between waking the waiters and
 *                        close(2): new waits fail with GORT_ECLOSED instead
 *                        of re-registering an fd that is about to vanish.
 *     seq     generation, bumped by every (re-)registration and every
 *             unregistration. epoll events carry the seq of the registration
 *             that produced them (data.u64 = seq << 32 | fd), and an event
 *             whose seq differs from pd->seq is dropped: it belongs to an
 *             earlier life of the fd number (an event harvested by one thread
 *             while another closed the fd and a third reopened the number).
 *     ready   one "ready token" bit per direction (GORT_POLLIN/GORT_POLLOUT).
 *     waiters one FIFO per direction of pd_entry records (on the waiting
 *             goroutine's stack), each pointing at a gort__waiter.
 *
 *   Transitions: UNREG -register-> REG | UNPOLLABLE; REG/UNPOLLABLE
 *   -register-> REG (refresh: new seq, tokens cleared); any -unregister->
 *   UNREG; any -close-> CLOSING -close(2) done-> UNREG (unless a new
 *   registration of the reused number got there first: seq tells).
 *
 * WHY NO READINESS IS LOST (the heart of it; Go's rg/wg with pdReady)
 *
 *   Edge-triggered epoll reports a readiness change exactly once, to
 *   whichever thread happens to call epoll_wait, which may be before the
 *   goroutine that cares has even finished its failing read(). The rule:
 *
 *     An event for direction d that finds no live waiter on d's list sets
 *     the ready token d. An event that finds waiters completes all of them
 *     (claim + wake) and leaves no token. A waiter first consumes the token
 *     if it is set (and returns at once); only if it is clear does it queue
 *     itself and sleep. Both sides run under pd->lock.
 *
 *   So for any event E and waiter W of the same direction, either E is
 *   processed before W takes the lock (then W finds the token, or a waiter
 *   that was queued before W consumed the token — and that waiter retries
 *   its I/O, which sees whatever E announced), or after W has queued (then
 *   E completes W). The I/O wrappers only wait after the syscall said
 *   EAGAIN; everything that becomes ready after that EAGAIN produces a new
 *   edge, so a wrapper never sleeps through data. Completing *all* waiters
 *   of a direction (not one) is what makes several goroutines waiting on one
 *   fd (e.g. accepting on a shared listener) safe with edge triggering: a
 *   woken waiter that loses the race for the data gets EAGAIN and waits
 *   again; an edge that happens while they are all awake sets the token.
 *
 *   Tokens may be stale (the I/O that followed the event already consumed
 *   the data): then a later wait returns at once, the syscall says EAGAIN,
 *   and the wrapper waits again, now without a token. Readiness is a hint,
 *   never a promise, exactly as in Go. gort_fd_wait, which has no preceding
 *   syscall, asks for level semantics instead: it drops the tokens, probes
 *   the fd with a zero-timeout poll(2), and only then waits; any change
 *   after the drop produces an edge, so this is race-free too.
 *
 *   Completion uses the waiter protocol of internal.h: a waiter is published
 *   under pd->lock and sleeps with gort__waiter_sleep_lock (the lock is
 *   released only after the goroutine is parked-or-notified). Whoever
 *   completes it (an event, a close, its deadline timer) must first win
 *   gort__waiter_claim; the deadline contends for the same claim, so a
 *   waiter is completed exactly once. Claimed entries are unlinked by the
 *   claimer; an entry whose claim fails (its deadline won) is unlinked by
 *   whoever meets it first (the claimer walking the list, or the sleeper
 *   itself after it wakes) — `mode` says whether it is still linked.
 *   A wait for both directions is one entry on both lists with one waiter.
 *
 * CLOSE
 *
 *   gort__netpoll_unregister(fd, do_close) (gort_fd_close): under pd->lock,
 *   bump seq (drops in-flight events), clear tokens, complete every waiter
 *   with GORT_ECLOSED, EPOLL_CTL_DEL, and set CLOSING; after unlocking, wake
 *   the waiters and close(2); then CLOSING -> UNREG if seq is unchanged. A
 *   goroutine that saw EAGAIN just before the close and waits just after it
 *   gets GORT_ECLOSED (CLOSING) or -EBADF (the lazy re-registration of the
 *   closed number fails): it never sleeps on a dead fd.
 *
 * THE DESCRIPTOR TABLE
 *
 *   fd numbers are small dense integers, so: a directory of pointers to
 *   chunks of 256 pds (16 KiB; a pd is one cache line, so two fds served by
 *   different threads never share a line). Lookup is lock-free: load the
 *   directory (acquire), index, load the chunk (acquire). Chunks are
 *   allocated on demand and never move or die before shutdown, so a pd
 *   pointer stays valid for the whole life of the poller — the poller thread
 *   may hold one while another thread closes the fd. The directory grows by
 *   doubling under np.lock: the new one is published with a release store
 *   and the old one is kept on a retired list until shutdown (a reader may
 *   still be indexing it; total retired memory is less than the live
 *   directory). A reader holding an old directory only misses chunks created
 *   after it loaded it; the only readers that need a new chunk are the
 *   thread that created it and the poller handling an event for an fd that
 *   was registered (epoll_ctl, a syscall after the publication) before the
 *   event existed.
 *
 * LOCKS AND ORDER
 *
 *   np.lock   — initialisation, directory growth, chunk allocation. A
 *               leaf: nothing else is locked while it is held.
 *   pd->lock  — the pd fields above. Taken alone; never together with
 *               another pd's lock or np.lock. gort__waiter_wake /
 *               gort__ready are called after releasing it.
 *   Both are gort__locks: while held, the goroutine is not preempted
 *   asynchronously (gort__tls_locks), so it cannot migrate mid-section.
 *
 * COUNTERS AND MEMORY ORDER
 *
 *   np.nwait counts entries (waiters) linked in any pd: +1 when queued, -1
 *   when unlinked, both under that pd's lock; gort__netpoll_pending() is
 *   one load of it. The scheduler reads it after the waiting goroutine has
 *   parked (same M, or via the run-queue handoff), so it is never stale in
 *   the direction that matters (a waiter exists but pending says no).
 *
 *   Break: np.wake_sig is set by gort__netpoll_break (exchange; only the
 *   0 -> 1 transition writes the eventfd, so a storm of breaks costs one
 *   write) and cleared by the blocking poller that consumes it. A break that
 *   comes before the poller exists is remembered in wake_sig: break does
 *   {set wake_sig; load inited}, initialisation does {store inited; load
 *   wake_sig} (all seq_cst), so one of them sees the other (Dekker) and the
 *   next blocking poll does not sleep. Non-blocking polls never consume a
 *   break (the eventfd is level-triggered, so a blocked poller still sees
 *   it).
 *
 * WHO POLLS
 *
 *   The scheduler polls without blocking (a busy M whose queues are empty,
 *   sysmon when nobody polled for 10 ms) and blocks in one thread, its
 *   poller. A non-blocking poll from a thread without a P (sysmon) is
 *   skipped (returns 0) while the poller is blocked in epoll_wait
 *   (np.in_wait): the kernel wakes the poller for every event anyway, and a
 *   P-less harvester can only put what it readies on the global queue and
 *   wake an M for it — at one P, an M other than the poller, which then
 *   finds no P (sysmon's stale poll runs while the poller is blocked, since
 *   last_poll is stamped only when a poll returns). An M holding a P does
 *   poll while the poller is blocked: what it harvests runs on its own P at
 *   once, where waiting for the poller would put that M to sleep and wake
 *   one later (measured at 2 Ps: more context switches and CPU per request
 *   with Go's rule of skipping every non-blocking poll then). Nothing is
 *   lost by skipping: the events stay on the epoll ready list until the
 *   thread inside epoll_wait (or the next poll after it) takes them, and
 *   np.in_wait is cleared as soon as epoll_wait returns, before the harvest
 *   is processed.
 *
 * TIMEOUTS
 *
 *   epoll_pwait2 (Linux 5.11) takes a timespec: the idle poller can sleep
 *   exactly until the next timer. Where it is missing (ENOSYS: older
 *   kernels, qemu-user; and under Valgrind, which does not know it), we use
 *   epoll_wait with milliseconds rounded up (never early: waking early would
 *   just spin the scheduler once more).
 *
 * REJECTED ALTERNATIVES
 *
 *   - Level-triggered or EPOLLONESHOT registration: one epoll_ctl(MOD) per
 *     wait to re-arm (a syscall on every park), or a storm of repeated
 *     events for fds nobody is reading.
 *   - Go's lock-free rg/wg words (one waiter per direction, CAS states):
 *     Go can afford it because its fdMutex serialises readers; gort's
 *     wrappers allow several goroutines per fd and per direction, and its
 *     waiters need a lock to publish under (gort__waiter_sleep_lock), so
 *     one small per-fd lock is simpler and as fast (uncontended).
 *   - A hash table keyed by fd: a lookup on every event and wait, rehashing,
 *     and no stable addresses; fd numbers are dense, an array is ideal.
 *     A single flat array grown with realloc would move pds under readers.
 *   - Waking one waiter per event: with edge triggering the others could
 *     sleep through data the first one did not consume.
 *   - epoll data = pd pointer (Go): needs a separate liveness check for
 *     stale events anyway; (seq, fd) is that check and indexes the table.
 *   A kqueue or io_uring backend would keep the pd logic and replace the
 *   four kernel-facing helpers (np_init_locked, pd_register_locked,
 *   np_wait, the DEL in unregister); it can be split out then.
 */
#include "engine.h" /* gort__this_m: does the caller hold a P (WHO POLLS) */
#include "netpoll.h"
#include "netpoll_fd.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(GORT_HAVE_VALGRIND_H) && GORT_HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define PD_CHUNK_SHIFT 8
#define PD_CHUNK ((size_t)1 << PD_CHUNK_SHIFT) /* pds per chunk */
#define PD_DIR_MIN 16                            /* initial directory slots */
#define POLL_BATCH 128                           /* events per epoll_wait */
#define BREAK_TAG UINT64_MAX                     /* epoll data of the eventfd */
#define PD_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

enum { PD_UNREG = 0, PD_REG, PD_UNPOLLABLE, PD_CLOSING };

static const int dir_bit[2] = {GORT_POLLIN, GORT_POLLOUT}; /* list index -> mask bit */

typedef struct pd_entry pd_entry;

/* A waiting goroutine's presence on a pd: lives on its stack for the
 * duration of one wait. All fields but `w`/`want` are guarded by the pd's
 * lock; `result` is written by the claim winner before the wake (release)
 * and read by the sleeper after it (acquire). */
struct pd_entry {
    gort__waiter *w;       /* the sleeper's waiter; claim before completing */
    pd_entry     *next[2]; /* links in the read [0] and write [1] FIFOs */
    pd_entry     *prev[2];
    int           want;    /* directions waited for (GORT_POLL* mask), constant */
    int           mode;    /* directions whose list it is linked on; 0 = unlinked */
    int           result;  /* set by the claimer: ready mask or GORT_ECLOSED */
    pd_entry     *wake_next; /* claimer-private: entries to wake after unlocking */
};

/* Poll descriptor of one fd number. One cache line. */
typedef struct pd {
    _Alignas(GORT__CACHELINE) gort__lock lock; /* protects every field below */
    uint32_t  seq;     /* generation: matches the high half of event data */
    uint8_t   state;   /* PD_* */
    uint8_t   ready;   /* ready tokens: GORT_POLLIN | GORT_POLLOUT bits */
    pd_entry *head[2]; /* FIFO of waiters per direction (0 read, 1 write) */
    pd_entry *tail[2];
} pd;

_Static_assert(sizeof(pd) == GORT__CACHELINE, "a poll descriptor should be one cache line");

/* The chunk directory (see THE DESCRIPTOR TABLE). */
typedef struct pd_dir {
    struct pd_dir *retired; /* the directory this one replaced (np.lock) */
    size_t         n;       /* chunk slots; chunk i covers fds [i*256, i*256+256) */
    _Atomic(pd *)  chunk[]; /* NULL until allocated; written under np.lock */
} pd_dir;

/* The poller. Zero-initialised = not initialised; shutdown resets it. */
static struct {
    gort__lock        lock;     /* initialisation, directory growth, chunks */
    _Atomic bool      inited;   /* epfd/efd valid (set once, seq_cst) */
    int               epfd;     /* epoll instance: written before inited */
    int               efd;      /* break eventfd: written before inited */
    _Atomic(pd_dir *) dir;      /* current directory, or NULL */
    _Atomic int64_t   nwait;    /* waiters linked in some pd */
    _Atomic uint32_t  wake_sig; /* a break is pending (see COUNTERS) */
    _Atomic int       no_pwait2; /* 1: epoll_pwait2 unavailable, use epoll_wait */
    _Atomic int       in_wait;  /* 1 while the scheduler's poller blocks in epoll (see WHO POLLS) */
} np;

/* ---- kernel side ------------------------------------------------------- */

/* np.lock held. */
GORT__CORE static int np_init_locked(void)
{
    if (atomic_load_explicit(&np.inited, memory_order_relaxed))
        return 0;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -errno;
    int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev < 0) {
        int e = errno;
        close(ep);
        return -e;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = BREAK_TAG};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) != 0) {
        int err = errno;
        close(ev);
        close(ep);
        return -err;
    }
    np.epfd = ep;
    np.efd = ev;
    if (RUNNING_ON_VALGRIND) /* Valgrind 3.19 does not know epoll_pwait2 (and says so) */
        atomic_store_explicit(&np.no_pwait2, 1, memory_order_relaxed);
    atomic_store(&np.inited, true); /* seq_cst: pairs with break (Dekker) */
    return 0;
}

GORT__CORE static int np_init(void)
{
    if (atomic_load_explicit(&np.inited, memory_order_acquire))
        return 0;
    gort__lock_acquire(&np.lock);
    int r = np_init_locked();
    gort__lock_release(&np.lock);
    return r;
}

/* epoll_wait until the absolute time `until` (GORT_NOWAIT: poll,
 * GORT_FOREVER: no timeout). Returns the event count, 0 on EINTR. */
GORT__CORE static int np_wait(struct epoll_event *evs, int max, int64_t until)
{
    int64_t rel = 0;
    if (until != GORT_FOREVER && until != GORT_NOWAIT) {
        rel = until - gort_now();
        if (rel < 0)
            rel = 0;
    }
#ifdef SYS_epoll_pwait2
    if (!atomic_load_explicit(&np.no_pwait2, memory_order_relaxed)) {
        struct timespec ts = {.tv_sec = (time_t)(rel / GORT_SECOND), .tv_nsec = (long)(rel % GORT_SECOND)};
        long r = syscall(SYS_epoll_pwait2, np.epfd, evs, max, until == GORT_FOREVER ? NULL : &ts,
                         NULL, (size_t)8);
        if (r >= 0)
            return (int)r;
        if (errno != ENOSYS)
            return 0; /* EINTR (a signal, e.g. preemption's SIGURG): the caller loops */
        atomic_store_explicit(&np.no_pwait2, 1, memory_order_relaxed);
    }
#endif
    int ms = -1;
    if (until != GORT_FOREVER) {
        int64_t m = (rel + GORT_MILLISECOND - 1) / GORT_MILLISECOND; /* round up: never early */
        ms = m > 1000000000 ? 1000000000 : (int)m;
    }
    int r = epoll_wait(np.epfd, evs, max, ms);
    return r < 0 ? 0 : r;
}

/* pd lock held, state not REG. Register fd under a new generation. */
GORT__CORE static int pd_register_locked(pd *p, int fd)
{
    uint32_t seq = p->seq + 1;
    p->seq = seq; /* before the ADD: its immediate event must match */
    p->ready = 0;
    struct epoll_event ev = {.events = PD_EVENTS, .data.u64 = ((uint64_t)seq << 32) | (uint32_t)fd};
    if (epoll_ctl(np.epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
        p->state = PD_REG;
        return 0;
    }
    int e = errno;
    if (e == EEXIST) {
        /* Still registered from an earlier life (the same open file): adopt
         * the registration under the new generation. MOD re-evaluates the
         * readiness, so nothing is lost. */
        if (epoll_ctl(np.epfd, EPOLL_CTL_MOD, fd, &ev) == 0) {
            p->state = PD_REG;
            return 0;
        }
        e = errno;
    }
    if (e == EPERM) {
        p->state = PD_UNPOLLABLE;
        return 0;
    }
    p->state = PD_UNREG;
    return -e;
}

/* ---- the descriptor table ------------------------------------------------ */

GORT__CORE static pd *pd_lookup(int fd)
{
    pd_dir *d = atomic_load_explicit(&np.dir, memory_order_acquire);
    size_t ci = (size_t)(unsigned)fd >> PD_CHUNK_SHIFT;
    if (d == NULL || ci >= d->n)
        return NULL;
    pd *c = atomic_load_explicit(&d->chunk[ci], memory_order_acquire);
    return c ? &c[(unsigned)fd & (PD_CHUNK - 1)] : NULL;
}

/* The pd of fd, creating the poller, directory slot and chunk as needed.
 * NULL with *err set on failure. */
GORT__CORE static pd *pd_get(int fd, int *err)
{
    pd *p = pd_lookup(fd);
    if (GORT__LIKELY(p != NULL))
        return p;
    size_t ci = (size_t)(unsigned)fd >> PD_CHUNK_SHIFT;
    gort__lock_acquire(&np.lock);
    *err = np_init_locked();
    if (*err != 0)
        goto out;
    pd_dir *d = atomic_load_explicit(&np.dir, memory_order_relaxed);
    if (d == NULL || ci >= d->n) {
        size_t n = d ? d->n : PD_DIR_MIN;
        while (n <= ci)
            n *= 2;
        pd_dir *nd = calloc(1, sizeof *nd + n * sizeof nd->chunk[0]);
        if (nd == NULL) {
            *err = GORT_ENOMEM;
            goto out;
        }
        nd->n = n;
        for (size_t i = 0; d && i < d->n; i++)
            atomic_init(&nd->chunk[i], atomic_load_explicit(&d->chunk[i], memory_order_relaxed));
        for (size_t i = d ? d->n : 0; i < n; i++)
            atomic_init(&nd->chunk[i], NULL);
        nd->retired = d;
        atomic_store_explicit(&np.dir, nd, memory_order_release);
        d = nd;
    }
    pd *c = atomic_load_explicit(&d->chunk[ci], memory_order_relaxed);
    if (c == NULL) {
        c = aligned_alloc(GORT__CACHELINE, PD_CHUNK * sizeof *c);
        if (c == NULL) {
            *err = GORT_ENOMEM;
            goto out;
        }
        memset(c, 0, PD_CHUNK * sizeof *c); /* UNREG, seq 0, no waiters, unlocked */
        atomic_store_explicit(&d->chunk[ci], c, memory_order_release);
    }
    p = &c[(unsigned)fd & (PD_CHUNK - 1)];
out:
    gort__lock_release(&np.lock);
    return p;
}

/* ---- waiter lists (pd lock held) ----------------------------------------- */

GORT__CORE static void pd_link(pd *p, pd_entry *e)
{
    for (int d = 0; d < 2; d++) {
        if (!(e->want & dir_bit[d]))
            continue;
        e->next[d] = NULL;
        e->prev[d] = p->tail[d];
        if (p->tail[d])
            p->tail[d]->next[d] = e;
        else
            p->head[d] = e;
        p->tail[d] = e;
    }
    e->mode = e->want;
    atomic_fetch_add(&np.nwait, 1);
}

GORT__CORE static void pd_unlink(pd *p, pd_entry *e)
{
    for (int d = 0; d < 2; d++) {
        if (!(e->mode & dir_bit[d]))
            continue;
        if (e->prev[d])
            e->prev[d]->next[d] = e->next[d];
        else
            p->head[d] = e->next[d];
        if (e->next[d])
            e->next[d]->prev[d] = e->prev[d];
        else
            p->tail[d] = e->prev[d];
        e->next[d] = e->prev[d] = NULL;
    }
    e->mode = 0;
    atomic_fetch_sub(&np.nwait, 1);
}

/* Complete every live waiter on list d: result = result_for(mask) (the
 * ready directions it wanted, or GORT_ECLOSED when mask < 0). Completed
 * entries are pushed on *wake. Returns the directions delivered to
 * somebody. */
GORT__CORE static int pd_fire(pd *p, int d, int mask, pd_entry **wake)
{
    int delivered = 0;
    pd_entry *e;
    while ((e = p->head[d]) != NULL) {
        pd_unlink(p, e);
        if (!gort__waiter_claim(e->w))
            continue; /* its deadline won; the sleeper finds it unlinked */
        e->result = mask < 0 ? mask : (mask & e->want);
        e->wake_next = *wake;
        *wake = e;
        if (mask > 0)
            delivered |= e->result;
    }
    return delivered;
}

GORT__CORE static int wake_all(pd_entry *e)
{
    int n = 0;
    while (e) {
        pd_entry *next = e->wake_next; /* e may vanish once woken */
        gort__waiter_wake(e->w);
        e = next;
        n++;
    }
    return n;
}

/* ---- netpoll.h: the scheduler side ---------------------------------------- */

GORT__CORE bool gort__netpoll_pending(void)
{
    return atomic_load(&np.nwait) > 0;
}

int64_t gort__netpoll_nwait(void)
{
    return atomic_load(&np.nwait);
}

GORT__CORE void gort__netpoll_break(void)
{
    if (atomic_exchange(&np.wake_sig, 1) != 0)
        return; /* a break is already on its way */
    if (atomic_load(&np.inited)) {
        uint64_t one = 1;
        ssize_t r = write(np.efd, &one, sizeof one); /* async-signal-safe */
        (void)r; /* EAGAIN: the counter is saturated, i.e. already readable */
    }
}

GORT__CORE int gort__netpoll_poll(int64_t until)
{
    bool block = until != GORT_NOWAIT;
    if (!atomic_load_explicit(&np.inited, memory_order_acquire)) {
        /* Nobody registered anything yet. The scheduler only blocks here
         * when waiters are pending, which implies initialisation; if it does
         * anyway, initialise so that a break can end the wait. */
        if (!block || np_init() != 0)
            return 0;
    }
    /* WHO POLLS: a thread without a P does not harvest behind the blocked
     * poller's back. */
    if (!block && atomic_load(&np.in_wait)) {
        gort__m *m = gort__this_m();
        if (m == NULL || m->p == NULL)
            return 0;
    }
    if (block && atomic_load(&np.wake_sig))
        until = GORT_NOWAIT; /* a break is pending: just harvest */

    struct epoll_event evs[POLL_BATCH];
    if (block)
        atomic_store(&np.in_wait, 1);
    int n = np_wait(evs, POLL_BATCH, until);
    if (block)
        atomic_store(&np.in_wait, 0);
    if (block && atomic_load(&np.wake_sig)) {
        /* Consume the break: clear the flag first, then drain, so a break
         * that races with us either finds the flag clear and writes again
         * (we may eat that write: the flag stays set and the next blocking
         * poll returns at once), or was the one we are consuming. */
        atomic_store(&np.wake_sig, 0);
        uint64_t v;
        ssize_t r = read(np.efd, &v, sizeof v);
        (void)r;
    }

    int woken = 0;
    for (int i = 0; i < n; i++) {
        uint64_t data = evs[i].data.u64;
        if (data == BREAK_TAG)
            continue; /* handled above (blocking callers only) */
        int fd = (int)(uint32_t)data;
        uint32_t seq = (uint32_t)(data >> 32);
        uint32_t ev = evs[i].events;
        int mask = 0;
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            mask |= GORT_POLLIN;
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            mask |= GORT_POLLOUT;
        pd *p = pd_lookup(fd);
        if (p == NULL || mask == 0)
            continue;
        pd_entry *wake = NULL;
        gort__lock_acquire(&p->lock);
        if (p->seq == seq && p->state == PD_REG) {
            int delivered = 0;
            for (int d = 0; d < 2; d++)
                if (mask & dir_bit[d])
                    delivered |= pd_fire(p, d, mask, &wake);
            p->ready |= (uint8_t)(mask & ~delivered); /* nobody took it: remember */
        }
        gort__lock_release(&p->lock);
        woken += wake_all(wake);
    }
    return woken;
}

GORT__CORE void gort__netpoll_shutdown(void)
{
    if (atomic_load(&np.inited)) {
        close(np.epfd);
        close(np.efd);
    }
    pd_dir *d = atomic_load(&np.dir);
    if (d) {
        for (size_t i = 0; i < d->n; i++)
            free(atomic_load_explicit(&d->chunk[i], memory_order_relaxed));
    }
    while (d) {
        pd_dir *older = d->retired;
        free(d);
        d = older;
    }
    atomic_store(&np.dir, NULL);
    atomic_store(&np.nwait, 0);
    atomic_store(&np.wake_sig, 0);
    atomic_store(&np.in_wait, 0);
    np.epfd = np.efd = 0;
    atomic_store(&np.inited, false);
}

GORT__CORE void *gort__netpoll_forget(void)
{
    /* The epoll instance is shared with the parent: closing our fds is
     * harmless, epoll_ctl on them would change the parent's interest set. */
    if (atomic_load(&np.inited)) {
        close(np.epfd);
        close(np.efd);
    }
    pd_dir *dropped = atomic_load(&np.dir);
    np.lock = (gort__lock)GORT__LOCK_INIT;
    atomic_store(&np.dir, NULL);
    atomic_store(&np.nwait, 0);
    atomic_store(&np.wake_sig, 0);
    atomic_store(&np.in_wait, 0);
    np.epfd = np.efd = 0;
    atomic_store(&np.inited, false);
    return dropped;
}

/* ---- netpoll_fd.h: the I/O side ------------------------------------------ */

GORT__CORE int gort__netpoll_register(int fd)
{
    if (fd < 0)
        return -EBADF;
    int err = 0;
    pd *p = pd_get(fd, &err);
    if (p == NULL)
        return err;
    gort__lock_acquire(&p->lock);
    /* Always (re-)add: the number may belong to a new file whose
     * predecessor was closed behind our back (its registration vanished
     * with it). Waiters stay queued: they wait on this fd number. */
    int r = pd_register_locked(p, fd);
    gort__lock_release(&p->lock);
    return r;
}

GORT__CORE int gort__netpoll_unregister(int fd, bool do_close)
{
    if (fd < 0)
        return -EBADF;
    pd *p = NULL;
    if (atomic_load_explicit(&np.inited, memory_order_acquire)) {
        int err = 0;
        p = pd_get(fd, &err); /* create: a racing lazy registration must see CLOSING */
    }
    if (p == NULL) {
        if (!do_close)
            return 0;
        return close(fd) == 0 ? 0 : -errno;
    }
    pd_entry *wake = NULL;
    gort__lock_acquire(&p->lock);
    uint32_t seq = ++p->seq; /* events in flight for the old registration are dropped */
    bool was_reg = p->state == PD_REG;
    p->state = do_close ? PD_CLOSING : PD_UNREG;
    p->ready = 0;
    pd_fire(p, 0, GORT_ECLOSED, &wake);
    pd_fire(p, 1, GORT_ECLOSED, &wake);
    if (was_reg) {
        struct epoll_event ev = {0}; /* non-NULL for pre-2.6.9 kernels' sake */
        epoll_ctl(np.epfd, EPOLL_CTL_DEL, fd, &ev);
    }
    gort__lock_release(&p->lock);
    wake_all(wake);
    if (!do_close)
        return 0;
    int r = close(fd) == 0 ? 0 : -errno;
    gort__lock_acquire(&p->lock);
    if (p->seq == seq && p->state == PD_CLOSING)
        p->state = PD_UNREG;
    gort__lock_release(&p->lock);
    return r;
}

/* Zero-timeout poll(2): the ready subset of events, 0, or -EBADF. */
GORT__CORE static int probe(int fd, int events)
{
    struct pollfd pfd = {.fd = fd, .events = gort__poll_events(events)};
    if (poll(&pfd, 1, 0) <= 0)
        return 0; /* not ready (or EINTR/ENOMEM: let epoll tell) */
    if (pfd.revents & POLLNVAL)
        return -EBADF;
    return gort__poll_revents_mask(pfd.revents) & events;
}

GORT__CORE int gort__netpoll_wait(int fd, int events, int64_t deadline, bool level)
{
    if (fd < 0)
        return -EBADF;
    int err = 0;
    pd *p = pd_get(fd, &err);
    if (p == NULL)
        return err;
    bool probed = !level;
    gort__lock_acquire(&p->lock);
    for (;;) {
        if (p->state == PD_CLOSING) {
            gort__lock_release(&p->lock);
            return GORT_ECLOSED;
        }
        if (p->state == PD_UNPOLLABLE) {
            gort__lock_release(&p->lock);
            if (!level)
                gort_yield(); /* EAGAIN on an "always ready" fd: do not hog the P */
            return events;
        }
        if (p->state == PD_UNREG) {
            int r = pd_register_locked(p, fd);
            if (r != 0) {
                gort__lock_release(&p->lock);
                return r;
            }
            continue; /* REG or UNPOLLABLE now */
        }
        if (!probed) {
            /* Level semantics: forget old news, then look at the fd itself.
             * Every change after the drop makes an edge (a token or a wake). */
            p->ready &= (uint8_t)~events;
            gort__lock_release(&p->lock);
            int lv = probe(fd, events);
            if (lv != 0)
                return lv;
            probed = true;
            gort__lock_acquire(&p->lock);
            continue; /* the state may have changed meanwhile */
        }
        break;
    }
    int got = p->ready & events;
    if (got) {
        p->ready &= (uint8_t)~got; /* consume the token(s) */
        gort__lock_release(&p->lock);
        return got;
    }
    if (deadline != GORT_FOREVER && (deadline < 0 || deadline <= gort_now())) {
        gort__lock_release(&p->lock);
        return deadline == GORT_NOWAIT ? GORT_EAGAIN : GORT_ETIMEDOUT;
    }

    gort__waiter w;
    pd_entry e;
    gort__waiter_init(&w, deadline);
    memset(&e, 0, sizeof e);
    e.w = &w;
    e.want = events;
    pd_link(p, &e);
    if (gort__waiter_sleep_lock(&w, &p->lock, GORT__WAIT_IO) == 0)
        return e.result; /* the claimer unlinked e */
    /* The deadline won the claim: nobody else completes e, but it may still
     * be linked (a claimer walking the list unlinks dead entries too). */
    gort__lock_acquire(&p->lock);
    if (e.mode)
        pd_unlink(p, &e);
    gort__lock_release(&p->lock);
    return GORT_ETIMEDOUT;
}
