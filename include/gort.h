/*
 * gort.h — Go's concurrency engine as a C library.
 *
 * One umbrella header. Everything public is named gort_ / GORT_.
 *
 * Conventions (see docs/api.md for the full contract):
 *   - Every call that can fail returns 0 (or a non-negative result) on success
 *     and a negative GORT_E* code on failure; gort_strerror() names it.
 *     gort never reports errors through errno.
 *   - Deadlines are absolute nanoseconds on the gort_now() clock.
 *     GORT_FOREVER (-1) waits forever, GORT_NOWAIT (0) never blocks.
 *   - Every blocking call works inside a goroutine (it parks the goroutine)
 *     and on a foreign thread, i.e. any thread gort does not own (it blocks
 *     that OS thread).
 *   - Heap objects are opaque handles; small caller-allocated structs
 *     (mutex, wait group, ...) have static initializers and reserved space,
 *     and their layout never changes within a major version.
 */
#ifndef GORT_H
#define GORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ABI ---------------------------------------------------------------- */

#if defined(GORT_STATIC)
#define GORT_API
#elif defined(__GNUC__)
#define GORT_API __attribute__((visibility("default")))
#else
#define GORT_API
#endif

#define GORT_VERSION_MAJOR 0
#define GORT_VERSION_MINOR 1
#define GORT_VERSION_PATCH 0
#define GORT_VERSION_HEX \
    ((GORT_VERSION_MAJOR << 16) | (GORT_VERSION_MINOR << 8) | GORT_VERSION_PATCH)

GORT_API unsigned    gort_version(void);        /* GORT_VERSION_HEX of the library */
GORT_API const char *gort_version_string(void); /* "0.1.0" */

/* ---- errors ------------------------------------------------------------- */
/* X-macro: name, value, message. Values that have an errno twin use the
 * (negated) Linux errno value so that I/O errors and gort errors share one
 * space; gort-specific conditions live at -1000 and below. */
#define GORT_ERRNO_MAP(X)                                                      \
    X(EPERM, -1, "operation not permitted in this context")                   \
    X(EAGAIN, -11, "operation would block")                                    \
    X(ENOMEM, -12, "out of memory")                                            \
    X(EBUSY, -16, "resource busy")                                             \
    X(EINVAL, -22, "invalid argument")                                         \
    X(ERANGE, -34, "value out of range")                                       \
    X(EDEADLK, -35, "operation would deadlock")                                \
    X(ENOSYS, -38, "not supported on this platform")                           \
    X(ETIMEDOUT, -110, "deadline exceeded")                                    \
    X(EALREADY, -114, "already initialized")                                   \
    X(ECANCELED, -125, "operation canceled")                                   \
    X(ENOTINIT, -1001, "gort is not initialized")                              \
    X(ECLOSED, -1002, "channel closed")                                        \
    X(ESHUTDOWN, -1003, "gort is shutting down")                               \
    X(EREJECTED, -1004, "promise rejected")                                    \
    X(EAGGREGATE, -1005, "all promises were rejected")                         \
    X(ECYCLE, -1006, "promise resolved with itself")

enum {
#define GORT__ERR_ENUM(name, val, msg) GORT_##name = (val),
    GORT_ERRNO_MAP(GORT__ERR_ENUM)
#undef GORT__ERR_ENUM
    GORT_OK = 0
};

GORT_API const char *gort_strerror(int err);  /* message; unknown negatives: strerror(-err) */
GORT_API const char *gort_err_name(int err);  /* "GORT_EINVAL", or "GORT_E?" */

/* ---- time --------------------------------------------------------------- */

#define GORT_FOREVER ((int64_t)-1)
#define GORT_NOWAIT  ((int64_t)0)
#define GORT_MICROSECOND ((int64_t)1000)
#define GORT_MILLISECOND ((int64_t)1000000)
#define GORT_SECOND      ((int64_t)1000000000)

GORT_API int64_t gort_now(void);              /* monotonic nanoseconds (CLOCK_MONOTONIC) */

/* ---- runtime ------------------------------------------------------------ */

typedef struct gort_config {
    size_t   struct_size; /* sizeof(gort_config): set by gort_config_init */
    int      procs;       /* number of Ps; 0 = GORT_PROCS env, else online CPUs */
    size_t   stack_size;  /* default goroutine stack reservation; 0 = 256 KiB */
    int      max_threads; /* cap on OS threads (Ms); 0 = 10000, like Go */
    uint32_t flags;       /* reserved for future flags: 0 */
    uint64_t reserved[8]; /* zero */
} gort_config;

GORT_API void gort_config_init(gort_config *cfg); /* defaults */

/* Start the engine. NULL = defaults. GORT_EALREADY if it is running,
 * GORT_EINVAL for a bad config, GORT_ENOMEM. */
GORT_API int  gort_init(const gort_config *cfg);
/* Initialize if needed, run fn(arg) as a goroutine and return when it returns.
 * If this call initialized the engine it also shuts it down afterwards (the
 * other goroutines are discarded, as when a Go program's main returns).
 * Must be called from a foreign thread: GORT_EPERM inside a goroutine. */
GORT_API int  gort_main(void (*fn)(void *), void *arg);
/* Stop every engine thread, discard goroutines that have not finished and
 * free all engine memory; gort_init may be called again afterwards.
 * Call it from a foreign thread; inside a goroutine it aborts the process
 * with a message (a goroutine cannot destroy the stack it runs on). */
GORT_API void gort_shutdown(void);
GORT_API int  gort_initialized(void);         /* 1 if the engine runs */
GORT_API int  gort_procs(void);               /* number of Ps, 0 if not running */

/* ---- goroutines --------------------------------------------------------- */

