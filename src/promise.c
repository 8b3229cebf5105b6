/*
 * promise.c — Promises/A+ in C, on gort's engine and event loops.
 *
 * CONCEPTS
 *
 * A promise is a refcounted cell that settles once: pending -> fulfilled
 * (value + optional destructor) or rejected (negative code + optional
 * message copy + optional value with destructor). Anything that wants to
 * know when it settles registers a *reaction node* in the promise's list;
 * settling detaches the list and handles every node. There are five kinds
 * of node:
 *
 *   USER   from gort_promise_then: a handler to run as a microtask on a
 *          loop. At settle time the node is queued with
 *          gort__loop_enqueue_micro; the microtask calls the handler with
 *          (next, settled, user_data) — or, for a NULL handler, makes next
 *          adopt the settled promise — and then fulfils next with NULL if it
 *          is still unsettled. Never synchronous (A+ 2.2.4), in registration
 *          order per loop (2.2.6). While it waits, it holds a reference on
 *          its loop (see LOOP LIVENESS). then() allocates the node inside
 *          next's own block (then_block), since the node holds a reference
 *          on next for as long as it is in use; on the loop's own thread the
 *          block comes from the loop's slab (slab.c: one malloc per 16
 *          links), elsewhere from the heap.
 *   ADOPT  from gort_promise_resolve_with(d, s) with s pending: when s
 *          settles, d settles the same way (A+ 2.3.2).
 *   COMB   one per input of a combinator (all/all_settled/race/any): feeds
 *          the input's outcome into the combinator's state.
 *   AWAIT  from gort_await: lives on the awaiter's stack and points at its
 *          gort__waiter. Settling claims the waiter and wakes it.
 *   CHAN   from gort_promise_to_chan: sends the settled promise on a channel.
 *
 * Only USER nodes run user code, and they run it on a loop. The others are
 * *internal* and are handled synchronously by the settling thread, right at
 * settle time: they are short, never block, and call no user code (except
 * value destructors when a reference drops to zero, see RELEASE).
 *
 * ADOPTION WITHOUT COPYING
 *
 * A promise settled by adoption does not copy the value or reason: it
 * keeps a reference to the promise that actually holds it (`src`) and the
 * accessors read through it. `src` always points at an *origin* (a promise
 * settled by value, whose own src is NULL): adopting a promise that itself
 * adopted takes over its src. So an accessor follows at most one pointer,
 * however long the chain was, and no release ever recurses down a chain.
 *
 * SETTLING AND THE WORKLIST
 *
 * settle() takes the promise lock, checks it is still pending, writes the
 * outcome, publishes the state (release store), sets `draining` if nodes
 * are registered (none: nothing to drain, nothing to order), unlocks, and
 * then pushes the promise on a worklist held by the caller (the public
 * settling calls drain their own promise first, under the caller's
 * reference, without pushing it). drain() then takes the node list in
 * rounds under the lock, and handles the nodes with the lock dropped. An
 * internal node that settles another promise (ADOPT, COMB) does not
 * recurse: it pushes that promise on the same worklist. So a chain of 10000
 * adoptions settles in a loop, in constant stack. (A settled promise is
 * answered GORT_EALREADY without the lock: a state never goes back.)
 *
 * `draining` keeps A+ 2.2.6 (registration order) across threads: while a
 * settler is still queueing the USER nodes it detached, a then() on the now
 * settled promise appends its node to the list instead of queueing it
 * directly, and the drainer picks it up in its next round. Only when a round
 * finds the list empty does draining end; from then on then() on the
 * settled promise queues its microtask at once (still asynchronously).
 * Shortcut for the common case, a settler on a loop's thread whose
 * reactions are all for that loop (a then-chain): queueing on the caller's
 * own microtask queue is a list push that cannot block or fail but for
 * memory, so those nodes are queued in the round's locked section itself,
 * and a round that queues the whole batch that way ends draining at once
 * (one lock round per settled promise instead of two): a then() waiting
 * for the lock meanwhile queues its reaction after them.
 * Internal registrations (await, adopt, combinators, to_chan) on a settled
 * promise never wait: they act at once, since their order is unobservable.
 *
 * AWAIT
 *
 * gort_await_until: if settled, return at once. Otherwise (GORT_NOWAIT ->
 * GORT_ETIMEDOUT; a loop's thread outside a goroutine -> GORT_EDEADLK) arm a
 * waiter with the deadline, link an AWAIT node under the promise lock, and
 * sleep with gort__waiter_sleep_lock, which drops the lock only once the
 * wake-up cannot be missed. drain() claims AWAIT nodes *under the promise
 * lock* as it takes them: the sleeper's stack (node and waiter) stays valid
 * because a claimed sleeper cannot return before it is woken, and a sleeper
 * whose deadline won the claim must re-take the lock to unlink its node —
 * which it cannot do while the drainer holds it. A failed claim is simply
 * skipped. Claimed waiters are woken after unlocking.
 *   For a loop-bound goroutine the wake-up is not done by the settler: it is
 * queued as a microtask on that goroutine's loop, in line with the USER
 * reactions. So `then(p, r1); await(p)` runs r1 before the code after the
 * await, as in JavaScript, where the continuation of an async function is
 * itself a promise reaction. (Pool goroutines and foreign threads are woken
 * directly: there is no order to keep with a loop.)
 *
 *   An await on a promise that is already settled returns at once, also
 * in a loop-bound goroutine (JavaScript's await always yields one microtask
 * turn; here that would cost a round trip through the loop for nothing).
 *
 * CYCLE DETECTION AND THE ADOPTION LOCK
 *
 * resolve_with(p, other) with other pending marks p `resolving` (locked in:
 * resolve/reject on it now fail with GORT_EALREADY) and registers an ADOPT
 * node on other. Before that it walks the chain other -> other->waiting ->
 * ... (the promise each pending, resolving promise waits to adopt); reaching
 * p means a cycle, and p is rejected with GORT_ECYCLE. The walk and the
 * registration happen under one global lock, `adopt_lock`, so two
 * concurrent resolve_with that would close a cycle between them are
 * serialised and the second sees the first. A settled promise ends the walk
 * (nothing after it can be waiting for p). resolve_with on an already
 * settled other needs no walk and does not take adopt_lock (the common
 * pass-through case of a then() without handler).
 *   `waiting` is a weak pointer: the waiter does not retain the promise it
 * waits for — the reference runs the other way, the ADOPT node in other's
 * list holds the dependent (as in JavaScript, where the source's reaction
 * holds the resolving functions of the dependent). So a dependent and its
 * pending source never form a reference cycle: if the source becomes
 * unreachable it is freed, and its nodes release the dependents. To keep
 * the walk memory-safe, a promise that ever had an ADOPT node (`adopted_by`)
 * takes adopt_lock when it is freed and clears `waiting` of the dependents
 * still queued on it. A walker holds adopt_lock, so every promise it
 * reaches is alive: a `waiting` target is either still pending with the
 * walker's predecessor in its list (its free would clear the pointer under
 * the lock first), or it settled — and then the predecessor settled in the
 * same drain, before the target's last release, and the walker (acquiring
 * adopt_lock after that release's own adopt_lock section) sees the
 * predecessor settled and stops before dereferencing the stale pointer.
 *   Only adoption chains are detected. p resolved with a then() of itself
 * (next depends on p through a USER reaction) stays pending forever, as in
 * JavaScript.
 *
 * COMBINATORS
 *
 * The result r holds a `comb` state (kind, n, remaining, inputs[],
 * values[]) owned by r and freed with it. One COMB node per input holds r.
 * r does not retain an input while it is pending (no cycle: input -> node
 * -> r only); when input i settles, its node stores a reference to it in
 * inputs[i], so by the time r fulfils, every input it reports is retained
 * by r. Outcomes: all — every input fulfilled: r fulfils with values[] (a
 * void ** in r's state, valid while r lives); the first rejection: r adopts
 * that input. all_settled — r fulfils with inputs[] (gort_promise **). race
 * — r adopts the first input to settle. any — r adopts the first fulfilled
 * input; all rejected: r rejects with GORT_EAGGREGATE and inputs[] as reason
 * value. n == 0: all/all_settled fulfil, any rejects, race stays pending. A
 * combinator result is `resolving` from birth: only its inputs settle it.
 * The state is protected by r's lock; the step that decides the outcome
 * sets `done`, unlocks, and settles r (internal settle, which is allowed on
 * a resolving promise).
 *
 * REFERENCES AND RELEASE
 *
 *   - The caller of every API function holds a reference to the promises it
 *     passes; so does the settler while draining (the caller's for the
 *     promise it settles, one on the worklist for those settled in turn).
 *   - A USER node holds `next` from then() until its microtask has run, and
 *     the settled promise from settle time until then (a node waiting in a
 *     pending promise's list holds no reference to that promise: otherwise
 *     a never-settled, unreachable promise would keep itself alive).
 *   - ADOPT and COMB nodes hold their dependent. A CHAN node holds its
 *     channel. An AWAIT node holds nothing (its caller does).
 *   - A promise settled by adoption holds its src; a combinator result
 *     holds the inputs in its state.
 *   - Freeing a pending promise frees its nodes and drops what they hold: the
 *     dependents of a promise that can never settle stay pending forever,
 *     and are freed when nothing else holds them.
 * gort_promise_release is iterative: promises whose count drops to zero
 * while another is freed go on a local stack (linked through wl_next), so
 * freeing a long chain of dependents uses constant stack. At the free of a
 * rejected promise that was never handled (no then, await, adoption,
 * combinator or to_chan), the unhandled-rejection hook runs first.
 *
 * LOOP LIVENESS
 *
 * A USER node holds a gort_loop_ref on its loop from then() until its
 * microtask has run (the microtask drops it, on the loop's own thread, so
 * the drop can never race with the loop finishing and being freed), or
 * until the pending promise it waits on is freed. So gort_loop_run does not
 * return while work whose result the loop is to handle is in flight (say a
 * gort_async job with a then() on the loop) — as a pending libuv request
 * keeps a libuv loop alive — and the caller cannot free the loop under a
 * reaction that is still to be queued on it. The price, and a difference
 * from Node (where an unreachable promise is garbage-collected): a pending
 * promise with reactions that nobody ever settles keeps the loop running
 * until it is released.
 *
 * LOCKS
 *
 *   p->lock (a gort__lock: short, non-blocking sections only) protects the
 *   node list, `resolving`, `draining`, `adopted_by`, the outcome fields
 *   while pending, and a combinator result's comb state. The state word is
 *   atomic: written under the lock with release order after the outcome
 *   fields, read lock-free with acquire, after which the outcome fields
 *   (and src) are immutable and can be read without the lock.
 *   adopt_lock (global) protects every promise's `waiting`, and serialises
 *   the cycle walk with ADOPT registrations. Order: adopt_lock before a
 *   promise lock; two promise locks are never held together; no lock is
 *   held while user code runs (handlers, destructors, the hook), while a
 *   microtask is queued (except on the caller's own loop, see the shortcut
 *   in SETTLING: a promise lock, then maybe the loop's inbox_lock, under
 *   which loop.c never takes a promise lock), a goroutine is spawned, a
 *   channel is used or a reference is released (which may free, and so take
 *   adopt_lock).
 *
 * MEMORY ORDERING
 *
 *   State: release store under the lock (after the outcome fields and src
 *   are written) / acquire loads in the accessors, so a reader that sees a
 *   settled state sees the outcome. References: retain relaxed (the caller
 *   already holds one), release acq_rel (every use of the promise by other
 *   holders happens before the free; a fence would do, but TSan does not
 *   model fences). Waiter wake-ups have the waiter protocol's ordering
 *   (internal.h). A microtask's node is published to the loop thread by
 *   the loop's inbox lock (or is queued on the loop thread itself).
 *
 * BRIDGES
 *
 *   gort_promise_from_recv(ch): a non-blocking receive first; if it would
 *   block, a pool goroutine (holding a reference to ch and the promise)
 *   does the blocking receive. elem_size 0 fulfils with NULL.
 *   gort_promise_to_chan(p, ch): a CHAN node. When p settles, the settler
 *   tries a non-blocking send of a new reference to p; if the channel is
 *   full, it spawns a pool goroutine that does the blocking send (never
 *   blocking the settler). On a closed channel, or if the goroutine cannot
 *   be spawned (engine stopping, out of memory), the reference is dropped
 *   and nothing is sent. So deliveries of several promises to one channel
 *   are not ordered when the channel is full; a goroutine blocked forever on
 *   a channel nobody reads leaks, as in Go.
 *
 * API DECISIONS (where gort.h leaves room)
 *
 *   - gort_promise_then(p, NULL, ...) uses gort_loop_current(); on a thread
 *     that runs no loop (and in pool goroutines) it returns NULL.
 *   - resolve_with(p, p), or through a chain back to p: p is rejected with
 *     GORT_ECYCLE and the call returns GORT_ECYCLE (GORT_EALREADY if p was
 *     already settled or resolving; then p is left alone).
 *   - resolve/reject/reject_value: the value or reason is owned by the call
 *     in every case — on GORT_EALREADY and on GORT_EINVAL (NULL p, err >= 0)
 *     its destructor runs before the call returns.
 *   - A combinator's result is locked in from birth: resolve/reject on it
 *     return GORT_EALREADY.
 *   - gort_await_until(p, GORT_NOWAIT) on a pending p: GORT_ETIMEDOUT (as
 *     gort_wg_wait_until), never GORT_EDEADLK. A settled p returns its result
 *     everywhere, on a loop's own thread too; only a wait that would block
 *     there is GORT_EDEADLK.
 *   - NULL promise: state and error return GORT_EINVAL, value/message/
 *     reason NULL, then/combinators/from_recv(NULL channel) NULL, the
 *     settling calls, await and to_chan GORT_EINVAL; retain/release no-ops.
 *   - The unhandled-rejection hook gets the promise being freed: it may read
 *     it with the accessors during the call, but not retain it. It runs on
 *     the thread that dropped the last reference.
 *   - gort_loop_free with a reaction still waiting on a pending promise
 *     (gort_loop_run does not return while one waits, so this only happens
 *     to a loop stopped or never run): the node's gort__loop_hold keeps the
 *     loop's struct, so when the promise settles later the enqueue finds
 *     the loop closed and next is rejected with GORT_ECANCELED (user data
 *     destructor run once). Promises and nodes made on the loop's thread
 *     live in the loop's slabs' chunks, which outlive the loop too.
 *   - No "thenable" detection: a void * value is never inspected.
 *
 * REJECTED ALTERNATIVES
 *
 *   - Copying values on adoption: values are opaque void * with a
 *     destructor; they cannot be copied, only shared.
 *   - Dependents retaining the promise they wait for (p -> src while
 *     pending): with the source's node holding the dependent, that is a
 *     reference cycle which leaks both when the source is never settled.
 *   - Running internal reactions through microtasks too: await, adoption
 *     and combinators need no loop (a foreign thread awaiting a promise
 *     settled by a pool goroutine has no loop at all), and a microtask hop
 *     per adoption would make a chain of n adoptions take n loop turns.
 *   - Recursing into the adopters at settle time: a long adoption chain
 *     would overflow the stack (the worklist above).
 *   - Thread-local trampolines instead of an explicit worklist: a goroutine
 *     may migrate between threads at any preemption point, so gort code
 *     outside the engine core never keeps state in thread-locals across
 *     calls.
 *   - A per-promise wait queue of threads (condition variable): the waiter
 *     protocol already serves goroutines, loop-bound goroutines and foreign
 *     threads, with deadlines.
 */
