/*
 * gortpy.c — the CPython side of gort's Python binding (module gort._native).
 *
 * Concepts
 *   - The executor. Every Python goroutine of the interpreter runs on one
 *     gort loop (a serial executor) driven by one Python thread,
 *     "gort-executor", which calls executor_run(). That thread's own
 *     PyThreadState (exec_ts) runs the loop's tasks (promise reactions,
 *     deferred releases); each goroutine runs with a PyThreadState of its
 *     own, created on the executor thread. A goroutine holds the GIL while it
 *     runs Python and releases it (PyEval_SaveThread, keeping its tstate on
 *     its own stack) around every gort call that may park; when it resumes —
 *     always on the executor thread, loop-bound goroutines never migrate — it
 *     takes the GIL back with its own tstate. So a parked goroutine holds no
 *     GIL and C goroutines, other Python threads and I/O run meanwhile.
 *   - Carriers. A Python goroutine is a job (fn, args, kwargs, context,
 *     optional promise) run by a carrier: a loop-bound C goroutine with a
 *     16 MiB stack (CARRIER_STACK) and a PyThreadState. go() hands the job
 *     to an idle carrier (one parked on the unbuffered `jobs` channel) with a non-blocking
 *     send, or queues it (FIFO) and makes sure a carrier is starting. A
 *     carrier runs queued jobs back to back; taking one while others wait
 *     starts the next carrier, so a job that parks never holds up the rest.
 *     Out of jobs, a carrier idles on `jobs` (at most IDLE_MAX; more exit).
 *     Reusing carriers saves a stack mapping and a thread state (CPython
 *     allocates a 16 KiB frame chunk per tstate) per spawn, and a burst of
 *     spawns from a thread that holds the GIL costs one carrier, not one
 *     each. Between jobs the tstate's dict is cleared, so threading.local is
 *     per goroutine.
 *   - Object channels carry PyObject * (8 bytes): the sender's reference
 *     travels with the value and the receiver takes it over. Typed channels
 *     carry raw C values (the Python layer converts with cffi).
 *   - Boxes. A Promise made from Python holds its value (or rejection
 *     reason) in a pybox: a C struct holding a PyObject reference, known by
 *     its destructor (gort_promise_dtor(p) == box_dtor). The promise destroys it wherever its last reference goes —
 *     often an engine thread, where Python must not run. So box_dtor frees
 *     in place only if the calling thread is inside one of this module's own
 *     calls (gil_held_here), and otherwise pushes the box onto the graveyard,
 *     a lock-free stack drained with the GIL by the executor (a task posted
 *     when the stack becomes non-empty) and at this module's entry points.
 *     An unhandled rejection whose reason is a box is reported through
 *     Python (gort.unhandled_rejection_hook): in place under the same rule,
 *     else from the graveyard, the box pinned (pybox.pins) until then.
 *   - No stack for a carrier (vm.max_map_count, RLIMIT_AS): go() raises a
 *     MemoryError naming the limits; jobs queued behind a carrier that
 *     could not start the next one fail with it (never left hanging).
 *   - asyncio bridge. A bridge is an eventfd watched by one asyncio loop
 *     (loop.add_reader) plus a lock-free stack of completions. Awaiting a
 *     pending promise spawns a pool goroutine that waits for it and pushes
 *     (future, promise) onto the stack, writing the eventfd when the stack
 *     was empty; the reader drains the stack on the asyncio thread and sets
 *     the futures. No Python runs off the asyncio thread, no thread per await.
 *   - Blocking from plain threads: the GIL is released around the wait; on
 *     the main thread waits are cut into slices of SIGNAL_SLICE_NS and
 *     PyErr_CheckSignals runs between slices, so Ctrl-C raises
 *     KeyboardInterrupt (a timed-out slice has no effect: nothing was sent
 *     or received).
 *   - Deadlock on the main thread (Go's "all goroutines are asleep -
 *     deadlock!"). A main-thread wait without deadline asks the engine after
 *     each timed-out slice whether anything could still wake anyone
 *     (gort_quiescent: engine idle, executor asleep with nothing queued,
 *     every other thread an engine thread or blocked forever in gort). After
 *     DEADLOCK_LOOKS yes answers in a row with the same witness, i.e. the
 *     main thread itself waited that many slices in vain while nothing
 *     moved, hook_deadlock (Python) checks what the engine cannot see
 *     (Python signal handlers, which run between slices and may wake it) and
 *     returns the gort.Deadlock to raise, with the goroutine dump.
 *
 * Invariants
 *   - Python code runs only on the executor thread (goroutines, loop tasks)
 *     or on the Python thread that called in; never on an engine M.
 *   - Every job is run or released exactly once; every box is freed once.
 *   - A goroutine holding the GIL never switches away: every gort call
 *     that may park is made with the GIL released, and carriers are
 *     nopreempt, so the non-blocking calls made with the GIL held (try
 *     operations, unlocks, settling promises) never yield.
 *   - No PyGILState_* call ever happens inside a goroutine (3.10/3.11 map
 *     the gilstate to the thread's first tstate; gilstate.c rebinds it to
 *     the running goroutine's only so that PyGILState_Check holds).
 *   - Every tstate activation goes through restore_thread (RELEASE_GIL /
 *     ACQUIRE_GIL), which keeps that binding.
 *   - Each carrier's tstate has a thread_id of its own (see carrier_main).
 *
 * Locks: queue_lock (a pthread mutex) protects the job queue and the list
 * of live carriers; it is held for a few instructions and never across a
 * wait or a Python call. The graveyard and bridge stacks are Treiber
 * stacks (push: CAS, release; pop-all: exchange, acquire); the module
 * globals are written once in init (before any goroutine exists) and at
 * shutdown (`closing`, atomic).
 *
 * Rejected alternatives: cffi `extern "Python"` callbacks (they enter
 * Python with PyGILState_Ensure: the thread's first tstate, not the
 * goroutine's); cffi handles for channel values (a handle must be kept
 * alive by someone; an owned PyObject * travels with the message);
 * migrating goroutines between Python threads (CPython caches the current
 * tstate in thread-locals); a fresh C goroutine and tstate per Python
 * goroutine (an mmap and a 16 KiB allocation per spawn: carriers instead).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "gortpy.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Per Python goroutine (reserved, MAP_NORESERVE: it costs the pages it
 * touches), twice the main thread's usual 8 MiB: 3.10/3.11 have no C-stack
 * check but the recursion limit (a level through a C builtin costs ~700
 * bytes: sys.setrecursionlimit(20000) fits), 3.12/3.13 count C recursion
 * (Py_C_RECURSION_LIMIT) as sized for an 8 MiB main thread, 3.14 is told
 * the bounds (PyUnstable_ThreadState_SetStackProtection). */
#define CARRIER_STACK    ((size_t)16 << 20)
#define IDLE_MAX         256                         /* idle carriers kept */
#define SIGNAL_SLICE_NS  (50 * GORT_MILLISECOND)     /* main-thread wait slice */
#define RC_PYERR         INT32_MIN                   /* a Python exception is set */
#define DEADLOCK_LOOKS   4  /* quiescent looks in a row before a deadlock report */

/* ---- module state (written in init, then read-only but `closing`) ------- */

static PyInterpreterState *interp;     /* the interpreter this module serves */
static gort_loop      *exec_loop;      /* the executor's gort loop */
static gort_chan      *jobs;           /* unbuffered: pyjob * to idle carriers */
static PyThreadState  *exec_ts;        /* executor thread's tstate while it runs */
static unsigned long   main_ident;     /* main thread: gets signal slicing */
static unsigned long   exec_ident;     /* the executor thread, while it runs */
static atomic_int      closing;        /* executor stopped: no new goroutines */
static atomic_int      idle_carriers;  /* carriers waiting on `jobs` */
static gort_go_options carrier_opts;   /* stack size */
/* Python-side hooks, set by init(): */
static PyObject *hook_report;   /* report(exc, name): an escaped exception */
static PyObject *hook_error;    /* error(code) -> exception instance */
static PyObject *hook_reactor;  /* reactor(handlers, fulfilled, settled, next) */
static PyObject *hook_rejection; /* rejection(exc): an unhandled rejection */
static PyObject *hook_deadlock; /* deadlock() -> exception to raise, or None (may be NULL) */

/* Nonzero while this thread runs one of this module's calls with the GIL:
 * a box destroyed then may be released at once (see box_dtor). */
static _Thread_local int gil_held_here;

/* csrc/gilstate.c: on 3.10/3.11, bind the thread's gilstate to ts (3.12+
 * does it on every activation). */
void gortpy_gilstate_bind(PyThreadState *ts);