typedef struct gort_go_options {
    size_t      struct_size; /* sizeof(gort_go_options): set by gort_go_options_init */
    size_t      stack_size;  /* 0 = engine default; rounded up to pages; min 16 KiB */
    const char *name;        /* copied (first GORT_NAME_MAX-1 bytes); NULL = none */
    int         pinned;      /* 1: runs only on an OS thread of its own (never migrates) */
    int         nopreempt;   /* 1: never preempted, like gort_preempt_disable (also no
                                cooperative yields at gort calls, nor the yield of a
                                mutex unlock handing off to a starving waiter) */
    uint64_t    reserved[6];
} gort_go_options;
#define GORT_NAME_MAX 32

GORT_API void     gort_go_options_init(gort_go_options *opts);
/* Like `go fn(arg)`. 0, GORT_EINVAL (fn NULL, or stack_size over 1 GiB),
 * GORT_ENOTINIT, GORT_ESHUTDOWN (during gort_shutdown), GORT_ENOMEM.
 * GORT_EAGAIN: the pool has no thread and none could be created. 0 means
 * accepted, and a goroutine accepted runs: if no further thread can be
 * created now, the engine keeps retrying (docs/api.md §3.1). */
GORT_API int      gort_go(void (*fn)(void *), void *arg);
GORT_API int      gort_go_opts(void (*fn)(void *), void *arg, const gort_go_options *opts);
GORT_API void     gort_yield(void);             /* foreign thread: sched_yield() */
GORT_API void     gort_sleep(int64_t ns);       /* relative, saturating (INT64_MAX sleeps); <= 0 yields */
GORT_API uint64_t gort_self(void);              /* goroutine id (>= 1); 0 on a foreign thread */
GORT_API const char *gort_self_name(void);      /* name given at spawn, "" if none or foreign */

/* Goroutine-local storage. Keys are process-wide (at most GORT_KEYS_MAX);
 * a destructor runs at goroutine exit for each non-NULL value. On a foreign
 * thread the values are thread-local (destructors do not run). */
#define GORT_KEYS_MAX 128
typedef int gort_key;
GORT_API int   gort_key_create(gort_key *key, void (*destructor)(void *)); /* 0 or GORT_EAGAIN (no keys left) */
GORT_API int   gort_key_delete(gort_key key);
GORT_API int   gort_setspecific(gort_key key, void *value);                /* GORT_EINVAL for a bad key */
GORT_API void *gort_getspecific(gort_key key);                             /* NULL for a bad key */

/* ---- blocking calls, preemption, debugging ------------------------------ */

/* Bracket a call that may block in the kernel (or run long in foreign
 * code). While a goroutine is inside, its P is handed to another thread
 * after ~20 us so that other goroutines keep running (Go's syscall handoff).
 * Call no gort function between enter and exit. On a foreign thread both
 * are no-ops. GORT_EINVAL: enter while inside, or exit without enter. */
GORT_API int gort_syscall_enter(void);
GORT_API int gort_syscall_exit(void);
/* gort_syscall_enter(); fn(arg); gort_syscall_exit(). */
GORT_API int gort_blocking(void (*fn)(void *), void *arg);

/* Preemption. A goroutine that runs for more than 10 ms is asked to yield:
 * at its next gort call (cooperative) and, on x86-64 Linux, with a signal
 * (SIGURG) that switches it out at the interrupted instruction when that is
 * safe: never inside gort itself, the C library, the dynamic loader or any
 * shared library other than the main program, never while it holds an
 * internal lock or has preemption disabled. Such a goroutine may resume on
 * another OS thread: code that relies on thread identity (thread-locals such
 * as errno across calls, pthread mutexes, thread-affine handles) must run
 * with preemption disabled or pinned. GORT_ASYNCPREEMPT=0 in the environment
 * turns the signal off for the process (Go: GODEBUG=asyncpreemptoff=1).
 * disable/enable nest; they affect only the calling goroutine. */
GORT_API void gort_preempt_disable(void);
GORT_API void gort_preempt_enable(void);
GORT_API int  gort_preempt_async_enabled(void); /* 1 if signal-based preemption is set up
                                                   (per process: decided at the first gort_init) */

/* Goroutine dump (like Go's SIGQUIT traceback): every live goroutine's id,
 * state, wait reason, how long it has waited, name and creation site, to fd.
 * SIGQUIT prints the same dump and exits with status 2, unless the program
 * installed its own SIGQUIT handler before gort_init or set GORT_SIGQUIT=0. */
GORT_API int gort_dump(int fd);
GORT_API int64_t gort_num_goroutine(void); /* live goroutines */

/* ---- channels ----------------------------------------------------------- */
/* Go's channels: FIFO queues of fixed-size values (elem_size bytes, copied
 * in and out; 0 is allowed, like chan struct{}), buffered (cap > 0) or
 * unbuffered (cap == 0: a send completes only when a receiver has taken the
 * value). Every call works from goroutines (they park) and from foreign
 * threads (they block), in any mix, on the same channel.
 *
 * Results: 0; GORT_ECLOSED (send on a closed channel; receive on a closed
 * channel once its buffer is drained — the destination is then zeroed);
 * GORT_EAGAIN (try_*, or *_until with GORT_NOWAIT: it would block);
 * GORT_ETIMEDOUT (*_until: the deadline passed while waiting; a deadline
 * already past still lets a ready operation complete); GORT_EINVAL (send of
 * elem == NULL when elem_size > 0; close(NULL)).
 *
 * NULL channel (Go's nil channel): send/recv block forever, *_until wait
 * until the deadline and return GORT_ETIMEDOUT, try_* return GORT_EAGAIN,
 * close returns GORT_EINVAL, len/cap/elem_size return 0. A receive into
 * out == NULL discards the value.
 *
 * References: gort_chan_make returns one reference; gort_chan_retain adds
 * one, gort_chan_release drops one and frees the channel at zero. Hold a
 * reference for the whole duration of every call you make on a channel.
 * A blocked operation (send, receive, or any case of a blocked select)
 * holds its own reference while it waits, so releasing the last *user*
 * reference never frees memory that someone waits on: the channel stays
 * alive until the last blocked operation ends — by its deadline, or, in a
 * select, by another case firing. Operations blocked without a deadline on
 * a channel nobody else can reach stay blocked, as Go's goroutines leak on
 * an unreachable channel. Releasing more references than were taken is a
 * fatal error when detected ("gort: fatal error: ..."). */

