/*
 * test_chan_ring.c — the lock-free ring of buffered channels (src/chan.c,
 * THE RING and FROZEN): values stay in FIFO order across many laps and odd
 * capacities; several producers and consumers (goroutines and pthreads,
 * blocking and non-blocking) neither lose, duplicate nor reorder values;
 * blocked senders' values enter the buffer in the order the senders
 * blocked, and blocked receivers are served in the order they blocked (as
 * Go's hand-off does); close is drained-then-closed while lock-free senders
 * race with it; the ring returns to lock-free mode once nobody waits; and a
 * party whose slot a stalled peer has reserved but not yet published waits
 * it out and completes with the right value. Filling a fresh ring faults
 * each of its pages in once (FIRST TOUCH), not twice.
 *
 * White-box parts look at struct gort_chan through src/chan.h: the FROZEN
 * flag in `tail`, and the reference count that tells a blocked operation is
 * queued (chan.c, I4).
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
#include <sys/resource.h>

static gort_chan *make_chan(size_t elem, size_t cap)
{
    gort_chan *c = gort_chan_make(elem, cap);
    CHECK(c != NULL);
    return c;
}

/* White-box: the ring is in lock-free mode (not frozen). */
static bool ring_thawed(gort_chan *c)
{
    return (atomic_load(&c->tail) & (c->one_lap >> 1)) == 0 &&
           (atomic_load(&c->head) & (c->one_lap >> 1)) == 0;
}

/* White-box: wait until n blocked operations hold references on c (one
 * each, besides the caller's own). */
static void wait_refs(gort_chan *c, size_t n)
{
    int64_t give_up = hatch();
    while (atomic_load(&c->refs) != n) {
        CHECK_MSG(gort_now() < give_up, "refs stuck at %zu, want %zu", atomic_load(&c->refs), n);
        gort_sleep(50 * GORT_MICROSECOND);
    }
}

/* ---- single thread: laps, odd capacities, len ---------------------------- */

static void laps(size_t cap, size_t elem)
{
    gort_chan *c = make_chan(elem, cap);
    unsigned char *buf = calloc(1, elem), *got = calloc(1, elem);
    CHECK(buf != NULL && got != NULL);
    uint64_t sent = 0, recvd = 0;
    /* Partial and full fills, so head and tail meet at every index. */
    for (int round = 0; round < 200; round++) {
        size_t fill = (size_t)round % (cap + 1);
        for (size_t i = 0; i < fill; i++) {
            memcpy(buf, &sent, sizeof sent);
            memset(buf + sizeof sent, (int)(sent & 0xff), elem - sizeof sent);
            CHECK_EQ(gort_chan_try_send(c, buf), 0);
            sent++;
            CHECK_EQ(gort_chan_len(c), (size_t)(sent - recvd));
        }
        if (fill == cap) {
            CHECK_EQ(gort_chan_try_send(c, buf), GORT_EAGAIN);
        }
        while (recvd < sent) {
            CHECK_EQ(gort_chan_try_recv(c, got), 0);
            uint64_t v;
            memcpy(&v, got, sizeof v);
            CHECK_MSG(v == recvd, "cap %zu: got %llu, want %llu", cap, (unsigned long long)v,
                      (unsigned long long)recvd);
            for (size_t k = sizeof v; k < elem; k++)
                CHECK_EQ(got[k], (unsigned char)(v & 0xff));
            recvd++;
        }
        CHECK_EQ(gort_chan_len(c), 0);
        CHECK_EQ(gort_chan_try_recv(c, got), GORT_EAGAIN);
    }
    CHECK(ring_thawed(c));
    CHECK_EQ(gort_chan_cap(c), cap);
    gort_chan_release(c);
    free(buf);
    free(got);
}

TEST(ring_laps_and_len)
{
    static const size_t caps[] = {1, 2, 3, 5, 7, 8, 9, 100};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        laps(caps[i], sizeof(uint64_t));
        laps(caps[i], 24); /* a slot wider than one word */
    }
}