#include "internal.h"
#include "slab.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- types ---------------------------------------------------------------- */

enum { NODE_USER = 1, NODE_ADOPT, NODE_COMB, NODE_AWAIT, NODE_CHAN };
enum { COMB_ALL = 1, COMB_ALL_SETTLED, COMB_RACE, COMB_ANY };

typedef struct pnode pnode;
struct pnode {
    pnode  *next, *prev; /* links in the owner's list (owner->lock); drain reuses
                            `next` for its private batches after detaching */
    uint8_t kind;        /* NODE_* */
    bool    linked;      /* in the owner's list (owner->lock); AWAIT's sleeper
                            checks it after a timeout */
    union {
        struct {
            gort_loop       *loop;    /* where the handler runs */
            gort_reaction_fn on_fulfilled, on_rejected; /* NULL: pass through */
            void            *ud;      /* user_data */
            void           (*ud_dtor)(void *); /* then_ex: runs once, after the
                                                  reaction or when it is dropped */
            gort_promise    *settled; /* the settled promise (held from settle
                                         time until the microtask ran) */
        } user;
        struct {
            gort_promise *dep;        /* the adopting promise (held) */
        } adopt;
        struct {
            gort_promise *result;     /* the combinator's promise (held) */
            size_t        index;      /* which input this node watches */
        } comb;
        struct {
            gort__waiter *w;          /* the awaiter's waiter (on its stack) */
            gort_loop    *loop;       /* loop-bound goroutine: wake through a
                                         microtask on this loop; else NULL */
        } await;
        struct {
            gort_chan *ch;            /* where to send the settled promise (held) */
        } chan;
    };
};