typedef struct gort_chan gort_chan;
#define GORT_CHAN_ELEM_MAX ((size_t)65536) /* largest element, in bytes (like Go's 64 KiB) */

GORT_API gort_chan *gort_chan_make(size_t elem_size, size_t cap); /* NULL: elem_size > GORT_CHAN_ELEM_MAX, cap * elem_size too large, ENOMEM */
GORT_API gort_chan *gort_chan_retain(gort_chan *ch);             /* +1 reference; returns ch (NULL: no-op) */
GORT_API void    gort_chan_release(gort_chan *ch);                /* -1 reference; freed at 0 (NULL: no-op) */
GORT_API int     gort_chan_send(gort_chan *ch, const void *elem);   /* GORT_ECLOSED on a closed channel */
GORT_API int     gort_chan_recv(gort_chan *ch, void *out);          /* GORT_ECLOSED when closed and drained; out zeroed; out may be NULL */
GORT_API int     gort_chan_try_send(gort_chan *ch, const void *elem); /* GORT_EAGAIN if it would block */
GORT_API int     gort_chan_try_recv(gort_chan *ch, void *out);
GORT_API int     gort_chan_send_until(gort_chan *ch, const void *elem, int64_t deadline); /* + GORT_ETIMEDOUT */
GORT_API int     gort_chan_recv_until(gort_chan *ch, void *out, int64_t deadline);
GORT_API int     gort_chan_close(gort_chan *ch);                    /* GORT_ECLOSED if already closed; wakes every blocked receiver (GORT_ECLOSED, zeroed) and sender (GORT_ECLOSED) */
GORT_API size_t  gort_chan_len(gort_chan *ch);                      /* buffered values (a snapshot) */
GORT_API size_t  gort_chan_cap(gort_chan *ch);
GORT_API size_t  gort_chan_elem_size(gort_chan *ch);

/* select: cases with chan == NULL never fire (Go's nil channel) */
enum { GORT_SEND = 1, GORT_RECV = 2 };
typedef struct gort_case {
    gort_chan *chan;
    int        dir;    /* GORT_SEND or GORT_RECV */
    void      *elem;   /* send: value to send; recv: where to store (may be NULL) */
    int        result; /* out: 0, or GORT_ECLOSED for the case that fired */
} gort_case;
#define GORT_SELECT_MAX 65536
/* Index of the case that fired (its result: 0 or GORT_ECLOSED), chosen
 * uniformly among ready ones; GORT_EAGAIN if none is ready and
 * deadline == GORT_NOWAIT (Go's default case); GORT_ETIMEDOUT; GORT_EINVAL
 * for bad cases (n > GORT_SELECT_MAX, cases == NULL with n > 0, dir not
 * GORT_SEND/GORT_RECV, a send case with elem == NULL and elem_size > 0);
 * GORT_ENOMEM (only for selects with many cases: small ones never
 * allocate). A send case on a closed channel fires with GORT_ECLOSED (Go
 * panics); a receive case on a closed, drained channel fires with
 * GORT_ECLOSED and *elem zeroed. A channel may appear in several cases.
 * With no case on a non-NULL channel (n == 0 included): GORT_NOWAIT ->
 * GORT_EAGAIN, a deadline -> sleep until it, GORT_ETIMEDOUT, GORT_FOREVER ->
 * block forever (Go's empty select). Every result field is reset to 0. */
GORT_API int gort_select(gort_case *cases, size_t n, int64_t deadline);

/* Timer channels (Go's time.After / time.NewTicker): a channel of int64_t
 * with capacity 1 that receives the gort_now() at which the timer fired.
 * They need a running engine (NULL otherwise).
 * gort_after: the caller owns the only reference; releasing it before the
 * timer fires cancels the timer (nothing leaks). ns <= 0: the value is
 * already there on return.
 * Tickers fire every period_ns; a tick that finds the previous one still
 * unread is dropped (Go's behaviour for slow receivers).
 * gort_ticker_stop stops the ticker and drops its reference to the channel;
 * like Go's Stop it does not close the channel: a receiver blocked on it
 * stays blocked (use a deadline or a select), and a caller that keeps using
 * the channel after stop must have retained it. */
typedef struct gort_timer gort_timer;
GORT_API gort_chan  *gort_after(int64_t ns);                   /* fires once; caller owns one reference */
GORT_API gort_timer *gort_ticker_new(int64_t period_ns);       /* NULL if period <= 0 */
GORT_API gort_chan  *gort_ticker_chan(gort_timer *t);          /* borrowed (NULL for NULL) */
GORT_API void        gort_ticker_stop(gort_timer *t);          /* stops and frees (NULL: no-op) */

/* ---- sync --------------------------------------------------------------- */
/* Caller-allocated; zero (the static initializer) is the ready state.
 * All of them work from goroutines and from foreign threads. Misuse that Go
 * treats as a fatal error (unlock of an unlocked mutex, negative wait-group
 * counter) aborts the process with a "gort: fatal error: ..." message. */

typedef struct gort_mutex   { uint64_t opaque_[8]; }  gort_mutex;
typedef struct gort_rwmutex { uint64_t opaque_[16]; } gort_rwmutex;
typedef struct gort_wg      { uint64_t opaque_[8]; }  gort_wg;
typedef struct gort_once    { uint64_t opaque_[8]; }  gort_once;
typedef struct gort_cond    { uint64_t opaque_[8]; }  gort_cond;
typedef struct gort_sem     { uint64_t opaque_[8]; }  gort_sem;

#define GORT_MUTEX_INIT   {{0}}
#define GORT_RWMUTEX_INIT {{0}}
#define GORT_WG_INIT      {{0}}
#define GORT_ONCE_INIT    {{0}}
#define GORT_COND_INIT    {{0}}
#define GORT_SEM_INIT     {{0}}

