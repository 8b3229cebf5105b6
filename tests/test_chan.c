/*
 * test_chan.c — ports of the properties checked by Go's runtime/chan_test.go
 * and the test/chan/ programs (fifo, nonblock, select, select3, zerosize,
 * sieve), written against gort's public API.
 *
 * Counts: Go's "short" counts by default, Go's full counts with STRESS=1 in
 * the environment; both divided by GORT_TEST_SCALE (T_SCALE).
 *
 * Sleeps appear only where Go's tests use them: to give a goroutine the
 * chance to do something it must NOT do (e.g. "receive from empty channel
 * blocks"). They never order events a check depends on.
 */
#include "harness.h"
#include "test_util.h"

#include <gort.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------- */

static void send_int(gort_chan *c, int v)
{
    int r = gort_chan_send(c, &v);
    CHECK_MSG(r == 0, "send: %s", gort_err_name(r));
}

static int recv_int(gort_chan *c)
{
    int v = -12345;
    int r = gort_chan_recv(c, &v);
    CHECK_MSG(r == 0, "recv: %s", gort_err_name(r));
    return v;
}

static gort_chan *make_int_chan(size_t cap)
{
    gort_chan *c = gort_chan_make(sizeof(int), cap);
    CHECK(c != NULL);
    return c;
}

/* ---- TestChan ------------------------------------------------------------ */

typedef struct chan_arg {
    gort_chan  *c;
    gort_chan  *done;
    atomic_int  flag;
    int         n;
    gort_wg     wg;
} chan_arg;

static void g_recv_then_flag(void *p)
{
    chan_arg *a = p;
    int v;
    (void)gort_chan_recv(a->c, &v);
    atomic_fetch_add(&a->flag, 1);
    gort_wg_done(&a->wg);
}

static void g_send_then_flag(void *p)
{
    chan_arg *a = p;
    send_int(a->c, 0);
    atomic_store(&a->flag, 1);
    gort_wg_done(&a->wg);
}

static void g_recv_closed_report(void *p)
{
    chan_arg *a = p;
    int v = 77;
    int r = gort_chan_recv(a->c, &v);
    send_int(a->done, r == GORT_ECLOSED && v == 0);
}

static void g_send_seq(void *p)
{
    chan_arg *a = p;
    for (int i = 0; i < a->n; i++)
        send_int(a->c, i);
    gort_wg_done(&a->wg);
}

/* Receives n values and sends a histogram (malloc'd int[n]) on done. */
static void g_recv_hist(void *p)
{
    chan_arg *a = p;
    int *hist = calloc((size_t)a->n, sizeof *hist);
    CHECK(hist != NULL);
    for (int i = 0; i < a->n; i++) {
        int v = recv_int(a->c);
        CHECK(v >= 0 && v < a->n);
        hist[v]++;
    }
    CHECK_EQ(gort_chan_send(a->done, &hist), 0);
}

static void chan_one_cap(int cap)
{
    /* Receive from an empty channel blocks. */
    {
        chan_arg a = {.c = make_int_chan((size_t)cap)};
        gort_wg_add(&a.wg, 2);
        GO(g_recv_then_flag, &a);
        GO(g_recv_then_flag, &a);
        gort_sleep(GORT_MILLISECOND);
        CHECK_MSG(atomic_load(&a.flag) == 0, "chan[%d]: receive from empty chan", cap);
        int v;
        CHECK_EQ(gort_chan_try_recv(a.c, &v), GORT_EAGAIN);
        gort_case cs[1] = {{.chan = a.c, .dir = GORT_RECV, .elem = &v}};
        CHECK_EQ(gort_select(cs, 1, GORT_NOWAIT), GORT_EAGAIN);
        send_int(a.c, 0);
        send_int(a.c, 0);
        gort_wg_wait(&a.wg);
        CHECK_EQ(atomic_load(&a.flag), 2);
        gort_chan_release(a.c);
    }
    /* Send to a full channel blocks. */
    {
        chan_arg a = {.c = make_int_chan((size_t)cap)};
        for (int i = 0; i < cap; i++)
            send_int(a.c, i);
        gort_wg_add(&a.wg, 1);
        GO(g_send_then_flag, &a);
        gort_sleep(GORT_MILLISECOND);
        CHECK_MSG(atomic_load(&a.flag) == 0, "chan[%d]: send to full chan", cap);
        int z = 0;
        CHECK_EQ(gort_chan_try_send(a.c, &z), GORT_EAGAIN);
        gort_case cs[1] = {{.chan = a.c, .dir = GORT_SEND, .elem = &z}};
        CHECK_EQ(gort_select(cs, 1, GORT_NOWAIT), GORT_EAGAIN);
        (void)recv_int(a.c);
        gort_wg_wait(&a.wg);
        CHECK_EQ(atomic_load(&a.flag), 1);
        gort_chan_release(a.c);
    }
    /* Receive the buffered values, then zero, from a closed channel. */
    {
        gort_chan *c = make_int_chan((size_t)cap);
        for (int i = 0; i < cap; i++)
            send_int(c, i);
        CHECK_EQ(gort_chan_close(c), 0);
        for (int i = 0; i < cap; i++)
            CHECK_EQ(recv_int(c), i);
        int v = 99;
        CHECK_EQ(gort_chan_recv(c, &v), GORT_ECLOSED);
        CHECK_EQ(v, 0);
        v = 99;
        CHECK_EQ(gort_chan_try_recv(c, &v), GORT_ECLOSED);
        CHECK_EQ(v, 0);
        gort_chan_release(c);
    }
    /* Close unblocks a receive. */
    {
        chan_arg a = {.c = make_int_chan((size_t)cap), .done = make_int_chan(0)};
        GO(g_recv_closed_report, &a);
        gort_sleep(GORT_MILLISECOND);
        CHECK_EQ(gort_chan_close(a.c), 0);
        CHECK_MSG(recv_int(a.done) == 1, "chan[%d]: received non zero from closed chan", cap);
        gort_chan_release(a.c);
        gort_chan_release(a.done);
    }
    /* 100 integers arrive uncorrupted in FIFO order (twice, as in Go's
     * recv and recv2 variants). */
    {
        gort_chan *c = make_int_chan((size_t)cap);
        for (int rep = 0; rep < 2; rep++) {
            chan_arg a = {.c = c, .n = 100};
            gort_wg_add(&a.wg, 1);
            GO(g_send_seq, &a);
            for (int i = 0; i < 100; i++) {
                int v = recv_int(c);
                CHECK_MSG(v == i, "chan[%d]: received %d, expected %d", cap, v, i);
            }
            gort_wg_wait(&a.wg);
        }
        /* 1000 integers from each of 4 senders, received by 4 receivers:
         * everything arrives, exactly P times each. */
        enum { P = 4, L = 1000 };
        chan_arg a = {.c = c, .n = L, .done = gort_chan_make(sizeof(int *), 0)};
        CHECK(a.done != NULL);
        gort_wg_add(&a.wg, P);
        for (int p = 0; p < P; p++)
            GO(g_send_seq, &a);
        for (int p = 0; p < P; p++)
            GO(g_recv_hist, &a);
        int total[L] = {0};
        for (int p = 0; p < P; p++) {
            int *hist = NULL;
            CHECK_EQ(gort_chan_recv(a.done, &hist), 0);
            for (int i = 0; i < L; i++)
                total[i] += hist[i];
            free(hist);
        }
        for (int i = 0; i < L; i++)
            CHECK_MSG(total[i] == P, "chan[%d]: value %d received %d times", cap, i, total[i]);
        gort_wg_wait(&a.wg);
        gort_chan_release(a.done);
        gort_chan_release(c);
    }
    /* len/cap. */
    {
        gort_chan *c = make_int_chan((size_t)cap);
        CHECK_EQ(gort_chan_len(c), 0);
        CHECK_EQ(gort_chan_cap(c), cap);
        for (int i = 0; i < cap; i++)
            send_int(c, i);
        CHECK_EQ(gort_chan_len(c), cap);
        CHECK_EQ(gort_chan_cap(c), cap);
        gort_chan_release(c);
    }
}

