/*
 * loop.c — the event loop: JavaScript's single-threaded model as a serial
 * executor of gort's engine.
 *
 * Concepts
 *   - A loop is an executor (engine.h's gort__exec) driven by whichever
 *     thread runs it: the thread calling gort_loop_run (it becomes an
 *     executor M for the duration) or a thread of its own (gort_loop_start).
 *     Everything a loop runs — macrotasks, microtasks, timer callbacks, I/O
 *     callbacks, loop-bound goroutines — runs on that thread, one piece at a
 *     time, never preempted (its goroutines are homed on the executor, which
 *     holds no P, so sysmon never flags them).
 *   - Macrotasks arrive through the inbox (thread-safe, any thread) and run
 *     in FIFO order. Microtasks (promise reactions) run after the current
 *     piece of work, before the next macrotask; microtasks queued while
 *     draining run in the same checkpoint. A microtask queued from another
 *     thread travels through the inbox flagged `micro` and joins the
 *     microtask queue at the next check.
 *   - Loop-bound goroutines block like any goroutine (waiters); readying one
 *     pushes it onto the executor's queue. The microtask checkpoint runs
 *     readied goroutines before the next microtask, so a goroutine resumed by
 *     a promise reaction continues right after that reaction — where
 *     JavaScript resumes an async function after `await`.
 *   - Timers live in the loop's own binary heap ordered by (deadline,
 *     sequence), so equal deadlines fire in the order they were set (Node's
 *     rule). An idle loop sleeps on the executor's futex until the earliest
 *     deadline. When the loop is embedded (gort_loop_fd), an engine timer at
 *     the earliest deadline writes the eventfd instead, so the host loop wakes.
 *     The eventfd is written once per burst: a wake finding it already
 *     readable (exec->fd_signalled) writes nothing; run_once drains it.
 *   - I/O watchers: a pool goroutine per watch waits in the network poller
 *     (gort_fd_wait) and posts the callback to the loop, then waits until the
 *     loop has run it before polling again (the callback consumes the data).
 *   - Liveness (when run returns): queued tasks, armed timers, watches,
 *     references (gort_loop_ref) and microtasks in flight are counted in
 *     `pending`; live loop-bound goroutines are counted by the executor.
 *     run returns when both are zero and the queues are empty, like Node
 *     exiting. A microtask the running thread queues for itself is not
 *     counted (no atomic operation per promise reaction): it sits in the
 *     microtask queue, which only that thread runs and which the exit
 *     check reads (queues_empty), until it runs on that same thread.
 *
 * Locks: inbox_lock protects the inbox; timer_lock protects the heap, the
 * sequence and the id counter (timers may be set from any thread); the
 * macrotask and microtask queues belong to the running thread. Neither lock
 * is held while running user code. Memory ordering: a post publishes its task
 * under inbox_lock, then bumps the executor's futex word (release); the loop
 * takes the inbox under the same lock, so the task's contents are visible.
 *
 * TASK RECORDS: every task and microtask is a small record (task). The
 * running thread keeps the records of tasks that have run in `spare` (at
 * most SPARE_TASKS_MAX) and takes its own posts' records from there: a
 * then-chain or a setImmediate-style chain reuses one record per step
 * instead of a malloc and a free (a record is recycled just before its
 * function runs, so the step's own post gets it back). Only the running
 * thread touches `spare` (posts from other threads malloc; their records
 * join `spare` once run), and the thread that frees the loop frees them;
 * a thread hands the loop to the next through `running` (enter's CAS /
 * leave's store). The list fills only from records that were malloc'd
 * once, so a post's allocation failure (GORT_ENOMEM) stays reachable, and
 * the fault-injection sweep sees it, whenever no spare is left. The
 * loop's slabs (slab.c) serve promise.c's promises and nodes the same way:
 * from the running thread only.
 *
 * The running thread's own shortcuts: a gort_loop_unref there needs
 * neither inbox_lock nor a wake-up (it is the thread that will check
 * `pending` before it sleeps or returns, so it is no "other thread" in
 * queues_empty's sense), and the microtask checkpoint skips the executor's
 * lock when no goroutine is homed on the loop (`live` is 0: a spawn counts
 * its goroutine there before queueing it; one spawned concurrently is
 * picked up after the wake-up its spawn sends).
 *
 * Rejected alternatives: engine timers per loop timer (their callbacks run
 * on pool threads and the order of equal deadlines across Ps is not FIFO);
 * a dedicated epoll per loop (the engine already has a poller; a goroutine
 * per watch reuses it without a second kernel object per loop).
 */
#include "engine.h"
#include "slab.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct task {
    struct task *next;
    gort_task_fn fn;
    void        *arg;
    gort_task_fn cancel; /* run instead of fn if the loop is freed first (or NULL) */
    bool         micro; /* inbox only: joins the microtask queue */
    bool         counted; /* in `pending` (all but the running thread's microtasks) */
} task;

typedef struct task_queue {
    task *head, *tail;
} task_queue;

typedef struct ltimer {
    int64_t      when;    /* absolute deadline */
    uint64_t     seq;     /* tie-break: set order */
    int64_t      id;      /* > 0, returned to the user */
    int64_t      period;  /* > 0 for intervals */
    gort_task_fn fn;
    void        *arg;
    bool         cleared; /* cleared while running (an interval clearing itself) */
} ltimer;

