/*
 * engine.h — the scheduler's structures: G (goroutine), M (OS thread),
 * P (logical processor), the executor of pinned goroutines, and the global
 * scheduler state. Private to the engine core (sched.c, stack.c, timer.c,
 * waiter.c, gls.c); other modules go through internal.h.
 *
 * Who may touch what is written next to each field. "owner" means the M
 * that currently holds the P (or runs the G).
 */
#ifndef GORT_ENGINE_H
#define GORT_ENGINE_H

#include "ctx.h"
#include "internal.h"
#include "runq.h"
#include "timer.h"

#include <pthread.h>
#include <signal.h>

/* ---- goroutines ---------------------------------------------------------- */

/* g->park_state: the park/ready handshake (see gort__park in sched.c). */
enum {
    GORT__G_RUNNING = 0,  /* running, runnable, or on its way to parking */
    GORT__G_PARKED = 1,   /* switched out and committed; only gort__ready moves it */
    GORT__G_NOTIFIED = 2, /* readied before its park completed: park returns at once */
};

/* g->status: coarse life cycle, for dumps and assertions. */
enum {
    GORT__GS_IDLE = 0,    /* on a free list */
    GORT__GS_RUNNABLE,
    GORT__GS_RUNNING,
    GORT__GS_WAITING,
    GORT__GS_DEAD,        /* finished; memory still owned by the engine */
};

#define GORT__GLS_INLINE 4 /* keys 0..3 live inside the G; the rest in gls_ext */

typedef struct gort__exec gort__exec;
typedef struct gort__m gort__m;
typedef struct gort__p gort__p;

/* A goroutine. It lives at the top of its own stack slot (stack.c), so a
 * slot is a G plus its stack and recycling one recycles both. */
struct gort__g {
    gort__ctx   ctx;          /* saved context while not running */
    void      (*fn)(void *);  /* entry function and its argument */
    void       *arg;
    uint64_t    id;           /* unique, >= 1; set at spawn */
    _Atomic uint32_t park_state; /* GORT__G_*; see gort__park/gort__ready */
    _Atomic uint32_t status;  /* GORT__GS_*; written by the running M, read by
                                 dumps on any thread (relaxed: GORT__RLOAD/RSTORE) */
    _Atomic gort__wait_reason wait_reason; /* why it is parked (valid while
                                 WAITING); relaxed, read by dumps */
    gort__g    *schedlink;    /* link in the global run queue or a free list */
    gort__g    *alllink;      /* sched.allg links (allg_lock): every G that */
    gort__g    *allprev;      /* ever ran and whose slot is still mapped */
    uint8_t     listed;       /* 1 while on sched.allg */
    gort__exec *home;         /* pinned: the executor it must run on; else NULL */
    gort__m    *m;            /* M running it (valid while running) */
    /* stack slot: [slot_lo, slot_lo + slot_size); guard page at the bottom
     * if guarded; the G itself sits at the top. */
    void       *slot_lo;
    size_t      slot_size;
    uint8_t     guarded;      /* 1: a PROT_NONE guard page protects the bottom */
    uint8_t     default_size; /* 1: slab slot of the default size (cacheable) */
    uint8_t     from_pool;    /* 1: taken from the shared pool by a spawner without a
                                 P (a foreign thread); it goes back there at exit, not
                                 into the exiting M's P cache (sched.c, g_free) */
    uintptr_t   lowest_sp;    /* lowest saved sp seen since spawn (trimming) */
    unsigned    vg_stack_id;  /* Valgrind's id for the registered stack */
    void       *gls[GORT__GLS_INLINE]; /* goroutine-local values, keys 0..3 */
    void      **gls_ext;      /* keys 4.. (malloc'd on first use), or NULL */
    char        name[GORT_NAME_MAX]; /* NUL-terminated, "" if unnamed */
    _Atomic uint32_t preempt; /* sysmon asks it to yield (cleared when it does) */
    int         nopreempt;    /* > 0: never preempted asynchronously (the G only) */
    _Atomic uint8_t in_syscall; /* between gort_syscall_enter and _exit; relaxed,
                                 read by sysmon, preemption and dumps */
    _Atomic int64_t wait_since; /* gort__now_coarse() when it last parked;
                                 relaxed, read by dumps */
    uintptr_t   creator_pc;   /* return address of the gort_go call (dumps) */
};

