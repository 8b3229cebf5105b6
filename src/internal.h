/*
 * internal.h — the contracts between gort's modules.
 *
 * Everything a module outside the scheduler may use: low-level locks, the
 * park/ready primitive, waiters (one blocking mechanism for goroutines and
 * foreign threads alike), engine timers and semaphores. Internal non-static
 * names are gort__*. The scheduler's own structures (G, M, P) live in
 * engine.h and are private to the engine core (sched.c, stack.c, timer.c, waiter.c, gls.c).
 *
 * Blocking model, in one paragraph. A thread of control that must wait
 * (a goroutine, or a foreign OS thread) arms a gort__waiter on its own stack,
 * publishes it in some wait queue while holding that queue's lock, and calls
 * gort__waiter_sleep(), which releases the lock only once the sleeper can no
 * longer miss its wake-up. Whoever wants to complete the wait (a sender, an
 * unlocker, a timer) must first win gort__waiter_claim(); only the winner
 * may write results into the sleeper's memory and then calls
 * gort__waiter_wake(). A deadline is a second contender for the same claim.
 * So every armed waiter is completed exactly once, by exactly one party, and
 * the losers simply skip it (Go's selectDone, generalised).
 */
#ifndef GORT_INTERNAL_H
#define GORT_INTERNAL_H

#include "gort.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GORT__HIDDEN __attribute__((visibility("hidden")))
#define GORT__NOINLINE __attribute__((noinline))
#define GORT__LIKELY(x) __builtin_expect(!!(x), 1)
#define GORT__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GORT__CACHELINE 64
/* Engine-core code lives in one named section so that the asynchronous
 * preemption signal handler can tell "inside the scheduler" from anywhere
 * else by address, in static and shared builds alike (the linker defines
 * __start_gort_core / __stop_gort_core). Code there is never preempted. */
#define GORT__CORE __attribute__((section("gort_core")))

/* Internal locks held by this thread (os_linux.c). While non-zero the
 * thread's goroutine is not preempted asynchronously, so a goroutine never
 * migrates while it holds an internal lock. */
extern __thread int gort__tls_locks;

/* Abort the process with "gort: fatal error: <msg>" (Go's throw). */
_Noreturn void gort__fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- OS primitives (os_linux.c) ---------------------------------------- */

/* futex on a 32-bit word. wait returns when *addr != val, on a wake, or
 * spuriously; deadline is absolute gort_now() ns or GORT_FOREVER. Returns
 * GORT_ETIMEDOUT when the deadline passed, else 0. */
int  gort__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline);
void gort__futex_wake(_Atomic uint32_t *addr, int n);
int  gort__ncpu(void);
/* gort_now() at the last timer tick: up to a few ms behind it, never ahead;
 * for time stamps that only dumps show (a fraction of gort_now()'s cost). */
int64_t gort__now_coarse(void);
/* Spin hint (PAUSE / YIELD), n times. */
void gort__procyield(int n);

/* ---- low-level lock ----------------------------------------------------- */
/* A futex mutex (three states: 0 free, 1 locked, 2 locked with sleepers).
 * It blocks the OS thread, never a goroutine: hold it only for short,
 * non-blocking critical sections. Zero-initialised = unlocked. Built on C11
 * atomics with acquire/release, so TSan understands it. */
typedef struct gort__lock {
    _Atomic uint32_t word;
} gort__lock;
#define GORT__LOCK_INIT {0}
void gort__lock_acquire(gort__lock *l);
bool gort__lock_try(gort__lock *l);
void gort__lock_release(gort__lock *l);

/* ---- randomness --------------------------------------------------------- */
/* Fast per-thread PRNG (wyrand); not for cryptography. */
uint32_t gort__rand32(void);
/* Uniform in [0, n), n > 0. */
uint32_t gort__randn(uint32_t n);

/* ---- goroutines --------------------------------------------------------- */

typedef struct gort__g gort__g;

/* Why a goroutine is parked; shown in goroutine dumps. */
typedef enum gort__wait_reason {
    GORT__WAIT_NONE = 0,
    GORT__WAIT_CHAN_RECV,
    GORT__WAIT_CHAN_SEND,
    GORT__WAIT_SELECT,
    GORT__WAIT_SELECT_NO_CASES,
    GORT__WAIT_CHAN_NIL,       /* blocked forever on a NULL channel */
    GORT__WAIT_SLEEP,
    GORT__WAIT_MUTEX,
    GORT__WAIT_RWMUTEX_R,
    GORT__WAIT_RWMUTEX_W,
    GORT__WAIT_WAITGROUP,
    GORT__WAIT_COND,
    GORT__WAIT_SEMAPHORE,
    GORT__WAIT_ONCE,
    GORT__WAIT_IO,
    GORT__WAIT_SYSCALL,
    GORT__WAIT_PROMISE,
    GORT__WAIT_COUNT_
} gort__wait_reason;
const char *gort__wait_reason_name(gort__wait_reason r);