/* Make ts current (taking the GIL) with the gilstate bound to it: every
 * tstate activation in this file goes through here. */
static void restore_thread(PyThreadState *ts)
{
    PyEval_RestoreThread(ts);
    gortpy_gilstate_bind(ts);
}

/* Py_BEGIN/END_ALLOW_THREADS, resuming through restore_thread. */
#define RELEASE_GIL { PyThreadState *save_ = PyEval_SaveThread();
#define ACQUIRE_GIL restore_thread(save_); }

/* ---- errors --------------------------------------------------------------- */

/* Raise the exception gort's Python layer maps `code` to. Returns NULL. */
static PyObject *raise_code(int code)
{
    if (code == RC_PYERR)
        return NULL; /* already set */
    PyObject *exc = PyObject_CallFunction(hook_error, "i", code);
    if (exc) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* The current exception as a normalized instance (new reference), cleared. */
static PyObject *take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value && tb)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* timeout (None = forever, seconds <= 0 = never block) -> absolute deadline */
static int parse_timeout(PyObject *timeout, int64_t *deadline)
{
    if (timeout == NULL || timeout == Py_None) {
        *deadline = GORT_FOREVER;
        return 0;
    }
    double secs = PyFloat_AsDouble(timeout);
    if (secs == -1.0 && PyErr_Occurred())
        return -1;
    if (secs != secs) {
        PyErr_SetString(PyExc_ValueError, "timeout is NaN");
        return -1;
    }
    if (secs <= 0) {
        *deadline = GORT_NOWAIT;
        return 0;
    }
    if (secs > 1e9) { /* ~31 years: forever */
        *deadline = GORT_FOREVER;
        return 0;
    }
    *deadline = gort_now() + (int64_t)(secs * 1e9);
    return 0;
}

static void *addr_arg(PyObject *o)
{
    void *p = PyLong_AsVoidPtr(o);
    if (!p && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "NULL gort handle");
    return p;
}

/* ---- blocking with the GIL released --------------------------------------- */

typedef int (*wait_fn)(void *ctx, int64_t deadline);

/* After a timed-out slice of a main-thread wait without deadline: one
 * more look at the engine (*looks yes answers so far, witness *seen).
 * RC_PYERR with gort.Deadlock set when the wait can never end, else 0.
 * GIL held. */
static int deadlock_look(int *looks, uint64_t *seen)
{
    uint64_t w;
    if (!hook_deadlock || gort_quiescent(exec_loop, &w) != 1) {
        *looks = 0;
        return 0;
    }
    if (*looks == 0 || w != *seen) {
        *seen = w;
        *looks = 1;
        return 0;
    }
    if (++*looks < DEADLOCK_LOOKS)
        return 0;
    *looks = 0;
    PyObject *exc = PyObject_CallNoArgs(hook_deadlock);
    if (!exc)
        return RC_PYERR;
    if (exc == Py_None) {
        Py_DECREF(exc);
        return 0;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return RC_PYERR;
}

/* Run op(ctx, deadline) with the GIL released. On the main thread, outside
 * goroutines, the wait is sliced so signal handlers (Ctrl-C) run: returns
 * RC_PYERR with the handler's exception set. Otherwise op's result. */
static int wait_released(wait_fn op, void *ctx, int64_t deadline)
{
    if (gort_self() == 0 && deadline != GORT_NOWAIT && exec_ident &&
        PyThread_get_thread_ident() == exec_ident) {
        /* A promise callback on the executor: blocking the thread would
         * stop every Python goroutine, including whoever would wake it. */
        PyErr_SetString(PyExc_RuntimeError,
                        "gort: blocking call in a promise callback (it runs on the executor "
                        "thread); block in a goroutine (gort.go) instead");
        return RC_PYERR;
    }
    int sliced = deadline != GORT_NOWAIT && gort_self() == 0 &&
                 PyThread_get_thread_ident() == main_ident;
    int looks = 0;    /* deadlock_look's state */
    uint64_t seen = 0;
    for (;;) {
        int64_t until = deadline;
        if (sliced) {
            int64_t slice = gort_now() + SIGNAL_SLICE_NS;
            if (deadline == GORT_FOREVER || deadline > slice)
                until = slice;
        }
        int rc;
        RELEASE_GIL
        rc = op(ctx, until);
        ACQUIRE_GIL
        if (rc != GORT_ETIMEDOUT || until == deadline)
            return rc;
        if (PyErr_CheckSignals() < 0)
            return RC_PYERR;
        if (deadline == GORT_FOREVER && deadlock_look(&looks, &seen) != 0)
            return RC_PYERR;
    }
}

/* ---- the graveyard: releases deferred to a thread holding the GIL ---------- */

typedef struct gy_node gy_node;
struct gy_node {
    gy_node *next;                 /* graveyard link */
    void   (*free_fn)(gy_node *);  /* runs with the GIL */
};

static _Atomic(gy_node *) graveyard;

static void graveyard_drain(void) /* GIL held */
{
    gy_node *n = atomic_exchange_explicit(&graveyard, NULL, memory_order_acquire);
    while (n) {
        gy_node *next = n->next;
        n->free_fn(n);
        n = next;
    }
}

static void graveyard_task(void *unused) /* on the executor, outside goroutines */
{
    (void)unused;
    restore_thread(exec_ts);
    graveyard_drain();
    PyEval_SaveThread();
}

static void graveyard_push(gy_node *n)
{
    gy_node *head = atomic_load_explicit(&graveyard, memory_order_relaxed);
    do {
        n->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&graveyard, &head, n,
                                                    memory_order_release,
                                                    memory_order_relaxed));
    if (!head && !atomic_load(&closing))
        gort_loop_post(exec_loop, graveyard_task, NULL); /* on ENOMEM the next drain frees it; after shutdown nothing runs again */
}

/* ---- boxes: Python values inside gort promises ------------------------------ */

typedef struct pybox {
    gy_node    node;  /* graveyard link */
    PyObject  *obj;   /* owned */
    atomic_int pins;  /* the promise's (1) + one per rejection report in flight */
} pybox;

static void box_free(gy_node *n) /* GIL held */
{
    pybox *b = (pybox *)((char *)n - offsetof(pybox, node));
    Py_DECREF(b->obj);
    PyMem_RawFree(b);
}

static void box_dtor(void *v)
{
    pybox *b = v;
    if (atomic_fetch_sub_explicit(&b->pins, 1, memory_order_acq_rel) != 1)
        return; /* a rejection report still reads it (it frees it) */
    if (gil_held_here)
        box_free(&b->node);
    else
        graveyard_push(&b->node);
}

static pybox *box_new(PyObject *o) /* GIL held; NULL + MemoryError */
{
    pybox *b = PyMem_RawMalloc(sizeof *b);
    if (!b) {
        PyErr_NoMemory();
        return NULL;
    }
    b->node.free_fn = box_free;
    Py_INCREF(o);
    b->obj = o;
    atomic_init(&b->pins, 1);
    return b;
}

/* ---- unhandled rejections: reported through Python -------------------------- */

/* hook_rejection(exc), the current exception (if any) kept aside. GIL held. */
static void report_rejection(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *saved = PyErr_GetRaisedException();
#else
    PyObject *st, *sv, *stb;
    PyErr_Fetch(&st, &sv, &stb);
#endif
    PyObject *r = PyObject_CallOneArg(hook_rejection, exc);
    if (!r)
        PyErr_WriteUnraisable(hook_rejection);
    Py_XDECREF(r);
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(saved);
#else
    PyErr_Restore(st, sv, stb);
#endif
}

typedef struct rej_report {
    gy_node node;  /* graveyard link: run with the GIL by the next drain */
    pybox  *box;   /* pinned: the rejection reason */
} rej_report;

static void rej_report_run(gy_node *n) /* GIL held */
{
    rej_report *r = (rej_report *)((char *)n - offsetof(rej_report, node));
    report_rejection(r->box->obj);
    if (atomic_fetch_sub_explicit(&r->box->pins, 1, memory_order_acq_rel) == 1)
        box_free(&r->box->node);
    PyMem_RawFree(r);
}

/* gort's unhandled-rejection hook (any thread, p being freed): a Python
 * reason goes to gort.unhandled_rejection_hook with its traceback — at
 * once if this thread holds the GIL in one of our calls, else from the
 * graveyard (the box pinned until then); a C reason gets the engine's
 * default line. */