GORT_API void gort_mutex_lock(gort_mutex *mu);
GORT_API int  gort_mutex_trylock(gort_mutex *mu);    /* 0 or GORT_EBUSY */
GORT_API int  gort_mutex_lock_until(gort_mutex *mu, int64_t deadline); /* 0 or GORT_ETIMEDOUT;
                                                  GORT_NOWAIT acts like trylock (fails in starvation mode) */
GORT_API void gort_mutex_unlock(gort_mutex *mu);

GORT_API void gort_rwmutex_rlock(gort_rwmutex *rw);
GORT_API int  gort_rwmutex_tryrlock(gort_rwmutex *rw);  /* 0 or GORT_EBUSY */
GORT_API void gort_rwmutex_runlock(gort_rwmutex *rw);
GORT_API void gort_rwmutex_lock(gort_rwmutex *rw);
GORT_API int  gort_rwmutex_trylock(gort_rwmutex *rw);   /* 0 or GORT_EBUSY */
GORT_API void gort_rwmutex_unlock(gort_rwmutex *rw);

GORT_API void gort_wg_add(gort_wg *wg, int64_t delta);
GORT_API void gort_wg_done(gort_wg *wg);
GORT_API void gort_wg_wait(gort_wg *wg);
GORT_API int  gort_wg_wait_until(gort_wg *wg, int64_t deadline); /* 0 or GORT_ETIMEDOUT */

/* Runs fn(arg) exactly once; concurrent callers wait until it has returned. */
GORT_API void gort_once_do(gort_once *once, void (*fn)(void *), void *arg);

/* Condition variable used with a gort_mutex (Go's sync.Cond). */
GORT_API void gort_cond_wait(gort_cond *c, gort_mutex *mu);
GORT_API int  gort_cond_wait_until(gort_cond *c, gort_mutex *mu, int64_t deadline); /* 0 or GORT_ETIMEDOUT; mu re-held either way
                                                  (GORT_NOWAIT: GORT_ETIMEDOUT without releasing mu) */
GORT_API void gort_cond_signal(gort_cond *c);
GORT_API void gort_cond_broadcast(gort_cond *c);

/* Counting semaphore (golang.org/x/sync/semaphore: weighted, FIFO).
 * GORT_SEM_INIT is a semaphore of capacity 0: call gort_sem_init first. */
GORT_API int  gort_sem_init(gort_sem *s, int64_t capacity);          /* GORT_EINVAL if capacity < 0 */
GORT_API int  gort_sem_acquire(gort_sem *s, int64_t n);              /* GORT_EINVAL if n < 0 or n > capacity */
GORT_API int  gort_sem_acquire_until(gort_sem *s, int64_t n, int64_t deadline);
GORT_API int  gort_sem_try_acquire(gort_sem *s, int64_t n);          /* 0, GORT_EAGAIN, or GORT_EINVAL (bad n) */
GORT_API void gort_sem_release(gort_sem *s, int64_t n);              /* releasing more than held aborts */

/* ---- event loop (serial executor) --------------------------------------- */
/* JavaScript's model on gort's engine: one thread runs the loop's work one
 * piece at a time, never in parallel and never preempted. Each iteration:
 * due timers, then macrotasks in FIFO order, each followed by a drain of the
 * microtask queue (promise reactions), and loop-bound goroutines — stackful
 * async functions that run only on their loop and interleave only where they
 * await. Work can be posted from any thread or goroutine. A loop needs the
 * engine (gort_init). See docs/loop.md. */
typedef struct gort_loop gort_loop;
typedef void (*gort_task_fn)(void *arg);

GORT_API gort_loop *gort_loop_new(void);          /* NULL: engine not initialized or ENOMEM */
/* Free a loop that is not running. Pending tasks and timers are dropped;
 * loop-bound goroutines still parked are discarded at gort_shutdown.
 * Promise reactions bound to the loop (queued, or registered on a promise
 * still pending) are cancelled: the handler never runs, the derived promise
 * is rejected with GORT_ECANCELED (teardown, not an error the program
 * forgot: it is never reported as an unhandled rejection), the user-data
 * destructor runs once (at the free, or when the pending promise settles).
 * See docs/loop.md. */
GORT_API void gort_loop_free(gort_loop *loop);
/* Run on the calling thread until nothing is pending (no task, timer, I/O
 * watcher, reference, or live loop-bound goroutine — like Node exiting) or
 * gort_loop_stop. 0; GORT_EBUSY if it runs already; GORT_EPERM inside a
 * goroutine or on another loop's thread; GORT_EINVAL for NULL;
 * GORT_ENOTINIT without an engine; GORT_ESHUTDOWN if the engine it was
 * made on has shut down since; GORT_ENOMEM. */
GORT_API int  gort_loop_run(gort_loop *loop);
/* One iteration: wait until deadline (GORT_NOWAIT: not at all) for work,
 * run what is ready. Returns 1 if work is still pending, 0 if none, or a
 * negative GORT_E* as gort_loop_run. For embedding in another event loop
 * (watch gort_loop_fd, call this with GORT_NOWAIT when it is readable). */
GORT_API int  gort_loop_run_once(gort_loop *loop, int64_t deadline);
GORT_API int  gort_loop_start(gort_loop *loop);   /* run on a thread of its own */
GORT_API int  gort_loop_join(gort_loop *loop);    /* wait for that thread to finish */
/* Any thread: run returns after the current task. A stop while the loop is
 * not running makes its next run return at once (as libuv's uv_stop); run
 * consumes the request when it returns. */
GORT_API void gort_loop_stop(gort_loop *loop);
/* Queue a macrotask (FIFO), from any thread or goroutine. 0, GORT_EINVAL,
 * GORT_ENOMEM, GORT_ESHUTDOWN (the engine shut down: the loop never runs
 * again). */
GORT_API int  gort_loop_post(gort_loop *loop, gort_task_fn fn, void *arg);
/* Queue a microtask: runs after the current task, before the next macrotask.
 * From another thread it is queued as soon as the loop next checks. */
