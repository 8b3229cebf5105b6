/*
 * test_chan_more.c — channel, select and timer-channel properties beyond
 * Go's own tests: message conservation under a storm of concurrent sends,
 * receives, selects and closes; goroutines and plain pthreads on the same
 * channels in both directions; deadline variants; timer channels and
 * tickers; bad input; and the reference-counting rule (release of the last
 * reference while operations are blocked), which is meant to be run under
 * ASan/Valgrind too.
 *
 * A few checks are white-box (they peek at struct gort_chan through
 * src/chan.h): waiting until a goroutine is really queued on a channel, and
 * verifying that a select left no stale entries behind.
 */
#include "harness.h"
#include "test_util.h"

#include "chan.h"

#include <gort.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------- */

static gort_chan *make_chan(size_t elem, size_t cap)
{
    gort_chan *c = gort_chan_make(elem, cap);
    CHECK(c != NULL);
    return c;
}

static pthread_t start_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

/* White-box: wait until the channel's reference count reaches n (a blocked
 * operation holds one reference while it is queued). */
static void wait_refs(gort_chan *c, size_t n)
{
    int64_t give_up = gort_now() + 10 * GORT_SECOND;
    while (atomic_load(&c->refs) != n) {
        CHECK_MSG(gort_now() < give_up, "refs stuck at %zu, want %zu", atomic_load(&c->refs), n);
        gort_sleep(50 * GORT_MICROSECOND);
    }
}