static void chan_main(void *arg)
{
    (void)arg;
    int n = (int)cnt(20, 200);
    for (int cap = 0; cap < n; cap++)
        chan_one_cap(cap);
}

TEST(TestChan)
{
    run_main(chan_main, NULL);
}

/* ---- TestNonblockRecvRace ------------------------------------------------ */

typedef struct nbr_arg {
    gort_chan *c;
    gort_wg   *wg;
} nbr_arg;

static void g_nonblock_recv(void *p)
{
    nbr_arg *a = p;
    int v;
    int r = gort_chan_try_recv(a->c, &v);
    /* A value or "closed": either way the channel was ready. */
    CHECK_MSG(r == 0 || r == GORT_ECLOSED, "chan is not ready: %s", gort_err_name(r));
    gort_chan_release(a->c);
    gort_wg_done(a->wg);
    free(a);
}

static void nonblock_recv_race_main(void *arg)
{
    (void)arg;
    long long n = cnt(100, 10000);
    gort_wg wg = GORT_WG_INIT;
    for (long long i = 0; i < n; i++) {
        gort_chan *c = make_int_chan(1);
        send_int(c, 1);
        nbr_arg *a = malloc(sizeof *a);
        CHECK(a != NULL);
        a->c = gort_chan_retain(c);
        a->wg = &wg;
        gort_wg_add(&wg, 1);
        GO(g_nonblock_recv, a);
        CHECK_EQ(gort_chan_close(c), 0);
        int v;
        int r = gort_chan_recv(c, &v);
        CHECK(r == 0 || r == GORT_ECLOSED);
        gort_chan_release(c);
    }
    gort_wg_wait(&wg);
}

TEST(TestNonblockRecvRace)
{
    run_main(nonblock_recv_race_main, NULL);
}

/* ---- TestNonblockSelectRace (and Race2) ---------------------------------- */

typedef struct nbs_arg {
    gort_chan *c1, *c2, *done;
    gort_wg   *wg;
} nbs_arg;

static void g_nonblock_select(void *p)
{
    nbs_arg *a = p;
    int v;
    gort_case cs[2] = {
        {.chan = a->c1, .dir = GORT_RECV, .elem = &v},
        {.chan = a->c2, .dir = GORT_RECV, .elem = &v},
    };
    int r = gort_select(cs, 2, GORT_NOWAIT);
    send_int(a->done, r >= 0);
    gort_chan_release(a->c1);
    gort_chan_release(a->c2);
    gort_chan_release(a->done);
    gort_wg_done(a->wg);
    free(a);
}

static void nonblock_select_race(int close_c2)
{
    long long n = cnt(1000, 100000);
    gort_chan *done = make_int_chan(1);
    gort_wg wg = GORT_WG_INIT; /* every goroutine has dropped its references */
    for (long long i = 0; i < n; i++) {
        gort_chan *c1 = make_int_chan(1);
        gort_chan *c2 = make_int_chan(close_c2 ? 0 : 1);
        send_int(c1, 1);
        nbs_arg *a = malloc(sizeof *a);
        CHECK(a != NULL);
        a->c1 = gort_chan_retain(c1);
        a->c2 = gort_chan_retain(c2);
        a->done = gort_chan_retain(done);
        a->wg = &wg;
        gort_wg_add(&wg, 1);
        GO(g_nonblock_select, a);
        if (close_c2)
            CHECK_EQ(gort_chan_close(c2), 0);
        else
            send_int(c2, 1);
        int v;
        (void)gort_chan_try_recv(c1, &v);
        CHECK_MSG(recv_int(done) == 1, "no chan is ready (iteration %lld)", i);
        gort_chan_release(c1);
        gort_chan_release(c2);
    }
    gort_wg_wait(&wg);
    gort_chan_release(done);
}

static void nonblock_select_race_main(void *arg)
{
    nonblock_select_race(arg != NULL);
}

TEST(TestNonblockSelectRace)
{
    run_main(nonblock_select_race_main, NULL);
}

TEST(TestNonblockSelectRace2)
{
    run_main(nonblock_select_race_main, (void *)1);
}

/* ---- TestSelfSelect ------------------------------------------------------- */

typedef struct self_arg {
    gort_chan *c;
    int        p;
    int        cap;
    int        iters;
    gort_wg   *wg;
} self_arg;

static void g_self_select(void *arg)
{
    self_arg *a = arg;
    for (int i = 0; i < a->iters; i++) {
        int out = a->p, in = -1;
        gort_case send = {.chan = a->c, .dir = GORT_SEND, .elem = &out};
        gort_case recv = {.chan = a->c, .dir = GORT_RECV, .elem = &in};
        gort_case cs[2];
        int recv_idx;
        if (a->p == 0 || i % 2 == 0) {
            cs[0] = send;
            cs[1] = recv;
            recv_idx = 1;
        } else {
            cs[0] = recv;
            cs[1] = send;
            recv_idx = 0;
        }
        int r = gort_select(cs, 2, GORT_FOREVER);
        CHECK(r == 0 || r == 1);
        CHECK_EQ(cs[r].result, 0);
        if (r == recv_idx && a->cap == 0)
            CHECK_MSG(in != a->p, "self receive");
    }
    gort_wg_done(a->wg);
}