/* The running goroutine, or NULL on a foreign thread and on an engine
 * thread's scheduler context (timer callbacks run there). Never cached by
 * the compiler across a call that may park (it is an out-of-line call). */
gort__g *gort__current(void);

/* Park the running goroutine. After its context is saved, on the scheduler
 * stack (or the next goroutine's, see gort__waiter_sleep), commit(commit_arg) runs (typically: release the lock that protects
 * the wait queue the goroutine was published in). The goroutine resumes
 * after someone calls gort__ready(g). A gort__ready() that happens before
 * the park completes is not lost: the park returns at once (the G keeps a
 * one-shot permit). Callers must therefore arrange that every park is
 * matched by exactly one ready — the waiter protocol below does that. */
void gort__park(void (*commit)(void *), void *commit_arg, gort__wait_reason why);
/* Make g runnable. Callable from any thread: a goroutine, an engine thread's
 * scheduler context (timer callbacks), or a foreign thread. */
void gort__ready(gort__g *g);

/* ---- waiters ------------------------------------------------------------ */

enum {
    GORT__WAITER_WAITING = 0,
    GORT__WAITER_CLAIMED = 1,  /* a waker won: it fills in results, then wakes */
    GORT__WAITER_TIMEDOUT = 2, /* the deadline won */
};

typedef struct gort__timer gort__timer;

/* ---- engine timers (timer.c) -------------------------------------------- */
/* base + ns (ns >= 0) for a deadline, saturating at INT64_MAX - 1: 292
 * years away, "never" in practice, and distinct from INT64_MAX, which timer
 * heaps use for "no timer". A huge delay sleeps; it never wraps into the
 * past. */
static inline int64_t gort__deadline_add(int64_t base, int64_t ns)
{
    return ns > INT64_MAX - 1 - base ? INT64_MAX - 1 : base + ns;
}

/* A timer lives in the 4-ary min-heap of one P and is fired by whichever
 * engine thread next looks at that heap (on schedule, when looking for work,
 * or when an idle thread sleeps until the earliest timer). The callback runs
 * on an engine thread's scheduler context, *not* under any timer lock, and
 * must not block: it may ready goroutines, claim/wake waiters, or do
 * non-blocking channel operations. The caller owns the struct's memory. */
typedef void (*gort__timer_fn)(gort__timer *t, int64_t now);
struct gort__timer {
    int64_t        when;    /* absolute deadline (gort_now ns); set before start */
    int64_t        period;  /* > 0: re-armed at when + period after each firing */
    gort__timer_fn fn;      /* callback; set before start */
    void          *arg;     /* for the callback */
    void (*dispose)(gort__timer *t); /* optional: gort_shutdown calls it for a
                                        timer still armed, to free its owner */
    /* private to timer.c */
    struct gort__p  *owner_;    /* heap it is in (or was last in) */
    int32_t          index_;    /* position in the owner's heap; -1 if not in a heap */
    _Atomic uint32_t status_;   /* idle / in heap / running; see timer.c */
};
/* Arm t (fields when/period/fn/arg set). On a goroutine's P, or a P chosen
 * by the engine when called elsewhere. GORT_ENOTINIT without an engine. */
int  gort__timer_start(gort__timer *t);
/* Disarm t. If its callback is running on another thread, wait until it has
 * returned, so that on return the timer's memory may be reused. Returns true
 * if it was armed (the pending firing was cancelled). Must not be called
 * from t's own callback. */
bool gort__timer_stop(gort__timer *t);

typedef struct gort__waiter {
    gort__g         *g;      /* sleeping goroutine; NULL for a foreign thread */
    _Atomic uint32_t state;  /* GORT__WAITER_* */
    _Atomic uint32_t woken;  /* foreign thread: futex word, 0 -> 1 at wake */
    void            *token;  /* set by the claim winner before waking: which
                                queue entry won (e.g. a select case), or data */
    int64_t          deadline; /* GORT_FOREVER or absolute ns */
    uint8_t          counted;  /* foreign sleeper counted in the deadlock check;
                                  the waker uncounts it before waking */
    gort__timer      timer;  /* goroutine + deadline: the timeout contender */
} gort__waiter;

/* Arm w for the calling context (goroutine or foreign thread), with an
 * absolute deadline (GORT_FOREVER, GORT_NOWAIT or gort_now() ns). */
void gort__waiter_init(gort__waiter *w, int64_t deadline);
/* Try to take the right to complete w. true: the caller must write its
 * results and call gort__waiter_wake(w). false: someone else did; skip w. */
static inline bool gort__waiter_claim(gort__waiter *w)
{
    uint32_t expect = GORT__WAITER_WAITING;
    return atomic_compare_exchange_strong_explicit(&w->state, &expect, GORT__WAITER_CLAIMED,
                                                   memory_order_acq_rel, memory_order_acquire);
}
/* Wake the sleeper of a claimed waiter. Release ordering: everything the
 * claimer wrote before is visible to the sleeper when it returns. */