static bool queues_empty(gort_chan *c)
{
    return atomic_load(&c->recvq.first) == NULL && atomic_load(&c->sendq.first) == NULL;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* — test-local randomness, no shared state */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

/* ---- conservation storm ---------------------------------------------------- */
/* Senders (goroutines and one pthread) send unique values using every kind
 * of send (blocking, select over several channels, try, deadline); receivers
 * (goroutines and one pthread) receive with selects and plain receives; a
 * closer closes channels while all this runs. A value is "sent" exactly when
 * its send reported success, and must then be received exactly once; a send
 * that reported GORT_ECLOSED/ETIMEDOUT must never be received. Elements are
 * 40-byte records with a checksum, so a torn copy is noticed too. */

enum { STORM_NCH = 6, STORM_NSEND = 6, STORM_NRECV = 4 };

typedef struct storm_msg {
    int64_t v;
    int64_t check; /* ~v */
    char    pad[24];
} storm_msg;

typedef struct storm {
    gort_chan        *ch[STORM_NCH];
    long long         per_sender;
    long long         nvalues;
    _Atomic uint8_t  *sent;      /* [nvalues] 1 once its send succeeded */
    _Atomic uint8_t  *recvd;     /* [nvalues] 1 once received */
    atomic_llong      nsent, nrecv, sum_sent, sum_recv, attempts, dups;
    gort_wg           senders;   /* sender goroutines + thread */
    gort_wg           receivers; /* receiver goroutines + thread */
    gort_wg           closer;
} storm;

typedef struct storm_worker {
    storm   *s;
    int      id;
    uint64_t rng;
} storm_worker;

static int storm_send_one(storm_worker *w, storm_msg *m)
{
    storm *s = w->s;
    uint64_t r = rng_next(&w->rng);
    gort_chan *c = s->ch[r % STORM_NCH];
    switch ((r >> 8) % 4) {
    case 0:
        return gort_chan_send(c, m);
    case 1: {
        gort_case cs[3];
        for (int k = 0; k < 3; k++) /* duplicates allowed */
            cs[k] = (gort_case){.chan = s->ch[rng_next(&w->rng) % STORM_NCH], .dir = GORT_SEND,
                                .elem = m};
        int i = gort_select(cs, 3, GORT_FOREVER);
        CHECK(i >= 0 && i < 3);
        return cs[i].result;
    }
    case 2: {
        int e;
        for (int k = 0; k < 4; k++)
            if ((e = gort_chan_try_send(c, m)) != GORT_EAGAIN)
                return e;
        return gort_chan_send(c, m);
    }
    default:
        return gort_chan_send_until(c, m, gort_now() + 200 * GORT_MICROSECOND);
    }
}

static void storm_sender(storm_worker *w)
{
    storm *s = w->s;
    for (long long i = 0; i < s->per_sender; i++) {
        int64_t v = w->id * s->per_sender + i;
        storm_msg m = {.v = v, .check = ~v};
        int r = GORT_ETIMEDOUT;
        /* Retry timeouts and closed channels a few times: all channels may
         * end up closed, then the value is dropped (never sent). */
        for (int tries = 0; tries < 2 * STORM_NCH && r != 0; tries++) {
            r = storm_send_one(w, &m);
            CHECK_MSG(r == 0 || r == GORT_ECLOSED || r == GORT_ETIMEDOUT, "send: %s",
                      gort_err_name(r));
        }
        atomic_fetch_add(&s->attempts, 1);
        if (r == 0) {
            atomic_store(&s->sent[v], 1);
            atomic_fetch_add(&s->nsent, 1);
            atomic_fetch_add(&s->sum_sent, v);
        }
    }
}

static void storm_got(storm *s, const storm_msg *m)
{
    CHECK_MSG(m->v >= 0 && m->v < s->nvalues && m->check == ~m->v, "corrupt message %lld/%lld",
              (long long)m->v, (long long)m->check);
    if (atomic_exchange(&s->recvd[m->v], 1) != 0)
        atomic_fetch_add(&s->dups, 1);
    atomic_fetch_add(&s->nrecv, 1);
    atomic_fetch_add(&s->sum_recv, m->v);
}

static void storm_receiver(storm_worker *w)
{
    storm *s = w->s;
    gort_chan *open[STORM_NCH];
    memcpy(open, s->ch, sizeof open);
    int nopen = STORM_NCH;
    while (nopen > 0) {
        storm_msg m;
        uint64_t r = rng_next(&w->rng);
        if (r % 3 == 0) {
            /* A plain receive on one still-open channel. With a deadline:
             * if every receiver sat in a plain receive on a channel that
             * has no senders while every sender blocked elsewhere, the
             * storm would deadlock (a test artefact, not a channel bug). */
            int k = (int)((r >> 8) % STORM_NCH);
            if (open[k] == NULL)
                continue;
            int e = gort_chan_recv_until(open[k], &m, gort_now() + GORT_MILLISECOND);
            if (e == GORT_ETIMEDOUT)
                continue;
            if (e == GORT_ECLOSED) {
                open[k] = NULL;
                nopen--;
            } else {
                CHECK_EQ(e, 0);
                storm_got(s, &m);
            }
            continue;
        }
        gort_case cs[STORM_NCH];
        for (int k = 0; k < STORM_NCH; k++)
            cs[k] = (gort_case){.chan = open[k], .dir = GORT_RECV, .elem = &m};
        int i = gort_select(cs, STORM_NCH, r % 3 == 1 ? GORT_FOREVER : GORT_NOWAIT);
        if (i == GORT_EAGAIN) {
            gort_yield();
            continue;
        }
        CHECK(i >= 0 && i < STORM_NCH);
        if (cs[i].result == GORT_ECLOSED) {
            CHECK(m.v == 0 && m.check == 0); /* zeroed */
            open[i] = NULL;
            nopen--;
        } else {
            storm_got(s, &m);
        }
    }
}

static void g_storm_sender(void *p)
{
    storm_worker *w = p;
    storm_sender(w);
    gort_wg_done(&w->s->senders);
}

static void *t_storm_sender(void *p)
{
    storm_worker *w = p;
    storm_sender(w);
    gort_wg_done(&w->s->senders);
    return NULL;
}

static void g_storm_receiver(void *p)
{
    storm_worker *w = p;
    storm_receiver(w);
    gort_wg_done(&w->s->receivers);
}

static void *t_storm_receiver(void *p)
{
    storm_worker *w = p;
    storm_receiver(w);
    gort_wg_done(&w->s->receivers);
    return NULL;
}

static void g_storm_closer(void *p)
{
    storm *s = p;
    /* Close two channels in mid-storm (while senders may be blocked on
     * them), the rest once every sender is done. */
    long long half = s->nvalues / 2;
    while (atomic_load(&s->attempts) < half)
        gort_sleep(100 * GORT_MICROSECOND);
    CHECK_EQ(gort_chan_close(s->ch[0]), 0);
    CHECK_EQ(gort_chan_close(s->ch[3]), 0);
    gort_wg_wait(&s->senders);
    for (int k = 0; k < STORM_NCH; k++) {
        int r = gort_chan_close(s->ch[k]);
        CHECK(r == 0 || (r == GORT_ECLOSED && (k == 0 || k == 3)));
    }
    gort_wg_done(&s->closer);
}

static void storm_main(void *arg)
{
    (void)arg;
    static const size_t caps[STORM_NCH] = {0, 0, 1, 4, 16, 64};
    storm *s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    for (int k = 0; k < STORM_NCH; k++)
        s->ch[k] = make_chan(sizeof(storm_msg), caps[k]);
    s->per_sender = cnt(5000, 100000);
    const int nsend = STORM_NSEND + 1, nrecv = STORM_NRECV + 1; /* + one pthread each */
    s->nvalues = s->per_sender * nsend;
    s->sent = calloc((size_t)s->nvalues, 1);
    s->recvd = calloc((size_t)s->nvalues, 1);
    CHECK(s->sent != NULL && s->recvd != NULL);

    storm_worker w[STORM_NSEND + STORM_NRECV + 2];
    for (int i = 0; i < nsend + nrecv; i++)
        w[i] = (storm_worker){.s = s, .id = i, .rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1)};
    gort_wg_add(&s->senders, nsend);
    gort_wg_add(&s->receivers, nrecv);
    gort_wg_add(&s->closer, 1);
    for (int i = 0; i < STORM_NSEND; i++)
        GO(g_storm_sender, &w[i]);
    pthread_t ts = start_thread(t_storm_sender, &w[STORM_NSEND]);
    for (int i = 0; i < STORM_NRECV; i++)
        GO(g_storm_receiver, &w[nsend + i]);
    pthread_t tr = start_thread(t_storm_receiver, &w[nsend + STORM_NRECV]);
    GO(g_storm_closer, s);

    gort_wg_wait(&s->senders);
    gort_wg_wait(&s->closer);
    gort_wg_wait(&s->receivers);
    CHECK_EQ(pthread_join(ts, NULL), 0);
    CHECK_EQ(pthread_join(tr, NULL), 0);

    CHECK_EQ(atomic_load(&s->dups), 0);
    CHECK_EQ(atomic_load(&s->nsent), atomic_load(&s->nrecv));
    CHECK_EQ(atomic_load(&s->sum_sent), atomic_load(&s->sum_recv));
    for (long long v = 0; v < s->nvalues; v++)
        CHECK_MSG(atomic_load(&s->sent[v]) == atomic_load(&s->recvd[v]),
                  "value %lld: sent %d received %d", v, atomic_load(&s->sent[v]),
                  atomic_load(&s->recvd[v]));
    /* Most values must have made it (the early closes drop a few). */
    CHECK(atomic_load(&s->nsent) > s->nvalues / 4);
    for (int k = 0; k < STORM_NCH; k++) {
        CHECK(queues_empty(s->ch[k]));
        CHECK_EQ(gort_chan_len(s->ch[k]), 0);
        gort_chan_release(s->ch[k]);
    }
    free((void *)s->sent);
    free((void *)s->recvd);
    free(s);
}

TEST(conservation_storm)
{
    run_main(storm_main, NULL);
}

/* ---- goroutines <-> plain pthreads ---------------------------------------- */

typedef struct xarg {
    gort_chan *a, *b;
    long long  n;
    gort_wg    wg;
} xarg;

static void *t_send_seq(void *p)
{
    xarg *x = p;
    for (long long i = 0; i < x->n; i++)
        CHECK_EQ(gort_chan_send(x->a, &i), 0);
    CHECK_EQ(gort_chan_close(x->a), 0);
    return NULL;
}