TEST(ring_close_full_buffer)
{
    gort_chan *c = make_chan(sizeof(int), 2);
    CHECK_EQ(gort_chan_try_send(c, &(int){1}), 0);
    CHECK_EQ(gort_chan_try_send(c, &(int){2}), 0);
    CHECK_EQ(gort_chan_close(c), 0);
    /* Full and closed: a send reports closed, never "would block". */
    CHECK_EQ(gort_chan_try_send(c, &(int){3}), GORT_ECLOSED);
    CHECK_EQ(gort_chan_send(c, &(int){3}), GORT_ECLOSED);
    CHECK_EQ(gort_chan_len(c), 2);
    int v = 0;
    CHECK_EQ(gort_chan_try_recv(c, &v), 0);
    CHECK_EQ(v, 1);
    CHECK_EQ(gort_chan_recv(c, &v), 0);
    CHECK_EQ(v, 2);
    v = 7;
    CHECK_EQ(gort_chan_try_recv(c, &v), GORT_ECLOSED);
    CHECK_EQ(v, 0);
    CHECK_EQ(gort_chan_recv(c, &v), GORT_ECLOSED);
    gort_chan_release(c);
}

/* ---- many producers and consumers ---------------------------------------- */

enum { MP_PRODUCERS = 4, MP_CONSUMERS = 3 };

typedef struct mp_shared {
    gort_chan      *c;
    long long       per;          /* values per producer */
    _Atomic int     producers_left;
    _Atomic long long received;
    _Atomic uint64_t sum;
    gort_wg         wg;
} mp_shared;

typedef struct mp_arg {
    mp_shared *s;
    int        id;
} mp_arg;

/* Value: producer id in the high bits, sequence number in the low. */
static void mp_produce(mp_arg *a)
{
    mp_shared *s = a->s;
    for (long long i = 0; i < s->per; i++) {
        uint64_t v = ((uint64_t)a->id << 40) | (uint64_t)i;
        if ((i & 3) == 0) {
            /* non-blocking, retried (lock-free path and its EAGAIN) */
            int r;
            while ((r = gort_chan_try_send(s->c, &v)) == GORT_EAGAIN)
                gort_yield();
            GCHECKF(r == 0, "try_send: %s", gort_err_name(r));
        } else {
            int r = gort_chan_send(s->c, &v);
            GCHECKF(r == 0, "send: %s", gort_err_name(r));
        }
    }
    if (atomic_fetch_sub(&s->producers_left, 1) == 1)
        GCHECK(gort_chan_close(s->c) == 0);
}

static void mp_consume(mp_arg *a)
{
    mp_shared *s = a->s;
    long long last[MP_PRODUCERS];
    for (int p = 0; p < MP_PRODUCERS; p++)
        last[p] = -1;
    for (uint64_t n = 0;; n++) {
        uint64_t v;
        int r;
        if ((n & 7) == 0) {
            while ((r = gort_chan_try_recv(s->c, &v)) == GORT_EAGAIN)
                gort_yield();
        } else {
            r = gort_chan_recv(s->c, &v);
        }
        if (r == GORT_ECLOSED)
            break;
        GCHECKF(r == 0, "recv: %s", gort_err_name(r));
        int p = (int)(v >> 40);
        long long i = (long long)(v & ((1ULL << 40) - 1));
        GCHECKF(p >= 0 && p < MP_PRODUCERS, "bad producer %d", p);
        /* FIFO: each consumer sees every producer's values in order. */
        GCHECKF(i > last[p], "producer %d: %lld after %lld", p, i, last[p]);
        last[p] = i;
        size_t len = gort_chan_len(s->c);
        GCHECKF(len <= gort_chan_cap(s->c), "len %zu > cap", len);
        atomic_fetch_add(&s->received, 1);
        atomic_fetch_add(&s->sum, v);
    }
}

static void g_producer(void *arg)
{
    mp_arg *a = arg;
    mp_produce(a);
    gort_wg_done(&a->s->wg);
}