typedef struct comb {
    int            kind;      /* COMB_* (immutable) */
    bool           done;      /* outcome decided (result->lock) */
    size_t         n;         /* number of inputs (immutable) */
    size_t         remaining; /* inputs still to count (result->lock) */
    gort_promise **inputs;    /* [n]: input i, retained once it settled (result->lock
                                 until settled; immutable after) */
    void         **values;    /* [n] (all): value of input i (same rule) */
} comb;

struct gort_promise {
    _Atomic size_t refs;       /* references; freed at 0 */
    gort__lock     lock;       /* see LOCKS */
    _Atomic int    state;      /* GORT_PENDING/FULFILLED/REJECTED; written under lock
                                  (release), read anywhere (acquire) */
    bool           resolving;  /* locked in by resolve_with / a combinator: only an
                                  internal settle may settle it (lock) */
    bool           draining;   /* settled, USER nodes still being queued (lock) */
    bool           adopted_by; /* an ADOPT node was ever registered here (lock;
                                  read without it at free) */
    _Atomic bool   handled;    /* someone observed it: then/await/adopt/comb/to_chan */
    /* outcome: written before the state's release store, immutable after */
    gort_promise  *src;        /* settled by adoption: the origin holding the outcome
                                  (held); NULL: the fields below hold it */
    void          *value;      /* fulfilled: the value; rejected: the reason value */
    void         (*dtor)(void *); /* value's destructor (either outcome) or NULL */
    int            err;        /* rejection code (< 0) */
    char          *msg;        /* rejection message (malloc'd copy) or NULL */
    /* reactions */
    pnode         *head, *tail; /* registered nodes, in order (lock) */
    gort_promise  *waiting;    /* resolving: the promise it waits to adopt, weak
                                  (adopt_lock) */
    comb          *comb;       /* combinator state (owned; see COMBINATORS) */
    gort_promise  *wl_next;    /* link on a worklist or on release's free stack
                                  (only the owner of that list touches it) */
};

/* What gort_promise_then allocates: the promise it returns and the USER
 * node that will settle it, in one slab.c block (gort__slab_alloc). The
 * node holds a reference on `p` for as long as it is in use, so the block
 * cannot be freed under the node; destroy(p) frees both with
 * gort__slab_free (p is the first member; every promise's memory comes
 * from gort__slab_alloc, so destroy() frees any promise that way). */
typedef struct then_block {
    gort_promise p;
    pnode        n;
} then_block;
_Static_assert(alignof(then_block) <= GORT__SLAB_ALIGN, "then_block: slab alignment");

/* The promise a USER node settles: the one then() returned, its block's. */
static inline gort_promise *user_next(pnode *n)
{
    return &((then_block *)(void *)((char *)n - offsetof(then_block, n)))->p;
}

/* Settled promises whose nodes still need handling (each holds a reference). */
typedef struct worklist {
    gort_promise *head, *tail;
} worklist;

/* What settle() writes. */
typedef struct outcome {
    int           state;       /* GORT_FULFILLED or GORT_REJECTED (ignored with src) */
    void         *value;       /* fulfilled value */
    void        (*value_dtor)(void *);
    int           err;         /* rejection code */
    char         *msg;         /* malloc'd; owned by the promise on success */
    void         *reason;
    void        (*reason_dtor)(void *);
    gort_promise *src;         /* adopt this settled promise instead */
} outcome;

static gort__lock adopt_lock = GORT__LOCK_INIT; /* see CYCLE DETECTION */

static gort__lock hook_lock = GORT__LOCK_INIT;  /* protects hook_fn/hook_ud */
static void (*hook_fn)(gort_promise *p, void *ud);
static void *hook_ud;

/* ---- small helpers -------------------------------------------------------- */