static void self_select_main(void *arg)
{
    (void)arg;
    const int caps[] = {0, 10};
    for (int k = 0; k < 2; k++) {
        gort_wg wg = GORT_WG_INIT;
        gort_chan *c = make_int_chan((size_t)caps[k]);
        self_arg a[2];
        gort_wg_add(&wg, 2);
        for (int p = 0; p < 2; p++) {
            a[p] = (self_arg){.c = c, .p = p, .cap = caps[k], .iters = 1000, .wg = &wg};
            GO(g_self_select, &a[p]);
        }
        gort_wg_wait(&wg);
        gort_chan_release(c);
    }
}

TEST(TestSelfSelect)
{
    run_main(self_select_main, NULL);
}

/* ---- TestSelectStress ----------------------------------------------------- */

typedef struct stress_arg {
    gort_chan **c;  /* the 4 channels */
    int         k;  /* channel index for the plain senders/receivers */
    long long   n;  /* values per channel */
    gort_wg    *wg;
} stress_arg;

static void g_stress_send(void *p)
{
    stress_arg *a = p;
    for (long long i = 0; i < a->n; i++)
        send_int(a->c[a->k], 0);
    gort_wg_done(a->wg);
}

static void g_stress_recv(void *p)
{
    stress_arg *a = p;
    for (long long i = 0; i < a->n; i++)
        (void)recv_int(a->c[a->k]);
    gort_wg_done(a->wg);
}

/* One select over all four channels, in Go's case order (3,2,0,1 for the
 * sender, 0..3 for the receiver); a channel's case becomes nil after n. */
static void g_stress_select(void *p, int dir)
{
    stress_arg *a = p;
    static const int send_order[4] = {3, 2, 0, 1}, recv_order[4] = {0, 1, 2, 3};
    const int *order = dir == GORT_SEND ? send_order : recv_order;
    long long n[4] = {0};
    int val = 0, in = 0;
    gort_case cs[4];
    for (int j = 0; j < 4; j++)
        cs[j] = (gort_case){.chan = a->c[order[j]], .dir = dir,
                            .elem = dir == GORT_SEND ? (void *)&val : (void *)&in};
    for (long long i = 0; i < 4 * a->n; i++) {
        int r = gort_select(cs, 4, GORT_FOREVER);
        CHECK(r >= 0 && r < 4);
        CHECK_EQ(cs[r].result, 0);
        if (++n[r] == a->n)
            cs[r].chan = NULL;
    }
    gort_wg_done(a->wg);
}

static void g_stress_select_send(void *p)
{
    g_stress_select(p, GORT_SEND);
}

static void g_stress_select_recv(void *p)
{
    g_stress_select(p, GORT_RECV);
}

static void select_stress_main(void *arg)
{
    (void)arg;
    gort_chan *c[4] = {make_int_chan(0), make_int_chan(0), make_int_chan(2), make_int_chan(3)};
    long long n = cnt(10000, 100000);
    gort_wg wg = GORT_WG_INIT;
    stress_arg a[4];
    gort_wg_add(&wg, 10);
    for (int k = 0; k < 4; k++) {
        a[k] = (stress_arg){.c = c, .k = k, .n = n, .wg = &wg};
        GO(g_stress_send, &a[k]);
        GO(g_stress_recv, &a[k]);
    }
    stress_arg s = {.c = c, .n = n, .wg = &wg};
    GO(g_stress_select_send, &s);
    GO(g_stress_select_recv, &s);
    gort_wg_wait(&wg);
    for (int k = 0; k < 4; k++) {
        CHECK_EQ(gort_chan_len(c[k]), 0);
        gort_chan_release(c[k]);
    }
}

TEST(TestSelectStress)
{
    run_main(select_stress_main, NULL);
}

/* ---- TestSelectFairness --------------------------------------------------- */

typedef struct fair_arg {
    gort_chan *c1, *c2, *c3, *c4, *out, *done;
    gort_wg    wg;
} fair_arg;

static void g_fair(void *p)
{
    fair_arg *a = p;
    for (;;) {
        unsigned char b = 0, d;
        gort_case in[4] = {
            {.chan = a->c3, .dir = GORT_RECV, .elem = &b},
            {.chan = a->c4, .dir = GORT_RECV, .elem = &b},
            {.chan = a->c1, .dir = GORT_RECV, .elem = &b},
            {.chan = a->c2, .dir = GORT_RECV, .elem = &b},
        };
        int r = gort_select(in, 4, GORT_FOREVER);
        CHECK(r >= 0);
        gort_case out[2] = {
            {.chan = a->out, .dir = GORT_SEND, .elem = &b},
            {.chan = a->done, .dir = GORT_RECV, .elem = &d},
        };
        if (gort_select(out, 2, GORT_FOREVER) == 1)
            break;
    }
    gort_wg_done(&a->wg);
}

static void select_fairness_main(void *arg)
{
    (void)arg;
    enum { TRIALS = 10000 };
    fair_arg a = {
        .c1 = gort_chan_make(1, TRIALS + 1), .c2 = gort_chan_make(1, TRIALS + 1),
        .c3 = gort_chan_make(1, 0), .c4 = gort_chan_make(1, 0),
        .out = gort_chan_make(1, 0), .done = gort_chan_make(1, 0),
    };
    for (int i = 0; i < TRIALS + 1; i++) {
        unsigned char one = 1, two = 2;
        CHECK_EQ(gort_chan_send(a.c1, &one), 0);
        CHECK_EQ(gort_chan_send(a.c2, &two), 0);
    }
    gort_wg_add(&a.wg, 1);
    GO(g_fair, &a);
    int cnt1 = 0, cnt2 = 0;
    for (int i = 0; i < TRIALS; i++) {
        unsigned char b = 0;
        CHECK_EQ(gort_chan_recv(a.out, &b), 0);
        if (b == 1)
            cnt1++;
        else if (b == 2)
            cnt2++;
        else
            CHECK_MSG(0, "unexpected value %d on channel", b);
    }
    /* Go's bound: within 10 standard deviations of the fair mean. */
    const double mean = TRIALS * 0.5, stddev = 50.0; /* sqrt(TRIALS * 0.5 * 0.5) */
    double dev = cnt1 > mean ? cnt1 - mean : mean - cnt1;
    CHECK_MSG(dev <= 10 * stddev, "unfair select: in %d trials, results were %d, %d",
              TRIALS, cnt1, cnt2);
    CHECK_EQ(gort_chan_close(a.done), 0);
    gort_wg_wait(&a.wg);
    gort_chan *all[] = {a.c1, a.c2, a.c3, a.c4, a.out, a.done};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        gort_chan_release(all[i]);
}

TEST(TestSelectFairness)
{
    run_main(select_fairness_main, NULL);
}

/* ---- TestChanSendInterface ------------------------------------------------ */