void gort__waiter_wake(gort__waiter *w);
/* Sleep until w is claimed and woken, or until deadline. unlock(arg) is
 * called exactly once, after the sleeper is safely published (for a
 * goroutine: on the scheduler stack after its context is saved). Returns 0
 * when a claimer woke it, GORT_ETIMEDOUT when the deadline won (then the
 * caller must re-lock and remove its still-queued entries: claimers that
 * dequeue them fail to claim and skip them). deadline GORT_NOWAIT behaves
 * as an already-passed deadline. */
int gort__waiter_sleep(gort__waiter *w, void (*unlock)(void *), void *arg, gort__wait_reason why);
/* (unlock runs on the scheduler stack for a goroutine — or, after a direct
 * hand-off, on the stack of the goroutine switched to, with at least 16 KiB
 * left — where gort__current() is NULL; it may take low-level locks and
 * wake others — gort_cond_wait releases the user's mutex there — but must
 * not block.) */
/* The common case: unlock is gort__lock_release(l). */
int gort__waiter_sleep_lock(gort__waiter *w, gort__lock *l, gort__wait_reason why);

/* Block forever (a NULL channel, select with no cases). In a goroutine it
 * parks for good (the dump shows why); on a foreign thread it sleeps. */
_Noreturn void gort__block_forever(gort__wait_reason why);

/* ---- semaphores (sema.c) ------------------------------------------------ */
/* Go's runtime semaphore (semacquire/semrelease), embedded in the sync
 * structs rather than looked up by address. Zero-initialised = count 0. */
typedef struct gort__sema_waiter gort__sema_waiter;
typedef struct gort__sema {
    _Atomic uint32_t   count;   /* available units */
    _Atomic uint32_t   nwait;   /* sleepers (lets release skip the lock) */
    _Atomic uint32_t   releasing; /* releasers still touching this sema (see sema.c, "lifetime") */
    gort__lock         lock;    /* protects head/tail */
    gort__sema_waiter *head;    /* FIFO of sleepers */
    gort__sema_waiter *tail;
} gort__sema;
/* lifo: queue at the front (Go's mutex re-waiters). */
void gort__sema_acquire(gort__sema *s, bool lifo, gort__wait_reason why);
int  gort__sema_acquire_until(gort__sema *s, bool lifo, int64_t deadline, gort__wait_reason why);
/* handoff: give the unit directly to the first sleeper and, in a goroutine,
 * yield to it (Go's starvation-mode handoff). */
void gort__sema_release(gort__sema *s, bool handoff);

/* A cooperative preemption point: if sysmon asked the running goroutine to
 * yield (it ran for 10 ms), yield now. Call it at API entry, holding no
 * lock. No-op on foreign threads and on the scheduler stack. */
void gort__preempt_point(void);
/* A hand-off yield (sema.c): yield if the caller is a goroutine that allows
 * cooperative yields at gort calls (not nopreempt — a language binding may
 * hold an interpreter lock across such calls); no-op on a foreign thread or
 * the scheduler context, where there is nothing to yield to. */
void gort__handoff_yield(void);

/* Whether a sync primitive may spin-wait (Go's sync_runtime_canSpin): more
 * than one CPU and one P, another P is running, our run queue is empty,
 * iter < 4. */
bool gort__sync_can_spin(int iter);

/* ---- loops (loop.c), for promises (promise.c) ---------------------------- */
/* Queue fn(arg) as a microtask on loop, from any thread: on the loop's own
 * thread it joins the microtask queue directly; from elsewhere it goes
 * through the loop's thread-safe inbox and becomes a microtask at the
 * loop's next check (it wakes the loop). 0, GORT_ENOMEM, GORT_ESHUTDOWN
 * (the engine that ran the loop has shut down) or GORT_ECANCELED (the loop
 * was freed). Keeps the loop alive until it has run. If the loop is freed
 * with the microtask still queued, cancel(arg) runs instead (cancel may be
 * NULL: dropped). */
int gort__loop_enqueue_micro(gort_loop *loop, gort_task_fn fn, gort_task_fn cancel, void *arg);
/* References to a loop's memory (not keep-alive: see gort_loop_ref) for
 * whoever may enqueue on it later — a reaction registered on a pending
 * promise. gort_loop_free tears the loop down at once; the struct itself
 * goes with the last hold, so a late enqueue finds it closed, not freed. */
void gort__loop_hold(gort_loop *loop);
void gort__loop_drop(gort_loop *loop);
/* Whether the caller is a loop's thread running outside any goroutine
 * (awaiting there could never be woken: the loop itself is what would run
 * the wake-up). */
bool gort__on_loop_scheduler(void);
/* Loop-bound goroutines block through the ordinary waiter protocol:
 * gort__ready() on one hands it back to its loop, which runs it right after
 * the microtask (or task) in progress — exactly where JavaScript resumes an
 * async function after `await`. */

#endif /* GORT_INTERNAL_H */