static inline int load_state(const gort_promise *p)
{
    return atomic_load_explicit(&p->state, memory_order_acquire);
}

/* The promise holding p's outcome (p settled). */
static inline const gort_promise *origin(const gort_promise *p)
{
    return p->src ? p->src : p;
}

static inline void mark_handled(gort_promise *p)
{
    if (!atomic_load_explicit(&p->handled, memory_order_relaxed))
        atomic_store_explicit(&p->handled, true, memory_order_relaxed);
}

static inline void retain(gort_promise *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

static void list_append(gort_promise *p, pnode *n)
{
    n->next = NULL;
    n->prev = p->tail;
    if (p->tail)
        p->tail->next = n;
    else
        p->head = n;
    p->tail = n;
    n->linked = true;
}

static void list_unlink(gort_promise *p, pnode *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        p->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        p->tail = n->prev;
    n->next = n->prev = NULL;
    n->linked = false;
}

static void wl_push(worklist *wl, gort_promise *p)
{
    p->wl_next = NULL;
    if (wl->tail)
        wl->tail->wl_next = p;
    else
        wl->head = p;
    wl->tail = p;
}

static gort_promise *wl_pop(worklist *wl)
{
    gort_promise *p = wl->head;
    if (p) {
        wl->head = p->wl_next;
        if (!wl->head)
            wl->tail = NULL;
        p->wl_next = NULL;
    }
    return p;
}

static char *copy_msg(const char *msg)
{
    if (!msg)
        return NULL;
    size_t len = strlen(msg) + 1;
    char *c = malloc(len);
    if (c)
        memcpy(c, msg, len);
    return c; /* NULL on ENOMEM: the rejection goes ahead without a message */
}

/* Result of gort_await for a settled promise. */
static int settled_result(const gort_promise *p)
{
    if (load_state(p) == GORT_FULFILLED)
        return 0;
    return origin(p)->err;
}

/* ---- release -------------------------------------------------------------- */

static void destroy(gort_promise *p, gort_promise **stack);

/* Drop one reference; at zero, push p on the free stack. */
static inline void unref_push(gort_promise *p, gort_promise **stack)
{
    size_t old = atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel);
    if (GORT__LIKELY(old > 1))
        return;
    if (old == 0)
        gort__fatal("gort_promise_release: promise %p released more often than retained",
                    (void *)p);
    p->wl_next = *stack;
    *stack = p;
}

/* Memory for promises and reaction nodes (slab.c): on a loop's thread
 * from that loop's slab of the kind, elsewhere from the heap. Zeroed. */
static inline void *pmem_alloc(gort_loop *loop, int kind, size_t size)
{
    return gort__slab_alloc(loop ? gort__loop_slab(loop, kind) : NULL, size);
}

/* A zeroed internal node (ADOPT, COMB, CHAN), or NULL. */
static inline pnode *node_alloc(void)
{
    return pmem_alloc(gort_loop_current(), GORT__SLAB_NODE, sizeof(pnode));
}

/* Free a reaction node (a no-op for a USER node: it lives in its
 * then_block, which goes with the promise then() returned). */
static inline void node_free(pnode *n)
{
    if (n->kind != NODE_USER)
        gort__slab_free(n);
}

/* Free a list of unused nodes linked through `next`. */
static void nodes_free(pnode *n)
{
    for (pnode *next; n; n = next) {
        next = n->next;
        gort__slab_free(n);
    }
}

GORT_API void gort_promise_release(gort_promise *p)
{
    if (!p)
        return;
    gort_promise *stack = NULL;
    unref_push(p, &stack);
    while (stack) {
        gort_promise *q = stack;
        stack = q->wl_next;
        destroy(q, &stack);
    }
}

GORT_API gort_promise *gort_promise_retain(gort_promise *p)
{
    if (p)
        retain(p);
    return p;
}

static void report_unhandled(gort_promise *p)
{
    gort__lock_acquire(&hook_lock);
    void (*fn)(gort_promise *, void *) = hook_fn;
    void *ud = hook_ud;
    gort__lock_release(&hook_lock);
    if (fn) {
        fn(p, ud);
        return;
    }
    const gort_promise *o = origin(p);
    fprintf(stderr, "gort: unhandled promise rejection: %s: %s\n", gort_err_name(o->err),
            o->msg ? o->msg : gort_strerror(o->err));
}

/* refs reached 0: nobody else can reach p (an AWAIT node would mean an
 * awaiter without a reference: a caller's bug, reported as fatal). */
static void destroy(gort_promise *p, gort_promise **stack)
{
    int st = load_state(p);
    if (st == GORT_REJECTED && !atomic_load_explicit(&p->handled, memory_order_relaxed))
        report_unhandled(p);

    if (p->adopted_by) {
        /* Barrier for cycle walkers, and no dangling `waiting` (see CYCLE
         * DETECTION). Only promises that had an ADOPT node pay for it. */
        gort__lock_acquire(&adopt_lock);
        for (pnode *n = p->head; n; n = n->next)
            if (n->kind == NODE_ADOPT && n->adopt.dep->waiting == p)
                n->adopt.dep->waiting = NULL;
        gort__lock_release(&adopt_lock);
    }
    for (pnode *n = p->head, *next; n; n = next) {
        next = n->next;
        switch (n->kind) {
        case NODE_USER: /* never ran: p was never settled */
            if (n->user.ud_dtor)
                n->user.ud_dtor(n->user.ud);
            unref_push(user_next(n), stack);
            gort_loop_unref(n->user.loop);
            gort__loop_drop(n->user.loop);
            break;
        case NODE_ADOPT:
            unref_push(n->adopt.dep, stack);
            break;
        case NODE_COMB:
            unref_push(n->comb.result, stack);
            break;
        case NODE_CHAN:
            gort_chan_release(n->chan.ch);
            break;
        default:
            gort__fatal("gort_promise_release: promise %p freed while awaited "
                        "(over-released)", (void *)p);
        }
        node_free(n); /* a USER one lives on in user_next(n), released later */
    }
    if (p->src)
        unref_push(p->src, stack);
    if (p->dtor)
        p->dtor(p->value);
    free(p->msg);
    if (p->comb) {
        for (size_t i = 0; i < p->comb->n; i++)
            if (p->comb->inputs[i])
                unref_push(p->comb->inputs[i], stack);
        free(p->comb);
    }
    gort__slab_free(p); /* a then_block's p: and the USER node after it */
}

/* ---- settling ------------------------------------------------------------- */

/* Settle p with o. internal: allowed on a resolving promise (adoption, a
 * combinator). On success the outcome's ownership (msg, value, reason)
 * passes to p, and if nodes are registered on p it is `draining` and
 * pushed on wl with a new reference (wl NULL: not pushed, the caller
 * drains p under its own reference): 0. With no node registered there is
 * nothing to drain and no order to keep: a later then() queues at once.
 * Otherwise GORT_EALREADY and the caller still owns what o points at. */