static void g_consumer(void *arg)
{
    mp_arg *a = arg;
    mp_consume(a);
    gort_wg_done(&a->s->wg);
}

static void *t_producer(void *arg)
{
    mp_produce(arg);
    return NULL;
}

static void *t_consumer(void *arg)
{
    mp_consume(arg);
    return NULL;
}

static void mpmc(size_t cap)
{
    mp_shared s = {.c = make_chan(sizeof(uint64_t), cap), .per = cnt(2000, 50000),
                   .wg = GORT_WG_INIT};
    atomic_init(&s.producers_left, MP_PRODUCERS);
    mp_arg pa[MP_PRODUCERS], ca[MP_CONSUMERS];
    /* Producer 0 and consumer 0 are foreign threads, the rest goroutines. */
    pthread_t tp, tc;
    for (int i = 0; i < MP_PRODUCERS; i++)
        pa[i] = (mp_arg){.s = &s, .id = i};
    for (int i = 0; i < MP_CONSUMERS; i++)
        ca[i] = (mp_arg){.s = &s, .id = i};
    gort_wg_add(&s.wg, MP_PRODUCERS - 1 + MP_CONSUMERS - 1);
    CHECK_EQ(pthread_create(&tp, NULL, t_producer, &pa[0]), 0);
    CHECK_EQ(pthread_create(&tc, NULL, t_consumer, &ca[0]), 0);
    for (int i = 1; i < MP_PRODUCERS; i++)
        GO(g_producer, &pa[i]);
    for (int i = 1; i < MP_CONSUMERS; i++)
        GO(g_consumer, &ca[i]);
    CHECK_EQ(pthread_join(tp, NULL), 0);
    CHECK_EQ(pthread_join(tc, NULL), 0);
    gort_wg_wait(&s.wg);
    CHECK_GOROUTINES();
    long long n = s.per;
    uint64_t want = 0;
    for (uint64_t p = 0; p < MP_PRODUCERS; p++)
        want += (p << 40) * (uint64_t)n + (uint64_t)(n * (n - 1) / 2);
    CHECK_EQ(atomic_load(&s.received), MP_PRODUCERS * n);
    CHECK_MSG(atomic_load(&s.sum) == want, "sum %llu, want %llu",
              (unsigned long long)atomic_load(&s.sum), (unsigned long long)want);
    CHECK(ring_thawed(s.c));
    gort_chan_release(s.c);
}

TEST(ring_mpmc_fifo_and_conservation)
{
    CHECK_EQ(init_procs(2), 0);
    mpmc(1);
    mpmc(3);
    mpmc(64);
    gort_shutdown();
}

/* ---- blocked senders and receivers keep Go's order ----------------------- */

typedef struct order_arg {
    gort_chan *c;
    int        v;      /* sender: value to send */
    int       *slot;   /* receiver: where to store what it got */
    gort_wg   *wg;
} order_arg;

static void g_send_one(void *arg)
{
    order_arg *a = arg;
    GCHECK(gort_chan_send(a->c, &a->v) == 0);
    gort_wg_done(a->wg);
}

static void g_recv_one(void *arg)
{
    order_arg *a = arg;
    GCHECK(gort_chan_recv(a->c, a->slot) == 0);
    gort_wg_done(a->wg);
}

enum { ORDER_N = 6, ORDER_CAP = 2 };

