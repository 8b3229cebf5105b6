/*
 * fuzz_chan.c — differential fuzzer of channel semantics (libFuzzer).
 *
 * Two modes, chosen at start-up by GORT_FUZZ_MODE (scripts/fuzz.sh runs both):
 *
 * seq (default): the input is decoded into a program of channel operations
 *   over three channels of capacity 0..3 (decoded) plus the NULL channel,
 *   run by four actors: three goroutines and one foreign thread, persistent
 *   across inputs. The harness (libFuzzer's thread) hands one operation at a
 *   time to an idle actor and, before the next, waits until the operation
 *   either finished or is parked in the engine, so the order of events is
 *   the decoded order (one P: GORT_PROCS is irrelevant to the outcome,
 *   which depends on that order only, but procs = 1 keeps the run cheap).
 *   Every outcome is compared with a sequential reference model of the
 *   contract in docs/api.md §4 (Go's channel semantics):
 *     - return codes of send/recv/try_send/try_recv/close/select (0,
 *       GORT_ECLOSED, GORT_EAGAIN, GORT_EINVAL for close(NULL));
 *     - the value received (every value sent is unique), hence FIFO order
 *       through the buffer, direct hand-off to a waiting receiver, the
 *       refill of a full buffer from the first blocked sender;
 *     - which blocked party a send, receive or close completes (FIFO among
 *       waiters, a select withdrawing its other cases);
 *     - close semantics: buffered values drain first, then GORT_ECLOSED
 *       with a zeroed destination; every blocked party wakes;
 *     - select fires only a case that is ready (any ready one may win: the
 *       engine chooses uniformly), default (GORT_NOWAIT) only when none is;
 *     - gort_chan_len / gort_chan_cap after every operation.
 *   "Parked" is observed white-box: the actor's destination/source buffer
 *   is in an entry of the channel's wait queue (chan.h), looked at under
 *   the channel lock. A mismatch aborts with the decoded program so far.
 *
 * conserve: procs = 2; the input gives 2..4 goroutines and 1..2 foreign
 *   threads a script each (send, recv, try_*, two-case selects with or
 *   without default) over 1..3 channels, all running at once; the harness
 *   closes every channel after a decoded number of yields, waits for all
 *   actors, drains what is left. Checked: every value whose send returned
 *   0 was received exactly once, no value whose send failed was received,
 *   and each receiver saw each sender's values on a channel in send order.
 *
 * Design notes. Actors wait for work on a gort_mutex + gort_cond (they work
 * from goroutines and threads alike). Each operation of an input uses fresh
 * buffers (slot[op index]), so a queue entry names exactly one operation.
 * No element is ever sent twice, so "which value arrived" identifies the
 * sender and the send. Rejected: a fully sequential fuzzer on one thread
 * (blocking operations and hand-off between parties are the interesting
 * part); comparing against Go itself (another process per input: too slow).
 */
#include "chan.h"
#include "gort.h"

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WAIT_NS (20 * GORT_SECOND) /* "never" for a step that must finish */

enum { NCH = 3, NULLCH = NCH, NACT = 4, MAXOPS = 96, MAXCASES = 4 };
enum { OP_SEND, OP_RECV, OP_TRYSEND, OP_TRYRECV, OP_CLOSE, OP_SELECT, OP_KINDS };
static const char *const op_names[] = {"send", "recv", "try_send", "try_recv", "close", "select"};

/* ---- the input decoder ------------------------------------------------------ */

typedef struct input {
    const uint8_t *p; /* next byte */
    const uint8_t *end;
} input;

static unsigned byte(input *in)
{
    return in->p < in->end ? *in->p++ : 0;
}

static _Noreturn __attribute__((format(printf, 1, 2))) void mismatch(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz_chan: MISMATCH: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort(); /* libFuzzer saves the input */
}

/* ============================ mode seq ====================================== */