typedef struct watch watch;

struct gort_loop {
    gort__exec *exec;        /* loop-bound goroutines; futex word and eventfd. Separate
                                allocation: it outlives a loop freed with goroutines
                                still parked (orphaned until gort_shutdown) */
    _Atomic int inbox_micro; /* microtasks waiting in the inbox (skip the lock if 0) */
    gort__lock  inbox_lock;  /* protects inbox */
    task_queue  inbox;       /* posted from any thread */
    task_queue  macro;       /* running thread only */
    task_queue  micro;       /* running thread only */
    gort__lock  timer_lock;  /* protects heap, nheap, cap, seq, next_id, running_timer */
    ltimer    **heap;        /* binary min-heap by (when, seq) */
    size_t      nheap, cap;
    uint64_t    seq;
    int64_t     next_id;
    ltimer     *running_timer; /* the timer whose callback runs now (self-clear) */
    _Atomic long pending;    /* tasks, timers, watches, refs, microtasks in flight */
    _Atomic int  stop;       /* gort_loop_stop was called */
    _Atomic int  running;    /* a thread is inside run/run_once */
    gort__timer  alarm;      /* embedded mode: wakes the host at the earliest deadline */
    bool         alarm_armed;
    int64_t      alarm_when;
    pthread_t    thread;     /* gort_loop_start's thread */
    bool         started;
    _Atomic int  watchers;   /* watch goroutines alive (each also holds `pending`) */
    gort__lock   watch_lock; /* protects watches */
    watch       *watches;
    int64_t      next_watch;
    gort_loop   *all_next;   /* registry of loops (shutdown stops them) */
    _Atomic int  closed;     /* (inbox_lock to write) LOOP_OPEN, LOOP_SHUTDOWN: the engine
                                shut down (posts fail), LOOP_FREED: gort_loop_free ran */
    _Atomic long holds;      /* memory references: the owner's + gort__loop_hold's */
    task        *spare;      /* recycled task records (running thread only; see
                                TASK RECORDS) */
    int          nspare;     /* how many, <= SPARE_TASKS_MAX */
    gort__slab   slabs[GORT__SLAB_KINDS]; /* promises and nodes made on the running
                                thread (promise.c; running thread only) */
    void        *altstack;   /* signal stack its runs install (guard.c; running thread
                                only): mapped at the first run, unmapped by gort_loop_free */
};

enum { LOOP_OPEN = 0, LOOP_SHUTDOWN = 1, LOOP_FREED = 2 };

static gort__lock loops_lock; /* protects all_loops and orphans */
static gort_loop *all_loops;
static gort__exec *orphans;   /* executors of loops freed with goroutines parked */

static __thread gort_loop *tls_loop; /* loop running on this thread */

GORT_API gort_loop *gort_loop_current(void)
{
    return tls_loop;
}

gort__slab *gort__loop_slab(gort_loop *loop, int kind)
{
    return loop && tls_loop == loop ? &loop->slabs[kind] : NULL;
}

bool gort__on_loop_scheduler(void)
{
    return tls_loop != NULL && gort__current() == NULL;
}

/* ---- task queues --------------------------------------------------------- */

static void tq_push(task_queue *q, task *t)
{
    t->next = NULL;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
}

/* Task records are recycled through the loop's `spare` list (TASK RECORDS in
 * the design comment): at most this many are kept. */
#define SPARE_TASKS_MAX 64

/* A task record: a spare one on the loop's own thread, else malloc. */
static task *task_alloc(gort_loop *loop)
{
    task *t;
    if (tls_loop == loop && (t = loop->spare) != NULL) { /* spare: running thread only */
        loop->spare = t->next;
        loop->nspare--;
        return t;
    }
    return malloc(sizeof(task));
}

/* Give back a task record that has run (loop thread). */
static void task_recycle(gort_loop *loop, task *t)
{
    if (loop->nspare < SPARE_TASKS_MAX) {
        t->next = loop->spare;
        loop->spare = t;
        loop->nspare++;
    } else {
        free(t);
    }
}

static task *tq_pop(task_queue *q)
{
    task *t = q->head;
    if (t) {
        q->head = t->next;
        if (!q->head)
            q->tail = NULL;
    }
    return t;
}

/* Move the microtasks waiting in the inbox to the microtask queue, in order
 * (loop thread). */
static void flush_inbox_micro(gort_loop *loop)
{
    if (atomic_load_explicit(&loop->inbox_micro, memory_order_acquire) == 0)
        return;
    gort__lock_acquire(&loop->inbox_lock);
    for (task **pp = &loop->inbox.head, *prev = NULL; *pp;) {
        task *x = *pp;
        if (x->micro) {
            *pp = x->next;
            if (loop->inbox.tail == x)
                loop->inbox.tail = prev;
            tq_push(&loop->micro, x);
            atomic_fetch_sub(&loop->inbox_micro, 1);
        } else {
            prev = x;
            pp = &x->next;
        }
    }
    gort__lock_release(&loop->inbox_lock);
}

/* Why a closed loop refuses work (0: it is open). */
static int closed_err(gort_loop *loop)
{
    int c = atomic_load(&loop->closed);
    return c == LOOP_OPEN ? 0 : c == LOOP_SHUTDOWN ? GORT_ESHUTDOWN : GORT_ECANCELED;
}