static int settle(gort_promise *p, const outcome *o, bool internal, worklist *wl)
{
    if (load_state(p) != GORT_PENDING)
        return GORT_EALREADY; /* settled for good: no need for the lock to say so */
    gort__lock_acquire(&p->lock);
    if (atomic_load_explicit(&p->state, memory_order_relaxed) != GORT_PENDING ||
        (p->resolving && !internal)) {
        gort__lock_release(&p->lock);
        return GORT_EALREADY;
    }
    int st;
    if (o->src) {
        st = load_state(o->src); /* acquire: then src/fields are visible */
        gort_promise *s = (gort_promise *)origin(o->src);
        retain(s);
        p->src = s;
    } else {
        st = o->state;
        bool ok = st == GORT_FULFILLED;
        p->value = ok ? o->value : o->reason;
        p->dtor = ok ? o->value_dtor : o->reason_dtor;
        p->err = o->err;
        p->msg = o->msg;
    }
    p->resolving = false;
    bool nodes = p->head != NULL;
    p->draining = nodes;
    atomic_store_explicit(&p->state, st, memory_order_release);
    gort__lock_release(&p->lock);
    if (nodes && wl) {
        retain(p);
        wl_push(wl, p);
    }
    return 0;
}

static void process(gort_promise *p, pnode *n, worklist *wl);
static void user_micro(void *arg);
static void user_cancel(void *arg);
static void await_wake_micro(void *arg);
static void comb_step(gort_promise *r, size_t index, gort_promise *input, worklist *wl);
static void chan_deliver(gort_promise *p, gort_chan *ch);

/* Handle every node of the settled promise p, in rounds (see `draining`). */
static void drain(gort_promise *p, worklist *wl)
{
    for (;;) {
        gort__lock_acquire(&p->lock);
        pnode *list = p->head;
        p->head = p->tail = NULL;
        if (!list) {
            p->draining = false;
            gort__lock_release(&p->lock);
            return;
        }
        /* Claim the awaiters while their frames are pinned by our lock;
         * keep the rest in registration order (an awaiter on a loop is
         * resumed through a microtask, in line with the reactions). */
        pnode *work = NULL, **work_tail = &work;
        for (pnode *n = list, *next; n; n = next) {
            next = n->next;
            n->linked = false;
            if (n->kind == NODE_AWAIT && !gort__waiter_claim(n->await.w))
                continue; /* its deadline won; the sleeper finds it unlinked */
            *work_tail = n;
            work_tail = &n->next;
        }
        *work_tail = NULL;
        /* USER nodes for the loop this thread runs are queued right here:
         * a push on our own microtask queue, which cannot block or run
         * anything. If that covers the whole batch, draining ends in this
         * round (a then() waiting for our lock queues after them). Their
         * microtasks run on this thread, later: `settled` can be set after
         * the queueing. A node that cannot be queued (out of memory) goes
         * the ordinary way below, which tries once more and, failing
         * again, rejects its promise with GORT_ENOMEM. */
        gort_loop *here = gort_loop_current();
        while (here && work && work->kind == NODE_USER && work->user.loop == here &&
               gort__loop_enqueue_micro(here, user_micro, user_cancel, work) == 0) {
            retain(p);
            work->user.settled = p;
            work = work->next;
        }
        if (!work) {
            p->draining = false;
            gort__lock_release(&p->lock);
            return;
        }
        gort__lock_release(&p->lock);

        for (pnode *n = work, *next; n; n = next) {
            next = n->next; /* an AWAIT node dies with the sleeper's frame once woken */
            process(p, n, wl);
        }
    }
}

static void drain_all(worklist *wl)
{
    gort_promise *p;
    while ((p = wl_pop(wl)) != NULL) {
        drain(p, wl);
        gort_promise_release(p);
    }
}


/* A USER node whose microtask could not be queued (or was dropped with its
 * freed loop): reject next with err, run the user data's destructor. A
 * cancellation by the loop's teardown is marked handled: nobody forgot to
 * observe it, so it is never reported as an unhandled rejection (a binding
 * that drops then()'s result, as the Node addon's fn.async does, would
 * otherwise print one warning per call in flight when a worker ends). */
static void user_fail(pnode *n, int err, worklist *wl)
{
    gort_promise *next = user_next(n);
    gort_loop *loop = n->user.loop;
    if (err == GORT_ECANCELED)
        mark_handled(next);
    settle(next, &(outcome){.state = GORT_REJECTED, .err = err}, false, wl);
    if (n->user.ud_dtor)
        n->user.ud_dtor(n->user.ud);
    gort_promise_release(n->user.settled);
    gort_promise_release(next); /* last touch: n lives in next's block */
    gort_loop_unref(loop);
    gort__loop_drop(loop);
}

/* A queued USER microtask whose loop was freed (gort_loop_free). */
static void user_cancel(void *arg)
{
    worklist wl = {0};
    user_fail(arg, GORT_ECANCELED, &wl);
    drain_all(&wl);
}

/* Handle one node of the settled promise p (no lock held). */
static void process(gort_promise *p, pnode *n, worklist *wl)
{
    switch (n->kind) {
    case NODE_USER:
        retain(p);
        n->user.settled = p;
    {
        int err = gort__loop_enqueue_micro(n->user.loop, user_micro, user_cancel, n);
        if (err != 0)
            user_fail(n, err == GORT_ENOMEM ? GORT_ENOMEM : GORT_ECANCELED, wl);
        break;
    }
    case NODE_AWAIT: /* claimed by drain */
        if (n->await.loop &&
            gort__loop_enqueue_micro(n->await.loop, await_wake_micro, NULL, n->await.w) == 0)
            break;
        gort__waiter_wake(n->await.w);
        break;
    case NODE_ADOPT: {
        gort_promise *d = n->adopt.dep;
        node_free(n);
        settle(d, &(outcome){.src = p}, true, wl);
        gort_promise_release(d);
        break;
    }
    case NODE_COMB: {
        gort_promise *r = n->comb.result;
        size_t index = n->comb.index;
        node_free(n);
        comb_step(r, index, p, wl);
        gort_promise_release(r);
        break;
    }
    case NODE_CHAN: {
        gort_chan *ch = n->chan.ch;
        node_free(n);
        chan_deliver(p, ch);
        break;
    }
    default:
        gort__fatal("promise: corrupt reaction node %p", (void *)n);
    }
}

/* Public settle: settle + drain. p is drained under the caller's
 * reference (every API caller holds one), the promises it settles in turn
 * under the worklist's. */
static int settle_now(gort_promise *p, outcome *o)
{
    int r = settle(p, o, false, NULL);
    /* `draining` is ours to read: we set it, only the drainer clears it. */
    if (r == 0 && p->draining) {
        worklist wl = {0};
        drain(p, &wl);
        drain_all(&wl);
    }
    return r;
}

/* ---- creating and settling -------------------------------------------------- */

/* A zeroed promise becomes a pending one with `refs` references. */
static gort_promise *promise_init(gort_promise *p, size_t refs)
{
    atomic_init(&p->refs, refs);
    atomic_init(&p->state, GORT_PENDING);
    atomic_init(&p->handled, false);
    p->lock = (gort__lock)GORT__LOCK_INIT;
    return p;
}