/* ---- processors ---------------------------------------------------------- */

/* p->status */
enum { GORT__P_IDLE = 0, GORT__P_RUNNING = 1, GORT__P_SYSCALL = 2 };

struct gort__p {
    gort__runq   runq;       /* local run queue (lock-free; see runq.h) */
    gort__timers timers;     /* timer heap (own lock) */
    int          id;         /* index in sched.allp */
    _Atomic uint32_t status; /* GORT__P_*: owner or sched.lock; SYSCALL->IDLE by sysmon (CAS) */
    _Atomic uint32_t schedtick;   /* owner: +1 per scheduling round (sysmon reads) */
    _Atomic uint32_t syscalltick; /* owner: +1 per syscall entered (sysmon reads) */
    bool         yielded;    /* owner: a G just yielded; look at the global
                                queue before the local one next time */
    _Atomic(gort__m *) m;    /* owner M, or NULL when idle (sched.lock); sysmon reads */
    gort__p     *link;       /* idle-P list link (sched.lock) */
    gort__g     *gfree;      /* owner: free default-size Gs (with stacks) */
    int          ngfree;     /* owner: length of gfree */
    uint64_t     goid_next;  /* owner: next goroutine id of the batch it holds */
    uint64_t     goid_end;   /* owner: end of that batch (exclusive) */
    /* Goroutines spawned on / exited on this P, ever (gort__num_goroutines:
     * the live count is their difference summed over the Ps). The owner
     * adds with a plain load + store-release: no locked instruction, and no
     * line shared by every spawn and exit in the process. */
    _Atomic uint64_t nspawned, nexited;
};

/* ---- OS threads ---------------------------------------------------------- */

/* What a G asked its M to do when it switched to the scheduler context.
 * YIELD requeues it on its P's ring; YIELD_GLOBAL at the tail of the global
 * queue, behind everything queued so far (a spawner whose spawns overflowed
 * its run queue, see spawn_admitted). */
enum { GORT__OP_NONE, GORT__OP_PARK, GORT__OP_YIELD, GORT__OP_YIELD_GLOBAL, GORT__OP_EXIT,
       GORT__OP_LOST_P };

/* guard.c: a thread's alternate signal stack while it is an M. */
typedef struct gort__altstack {
    void   *mem;  /* the mapping installed (owned by the caller), or NULL (none) */
    stack_t prev; /* the thread's alternate stack before ours, restored after */
} gort__altstack;

struct gort__m {
    gort__ctx   g0;          /* the thread's own stack: the scheduler context */
    gort__altstack alt;      /* signal stack for the guard-page handler (guard.c) */
    _Atomic(gort__g *) curg; /* G running on this M, or NULL (sysmon and signals read) */
    gort__p    *p;           /* P held, or NULL */
    gort__p    *nextp;       /* P handed over by startm before a wake-up (sched.lock) */
    gort__exec *exec;        /* pinned-goroutine executor this M serves, or NULL */
    pthread_t   thread;
    _Atomic uint32_t park;   /* futex word: 1 = has been woken (see mpark/mwake) */
    bool        spinning;    /* owner: counted in sched.nmspinning */
    bool        defer_wakep; /* owner: dispatching a network poll: readies only note... */
    bool        wakep_owed;  /* ...that a wakep() is owed, paid once after the batch */
    int         op;          /* GORT__OP_* requested by curg, consumed on g0 */
    void      (*op_fn)(void *); /* OP_PARK: commit function, run on g0 or, after a */
    void       *op_arg;         /* direct hand-off, by the G switched to (finish_handoff) */
    gort__g    *handoff_from; /* owner: a G that parked by switching straight to the G
                                 now starting on this M, not yet committed; else NULL */
    gort__m    *idlelink;    /* idle-M list (sched.lock) */
    gort__m    *alllink;     /* sched.allm (sched.lock) */
    int         tid;         /* kernel thread id; both set by the thread itself before it */
    clockid_t   cpuclock;    /* first holds a P (sysmon.c: is a blocking call computing?) */
};