GORT_API int  gort_loop_microtask(gort_loop *loop, gort_task_fn fn, void *arg);
GORT_API gort_loop *gort_loop_current(void);      /* the loop running on this thread, or NULL */
/* Timers (setTimeout / setInterval). Return an id > 0, or a negative error.
 * Callbacks run on the loop as macrotasks; same-deadline timers fire in the
 * order they were set. clear: 0, or GORT_EINVAL for an unknown or fired id.
 * Delays saturate (INT64_MAX: never due). GORT_ENOTINIT / GORT_ESHUTDOWN
 * once the engine is gone. */
GORT_API int64_t gort_loop_set_timeout(gort_loop *loop, int64_t delay_ns, gort_task_fn fn, void *arg);
GORT_API int64_t gort_loop_set_interval(gort_loop *loop, int64_t period_ns, gort_task_fn fn, void *arg);
GORT_API int  gort_loop_clear_timer(gort_loop *loop, int64_t id);
/* Keep the loop alive without pending work (libuv's handle ref), e.g. while
 * a foreign thread will post later. */
GORT_API void gort_loop_ref(gort_loop *loop);
GORT_API void gort_loop_unref(gort_loop *loop);
/* Spawn a loop-bound goroutine (an async function): it runs only on the
 * loop's thread, one at a time with the loop's tasks, and gives the loop
 * back only where it blocks (gort_await, channel operations, sleeps...). */
GORT_API int  gort_loop_go(gort_loop *loop, void (*fn)(void *), void *arg);
/* The same with options (stack size, name, nopreempt); pinned is GORT_EINVAL
 * (a loop-bound goroutine already runs only on the loop's thread). Language
 * bindings use it for interpreters that need deep stacks. */
GORT_API int  gort_loop_go_opts(gort_loop *loop, void (*fn)(void *), void *arg,
                                const gort_go_options *opts);
/* An fd that is readable whenever the loop has work to do (an eventfd), so
 * another event loop (asyncio, libuv, Node) can watch it and call
 * gort_loop_run_once(loop, GORT_NOWAIT), which drains it. It is written
 * once per burst of work: a host that reads it itself must call
 * gort_loop_run_once after every such read. It may be readable once with
 * nothing to do (a write that landed just after a turn ran its work). */
GORT_API int  gort_loop_fd(gort_loop *loop);
/* I/O readiness callbacks through the network poller: cb(fd, revents, arg)
 * runs on the loop each time fd becomes ready for events (GORT_POLLIN |
 * GORT_POLLOUT) until unwatched. Returns a watch id > 0 or an error. */
typedef void (*gort_io_cb)(int fd, int revents, void *arg);
GORT_API int64_t gort_loop_watch_fd(gort_loop *loop, int fd, int events, gort_io_cb cb, void *arg);
GORT_API int  gort_loop_unwatch(gort_loop *loop, int64_t id);
/* For a binding whose main thread waits in slices (to run signal handlers):
 * 1 if, right now, nothing could wake anyone — the engine is idle with no
 * timer or I/O wait, `loop` (may be NULL) is asleep with no timer or task,
 * and every thread but the caller is an engine thread or blocked forever
 * in gort. 0 otherwise; GORT_EINVAL, GORT_ENOTINIT, GORT_EPERM (goroutine
 * or engine thread). One look is not atomic: report a deadlock only after
 * several answers 1 with the same *witness, each after a timed-out slice. */
GORT_API int gort_quiescent(gort_loop *loop, uint64_t *witness);

/* ---- promises ------------------------------------------------------------ */
/* Promises/A+ in C. A promise is refcounted (new: 1 reference) and settles
 * once: pending -> fulfilled(value) | rejected(reason). A value is a void *
 * with an optional destructor, owned by the promise (called when the last
 * reference goes). A reason is a negative error code plus an optional
 * message (copied) or value. Reactions never run synchronously: they run as
 * microtasks on the loop given to gort_promise_then, in registration order. */
typedef struct gort_promise gort_promise;
enum { GORT_PENDING = 0, GORT_FULFILLED = 1, GORT_REJECTED = 2 };

GORT_API gort_promise *gort_promise_new(void);     /* NULL on ENOMEM */
GORT_API gort_promise *gort_promise_retain(gort_promise *p);
GORT_API void gort_promise_release(gort_promise *p);
/* Settle. GORT_EALREADY if already settled or resolving (then the value's
 * destructor is called at once: ownership passed to the call either way). */
GORT_API int  gort_promise_resolve(gort_promise *p, void *value, void (*dtor)(void *));
GORT_API int  gort_promise_reject(gort_promise *p, int err, const char *msg);   /* err < 0 */
GORT_API int  gort_promise_reject_value(gort_promise *p, int err, void *value, void (*dtor)(void *));
/* Resolve with another promise: adopt its eventual state (A+ 2.3).
 * Resolving a promise with itself, or through a chain back to itself,
 * rejects it with GORT_ECYCLE (JavaScript's TypeError). */
GORT_API int  gort_promise_resolve_with(gort_promise *p, gort_promise *other);

GORT_API int   gort_promise_state(const gort_promise *p);       /* GORT_PENDING/FULFILLED/REJECTED */
GORT_API void *gort_promise_value(const gort_promise *p);       /* fulfilled value (borrowed) or NULL */
GORT_API int   gort_promise_error(const gort_promise *p);       /* rejection code, or 0 */
GORT_API const char *gort_promise_message(const gort_promise *p); /* rejection message or NULL */
GORT_API void *gort_promise_reason(const gort_promise *p);      /* rejection value or NULL */
/* The destructor given with the fulfilled value or the rejection value (NULL
 * if none, or pending). Lets a language binding tell its own boxed values
 * from C values without dereferencing them. */
typedef void (*gort_dtor_fn)(void *);
GORT_API gort_dtor_fn gort_promise_dtor(const gort_promise *p);

/* A reaction: settle `next` (the promise then() returned) with
 * gort_promise_resolve / _reject / _resolve_with. If it returns without
 * settling next, next is fulfilled with NULL (JavaScript's undefined).
 * `settled` is the promise it reacts to (borrowed). */