/* inbox_lock held: release it, waking the loop if `wake`. The wake-up is
 * decided under the lock (see queues_empty) and its system calls are made
 * after it (sched.c, "WAKE-UPS"); they touch only the executor, which
 * gort_loop_free quiesces before freeing it. */
static void inbox_release_waking(gort_loop *loop, bool wake)
{
    gort__exec *e = loop->exec;
    gort__exec_wakeup w = {.fd = 0, .futex = false};
    if (wake)
        w = gort__exec_wake_begin(e);
    gort__lock_release(&loop->inbox_lock);
    gort__exec_wake_end(e, w);
}

static int post(gort_loop *loop, gort_task_fn fn, gort_task_fn cancel, void *arg, bool micro)
{
    if (!loop || !fn)
        return GORT_EINVAL;
    task *t = task_alloc(loop);
    if (!t)
        return GORT_ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->cancel = cancel;
    t->micro = micro;
    t->counted = !micro || tls_loop != loop;
    if (!t->counted) {
        /* Older microtasks from other threads go first (FIFO, A+ 2.2.6).
         * Not counted in `pending`: the microtask queue is checked itself
         * (queues_empty), and only this thread runs it (see Liveness). */
        flush_inbox_micro(loop);
        tq_push(&loop->micro, t);
        return 0;
    }
    gort__lock_acquire(&loop->inbox_lock);
    int err = closed_err(loop); /* under the lock: gort_loop_free closes under it */
    if (err) {
        gort__lock_release(&loop->inbox_lock);
        free(t);
        return err;
    }
    tq_push(&loop->inbox, t);
    atomic_fetch_add(&loop->pending, 1);
    if (micro)
        atomic_fetch_add(&loop->inbox_micro, 1);
    /* Also from the loop's own thread: bumping the word keeps a turn that
     * is about to sleep from missing it (no syscall then: nobody is asleep). */
    inbox_release_waking(loop, true);
    return 0;
}

GORT_API int gort_loop_post(gort_loop *loop, gort_task_fn fn, void *arg)
{
    return post(loop, fn, NULL, arg, false);
}

GORT_API int gort_loop_microtask(gort_loop *loop, gort_task_fn fn, void *arg)
{
    return post(loop, fn, NULL, arg, true);
}

int gort__loop_enqueue_micro(gort_loop *loop, gort_task_fn fn, gort_task_fn cancel, void *arg)
{
    return post(loop, fn, cancel, arg, true);
}

void gort__loop_hold(gort_loop *loop)
{
    atomic_fetch_add(&loop->holds, 1);
}

void gort__loop_drop(gort_loop *loop)
{
    if (atomic_fetch_sub(&loop->holds, 1) == 1)
        free(loop);
}

/* Move the inbox into the macrotask and microtask queues. */
static void take_inbox(gort_loop *loop)
{
    gort__lock_acquire(&loop->inbox_lock);
    task *t = loop->inbox.head;
    loop->inbox.head = loop->inbox.tail = NULL;
    gort__lock_release(&loop->inbox_lock);
    while (t) {
        task *next = t->next;
        if (t->micro)
            atomic_fetch_sub(&loop->inbox_micro, 1);
        tq_push(t->micro ? &loop->micro : &loop->macro, t);
        t = next;
    }
}

static void run_task(gort_loop *loop, task *t)
{
    gort_task_fn fn = t->fn;
    void *arg = t->arg;
    bool counted = t->counted;
    task_recycle(loop, t); /* first: fn's own posts can reuse it */
    fn(arg);
    if (counted)
        atomic_fetch_sub(&loop->pending, 1);
}

/* The microtask checkpoint: readied loop-bound goroutines first (a
 * goroutine resumed by a reaction continues right after it), then
 * microtasks, until both are empty. */
static bool checkpoint(gort_loop *loop)
{
    bool ran = false; /* whether any goroutine or microtask ran */
    for (;;) {
        flush_inbox_micro(loop); /* microtasks from other threads, in order */
        /* No goroutine homed here: none can be queued (spawning counts it
         * in `live` before queueing it), so skip the executor's lock. */
        gort__g *g = atomic_load(&loop->exec->live) ? gort__exec_take(loop->exec) : NULL;
        if (g) {
            gort__exec_run(loop->exec->m, g);
            ran = true;
            continue;
        }
        task *t = tq_pop(&loop->micro);
        if (!t)
            return ran;
        run_task(loop, t);
        ran = true;
    }
}

/* ---- timers -------------------------------------------------------------- */