/* An executor of pinned goroutines: one OS thread that runs only its own
 * goroutines, one at a time (the engine's serial executor). */
struct gort__exec {
    gort__lock lock;         /* protects head/tail */
    gort__g   *head, *tail;  /* runnable Gs (linked by schedlink) */
    _Atomic uint32_t signal; /* futex word: bumped when work arrives */
    _Atomic int sleeping;    /* its thread is (about to be) in futex_wait on signal:
                                wakers skip the wake-up syscall otherwise */
    gort__m   *m;            /* the thread that runs it (NULL for a loop not running) */
    _Atomic int live;        /* goroutines homed here that have not exited */
    gort_loop *loop;         /* the event loop this executor belongs to, or NULL */
    int        wake_fd;      /* (lock) eventfd written when work arrives, or 0 (loops) */
    bool       fd_signalled; /* (lock) a wake claimed the eventfd write since the loop
                                last drained it (gort_loop_run_once, under lock): later
                                wakes skip the write */
    bool       fd_late_write; /* (lock) the last drain ran while a wake-up was still
                                making its calls: its write may have landed after the
                                read, so the next drain reads again. The eventfd counter
                                is > 0 only while this or fd_signalled is true */
    _Atomic int wakers;      /* wake-ups decided under lock whose system calls (futex
                                wake, eventfd write) have not returned yet: the executor
                                is not freed nor its eventfd closed before this is 0
                                (sched.c, "WAKE-UPS") */
    gort__exec *orphan_next; /* loop.c's list of executors orphaned by gort_loop_free */
};

/* ---- the scheduler ------------------------------------------------------- */

typedef struct gort__sched {
    /* Lifecycle words, first: gort_init/gort_shutdown reset everything from
     * `lock` on, but store these atomically (foreign threads read them at
     * any time, see gort__enter). */
    _Atomic int running;       /* 1 between init and shutdown */
    _Atomic int stopping;      /* 1 while shutting down: Ms exit */
    gort__lock lock;           /* protects the fields marked (lock) */
    gort__p  **allp;           /* the Ps; fixed between init and shutdown */
    int        nprocs;
    int        ncpu;           /* CPUs available at init (fixed): spinning policy */
    gort__p   *pidle;          /* (lock) idle Ps */
    _Atomic int npidle;        /* (lock to write) number of idle Ps */
    _Atomic int nmspinning;    /* Ms looking for work while holding a P */
    gort__m   *midle;          /* (lock) idle Ms, parked on their futex */
    gort__m   *allm;           /* (lock) every M, for shutdown */
    int        mcount;         /* (lock) threads created */
    int        mcount_pool;    /* (lock) of those, Ms of the parallel pool (not executors) */
    int        nmidle;         /* (lock) pool Ms on the idle list */
    gort__g   *runq_head, *runq_tail; /* (lock) global run queue */
    _Atomic int runq_size;
    gort__m   *poller;         /* (lock) idle M sleeping until the earliest timer */
    _Atomic int64_t poll_until; /* its wake-up time; INT64_MAX if no poller */
    gort__lock allg_lock;      /* protects allg */
    gort__g   *allg;           /* every G ever created (dumps, shutdown) */
    _Atomic uint64_t goid;     /* last goroutine id handed out */
    _Atomic uint64_t spawned_nop, exited_nop; /* like gort__p's nspawned/nexited, for
                                  spawns and exits on a thread holding no P */
    size_t     stack_size;     /* default slot size */
    int        max_threads;
    _Atomic int nsyscall;      /* goroutines between syscall enter and exit */
    _Atomic int exec_busy;     /* executors currently running a goroutine */
    _Atomic int loops_running; /* event loops inside run/run_once (their timers are private) */
    _Atomic int threads;       /* engine threads alive (Ms + sysmon) */
    _Atomic int foreign_blocked; /* foreign threads blocked in gort waits */
    _Atomic int in_netpoll;    /* 1 while the poller blocks in gort__netpoll_poll */
    pthread_t  sysmon;         /* the monitor thread (see sysmon.c) */
    bool       sysmon_started;
    void      *sysmon_seen;    /* sysmon's private bookkeeping (it frees it); referenced
                                  here too, for a forked child's leak checkers */
    _Atomic uint32_t sysmon_wake; /* futex word: bumped to wake sysmon early */
    _Atomic int sysmon_exit;   /* 1: sysmon returns (set last by gort_shutdown) */
    _Atomic int sysmon_slow;   /* 1 while sysmon's tick is backed off (> 20 us) for want of work: a new blocking call wakes it (not set while computing calls hold the tick at 1 ms; sysmon.c) */
    _Atomic int64_t last_poll; /* gort_now() of the last network poll */
    _Atomic(_Atomic uint32_t *) main_wait; /* gort_main's futex word (deadlock reports) */
    _Atomic int mstart_failed; /* 1: startm could not create a thread; sysmon retries */
    _Atomic int pool_started;  /* 1 once the pool has a thread (gort__pool_ensure_m) */
    _Atomic(gort__m *) napper; /* a spinning M napping beside a hand-off pair (spinner_nap
                                  in sched.c), or NULL: whoever takes it wakes it */
} gort__sched;