GORT_API gort_promise *gort_promise_new(void)
{
    gort_promise *p = pmem_alloc(gort_loop_current(), GORT__SLAB_PROMISE, sizeof *p);
    return p ? promise_init(p, 1) : NULL;
}

GORT_API int gort_promise_resolve(gort_promise *p, void *value, void (*dtor)(void *))
{
    if (!p) {
        if (dtor)
            dtor(value);
        return GORT_EINVAL;
    }
    outcome o = {.state = GORT_FULFILLED, .value = value, .value_dtor = dtor};
    int r = settle_now(p, &o);
    if (r != 0 && dtor)
        dtor(value);
    return r;
}

static int reject(gort_promise *p, int err, const char *msg, void *value, void (*dtor)(void *))
{
    if (!p || err >= 0) {
        if (dtor)
            dtor(value);
        return GORT_EINVAL;
    }
    outcome o = {.state = GORT_REJECTED, .err = err, .msg = copy_msg(msg),
                 .reason = value, .reason_dtor = dtor};
    int r = settle_now(p, &o);
    if (r != 0) {
        free(o.msg);
        if (dtor)
            dtor(value);
    }
    return r;
}

GORT_API int gort_promise_reject(gort_promise *p, int err, const char *msg)
{
    return reject(p, err, msg, NULL, NULL);
}

GORT_API int gort_promise_reject_value(gort_promise *p, int err, void *value,
                                       void (*dtor)(void *))
{
    return reject(p, err, NULL, value, dtor);
}

static int reject_cycle(gort_promise *p)
{
    outcome o = {.state = GORT_REJECTED, .err = GORT_ECYCLE,
                 .msg = copy_msg("promise resolved with itself or a chain back to itself")};
    int r = settle_now(p, &o);
    if (r != 0) {
        free(o.msg);
        return r;
    }
    return GORT_ECYCLE;
}

/* Returns 0; GORT_EALREADY (p settled or resolving; other untouched);
 * GORT_ECYCLE (p is now rejected with it); GORT_EINVAL; GORT_ENOMEM. */
GORT_API int gort_promise_resolve_with(gort_promise *p, gort_promise *other)
{
    if (!p || !other)
        return GORT_EINVAL;
    if (load_state(other) != GORT_PENDING) {
        /* Settled: no cycle possible, nothing to wait for. other counts as
         * observed only if p really adopts it. */
        int r = settle_now(p, &(outcome){.src = other});
        if (r == 0)
            mark_handled(other);
        return r;
    }
    if (p == other)
        return reject_cycle(p);

    pnode *n = node_alloc();
    if (!n)
        return GORT_ENOMEM;
    n->kind = NODE_ADOPT;
    n->adopt.dep = p;

    gort__lock_acquire(&adopt_lock);
    bool cycle = false;
    for (gort_promise *x = other; x; x = x->waiting) {
        if (x == p) {
            cycle = true;
            break;
        }
        if (load_state(x) != GORT_PENDING)
            break;
    }
    gort__lock_acquire(&p->lock);
    if (atomic_load_explicit(&p->state, memory_order_relaxed) != GORT_PENDING || p->resolving) {
        gort__lock_release(&p->lock);
        gort__lock_release(&adopt_lock);
        node_free(n);
        return GORT_EALREADY;
    }
    if (cycle) {
        gort__lock_release(&p->lock);
        gort__lock_release(&adopt_lock);
        node_free(n);
        return reject_cycle(p);
    }
    p->resolving = true;
    gort__lock_release(&p->lock);

    mark_handled(other);
    gort__lock_acquire(&other->lock);
    if (atomic_load_explicit(&other->state, memory_order_relaxed) == GORT_PENDING) {
        retain(p);
        list_append(other, n);
        other->adopted_by = true;
        p->waiting = other;
        gort__lock_release(&other->lock);
        gort__lock_release(&adopt_lock);
        return 0;
    }
    /* It settled meanwhile: adopt now. */
    gort__lock_release(&other->lock);
    gort__lock_release(&adopt_lock);
    node_free(n);
    worklist wl = {0};
    settle(p, &(outcome){.src = other}, true, &wl);
    drain_all(&wl);
    return 0;
}

/* ---- accessors ------------------------------------------------------------- */

GORT_API int gort_promise_state(const gort_promise *p)
{
    return p ? load_state(p) : GORT_EINVAL;
}

GORT_API void *gort_promise_value(const gort_promise *p)
{
    if (!p || load_state(p) != GORT_FULFILLED)
        return NULL;
    return origin(p)->value;
}

GORT_API int gort_promise_error(const gort_promise *p)
{
    if (!p)
        return GORT_EINVAL;
    if (load_state(p) != GORT_REJECTED)
        return 0;
    return origin(p)->err;
}

GORT_API const char *gort_promise_message(const gort_promise *p)
{
    if (!p || load_state(p) != GORT_REJECTED)
        return NULL;
    return origin(p)->msg;
}

GORT_API void *gort_promise_reason(const gort_promise *p)
{
    if (!p || load_state(p) != GORT_REJECTED)
        return NULL;
    return origin(p)->value; /* the reason value */
}

GORT_API gort_dtor_fn gort_promise_dtor(const gort_promise *p)
{
    int state = p ? load_state(p) : GORT_PENDING;
    if (state == GORT_FULFILLED)
        return origin(p)->dtor;
    if (state == GORT_REJECTED)
        return origin(p)->dtor;
    return NULL;
}

/* ---- then ------------------------------------------------------------------ */

/* The microtask of a USER node, on its loop. */
static void user_micro(void *arg)
{
    pnode *n = arg;
    gort_promise *s = n->user.settled, *next = user_next(n);
    gort_reaction_fn fn =
        load_state(s) == GORT_FULFILLED ? n->user.on_fulfilled : n->user.on_rejected;
    void *ud = n->user.ud;
    void (*ud_dtor)(void *) = n->user.ud_dtor;
    gort_loop *loop = n->user.loop; /* n is not touched below (it lives in next's block) */
    if (fn) {
        fn(next, s, ud);
        gort_promise_resolve(next, NULL, NULL); /* EALREADY if it settled next */
    } else {
        gort_promise_resolve_with(next, s);     /* pass through (s is settled) */
    }
    if (ud_dtor)
        ud_dtor(ud);
    gort_promise_release(s);
    gort_promise_release(next);
    /* The node's loop reference, dropped on the loop's own thread: the loop
     * cannot finish (and be freed) under our feet here. */
    gort_loop_unref(loop);
    gort__loop_drop(loop);
}

GORT_API gort_promise *gort_promise_then(gort_promise *p, gort_loop *loop,
                                         gort_reaction_fn on_fulfilled,
                                         gort_reaction_fn on_rejected, void *user_data)
{
    return gort_promise_then_ex(p, loop, on_fulfilled, on_rejected, user_data, NULL);
}