static bool lt_less(const ltimer *a, const ltimer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void lheap_up(ltimer **h, size_t i)
{
    ltimer *t = h[i];
    while (i > 0 && lt_less(t, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = t;
}

static void lheap_down(ltimer **h, size_t n, size_t i)
{
    ltimer *t = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && lt_less(h[c + 1], h[c]))
            c++;
        if (!lt_less(h[c], t))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = t;
}

/* timer_lock held. */
static int lheap_push(gort_loop *loop, ltimer *t)
{
    if (loop->nheap == loop->cap) {
        size_t cap = loop->cap ? loop->cap * 2 : 64;
        ltimer **h = realloc(loop->heap, cap * sizeof *h);
        if (!h)
            return GORT_ENOMEM;
        loop->heap = h;
        loop->cap = cap;
    }
    t->seq = loop->seq++;
    loop->heap[loop->nheap++] = t;
    lheap_up(loop->heap, loop->nheap - 1);
    return 0;
}

/* timer_lock held. */
static ltimer *lheap_pop_at(gort_loop *loop, size_t i)
{
    ltimer *t = loop->heap[i];
    loop->nheap--;
    if (i != loop->nheap) {
        loop->heap[i] = loop->heap[loop->nheap];
        lheap_down(loop->heap, loop->nheap, i);
        lheap_up(loop->heap, i);
    }
    return t;
}

static void alarm_fire(gort__timer *t, int64_t now)
{
    (void)now;
    gort__exec_wake(((gort_loop *)t->arg)->exec);
}

/* timer_lock held. Embedded loops get an engine timer at the earliest
 * deadline, so the host's watch on gort_loop_fd wakes up for it. */
static void rearm_alarm(gort_loop *loop)
{
    if (loop->nheap == 0)
        return;
    gort__lock_acquire(&loop->exec->lock);
    bool embedded = loop->exec->wake_fd > 0;
    gort__lock_release(&loop->exec->lock);
    if (!embedded)
        return;
    int64_t when = loop->heap[0]->when;
    /* An alarm whose time has passed has fired (alarm_armed is not cleared
     * when it fires): it does not cover a later deadline. */
    if (loop->alarm_armed && loop->alarm_when <= when && loop->alarm_when > gort_now())
        return;
    if (loop->alarm_armed)
        gort__timer_stop(&loop->alarm);
    loop->alarm = (gort__timer){.when = when, .fn = alarm_fire, .arg = loop};
    loop->alarm_armed = gort__timer_start(&loop->alarm) == 0;
    loop->alarm_when = when;
}

static int64_t set_timer(gort_loop *loop, int64_t delay, int64_t period, gort_task_fn fn,
                         void *arg)
{
    if (!loop || !fn)
        return GORT_EINVAL;
    if (!gort_initialized())
        return GORT_ENOTINIT;
    int closed = closed_err(loop);
    if (closed)
        return closed; /* a loop whose engine shut down never runs again */
    ltimer *t = calloc(1, sizeof *t);
    if (!t)
        return GORT_ENOMEM;
    if (delay < 0)
        delay = 0;
    t->when = gort__deadline_add(gort_now(), delay); /* INT64_MAX: never, not at once */
    t->period = period;
    t->fn = fn;
    t->arg = arg;
    atomic_fetch_add(&loop->pending, 1); /* before the loop can see (and fire) it */
    gort__lock_acquire(&loop->timer_lock);
    int64_t id = t->id = ++loop->next_id;
    int err = lheap_push(loop, t);
    if (err == 0)
        rearm_alarm(loop);
    gort__lock_release(&loop->timer_lock);
    if (err) {
        atomic_fetch_sub(&loop->pending, 1);
        free(t);
        return err;
    }
    if (tls_loop != loop) {
        gort__lock_acquire(&loop->inbox_lock); /* it may sleep past the new deadline */
        inbox_release_waking(loop, true);
    }
    return id;
}

GORT_API int64_t gort_loop_set_timeout(gort_loop *loop, int64_t delay_ns, gort_task_fn fn,
                                       void *arg)
{
    return set_timer(loop, delay_ns, 0, fn, arg);
}

GORT_API int64_t gort_loop_set_interval(gort_loop *loop, int64_t period_ns, gort_task_fn fn,
                                        void *arg)
{
    if (period_ns <= 0)
        period_ns = GORT_MILLISECOND; /* Node clamps intervals to 1 ms */
    return set_timer(loop, period_ns, period_ns, fn, arg);
}

GORT_API int gort_loop_clear_timer(gort_loop *loop, int64_t id)
{
    if (!loop || id <= 0)
        return GORT_EINVAL;
    gort__lock_acquire(&loop->timer_lock);
    ltimer *t = NULL;
    for (size_t i = 0; i < loop->nheap; i++)
        if (loop->heap[i]->id == id) {
            t = lheap_pop_at(loop, i);
            break;
        }
    bool self = !t && loop->running_timer && loop->running_timer->id == id &&
                !loop->running_timer->cleared;
    if (self)
        loop->running_timer->cleared = true; /* an interval clearing itself */
    gort__lock_release(&loop->timer_lock);
    if (t) {
        free(t);
        atomic_fetch_sub(&loop->pending, 1);
        return 0;
    }
    return self ? 0 : GORT_EINVAL;
}

/* Run the timers due at `now` (those armed later wait for the next turn). */
static void run_timers(gort_loop *loop, int64_t now)
{
    for (;;) {
        gort__lock_acquire(&loop->timer_lock);
        if (loop->nheap == 0 || loop->heap[0]->when > now) {
            gort__lock_release(&loop->timer_lock);
            return;
        }
        ltimer *t = lheap_pop_at(loop, 0);
        loop->running_timer = t;
        gort__lock_release(&loop->timer_lock);
        t->fn(t->arg);
        gort__lock_acquire(&loop->timer_lock);
        loop->running_timer = NULL;
        bool again = t->period > 0 && !t->cleared;
        if (again) {
            t->when = gort__deadline_add(now > t->when ? now : t->when, t->period);
            again = lheap_push(loop, t) == 0;
        }
        gort__lock_release(&loop->timer_lock);
        if (!again) {
            free(t);
            atomic_fetch_sub(&loop->pending, 1);
        }
        checkpoint(loop);
        if (atomic_load(&loop->stop))
            return; /* gort_loop_stop from a callback ends the turn here */
    }
}

static int64_t next_deadline(gort_loop *loop)
{
    gort__lock_acquire(&loop->timer_lock);
    int64_t when = loop->nheap ? loop->heap[0]->when : GORT_FOREVER;
    rearm_alarm(loop);
    gort__lock_release(&loop->timer_lock);
    return when;
}

/* ---- running ------------------------------------------------------------- */

static bool has_work(gort_loop *loop)
{
    return atomic_load(&loop->pending) > 0 || atomic_load(&loop->exec->live) > 0;
}

/* One turn: timers, the macrotasks queued before the turn (each followed by
 * a checkpoint), and readied goroutines. Returns whether anything ran. */
static bool turn(gort_loop *loop)
{
    take_inbox(loop);
    /* Goroutines readied and microtasks posted while away. They count as
     * work done: gort_loop_run_once must not go to sleep after a turn that
     * ran only these (an embedding host may have something to do now). */
    bool ran = checkpoint(loop);
    int64_t now = gort_now();
    gort__lock_acquire(&loop->timer_lock);
    bool due = loop->nheap && loop->heap[0]->when <= now;
    gort__lock_release(&loop->timer_lock);
    if (due) {
        run_timers(loop, now);
        ran = true;
        if (atomic_load(&loop->stop))
            return true;
    }
    task *batch = loop->macro.head; /* this turn's macrotasks only */
    task *last = loop->macro.tail;
    loop->macro.head = loop->macro.tail = NULL;
    while (batch) {
        task *t = batch;
        batch = t == last ? NULL : t->next;
        run_task(loop, t);
        checkpoint(loop);
        if (atomic_load(&loop->stop)) {
            /* put the rest back, in order, ahead of newer tasks */
            if (batch) {
                last->next = loop->macro.head;
                if (!loop->macro.head)
                    loop->macro.tail = last;
                loop->macro.head = batch;
            }
            return true;
        }
        ran = true;
    }
    return ran;
}

/* Sleep until work arrives or until deadline. */
static void idle_wait(gort_loop *loop, uint32_t seen, int64_t deadline)
{
    int64_t timer = next_deadline(loop);
    if (timer != GORT_FOREVER && (deadline == GORT_FOREVER || timer < deadline))
        deadline = timer;
    gort__exec_sleep(loop->exec, seen, deadline);
}

/* Under inbox_lock and (inside gort__exec_idle) the executor's lock: every
 * poster and readier decides its wake-up while holding one of them, so once
 * this says "empty" no other thread is still touching the loop (the
 * wake-up's system calls, made after, touch only the executor, which
 * gort_loop_free quiesces before freeing it or closing its eventfd). */
static bool queues_empty(gort_loop *loop)
{
    gort__lock_acquire(&loop->inbox_lock);
    bool empty = !loop->inbox.head && gort__exec_idle(loop->exec);
    gort__lock_release(&loop->inbox_lock);
    return empty && !loop->macro.head && !loop->micro.head;
}

static int enter(gort_loop *loop, gort__m **m)
{
    if (!loop)
        return GORT_EINVAL;
    if (gort__this_m() || tls_loop)
        return GORT_EPERM; /* a goroutine, an engine thread, or another loop */
    if (!gort_initialized())
        return GORT_ENOTINIT;
    if (closed_err(loop))
        return GORT_ESHUTDOWN; /* made on an engine that has shut down since */
    int expect = 0;
    if (!atomic_compare_exchange_strong(&loop->running, &expect, 1))
        return GORT_EBUSY;
    if (!loop->altstack)
        loop->altstack = gort__guard_altstack_map();
    *m = gort__m_attach(loop->exec, loop->altstack);
    if (!*m) {
        atomic_store(&loop->running, 0);
        return GORT_ENOMEM;
    }
    tls_loop = loop;
    atomic_fetch_add(&gort__S.loops_running, 1);
    return 0;
}

static void leave(gort_loop *loop, gort__m *m)
{
    atomic_fetch_sub(&gort__S.loops_running, 1);
    tls_loop = NULL;
    gort__m_detach(m);
    atomic_store(&loop->running, 0);
}

static bool engine_stopping(void)
{
    return !gort_initialized() || atomic_load(&gort__S.stopping);
}

GORT_API int gort_loop_run(gort_loop *loop)
{
    gort__m *m;
    int err = enter(loop, &m);
    if (err)
        return err;
    /* A stop requested before this run (even before the thread got here)
     * is honoured, then consumed when run returns (libuv's uv_stop). */
    while (!atomic_load(&loop->stop) && !engine_stopping()) {
        uint32_t seen = atomic_load_explicit(&loop->exec->signal, memory_order_acquire);
        bool ran = turn(loop);
        if (!has_work(loop) && queues_empty(loop))
            break;
        if (!ran)
            idle_wait(loop, seen, GORT_FOREVER);
    }
    atomic_store(&loop->stop, 0);
    leave(loop, m);
    return 0;
}

GORT_API int gort_loop_run_once(gort_loop *loop, int64_t deadline)
{
    gort__m *m;
    int err = enter(loop, &m);
    if (err)
        return err;
    /* Drained under the lock (no wake can be decided meanwhile), so that
     * the eventfd is readable only while fd_signalled or fd_late_write is
     * true: a wake after this writes again (its work is then seen by this
     * turn or the host's next call), one decided before it is consumed here
     * and its work seen by this turn (pushed before the lock was taken). A
     * wake-up decided before but still making its calls (wakers > 0, sched.c
     * "WAKE-UPS") may write after the read: then the next drain reads again
     * (a late write costs the host one spurious wake-up; never is the fd
     * left readable with nobody to drain it). The count is read before the read: 0 there means every
     * decided write has landed. A host that reads the fd itself before
     * calling in changes nothing: the read here then finds it empty. */
    gort__exec *e = loop->exec;
    gort__lock_acquire(&e->lock);
    if (e->wake_fd > 0 && (e->fd_signalled || e->fd_late_write)) {
        bool in_flight = atomic_load_explicit(&e->wakers, memory_order_acquire) != 0;
        uint64_t drained;
        ssize_t ignored = read(e->wake_fd, &drained, sizeof drained); /* non-blocking */
        (void)ignored;
        e->fd_signalled = false;
        e->fd_late_write = in_flight;
    }
    gort__lock_release(&e->lock);
    uint32_t seen = atomic_load_explicit(&loop->exec->signal, memory_order_acquire);
    bool ran = turn(loop);
    if (!ran && deadline != GORT_NOWAIT && has_work(loop)) {
        idle_wait(loop, seen, deadline);
        turn(loop);
    }
    bool more = has_work(loop) || !queues_empty(loop);
    next_deadline(loop); /* embedded: re-arm the alarm for the next timer */
    leave(loop, m);
    return more ? 1 : 0;
}

GORT_API void gort_loop_stop(gort_loop *loop)
{
    if (!loop)
        return;
    atomic_store(&loop->stop, 1);
    gort__exec_wake(loop->exec);
}

static void *loop_thread(void *arg)
{
    gort_loop_run(arg);
    return NULL;
}

GORT_API int gort_loop_start(gort_loop *loop)
{
    if (!loop)
        return GORT_EINVAL;
    if (loop->started || atomic_load(&loop->running))
        return GORT_EBUSY;
    if (!gort_initialized())
        return GORT_ENOTINIT;
    if (pthread_create(&loop->thread, NULL, loop_thread, loop) != 0)
        return GORT_ENOMEM;
    loop->started = true;
    return 0;
}

GORT_API int gort_loop_join(gort_loop *loop)
{
    if (!loop || !loop->started)
        return GORT_EINVAL;
    pthread_join(loop->thread, NULL);
    loop->started = false;
    return 0;
}

GORT_API void gort_loop_ref(gort_loop *loop)
{
    if (loop)
        atomic_fetch_add(&loop->pending, 1);
}

GORT_API void gort_loop_unref(gort_loop *loop)
{
    if (!loop)
        return;
    if (tls_loop == loop) {
        /* The loop's own thread: it checks `pending` itself before it
         * sleeps or returns, and is no other thread for queues_empty. */
        atomic_fetch_sub(&loop->pending, 1);
        return;
    }
    gort__lock_acquire(&loop->inbox_lock); /* see queues_empty */
    /* run may now return (a freed loop has no exec) */
    bool last = atomic_fetch_sub(&loop->pending, 1) == 1;
    inbox_release_waking(loop, last && atomic_load(&loop->closed) != LOOP_FREED);
}

GORT_API int gort_loop_go(gort_loop *loop, void (*fn)(void *), void *arg)
{
    return gort_loop_go_opts(loop, fn, arg, NULL);
}

GORT_API int gort_loop_go_opts(gort_loop *loop, void (*fn)(void *), void *arg,
                               const gort_go_options *opts)
{
    if (!loop)
        return GORT_EINVAL;
    return gort__spawn_on(loop->exec, fn, arg, opts);
}

GORT_API int gort_loop_fd(gort_loop *loop)
{
    if (!loop)
        return GORT_EINVAL;
    gort__lock_acquire(&loop->exec->lock);
    int fd = loop->exec->wake_fd;
    gort__lock_release(&loop->exec->lock);
    if (fd > 0)
        return fd;
    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    gort__lock_acquire(&loop->exec->lock);
    int old = loop->exec->wake_fd;
    if (old <= 0)
        loop->exec->wake_fd = fd;
    gort__lock_release(&loop->exec->lock);
    if (old > 0) {
        close(fd);
        return old;
    }
    if (has_work(loop) || !queues_empty(loop))
        gort__exec_wake(loop->exec); /* readable now if work is pending */
    return fd;
}

/* ---- I/O watchers --------------------------------------------------------- */

#define WATCH_POLL_NS (20 * GORT_MILLISECOND) /* how soon an unwatched goroutine leaves */

struct watch {
    watch        *next;      /* loop->watches (watch_lock) */
    gort_loop    *loop;
    int64_t       id;
    int           fd, events;
    gort_io_cb    cb;
    void         *arg;
    _Atomic int   cancelled;
    _Atomic int   revents;   /* handed from the goroutine to the loop task */
    gort_sem      ran;       /* released by the loop after each callback */
    _Atomic int   refs;      /* the loop's list + the goroutine + a posted callback */
};

static void watch_unref(watch *w)
{
    if (atomic_fetch_sub(&w->refs, 1) == 1)
        free(w);
}

static void watch_task(void *arg)
{
    watch *w = arg;
    if (!atomic_load(&w->cancelled))
        w->cb(w->fd, atomic_load(&w->revents), w->arg);
    gort_sem_release(&w->ran, 1);
    watch_unref(w); /* the reference the goroutine took for this task */
}

static void watch_goroutine(void *arg)
{
    watch *w = arg;
    while (!atomic_load(&w->cancelled)) {
        int r = gort_fd_wait(w->fd, w->events, gort_now() + WATCH_POLL_NS);
        if (r == GORT_ETIMEDOUT)
            continue;
        if (atomic_load(&w->cancelled))
            break;
        atomic_store(&w->revents, r > 0 ? r : (GORT_POLLIN | GORT_POLLOUT) & w->events);
        atomic_fetch_add(&w->refs, 1); /* the task's own reference */
        if (post(w->loop, watch_task, NULL, w, false) != 0) {
            atomic_fetch_sub(&w->refs, 1);
            break;
        }
        /* Wait until the loop ran the callback (it consumes the readiness). */
        while (gort_sem_acquire_until(&w->ran, 1, gort_now() + WATCH_POLL_NS) == GORT_ETIMEDOUT)
            if (atomic_load(&w->cancelled))
                goto out; /* the task holds its own reference; the loop may be gone */
        if (r < 0)
            break; /* the fd is gone: one callback reports it */
    }
out:;
    /* Last touch of the loop: under inbox_lock (gort_loop_free takes it after
     * seeing watchers == 0, so it cannot free the loop under us). */
    gort_loop *loop = w->loop;
    watch_unref(w);
    gort__lock_acquire(&loop->inbox_lock);
    bool last = atomic_fetch_sub(&loop->pending, 1) == 1;
    atomic_fetch_sub(&loop->watchers, 1);
    inbox_release_waking(loop, last);
}

GORT_API int64_t gort_loop_watch_fd(gort_loop *loop, int fd, int events, gort_io_cb cb, void *arg)
{
    if (!loop || !cb || fd < 0 || events == 0 || (events & ~(GORT_POLLIN | GORT_POLLOUT)))
        return GORT_EINVAL;
    watch *w = calloc(1, sizeof *w);
    if (!w)
        return GORT_ENOMEM;
    w->loop = loop;
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    gort_sem_init(&w->ran, 1);
    gort_sem_acquire(&w->ran, 1); /* start empty: released once per callback */
    atomic_store(&w->refs, 2);
    gort__lock_acquire(&loop->watch_lock);
    w->id = ++loop->next_watch;
    w->next = loop->watches;
    loop->watches = w;
    gort__lock_release(&loop->watch_lock);
    atomic_fetch_add(&loop->pending, 2); /* the watch, and its goroutine until it exits */
    atomic_fetch_add(&loop->watchers, 1);
    int64_t id = w->id;
    int err = gort_go(watch_goroutine, w);
    if (err) {
        atomic_fetch_sub(&loop->pending, 1);
        atomic_fetch_sub(&loop->watchers, 1);
        atomic_store(&w->refs, 1);
        gort_loop_unwatch(loop, id);
        return err;
    }
    return id;
}

GORT_API int gort_loop_unwatch(gort_loop *loop, int64_t id)
{
    if (!loop || id <= 0)
        return GORT_EINVAL;
    gort__lock_acquire(&loop->watch_lock);
    watch *w = NULL;
    for (watch **pp = &loop->watches; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            w = *pp;
            *pp = w->next;
            break;
        }
    gort__lock_release(&loop->watch_lock);
    if (!w)
        return GORT_EINVAL;
    atomic_store(&w->cancelled, 1); /* its goroutine notices within WATCH_POLL_NS */
    atomic_fetch_sub(&loop->pending, 1);
    gort__exec_wake(loop->exec);
    watch_unref(w);
    return 0;
}

/* ---- life cycle ------------------------------------------------------------ */

GORT_API gort_loop *gort_loop_new(void)
{
    if (!gort_initialized())
        return NULL;
    gort_loop *loop = calloc(1, sizeof *loop);
    gort__exec *e = calloc(1, sizeof *e);
    if (!loop || !e) {
        free(loop);
        free(e);
        return NULL;
    }
    loop->exec = e;
    e->loop = loop;
    atomic_init(&loop->holds, 1); /* the owner's, dropped by gort_loop_free */
    gort__lock_acquire(&loops_lock);
    loop->all_next = all_loops;
    all_loops = loop;
    gort__lock_release(&loops_lock);
    return loop;
}

static void free_queue(task_queue *q)
{
    for (task *t = q->head, *next; t; t = next) {
        next = t->next;
        if (t->fn == watch_task)
            watch_unref(t->arg); /* a dropped I/O callback gives its reference back */
        else if (t->cancel)
            t->cancel(t->arg);   /* a promise reaction: rejected, destructor run */
        free(t);
    }
    q->head = q->tail = NULL;
}

GORT_API void gort_loop_free(gort_loop *loop)
{
    if (!loop)
        return;
    if (atomic_load(&loop->running) || loop->started)
        gort__fatal("gort_loop_free: the loop is running (stop and join it first)");
    gort__lock_acquire(&loops_lock);
    for (gort_loop **pp = &all_loops; *pp; pp = &(*pp)->all_next)
        if (*pp == loop) {
            *pp = loop->all_next;
            break;
        }
    gort__lock_release(&loops_lock);
    while (loop->watches) {
        int64_t id = loop->watches->id;
        gort_loop_unwatch(loop, id);
    }
    /* Watch goroutines leave within WATCH_POLL_NS once unwatched. */
    while (gort_initialized() && atomic_load(&loop->watchers) > 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* Closed under the inbox lock: from here no post gets in (a reaction
     * settled later is cancelled by its enqueue failing). */
    gort__lock_acquire(&loop->inbox_lock);
    atomic_store(&loop->closed, LOOP_FREED);
    task_queue inbox = loop->inbox;
    loop->inbox.head = loop->inbox.tail = NULL;
    gort__lock_release(&loop->inbox_lock);
    if (loop->alarm_armed && gort_initialized())
        gort__timer_stop(&loop->alarm);
    free_queue(&inbox); /* cancel callbacks may unref the loop: no lock held */
    free_queue(&loop->macro);
    free_queue(&loop->micro);
    for (task *t = loop->spare, *next; t; t = next) {
        next = t->next;
        free(t);
    }
    loop->spare = NULL;
    loop->nspare = 0;
    for (int k = 0; k < GORT__SLAB_KINDS; k++)
        gort__slab_release(&loop->slabs[k]); /* blocks live on until their promises go */
    for (size_t i = 0; i < loop->nheap; i++)
        free(loop->heap[i]);
    free(loop->heap);
    gort__guard_altstack_unmap(loop->altstack);
    loop->altstack = NULL;
    gort__exec *e = loop->exec;
    gort__lock_acquire(&e->lock);
    int fd = e->wake_fd;
    e->wake_fd = 0; /* no wake decided from here on writes it */
    e->loop = NULL;
    gort__lock_release(&e->lock);
    gort__exec_quiesce(e); /* nor one decided before (it may be writing it now) */
    if (fd > 0)
        close(fd);
    if (gort_initialized() && atomic_load(&e->live) > 0) {
        /* Goroutines still parked here keep their executor: it is orphaned
         * (readying them queues them where nobody runs them) and freed with
         * them at gort_shutdown. */
        gort__lock_acquire(&loops_lock);
        e->orphan_next = orphans;
        orphans = e;
        gort__lock_release(&loops_lock);
    } else {
        free(e);
    }
    gort__loop_drop(loop);
}

void *gort__loops_forget(void)
{
    gort_loop *dropped = all_loops;
    loops_lock = (gort__lock)GORT__LOCK_INIT;
    all_loops = NULL;
    orphans = NULL;
    tls_loop = NULL;
    return dropped;
}

/* gort_shutdown: make every running loop return (they poll engine_stopping
 * between turns) and wait until they have. */
void gort__loops_shutdown(void)
{
    gort__lock_acquire(&loops_lock);
    for (gort_loop *l = all_loops; l; l = l->all_next) {
        gort__lock_acquire(&l->inbox_lock);
        atomic_store(&l->closed, LOOP_SHUTDOWN); /* posts fail from now on */
        gort__lock_release(&l->inbox_lock);
        atomic_store(&l->stop, 1);
        gort__exec_wake(l->exec);
        gort__lock_acquire(&l->timer_lock);
        l->alarm_armed = false; /* the engine's heaps (and the alarm in them) go away */
        gort__lock_release(&l->timer_lock);
    }
    gort__lock_release(&loops_lock);
    for (;;) {
        bool busy = false;
        gort__lock_acquire(&loops_lock);
        for (gort_loop *l = all_loops; l; l = l->all_next)
            busy |= atomic_load(&l->running) != 0;
        gort__lock_release(&loops_lock);
        if (!busy)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    gort__lock_acquire(&loops_lock);
    for (gort__exec *e = orphans, *next; e; e = next) {
        next = e->orphan_next;
        gort__exec_quiesce(e); /* readying its goroutines may still be waking it */
        free(e);
    }
    orphans = NULL;
    gort__lock_release(&loops_lock);
}

/* ---- quiescence.c's view of a loop ---------------------------------------- */

uint32_t gort__loop_signal(gort_loop *loop)
{
    return atomic_load(&loop->exec->signal);
}

bool gort__loop_asleep(gort_loop *loop)
{
    gort__lock_acquire(&loop->timer_lock);
    bool timers = loop->nheap != 0;
    gort__lock_release(&loop->timer_lock);
    gort__lock_acquire(&loop->inbox_lock);
    bool queued = loop->inbox.head != NULL;
    gort__lock_release(&loop->inbox_lock);
    if (timers || queued || !gort__exec_idle(loop->exec))
        return false;
    /* Running: its thread must be in the idle wait (a turn ending with
     * nothing run leaves the macrotask and microtask queues empty). Not
     * running: nothing of its own may be left to start. */
    if (atomic_load(&loop->running))
        return atomic_load(&loop->exec->sleeping) != 0;
    return atomic_load(&loop->exec->live) == 0;
}