extern gort__sched gort__S;

/* Relaxed atomic load/store for fields that other threads only sample. */
#define GORT__RLOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define GORT__RSTORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

/* sched.c services for loop.c: an executor driven by a thread gort does
 * not own (the thread calling gort_loop_run) */
gort__m *gort__m_attach(gort__exec *e, void *altstack); /* make the caller an executor M with
                                                             that signal stack (may be NULL); NULL: ENOMEM */
void     gort__m_detach(gort__m *m);
gort__g *gort__exec_take(gort__exec *e);  /* next runnable goroutine, or NULL */
/* The executor's queue is empty; checked under its lock (see sched.c, "WAKE-UPS"). */
bool     gort__exec_idle(gort__exec *e);
void     gort__exec_run(gort__m *m, gort__g *g); /* run g until it blocks or ends */
void     gort__exec_wake(gort__exec *e);  /* signal the executor's thread */
/* The same in two halves, for a caller that must decide the wake-up under
 * a lock of its own (loop.c's inbox_lock) but should not make system calls
 * under it: begin (takes e->lock) decides, end (no lock held) delivers. */
typedef struct gort__exec_wakeup {
    int  fd;    /* eventfd to write, or 0 */
    bool futex; /* the thread sleeps on the futex word: wake it */
} gort__exec_wakeup;
gort__exec_wakeup gort__exec_wake_begin(gort__exec *e);
void     gort__exec_wake_end(gort__exec *e, gort__exec_wakeup w);
/* Wait until no decided wake-up is still making its system calls (before
 * freeing e or closing its eventfd). */
void     gort__exec_quiesce(gort__exec *e);
/* Sleep on the executor's futex word until it differs from `seen` or the
 * deadline (pairs with the waker's check of `sleeping`). */
void     gort__exec_sleep(gort__exec *e, uint32_t seen, int64_t deadline);
int      gort__spawn_on(gort__exec *e, void (*fn)(void *), void *arg,
                        const gort_go_options *opts); /* 0 or GORT_E*; opts may be NULL */