static void blocked_order_main(void *arg)
{
    (void)arg;
    gort_wg wg = GORT_WG_INIT;
    order_arg oa[ORDER_N];

    /* Senders block on a full buffer one after the other; receiving then
     * yields the buffered values, then theirs in blocking order — the
     * receive that frees a slot moves the first blocked sender's value in. */
    gort_chan *c = make_chan(sizeof(int), ORDER_CAP);
    for (int i = 0; i < ORDER_CAP; i++)
        CHECK_EQ(gort_chan_send(c, &i), 0);
    for (int i = 0; i < ORDER_N; i++) {
        oa[i] = (order_arg){.c = c, .v = ORDER_CAP + i, .wg = &wg};
        gort_wg_add(&wg, 1);
        GO(g_send_one, &oa[i]);
        wait_refs(c, (size_t)i + 2); /* it is queued */
    }
    for (int i = 0; i < ORDER_CAP + ORDER_N; i++) {
        int v = -1;
        CHECK_EQ(gort_chan_recv(c, &v), 0);
        CHECK_MSG(v == i, "received %d, want %d", v, i);
    }
    gort_wg_wait(&wg);
    CHECK(ring_thawed(c));
    int v;
    CHECK_EQ(gort_chan_try_recv(c, &v), GORT_EAGAIN);

    /* Receivers block on the empty buffer in order; sends serve them in
     * that order (direct hand-off while anyone waits). */
    int got[ORDER_N];
    for (int i = 0; i < ORDER_N; i++) {
        got[i] = -1;
        oa[i] = (order_arg){.c = c, .slot = &got[i], .wg = &wg};
        gort_wg_add(&wg, 1);
        GO(g_recv_one, &oa[i]);
        wait_refs(c, (size_t)i + 2);
    }
    for (int i = 0; i < ORDER_N; i++)
        CHECK_EQ(gort_chan_send(c, &i), 0);
    gort_wg_wait(&wg);
    for (int i = 0; i < ORDER_N; i++)
        CHECK_MSG(got[i] == i, "receiver %d got %d", i, got[i]);
    CHECK(ring_thawed(c));
    CHECK_EQ(gort_chan_len(c), 0);
    gort_chan_release(c);
}

TEST(ring_blocked_parties_keep_order)
{
    run_main(blocked_order_main, NULL);
}

/* ---- close races with lock-free senders ----------------------------------- */

typedef struct close_shared {
    gort_chan        *c;
    _Atomic uint64_t  sent_sum;   /* values whose send returned 0 */
    _Atomic long long sent;
    gort_wg           wg;
} close_shared;

static void g_send_until_closed(void *arg)
{
    close_shared *s = arg;
    for (uint64_t v = 1;; v++) {
        int r = (v & 1) ? gort_chan_try_send(s->c, &v) : gort_chan_send(s->c, &v);
        if (r == GORT_ECLOSED)
            break;
        if (r == GORT_EAGAIN) {
            gort_yield();
            continue;
        }
        GCHECKF(r == 0, "send: %s", gort_err_name(r));
        atomic_fetch_add(&s->sent_sum, v);
        atomic_fetch_add(&s->sent, 1);
    }
    gort_wg_done(&s->wg);
}

static void close_race_main(void *arg)
{
    (void)arg;
    long long rounds = cnt(200, 2000);
    for (long long round = 0; round < rounds; round++) {
        close_shared s = {.c = make_chan(sizeof(uint64_t), 1 + (size_t)round % 5),
                          .wg = GORT_WG_INIT};
        gort_wg_add(&s.wg, 3);
        for (int i = 0; i < 3; i++)
            GO(g_send_until_closed, &s);
        uint64_t sum = 0, v;
        long long got = 0, before = 1 + round % 50;
        for (; got < before; got++) {
            CHECK_EQ(gort_chan_recv(s.c, &v), 0);
            sum += v;
        }
        CHECK_EQ(gort_chan_close(s.c), 0);
        /* Drained, then closed: every successful send is received. */
        int r;
        while ((r = gort_chan_recv(s.c, &v)) == 0) {
            sum += v;
            got++;
        }
        CHECK_EQ(r, GORT_ECLOSED);
        gort_wg_wait(&s.wg);
        CHECK_EQ(gort_chan_try_recv(s.c, &v), GORT_ECLOSED);
        CHECK_EQ(got, atomic_load(&s.sent));
        CHECK_EQ(sum, atomic_load(&s.sent_sum));
        gort_chan_release(s.c);
    }
}