typedef void (*gort_reaction_fn)(gort_promise *next, gort_promise *settled, void *user_data);
/* Register reactions on p, run as microtasks on loop. A NULL handler passes
 * the state through (a rejection without handler propagates down the chain).
 * Returns next (the caller owns one reference), NULL on bad input/ENOMEM. */
GORT_API gort_promise *gort_promise_then(gort_promise *p, gort_loop *loop,
                                         gort_reaction_fn on_fulfilled,
                                         gort_reaction_fn on_rejected, void *user_data);
/* The same, plus a destructor for user_data: it runs exactly once, right
 * after the reaction ran, or when the reaction is dropped without running
 * (p freed while pending, or its microtask could not be queued) — on the
 * thread where that happens. Not called if this returns NULL (the caller
 * still owns user_data). Lets a binding own what it passes as user_data. */
GORT_API gort_promise *gort_promise_then_ex(gort_promise *p, gort_loop *loop,
                                            gort_reaction_fn on_fulfilled,
                                            gort_reaction_fn on_rejected, void *user_data,
                                            void (*user_data_dtor)(void *));
/* Combinators (new promise; the inputs are retained, not consumed).
 * all: fulfilled with a void ** array of the n values (valid while the
 *      result lives), or rejected like the first rejected input.
 * all_settled: fulfilled with a gort_promise ** array of the n inputs.
 * race: settles like the first input to settle.
 * any: fulfilled like the first fulfilled input; if all reject, rejected
 *      with GORT_EAGGREGATE and a gort_promise ** array of the inputs as
 *      reason value. n == 0: all/all_settled fulfil, any rejects, race stays
 *      pending (as in JavaScript). */
GORT_API gort_promise *gort_promise_all(gort_promise *const *ps, size_t n);
GORT_API gort_promise *gort_promise_all_settled(gort_promise *const *ps, size_t n);
GORT_API gort_promise *gort_promise_race(gort_promise *const *ps, size_t n);
GORT_API gort_promise *gort_promise_any(gort_promise *const *ps, size_t n);

/* Run fn(p, arg) as a goroutine on the parallel pool; it settles p (if it
 * returns without doing so, p is fulfilled with NULL). Returns p (caller
 * owns one reference), or NULL. This is what JavaScript cannot do: heavy
 * work on all cores while the loop stays responsive. */
GORT_API gort_promise *gort_async(void (*fn)(gort_promise *p, void *arg), void *arg);
/* Wait for p to settle. In a pool goroutine it parks; in a loop-bound
 * goroutine it yields to the loop (that is async/await); on a foreign
 * thread it blocks. Returns 0 if fulfilled, the rejection code if rejected,
 * GORT_ETIMEDOUT at the deadline (p stays untouched), GORT_EDEADLK on a
 * loop's thread outside a loop-bound goroutine (it would never wake). */
GORT_API int  gort_await(gort_promise *p);
GORT_API int  gort_await_until(gort_promise *p, int64_t deadline);
/* Unhandled rejections: a rejected promise freed without ever having had a
 * reaction or an await is reported to this hook (default: a line on
 * stderr, like Node's warning). NULL restores the default. */
GORT_API void gort_set_unhandled_rejection_hook(void (*hook)(gort_promise *p, void *ud), void *ud);
/* Bridges. recv: a promise fulfilled with a malloc'd copy of the next value
 * received from ch (freed with the promise), or rejected with GORT_ECLOSED.
 * to_chan: when p settles, send p itself (retained; the receiver releases
 * it) on ch, whose elem_size must be sizeof(gort_promise *). */
GORT_API gort_promise *gort_promise_from_recv(gort_chan *ch);
GORT_API int  gort_promise_to_chan(gort_promise *p, gort_chan *ch);

/* ---- native calls (libffi) ---------------------------------------------- */
/* Call any C function through a signature parsed from its C declaration,
 * on the calling thread (gort_call) or on a pool goroutine with a promise
 * (gort_call_async) — no compiler, no glue (what ctypes/cffi/koffi do, plus
 * the parallel pool). Built on libffi; a library built with
 * GORT_WITH_FFI=OFF returns GORT_ENOSYS from gort_sig_new/_parse/_new_var,
 * gort_call and gort_go_call, and NULL from gort_call_async.
 *
 * Declarations (grammar and type table: docs/api.md, "Native calls"):
 *   "double pow(double, double)", "double(double x, double y)" (the names
 *   are optional), "int rand(void)", "size_t strlen(const char *)",
 *   "int snprintf(char *, size_t, const char *, ...)".
 * Types: void, bool/_Bool, char, signed/unsigned char, short, int, long,
 * long long (and unsigned forms), int8_t..int64_t, uint8_t..uint64_t,
 * size_t, ssize_t, intptr_t, uintptr_t, ptrdiff_t, off_t, float, double,
 * any pointer (char * and const char * are GORT_T_STRING, every other
 * pointer, struct pointers and function pointers are GORT_T_POINTER).
 * Structs and unions by value, long double and arrays other than as
 * parameters (which decay to pointers) are rejected.
 *
 * A signature is immutable: share it across threads freely. It is
 * reference counted internally, so gort_sig_free may be called while
 * gort_call_async/gort_go_call jobs that use it are still running.
 *
 * Values: args[i] points at the i-th argument, a value of exactly the C
 * type of parameter i (gort_type_size(gort_sig_arg(sig, i)) bytes); ret
 * receives exactly gort_type_size(gort_sig_ret(sig)) bytes (NULL: result
 * discarded). args must hold gort_sig_nargs(sig) pointers (C cannot tell
 * the length of an array: a binding checks its own count against
 * gort_sig_nargs); a NULL among them is GORT_EINVAL.
 *
 * No sandbox: the function runs in this process with these arguments. A
 * wrong declaration, a bad pointer or a crashing function is the caller's
 * bug and takes the process down, as with ctypes. */