static void unhandled_rejection(gort_promise *p, void *unused)
{
    (void)unused;
    if (gort_promise_dtor(p) != box_dtor) {
        int code = gort_promise_error(p);
        const char *msg = gort_promise_message(p);
        fprintf(stderr, "gort: unhandled promise rejection: %s: %s\n", gort_err_name(code),
                msg ? msg : gort_strerror(code));
        return;
    }
    pybox *b = gort_promise_reason(p);
    if (gil_held_here) {
        report_rejection(b->obj);
        return;
    }
    rej_report *r = PyMem_RawMalloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "gort: unhandled promise rejection (a Python exception; "
                        "no memory to report it)\n");
        return;
    }
    atomic_fetch_add_explicit(&b->pins, 1, memory_order_relaxed);
    r->node.free_fn = rej_report_run;
    r->box = b;
    graveyard_push(&r->node);
}

/* ---- goroutines: jobs and carriers -------------------------------------------- */

typedef struct pyjob {
    gy_node       node;     /* graveyard link (a job that never ran) */
    struct pyjob *next;     /* queue link */
    PyObject     *fn;       /* owned */
    PyObject     *args;     /* owned tuple */
    PyObject     *kwargs;   /* owned dict or NULL */
    PyObject     *ctx;      /* owned contextvars.Context copy */
    gort_promise *promise;  /* owned reference or NULL (fire-and-forget) */
} pyjob;

static void job_free(gy_node *n) /* GIL held */
{
    pyjob *j = (pyjob *)((char *)n - offsetof(pyjob, node));
    Py_DECREF(j->fn);
    Py_DECREF(j->args);
    Py_XDECREF(j->kwargs);
    Py_DECREF(j->ctx);
    gil_held_here++;
    gort_promise_release(j->promise);
    gil_held_here--;
    PyMem_RawFree(j);
}

static void report_exception(PyObject *exc, PyObject *fn) /* GIL held */
{
    if (PyErr_GivenExceptionMatches(exc, PyExc_SystemExit))
        return; /* as in threads: SystemExit ends the goroutine quietly */
    PyObject *name = PyObject_GetAttrString(fn, "__qualname__");
    if (!name) {
        PyErr_Clear();
        name = PyObject_Repr(fn);
    }
    PyObject *r = name ? PyObject_CallFunctionObjArgs(hook_report, exc, name, NULL) : NULL;
    if (!r)
        PyErr_WriteUnraisable(hook_report);
    Py_XDECREF(r);
    Py_XDECREF(name);
}

/* Run a job on the calling carrier (GIL held, its own tstate), then free it. */
static void job_run(pyjob *j)
{
    PyObject *res = NULL, *exc = NULL;
    if (PyContext_Enter(j->ctx) == 0) {
        res = PyObject_Call(j->fn, j->args, j->kwargs);
        if (!res)
            exc = take_exception();
        if (PyContext_Exit(j->ctx) < 0)
            PyErr_WriteUnraisable(j->fn);
    } else {
        exc = take_exception();
    }
    int rc = 0;
    gil_held_here++;
    if (j->promise) {
        pybox *b = box_new(res ? res : exc ? exc : Py_None);
        if (!b) {
            PyErr_Clear();
            rc = gort_promise_reject(j->promise, GORT_ENOMEM, "out of memory boxing a result");
        } else if (res) {
            rc = gort_promise_resolve(j->promise, b, box_dtor);
        } else {
            rc = gort_promise_reject_value(j->promise, GORT_EREJECTED, b, box_dtor);
        }
    } else if (exc) {
        report_exception(exc, j->fn);
    }
    gil_held_here--;
    (void)rc; /* only a settled-by-someone-else promise fails: nothing to do */
    Py_XDECREF(res);
    Py_XDECREF(exc);
    job_free(&j->node);
}

/* A goroutine's thread-local state must not leak into the next job. */
static void tstate_reset(void)
{
    PyObject *dict = PyThreadState_GetDict();
    if (dict)
        PyDict_Clear(dict);
    PyErr_Clear();
}

/* The job queue: jobs no idle carrier took at once, FIFO. queue_lock
 * protects it (a pthread mutex: held for a few instructions, by spawners on
 * any thread and by carriers on the executor, never across a wait). */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pyjob *queue_head, *queue_tail;
static atomic_int starting; /* carriers spawned that have not looked at the queue yet */

static void queue_push(pyjob *j)
{
    j->next = NULL;
    pthread_mutex_lock(&queue_lock);
    if (queue_tail)
        queue_tail->next = j;
    else
        queue_head = j;
    queue_tail = j;
    pthread_mutex_unlock(&queue_lock);
}

/* Pop the oldest job; *more: whether others remain. */
static pyjob *queue_pop(int *more)
{
    pthread_mutex_lock(&queue_lock);
    pyjob *j = queue_head;
    if (j) {
        queue_head = j->next;
        if (!queue_head)
            queue_tail = NULL;
    }
    *more = queue_head != NULL;
    pthread_mutex_unlock(&queue_lock);
    return j;
}

static int queue_remove(pyjob *j) /* 1 if j was still queued */
{
    pthread_mutex_lock(&queue_lock);
    int found = 0;
    for (pyjob **pp = &queue_head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp == j) {
            *pp = j->next;
            if (queue_tail == j)
                queue_tail = prev;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&queue_lock);
    return found;
}

static void carrier_main(void *arg);

/* Make sure a carrier will look at the queue: start one unless one is
 * already starting. 0 or a GORT_E* code. */
static int carrier_wake(void)
{
    int zero = 0;
    if (!atomic_compare_exchange_strong(&starting, &zero, 1))
        return 0;
    int rc = gort_loop_go_opts(exec_loop, carrier_main, NULL, &carrier_opts);
    if (rc != 0)
        atomic_store(&starting, 0);
    return rc;
}

/* The exception for a carrier that could not be started (new reference;
 * NULL with an error set if even that fails). ENOMEM almost always means
 * the kernel refused the stack mapping: say which limit and which knobs. */
static PyObject *carrier_error(int rc) /* GIL held */
{
    if (rc != GORT_ENOMEM)
        return PyObject_CallFunction(hook_error, "i", rc);
    long maps = -1;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &maps) != 1)
            maps = -1;
        fclose(f);
    }
    return PyObject_CallFunction(
        PyExc_MemoryError, "N",
        PyUnicode_FromFormat(
            "gort: cannot start a Python goroutine: no memory for its stack (%zu MiB reserved, "
            "1-2 memory mappings each); the kernel caps a process at vm.max_map_count = %ld "
            "mappings (raise it: sysctl -w vm.max_map_count=N) and address space at RLIMIT_AS; "
            "or park fewer Python goroutines at once",
            CARRIER_STACK >> 20, maps));
}

/* Fail every queued job with exc (GIL held): its promise rejects with exc,
 * a fire-and-forget job reports it like an exception it raised. */
static void queue_fail(PyObject *exc)
{
    int more;
    pyjob *j;
    gil_held_here++;
    while ((j = queue_pop(&more)) != NULL) {
        pybox *b = j->promise ? box_new(exc) : NULL;
        if (b)
            gort_promise_reject_value(j->promise, GORT_EREJECTED, b, box_dtor);
        else if (j->promise)
            gort_promise_reject(j->promise, GORT_ENOMEM, "cannot start a Python goroutine");
        else
            report_exception(exc, j->fn);
        PyErr_Clear();
        job_free(&j->node);
    }
    gil_held_here--;
}

/* A carrier: runs queued jobs one after another; parks on `jobs` when the
 * queue is empty (idle), exits when IDLE_MAX carriers already idle. Taking a
 * job while others wait starts the next carrier, so that if this job
 * parks, the rest still run (Go's rule: a blocked goroutine never holds up
 * runnable ones). Jobs that never park run back to back on one carrier. */
/* Live carriers (for executor_interrupt), linked under queue_lock. */
typedef struct carrier {
    struct carrier *next, *prev;
    PyThreadState  *ts;
} carrier;
static carrier *carriers;

static void carrier_link(carrier *c)
{
    pthread_mutex_lock(&queue_lock);
    c->prev = NULL;
    c->next = carriers;
    if (carriers)
        carriers->prev = c;
    carriers = c;
    pthread_mutex_unlock(&queue_lock);
}

static void carrier_unlink(carrier *c)
{
    pthread_mutex_lock(&queue_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        carriers = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&queue_lock);
}