TEST(ring_close_races_senders)
{
    CHECK_EQ(init_procs(2), 0);
    CHECK_EQ(gort_main(close_race_main, NULL), 0);
}

/* ---- a non-blocking select sees one instant of all its rings ------------- */
/* A mover keeps at least one of two 1-slot channels full at every instant
 * (fill the other one, then empty this one). An observer's non-blocking
 * select receiving from both must therefore never find both empty; when it
 * takes a value it puts it back into the same channel (the mover cannot
 * refill that channel before it has emptied it, so the put-back never
 * blocks for long). Without the frozen re-poll a select could poll c2
 * (empty), then the mover fills c2 and empties c1 lock-free, then the
 * select polls c1 (empty) and wrongly reports GORT_EAGAIN. */

typedef struct snap_shared {
    gort_chan  *c[2];
    _Atomic int stop;
} snap_shared;

static void *t_mover(void *arg)
{
    snap_shared *s = arg;
    int v = 1, got;
    /* Until stopped; close (GORT_ECLOSED) releases a blocked mover. */
    for (int k = 0; !atomic_load(&s->stop); k ^= 1) {
        if (gort_chan_send(s->c[k ^ 1], &v) != 0 || gort_chan_recv(s->c[k], &got) != 0)
            break;
    }
    return NULL;
}

TEST(ring_nonblocking_select_snapshot)
{
    snap_shared s = {.c = {make_chan(sizeof(int), 1), make_chan(sizeof(int), 1)}};
    CHECK_EQ(gort_chan_send(s.c[0], &(int){1}), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, t_mover, &s), 0);
    int v;
    gort_case cases[2] = {
        {.chan = s.c[0], .dir = GORT_RECV, .elem = &v},
        {.chan = s.c[1], .dir = GORT_RECV, .elem = &v},
    };
    long long n = cnt(200000, 2000000);
    for (long long i = 0; i < n; i++) {
        int k = gort_select(cases, 2, GORT_NOWAIT);
        CHECK_MSG(k == 0 || k == 1, "iteration %lld: select found both channels empty (%s)", i,
                  gort_err_name(k));
        CHECK_EQ(gort_chan_send(s.c[k], &v), 0);
    }
    atomic_store(&s.stop, 1);
    CHECK_EQ(gort_chan_close(s.c[0]), 0);
    CHECK_EQ(gort_chan_close(s.c[1]), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    gort_chan_release(s.c[0]);
    gort_chan_release(s.c[1]);
}

/* ---- a peer's copy in flight for a long time ----------------------------- */
/* White-box: play a lock-free peer that reserved a slot (advanced tail or
 * head with the ring's CAS) and was then descheduled by the OS before
 * publishing it. Its partner spins, then sleeps on the slot's stamp a few
 * microseconds at a time (chan.c, THE RING), and must complete with the
 * right value as soon as the slot is published — whether a receiver waits
 * for a sender's copy or a sender waits for a receiver's. */

typedef struct stuck_shared {
    gort_chan  *c;
    int         value; /* receiver: what it got */
    int         rc;
    _Atomic int done;
} stuck_shared;

static void *t_stuck_recv(void *arg)
{
    stuck_shared *s = arg;
    s->rc = gort_chan_recv(s->c, &s->value);
    atomic_store(&s->done, 1);
    return NULL;
}

static void *t_stuck_send(void *arg)
{
    stuck_shared *s = arg;
    s->rc = gort_chan_send(s->c, &(int){42});
    atomic_store(&s->done, 1);
    return NULL;
}

/* The stamp of slot 0 as chan.c stores it (stamp minus index 0). */
static _Atomic uint32_t *slot0_stamp(gort_chan *c)
{
    return (_Atomic uint32_t *)c->slots;
}

/* The partner must still be waiting well past its spin phase (~3 us),
 * i.e. inside its sleeps; then the slot is published and it completes. */
static void check_still_waiting(stuck_shared *s)
{
    int64_t until = gort_now() + 20 * GORT_MILLISECOND;
    while (gort_now() < until)
        CHECK_MSG(!atomic_load(&s->done), "completed although the slot was never published");
}