/* One operation as decoded. */
typedef struct op {
    int  kind;
    int  n;               /* select: cases */
    int  ch[MAXCASES];    /* channel index (NULLCH: the NULL channel) */
    int  dir[MAXCASES];   /* select: GORT_SEND / GORT_RECV */
    bool dflt;            /* select: GORT_NOWAIT instead of GORT_FOREVER */
} op;

enum { IDLE, RUN, DONE };

/* An actor: a goroutine or the foreign thread executing one op at a time. */
typedef struct actor {
    gort_mutex mu;                     /* protects state */
    gort_cond  cv;                     /* state changes */
    int        state;                  /* IDLE -> RUN (harness) -> DONE (actor) -> IDLE */
    op         o;                      /* the op to run (written before RUN) */
    int64_t   *buf;                    /* slot[seq]: values to send / received */
    gort_case  cases[MAXCASES];        /* select cases (results read by the harness) */
    int        rc;                     /* the op's return value */
    int64_t    slot[MAXOPS][MAXCASES]; /* fresh buffers per op of an input */
} actor;

static actor actors[NACT]; /* 0..NACT-2 goroutines, NACT-1 the foreign thread */
static gort_chan *chans[NCH + 1]; /* [NULLCH] stays NULL */

static void actor_exec(actor *a)
{
    op *o = &a->o;
    gort_chan *c = chans[o->ch[0]];
    switch (o->kind) {
    case OP_SEND: a->rc = gort_chan_send(c, &a->buf[0]); break;
    case OP_RECV: a->rc = gort_chan_recv(c, &a->buf[0]); break;
    case OP_TRYSEND: a->rc = gort_chan_try_send(c, &a->buf[0]); break;
    case OP_TRYRECV: a->rc = gort_chan_try_recv(c, &a->buf[0]); break;
    case OP_CLOSE: a->rc = gort_chan_close(c); break;
    case OP_SELECT:
        for (int i = 0; i < o->n; i++)
            a->cases[i] = (gort_case){.chan = chans[o->ch[i]], .dir = o->dir[i], .elem = &a->buf[i]};
        a->rc = gort_select(a->cases, (size_t)o->n, o->dflt ? GORT_NOWAIT : GORT_FOREVER);
        break;
    }
}

static void actor_loop(actor *a)
{
    for (;;) {
        gort_mutex_lock(&a->mu);
        while (a->state != RUN)
            gort_cond_wait(&a->cv, &a->mu);
        gort_mutex_unlock(&a->mu);
        actor_exec(a);
        gort_mutex_lock(&a->mu);
        a->state = DONE;
        gort_cond_broadcast(&a->cv);
        gort_mutex_unlock(&a->mu);
    }
}

static void actor_goroutine(void *arg)
{
    actor_loop(arg);
}

static void *actor_thread(void *arg)
{
    actor_loop(arg);
    return NULL;
}

/* Harness side: wait until actor a is DONE, make it IDLE. */
static void await_done(int a)
{
    actor *ac = &actors[a];
    int64_t deadline = gort_now() + WAIT_NS;
    gort_mutex_lock(&ac->mu);
    while (ac->state != DONE)
        if (gort_cond_wait_until(&ac->cv, &ac->mu, deadline) == GORT_ETIMEDOUT && ac->state != DONE)
            mismatch("actor %d: %s did not complete although the model completes it", a,
                     op_names[ac->o.kind]);
    ac->state = IDLE;
    gort_mutex_unlock(&ac->mu);
}

static bool is_done(int a)
{
    gort_mutex_lock(&actors[a].mu);
    bool d = actors[a].state == DONE;
    gort_mutex_unlock(&actors[a].mu);
    return d;
}