void     gort__loops_shutdown(void);      /* loop.c: make running loops return, wait for them */
/* In a forked child (sched.c's atfork handler): drop the parent's state
 * without touching it (its threads are gone, its locks may be held).
 * Each returns what it dropped, for the caller to keep referenced. */
void    *gort__stacks_forget(void);
void    *gort__netpoll_forget(void);
void    *gort__loops_forget(void);
/* loop.c, for quiescence.c: the loop's wake-up counter; whether it is
 * asleep (or stopped) with no timer, task or runnable goroutine. */
uint32_t gort__loop_signal(gort_loop *loop);
bool     gort__loop_asleep(gort_loop *loop);

/* sched.c services used by sysmon.c, preempt.c and dump.c */
void gort__handoffp(gort__p *p);      /* a P retaken from a syscall: give it work or idle it */
void gort__checkdead(void);           /* report a deadlock to gort_main if everything sleeps */
bool gort__mstart_retry(void);        /* sysmon: retry a failed thread creation (true: retried) */
int  gort__pool_ensure_m(void);       /* 0, or GORT_EAGAIN: the pool has no thread and none starts */
/* sysmon.c */
int  gort__sysmon_start(void);
void gort__sysmon_stop(void);
void gort__sysmon_wake(void);
void gort__sysmon_thread_start(gort__m *m); /* an M records tid/cpuclock for sysmon */
/* guard.c: stack-overflow diagnosis (SIGSEGV/SIGBUS on an alternate stack) */
void gort__guard_init(void);                        /* install the handler (once per process) */
void *gort__guard_altstack_map(void);              /* a signal stack, or NULL (guards off, ENOMEM) */
void  gort__guard_altstack_unmap(void *mem);       /* NULL: nothing */
void  gort__guard_thread_start(gort__altstack *a, void *mem); /* the calling thread becomes an M */
void  gort__guard_thread_stop(gort__altstack *a);  /* ...and stops being one (mem stays mapped) */
/* preempt.c */
int  gort__preempt_init(void);        /* install the signal handler (once per process) */
void gort__preempt_request(gort__m *m, gort__g *g); /* flag g and signal m's thread */
/* dump.c */
void gort__dump_fd(int fd, bool lock); /* goroutine dump; lock=false in signal handlers */
void gort__dump_init(void);            /* install the SIGQUIT dump (once per process) */

gort__m *gort__this_m(void);       /* this thread's M, NULL on a foreign thread */
int64_t  gort__num_goroutines(void); /* spawned and not yet exited (engine running) */
/* The lifecycle gate: an entry point that touches engine state (stacks, Ps,
 * timer heaps) from any thread brackets it with gort__enter (0, or
 * GORT_ENOTINIT / GORT_ESHUTDOWN: refused, do not call gort__leave) and
 * gort__leave. gort_shutdown frees that state only once no foreign thread
 * is between the two. Never block between them. */
int      gort__enter(void);
void     gort__leave(void);
gort__p *gort__timer_home(void);   /* P whose heap a new timer joins */
void     gort__timers_changed(int64_t when); /* a timer due at `when` was added */

/* ---- stacks (stack.c) ---------------------------------------------------- */
/* A slot holds a G at its top and the G's stack below it. */
gort__g *gort__slot_alloc(size_t slot_size);  /* NULL: ENOMEM */
void     gort__slot_free(gort__g *g);         /* custom sizes: unmap; default: back to slab pool */
/* Default-size slots in bulk (one lock round trip): take up to max into a
 * schedlink list at *out (returns how many; 0 = ENOMEM), or give back the
 * list head..tail. */
int      gort__slot_alloc_batch(gort__g **out, int max);
void     gort__slot_free_batch(gort__g *head, gort__g *tail);
void     gort__slot_trim(gort__g *g);         /* release deep stack pages before reuse */
void     gort__stack_check(gort__g *g);       /* canary check of unguarded stacks */
void     gort__stacks_init(size_t default_size);
void     gort__stacks_destroy(void);
size_t   gort__page_size(void);

#endif