static void carrier_main(void *unused)
{
    (void)unused;
    PyThreadState *ts = PyThreadState_New(interp);
    atomic_fetch_sub(&starting, 1);
    carrier self = {NULL, NULL, ts};
    if (ts) {
        /* Every carrier's tstate lives on the executor thread; CPython finds
         * a tstate for PyThreadState_SetAsyncExc (and sys._current_frames)
         * by thread_id and stops at the first match, so give each its own
         * id (its address: never a pthread_t, which points into a thread's
         * stack mapping) to be able to interrupt exactly this goroutine. */
        ts->thread_id = (unsigned long)(uintptr_t)ts;
        carrier_link(&self);
    }
    if (!ts) {
        int more;
        pyjob *j = queue_pop(&more);
        if (j) { /* cannot run it: fail it rather than lose it */
            gort_promise_reject(j->promise, GORT_ENOMEM, "cannot create a Python thread state");
            graveyard_push(&j->node);
        }
        if (more)
            carrier_wake();
        return;
    }
    restore_thread(ts);
#if PY_VERSION_HEX >= 0x030E0000
    {
        char here;
        /* The stack ends CARRIER_STACK below the top (near `here`). */
        PyUnstable_ThreadState_SetStackProtection(ts, &here - CARRIER_STACK + 65536,
                                                  CARRIER_STACK - 65536);
    }
#endif
    for (;;) {
        int more;
        pyjob *j = queue_pop(&more);
        if (j && more) {
            int rc = carrier_wake();
            if (rc != 0) {
                /* The jobs behind j would wait for j, which may park
                 * forever: fail them now rather than leave them hanging
                 * (go() raises for new ones while no carrier can start). */
                PyObject *exc = carrier_error(rc);
                if (exc)
                    queue_fail(exc);
                else
                    PyErr_WriteUnraisable(NULL);
                Py_XDECREF(exc);
            }
        }
        if (!j) {
            if (atomic_load(&closing) || atomic_load(&idle_carriers) >= IDLE_MAX)
                break;
            atomic_fetch_add(&idle_carriers, 1);
            int rc;
            RELEASE_GIL
            rc = gort_chan_recv(jobs, &j);
            ACQUIRE_GIL
            atomic_fetch_sub(&idle_carriers, 1);
            if (rc != 0)
                break;
        }
        job_run(j);
        tstate_reset();
    }
    carrier_unlink(&self);
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent(); /* releases the GIL */
}

/* go(fn, args, kwargs, promise_addr) — promise_addr 0: fire-and-forget;
 * otherwise the job takes a new reference to that promise. */
static PyObject *py_go(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    if (n != 4 || !PyCallable_Check(a[0]) || !PyTuple_Check(a[1]) ||
        (a[2] != Py_None && !PyDict_Check(a[2]))) {
        PyErr_SetString(PyExc_TypeError, "go(fn, args, kwargs, promise)");
        return NULL;
    }
    if (atomic_load(&closing)) {
        PyErr_SetString(PyExc_RuntimeError, "gort: the executor has shut down");
        return NULL;
    }
    gort_promise *p = PyLong_AsVoidPtr(a[3]);
    if (PyErr_Occurred())
        return NULL;
    pyjob *j = PyMem_RawMalloc(sizeof *j);
    if (!j)
        return PyErr_NoMemory();
    j->ctx = PyContext_CopyCurrent();
    if (!j->ctx) {
        PyMem_RawFree(j);
        return NULL;
    }
    j->node.free_fn = job_free;
    Py_INCREF(a[0]);
    j->fn = a[0];
    Py_INCREF(a[1]);
    j->args = a[1];
    j->kwargs = a[2] == Py_None ? NULL : (Py_INCREF(a[2]), a[2]);
    j->promise = gort_promise_retain(p);
    if (gort_chan_try_send(jobs, &j) == 0)
        Py_RETURN_NONE; /* an idle carrier took it */
    queue_push(j);
    int rc = carrier_wake();
    if (rc != 0 && queue_remove(j)) {
        job_free(&j->node);
        PyObject *exc = carrier_error(rc);
        if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *py_idle_carriers(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong(atomic_load(&idle_carriers));
}

/* ---- the executor ----------------------------------------------------------- */

static PyObject *py_executor_run(PyObject *self, PyObject *unused)
{
    graveyard_drain();
    exec_ident = PyThread_get_thread_ident();
    exec_ts = PyEval_SaveThread();
    int rc = gort_loop_run(exec_loop);
    restore_thread(exec_ts);
    graveyard_drain();
    if (rc < 0)
        return raise_code(rc);
    Py_RETURN_NONE;
}

/* No new goroutines; the loop returns after the piece of work it runs. */
static PyObject *py_executor_stop(PyObject *self, PyObject *unused)
{
    atomic_store(&closing, 1);
    gort_loop_stop(exec_loop);
    graveyard_drain(); /* pending releases and rejection reports, before exit */
    Py_RETURN_NONE;
}

/* Raise SystemExit in every Python goroutine (interpreter exit while one
 * computes): the one computing gets it at its next bytecode; parked ones
 * never resume after the stop. Each carrier's tstate has its own
 * thread_id (carrier_main), so every version reaches the right one. */
static PyObject *py_executor_interrupt(PyObject *self, PyObject *unused)
{
    pthread_mutex_lock(&queue_lock);
    for (carrier *c = carriers; c; c = c->next)
        PyThreadState_SetAsyncExc(c->ts->thread_id, PyExc_SystemExit);
    pthread_mutex_unlock(&queue_lock);
    Py_RETURN_NONE;
}

static PyObject *py_in_goroutine(PyObject *self, PyObject *unused)
{
    return PyBool_FromLong(gort_self() != 0);
}

/* ---- object channels ---------------------------------------------------------- */

static PyObject *py_chan_make(PyObject *self, PyObject *arg)
{
    Py_ssize_t cap = PyLong_AsSsize_t(arg);
    if (cap == -1 && PyErr_Occurred())
        return NULL;
    if (cap < 0)
        return PyErr_Format(PyExc_ValueError, "channel capacity must be >= 0, not %zd", cap);
    gort_chan *ch = gort_chan_make(sizeof(PyObject *), (size_t)cap);
    if (!ch)
        return PyErr_Format(PyExc_MemoryError, "cannot make a channel of capacity %zd", cap);
    return PyLong_FromVoidPtr(ch);
}

typedef struct chan_op {
    gort_chan *ch;
    void      *elem;
} chan_op;

static int send_wait(void *c, int64_t deadline)
{
    chan_op *op = c;
    return gort_chan_send_until(op->ch, op->elem, deadline);
}

static int recv_wait(void *c, int64_t deadline)
{
    chan_op *op = c;
    return gort_chan_recv_until(op->ch, op->elem, deadline);
}

/* Send, trying without releasing the GIL first (most sends do not block). */
static int chan_send_elem(gort_chan *ch, void *elem, int64_t deadline)
{
    int rc = gort_chan_try_send(ch, elem);
    if (rc != GORT_EAGAIN)
        return rc;
    if (deadline == GORT_NOWAIT)
        return GORT_ETIMEDOUT; /* timeout=0: a timeout that expired at once */
    chan_op op = {ch, elem};
    return wait_released(send_wait, &op, deadline);
}

static int chan_recv_elem(gort_chan *ch, void *out, int64_t deadline)
{
    int rc = gort_chan_try_recv(ch, out);
    if (rc != GORT_EAGAIN)
        return rc;
    if (deadline == GORT_NOWAIT)
        return GORT_ETIMEDOUT;
    chan_op op = {ch, out};
    return wait_released(recv_wait, &op, deadline);
}

/* send(ch, value, timeout) -> None; raises ChanClosed/TimeoutError */
static PyObject *py_send(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    if (n != 3)
        return PyErr_Format(PyExc_TypeError, "send(ch, value, timeout)");
    gort_chan *ch = addr_arg(a[0]);
    int64_t deadline;
    if (!ch || parse_timeout(a[2], &deadline) < 0)
        return NULL;
    PyObject *v = a[1];
    Py_INCREF(v); /* travels with the message */
    int rc = chan_send_elem(ch, &v, deadline);
    if (rc != 0) {
        Py_DECREF(v);
        return raise_code(rc);
    }
    Py_RETURN_NONE;
}

/* recv(ch, timeout) -> (value, ok); ok False once closed and drained */
static PyObject *py_recv(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    if (n != 2)
        return PyErr_Format(PyExc_TypeError, "recv(ch, timeout)");
    gort_chan *ch = addr_arg(a[0]);
    int64_t deadline;
    if (!ch || parse_timeout(a[1], &deadline) < 0)
        return NULL;
    PyObject *v = NULL;
    int rc = chan_recv_elem(ch, &v, deadline);
    if (rc == GORT_ECLOSED)
        return Py_BuildValue("(OO)", Py_None, Py_False);
    if (rc != 0)
        return raise_code(rc);
    PyObject *r = PyTuple_Pack(2, v, Py_True);
    Py_DECREF(v); /* the message's reference */
    return r;
}

/* try_send(ch, value) -> bool; raises ChanClosed */
static PyObject *py_try_send(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    if (n != 2)
        return PyErr_Format(PyExc_TypeError, "try_send(ch, value)");
    gort_chan *ch = addr_arg(a[0]);
    if (!ch)
        return NULL;
    PyObject *v = a[1];
    Py_INCREF(v);
    int rc = gort_chan_try_send(ch, &v);
    if (rc == 0)
        Py_RETURN_TRUE;
    Py_DECREF(v);
    if (rc == GORT_EAGAIN)
        Py_RETURN_FALSE;
    return raise_code(rc);
}

/* try_recv(ch) -> (ready, value, ok) */
static PyObject *py_try_recv(PyObject *self, PyObject *arg)
{
    gort_chan *ch = addr_arg(arg);
    if (!ch)
        return NULL;
    PyObject *v = NULL;
    int rc = gort_chan_try_recv(ch, &v);
    if (rc == GORT_EAGAIN)
        return Py_BuildValue("(OOO)", Py_False, Py_None, Py_False);
    if (rc == GORT_ECLOSED)
        return Py_BuildValue("(OOO)", Py_True, Py_None, Py_False);
    if (rc != 0)
        return raise_code(rc);
    PyObject *r = PyTuple_Pack(3, Py_True, v, Py_True);
    Py_DECREF(v);
    return r;
}

/* release_objects(ch): drop the Python wrapper's reference to an object
 * channel, first releasing the values still buffered in it (nobody can
 * receive them through Python any more). */
static PyObject *py_release_objects(PyObject *self, PyObject *arg)
{
    gort_chan *ch = addr_arg(arg);
    if (!ch)
        return NULL;
    PyObject *v;
    while (gort_chan_try_recv(ch, &v) == 0)
        Py_DECREF(v);
    gort_chan_release(ch);
    Py_RETURN_NONE;
}

/* send_raw(ch, bytes, timeout) / recv_raw(ch, size, timeout) -> (bytes, ok):
 * typed channels (the Python layer packs values with cffi). */
static PyObject *py_send_raw(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    if (n != 3 || !PyBytes_Check(a[1]))
        return PyErr_Format(PyExc_TypeError, "send_raw(ch, bytes, timeout)");
    gort_chan *ch = addr_arg(a[0]);
    int64_t deadline;
    if (!ch || parse_timeout(a[2], &deadline) < 0)
        return NULL;
    if ((size_t)PyBytes_GET_SIZE(a[1]) != gort_chan_elem_size(ch))
        return PyErr_Format(PyExc_ValueError, "value of %zd bytes for a channel of %zu-byte elements",
                            PyBytes_GET_SIZE(a[1]), gort_chan_elem_size(ch));
    int rc = chan_send_elem(ch, PyBytes_AS_STRING(a[1]), deadline);
    if (rc != 0)
        return raise_code(rc);
    Py_RETURN_NONE;
}

static PyObject *py_recv_raw(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    if (n != 2)
        return PyErr_Format(PyExc_TypeError, "recv_raw(ch, timeout)");
    gort_chan *ch = addr_arg(a[0]);
    int64_t deadline;
    if (!ch || parse_timeout(a[1], &deadline) < 0)
        return NULL;
    PyObject *buf = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)gort_chan_elem_size(ch));
    if (!buf)
        return NULL;
    int rc = chan_recv_elem(ch, PyBytes_AS_STRING(buf), deadline);
    if (rc != 0 && rc != GORT_ECLOSED) {
        Py_DECREF(buf);
        return raise_code(rc);
    }
    PyObject *r = Py_BuildValue("(NO)", buf, rc == 0 ? Py_True : Py_False);
    return r;
}