/* White-box: is one of actor a's current buffers in a queue of chans[c]? */
static bool queued_in(int a, int c)
{
    gort_chan *ch = chans[c];
    const int64_t *lo = actors[a].buf, *hi = lo + MAXCASES;
    bool found = false;
    gort__lock_acquire(&ch->lock);
    gort__waitq *qs[2] = {&ch->recvq, &ch->sendq};
    for (int q = 0; q < 2 && !found; q++)
        for (gort__chan_entry *e = atomic_load(&qs[q]->first); e && !found; e = e->next)
            found = (const int64_t *)e->elem >= lo && (const int64_t *)e->elem < hi;
    gort__lock_release(&ch->lock);
    return found;
}

/* ---- the reference model --------------------------------------------------- */

/* A blocked party in a channel queue: the actor, and which of its cases
 * wait there (bit i: case i; a plain op is case 0). */
typedef struct mwait {
    int      actor;
    unsigned mask;
} mwait;

typedef struct mchan {
    int     cap;
    int64_t buf[4]; /* ring */
    int     head, len;
    bool    closed;
    mwait   rq[NACT], sq[NACT]; /* FIFO: [0] is the oldest */
    int     nrq, nsq;
} mchan;

/* What a completed actor must have observed. */
typedef struct expect {
    bool     set;     /* the actor completes in this step */
    unsigned mask;    /* select: allowed case indices; plain: 1 */
    int      res;     /* plain: rc; select: cases[idx].result */
    bool     has_val; /* a received value to compare */
    int64_t  val;
} expect;

static mchan   model[NCH];
static bool    blocked[NACT]; /* parked in the engine, per the model */
static op      blocked_op[NACT];
static int64_t sent_val[NACT][MAXCASES]; /* values of the current/blocked op's sends */
static expect  expects[NACT];
static int64_t next_val;

static void q_remove(mwait *q, int *n, int actor)
{
    for (int i = 0; i < *n; i++)
        if (q[i].actor == actor) {
            memmove(&q[i], &q[i + 1], (size_t)(*n - i - 1) * sizeof *q);
            (*n)--;
            return;
        }
}

/* A blocked actor completes: leave every queue (a select withdraws). */
static void unblock(int a, unsigned mask, int res, bool has_val, int64_t val)
{
    for (int c = 0; c < NCH; c++) {
        q_remove(model[c].rq, &model[c].nrq, a);
        q_remove(model[c].sq, &model[c].nsq, a);
    }
    blocked[a] = false;
    expects[a] = (expect){.set = true, .mask = mask, .res = res, .has_val = has_val, .val = val};
}

static bool send_ready(int c)
{
    return c != NULLCH && (model[c].closed || model[c].nrq > 0 || model[c].len < model[c].cap);
}

static bool recv_ready(int c)
{
    return c != NULLCH && (model[c].len > 0 || model[c].nsq > 0 || model[c].closed);
}

/* Perform a ready send of v on c (send_ready(c)): returns the result. */
static int m_send(int c, int64_t v)
{
    mchan *m = &model[c];
    if (m->closed)
        return GORT_ECLOSED;
    if (m->nrq > 0) {
        mwait w = m->rq[0];
        unblock(w.actor, w.mask, 0, true, v);
        return 0;
    }
    m->buf[(m->head + m->len++) % 4] = v;
    return 0;
}

/* Perform a ready receive on c (recv_ready(c)): the result and *v. */
static int m_recv(int c, int64_t *v)
{
    mchan *m = &model[c];
    if (m->len > 0) {
        *v = m->buf[m->head];
        m->head = (m->head + 1) % 4;
        m->len--;
        if (m->nsq > 0) { /* the first blocked sender's value moves in */
            mwait w = m->sq[0];
            m->buf[(m->head + m->len++) % 4] = sent_val[w.actor][__builtin_ctz(w.mask)];
            unblock(w.actor, w.mask, 0, false, 0);
        }
        return 0;
    }
    if (m->nsq > 0) {
        mwait w = m->sq[0];
        *v = sent_val[w.actor][__builtin_ctz(w.mask)];
        unblock(w.actor, w.mask, 0, false, 0);
        return 0;
    }
    *v = 0;
    return GORT_ECLOSED;
}