static void send_interface_main(void *arg)
{
    (void)arg;
    int obj1, obj2;
    void *m = &obj1, *m2 = &obj2;
    gort_chan *c = gort_chan_make(sizeof(void *), 1);
    CHECK(c != NULL);
    CHECK_EQ(gort_chan_send(c, &m), 0);
    gort_case one[1] = {{.chan = c, .dir = GORT_SEND, .elem = &m}};
    CHECK_EQ(gort_select(one, 1, GORT_NOWAIT), GORT_EAGAIN);
    gort_case two[2] = {{.chan = c, .dir = GORT_SEND, .elem = &m},
                        {.chan = c, .dir = GORT_SEND, .elem = &m2}};
    CHECK_EQ(gort_select(two, 2, GORT_NOWAIT), GORT_EAGAIN);
    void *got = NULL;
    CHECK_EQ(gort_chan_recv(c, &got), 0);
    CHECK(got == m);
    gort_chan_release(c);
}

TEST(TestChanSendInterface)
{
    run_main(send_interface_main, NULL);
}

/* ---- TestPseudoRandomSend ------------------------------------------------- */

typedef struct prs_arg {
    gort_chan *c;
    int       *l;
    int        n;
    gort_wg    wg;
} prs_arg;

static void g_prs_recv(void *p)
{
    prs_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        gort_yield();
        a->l[i] = recv_int(a->c);
    }
    gort_wg_done(&a->wg);
}

static void pseudo_random_send_main(void *arg)
{
    (void)arg;
    enum { N = 100 };
    const int caps[] = {0, N};
    for (int k = 0; k < 2; k++) {
        int l[N];
        prs_arg a = {.c = make_int_chan((size_t)caps[k]), .l = l, .n = N};
        gort_wg_add(&a.wg, 1);
        GO(g_prs_recv, &a);
        for (int i = 0; i < N; i++) {
            int one = 1, zero = 0;
            gort_case cs[2] = {{.chan = a.c, .dir = GORT_SEND, .elem = &one},
                               {.chan = a.c, .dir = GORT_SEND, .elem = &zero}};
            CHECK(gort_select(cs, 2, GORT_FOREVER) >= 0);
        }
        gort_wg_wait(&a.wg);
        int n0 = 0, n1 = 0;
        for (int i = 0; i < N; i++) {
            n0 += (l[i] + 1) % 2;
            n1 += l[i];
        }
        CHECK_MSG(n0 > N / 10 && n1 > N / 10,
                  "want pseudorandom, got %d zeros and %d ones (chan cap %d)", n0, n1, caps[k]);
        gort_chan_release(a.c);
    }
}

TEST(TestPseudoRandomSend)
{
    run_main(pseudo_random_send_main, NULL);
}

/* ---- TestMultiConsumer ---------------------------------------------------- */

static const int mc_pn[] = {2, 3, 7, 11, 13, 17, 19, 23, 27, 31};
#define MC_NPN ((int)(sizeof mc_pn / sizeof mc_pn[0]))

typedef struct mc_arg {
    gort_chan *q, *r;
    gort_wg    wg;        /* workers */
    gort_wg    feeder_wg; /* the feeder goroutine */
    long long  niter;
    long long  expect;
} mc_arg;

typedef struct mc_worker {
    mc_arg *a;
    int     w;
} mc_worker;

static void g_mc_worker(void *p)
{
    mc_worker *wk = p;
    int v;
    while (gort_chan_recv(wk->a->q, &v) == 0) { /* for v := range q */
        if (mc_pn[wk->w % MC_NPN] == v) /* mess with the fifo-ish nature of range */
            gort_yield();
        send_int(wk->a->r, v);
    }
    gort_wg_done(&wk->a->wg);
}

static void g_mc_feeder(void *p)
{
    mc_arg *a = p;
    for (long long i = 0; i < a->niter; i++) {
        int v = mc_pn[i % MC_NPN];
        a->expect += v;
        send_int(a->q, v);
    }
    CHECK_EQ(gort_chan_close(a->q), 0); /* no more work */
    gort_wg_wait(&a->wg);               /* workers done */
    CHECK_EQ(gort_chan_close(a->r), 0); /* ... so there can be no more results */
    gort_wg_done(&a->feeder_wg);
}

static void multi_consumer_main(void *arg)
{
    (void)arg;
    enum { NWORK = 23 };
    mc_arg a = {.q = make_int_chan(NWORK * 3), .r = make_int_chan(NWORK * 3),
                .niter = cnt(27183, 271828)};
    mc_worker wk[NWORK];
    gort_wg_add(&a.wg, NWORK);
    gort_wg_add(&a.feeder_wg, 1);
    for (int i = 0; i < NWORK; i++) {
        wk[i] = (mc_worker){.a = &a, .w = i};
        GO(g_mc_worker, &wk[i]);
    }
    GO(g_mc_feeder, &a);
    long long n = 0, s = 0;
    int v;
    while (gort_chan_recv(a.r, &v) == 0) {
        n++;
        s += v;
    }
    gort_wg_wait(&a.feeder_wg); /* a.expect is final (and visible) now */
    CHECK_MSG(n == a.niter && s == a.expect, "expected sum %lld (got %lld) from %lld iter (saw %lld)",
              a.expect, s, a.niter, n);
    gort_chan_release(a.q);
    gort_chan_release(a.r);
}

TEST(TestMultiConsumer)
{
    run_main(multi_consumer_main, NULL);
}

/* ---- TestSelectDuplicateChannel ------------------------------------------- */

typedef struct dup_arg {
    gort_chan *c, *d, *e;
    gort_wg    wg;
} dup_arg;

static void g_dup_a(void *p)
{
    dup_arg *a = p;
    int v;
    gort_case cs[3] = {
        {.chan = a->c, .dir = GORT_RECV, .elem = &v},
        {.chan = a->c, .dir = GORT_RECV, .elem = &v},
        {.chan = a->d, .dir = GORT_RECV, .elem = &v},
    };
    CHECK_EQ(gort_select(cs, 3, GORT_FOREVER), 2);
    CHECK_EQ(v, 7);
    send_int(a->e, 9);
    gort_wg_done(&a->wg);
}

static void g_dup_b(void *p)
{
    dup_arg *a = p;
    CHECK_EQ(recv_int(a->c), 8);
    gort_wg_done(&a->wg);
}

static void select_duplicate_main(void *arg)
{
    (void)arg;
    dup_arg a = {.c = make_int_chan(0), .d = make_int_chan(0), .e = make_int_chan(0)};
    gort_wg_add(&a.wg, 2);
    GO(g_dup_a, &a);
    gort_sleep(GORT_MILLISECOND); /* let A queue first on c (twice) */
    GO(g_dup_b, &a);
    gort_sleep(GORT_MILLISECOND); /* let B queue on c behind A */
    send_int(a.d, 7);             /* wakes A, which dequeues itself from c */
    CHECK_EQ(recv_int(a.e), 9);   /* A is done */
    send_int(a.c, 8);             /* must reach B, not a stale entry of A */
    gort_wg_wait(&a.wg);
    gort_chan_release(a.c);
    gort_chan_release(a.d);
    gort_chan_release(a.e);
}