GORT_API gort_promise *gort_promise_then_ex(gort_promise *p, gort_loop *loop,
                                            gort_reaction_fn on_fulfilled,
                                            gort_reaction_fn on_rejected, void *user_data,
                                            void (*user_data_dtor)(void *))
{
    if (!p)
        return NULL;
    if (!loop)
        loop = gort_loop_current();
    if (!loop)
        return NULL;
    then_block *b = pmem_alloc(loop, GORT__SLAB_THEN, sizeof *b);
    if (!b)
        return NULL;
    gort_promise *next = promise_init(&b->p, 2); /* the caller's and the node's */
    pnode *n = &b->n;
    n->kind = NODE_USER;
    n->user.loop = loop;
    n->user.on_fulfilled = on_fulfilled;
    n->user.on_rejected = on_rejected;
    n->user.ud = user_data;
    n->user.ud_dtor = user_data_dtor;
    mark_handled(p);
    gort_loop_ref(loop); /* held by the node until its microtask ran */
    gort__loop_hold(loop); /* and the memory, should the loop be freed first */

    gort__lock_acquire(&p->lock);
    if (atomic_load_explicit(&p->state, memory_order_relaxed) == GORT_PENDING || p->draining) {
        list_append(p, n);
        gort__lock_release(&p->lock);
        return next;
    }
    gort__lock_release(&p->lock);
    retain(p);
    n->user.settled = p;
    if (gort__loop_enqueue_micro(loop, user_micro, user_cancel, n) != 0) {
        /* n lives in next's block: releasing next twice frees both */
        gort_promise_release(p);
        gort_promise_release(next);
        gort_promise_release(next);
        gort_loop_unref(loop);
        gort__loop_drop(loop);
        return NULL;
    }
    return next;
}

/* ---- await ----------------------------------------------------------------- */

static void await_wake_micro(void *arg)
{
    gort__waiter_wake(arg);
}

GORT_API int gort_await_until(gort_promise *p, int64_t deadline)
{
    if (!p)
        return GORT_EINVAL;
    mark_handled(p);
    if (load_state(p) != GORT_PENDING)
        return settled_result(p);
    if (deadline == GORT_NOWAIT)
        return GORT_ETIMEDOUT;
    if (gort__on_loop_scheduler())
        return GORT_EDEADLK;

    gort__waiter w;
    pnode n;
    memset(&n, 0, sizeof n);
    gort__waiter_init(&w, deadline);
    n.kind = NODE_AWAIT;
    n.await.w = &w;
    /* A loop-bound goroutine runs on its loop's thread: resume it through a
     * microtask, in order with the reactions (see AWAIT). */
    n.await.loop = w.g ? gort_loop_current() : NULL;

    gort__lock_acquire(&p->lock);
    if (atomic_load_explicit(&p->state, memory_order_relaxed) != GORT_PENDING) {
        gort__lock_release(&p->lock);
        return settled_result(p);
    }
    if (n.await.loop)
        gort__loop_hold(n.await.loop); /* a settle after gort_loop_free finds it closed */
    list_append(p, &n);
    int r = gort__waiter_sleep_lock(&w, &p->lock, GORT__WAIT_PROMISE);
    if (n.await.loop)
        gort__loop_drop(n.await.loop);
    if (r != 0) {
        /* The deadline won the claim: nobody else touches n, but it may
         * still be linked. */
        gort__lock_acquire(&p->lock);
        if (n.linked)
            list_unlink(p, &n);
        gort__lock_release(&p->lock);
        return GORT_ETIMEDOUT;
    }
    return settled_result(p);
}

GORT_API int gort_await(gort_promise *p)
{
    return gort_await_until(p, GORT_FOREVER);
}

/* ---- combinators ----------------------------------------------------------- */

/* Input `input` (settled) of combinator r, at position index. */
static void comb_step(gort_promise *r, size_t index, gort_promise *input, worklist *wl)
{
    outcome o = {0};
    bool decided = false;
    int st = load_state(input);

    gort__lock_acquire(&r->lock);
    comb *c = r->comb;
    if (c->done || atomic_load_explicit(&r->state, memory_order_relaxed) != GORT_PENDING) {
        gort__lock_release(&r->lock);
        return;
    }
    switch (c->kind) {
    case COMB_ALL:
        if (st == GORT_FULFILLED) {
            retain(input);
            c->inputs[index] = input;
            c->values[index] = origin(input)->value;
            if (--c->remaining == 0) {
                decided = true;
                o.state = GORT_FULFILLED;
                o.value = c->values;
            }
        } else {
            decided = true;
            o.src = input;
        }
        break;
    case COMB_ALL_SETTLED:
        retain(input);
        c->inputs[index] = input;
        if (--c->remaining == 0) {
            decided = true;
            o.state = GORT_FULFILLED;
            o.value = c->inputs;
        }
        break;
    case COMB_RACE:
        decided = true;
        o.src = input;
        break;
    case COMB_ANY:
        if (st == GORT_FULFILLED) {
            decided = true;
            o.src = input;
        } else {
            retain(input);
            c->inputs[index] = input;
            if (--c->remaining == 0) {
                decided = true;
                o.state = GORT_REJECTED;
                o.err = GORT_EAGGREGATE;
                o.reason = c->inputs;
            }
        }
        break;
    }
    if (decided)
        c->done = true;
    gort__lock_release(&r->lock);
    if (decided)
        settle(r, &o, true, wl);
}

static gort_promise *combinator(gort_promise *const *ps, size_t n, int kind)
{
    if (n > 0 && !ps)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!ps[i])
            return NULL;
    /* comb + inputs[n] + values[n] (at least one slot each, so the arrays
     * handed out for n == 0 are valid non-NULL pointers). */
    size_t slots = n ? n : 1;
    if (slots > (SIZE_MAX - sizeof(comb)) / (2 * sizeof(void *)))
        return NULL;
    gort_promise *r = gort_promise_new();
    comb *c = calloc(1, sizeof(comb) + 2 * slots * sizeof(void *));
    /* A node for each input still pending now (one settled now stays
     * settled, so no more are needed below), made before anything is
     * registered: out of memory leaves every input untouched. */
    pnode *spare = NULL;
    bool ok = r && c;
    for (size_t i = 0; ok && i < n; i++) {
        if (load_state(ps[i]) != GORT_PENDING)
            continue;
        pnode *nd = node_alloc();
        if (nd) {
            nd->next = spare;
            spare = nd;
        }
        ok = nd != NULL;
    }
    if (!ok) {
        nodes_free(spare);
        free(c);
        gort_promise_release(r);
        return NULL;
    }
    c->kind = kind;
    c->n = n;
    c->remaining = n;
    c->inputs = (gort_promise **)(void *)(c + 1);
    c->values = (void **)(c->inputs + slots);
    r->comb = c;
    r->resolving = true;

    worklist wl = {0};
    if (n == 0) {
        c->done = true;
        if (kind == COMB_ALL)
            settle(r, &(outcome){.state = GORT_FULFILLED, .value = c->values}, true, &wl);
        else if (kind == COMB_ALL_SETTLED)
            settle(r, &(outcome){.state = GORT_FULFILLED, .value = c->inputs}, true, &wl);
        else if (kind == COMB_ANY)
            settle(r, &(outcome){.state = GORT_REJECTED, .err = GORT_EAGGREGATE,
                                 .reason = c->inputs}, true, &wl);
        /* race: pending forever, as in JavaScript */
    }
    for (size_t i = 0; i < n; i++) {
        gort_promise *in = ps[i];
        mark_handled(in);
        if (load_state(in) == GORT_PENDING) {
            gort__lock_acquire(&in->lock);
            if (atomic_load_explicit(&in->state, memory_order_relaxed) == GORT_PENDING) {
                pnode *nd = spare; /* there is one: `in` was pending when counted */
                spare = nd->next;
                nd->kind = NODE_COMB;
                nd->comb.result = r;
                nd->comb.index = i;
                retain(r);
                list_append(in, nd);
                gort__lock_release(&in->lock);
                continue;
            }
            gort__lock_release(&in->lock);
        }
        comb_step(r, i, in, &wl);
    }
    nodes_free(spare); /* inputs that settled since they were counted */
    drain_all(&wl);
    return r;
}