static int m_close(int c)
{
    if (c == NULLCH)
        return GORT_EINVAL;
    mchan *m = &model[c];
    if (m->closed)
        return GORT_ECLOSED;
    m->closed = true;
    while (m->nrq > 0 || m->nsq > 0) {
        int a = m->nrq > 0 ? m->rq[0].actor : m->sq[0].actor;
        unsigned mask = 0;
        for (int i = 0; i < m->nrq; i++)
            if (m->rq[i].actor == a)
                mask |= m->rq[i].mask;
        for (int i = 0; i < m->nsq; i++)
            if (m->sq[i].actor == a)
                mask |= m->sq[i].mask;
        unblock(a, mask, GORT_ECLOSED, true, 0); /* a receive case gets zero */
    }
    return 0;
}

/* Put actor a's op o in the queues it waits in. */
static void m_block(int a, const op *o)
{
    blocked[a] = true;
    blocked_op[a] = *o;
    int n = o->kind == OP_SELECT ? o->n : 1;
    for (int i = 0; i < n; i++) {
        int c = o->ch[i];
        if (c == NULLCH)
            continue;
        bool send = o->kind == OP_SELECT ? o->dir[i] == GORT_SEND : o->kind == OP_SEND;
        mchan *m = &model[c];
        mwait *q = send ? m->sq : m->rq;
        int *nq = send ? &m->nsq : &m->nrq;
        q[(*nq)++] = (mwait){.actor = a, .mask = 1u << i};
    }
}

/* Check a completed actor against expects[a]. */
static void check_actor(int a)
{
    actor *ac = &actors[a];
    expect *e = &expects[a];
    const op *o = &ac->o;
    if (o->kind == OP_SELECT) {
        int idx = ac->rc;
        if (idx < 0 || idx >= o->n || !(e->mask & (1u << idx)))
            mismatch("actor %d: select returned %d (%s), allowed cases mask %#x", a, idx,
                     idx < 0 ? gort_err_name(idx) : "case", e->mask);
        if (ac->cases[idx].result != e->res)
            mismatch("actor %d: select case %d result %s, want %s", a, idx,
                     gort_err_name(ac->cases[idx].result), gort_err_name(e->res));
        if (o->dir[idx] == GORT_RECV && e->has_val && ac->buf[idx] != e->val)
            mismatch("actor %d: select case %d received %lld, want %lld", a, idx,
                     (long long)ac->buf[idx], (long long)e->val);
    } else {
        if (ac->rc != e->res)
            mismatch("actor %d: %s on channel %d returned %s, want %s", a, op_names[o->kind],
                     o->ch[0], gort_err_name(ac->rc), gort_err_name(e->res));
        bool recv = o->kind == OP_RECV || o->kind == OP_TRYRECV;
        if (recv && e->has_val && ac->buf[0] != e->val)
            mismatch("actor %d: %s on channel %d received %lld, want %lld", a, op_names[o->kind],
                     o->ch[0], (long long)ac->buf[0], (long long)e->val);
    }
    e->set = false;
}

/* Wait for every actor the model completed in this step and check it. */
static void settle_all(void)
{
    for (int a = 0; a < NACT; a++)
        if (expects[a].set) {
            await_done(a);
            check_actor(a);
        }
}

static void check_lens(void)
{
    for (int c = 0; c < NCH; c++) {
        size_t len = gort_chan_len(chans[c]), cap = gort_chan_cap(chans[c]);
        if (len != (size_t)model[c].len || cap != (size_t)model[c].cap)
            mismatch("channel %d: len %zu cap %zu, want %d %d", c, len, cap, model[c].len,
                     model[c].cap);
    }
    if (gort_chan_len(NULL) != 0 || gort_chan_cap(NULL) != 0)
        mismatch("len/cap of the NULL channel are not 0");
}