TEST(TestSelectDuplicateChannel)
{
    run_main(select_duplicate_main, NULL);
}

/* ---- TestChanSendBarrier / TestChanSendSelectBarrier ----------------------- */
/* Go's shape: per request a fresh unbuffered channel, a goroutine that sends
 * a freshly allocated response (plainly, or through a select that also
 * waits on a never-ready done channel), the requester receives it and
 * yields. The value must arrive intact every time. */

#define BARRIER_MAGIC 0x5eedf00dU

typedef struct barrier_resp {
    unsigned magic;
    int      err;
} barrier_resp;

typedef struct barrier_req {
    gort_chan *ch, *done;
    int        use_select;
    gort_wg   *wg; /* joined at the end of the test */
} barrier_req;

static void g_barrier_send(void *p)
{
    barrier_req *rq = p;
    barrier_resp *resp = malloc(sizeof *resp);
    CHECK(resp != NULL);
    resp->magic = BARRIER_MAGIC;
    resp->err = 42;
    if (rq->use_select) {
        char d;
        gort_case cs[2] = {{.chan = rq->ch, .dir = GORT_SEND, .elem = &resp},
                           {.chan = rq->done, .dir = GORT_RECV, .elem = &d}};
        CHECK_EQ(gort_select(cs, 2, GORT_FOREVER), 0);
    } else {
        CHECK_EQ(gort_chan_send(rq->ch, &resp), 0);
    }
    gort_chan_release(rq->ch);
    gort_chan_release(rq->done);
    gort_wg_done(rq->wg);
    free(rq);
}

static void do_request(int use_select, gort_wg *wg)
{
    gort_chan *ch = gort_chan_make(sizeof(barrier_resp *), 0);
    gort_chan *done = gort_chan_make(0, 0);
    CHECK(ch != NULL && done != NULL);
    barrier_req *rq = malloc(sizeof *rq);
    CHECK(rq != NULL);
    rq->ch = gort_chan_retain(ch);
    rq->done = gort_chan_retain(done);
    rq->use_select = use_select;
    rq->wg = wg;
    gort_wg_add(wg, 1);
    GO(g_barrier_send, rq);
    barrier_resp *r = NULL;
    CHECK_EQ(gort_chan_recv(ch, &r), 0);
    gort_yield();
    CHECK(r != NULL && r->magic == BARRIER_MAGIC && r->err == 42);
    free(r);
    gort_chan_release(ch);
    gort_chan_release(done);
}

typedef struct barrier_arg {
    int       use_select;
    long long inner;
    gort_wg   wg;   /* the outer goroutines */
    gort_wg   reqs; /* the senders */
} barrier_arg;

static void g_barrier_outer(void *p)
{
    barrier_arg *a = p;
    for (long long j = 0; j < a->inner; j++) {
        do_request(a->use_select, &a->reqs);
        void *garbage = malloc(1 << 10); /* Go's makeByte: allocator churn */
        free(garbage);
    }
    gort_wg_done(&a->wg);
}

static void send_barrier_main(void *arg)
{
    barrier_arg a = {.use_select = arg != NULL, .inner = cnt(1000, 100000)};
    long long outer = stress() ? 100 : 10;
    gort_wg_add(&a.wg, outer);
    for (long long i = 0; i < outer; i++)
        GO(g_barrier_outer, &a);
    gort_wg_wait(&a.wg);
    gort_wg_wait(&a.reqs);
}

TEST(TestChanSendBarrier)
{
    run_main(send_barrier_main, NULL);
}

TEST(TestChanSendSelectBarrier)
{
    run_main(send_barrier_main, (void *)1);
}

/* ---- test/chan/fifo.go ---------------------------------------------------- */

typedef struct chain_arg {
    gort_chan *ch, *in, *out;
    int        val;
    gort_wg   *wg;
} chain_arg;

static void g_chain(void *p)
{
    chain_arg *a = p;
    (void)recv_int(a->in);
    int v = recv_int(a->ch);
    CHECK_MSG(v == a->val, "chain %d got %d", a->val, v);
    send_int(a->out, 1);
    gort_wg_done(a->wg);
}

static void fifo_main(void *arg)
{
    (void)arg;
    enum { N = 10 };
    /* AsynchFifo */
    gort_chan *ch = make_int_chan(N);
    for (int i = 0; i < N; i++)
        send_int(ch, i);
    for (int i = 0; i < N; i++)
        CHECK_EQ(recv_int(ch), i);
    gort_chan_release(ch);

    /* SynchFifo: a daisy chain reads the values in sequence. */
    gort_wg wg = GORT_WG_INIT;
    chain_arg links[N];
    gort_chan *chans[N + 1];
    ch = make_int_chan(0);
    gort_chan *in = chans[0] = make_int_chan(0);
    gort_wg_add(&wg, N);
    for (int i = 0; i < N; i++) {
        gort_chan *out = chans[i + 1] = make_int_chan(0);
        links[i] = (chain_arg){.ch = ch, .in = in, .out = out, .val = i, .wg = &wg};
        GO(g_chain, &links[i]);
        in = out;
    }
    send_int(chans[0], 0);
    for (int i = 0; i < N; i++)
        send_int(ch, i);
    (void)recv_int(in);
    gort_wg_wait(&wg);
    for (int i = 0; i <= N; i++)
        gort_chan_release(chans[i]);
    gort_chan_release(ch);
}

TEST(chan_fifo)
{
    run_main(fifo_main, NULL);
}

/* ---- test/chan/nonblock.go ------------------------------------------------ */
/* Several element sizes; a non-blocking send succeeds once a receiver waits
 * (unbuffered) or when there is room; a non-blocking receive succeeds once a
 * sender waits or a value is buffered. Go sleeps a fixed time for the peer
 * to park; we retry the non-blocking op (at most ~10 s) so the test does
 * not depend on scheduling latency, which keeps the property: it must
 * succeed *without blocking* once the peer is there. */

typedef struct nb_str {
    char s[16];
} nb_str;

typedef struct nb_arg {
    gort_chan  *c, *sync;
    const void *expect; /* receiver: expected value */
    const void *value;  /* sender: value to send */
    size_t      size;
} nb_arg;

static void g_nb_receiver(void *p)
{
    nb_arg *a = p;
    unsigned char buf[16] = {0};
    CHECK_EQ(gort_chan_recv(a->c, buf), 0);
    CHECK_MSG(memcmp(buf, a->expect, a->size) == 0, "receiver: wrong value (size %zu)", a->size);
    send_int(a->sync, 1);
}

static void g_nb_sender(void *p)
{
    nb_arg *a = p;
    CHECK_EQ(gort_chan_send(a->c, a->value), 0);
    send_int(a->sync, 1);
}