static void g_recv_seq(void *p)
{
    xarg *x = p;
    long long v, i = 0;
    int r;
    while ((r = gort_chan_recv(x->a, &v)) == 0) {
        CHECK_EQ(v, i);
        i++;
    }
    CHECK_EQ(r, GORT_ECLOSED);
    CHECK_EQ(i, x->n);
    gort_wg_done(&x->wg);
}

static void g_send_seq(void *p)
{
    xarg *x = p;
    for (long long i = 0; i < x->n; i++)
        CHECK_EQ(gort_chan_send(x->a, &i), 0);
    CHECK_EQ(gort_chan_close(x->a), 0);
    gort_wg_done(&x->wg);
}

static void *t_recv_seq(void *p)
{
    xarg *x = p;
    long long v, i = 0;
    int r;
    while ((r = gort_chan_recv(x->a, &v)) == 0) {
        CHECK_EQ(v, i);
        i++;
    }
    CHECK_EQ(r, GORT_ECLOSED);
    CHECK_EQ(i, x->n);
    return NULL;
}

/* Ping-pong: a -> b -> a ..., each side blocking in turn. */
static void g_pong(void *p)
{
    xarg *x = p;
    long long v;
    while (gort_chan_recv(x->a, &v) == 0)
        CHECK_EQ(gort_chan_send(x->b, &(long long){v + 1}), 0);
    gort_wg_done(&x->wg);
}

static void *t_ping(void *p)
{
    xarg *x = p;
    long long v = 0;
    for (long long i = 0; i < x->n; i++) {
        CHECK_EQ(gort_chan_send(x->a, &v), 0);
        CHECK_EQ(gort_chan_recv(x->b, &v), 0);
    }
    CHECK_EQ(v, x->n);
    CHECK_EQ(gort_chan_close(x->a), 0);
    return NULL;
}

/* A thread selecting over two channels fed by two goroutines. */
static void g_feed(void *p)
{
    xarg *x = p;
    for (long long i = 0; i < x->n; i++)
        CHECK_EQ(gort_chan_send(x->a, &i), 0);
    gort_wg_done(&x->wg);
}

static void *t_select2(void *p)
{
    xarg *x = p; /* x->a, x->b: the two inputs */
    long long v, got[2] = {0, 0};
    gort_case cs[2] = {{.chan = x->a, .dir = GORT_RECV, .elem = &v},
                       {.chan = x->b, .dir = GORT_RECV, .elem = &v}};
    for (long long i = 0; i < 2 * x->n; i++) {
        int r = gort_select(cs, 2, GORT_FOREVER);
        CHECK(r == 0 || r == 1);
        CHECK_EQ(v, got[r]); /* FIFO per channel */
        if (++got[r] == x->n)
            cs[r].chan = NULL;
    }
    return NULL;
}

TEST(pthread_goroutine_both_directions)
{
    CHECK_EQ(gort_init(NULL), 0);
    long long n = cnt(20000, 200000);
    for (size_t cap = 0; cap <= 8; cap += 8) {
        /* thread -> goroutine */
        xarg x1 = {.a = make_chan(sizeof(long long), cap), .n = n};
        gort_wg_add(&x1.wg, 1);
        GO(g_recv_seq, &x1);
        pthread_t t1 = start_thread(t_send_seq, &x1);
        /* goroutine -> thread */
        xarg x2 = {.a = make_chan(sizeof(long long), cap), .n = n};
        gort_wg_add(&x2.wg, 1);
        GO(g_send_seq, &x2);
        pthread_t t2 = start_thread(t_recv_seq, &x2);
        /* ping-pong, blocking on both sides */
        xarg x3 = {.a = make_chan(sizeof(long long), cap), .b = make_chan(sizeof(long long), cap),
                   .n = n / 4};
        gort_wg_add(&x3.wg, 1);
        GO(g_pong, &x3);
        pthread_t t3 = start_thread(t_ping, &x3);
        /* a thread's select over goroutine-fed channels */
        xarg fa = {.a = make_chan(sizeof(long long), cap), .n = n / 4};
        xarg fb = {.a = make_chan(sizeof(long long), cap), .n = n / 4};
        xarg sel = {.a = fa.a, .b = fb.a, .n = n / 4};
        gort_wg_add(&fa.wg, 1);
        gort_wg_add(&fb.wg, 1);
        GO(g_feed, &fa);
        GO(g_feed, &fb);
        pthread_t t4 = start_thread(t_select2, &sel);

        CHECK_EQ(pthread_join(t1, NULL), 0);
        CHECK_EQ(pthread_join(t2, NULL), 0);
        CHECK_EQ(pthread_join(t3, NULL), 0);
        CHECK_EQ(pthread_join(t4, NULL), 0);
        gort_wg_wait(&x1.wg); /* a foreign thread waiting on a wait group */
        gort_wg_wait(&x2.wg);
        gort_wg_wait(&x3.wg);
        gort_wg_wait(&fa.wg);
        gort_wg_wait(&fb.wg);
        gort_chan *all[] = {x1.a, x2.a, x3.a, x3.b, fa.a, fb.a};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
            CHECK(queues_empty(all[i]));
            gort_chan_release(all[i]);
        }
    }
    gort_shutdown();
}

/* Foreign threads only, engine running (no goroutine involved), and then
 * with no engine at all: channels are plain thread-safe queues then. */
static void threads_only(void)
{
    long long n = cnt(20000, 200000);
    xarg x = {.a = make_chan(sizeof(long long), 0), .n = n};
    pthread_t rs = start_thread(t_recv_seq, &x);
    pthread_t ss = start_thread(t_send_seq, &x);
    CHECK_EQ(pthread_join(ss, NULL), 0);
    CHECK_EQ(pthread_join(rs, NULL), 0);
    gort_chan_release(x.a);
    xarg p = {.a = make_chan(sizeof(long long), 0), .b = make_chan(sizeof(long long), 0),
              .n = n / 4};
    pthread_t pi = start_thread(t_ping, &p);
    /* pong on this thread */
    long long v;
    while (gort_chan_recv(p.a, &v) == 0)
        CHECK_EQ(gort_chan_send(p.b, &(long long){v + 1}), 0);
    CHECK_EQ(pthread_join(pi, NULL), 0);
    gort_chan_release(p.a);
    gort_chan_release(p.b);
}