/* Decode one op; returns false when the input is exhausted. */
static bool decode_op(input *in, op *o)
{
    if (in->p >= in->end)
        return false;
    unsigned b = byte(in);
    memset(o, 0, sizeof *o);
    o->kind = (int)(b % OP_KINDS);
    o->ch[0] = (int)((b / OP_KINDS) % (NCH + 1));
    if (o->kind == OP_SELECT) {
        unsigned s = byte(in);
        o->dflt = s & 1;
        int want = 1 + (int)((s >> 1) % MAXCASES);
        for (int i = 0; i < want; i++) {
            unsigned cb = byte(in);
            int c = (int)(cb % (NCH + 1)), d = (cb / (NCH + 1)) & 1 ? GORT_SEND : GORT_RECV;
            bool dup = false; /* one case per (channel, direction): see m_recv */
            for (int j = 0; j < o->n; j++)
                dup |= o->ch[j] == c && o->dir[j] == d && c != NULLCH;
            if (!dup) {
                o->ch[o->n] = c;
                o->dir[o->n++] = d;
            }
        }
    }
    return true;
}

/* Run op o on actor a: model, engine, comparison. */
static void step(int a, int seq, op *o)
{
    actor *ac = &actors[a];
    ac->buf = ac->slot[seq];
    int n = o->kind == OP_SELECT ? o->n : 1;
    for (int i = 0; i < n; i++)
        ac->buf[i] = sent_val[a][i] = ++next_val;
    /* Blocking send/recv on the NULL channel, or a select with no
     * non-NULL case, would block forever: make them non-blocking. */
    if (o->ch[0] == NULLCH && (o->kind == OP_SEND || o->kind == OP_RECV))
        o->kind = o->kind == OP_SEND ? OP_TRYSEND : OP_TRYRECV;
    bool any = false;
    for (int i = 0; o->kind == OP_SELECT && i < n; i++)
        any |= o->ch[i] != NULLCH;
    if (o->kind == OP_SELECT && !any)
        o->dflt = true;

    /* The model's verdict for this op. */
    int c = o->ch[0];
    bool blocks = false;
    unsigned ready = 0;
    switch (o->kind) {
    case OP_SEND:
    case OP_TRYSEND:
        blocks = !send_ready(c);
        break;
    case OP_RECV:
    case OP_TRYRECV:
        blocks = !recv_ready(c);
        break;
    case OP_SELECT:
        for (int i = 0; i < n; i++)
            if (o->dir[i] == GORT_SEND ? send_ready(o->ch[i]) : recv_ready(o->ch[i]))
                ready |= 1u << i;
        blocks = !ready;
        break;
    default:
        break;
    }
    bool tries = o->kind == OP_TRYSEND || o->kind == OP_TRYRECV ||
                 (o->kind == OP_SELECT && o->dflt);

    ac->o = *o;
    gort_mutex_lock(&ac->mu);
    ac->state = RUN;
    gort_cond_broadcast(&ac->cv);
    gort_mutex_unlock(&ac->mu);

    if (blocks && !tries) {
        /* Must park: wait until it is queued, and must not finish. */
        int64_t deadline = gort_now() + WAIT_NS;
        int first = -1;
        for (int i = 0; i < n && first < 0; i++)
            if (o->ch[i] != NULLCH)
                first = o->ch[i];
        while (!queued_in(a, first)) {
            if (is_done(a))
                mismatch("actor %d: %s completed (rc %d) although the model blocks it", a,
                         op_names[o->kind], ac->rc);
            if (gort_now() > deadline)
                mismatch("actor %d: %s neither completed nor parked", a, op_names[o->kind]);
            sched_yield();
        }
        m_block(a, o);
        return;
    }
    await_done(a);
    int64_t v = 0;
    expect e = {.set = true, .mask = 1};
    if (blocks) { /* a try that would block */
        e.res = GORT_EAGAIN;
        if (o->kind == OP_SELECT) {
            if (ac->rc != GORT_EAGAIN)
                mismatch("actor %d: select with default and no ready case returned %d", a, ac->rc);
            return;
        }
    } else if (o->kind == OP_SELECT) {
        int idx = ac->rc;
        if (idx < 0 || idx >= n || !(ready & (1u << idx)))
            mismatch("actor %d: select returned %d, ready cases mask %#x", a, idx, ready);
        e.mask = 1u << idx;
        if (o->dir[idx] == GORT_SEND) {
            e.res = m_send(o->ch[idx], sent_val[a][idx]);
        } else {
            e.res = m_recv(o->ch[idx], &v);
            e.has_val = true;
            e.val = v;
        }
    } else if (o->kind == OP_SEND || o->kind == OP_TRYSEND) {
        e.res = m_send(c, sent_val[a][0]);
    } else if (o->kind == OP_RECV || o->kind == OP_TRYRECV) {
        e.res = m_recv(c, &v);
        e.has_val = true;
        e.val = v;
    } else {
        e.res = m_close(c);
    }
    expects[a] = e;
    check_actor(a);
    settle_all(); /* the parties this op completed */
}