static int retry_nonblock(int (*op)(gort_chan *, void *), gort_chan *c, void *v)
{
    int64_t give_up = gort_now() + 10 * GORT_SECOND;
    int r;
    while ((r = op(c, v)) == GORT_EAGAIN && gort_now() < give_up)
        gort_sleep(10 * GORT_MICROSECOND);
    return r;
}

static int try_send_v(gort_chan *c, void *v)
{
    return gort_chan_try_send(c, v);
}

static int try_recv_v(gort_chan *c, void *v)
{
    return gort_chan_try_recv(c, v);
}

static void nonblock_one(size_t buffer, size_t size, const void *to_recv, const void *to_send,
                         gort_chan *sync)
{
    gort_chan *c = gort_chan_make(size, buffer);
    CHECK(c != NULL);
    unsigned char buf[16];
    CHECK_EQ(gort_chan_try_recv(c, buf), GORT_EAGAIN);

    nb_arg ra = {.c = c, .sync = sync, .expect = to_recv, .size = size};
    GO(g_nb_receiver, &ra);
    memcpy(buf, to_recv, size);
    CHECK_EQ(retry_nonblock(try_send_v, c, buf), 0);
    (void)recv_int(sync);

    nb_arg sa = {.c = c, .sync = sync, .value = to_send, .size = size};
    GO(g_nb_sender, &sa);
    if (buffer > 0)
        (void)recv_int(sync);
    memset(buf, 0, sizeof buf);
    CHECK_EQ(retry_nonblock(try_recv_v, c, buf), 0);
    CHECK(memcmp(buf, to_send, size) == 0);
    if (buffer == 0)
        (void)recv_int(sync);
    gort_chan_release(c);
}

static void nonblock_main(void *arg)
{
    (void)arg;
    gort_chan *sync = make_int_chan(0);
    int32_t i32r = 123, i32s = 234;
    int64_t i64r = 123456, i64s = 234567;
    bool br = true, bs = true;
    nb_str sr = {"hello"}, ss = {"hello again"};
    for (size_t buffer = 0; buffer < 2; buffer++) {
        nonblock_one(buffer, sizeof i32r, &i32r, &i32s, sync);
        nonblock_one(buffer, sizeof i64r, &i64r, &i64s, sync);
        nonblock_one(buffer, sizeof br, &br, &bs, sync);
        nonblock_one(buffer, sizeof sr, &sr, &ss, sync);
    }
    gort_chan_release(sync);
}

TEST(chan_nonblock)
{
    run_main(nonblock_main, NULL);
}

/* ---- test/chan/select.go -------------------------------------------------- */
/* Go evaluates every case's value before choosing: GetValue() runs for both
 * cases on every iteration, nil cases included. */

static unsigned sel_counter, sel_shift;

static unsigned get_value(void)
{
    sel_counter++;
    return 1u << sel_shift;
}

static int sel_send(gort_chan *a, gort_chan *b)
{
    int i = 0;
    for (;;) {
        unsigned va = get_value(), vb = get_value();
        gort_case cs[2] = {{.chan = a, .dir = GORT_SEND, .elem = &va},
                           {.chan = b, .dir = GORT_SEND, .elem = &vb}};
        int r = gort_select(cs, 2, GORT_NOWAIT); /* with a default case */
        if (r == GORT_EAGAIN)
            break;
        CHECK(r == 0 || r == 1);
        i++;
        if (r == 0)
            a = NULL;
        else
            b = NULL;
        sel_shift++;
    }
    return i;
}

static void select_prog_main(void *arg)
{
    (void)arg;
    gort_chan *a = gort_chan_make(sizeof(unsigned), 1);
    gort_chan *b = gort_chan_make(sizeof(unsigned), 1);
    CHECK(a != NULL && b != NULL);
    CHECK_EQ(sel_send(a, b), 2);
    unsigned av = 0, bv = 0;
    CHECK_EQ(gort_chan_recv(a, &av), 0);
    CHECK_EQ(gort_chan_recv(b, &bv), 0);
    CHECK_MSG((av | bv) == 3, "bad values %u %u", av, bv);
    CHECK_EQ(sel_send(a, NULL), 1);
    CHECK_EQ(sel_counter, 10);
    gort_chan_release(a);
    gort_chan_release(b);
}

TEST(chan_select)
{
    run_main(select_prog_main, NULL);
}

/* ---- test/chan/select3.go ------------------------------------------------- */
/* testBlock(signal, f): run f in a goroutine that reports "never" (f did not
 * block) when f returns, race it against a 100 ms timer reporting
 * "always". Go's panics (send on a closed channel) are GORT_ECLOSED here. */

enum { NEVER = 0, ALWAYS = 1 };

typedef struct tb_arg {
    void     (*f)(void *);
    void      *farg;
    gort_chan *c;      /* cap 2: both reporters always complete their send */
    gort_wg    f_wg;   /* f's goroutine finished */
    gort_wg    t_wg;   /* the timer goroutine finished */
} tb_arg;

static void g_tb_f(void *p)
{
    tb_arg *a = p;
    a->f(a->farg);
    send_int(a->c, NEVER);
    gort_wg_done(&a->f_wg);
}

static void g_tb_timer(void *p)
{
    tb_arg *a = p;
    gort_sleep(100 * GORT_MILLISECOND);
    send_int(a->c, ALWAYS);
    gort_wg_done(&a->t_wg);
}

/* unblock: for a blocking f on a real channel, makes f return (so nothing
 * leaks); NULL when f blocks forever on NULL channels (then the goroutine
 * stays parked until shutdown discards it; it owns nothing). */
static void test_block(int signal, void (*f)(void *), void *farg, void (*unblock)(void *),
                       void *uarg)
{
    tb_arg a = {.f = f, .farg = farg, .c = make_int_chan(2)};
    gort_wg_add(&a.f_wg, 1);
    gort_wg_add(&a.t_wg, 1);
    GO(g_tb_f, &a);
    GO(g_tb_timer, &a);
    int got = recv_int(a.c);
    CHECK_MSG(got == signal, "function %s block", signal == ALWAYS ? "did not" : "did");
    gort_wg_wait(&a.t_wg);
    if (unblock != NULL)
        unblock(uarg);
    if (signal == NEVER || unblock != NULL)
        gort_wg_wait(&a.f_wg);
    /* else: f is parked forever on NULL channels (gort__block_forever never
     * returns), so its goroutine will never touch `a` again. */
    gort_chan_release(a.c);
}

static void f_nil_send(void *p)
{
    (void)p;
    int v = 7;
    gort_chan_send(NULL, &v);
}

static void f_nil_recv(void *p)
{
    (void)p;
    int v;
    gort_chan_recv(NULL, &v);
}

static void f_send_buffered(void *p)
{
    (void)p;
    gort_chan *ch = make_int_chan(1);
    send_int(ch, 7);
    gort_chan_release(ch);
}