/* ---- select ---------------------------------------------------------------------- */

/* One case as the Python layer passes it: (chan_addr, dir, value, elem_size)
 * where elem_size 0 means an object channel; value: the object (object
 * send), bytes (typed send) or None (receive). */
typedef struct sel_slot {
    PyObject *obj;        /* object channels: sent (owned) or received */
    char     *raw;        /* typed channels: elem_size bytes */
    size_t    elem_size;  /* 0: object channel */
} sel_slot;

typedef struct sel_ctx {
    gort_case *cases;
    size_t     n;
} sel_ctx;

static int select_wait(void *c, int64_t deadline)
{
    sel_ctx *s = c;
    return gort_select(s->cases, s->n, deadline);
}

/* select(cases, timeout, default) -> (index, value, ok); index -1: default */
static PyObject *py_select(PyObject *self, PyObject *const *a, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(a[0]))
        return PyErr_Format(PyExc_TypeError, "select(cases, timeout, default)");
    int64_t deadline;
    if (parse_timeout(a[1], &deadline) < 0)
        return NULL;
    int dflt = PyObject_IsTrue(a[2]);
    if (dflt < 0)
        return NULL;
    if (dflt)
        deadline = GORT_NOWAIT;
    Py_ssize_t n = PyList_GET_SIZE(a[0]);
    if (n > GORT_SELECT_MAX)
        return PyErr_Format(PyExc_ValueError, "more than %d select cases", GORT_SELECT_MAX);
    gort_case small_cases[8];
    sel_slot small_slots[8];
    gort_case *cases = n <= 8 ? small_cases : PyMem_Calloc((size_t)n, sizeof *cases);
    sel_slot *slots = n <= 8 ? small_slots : PyMem_Calloc((size_t)n, sizeof *slots);
    PyObject *result = NULL;
    Py_ssize_t built = 0;
    if (!cases || !slots) {
        PyErr_NoMemory();
        goto out;
    }
    for (; built < n; built++) {
        PyObject *t = PyList_GET_ITEM(a[0], built);
        PyObject *addr, *value;
        int dir;
        Py_ssize_t esize;
        if (!PyTuple_Check(t) || !PyArg_ParseTuple(t, "OiOn", &addr, &dir, &value, &esize))
            goto out;
        sel_slot *sl = &slots[built];
        gort_case *cs = &cases[built];
        sl->obj = NULL;
        sl->raw = NULL;
        sl->elem_size = (size_t)esize;
        cs->chan = addr == Py_None ? NULL : PyLong_AsVoidPtr(addr);
        if (PyErr_Occurred())
            goto out;
        cs->dir = dir;
        cs->result = 0;
        if (esize > 0) {
            sl->raw = PyMem_Malloc((size_t)esize);
            if (!sl->raw) {
                PyErr_NoMemory();
                goto out;
            }
            if (dir == GORT_SEND) {
                if (!PyBytes_Check(value) || PyBytes_GET_SIZE(value) != esize) {
                    PyErr_SetString(PyExc_ValueError, "select: bad typed send value");
                    PyMem_Free(sl->raw);
                    sl->raw = NULL;
                    goto out;
                }
                memcpy(sl->raw, PyBytes_AS_STRING(value), (size_t)esize);
            }
            cs->elem = sl->raw;
        } else {
            if (dir == GORT_SEND) {
                Py_INCREF(value);
                sl->obj = value;
            }
            cs->elem = &sl->obj;
        }
    }
    int rc = wait_released(select_wait, &(sel_ctx){cases, (size_t)n}, deadline);
    if (rc == GORT_EAGAIN && dflt) {
        result = Py_BuildValue("(iOO)", -1, Py_None, Py_False);
    } else if (rc == GORT_EAGAIN) {
        raise_code(GORT_ETIMEDOUT); /* timeout=0 */
    } else if (rc >= 0) {
        sel_slot *sl = &slots[rc];
        int closed = cases[rc].result == GORT_ECLOSED;
        if (cases[rc].dir == GORT_SEND) {
            if (closed) {
                raise_code(GORT_ECLOSED);
            } else {
                sl->obj = NULL; /* the reference went with the message */
                result = Py_BuildValue("(iOO)", (int)rc, Py_None, Py_True);
            }
        } else if (closed) {
            result = Py_BuildValue("(iOO)", (int)rc, Py_None, Py_False);
        } else if (sl->elem_size) {
            result = Py_BuildValue("(iy#O)", (int)rc, sl->raw, (Py_ssize_t)sl->elem_size, Py_True);
        } else {
            result = Py_BuildValue("(iNO)", (int)rc, sl->obj, Py_True);
            sl->obj = NULL; /* stolen by N */
        }
    } else {
        raise_code(rc);
    }
out:
    for (Py_ssize_t i = 0; i < built; i++) {
        Py_XDECREF(slots[i].obj); /* unsent values */
        PyMem_Free(slots[i].raw);
    }
    if (cases != small_cases)
        PyMem_Free(cases);
    if (slots != small_slots)
        PyMem_Free(slots);
    return result;
}