typedef struct gort_sig gort_sig;
enum {
    GORT_T_VOID = 0,
    GORT_T_BOOL,
    GORT_T_INT8, GORT_T_UINT8,
    GORT_T_INT16, GORT_T_UINT16,
    GORT_T_INT32, GORT_T_UINT32,
    GORT_T_INT64, GORT_T_UINT64,
    GORT_T_FLOAT, GORT_T_DOUBLE,
    GORT_T_POINTER, /* void *, T *, struct s *, function pointers */
    GORT_T_STRING   /* char *, const char * (a pointer, NUL-terminated by convention) */
};
#define GORT_SIG_MAX_ARGS 255
/* Where and why a declaration did not parse. */
typedef struct gort_sig_diag {
    size_t pos;      /* byte offset in the parsed string of the offending token */
    char   msg[120]; /* "expected ',' or ')'", "unknown type name 'uLong'", ... */
} gort_sig_diag;

/* Parse decl. 0, GORT_EINVAL (bad declaration; *out = NULL), GORT_ENOMEM. */
GORT_API int  gort_sig_new(gort_sig **out, const char *decl);
/* The same, filling *diag (if not NULL) on GORT_EINVAL. */
GORT_API int  gort_sig_parse(gort_sig **out, const char *decl, gort_sig_diag *diag);
/* Variadic functions. A signature declared with "..." called as is passes
 * only its fixed arguments. For a call with variadic arguments, derive a
 * signature from it with the variadic part's types, comma-separated
 * ("int, double, const char *"; "" for none): a new, independent signature
 * to call (and free) like any other; derive one per distinct argument list
 * and keep it. Types subject to C's default argument promotions are
 * rejected with a hint (bool, char, short, float: pass int or double).
 * GORT_EINVAL if base is not variadic or types do not parse (diag's pos is
 * an offset in types). */
GORT_API int  gort_sig_new_var(gort_sig **out, const gort_sig *base, const char *types,
                               gort_sig_diag *diag);
GORT_API void gort_sig_free(gort_sig *sig);              /* NULL: no-op */
/* Introspection (for bindings converting their values). */
GORT_API const char *gort_sig_name(const gort_sig *sig); /* function name, "" if none */
GORT_API size_t gort_sig_nargs(const gort_sig *sig);     /* arguments a call passes */
GORT_API size_t gort_sig_nfixed(const gort_sig *sig);    /* the fixed ones (== nargs unless variadic) */
GORT_API int    gort_sig_variadic(const gort_sig *sig);  /* 1 if declared with "..." */
GORT_API int    gort_sig_ret(const gort_sig *sig);       /* GORT_T_* of the result */
GORT_API int    gort_sig_arg(const gort_sig *sig, size_t i); /* GORT_T_*, GORT_EINVAL if i >= nargs */
GORT_API size_t gort_type_size(int type);                /* bytes of a GORT_T_* value (0: void/unknown) */
GORT_API const char *gort_type_name(int type);           /* "int32_t", "double", "void *", "char *", "?" */

/* Call fn on this thread (or goroutine): no engine needed. 0, GORT_EINVAL
 * (sig or fn NULL, a NULL argument pointer). A call that blocks for long
 * from a goroutine holds its P: wrap it in gort_blocking, or use
 * gort_call_async. */
GORT_API int gort_call(const gort_sig *sig, void (*fn)(void), void *const *args, void *ret);
/* Run the call on a pool goroutine, inside gort_blocking (a call that
 * blocks in the kernel hands its P to the other goroutines after the
 * sysmon's handoff delay; one that computes keeps its P for up to a 10 ms
 * CPU slice, so a CPU-bound batch runs GORT_PROCS calls at a time; such a
 * function must not call gort itself). The argument VALUES are
 * copied now; pointed-to memory is not: keep it alive and unchanged until
 * the promise settles. The promise is fulfilled with a pointer to a copy of
 * the return value (owned by the promise, freed with it: read it as
 * *(double *)gort_promise_value(p)); NULL for void. Returns the promise
 * (the caller owns one reference), or NULL: bad input (as gort_call),
 * engine not running or shutting down, ENOMEM. */
GORT_API gort_promise *gort_call_async(const gort_sig *sig, void (*fn)(void), void *const *args);
/* The same without a promise (result discarded). 0, GORT_EINVAL,
 * GORT_ENOTINIT, GORT_ESHUTDOWN, GORT_ENOMEM. */
GORT_API int gort_go_call(const gort_sig *sig, void (*fn)(void), void *const *args);

/* ---- I/O ---------------------------------------------------------------- */
/* Blocking-style I/O that parks the goroutine instead of the thread (Go's
 * netpoller): the call tries the operation, and while the fd is not ready
 * the goroutine waits in the engine's network poller (epoll on Linux) and
 * its thread runs other goroutines. On a foreign thread the same calls just
 * block the thread (poll(2) with the deadline).
 *
 * Results: >= 0 (bytes, a new fd, a ready mask or 0) or a negative code,
 * never errno: -errno of the failing system call (e.g. -ECONNRESET, -EPIPE,
 * -EBADF; GORT_EAGAIN == -EAGAIN), GORT_ETIMEDOUT when the deadline passed
 * while waiting, GORT_EAGAIN for a deadline of GORT_NOWAIT when the call
 * would block, GORT_ECLOSED when the fd was closed (gort_fd_close) or
 * unregistered while the call waited on it, GORT_EINVAL for bad arguments.
 * Deadlines are absolute gort_now() nanoseconds: GORT_FOREVER waits
 * forever; GORT_NOWAIT, any other negative value and any time in the past
 * mean "already expired": an operation that can complete at once still
 * does, otherwise the call fails without waiting. The functions without
 * _until wait forever.
 *
 * fds: use non-blocking fds (gort_set_nonblock, or gort_fd_register, which
 * also registers them). On a blocking fd, read/write/accept block the whole
 * thread; recv/send always pass MSG_DONTWAIT, so they park correctly on any
 * socket. fds that gort creates (gort_accept, gort_tcp_listen,
 * gort_tcp_dial) are non-blocking, close-on-exec and registered.
 * An fd is registered with the poller on first use if it is not already;
 * close registered fds with gort_fd_close (or gort_fd_unregister first):
 * if a registered fd is closed with close(2) and its number is reused by an
 * fd gort did not create, call gort_fd_register on the new one.
 *
 * Readiness from gort_fd_wait is a hint, as in Go: the operation that
 * follows may still find nothing to do (GORT_EAGAIN from a non-blocking
 * call): wait again. The wrappers below loop on that by themselves.
 *
 * Signals: gort_write on a socket whose peer has gone raises SIGPIPE like
 * write(2); gort_send passes MSG_NOSIGNAL and returns -EPIPE instead.
 * Name resolution in gort_tcp_listen/gort_tcp_dial (getaddrinfo) blocks the
 * thread; inside a goroutine it runs as a blocking call (gort_blocking), so
 * other goroutines keep running. */