static int pick_idle(unsigned b)
{
    int idle[NACT], n = 0;
    for (int a = 0; a < NACT; a++)
        if (!blocked[a])
            idle[n++] = a;
    return n ? idle[b % (unsigned)n] : -1;
}

static void run_seq(const uint8_t *data, size_t size)
{
    input in = {data, data + size};
    unsigned caps = byte(&in);
    memset(model, 0, sizeof model);
    memset(blocked, 0, sizeof blocked);
    for (int c = 0; c < NCH; c++) {
        model[c].cap = (int)((caps >> (2 * c)) & 3);
        chans[c] = gort_chan_make(sizeof(int64_t), (size_t)model[c].cap);
        if (!chans[c])
            mismatch("gort_chan_make(8, %d) returned NULL", model[c].cap);
    }
    op o;
    for (int seq = 0; seq < MAXOPS && decode_op(&in, &o); seq++) {
        int a = pick_idle(byte(&in));
        if (a < 0) /* everyone is blocked: the harness closes a channel */
            for (int c = 0; c < NCH && a < 0; c++)
                if (!model[c].closed) {
                    if (gort_chan_close(chans[c]) != m_close(c))
                        mismatch("close of channel %d disagrees", c);
                    settle_all();
                    a = pick_idle(0);
                }
        step(a, seq, &o);
        check_lens();
    }
    /* Close whatever is open: every blocked actor wakes. */
    for (int c = 0; c < NCH; c++) {
        int want = m_close(c), got = gort_chan_close(chans[c]);
        if (got != want)
            mismatch("final close of channel %d returned %s, want %s", c, gort_err_name(got),
                     gort_err_name(want));
        settle_all();
    }
    /* Drained reads of the closed channels agree with the model too. */
    for (int c = 0; c < NCH; c++) {
        for (;;) {
            int64_t got = -1, want;
            int rc = gort_chan_try_recv(chans[c], &got), wrc = m_recv(c, &want);
            if (rc != wrc || got != want)
                mismatch("drain of channel %d: %s %lld, want %s %lld", c, gort_err_name(rc),
                         (long long)got, gort_err_name(wrc), (long long)want);
            if (rc != 0)
                break;
        }
        gort_chan_release(chans[c]);
        chans[c] = NULL;
    }
    for (int a = 0; a < NACT; a++)
        if (blocked[a])
            mismatch("actor %d still blocked after every channel closed", a);
}

/* ========================== mode conserve =================================== */

enum { CV_ACT = 6, CV_OPS = 24, CV_VALS = CV_ACT * CV_OPS * 2 + 1 };

typedef struct cv_actor {
    int     id;
    int     nops;
    uint8_t code[CV_OPS][3]; /* kind, channel, (select: other channel) */
    int64_t last_seen[CV_ACT][NCH]; /* per sender and channel: last value received */
} cv_actor;