static void join_unstuck(pthread_t t, stuck_shared *s)
{
    int64_t give_up = hatch();
    while (!atomic_load(&s->done))
        CHECK_MSG(gort_now() < give_up, "still waiting after the slot was published");
    CHECK_EQ(pthread_join(t, NULL), 0);
}

TEST(ring_waits_out_a_stuck_publisher)
{
    /* A sender reserved position 0 of an empty ring and stalls. */
    stuck_shared s = {.c = make_chan(sizeof(int), 4)};
    CHECK(ring_thawed(s.c));
    atomic_store(&s.c->tail, 1); /* ring_next(0) of a 4-slot ring */
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, t_stuck_recv, &s), 0);
    check_still_waiting(&s);
    memcpy(s.c->slots + sizeof(uint32_t), &(int){7}, sizeof(int));
    atomic_store_explicit(slot0_stamp(s.c), 1, memory_order_release); /* stamp 0 + 1 */
    join_unstuck(t, &s);
    CHECK_EQ(s.rc, 0);
    CHECK_EQ(s.value, 7);
    CHECK_EQ(gort_chan_len(s.c), 0);
    CHECK(ring_thawed(s.c));
    gort_chan_release(s.c);
}

TEST(ring_waits_out_a_stuck_receiver)
{
    /* A 1-slot ring holds 5; a receiver reserved it (advanced head to the
     * next lap) and stalls before copying out. A sender sees the slot still
     * full although the ring is not: it must wait, not report "full". */
    stuck_shared s = {.c = make_chan(sizeof(int), 1)};
    CHECK_EQ(gort_chan_send(s.c, &(int){5}), 0);
    size_t one_lap = s.c->one_lap;
    atomic_store(&s.c->head, one_lap); /* ring_next(0) of a 1-slot ring */
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, t_stuck_send, &s), 0);
    check_still_waiting(&s);
    int got;
    memcpy(&got, s.c->slots + sizeof(uint32_t), sizeof(int));
    CHECK_EQ(got, 5);
    atomic_store_explicit(slot0_stamp(s.c), (uint32_t)one_lap, memory_order_release);
    join_unstuck(t, &s);
    CHECK_EQ(s.rc, 0);
    CHECK_EQ(gort_chan_try_recv(s.c, &got), 0);
    CHECK_EQ(got, 42);
    CHECK(ring_thawed(s.c));
    gort_chan_release(s.c);
}

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* chan.c, FIRST TOUCH: every operation reads a stamp before it writes the
 * slot; without the RMW on each page's first stamp, the read maps the zero
 * page and the write faults a second time (plus a TLB shootdown), so a
 * fresh ring's pages cost two faults each. */
TEST(ring_fresh_pages_fault_once)
{
    if (T_SANITIZER || T_ON_VALGRIND())
        SKIP("shadow memory and instrumentation fault pages of their own");
    const size_t cap = (size_t)1 << 20;
    gort_chan *c = gort_chan_make(sizeof(int64_t), cap);
    CHECK(c != NULL);
    long before = minor_faults();
    for (int64_t i = 0; i < (int64_t)cap; i++)
        CHECK_EQ(gort_chan_try_send(c, &i), 0);
    long faults = minor_faults() - before;
    long pages = (long)(cap * (sizeof(uint32_t) + sizeof(int64_t)) / 4096);
    printf("    %zu sends into a fresh ring: %ld minor faults for %ld pages\n", cap, faults, pages);
    CHECK_MSG(faults <= pages + pages / 4 + 64,
              "%ld faults for %ld pages: fresh pages fault twice (read, then write)", faults, pages);
    for (int64_t i = 0; i < (int64_t)cap; i++) {
        int64_t v = -1;
        CHECK_EQ(gort_chan_try_recv(c, &v), 0);
        CHECK_EQ(v, i);
    }
    gort_chan_release(c);
}

HARNESS_MAIN()