TEST(pthreads_only_with_engine)
{
    CHECK_EQ(gort_init(NULL), 0);
    threads_only();
    gort_shutdown();
}

TEST(pthreads_only_without_engine)
{
    CHECK(!gort_initialized());
    threads_only();
    /* A deadline works without the engine too. */
    gort_chan *c = make_chan(sizeof(int), 0);
    int v;
    int64_t t0 = gort_now();
    CHECK_EQ(gort_chan_recv_until(c, &v, t0 + 5 * GORT_MILLISECOND), GORT_ETIMEDOUT);
    CHECK(gort_now() - t0 >= 5 * GORT_MILLISECOND);
    CHECK(queues_empty(c));
    gort_chan_release(c);
}

/* ---- deadlines ------------------------------------------------------------- */

#define SLACK (2 * GORT_SECOND) /* generous upper bound for loaded machines */

static void deadline_checks(void)
{
    gort_chan *c = make_chan(sizeof(int), 0);
    gort_chan *full = make_chan(sizeof(int), 1);
    int v = 5;
    CHECK_EQ(gort_chan_send(full, &v), 0);

    /* A wait that times out, for receive, send and select. */
    int64_t t0 = gort_now(), d = t0 + 20 * GORT_MILLISECOND;
    CHECK_EQ(gort_chan_recv_until(c, &v, d), GORT_ETIMEDOUT);
    int64_t t1 = gort_now();
    CHECK_MSG(t1 >= d && t1 - d < SLACK, "woke %lld ns after the deadline", (long long)(t1 - d));
    CHECK(queues_empty(c)); /* the timed-out entry is gone */

    d = gort_now() + 10 * GORT_MILLISECOND;
    CHECK_EQ(gort_chan_send_until(full, &v, d), GORT_ETIMEDOUT);
    CHECK(gort_now() >= d);
    CHECK_EQ(gort_chan_len(full), 1);
    CHECK(queues_empty(full));

    gort_case cs[2] = {{.chan = c, .dir = GORT_RECV, .elem = &v},
                       {.chan = full, .dir = GORT_SEND, .elem = &v}};
    d = gort_now() + 10 * GORT_MILLISECOND;
    CHECK_EQ(gort_select(cs, 2, d), GORT_ETIMEDOUT);
    CHECK(gort_now() >= d);
    CHECK(queues_empty(c) && queues_empty(full));

    /* A deadline in the past: ready operations still complete, others
     * report GORT_ETIMEDOUT at once; GORT_NOWAIT means "try". */
    int64_t past = gort_now() - GORT_SECOND;
    CHECK_EQ(gort_chan_recv_until(full, &v, past), 0);
    CHECK_EQ(v, 5);
    CHECK_EQ(gort_chan_send_until(full, &v, past), 0);
    CHECK_EQ(gort_chan_send_until(full, &v, past), GORT_ETIMEDOUT);
    CHECK_EQ(gort_chan_recv_until(c, &v, past), GORT_ETIMEDOUT);
    CHECK_EQ(gort_chan_recv_until(c, &v, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_chan_send_until(full, &v, GORT_NOWAIT), GORT_EAGAIN);
    gort_case ready[2] = {{.chan = c, .dir = GORT_RECV, .elem = &v},
                          {.chan = full, .dir = GORT_RECV, .elem = &v}};
    CHECK_EQ(gort_select(ready, 2, past), 1);
    CHECK_EQ(gort_select(ready, 2, past), GORT_ETIMEDOUT);
    CHECK_EQ(gort_select(ready, 2, GORT_NOWAIT), GORT_EAGAIN);

    /* NULL channels and empty selects with a deadline sleep until it. */
    d = gort_now() + 10 * GORT_MILLISECOND;
    CHECK_EQ(gort_chan_recv_until(NULL, &v, d), GORT_ETIMEDOUT);
    CHECK(gort_now() >= d);
    d = gort_now() + 10 * GORT_MILLISECOND;
    CHECK_EQ(gort_chan_send_until(NULL, &v, d), GORT_ETIMEDOUT);
    CHECK(gort_now() >= d);
    d = gort_now() + 10 * GORT_MILLISECOND;
    CHECK_EQ(gort_select(NULL, 0, d), GORT_ETIMEDOUT);
    CHECK(gort_now() >= d);
    gort_case nil2[2] = {{.chan = NULL, .dir = GORT_RECV, .elem = &v},
                         {.chan = NULL, .dir = GORT_SEND, .elem = &v}};
    d = gort_now() + 10 * GORT_MILLISECOND;
    CHECK_EQ(gort_select(nil2, 2, d), GORT_ETIMEDOUT);
    CHECK(gort_now() >= d);

    gort_chan_release(c);
    gort_chan_release(full);
}

static void deadlines_main(void *arg)
{
    (void)arg;
    deadline_checks();
}

static void *t_deadlines(void *arg)
{
    (void)arg;
    deadline_checks();
    return NULL;
}

TEST(deadlines_goroutine)
{
    run_main(deadlines_main, NULL);
}

TEST(deadlines_foreign_thread)
{
    CHECK_EQ(gort_init(NULL), 0);
    pthread_t t = start_thread(t_deadlines, NULL);
    CHECK_EQ(pthread_join(t, NULL), 0);
    deadline_checks(); /* and on the main (foreign) thread itself */
    gort_shutdown();
}

/* Deadlines racing with peers: on an unbuffered channel, a send_until
 * succeeds exactly when the matching recv_until does, with the same value. */
typedef struct race_arg {
    gort_chan *c;
    long long  n;
    int       *sent_ok; /* [n] */
    long long *recv_v;  /* [n]: value received in round i, or -1 */
    gort_chan *round;   /* lockstep between rounds (cap 0, elem 0) */
    gort_wg    wg;
} race_arg;

static void g_race_sender(void *p)
{
    race_arg *a = p;
    for (long long i = 0; i < a->n; i++) {
        CHECK_EQ(gort_chan_recv(a->round, NULL), 0);
        long long v = i;
        int r = gort_chan_send_until(a->c, &v, gort_now() + 30 * GORT_MICROSECOND);
        CHECK(r == 0 || r == GORT_ETIMEDOUT);
        a->sent_ok[i] = r == 0;
        CHECK_EQ(gort_chan_recv(a->round, NULL), 0);
    }
    gort_wg_done(&a->wg);
}

static void race_receiver(race_arg *a)
{
    for (long long i = 0; i < a->n; i++) {
        CHECK_EQ(gort_chan_send(a->round, NULL), 0);
        long long v = -1;
        int r = gort_chan_recv_until(a->c, &v, gort_now() + 30 * GORT_MICROSECOND);
        CHECK(r == 0 || r == GORT_ETIMEDOUT);
        a->recv_v[i] = r == 0 ? v : -1;
        CHECK_EQ(gort_chan_send(a->round, NULL), 0); /* both sides are done */
    }
}

static void deadline_race_main(void *arg)
{
    (void)arg;
    race_arg a = {.c = make_chan(sizeof(long long), 0), .round = make_chan(0, 0),
                  .n = cnt(3000, 30000)};
    a.sent_ok = calloc((size_t)a.n, sizeof *a.sent_ok);
    a.recv_v = calloc((size_t)a.n, sizeof *a.recv_v);
    CHECK(a.sent_ok && a.recv_v);
    gort_wg_add(&a.wg, 1);
    GO(g_race_sender, &a);
    race_receiver(&a);
    gort_wg_wait(&a.wg);
    for (long long i = 0; i < a.n; i++) {
        CHECK_MSG(a.sent_ok[i] == (a.recv_v[i] >= 0), "round %lld: sent %d, received %lld", i,
                  a.sent_ok[i], a.recv_v[i]);
        if (a.sent_ok[i])
            CHECK_EQ(a.recv_v[i], i);
    }
    CHECK(queues_empty(a.c));
    free(a.sent_ok);
    free(a.recv_v);
    gort_chan_release(a.c);
    gort_chan_release(a.round);
}

TEST(deadline_races_peer)
{
    run_main(deadline_race_main, NULL);
}

/* ---- timer channels -------------------------------------------------------- */

TEST(timer_chans_need_engine)
{
    CHECK(!gort_initialized());
    CHECK(gort_after(GORT_MILLISECOND) == NULL);
    CHECK(gort_ticker_new(GORT_MILLISECOND) == NULL);
    CHECK(gort_ticker_chan(NULL) == NULL);
    gort_ticker_stop(NULL);
}

typedef struct after_arg {
    gort_chan *c;
    int64_t    got;
    int        r;
    atomic_int done;
    gort_wg    wg;
} after_arg;

static void g_recv_after(void *p)
{
    after_arg *a = p;
    a->r = gort_chan_recv(a->c, &a->got);
    atomic_store(&a->done, 1);
    gort_wg_done(&a->wg);
}

static void after_main(void *arg)
{
    (void)arg;
    /* Fires once, with the time it fired. */
    int64_t t0 = gort_now();
    gort_chan *c = gort_after(20 * GORT_MILLISECOND);
    CHECK(c != NULL);
    CHECK_EQ(gort_chan_elem_size(c), sizeof(int64_t));
    CHECK_EQ(gort_chan_cap(c), 1);
    int64_t when = 0;
    CHECK_EQ(gort_chan_recv(c, &when), 0);
    int64_t t1 = gort_now();
    CHECK_MSG(when >= t0 + 20 * GORT_MILLISECOND && when <= t1, "fired at %+lld ns",
              (long long)(when - t0));
    CHECK_EQ(gort_chan_recv_until(c, &when, gort_now() + 30 * GORT_MILLISECOND), GORT_ETIMEDOUT);
    gort_chan_release(c);

    /* Zero and negative durations: ready at once. */
    for (int64_t ns = 0; ns >= -1; ns--) {
        c = gort_after(ns);
        CHECK(c != NULL);
        CHECK_EQ(gort_chan_try_recv(c, &when), 0);
        gort_chan_release(c);
    }

    /* Dropped unread before it fires: the timer is cancelled and nothing
     * touches the freed channel (ASan/Valgrind would tell). */
    for (int i = 0; i < 100; i++)
        gort_chan_release(gort_after((i % 10 + 1) * GORT_MILLISECOND));
    gort_sleep(30 * GORT_MILLISECOND);

    /* Select with a timeout (Go's `case <-time.After(d)`). */
    gort_chan *never = make_chan(sizeof(int), 0);
    gort_chan *to = gort_after(15 * GORT_MILLISECOND);
    int v;
    gort_case cs[2] = {{.chan = never, .dir = GORT_RECV, .elem = &v},
                       {.chan = to, .dir = GORT_RECV, .elem = &when}};
    t0 = gort_now();
    CHECK_EQ(gort_select(cs, 2, GORT_FOREVER), 1);
    CHECK(gort_now() - t0 >= 15 * GORT_MILLISECOND - GORT_MILLISECOND);
    CHECK(queues_empty(never));
    gort_chan_release(to);
    gort_chan_release(never);

    /* Many concurrent timers, each received by its own goroutine; the
     * receivers park before the timers fire, and we drop our references
     * first: each parked receiver keeps its channel (and timer) alive. */
    enum { NT = 200 };
    after_arg *as = calloc(NT, sizeof *as);
    CHECK(as != NULL);
    for (int i = 0; i < NT; i++) {
        as[i].c = gort_after((50 + i % 20) * GORT_MILLISECOND);
        CHECK(as[i].c != NULL);
        gort_wg_add(&as[i].wg, 1);
        GO(g_recv_after, &as[i]);
    }
    for (int i = 0; i < NT; i++) {
        gort_chan *ci = as[i].c;
        if (i % 2 == 0) {
            /* Wait until the receiver is queued (or, on a very slow
             * machine, already done), then drop our reference. */
            int64_t give_up = gort_now() + 10 * GORT_SECOND;
            while (atomic_load(&ci->refs) != 2 && !atomic_load(&as[i].done)) {
                CHECK(gort_now() < give_up);
                gort_sleep(50 * GORT_MICROSECOND);
            }
            gort_chan_release(ci);
        }
    }
    for (int i = 0; i < NT; i++) {
        gort_wg_wait(&as[i].wg);
        CHECK_EQ(as[i].r, 0);
        CHECK(as[i].got > 0);
        if (i % 2 != 0)
            gort_chan_release(as[i].c);
    }
    free(as);
}

TEST(timer_after)
{
    run_main(after_main, NULL);
}

TEST(timer_after_outlives_engine)
{
    /* An armed gort_after channel released after gort_shutdown: the
     * engine has disposed of the timer; the release frees without calling
     * into it. */
    CHECK_EQ(gort_init(NULL), 0);
    gort_chan *c = gort_after(3600 * GORT_SECOND);
    CHECK(c != NULL);
    gort_timer *t = gort_ticker_new(3600 * GORT_SECOND);
    CHECK(t != NULL);
    gort_shutdown();
    int64_t v;
    CHECK_EQ(gort_chan_try_recv(c, &v), GORT_EAGAIN);
    gort_chan_release(c);
    gort_ticker_stop(t);
}

typedef struct tick_arg {
    gort_timer *t;
    gort_chan  *c; /* the ticker's channel, fetched before the goroutine runs */
    int         r;
    gort_wg     wg;
} tick_arg;

static void g_tick_wait(void *p)
{
    tick_arg *a = p;
    int64_t v;
    a->r = gort_chan_recv_until(a->c, &v, gort_now() + 300 * GORT_MILLISECOND);
    gort_wg_done(&a->wg);
}

static void ticker_main(void *arg)
{
    (void)arg;
    CHECK(gort_ticker_new(0) == NULL);
    CHECK(gort_ticker_new(-5) == NULL);

    /* Regular ticks, increasing, about a period apart. */
    const int64_t period = 10 * GORT_MILLISECOND;
    int64_t t0 = gort_now();
    gort_timer *t = gort_ticker_new(period);
    CHECK(t != NULL);
    gort_chan *c = gort_ticker_chan(t);
    CHECK(c != NULL && gort_chan_cap(c) == 1);
    int64_t prev = t0;
    for (int i = 0; i < 5; i++) {
        int64_t v;
        CHECK_EQ(gort_chan_recv(c, &v), 0);
        CHECK_MSG(v > prev, "tick %d not after the previous one", i);
        prev = v;
    }
    CHECK(prev - t0 >= 5 * period - GORT_MILLISECOND);
    gort_ticker_stop(t);

    /* A slow reader: ticks are dropped, at most one is buffered. */
    t = gort_ticker_new(2 * GORT_MILLISECOND);
    CHECK(t != NULL);
    gort_sleep(40 * GORT_MILLISECOND);
    CHECK(gort_chan_len(gort_ticker_chan(t)) <= 1);
    int64_t v;
    CHECK_EQ(gort_chan_recv(gort_ticker_chan(t), &v), 0);
    CHECK_EQ(gort_chan_recv(gort_ticker_chan(t), &v), 0); /* still ticking */
    gort_ticker_stop(t);

    /* Stop while a goroutine is blocked on the ticker's channel: it stays
     * blocked (as in Go) until its deadline; its reference keeps the
     * channel alive after the ticker is gone. */
    tick_arg ta = {.t = gort_ticker_new(GORT_SECOND)};
    CHECK(ta.t != NULL);
    gort_chan *tc = ta.c = gort_ticker_chan(ta.t);
    gort_wg_add(&ta.wg, 1);
    GO(g_tick_wait, &ta);
    wait_refs(tc, 2);
    gort_ticker_stop(ta.t);
    gort_wg_wait(&ta.wg);
    CHECK_EQ(ta.r, GORT_ETIMEDOUT);
}

TEST(timer_ticker)
{
    run_main(ticker_main, NULL);
}

/* ---- bad input and edge cases ---------------------------------------------- */

static void bad_input_main(void *arg)
{
    (void)arg;
    int v = 1;
    /* make */
    CHECK(gort_chan_make(GORT_CHAN_ELEM_MAX + 1, 0) == NULL);
    CHECK(gort_chan_make(GORT_CHAN_ELEM_MAX + 1, 1) == NULL);
    CHECK(gort_chan_make(8, SIZE_MAX) == NULL);
    CHECK(gort_chan_make(GORT_CHAN_ELEM_MAX, SIZE_MAX / 1024) == NULL);
    gort_chan *z = gort_chan_make(0, SIZE_MAX); /* no buffer needed */
    CHECK(z != NULL);
    CHECK_EQ(gort_chan_try_send(z, NULL), 0);
    CHECK_EQ(gort_chan_len(z), 1);
    gort_chan_release(z);

    /* NULL channel */
    CHECK_EQ(gort_chan_try_send(NULL, &v), GORT_EAGAIN);
    CHECK_EQ(gort_chan_try_recv(NULL, &v), GORT_EAGAIN);
    CHECK_EQ(gort_chan_send_until(NULL, &v, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_chan_close(NULL), GORT_EINVAL);
    CHECK_EQ(gort_chan_len(NULL), 0);
    CHECK_EQ(gort_chan_cap(NULL), 0);
    CHECK_EQ(gort_chan_elem_size(NULL), 0);
    CHECK(gort_chan_retain(NULL) == NULL);
    gort_chan_release(NULL);

    /* NULL elem / out */
    gort_chan *c = make_chan(sizeof(int), 1);
    CHECK_EQ(gort_chan_send(c, NULL), GORT_EINVAL);
    CHECK_EQ(gort_chan_try_send(c, NULL), GORT_EINVAL);
    CHECK_EQ(gort_chan_send_until(c, NULL, gort_now() + GORT_SECOND), GORT_EINVAL);
    CHECK_EQ(gort_chan_len(c), 0);
    CHECK_EQ(gort_chan_send(c, &v), 0);
    CHECK_EQ(gort_chan_recv(c, NULL), 0); /* discards */
    CHECK_EQ(gort_chan_len(c), 0);

    /* close rules */
    CHECK_EQ(gort_chan_close(c), 0);
    CHECK_EQ(gort_chan_close(c), GORT_ECLOSED);
    CHECK_EQ(gort_chan_send(c, &v), GORT_ECLOSED);
    CHECK_EQ(gort_chan_try_send(c, &v), GORT_ECLOSED);
    CHECK_EQ(gort_chan_send(c, NULL), GORT_EINVAL); /* argument check first */
    v = 9;
    CHECK_EQ(gort_chan_recv(c, &v), GORT_ECLOSED);
    CHECK_EQ(v, 0);
    CHECK_EQ(gort_chan_recv(c, NULL), GORT_ECLOSED);

    /* select argument checks */
    gort_case cs[2] = {{.chan = c, .dir = GORT_RECV, .elem = &v},
                       {.chan = c, .dir = 0, .elem = &v}};
    CHECK_EQ(gort_select(cs, 2, GORT_NOWAIT), GORT_EINVAL);
    cs[1].dir = 77;
    CHECK_EQ(gort_select(cs, 2, GORT_NOWAIT), GORT_EINVAL);
    cs[1].chan = NULL; /* a bad dir is rejected even on a NULL channel */
    CHECK_EQ(gort_select(cs, 2, GORT_NOWAIT), GORT_EINVAL);
    gort_chan *open = make_chan(sizeof(int), 1);
    gort_case sn[1] = {{.chan = open, .dir = GORT_SEND, .elem = NULL}};
    CHECK_EQ(gort_select(sn, 1, GORT_NOWAIT), GORT_EINVAL);
    CHECK_EQ(gort_select(NULL, 1, GORT_NOWAIT), GORT_EINVAL);
    CHECK_EQ(gort_select(cs, (size_t)GORT_SELECT_MAX + 1, GORT_NOWAIT), GORT_EINVAL);
    CHECK_EQ(gort_select(NULL, 0, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_select(cs, 0, GORT_NOWAIT), GORT_EAGAIN);
    gort_chan_release(open);
    gort_chan_release(c);

    /* zero-size elements through select */
    gort_chan *e = make_chan(0, 0);
    CHECK_EQ(gort_chan_close(e), 0);
    gort_case ez[2] = {{.chan = e, .dir = GORT_RECV, .elem = NULL},
                       {.chan = e, .dir = GORT_SEND, .elem = NULL}};
    int r = gort_select(ez, 2, GORT_FOREVER);
    CHECK(r == 0 || r == 1);
    CHECK_EQ(ez[r].result, GORT_ECLOSED);
    gort_chan_release(e);
}

TEST(bad_input)
{
    run_main(bad_input_main, NULL);
}

/* A select with the maximum number of cases (heap-allocated scratch). */
static void big_select_main(void *arg)
{
    (void)arg;
    enum { NC = 64 };
    size_t n = GORT_SELECT_MAX;
    gort_case *cs = calloc(n, sizeof *cs);
    gort_chan *ch[NC];
    CHECK(cs != NULL);
    for (int i = 0; i < NC; i++)
        ch[i] = make_chan(sizeof(int), 0);
    int v = 0;
    for (size_t i = 0; i < n; i++)
        cs[i] = (gort_case){.chan = ch[i % NC], .dir = GORT_RECV, .elem = &v};
    CHECK_EQ(gort_select(cs, n, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_select(cs, n, gort_now() + GORT_MILLISECOND), GORT_ETIMEDOUT);
    for (int i = 0; i < NC; i++)
        CHECK(queues_empty(ch[i]));
    CHECK_EQ(gort_chan_close(ch[5]), 0);
    int r = gort_select(cs, n, GORT_FOREVER);
    CHECK(r >= 0 && (size_t)r % NC == 5);
    CHECK_EQ(cs[r].result, GORT_ECLOSED);
    for (int i = 0; i < NC; i++)
        gort_chan_release(ch[i]);
    free(cs);
}

TEST(select_max_cases)
{
    run_main(big_select_main, NULL);
}

/* Large elements (GORT_CHAN_ELEM_MAX) through a buffer and by direct
 * hand-off in both directions. */
typedef struct big_arg {
    gort_chan *c;
    int        n;
    gort_wg    wg;
} big_arg;

static void fill(unsigned char *p, int seed)
{
    for (size_t i = 0; i < GORT_CHAN_ELEM_MAX; i++)
        p[i] = (unsigned char)(i * 31 + (size_t)seed);
}

static void g_big_sender(void *p)
{
    big_arg *a = p;
    unsigned char *buf = malloc(GORT_CHAN_ELEM_MAX);
    CHECK(buf != NULL);
    for (int i = 0; i < a->n; i++) {
        fill(buf, i);
        CHECK_EQ(gort_chan_send(a->c, buf), 0);
    }
    free(buf);
    gort_wg_done(&a->wg);
}

static void big_elem_main(void *arg)
{
    (void)arg;
    unsigned char *want = malloc(GORT_CHAN_ELEM_MAX), *got = malloc(GORT_CHAN_ELEM_MAX);
    CHECK(want && got);
    for (size_t cap = 0; cap <= 2; cap++) {
        big_arg a = {.c = make_chan(GORT_CHAN_ELEM_MAX, cap), .n = 20};
        gort_wg_add(&a.wg, 1);
        GO(g_big_sender, &a);
        for (int i = 0; i < a.n; i++) {
            if (i % 2)
                gort_sleep(GORT_MILLISECOND); /* let the sender park: hand-off from it */
            CHECK_EQ(gort_chan_recv(a.c, got), 0);
            fill(want, i);
            CHECK_MSG(memcmp(got, want, GORT_CHAN_ELEM_MAX) == 0, "cap %zu: element %d corrupt",
                      cap, i);
        }
        gort_wg_wait(&a.wg);
        gort_chan_release(a.c);
    }
    free(want);
    free(got);
}

TEST(large_elements)
{
    run_main(big_elem_main, NULL);
}

/* Losers of a select leave nothing behind. */
typedef struct loser_arg {
    gort_chan *ch[4];
    int        fired;
    int        value;
    gort_wg    wg;
} loser_arg;

static void g_select4(void *p)
{
    loser_arg *a = p;
    int v = -1;
    gort_case cs[4];
    for (int i = 0; i < 4; i++)
        cs[i] = (gort_case){.chan = a->ch[i], .dir = GORT_RECV, .elem = &v};
    a->fired = gort_select(cs, 4, GORT_FOREVER);
    a->value = v;
    gort_wg_done(&a->wg);
}

static void losers_main(void *arg)
{
    (void)arg;
    for (int k = 0; k < 4; k++) {
        loser_arg a = {.fired = -1};
        for (int i = 0; i < 4; i++)
            a.ch[i] = make_chan(sizeof(int), i % 2); /* unbuffered and cap 1 */
        gort_wg_add(&a.wg, 1);
        GO(g_select4, &a);
        for (int i = 0; i < 4; i++)
            wait_refs(a.ch[i], 2); /* queued on all four */
        CHECK_EQ(gort_chan_send(a.ch[k], &(int){100 + k}), 0);
        gort_wg_wait(&a.wg);
        CHECK_EQ(a.fired, k);
        CHECK_EQ(a.value, 100 + k);
        for (int i = 0; i < 4; i++) {
            CHECK(queues_empty(a.ch[i]));
            CHECK_EQ(atomic_load(&a.ch[i]->refs), 1);
            /* A later send must not find a stale receiver. */
            if (i != k)
                CHECK_EQ(gort_chan_try_send(a.ch[i], &(int){1}), i % 2 ? 0 : GORT_EAGAIN);
            gort_chan_release(a.ch[i]);
        }
    }
}

TEST(select_losers_leave_no_waiters)
{
    run_main(losers_main, NULL);
}

/* ---- releasing the last reference while operations are blocked ----------- */
/* The rule (gort.h): a blocked operation holds its own reference, so the
 * channel outlives the user's last release until the operation ends. */

typedef struct rel_arg {
    gort_chan *c, *other;
    int        r;
    int        fired;
    int64_t    deadline; /* g_recv_until: absolute, set by the spawner */
    gort_wg    wg;
} rel_arg;

/* The deadline of blocked operations that must still be blocked when the
 * test releases the channel: long enough (stretched by slow()) that every
 * one of them has queued first, even on a loaded sanitizer run. */
static int64_t parked_deadline(void)
{
    return gort_now() + 300 * GORT_MILLISECOND * slow();
}

static void g_recv_until(void *p)
{
    rel_arg *a = p;
    int v;
    a->r = gort_chan_recv_until(a->c, &v, a->deadline);
    gort_wg_done(&a->wg);
}

static void g_select_two(void *p)
{
    rel_arg *a = p;
    int v = 0;
    gort_case cs[2] = {{.chan = a->c, .dir = GORT_RECV, .elem = &v},
                       {.chan = a->other, .dir = GORT_RECV, .elem = &v}};
    a->fired = gort_select(cs, 2, GORT_FOREVER);
    a->r = v;
    gort_wg_done(&a->wg);
}

static void *t_send_until(void *p)
{
    rel_arg *a = p;
    int v = 3;
    a->r = gort_chan_send_until(a->c, &v, a->deadline);
    return NULL;
}

static void release_parked_main(void *arg)
{
    (void)arg;
    /* A goroutine in recv_until: we drop the only user reference; its
     * deadline ends the wait and its release frees the channel. */
    {
        rel_arg a = {.c = make_chan(sizeof(int), 0), .deadline = parked_deadline()};
        gort_wg_add(&a.wg, 1);
        GO(g_recv_until, &a);
        wait_refs(a.c, 2);
        gort_chan_release(a.c);
        gort_wg_wait(&a.wg);
        CHECK_EQ(a.r, GORT_ETIMEDOUT);
    }
    /* A select: the released channel's case loses to another; the select's
     * clean-up pass frees it. */
    {
        rel_arg a = {.c = make_chan(sizeof(int), 1), .other = make_chan(sizeof(int), 0)};
        gort_wg_add(&a.wg, 1);
        GO(g_select_two, &a);
        wait_refs(a.c, 2);
        wait_refs(a.other, 2);
        gort_chan_release(a.c);
        CHECK_EQ(gort_chan_send(a.other, &(int){42}), 0);
        gort_wg_wait(&a.wg);
        CHECK_EQ(a.fired, 1);
        CHECK_EQ(a.r, 42);
        gort_chan_release(a.other);
    }
    /* Many goroutines blocked on one channel that we release; they all
     * time out, the last one frees it. */
    {
        enum { NG = 50 };
        gort_chan *c = make_chan(sizeof(int), 0);
        rel_arg a[NG];
        int64_t deadline = parked_deadline(); /* one for all: they time out together */
        for (int i = 0; i < NG; i++) {
            a[i] = (rel_arg){.c = c, .deadline = deadline};
            gort_wg_add(&a[i].wg, 1);
            GO(g_recv_until, &a[i]);
        }
        wait_refs(c, NG + 1);
        gort_chan_release(c);
        for (int i = 0; i < NG; i++) {
            gort_wg_wait(&a[i].wg);
            CHECK_EQ(a[i].r, GORT_ETIMEDOUT);
        }
    }
    /* A foreign thread blocked in send_until on a full channel. */
    {
        rel_arg a = {.c = make_chan(sizeof(int), 1), .deadline = parked_deadline()};
        CHECK_EQ(gort_chan_send(a.c, &(int){1}), 0);
        pthread_t t = start_thread(t_send_until, &a);
        wait_refs(a.c, 2);
        gort_chan_release(a.c);
        CHECK_EQ(pthread_join(t, NULL), 0);
        CHECK_EQ(a.r, GORT_ETIMEDOUT);
    }
}

TEST(release_while_parked)
{
    run_main(release_parked_main, NULL);
}

HARNESS_MAIN()