static cv_actor        cv_actors[CV_ACT];
static int             cv_nch;
static gort_chan      *cv_chans[NCH];
static _Atomic uint8_t cv_sent[CV_VALS];     /* 1: a send of this value returned 0 */
static _Atomic uint8_t cv_received[CV_VALS]; /* times received */
static gort_wg         cv_wg = GORT_WG_INIT;

static int64_t cv_value(int actor, int op, int which)
{
    return 1 + (actor * CV_OPS + op) * 2 + which; /* unique, > 0; 0 = zeroed by close */
}

static void cv_got(cv_actor *me, int c, int64_t v)
{
    if (v <= 0 || v >= CV_VALS)
        mismatch("conserve: actor %d received %lld, never sent", me->id, (long long)v);
    if (atomic_fetch_add(&cv_received[v], 1) != 0)
        mismatch("conserve: value %lld received twice", (long long)v);
    int sender = (int)((v - 1) / 2 / CV_OPS);
    if (v <= me->last_seen[sender][c])
        mismatch("conserve: actor %d got %lld after %lld from actor %d on channel %d", me->id,
                 (long long)v, (long long)me->last_seen[sender][c], sender, c);
    me->last_seen[sender][c] = v;
}

/* A send's result: 0 (v is in flight), GORT_ECLOSED, or GORT_EAGAIN for
 * a try (may_fail). */
static void cv_sent_rc(int rc, int64_t v, bool may_fail, const char *what)
{
    if (rc == 0)
        atomic_store(&cv_sent[v], 1);
    else if (rc != GORT_ECLOSED && !(rc == GORT_EAGAIN && may_fail))
        mismatch("conserve: %s returned %s", what, gort_err_name(rc));
}

static void cv_recv_rc(cv_actor *me, int rc, int c, int64_t v, bool may_fail, const char *what)
{
    if (rc == 0)
        cv_got(me, c, v);
    else if (rc == GORT_ECLOSED && v != 0)
        mismatch("conserve: %s: GORT_ECLOSED with %lld not zeroed", what, (long long)v);
    else if (rc != GORT_ECLOSED && !(rc == GORT_EAGAIN && may_fail))
        mismatch("conserve: %s returned %s", what, gort_err_name(rc));
}

static void cv_run(cv_actor *me)
{
    for (int k = 0; k < me->nops; k++) {
        int kind = me->code[k][0] % 6, c = me->code[k][1] % cv_nch, c2 = me->code[k][2] % cv_nch;
        gort_chan *ch = cv_chans[c];
        int64_t v = cv_value(me->id, k, 0), r = -1;
        switch (kind) {
        case 0: cv_sent_rc(gort_chan_send(ch, &v), v, false, "send"); break;
        case 1: cv_sent_rc(gort_chan_try_send(ch, &v), v, true, "try_send"); break;
        case 2: cv_recv_rc(me, gort_chan_recv(ch, &r), c, r, false, "recv"); break;
        case 3: cv_recv_rc(me, gort_chan_try_recv(ch, &r), c, r, true, "try_recv"); break;
        default: { /* select: send on c and receive on c2, with default for kind 5 */
            int64_t sv = cv_value(me->id, k, 1), rv = -1;
            gort_case cs[2] = {{.chan = ch, .dir = GORT_SEND, .elem = &sv},
                               {.chan = cv_chans[c2], .dir = GORT_RECV, .elem = &rv}};
            int idx = gort_select(cs, 2, kind == 5 ? GORT_NOWAIT : GORT_FOREVER);
            if (idx == 0)
                cv_sent_rc(cs[0].result, sv, false, "select send");
            else if (idx == 1)
                cv_recv_rc(me, cs[1].result, c2, rv, false, "select recv");
            else if (idx != GORT_EAGAIN || kind != 5)
                mismatch("conserve: select returned %s", gort_err_name(idx));
        }
        }
    }
    gort_wg_done(&cv_wg);
}