static void f_recv_closed(void *p)
{
    gort_chan *closedch = p;
    for (int i = 0; i < 10; i++) {
        int x = 5;
        CHECK_EQ(gort_chan_recv(closedch, &x), GORT_ECLOSED);
        CHECK_EQ(x, 0);
        CHECK_EQ(gort_chan_recv(closedch, NULL), GORT_ECLOSED);
    }
}

static void f_recv(void *p)
{
    int v;
    (void)gort_chan_recv(p, &v);
}

static void f_select_empty(void *p)
{
    (void)p;
    gort_select(NULL, 0, GORT_FOREVER);
}

static void f_select_nil_recv(void *p)
{
    (void)p;
    int v;
    gort_case cs[1] = {{.chan = NULL, .dir = GORT_RECV, .elem = &v}};
    gort_select(cs, 1, GORT_FOREVER);
    CHECK_MSG(0, "unreachable");
}

static void f_select_nil_both(void *p)
{
    (void)p;
    int v = 7;
    gort_case cs[2] = {{.chan = NULL, .dir = GORT_RECV, .elem = &v},
                       {.chan = NULL, .dir = GORT_SEND, .elem = &v}};
    gort_select(cs, 2, GORT_FOREVER);
    CHECK_MSG(0, "unreachable");
}

static void f_select_recv(void *p)
{
    int v;
    gort_case cs[1] = {{.chan = p, .dir = GORT_RECV, .elem = &v}};
    (void)gort_select(cs, 1, GORT_FOREVER);
}

static void f_select_default(void *p)
{
    (void)p;
    CHECK_EQ(gort_select(NULL, 0, GORT_NOWAIT), GORT_EAGAIN);
    int v = 7;
    gort_case cs[2] = {{.chan = NULL, .dir = GORT_RECV, .elem = &v},
                       {.chan = NULL, .dir = GORT_SEND, .elem = &v}};
    CHECK_EQ(gort_select(cs, 1, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_select(cs + 1, 1, GORT_NOWAIT), GORT_EAGAIN);
}

static void f_select_ready(void *p)
{
    (void)p;
    gort_chan *ch = make_int_chan(1);
    int v = 7;
    gort_case s[1] = {{.chan = ch, .dir = GORT_SEND, .elem = &v}};
    CHECK_EQ(gort_select(s, 1, GORT_NOWAIT), 0);
    gort_case r[1] = {{.chan = ch, .dir = GORT_RECV, .elem = &v}};
    v = 0;
    CHECK_EQ(gort_select(r, 1, GORT_NOWAIT), 0);
    CHECK_EQ(v, 7);
    gort_chan_release(ch);
}

static void f_select_closed(void *p)
{
    gort_chan *closedch = p;
    int x = 3;
    gort_case cs[1] = {{.chan = closedch, .dir = GORT_RECV, .elem = &x}};
    CHECK_EQ(gort_select(cs, 1, GORT_FOREVER), 0);
    CHECK_EQ(cs[0].result, GORT_ECLOSED);
    CHECK_EQ(x, 0);
    gort_case none[1] = {{.chan = closedch, .dir = GORT_RECV, .elem = NULL}};
    CHECK_EQ(gort_select(none, 1, GORT_FOREVER), 0);
    CHECK_EQ(none[0].result, GORT_ECLOSED);
}

static void f_select_self(void *p)
{
    int v = 1, in;
    gort_case cs[2] = {{.chan = p, .dir = GORT_SEND, .elem = &v},
                       {.chan = p, .dir = GORT_RECV, .elem = &in}};
    (void)gort_select(cs, 2, GORT_FOREVER);
}

static void close_chan(void *p)
{
    CHECK_EQ(gort_chan_close(p), 0);
}

static void select3_main(void *arg)
{
    (void)arg;
    gort_chan *closedch = make_int_chan(0);
    CHECK_EQ(gort_chan_close(closedch), 0);

    /* sending/receiving from a nil channel blocks */
    test_block(ALWAYS, f_nil_send, NULL, NULL, NULL);
    test_block(ALWAYS, f_nil_recv, NULL, NULL, NULL);
    /* a nil channel inside a select is never selected */
    {
        int v = 7;
        gort_case s[1] = {{.chan = NULL, .dir = GORT_SEND, .elem = &v}};
        CHECK_EQ(gort_select(s, 1, GORT_NOWAIT), GORT_EAGAIN);
        gort_case r[1] = {{.chan = NULL, .dir = GORT_RECV, .elem = &v}};
        CHECK_EQ(gort_select(r, 1, GORT_NOWAIT), GORT_EAGAIN);
    }
    /* sending to an async channel with free buffer space never blocks */
    test_block(NEVER, f_send_buffered, NULL, NULL, NULL);
    /* receiving from a closed channel never blocks */
    test_block(NEVER, f_recv_closed, closedch, NULL, NULL);
    /* sending to a closed channel "panics": GORT_ECLOSED */
    {
        int v = 7;
        CHECK_EQ(gort_chan_send(closedch, &v), GORT_ECLOSED);
        CHECK_EQ(gort_chan_try_send(closedch, &v), GORT_ECLOSED);
    }
    /* receiving from a non-ready channel always blocks */
    {
        gort_chan *ch = make_int_chan(0);
        test_block(ALWAYS, f_recv, ch, close_chan, ch);
        gort_chan_release(ch);
    }
    /* empty selects always block */
    test_block(ALWAYS, f_select_empty, NULL, NULL, NULL);
    /* selects with only nil channels always block */
    test_block(ALWAYS, f_select_nil_recv, NULL, NULL, NULL);
    test_block(ALWAYS, f_select_nil_both, NULL, NULL, NULL);
    /* selects with non-ready non-nil channels always block */
    {
        gort_chan *ch = make_int_chan(0);
        test_block(ALWAYS, f_select_recv, ch, close_chan, ch);
        gort_chan_release(ch);
    }
    /* selects with default cases don't block */
    test_block(NEVER, f_select_default, NULL, NULL, NULL);
    /* selects with ready channels don't block */
    test_block(NEVER, f_select_ready, NULL, NULL, NULL);
    /* selects with closed channels behave like ordinary operations */
    test_block(NEVER, f_select_closed, closedch, NULL, NULL);
    {
        int v = 7;
        gort_case cs[1] = {{.chan = closedch, .dir = GORT_SEND, .elem = &v}};
        CHECK_EQ(gort_select(cs, 1, GORT_FOREVER), 0);
        CHECK_EQ(cs[0].result, GORT_ECLOSED);
        gort_case two[2] = {{.chan = closedch, .dir = GORT_SEND, .elem = &v},
                            {.chan = NULL, .dir = GORT_RECV, .elem = &v}};
        CHECK_EQ(gort_select(two, 2, GORT_FOREVER), 0);
        CHECK_EQ(two[0].result, GORT_ECLOSED);
    }
    /* select should not get confused if it sees itself */
    {
        gort_chan *c = make_int_chan(0);
        test_block(ALWAYS, f_select_self, c, close_chan, c);
        gort_chan_release(c);
    }
    gort_chan_release(closedch);
}

TEST(chan_select3)
{
    run_main(select3_main, NULL);
}

/* ---- test/chan/zerosize.go ------------------------------------------------ */

static void zerosize_main(void *arg)
{
    (void)arg;
    gort_chan *c0 = gort_chan_make(0, 0), *c1 = gort_chan_make(0, 1);
    CHECK(c0 != NULL && c1 != NULL);
    CHECK_EQ(gort_chan_elem_size(c0), 0);
    /* Beyond Go's "make does not panic": use them (chan struct{}). */
    CHECK_EQ(gort_chan_send(c1, NULL), 0);
    CHECK_EQ(gort_chan_len(c1), 1);
    CHECK_EQ(gort_chan_try_send(c1, NULL), GORT_EAGAIN);
    CHECK_EQ(gort_chan_recv(c1, NULL), 0);
    char dummy = 'x';
    CHECK_EQ(gort_chan_send(c1, &dummy), 0);
    CHECK_EQ(gort_chan_recv(c1, &dummy), 0);
    CHECK_EQ(dummy, 'x'); /* nothing is copied for a zero-size element */
    CHECK_EQ(gort_chan_try_recv(c0, NULL), GORT_EAGAIN);
    CHECK_EQ(gort_chan_close(c0), 0);
    CHECK_EQ(gort_chan_recv(c0, NULL), GORT_ECLOSED);
    gort_chan_release(c0);
    gort_chan_release(c1);
}

TEST(chan_zerosize)
{
    run_main(zerosize_main, NULL);
}

/* ---- test/chan/sieve1.go -------------------------------------------------- */
/* The daisy chain of filters. Go leaks the goroutines when main returns; we
 * stop the generator through `quit` and let the closes cascade down the
 * chain, so every goroutine ends and every channel is released. */

typedef struct sieve_ctx {
    gort_chan *quit;
    gort_wg    wg;
} sieve_ctx;

typedef struct gen_arg {
    sieve_ctx *ctx;
    gort_chan *ch;
} gen_arg;

static void g_generate(void *p)
{
    gen_arg *a = p;
    for (int i = 2;; i++) {
        char q;
        gort_case cs[2] = {{.chan = a->ch, .dir = GORT_SEND, .elem = &i},
                           {.chan = a->ctx->quit, .dir = GORT_RECV, .elem = &q}};
        if (gort_select(cs, 2, GORT_FOREVER) == 1)
            break;
    }
    CHECK_EQ(gort_chan_close(a->ch), 0);
    gort_chan_release(a->ch);
    gort_wg_done(&a->ctx->wg);
    free(a);
}

typedef struct filter_arg {
    sieve_ctx *ctx;
    gort_chan *in, *out;
    int        prime;
} filter_arg;

static void g_filter(void *p)
{
    filter_arg *a = p;
    int i;
    while (gort_chan_recv(a->in, &i) == 0)
        if (i % a->prime != 0)
            send_int(a->out, i);
    CHECK_EQ(gort_chan_close(a->out), 0);
    gort_chan_release(a->in);
    gort_chan_release(a->out);
    gort_wg_done(&a->ctx->wg);
    free(a);
}

static void sieve_main(void *arg)
{
    (void)arg;
    static const int want[] = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                               43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};
    sieve_ctx ctx = {.quit = gort_chan_make(0, 0)};
    CHECK(ctx.quit != NULL);
    gort_chan *ch = make_int_chan(0);
    gen_arg *g = malloc(sizeof *g);
    CHECK(g != NULL);
    *g = (gen_arg){.ctx = &ctx, .ch = gort_chan_retain(ch)};
    gort_wg_add(&ctx.wg, 1);
    GO(g_generate, g);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int prime = recv_int(ch);
        CHECK_MSG(prime == want[i], "%d != %d", prime, want[i]);
        gort_chan *ch1 = make_int_chan(0);
        filter_arg *f = malloc(sizeof *f);
        CHECK(f != NULL);
        *f = (filter_arg){.ctx = &ctx, .in = ch, .out = gort_chan_retain(ch1), .prime = prime};
        gort_wg_add(&ctx.wg, 1);
        GO(g_filter, f); /* takes over our reference to ch */
        ch = ch1;
    }
    CHECK_EQ(gort_chan_close(ctx.quit), 0);
    while (gort_chan_recv(ch, NULL) == 0) { /* drain until the close cascades */
    }
    gort_wg_wait(&ctx.wg);
    gort_chan_release(ch);
    gort_chan_release(ctx.quit);
}