GORT_API gort_promise *gort_promise_all(gort_promise *const *ps, size_t n)
{
    return combinator(ps, n, COMB_ALL);
}

GORT_API gort_promise *gort_promise_all_settled(gort_promise *const *ps, size_t n)
{
    return combinator(ps, n, COMB_ALL_SETTLED);
}

GORT_API gort_promise *gort_promise_race(gort_promise *const *ps, size_t n)
{
    return combinator(ps, n, COMB_RACE);
}

GORT_API gort_promise *gort_promise_any(gort_promise *const *ps, size_t n)
{
    return combinator(ps, n, COMB_ANY);
}

/* ---- async ------------------------------------------------------------------ */

typedef struct async_ctx {
    void (*fn)(gort_promise *p, void *arg);
    void *arg;
    gort_promise *p; /* held by the goroutine */
} async_ctx;

static void async_entry(void *arg)
{
    async_ctx *a = arg;
    gort_promise *p = a->p;
    void (*fn)(gort_promise *, void *) = a->fn;
    void *fn_arg = a->arg;
    free(a);
    fn(p, fn_arg);
    gort_promise_resolve(p, NULL, NULL); /* EALREADY if fn settled it */
    gort_promise_release(p);
}

GORT_API gort_promise *gort_async(void (*fn)(gort_promise *p, void *arg), void *arg)
{
    if (!fn)
        return NULL;
    gort_promise *p = gort_promise_new();
    async_ctx *a = malloc(sizeof *a);
    if (!p || !a) {
        gort_promise_release(p);
        free(a);
        return NULL;
    }
    a->fn = fn;
    a->arg = arg;
    a->p = p;
    retain(p);
    if (gort_go(async_entry, a) != 0) {
        free(a);
        gort_promise_release(p);
        gort_promise_release(p);
        return NULL;
    }
    return p;
}

/* ---- unhandled rejections ----------------------------------------------------- */

GORT_API void gort_set_unhandled_rejection_hook(void (*hook)(gort_promise *p, void *ud), void *ud)
{
    gort__lock_acquire(&hook_lock);
    hook_fn = hook;
    hook_ud = hook ? ud : NULL;
    gort__lock_release(&hook_lock);
}

/* ---- bridges ------------------------------------------------------------------ */

typedef struct recv_ctx {
    gort_chan    *ch; /* held */
    gort_promise *p;  /* held */
    void         *buf; /* malloc'd destination, NULL for elem_size 0 */
} recv_ctx;

/* Settle p from a receive's result; takes ownership of buf. */
static void recv_settle(gort_promise *p, int rc, void *buf)
{
    if (rc == 0)
        gort_promise_resolve(p, buf, buf ? free : NULL);
    else {
        free(buf);
        gort_promise_reject(p, rc, NULL); /* GORT_ECLOSED */
    }
}

static void recv_entry(void *arg)
{
    recv_ctx *r = arg;
    int rc = gort_chan_recv(r->ch, r->buf);
    recv_settle(r->p, rc, r->buf);
    gort_chan_release(r->ch);
    gort_promise_release(r->p);
    free(r);
}

GORT_API gort_promise *gort_promise_from_recv(gort_chan *ch)
{
    if (!ch)
        return NULL;
    size_t size = gort_chan_elem_size(ch);
    gort_promise *p = gort_promise_new();
    void *buf = size ? malloc(size) : NULL;
    if (!p || (size && !buf)) {
        gort_promise_release(p);
        free(buf);
        return NULL;
    }
    int rc = gort_chan_try_recv(ch, buf);
    if (rc != GORT_EAGAIN) {
        recv_settle(p, rc, buf);
        return p;
    }
    recv_ctx *r = malloc(sizeof *r);
    if (!r) {
        free(buf);
        gort_promise_release(p);
        return NULL;
    }
    r->ch = gort_chan_retain(ch);
    r->p = p;
    r->buf = buf;
    retain(p);
    if (gort_go(recv_entry, r) != 0) {
        gort_chan_release(ch);
        free(buf);
        free(r);
        gort_promise_release(p);
        gort_promise_release(p);
        return NULL;
    }
    return p;
}

typedef struct send_ctx {
    gort_chan    *ch; /* held */
    gort_promise *p;  /* the reference being sent */
} send_ctx;

static void send_entry(void *arg)
{
    send_ctx *s = arg;
    if (gort_chan_send(s->ch, &s->p) != 0)
        gort_promise_release(s->p); /* closed: nobody will receive it */
    gort_chan_release(s->ch);
    free(s);
}

/* p settled: send a new reference to it on ch without blocking the caller.
 * Consumes the caller's reference to ch. */
static void chan_deliver(gort_promise *p, gort_chan *ch)
{
    retain(p);
    gort_promise *ref = p;
    int rc = gort_chan_try_send(ch, &ref);
    if (rc == GORT_EAGAIN) {
        send_ctx *s = malloc(sizeof *s);
        if (s) {
            s->ch = ch;
            s->p = p;
            if (gort_go(send_entry, s) == 0)
                return;
            free(s);
        }
    }
    if (rc != 0)
        gort_promise_release(p);
    gort_chan_release(ch);
}

GORT_API int gort_promise_to_chan(gort_promise *p, gort_chan *ch)
{
    if (!p || !ch || gort_chan_elem_size(ch) != sizeof(gort_promise *))
        return GORT_EINVAL;
    pnode *n = node_alloc();
    if (!n)
        return GORT_ENOMEM;
    n->kind = NODE_CHAN;
    n->chan.ch = gort_chan_retain(ch);
    mark_handled(p);
    gort__lock_acquire(&p->lock);
    if (atomic_load_explicit(&p->state, memory_order_relaxed) == GORT_PENDING) {
        list_append(p, n);
        gort__lock_release(&p->lock);
        return 0;
    }
    gort__lock_release(&p->lock);
    node_free(n);
    chan_deliver(p, ch);
    return 0;
}