/* ---- sleeping and sync waits --------------------------------------------------------- */

static int sleep_wait(void *c, int64_t deadline)
{
    (void)c;
    return gort_select(NULL, 0, deadline); /* no case: sleeps until deadline */
}

static PyObject *py_sleep(PyObject *self, PyObject *arg)
{
    int64_t deadline;
    if (arg == Py_None || PyBool_Check(arg) || !(PyLong_Check(arg) || PyFloat_Check(arg)))
        return PyErr_Format(PyExc_TypeError, "gort.sleep: seconds must be a number, not %s",
                            Py_TYPE(arg)->tp_name);
    if (parse_timeout(arg, &deadline) < 0)
        return NULL;
    if (deadline == GORT_NOWAIT) {
        RELEASE_GIL
        gort_yield();
        ACQUIRE_GIL
        Py_RETURN_NONE;
    }
    int rc = wait_released(sleep_wait, NULL, deadline);
    if (rc == RC_PYERR)
        return NULL;
    Py_RETURN_NONE;
}

/* Sync objects (gortpy.h): the bookkeeping fields are read and written only
 * here, with the GIL held, so checks and updates are atomic for Python. */

static int mutex_wait(void *c, int64_t deadline) { return gort_mutex_lock_until(c, deadline); }
static int wg_wait(void *c, int64_t deadline) { return gort_wg_wait_until(c, deadline); }

typedef struct sem_op {
    gort_sem *sem;
    int64_t   n;
} sem_op;

static int sem_wait(void *c, int64_t deadline)
{
    sem_op *op = c;
    return gort_sem_acquire_until(op->sem, op->n, deadline);
}

/* Wait with the GIL released; True, or False at the deadline. */
static PyObject *timed_wait(wait_fn fn, void *ctx, int64_t deadline)
{
    int rc = wait_released(fn, ctx, deadline);
    if (rc == 0)
        Py_RETURN_TRUE;
    if (rc == GORT_ETIMEDOUT || rc == GORT_EAGAIN)
        Py_RETURN_FALSE;
    return raise_code(rc);
}

static int int64_arg(PyObject *o, int64_t *v)
{
    *v = PyLong_AsLongLong(o);
    return *v == -1 && PyErr_Occurred() ? -1 : 0;
}

/* wg_add(wg, delta): ValueError if the counter would go negative */
static PyObject *py_wg_add(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    gortpy_wg *wg = n == 2 ? addr_arg(a[0]) : NULL;
    int64_t delta;
    if (!wg || int64_arg(a[1], &delta) < 0)
        return NULL;
    if (delta < INT32_MIN || delta > INT32_MAX || wg->count + delta > INT32_MAX)
        return PyErr_Format(PyExc_ValueError, "gort.WaitGroup: delta %lld out of range", (long long)delta);
    if (wg->count + delta < 0)
        return PyErr_Format(PyExc_ValueError, "gort.WaitGroup: negative counter (%lld, delta %lld)",
                            (long long)wg->count, (long long)delta);
    wg->count += delta;
    gort_wg_add(&wg->wg, delta);
    Py_RETURN_NONE;
}

static PyObject *py_wg_wait(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    gortpy_wg *wg = n == 2 ? addr_arg(a[0]) : NULL;
    int64_t deadline;
    if (!wg || parse_timeout(a[1], &deadline) < 0)
        return NULL;
    return timed_wait(wg_wait, &wg->wg, deadline);
}

/* mutex_lock(mu, timeout) -> bool */
static PyObject *py_mutex_lock(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    gortpy_mutex *mu = n == 2 ? addr_arg(a[0]) : NULL;
    int64_t deadline;
    if (!mu || parse_timeout(a[1], &deadline) < 0)
        return NULL;
    PyObject *r = gort_mutex_trylock(&mu->mu) == 0 ? (Py_INCREF(Py_True), Py_True)
                                                 : timed_wait(mutex_wait, &mu->mu, deadline);
    if (r == Py_True)
        mu->locked = 1;
    return r;
}

static PyObject *py_mutex_trylock(PyObject *self, PyObject *arg)
{
    gortpy_mutex *mu = addr_arg(arg);
    if (!mu)
        return NULL;
    if (gort_mutex_trylock(&mu->mu) != 0)
        Py_RETURN_FALSE;
    mu->locked = 1;
    Py_RETURN_TRUE;
}

static PyObject *py_mutex_unlock(PyObject *self, PyObject *arg)
{
    gortpy_mutex *mu = addr_arg(arg);
    if (!mu)
        return NULL;
    if (!mu->locked)
        return PyErr_Format(PyExc_RuntimeError, "gort.Mutex: unlock of unlocked mutex");
    mu->locked = 0;
    gort_mutex_unlock(&mu->mu);
    Py_RETURN_NONE;
}

/* rw_lock(rw, write) / rw_unlock(rw, write): no deadline in the C API, so
 * a blocked rw_lock is not interruptible by Ctrl-C. */
static PyObject *py_rw_lock(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    gortpy_rwmutex *rw = n == 2 ? addr_arg(a[0]) : NULL;
    int write = rw ? PyObject_IsTrue(a[1]) : -1;
    if (write < 0)
        return NULL;
    if ((write ? gort_rwmutex_trylock(&rw->rw) : gort_rwmutex_tryrlock(&rw->rw)) != 0) {
        RELEASE_GIL
        if (write)
            gort_rwmutex_lock(&rw->rw);
        else
            gort_rwmutex_rlock(&rw->rw);
        ACQUIRE_GIL
    }
    if (write)
        rw->writer = 1;
    else
        rw->readers++;
    Py_RETURN_NONE;
}

static PyObject *py_rw_unlock(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    gortpy_rwmutex *rw = n == 2 ? addr_arg(a[0]) : NULL;
    int write = rw ? PyObject_IsTrue(a[1]) : -1;
    if (write < 0)
        return NULL;
    if (write) {
        if (!rw->writer)
            return PyErr_Format(PyExc_RuntimeError, "gort.RWMutex: unlock of unlocked RWMutex");
        rw->writer = 0;
        gort_rwmutex_unlock(&rw->rw);
    } else {
        if (rw->readers <= 0)
            return PyErr_Format(PyExc_RuntimeError, "gort.RWMutex: runlock of unlocked RWMutex");
        rw->readers--;
        gort_rwmutex_runlock(&rw->rw);
    }
    Py_RETURN_NONE;
}

static int sem_units(gortpy_sem *s, PyObject *o, int64_t *n)
{
    if (int64_arg(o, n) < 0)
        return -1;
    if (*n < 0 || *n > s->capacity) {
        PyErr_Format(PyExc_ValueError, "gort.Semaphore: n must be in 0..%lld, not %lld",
                     (long long)s->capacity, (long long)*n);
        return -1;
    }
    return 0;
}

/* sem_init(sem, capacity) */
static PyObject *py_sem_init(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    gortpy_sem *s = n == 2 ? addr_arg(a[0]) : NULL;
    int64_t cap;
    if (!s || int64_arg(a[1], &cap) < 0)
        return NULL;
    int rc = gort_sem_init(&s->sem, cap);
    if (rc != 0)
        return PyErr_Format(PyExc_ValueError, "gort.Semaphore: capacity must be >= 0, not %lld",
                            (long long)cap);
    s->capacity = cap;
    s->held = 0;
    Py_RETURN_NONE;
}

/* sem_acquire(sem, n, timeout) -> bool; timeout 0: try */
static PyObject *py_sem_acquire(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    gortpy_sem *s = n == 3 ? addr_arg(a[0]) : NULL;
    sem_op op = {s ? &s->sem : NULL, 0};
    int64_t deadline;
    if (!s || sem_units(s, a[1], &op.n) < 0 || parse_timeout(a[2], &deadline) < 0)
        return NULL;
    PyObject *r = gort_sem_try_acquire(&s->sem, op.n) == 0 ? (Py_INCREF(Py_True), Py_True)
                                                         : timed_wait(sem_wait, &op, deadline);
    if (r == Py_True)
        s->held += op.n;
    return r;
}

static PyObject *py_sem_release(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    gortpy_sem *s = n == 2 ? addr_arg(a[0]) : NULL;
    int64_t units;
    if (!s || sem_units(s, a[1], &units) < 0)
        return NULL;
    if (units > s->held)
        return PyErr_Format(PyExc_ValueError, "gort.Semaphore: released more than held (%lld > %lld)",
                            (long long)units, (long long)s->held);
    s->held -= units;
    gort_sem_release(&s->sem, units);
    Py_RETURN_NONE;
}

/* ---- promises ------------------------------------------------------------------------- */