TEST(chan_sieve)
{
    run_main(sieve_main, NULL);
}

/* ---- negative deadlines (api.md §1.2: one rule) ------------------------------ */

/* Every negative deadline other than GORT_FOREVER is in the past: an
 * operation that can complete still does, one that would block fails with
 * GORT_ETIMEDOUT at once — on a foreign thread and in a goroutine. */
static void negative_deadlines(void *arg)
{
    (void)arg;
    static const int64_t past[] = {-2, -5, -GORT_SECOND, INT64_MIN};
    gort_chan *ch = gort_chan_make(sizeof(int), 1);
    GCHECK(ch != NULL);
    int v = 1;
    for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
        int64_t t0 = gort_now();
        GCHECK(gort_chan_recv_until(ch, &v, past[i]) == GORT_ETIMEDOUT);
        GCHECK(gort_chan_send_until(ch, &v, past[i]) == 0); /* ready: completes */
        GCHECK(gort_chan_send_until(ch, &v, past[i]) == GORT_ETIMEDOUT);
        gort_case c = {.chan = ch, .dir = GORT_SEND, .elem = &v};
        GCHECK(gort_select(&c, 1, past[i]) == GORT_ETIMEDOUT);
        gort_case two[2] = {{.chan = ch, .dir = GORT_SEND, .elem = &v}, {.chan = NULL, .dir = GORT_RECV}};
        GCHECK(gort_select(two, 2, past[i]) == GORT_ETIMEDOUT);
        GCHECK(gort_chan_recv_until(ch, &v, past[i]) == 0);
        GCHECK(gort_now() - t0 < 5 * GORT_SECOND * slow()); /* none of it waited */
    }
    gort_chan_release(ch);
}

TEST(deadline_negative_is_in_the_past_foreign)
{
    CHECK_EQ(gort_init(NULL), 0);
    negative_deadlines(NULL);
    CHECK_GOROUTINES();
    gort_shutdown();
}

TEST(deadline_negative_is_in_the_past_goroutine)
{
    run_main(negative_deadlines, NULL);
    CHECK_GOROUTINES();
}

HARNESS_MAIN()