#include <sys/socket.h>
#include <sys/types.h>

enum { GORT_POLLIN = 0x001, GORT_POLLOUT = 0x004 }; /* the poll(2) values */

/* Wait until fd is ready for reading and/or writing (events: a non-empty
 * combination of GORT_POLLIN | GORT_POLLOUT; anything else: GORT_EINVAL).
 * Level semantics: returns at once if fd is ready now. Returns the ready
 * subset of events (> 0; an error or hang-up on fd counts as ready for
 * both), GORT_ETIMEDOUT, GORT_EAGAIN (GORT_NOWAIT, not ready), GORT_ECLOSED
 * (gort_fd_close/unregister on fd while waiting), -EBADF (fd < 0 or not
 * open). A regular file is always ready. */
GORT_API int gort_fd_wait(int fd, int events, int64_t deadline);
/* Put fd in non-blocking mode (O_NONBLOCK). 0 or -errno (-EBADF). */
GORT_API int gort_set_nonblock(int fd);
/* gort_set_nonblock + register fd with the poller (creating the poller on
 * first use; it lives until gort_shutdown). Registering an fd again is
 * harmless and refreshes its registration. 0 or -errno (-EBADF...). */
GORT_API int gort_fd_register(int fd);
/* Forget fd in the poller without closing it: every goroutine or thread
 * waiting on it wakes with GORT_ECLOSED. 0, or -EBADF for fd < 0. */
GORT_API int gort_fd_unregister(int fd);
/* Close fd: first every goroutine or foreign thread waiting on it in a gort
 * call wakes with GORT_ECLOSED (a call that starts waiting while the close
 * is under way also gets GORT_ECLOSED, and one that starts after it gets
 * -EBADF), then close(2). Returns 0 or -errno of close(2) (-EBADF). */
GORT_API int gort_fd_close(int fd);

GORT_API ssize_t gort_read(int fd, void *buf, size_t len);
GORT_API ssize_t gort_read_until(int fd, void *buf, size_t len, int64_t deadline);
/* Partial writes return the count written, like write(2). */
GORT_API ssize_t gort_write(int fd, const void *buf, size_t len);
GORT_API ssize_t gort_write_until(int fd, const void *buf, size_t len, int64_t deadline);
/* Write all len bytes (looping over partial writes and waits). Returns len,
 * or a negative code; then an unknown prefix may have been written. */
GORT_API ssize_t gort_write_all(int fd, const void *buf, size_t len);
GORT_API ssize_t gort_write_all_until(int fd, const void *buf, size_t len, int64_t deadline);
/* recv(2)/send(2); flags are passed on (plus MSG_DONTWAIT, and MSG_NOSIGNAL
 * for send). 0 from recv: the peer closed its end. */
GORT_API ssize_t gort_recv(int fd, void *buf, size_t len, int flags);
GORT_API ssize_t gort_recv_until(int fd, void *buf, size_t len, int flags, int64_t deadline);
GORT_API ssize_t gort_send(int fd, const void *buf, size_t len, int flags);
GORT_API ssize_t gort_send_until(int fd, const void *buf, size_t len, int flags, int64_t deadline);
/* accept4(2) on a listening socket: the new fd (non-blocking, close-on-exec,
 * registered) or a negative code. addr/addrlen may be NULL. ECONNABORTED
 * and EINTR are retried. */
GORT_API int gort_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
GORT_API int gort_accept_until(int fd, struct sockaddr *addr, socklen_t *addrlen, int64_t deadline);
/* connect(2) on a non-blocking socket, waiting for the connection to be
 * established: 0, -ECONNREFUSED etc., GORT_ETIMEDOUT (the socket is then
 * in an unspecified state: close it). */
GORT_API int gort_connect(int fd, const struct sockaddr *addr, socklen_t addrlen);
GORT_API int gort_connect_until(int fd, const struct sockaddr *addr, socklen_t addrlen,
                                int64_t deadline);

/* TCP helpers (IPv4 and IPv6 through getaddrinfo; host is a name or a
 * numeric address, "127.0.0.1", "::1", "localhost").
 * gort_tcp_listen: host NULL or "" = every local address (IPv6 dual-stack
 * "::" when available, else 0.0.0.0); port 0 = an ephemeral port (see
 * gort_tcp_port); backlog <= 0 = SOMAXCONN. SO_REUSEADDR is set. Returns
 * the listening fd (non-blocking, close-on-exec, registered).
 * gort_tcp_dial: tries each address of host in turn until one connects
 * (TCP_NODELAY is set, as Go does); the deadline covers the whole dial.
 * Returns the connected fd (non-blocking, close-on-exec, registered).
 * Errors: GORT_EINVAL (port outside 0..65535; dial: port 0), -ENOENT (host
 * not found), GORT_ENOMEM, GORT_ETIMEDOUT, or the -errno of the last
 * address tried (-ECONNREFUSED, -EADDRINUSE...). */
GORT_API int gort_tcp_listen(const char *host, int port, int backlog);
GORT_API int gort_tcp_dial(const char *host, int port, int64_t deadline);
/* Local port of a bound socket (getsockname), or a negative code. */
GORT_API int gort_tcp_port(int fd);

#ifdef __cplusplus
}
#endif
#endif /* GORT_H */