static PyObject *py_promise_new(PyObject *self, PyObject *unused)
{
    graveyard_drain();
    gort_promise *p = gort_promise_new();
    if (!p)
        return PyErr_NoMemory();
    return PyLong_FromVoidPtr(p);
}

static PyObject *py_promise_release(PyObject *self, PyObject *arg)
{
    gort_promise *p = PyLong_AsVoidPtr(arg);
    if (PyErr_Occurred())
        return NULL;
    gil_held_here++;
    gort_promise_release(p);
    gil_held_here--;
    Py_RETURN_NONE;
}

/* settle(p, kind, value) -> rc: kind 0 resolve with a Python value, 1 reject
 * with an exception, 2 resolve with another promise (value = its address) */
static PyObject *py_promise_settle(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    if (n != 3)
        return PyErr_Format(PyExc_TypeError, "settle(p, kind, value)");
    gort_promise *p = addr_arg(a[0]);
    long kind = PyLong_AsLong(a[1]);
    if (!p || (kind == -1 && PyErr_Occurred()))
        return NULL;
    int rc;
    gil_held_here++;
    if (kind == 2) {
        gort_promise *other = addr_arg(a[2]);
        rc = other ? gort_promise_resolve_with(p, other) : RC_PYERR;
    } else {
        pybox *b = box_new(a[2]);
        if (!b)
            rc = RC_PYERR;
        else if (kind == 0)
            rc = gort_promise_resolve(p, b, box_dtor);
        else
            rc = gort_promise_reject_value(p, GORT_EREJECTED, b, box_dtor);
    }
    gil_held_here--;
    if (rc == RC_PYERR)
        return NULL;
    return PyLong_FromLong(rc);
}

/* outcome(p) -> (state, is_box, value, code, message): value is the Python
 * object of a box, or the raw address (int, 0 for NULL) of a C value or
 * reason. A box is recognised by its destructor, never by dereferencing a
 * C value (which may be any void *, even a small integer). */
static PyObject *py_promise_outcome(PyObject *self, PyObject *arg)
{
    gort_promise *p = addr_arg(arg);
    if (!p)
        return NULL;
    int state = gort_promise_state(p);
    if (state == GORT_PENDING)
        return Py_BuildValue("(iOOiO)", state, Py_False, Py_None, 0, Py_None);
    void *raw = state == GORT_FULFILLED ? gort_promise_value(p) : gort_promise_reason(p);
    const char *msg = gort_promise_message(p);
    int code = gort_promise_error(p);
    if (gort_promise_dtor(p) == box_dtor)
        return Py_BuildValue("(iOOiz)", state, Py_True, ((pybox *)raw)->obj, code, msg);
    return Py_BuildValue("(iONiz)", state, Py_False, PyLong_FromVoidPtr(raw), code, msg);
}

static int await_wait(void *c, int64_t deadline) { return gort_await_until(c, deadline); }

/* wait(p, timeout) -> rc (0, the rejection code, GORT_ETIMEDOUT...) */
static PyObject *py_promise_wait(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    gort_promise *p = n == 2 ? addr_arg(a[0]) : NULL;
    int64_t deadline;
    if (!p || parse_timeout(a[1], &deadline) < 0)
        return NULL;
    int rc = gort_await_until(p, GORT_NOWAIT);
    if (rc == GORT_ETIMEDOUT && deadline != GORT_NOWAIT)
        rc = wait_released(await_wait, p, deadline);
    if (rc == RC_PYERR)
        return NULL;
    return PyLong_FromLong(rc);
}

/* A then() reaction, as a microtask on the executor (outside goroutines):
 * hands the outcome to the Python reactor, which settles next. ud is a box
 * of the handlers tuple; gort destroys it (box_dtor) after the reaction, or
 * when the reaction is dropped because its promise was freed pending. */
static void reaction(gort_promise *next, gort_promise *settled, void *ud, int fulfilled)
{
    restore_thread(exec_ts);
    PyObject *handlers = ((pybox *)ud)->obj;
    PyObject *r = PyObject_CallFunction(hook_reactor, "OOO&O&", handlers,
                                        fulfilled ? Py_True : Py_False,
                                        PyLong_FromVoidPtr, settled,
                                        PyLong_FromVoidPtr, next);
    if (!r) {
        PyObject *exc = take_exception();
        pybox *b = exc ? box_new(exc) : NULL;
        gil_held_here++;
        if (b)
            gort_promise_reject_value(next, GORT_EREJECTED, b, box_dtor);
        else
            gort_promise_reject(next, GORT_ENOMEM, "reaction failed");
        gil_held_here--;
        Py_XDECREF(exc);
        PyErr_Clear();
    }
    Py_XDECREF(r);
    PyEval_SaveThread();
}

static void on_fulfilled(gort_promise *next, gort_promise *settled, void *ud)
{
    reaction(next, settled, ud, 1);
}

static void on_rejected(gort_promise *next, gort_promise *settled, void *ud)
{
    reaction(next, settled, ud, 0);
}

/* then(p, handlers) -> next address */
static PyObject *py_promise_then(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    gort_promise *p = n == 2 ? addr_arg(a[0]) : NULL;
    if (!p)
        return NULL;
    pybox *b = box_new(a[1]);
    if (!b)
        return NULL;
    gort_promise *next = gort_promise_then_ex(p, exec_loop, on_fulfilled, on_rejected, b, box_dtor);
    if (!next) {
        box_free(&b->node);
        return PyErr_NoMemory();
    }
    return PyLong_FromVoidPtr(next);
}

/* ---- asyncio bridge ----------------------------------------------------------------- */

typedef struct bridge_item bridge_item;
typedef struct bridge {
    int                     efd;      /* eventfd the asyncio loop watches */
    atomic_int              refs;     /* Python's + one per watch in flight */
    _Atomic(bridge_item *)  done;     /* completions (Treiber stack) */
} bridge;

struct bridge_item {
    gy_node       node;     /* graveyard link (bridge gone before the drain) */
    bridge_item  *next;     /* bridge->done link */
    bridge       *br;
    gort_promise *promise;  /* owned reference */
    PyObject     *future;   /* owned */
};

static void item_free(gy_node *n) /* GIL held */
{
    bridge_item *it = (bridge_item *)((char *)n - offsetof(bridge_item, node));
    Py_DECREF(it->future);
    gil_held_here++;
    gort_promise_release(it->promise);
    gil_held_here--;
    PyMem_RawFree(it);
}

static void bridge_unref(bridge *br) /* any thread */
{
    if (atomic_fetch_sub(&br->refs, 1) != 1)
        return;
    bridge_item *it = atomic_exchange(&br->done, NULL);
    while (it) {
        bridge_item *next = it->next;
        graveyard_push(&it->node);
        it = next;
    }
    close(br->efd);
    PyMem_RawFree(br);
}

static void bridge_watch_main(void *arg) /* a pool goroutine: no Python here */
{
    bridge_item *it = arg;
    bridge *br = it->br;
    gort_await(it->promise);
    bridge_item *head = atomic_load_explicit(&br->done, memory_order_relaxed);
    do {
        it->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&br->done, &head, it,
                                                    memory_order_release,
                                                    memory_order_relaxed));
    if (!head) {
        uint64_t one = 1;
        ssize_t w;
        do
            w = write(br->efd, &one, sizeof one);
        while (w < 0 && errno == EINTR);
    }
    bridge_unref(br);
}