static void cv_goroutine(void *arg)
{
    cv_run(arg);
}

static void *cv_thread(void *arg)
{
    cv_run(arg);
    return NULL;
}

static void run_conserve(const uint8_t *data, size_t size)
{
    input in = {data, data + size};
    unsigned hdr = byte(&in);
    cv_nch = 1 + (int)(hdr % NCH);
    int ngo = 2 + (int)((hdr >> 2) % 3), nth = 1 + (int)((hdr >> 4) & 1);
    int yields = (int)byte(&in) % 64;
    memset(cv_sent, 0, sizeof cv_sent);
    memset(cv_received, 0, sizeof cv_received);
    for (int c = 0; c < cv_nch; c++)
        if (!(cv_chans[c] = gort_chan_make(sizeof(int64_t), byte(&in) % 4)))
            mismatch("conserve: gort_chan_make returned NULL");
    pthread_t th[2];
    for (int a = 0; a < ngo + nth; a++) {
        cv_actor *me = &cv_actors[a];
        memset(me, 0, sizeof *me);
        me->id = a;
        me->nops = (int)(byte(&in) % (CV_OPS + 1));
        for (int k = 0; k < me->nops; k++)
            for (int j = 0; j < 3; j++)
                me->code[k][j] = (uint8_t)byte(&in);
    }
    gort_wg_add(&cv_wg, ngo + nth);
    for (int a = 0; a < ngo; a++)
        if (gort_go(cv_goroutine, &cv_actors[a]) != 0)
            mismatch("conserve: gort_go failed");
    for (int t = 0; t < nth; t++)
        if (pthread_create(&th[t], NULL, cv_thread, &cv_actors[ngo + t]) != 0)
            mismatch("conserve: pthread_create failed");
    for (int i = 0; i < yields; i++)
        sched_yield();
    for (int c = 0; c < cv_nch; c++)
        gort_chan_close(cv_chans[c]); /* may race with nothing: only the harness closes */
    if (gort_wg_wait_until(&cv_wg, gort_now() + WAIT_NS) != 0)
        mismatch("conserve: actors still blocked after every channel was closed");
    for (int t = 0; t < nth; t++)
        pthread_join(th[t], NULL);
    for (int c = 0; c < cv_nch; c++) {
        int64_t v;
        while (gort_chan_try_recv(cv_chans[c], &v) == 0) {
            if (v <= 0 || v >= CV_VALS || atomic_fetch_add(&cv_received[v], 1) != 0)
                mismatch("conserve: drained value %lld duplicated or never sent", (long long)v);
        }
        gort_chan_release(cv_chans[c]);
    }
    for (int v = 1; v < CV_VALS; v++) {
        if (atomic_load(&cv_sent[v]) && atomic_load(&cv_received[v]) != 1)
            mismatch("conserve: value %d sent (rc 0) but received %d times", v,
                     atomic_load(&cv_received[v]));
        if (!atomic_load(&cv_sent[v]) && atomic_load(&cv_received[v]) != 0)
            mismatch("conserve: value %d received but its send failed", v);
    }
}

/* ============================ entry points ================================== */

static bool conserve;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *mode = getenv("GORT_FUZZ_MODE");
    conserve = mode && strcmp(mode, "conserve") == 0;
    gort_config cfg;
    gort_config_init(&cfg);
    cfg.procs = conserve ? 2 : 1;
    if (gort_init(&cfg) != 0)
        mismatch("gort_init failed");
    if (conserve)
        return 0;
    for (int a = 0; a < NACT - 1; a++)
        if (gort_go(actor_goroutine, &actors[a]) != 0)
            mismatch("gort_go failed");
    pthread_t t;
    if (pthread_create(&t, NULL, actor_thread, &actors[NACT - 1]) != 0)
        mismatch("pthread_create failed");
    pthread_detach(t);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (conserve)
        run_conserve(data, size);
    else
        run_seq(data, size);
    return 0;
}