static PyObject *py_bridge_new(PyObject *self, PyObject *unused)
{
    bridge *br = PyMem_RawMalloc(sizeof *br);
    if (!br)
        return PyErr_NoMemory();
    br->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (br->efd < 0) {
        PyMem_RawFree(br);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    atomic_init(&br->refs, 1);
    atomic_init(&br->done, NULL);
    return Py_BuildValue("(Ni)", PyLong_FromVoidPtr(br), br->efd);
}

static PyObject *py_bridge_release(PyObject *self, PyObject *arg)
{
    bridge *br = addr_arg(arg);
    if (!br)
        return NULL;
    gil_held_here++;
    bridge_unref(br);
    gil_held_here--;
    Py_RETURN_NONE;
}

/* watch(bridge, p, future): when p settles, (future, p) comes out of drain. */
static PyObject *py_bridge_watch(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    bridge *br = n == 3 ? addr_arg(a[0]) : NULL;
    gort_promise *p = br ? addr_arg(a[1]) : NULL;
    if (!p)
        return NULL;
    bridge_item *it = PyMem_RawMalloc(sizeof *it);
    if (!it)
        return PyErr_NoMemory();
    it->node.free_fn = item_free;
    it->br = br;
    it->promise = gort_promise_retain(p);
    Py_INCREF(a[2]);
    it->future = a[2];
    atomic_fetch_add(&br->refs, 1);
    int rc;
    RELEASE_GIL /* a spawn may yield (run-queue backpressure) */
    rc = gort_go(bridge_watch_main, it);
    ACQUIRE_GIL
    if (rc != 0) {
        atomic_fetch_sub(&br->refs, 1);
        item_free(&it->node);
        return raise_code(rc);
    }
    Py_RETURN_NONE;
}

/* drain(bridge) -> [(future, promise_addr)...] in completion order; the
 * caller takes over each promise reference (release it). */
static PyObject *py_bridge_drain(PyObject *self, PyObject *arg)
{
    bridge *br = addr_arg(arg);
    if (!br)
        return NULL;
    graveyard_drain();
    uint64_t count;
    while (read(br->efd, &count, sizeof count) < 0 && errno == EINTR) {
    }
    bridge_item *it = atomic_exchange_explicit(&br->done, NULL, memory_order_acquire);
    bridge_item *fifo = NULL; /* the stack is LIFO: reverse it */
    while (it) {
        bridge_item *next = it->next;
        it->next = fifo;
        fifo = it;
        it = next;
    }
    PyObject *list = PyList_New(0);
    for (it = fifo; it;) {
        bridge_item *next = it->next;
        PyObject *t = list ? Py_BuildValue("(ON)", it->future, PyLong_FromVoidPtr(it->promise)) : NULL;
        if (t && PyList_Append(list, t) == 0) {
            Py_DECREF(it->future);
            PyMem_RawFree(it); /* its promise reference now belongs to the caller */
        } else {
            Py_CLEAR(list);
            item_free(&it->node);
        }
        Py_XDECREF(t);
        it = next;
    }
    return list;
}

/* ---- init ------------------------------------------------------------------------------- */

/* init(report, error, reactor, rejection) -> None: start the engine if needed, make
 * the executor's loop and the jobs channel. */
static PyObject *py_init(PyObject *self, PyObject *const *a, Py_ssize_t n)
{
    if (n != 4)
        return PyErr_Format(PyExc_TypeError, "init(report, error, reactor, rejection)");
    if (exec_loop)
        return PyErr_Format(PyExc_RuntimeError, "gort._native: already initialized");
    Py_INCREF(a[0]);
    hook_report = a[0];
    Py_INCREF(a[1]);
    hook_error = a[1];
    Py_INCREF(a[2]);
    hook_reactor = a[2];
    Py_INCREF(a[3]);
    hook_rejection = a[3];
    if (!gort_initialized()) {
        int rc = gort_init(NULL);
        if (rc != 0 && rc != GORT_EALREADY)
            return raise_code(rc);
    }
    gort_set_unhandled_rejection_hook(unhandled_rejection, NULL);
    interp = PyInterpreterState_Get();
    main_ident = PyThread_get_thread_ident();
    gort_go_options_init(&carrier_opts);
    carrier_opts.stack_size = CARRIER_STACK;
    carrier_opts.name = "python";
    /* Never yield inside a gort call made with the GIL held (a mutex
     * unlock's hand-off, a preemption point): the next goroutine would
     * wait for the GIL this one still holds. */
    carrier_opts.nopreempt = 1;
    jobs = gort_chan_make(sizeof(pyjob *), 0);
    exec_loop = jobs ? gort_loop_new() : NULL;
    if (!exec_loop)
        return PyErr_NoMemory();
    gort_loop_ref(exec_loop); /* runs until executor_stop */
    Py_RETURN_NONE;
}

static PyObject *py_set_deadlock_hook(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyCallable_Check(arg))
        return PyErr_Format(PyExc_TypeError, "gort._native: the deadlock hook must be callable");
    Py_INCREF(arg);
    Py_XSETREF(hook_deadlock, arg);
    Py_RETURN_NONE;
}

static PyObject *py_set_main_thread(PyObject *self, PyObject *arg)
{
    unsigned long ident = PyLong_AsUnsignedLong(arg);
    if (PyErr_Occurred())
        return NULL;
    main_ident = ident;
    Py_RETURN_NONE;
}

#define FAST(name, fn, doc) {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL, doc}
#define ONE(name, fn, doc)  {name, (PyCFunction)fn, METH_O, doc}
#define NONE(name, fn, doc) {name, (PyCFunction)fn, METH_NOARGS, doc}

static PyMethodDef native_methods[] = {
    FAST("init", py_init, "init(report, error, reactor, rejection)"),
    ONE("set_main_thread", py_set_main_thread, "ident of the thread that handles signals"),
    ONE("set_deadlock_hook", py_set_deadlock_hook, "deadlock() -> exception or None"),
    NONE("executor_run", py_executor_run, "run the executor loop on this thread"),
    NONE("executor_stop", py_executor_stop, "stop the executor"),
    NONE("executor_interrupt", py_executor_interrupt, "SystemExit in the running goroutine"),
    NONE("in_goroutine", py_in_goroutine, "True inside a goroutine"),
    NONE("idle_carriers", py_idle_carriers, "carriers waiting for a job"),
    FAST("go", py_go, "go(fn, args, kwargs, promise_addr)"),
    ONE("chan_make", py_chan_make, "chan_make(cap) -> address of an object channel"),
    FAST("send", py_send, "send(ch, value, timeout)"),
    FAST("recv", py_recv, "recv(ch, timeout) -> (value, ok)"),
    FAST("try_send", py_try_send, "try_send(ch, value) -> bool"),
    ONE("try_recv", py_try_recv, "try_recv(ch) -> (ready, value, ok)"),
    ONE("release_objects", py_release_objects, "release an object channel"),
    FAST("send_raw", py_send_raw, "send_raw(ch, bytes, timeout)"),
    FAST("recv_raw", py_recv_raw, "recv_raw(ch, timeout) -> (bytes, ok)"),
    FAST("select", py_select, "select(cases, timeout, default) -> (index, value, ok)"),
    ONE("sleep", py_sleep, "sleep(seconds)"),
    FAST("wg_add", py_wg_add, "wg_add(wg, delta)"),
    FAST("wg_wait", py_wg_wait, "wg_wait(wg, timeout) -> bool"),
    FAST("mutex_lock", py_mutex_lock, "mutex_lock(mu, timeout) -> bool"),
    ONE("mutex_trylock", py_mutex_trylock, "mutex_trylock(mu) -> bool"),
    ONE("mutex_unlock", py_mutex_unlock, "mutex_unlock(mu)"),
    FAST("rw_lock", py_rw_lock, "rw_lock(rw, write)"),
    FAST("rw_unlock", py_rw_unlock, "rw_unlock(rw, write)"),
    FAST("sem_init", py_sem_init, "sem_init(sem, capacity)"),
    FAST("sem_acquire", py_sem_acquire, "sem_acquire(sem, n, timeout) -> bool"),
    FAST("sem_release", py_sem_release, "sem_release(sem, n)"),
    NONE("promise_new", py_promise_new, "promise_new() -> address"),
    ONE("promise_release", py_promise_release, "drop a promise reference"),
    FAST("promise_settle", py_promise_settle, "promise_settle(p, kind, value) -> rc"),
    ONE("promise_outcome", py_promise_outcome, "promise_outcome(p) -> (state, is_box, value, code, message)"),
    FAST("promise_wait", py_promise_wait, "promise_wait(p, timeout) -> rc"),
    FAST("promise_then", py_promise_then, "promise_then(p, handlers) -> next"),
    NONE("bridge_new", py_bridge_new, "bridge_new() -> (address, fd)"),
    ONE("bridge_release", py_bridge_release, "drop Python's reference to a bridge"),
    FAST("bridge_watch", py_bridge_watch, "bridge_watch(bridge, p, future)"),
    ONE("bridge_drain", py_bridge_drain, "bridge_drain(bridge) -> [(future, p)]"),
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_def = {
    PyModuleDef_HEAD_INIT, "gort._native",
    "CPython glue of gort's Python binding (see csrc/gortpy.c)", -1, native_methods,
    NULL, NULL, NULL, NULL,
};

/* Called through cffi (GIL released) at import: create gort._native and put
 * it in sys.modules. 0, or -1 with the error printed. */
int gortpy_init(void)
{
    PyGILState_STATE st = PyGILState_Ensure();
    int rc = -1;
    PyObject *m = PyModule_Create(&native_def);
    if (m) {
        PyObject *mods = PyImport_GetModuleDict();
        rc = PyDict_SetItemString(mods, "gort._native", m);
        Py_DECREF(m);
    }
    if (rc < 0)
        PyErr_Print();
    PyGILState_Release(st);
    return rc;
}
