/*
 * test_sync.c — gort_mutex, gort_rwmutex, gort_wg, gort_once, gort_cond and
 * gort_sem, used from goroutines and from foreign threads (pthreads and the
 * case's own main thread) at the same time.
 *
 * Every TEST runs in its own forked process (harness.h) and starts and stops
 * the engine itself. CHECKs may fire on any thread. Nothing waits by
 * sleeping: joins are wait groups with a deadline (so a broken primitive
 * gives a FAIL, not a hang) or pthread_join; sleeps only widen contention
 * windows. Timing checks use generous slack, multiplied under
 * GORT_TEST_SCALE (sanitizers, Valgrind).
 *
 * White-box: at quiescence (no holder, no waiter) a mutex, rwmutex and wait
 * group are all-zero bytes again, sema counts included. all_zero() checks
 * that, which catches a stray semaphore unit left behind by a timed-out
 * waiter — the subtle failure mode of the _until variants.
 */
#include "gort.h"
#include "harness.h"
#include "test_util.h"
#include "internal.h" /* white-box: gort__sema, for the mutex layout mirror */

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS GORT_MILLISECOND
#define US GORT_MICROSECOND

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static uint64_t seed_for(uint64_t i)
{
    return 0x9E3779B97F4A7C15ull * (i + 1) | 1;
}

static void busy_ns(int64_t ns)
{
    int64_t end = gort_now() + ns;
    while (gort_now() < end) {
    }
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void go(void (*fn)(void *), void *arg)
{
    CHECK_EQ(gort_go(fn, arg), 0);
}

static void thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    CHECK_EQ(pthread_create(t, NULL, fn, arg), 0);
}

static void join(pthread_t t)
{
    CHECK_EQ(pthread_join(t, NULL), 0);
}

/* Join a wait group with an escape hatch. */
static void wg_join(gort_wg *wg)
{
    CHECK_MSG(gort_wg_wait_until(wg, hatch()) == 0, "wait group never reached zero");
}

static void engine_up(void)
{
    CHECK_EQ(gort_init(NULL), 0);
}

/* A seeded worker, work(shared, seed), that run_workers runs on goroutines
 * and pthreads at the same time. */
typedef void (*work_fn)(void *shared, uint64_t seed);
typedef struct {
    work_fn work;
    void   *shared;
    uint64_t seed;
} work_arg;

static void work_go(void *p)
{
    work_arg *a = p;
    a->work(a->shared, a->seed);
}

static void *work_thread(void *p)
{
    work_go(p);
    return NULL;
}

/* Runs work on nt pthreads, then on ng goroutines, the i-th of them
 * (goroutines first) with seed_for(seed_base + i); waits for wg (the caller
 * added ng + nt, or more, to it) and joins the threads. */
enum { MAX_WORKERS = 16 };
static void run_workers(work_fn work, void *shared, gort_wg *wg, int ng, int nt,
                        uint64_t seed_base)
{
    work_arg args[MAX_WORKERS];
    pthread_t th[MAX_WORKERS];
    CHECK(ng + nt <= MAX_WORKERS);
    for (int i = 0; i < ng + nt; i++)
        args[i] = (work_arg){work, shared, seed_for((uint64_t)i + seed_base)};
    for (int i = 0; i < nt; i++)
        thread(&th[i], work_thread, &args[ng + i]);
    for (int i = 0; i < ng; i++)
        go(work_go, &args[i]);
    wg_join(wg);
    for (int i = 0; i < nt; i++)
        join(th[i]);
}

/* ======================================================================== */
/* Mutex                                                                    */
/* ======================================================================== */

TEST(mutex_basic)
{
    engine_up();
    gort_mutex mu = GORT_MUTEX_INIT;
    CHECK_EQ(gort_mutex_trylock(&mu), 0);
    CHECK_EQ(gort_mutex_trylock(&mu), GORT_EBUSY);
    CHECK_EQ(gort_mutex_lock_until(&mu, GORT_NOWAIT), GORT_ETIMEDOUT);
    gort_mutex_unlock(&mu);
    CHECK_EQ(gort_mutex_lock_until(&mu, GORT_NOWAIT), 0);
    gort_mutex_unlock(&mu);
    CHECK_EQ(gort_mutex_lock_until(&mu, GORT_FOREVER), 0);
    gort_mutex_unlock(&mu);
    gort_mutex_lock(&mu);
    gort_mutex_unlock(&mu);
    CHECK(all_zero(&mu, sizeof mu));
    gort_shutdown();
}

/* Many goroutines and foreign threads increment a plain counter. */
typedef struct {
    gort_mutex mu;
    long long counter; /* guarded by mu */
    _Atomic int inside;
    long long iters;
    gort_wg wg;
} mx_shared;

static void mx_work(mx_shared *s, uint64_t seed)
{
    for (long long i = 0; i < s->iters; i++) {
        gort_mutex_lock(&s->mu);
        CHECK_EQ(atomic_exchange(&s->inside, 1), 0);
        long long c = s->counter;
        if ((rng(&seed) & 31) == 0)
            gort_yield(); /* hold it across a reschedule: forces parking */
        s->counter = c + 1;
        atomic_store(&s->inside, 0);
        gort_mutex_unlock(&s->mu);
    }
    gort_wg_done(&s->wg);
}

typedef struct {
    mx_shared *s;
    uint64_t seed;
} mx_arg;

static void mx_go(void *p)
{
    mx_arg *a = p;
    mx_work(a->s, a->seed);
}

static void *mx_thread(void *p)
{
    mx_arg *a = p;
    mx_work(a->s, a->seed);
    return NULL;
}

TEST(mutex_contention)
{
    enum { NG = 12, NT = 3 };
    engine_up();
    static mx_shared s;
    s.iters = scaled(20000, 200);
    gort_wg_add(&s.wg, NG + NT);
    mx_arg args[NG + NT];
    pthread_t th[NT];
    for (int i = 0; i < NG + NT; i++)
        args[i] = (mx_arg){&s, seed_for((uint64_t)i)};
    for (int i = 0; i < NT; i++)
        thread(&th[i], mx_thread, &args[NG + i]);
    for (int i = 0; i < NG; i++)
        go(mx_go, &args[i]);
    /* The main thread (foreign) waits. */
    wg_join(&s.wg);
    for (int i = 0; i < NT; i++)
        join(th[i]);
    CHECK_EQ(s.counter, (long long)(NG + NT) * s.iters);
    CHECK(all_zero(&s.mu, sizeof s.mu));
    gort_shutdown();
}

/* lock_until: times out (goroutine and foreign thread), leaves nothing
 * behind, and succeeds when the holder lets go in time. */
typedef struct {
    gort_mutex *mu;
    int64_t deadline;
    int result;
    int64_t returned_at;
    gort_wg *wg;
} lu_arg;

static void lu_call(lu_arg *a)
{
    a->result = gort_mutex_lock_until(a->mu, a->deadline);
    a->returned_at = gort_now();
    if (a->result == 0)
        gort_mutex_unlock(a->mu);
    gort_wg_done(a->wg);
}

static void lu_go(void *p)
{
    lu_call(p);
}

static void *lu_thread(void *p)
{
    lu_call(p);
    return NULL;
}

TEST(mutex_lock_until)
{
    engine_up();
    gort_mutex mu = GORT_MUTEX_INIT;
    gort_wg wg = GORT_WG_INIT;
    pthread_t th;

    /* Timeouts while held. */
    gort_mutex_lock(&mu);
    int64_t d = gort_now() + 50 * MS;
    lu_arg a1 = {&mu, d, 1, 0, &wg}, a2 = {&mu, d, 1, 0, &wg};
    gort_wg_add(&wg, 2);
    go(lu_go, &a1);
    thread(&th, lu_thread, &a2);
    wg_join(&wg);
    join(th);
    CHECK_EQ(a1.result, GORT_ETIMEDOUT);
    CHECK_EQ(a2.result, GORT_ETIMEDOUT);
    CHECK(a1.returned_at >= d && a2.returned_at >= d);
    CHECK_MSG(a1.returned_at < d + 2 * GORT_SECOND * slow(), "late by %lld ns",
              (long long)(a1.returned_at - d));
    CHECK_EQ(gort_mutex_lock_until(&mu, gort_now() + MS), GORT_ETIMEDOUT); /* foreign, main */
    gort_mutex_unlock(&mu);
    CHECK_MSG(all_zero(&mu, sizeof mu), "timed-out waiters left state behind");

    /* Success when released before the deadline. */
    gort_mutex_lock(&mu);
    d = gort_now() + 20 * GORT_SECOND * slow();
    a1 = (lu_arg){&mu, d, 1, 0, &wg};
    a2 = (lu_arg){&mu, d, 1, 0, &wg};
    gort_wg_add(&wg, 2);
    go(lu_go, &a1);
    thread(&th, lu_thread, &a2);
    gort_sleep(20 * MS); /* let them queue (not required for correctness) */
    gort_mutex_unlock(&mu);
    wg_join(&wg);
    join(th);
    CHECK_EQ(a1.result, 0);
    CHECK_EQ(a2.result, 0);
    CHECK(all_zero(&mu, sizeof mu));
    gort_shutdown();
}

/* Timed, untimed and try locks mixed, with long critical sections now and
 * then (> 1 ms: starvation mode), from goroutines and threads. */
typedef struct {
    gort_mutex mu;
    long long counter; /* guarded by mu */
    _Atomic int inside;
    _Atomic long long acquired, timeouts, busy;
    long long iters;
    gort_wg wg;
} lus_shared;

static void lus_work(void *p, uint64_t seed)
{
    lus_shared *s = p;
    for (long long i = 0; i < s->iters; i++) {
        uint64_t r = rng(&seed);
        int got;
        switch (r % 5) {
        case 0:
        case 1:
            gort_mutex_lock(&s->mu);
            got = 0;
            break;
        case 2:
            got = gort_mutex_lock_until(&s->mu, gort_now() + (int64_t)((r >> 8) % (300 * US)));
            break;
        case 3:
            got = gort_mutex_lock_until(&s->mu, gort_now() + (int64_t)((r >> 8) % (3 * MS)));
            break;
        default:
            got = gort_mutex_trylock(&s->mu);
            break;
        }
        if (got == GORT_ETIMEDOUT) {
            atomic_fetch_add(&s->timeouts, 1);
            continue;
        }
        if (got == GORT_EBUSY) {
            atomic_fetch_add(&s->busy, 1);
            continue;
        }
        CHECK_EQ(got, 0);
        CHECK_EQ(atomic_exchange(&s->inside, 1), 0);
        s->counter++;
        atomic_fetch_add(&s->acquired, 1);
        if (((r >> 20) & 63) == 0)
            gort_sleep(1500 * US); /* long hold: others starve */
        else if (((r >> 20) & 7) == 0)
            gort_yield();
        atomic_store(&s->inside, 0);
        gort_mutex_unlock(&s->mu);
    }
    gort_wg_done(&s->wg);
}

TEST(mutex_lock_until_stress)
{
    enum { NG = 8, NT = 2 };
    engine_up();
    static lus_shared s;
    s.iters = scaled(1500, 50);
    gort_wg_add(&s.wg, NG + NT);
    run_workers(lus_work, &s, &s.wg, NG, NT, 100);
    CHECK_EQ(s.counter, atomic_load(&s.acquired));
    CHECK_EQ(atomic_load(&s.acquired) + atomic_load(&s.timeouts) + atomic_load(&s.busy),
             (long long)(NG + NT) * s.iters);
    CHECK_MSG(all_zero(&s.mu, sizeof s.mu), "mutex not clean after stress: state %#llx",
              (unsigned long long)s.mu.opaque_[0]);
    /* Still fully functional: a sleeper is woken by an unlock. */
    gort_wg wg = GORT_WG_INIT;
    gort_mutex_lock(&s.mu);
    lu_arg a = {&s.mu, GORT_FOREVER, 1, 0, &wg};
    gort_wg_add(&wg, 1);
    go(lu_go, &a);
    gort_sleep(5 * MS);
    gort_mutex_unlock(&s.mu);
    wg_join(&wg);
    CHECK_EQ(a.result, 0);
    gort_shutdown();
}

/* Starvation mode: a waiter gets the lock while another goroutine relocks it
 * in a loop (Go's TestMutexFairness), both with a sleep inside the critical
 * section and with a truly tight loop; waiters are a goroutine and a thread. */
typedef struct {
    gort_mutex mu;
    _Atomic int stop;
    int tight;
    gort_wg hog_wg, wait_wg;
} fair_shared;

static void fair_hog(void *p)
{
    fair_shared *s = p;
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        gort_mutex_lock(&s->mu);
        if (!s->tight)
            gort_sleep(100 * US);
        gort_mutex_unlock(&s->mu);
    }
    gort_wg_done(&s->hog_wg);
}

static void fair_waiter(fair_shared *s)
{
    for (int i = 0; i < 10; i++) {
        gort_sleep(100 * US);
        gort_mutex_lock(&s->mu);
        gort_mutex_unlock(&s->mu);
    }
    gort_wg_done(&s->wait_wg);
}

static void fair_waiter_go(void *p)
{
    fair_waiter(p);
}

static void *fair_waiter_thread(void *p)
{
    fair_waiter(p);
    return NULL;
}

static void fair_run(int tight)
{
    static fair_shared s;
    memset(&s, 0, sizeof s);
    s.tight = tight;
    /* Tight hogs never block: each keeps a P to itself (no preemption
     * needed for the test), so leave the waiter goroutine a P. */
    int hogs = tight ? 1 : 2;
    gort_wg_add(&s.hog_wg, hogs);
    for (int i = 0; i < hogs; i++)
        go(fair_hog, &s);
    gort_sleep(2 * MS); /* the hogs are at it */
    pthread_t th;
    gort_wg_add(&s.wait_wg, 2);
    go(fair_waiter_go, &s);
    thread(&th, fair_waiter_thread, &s);
    int r = gort_wg_wait_until(&s.wait_wg, gort_now() + 10 * GORT_SECOND * slow());
    CHECK_MSG(r == 0, "waiters could not get the mutex in 10 s (tight=%d)", tight);
    atomic_store(&s.stop, 1);
    wg_join(&s.hog_wg);
    join(th);
    CHECK(all_zero(&s.mu, sizeof s.mu));
}

TEST(mutex_starvation)
{
    engine_up();
    fair_run(0);
    gort_shutdown();
}

TEST(mutex_starvation_tight)
{
    engine_up();
    /* The hog never blocks: on the only P the waiter goroutine runs only
     * if the scheduler preempts it. */
    const char *ap = getenv("GORT_ASYNCPREEMPT");
    if (gort_procs() < 2 && ap && strcmp(ap, "0") == 0) {
        gort_shutdown();
        SKIP("needs 2 Ps or asynchronous preemption");
    }
    fair_run(1);
    gort_shutdown();
}

/* Timed waiters on a mutex that is starving (a holder that relocks at once
 * and holds it for 2 ms): they time out while registered in starvation
 * mode, sometimes as the last waiter (which must also end starvation mode,
 * or the holder's unlock would hand the mutex to nobody). */
typedef struct {
    gort_mutex mu;
    _Atomic int stop;
    _Atomic long long ok, timeouts;
    gort_wg wg;
} st_shared;

static void st_holder(void *p)
{
    st_shared *s = p;
    for (int i = 0; i < 60; i++) {
        gort_mutex_lock(&s->mu);
        gort_sleep(2 * MS);
        gort_mutex_unlock(&s->mu);
    }
    atomic_store(&s->stop, 1);
    gort_wg_done(&s->wg);
}

static void st_waiter(void *p, uint64_t seed)
{
    st_shared *s = p;
    while (!atomic_load(&s->stop)) {
        int64_t d = gort_now() + 1500 * US + (int64_t)(rng(&seed) % (4 * MS));
        int r = gort_mutex_lock_until(&s->mu, d);
        if (r == 0) {
            atomic_fetch_add(&s->ok, 1);
            gort_mutex_unlock(&s->mu);
        } else {
            CHECK_EQ(r, GORT_ETIMEDOUT);
            CHECK(gort_now() >= d);
            atomic_fetch_add(&s->timeouts, 1);
        }
    }
    gort_wg_done(&s->wg);
}

TEST(mutex_lock_until_starving)
{
    enum { NG = 2, NT = 1 };
    engine_up();
    static st_shared s;
    gort_wg_add(&s.wg, 1 + NG + NT);
    go(st_holder, &s);
    run_workers(st_waiter, &s, &s.wg, NG, NT, 300);
    CHECK(atomic_load(&s.timeouts) > 0);
    CHECK_MSG(all_zero(&s.mu, sizeof s.mu), "state %#llx", (unsigned long long)s.mu.opaque_[0]);
    gort_shutdown();
}

/* ---- white-box: the rare exits of a timed-out mutex waiter ---------------
 * Mirrors sync.c's mutex layout (state word, then the gort__sema) and
 * drives the mutex into the states that, in real runs, exist only for a few
 * instructions inside another thread's unlock: "unlock has decided to wake
 * a sleeper but not yet released the unit" and "a starving unlock has
 * cleared LOCKED but not yet handed off". The waiter's deadline expires in
 * exactly that state. If the waiter is slower than the sleeps below, it
 * takes the other (common) exit with the same outcome, so the sleeps only
 * decide which path is covered, never the verdict. */
enum { WB_LOCKED = 1, WB_WOKEN = 2, WB_STARVING = 4, WB_WAITER = 8 };
typedef struct __attribute__((__may_alias__)) {
    _Atomic uint32_t state;
    uint32_t pad;
    gort__sema sema;
} wb_mutex;

_Static_assert(sizeof(wb_mutex) <= sizeof(gort_mutex), "wb_mutex");

static wb_mutex *wb(gort_mutex *mu)
{
    return (wb_mutex *)(void *)mu;
}

/* Until the waiter has registered and is asleep (1), or has already given
 * up because it started after its deadline on a very slow run (0). */
static int wb_await_sleeping(gort_mutex *mu, uint32_t state, gort_wg *finished)
{
    int64_t escape = hatch();
    while (atomic_load(&wb(mu)->state) != state || atomic_load(&wb(mu)->sema.nwait) != 1) {
        if (gort_wg_wait_until(finished, GORT_NOWAIT) == 0)
            return 0;
        CHECK_MSG(gort_now() < escape, "state %#x nwait %u", (unsigned)atomic_load(&wb(mu)->state),
                  (unsigned)atomic_load(&wb(mu)->sema.nwait));
        gort_yield();
    }
    return 1;
}

static void wb_case(int kind, int waiter_is_goroutine)
{
    gort_mutex mu = GORT_MUTEX_INIT;
    gort_wg wg = GORT_WG_INIT;
    gort_mutex_lock(&mu);
    int64_t d = gort_now() + 100 * MS;
    lu_arg a = {&mu, d, 1, 0, &wg};
    gort_wg_add(&wg, 1);
    pthread_t th;
    if (waiter_is_goroutine)
        go(lu_go, &a);
    else
        thread(&th, lu_thread, &a);
    wb_mutex *m = wb(&mu);
    if (!wb_await_sleeping(&mu, WB_LOCKED | WB_WAITER, &wg)) {
        CHECK_EQ(a.result, GORT_ETIMEDOUT);
        if (!waiter_is_goroutine)
            join(th);
        gort_mutex_unlock(&mu);
        CHECK(all_zero(&mu, sizeof mu));
        return;
    }
    uint32_t expect = WB_LOCKED | WB_WAITER;
    switch (kind) {
    case 0: /* normal unlock, stopped after its CAS: waiters 0, WOKEN */
        CHECK(atomic_compare_exchange_strong(&m->state, &expect, WB_WOKEN));
        break;
    case 1: /* starving unlock, stopped before the hand-off */
        CHECK(atomic_compare_exchange_strong(&m->state, &expect, WB_STARVING | WB_WAITER));
        break;
    default: /* starving and held; the only waiter times out */
        CHECK(atomic_compare_exchange_strong(&m->state, &expect,
                                             WB_LOCKED | WB_STARVING | WB_WAITER));
        break;
    }
    if (kind != 2) {
        gort_sleep(d - gort_now() + 20 * MS); /* deadline passes; waiter must wait for the unit */
        gort__sema_release(&m->sema, kind == 1);
    }
    wg_join(&wg);
    if (!waiter_is_goroutine)
        join(th);
    if (kind == 2) {
        CHECK_EQ(a.result, GORT_ETIMEDOUT);
        /* It left as the last waiter: starvation mode must be over. */
        CHECK_EQ(atomic_load(&m->state), WB_LOCKED);
        gort_mutex_unlock(&mu);
    } else {
        /* It ended up with the mutex (and lu_call released it). */
        CHECK_EQ(a.result, 0);
    }
    CHECK_MSG(all_zero(&mu, sizeof mu), "kind %d: state %#x count %u nwait %u", kind,
              (unsigned)atomic_load(&m->state), (unsigned)atomic_load(&m->sema.count),
              (unsigned)atomic_load(&m->sema.nwait));
}

TEST(mutex_timeout_whitebox)
{
    engine_up();
    for (int kind = 0; kind < 3; kind++)
        for (int g = 0; g < 2; g++)
            wb_case(kind, g);
    gort_shutdown();
}

/* ======================================================================== */
/* WaitGroup                                                                */
/* ======================================================================== */

typedef struct {
    gort_wg wg;
    _Atomic long long work;
} wg_shared;

static void wg_worker(void *p)
{
    wg_shared *s = p;
    if (atomic_fetch_add(&s->work, 1) % 3 == 0)
        gort_yield();
    gort_wg_done(&s->wg);
}

static void *wg_worker_thread(void *p)
{
    wg_worker(p);
    return NULL;
}

/* Done from goroutines, Wait on a foreign thread; reused many times. */
TEST(wg_goroutines_done_foreign_waits)
{
    engine_up();
    static wg_shared s;
    long long rounds = scaled(300, 10);
    const int n = 50;
    for (long long r = 0; r < rounds; r++) {
        gort_wg_add(&s.wg, n);
        for (int i = 0; i < n; i++)
            go(wg_worker, &s);
        gort_wg_wait(&s.wg);
        CHECK_EQ(atomic_load(&s.work), (r + 1) * n);
    }
    CHECK(all_zero(&s.wg, sizeof s.wg));
    gort_shutdown();
}

/* Done from foreign threads, Wait in several goroutines and a thread. */
typedef struct {
    wg_shared *s;
    long long expect;
    gort_wg *joined;
} wgw_arg;

static void wgw_wait(wgw_arg *a)
{
    gort_wg_wait(&a->s->wg);
    CHECK_EQ(atomic_load(&a->s->work), a->expect);
    gort_wg_done(a->joined);
}

static void wgw_go(void *p)
{
    wgw_wait(p);
}

static void *wgw_thread(void *p)
{
    wgw_wait(p);
    return NULL;
}

static void wg_foreign_body(void *unused)
{
    (void)unused;
    enum { NT = 8, NW = 4 };
    static wg_shared s;
    gort_wg joined = GORT_WG_INIT;
    for (int round = 0; round < 20; round++) {
        gort_wg_add(&s.wg, NT);
        wgw_arg wa = {&s, (long long)(round + 1) * NT, &joined};
        gort_wg_add(&joined, NW + 1);
        pthread_t waiter;
        thread(&waiter, wgw_thread, &wa);
        for (int i = 0; i < NW; i++)
            go(wgw_go, &wa);
        pthread_t th[NT];
        for (int i = 0; i < NT; i++)
            thread(&th[i], wg_worker_thread, &s);
        gort_wg_wait(&s.wg); /* this goroutine waits too */
        CHECK_EQ(atomic_load(&s.work), (long long)(round + 1) * NT);
        wg_join(&joined); /* every waiter returned before the next Add */
        for (int i = 0; i < NT; i++)
            join(th[i]);
        join(waiter);
    }
    CHECK(all_zero(&s.wg, sizeof s.wg));
}

TEST(wg_foreign_done_goroutines_wait)
{
    CHECK_EQ(gort_main(wg_foreign_body, NULL), 0);
}

typedef struct {
    gort_wg *wg;
    int64_t deadline;
    int result;
    int64_t returned_at;
    _Atomic int *released; /* set before the final Done */
    int early;             /* returned 0 before the release */
    gort_wg *joined;
} wgt_arg;

static void wgt_call(wgt_arg *a)
{
    a->result = gort_wg_wait_until(a->wg, a->deadline);
    a->returned_at = gort_now();
    a->early = a->result == 0 && a->released && !atomic_load(a->released);
    gort_wg_done(a->joined);
}

static void wgt_go(void *p)
{
    wgt_call(p);
}

static void *wgt_thread(void *p)
{
    wgt_call(p);
    return NULL;
}

TEST(wg_wait_until)
{
    engine_up();
    gort_wg wg = GORT_WG_INIT, joined = GORT_WG_INIT;
    CHECK_EQ(gort_wg_wait_until(&wg, GORT_NOWAIT), 0); /* counter 0 */
    gort_wg_add(&wg, 1);
    CHECK_EQ(gort_wg_wait_until(&wg, GORT_NOWAIT), GORT_ETIMEDOUT);
    int64_t d = gort_now() + 30 * MS;
    CHECK_EQ(gort_wg_wait_until(&wg, d), GORT_ETIMEDOUT);
    CHECK(gort_now() >= d);

    /* A goroutine and a thread time out too. */
    d = gort_now() + 30 * MS;
    wgt_arg a1 = {&wg, d, 1, 0, NULL, 0, &joined}, a2 = a1;
    gort_wg_add(&joined, 2);
    go(wgt_go, &a1);
    pthread_t th;
    thread(&th, wgt_thread, &a2);
    wg_join(&joined);
    join(th);
    CHECK_EQ(a1.result, GORT_ETIMEDOUT);
    CHECK_EQ(a2.result, GORT_ETIMEDOUT);
    CHECK(a1.returned_at >= d && a2.returned_at >= d);

    /* The timed-out waiters took their registrations back: the next waiter
     * is woken by the final Done, and nothing is left over. */
    a1 = (wgt_arg){&wg, GORT_FOREVER, 1, 0, NULL, 0, &joined};
    gort_wg_add(&joined, 1);
    go(wgt_go, &a1);
    gort_sleep(5 * MS);
    gort_wg_done(&wg);
    wg_join(&joined);
    CHECK_EQ(a1.result, 0);
    CHECK(all_zero(&wg, sizeof wg));
    gort_shutdown();
}

/* Timed waiters whose deadlines race with the final Done. Afterwards no
 * stray unit may be left in the group: the next (reused) round must block. */
TEST(wg_wait_until_race)
{
    enum { NG = 6 };
    engine_up();
    long long rounds = scaled(300, 20);
    uint64_t seed = seed_for(7);
    gort_wg wg = GORT_WG_INIT, joined = GORT_WG_INIT;
    for (long long r = 0; r < rounds; r++) {
        _Atomic int released = 0;
        gort_wg_add(&wg, 1);
        wgt_arg a[NG + 2];
        int64_t now = gort_now();
        for (int i = 0; i < NG + 1; i++)
            a[i] = (wgt_arg){&wg, now + (int64_t)(rng(&seed) % (400 * US)), 1, 0, &released, 0,
                             &joined};
        a[NG + 1] = (wgt_arg){&wg, GORT_FOREVER, 1, 0, &released, 0, &joined};
        gort_wg_add(&joined, NG + 2);
        pthread_t th;
        thread(&th, wgt_thread, &a[NG]);
        for (int i = 0; i < NG; i++)
            go(wgt_go, &a[i]);
        go(wgt_go, &a[NG + 1]);
        busy_ns((int64_t)(rng(&seed) % (400 * US)));
        atomic_store(&released, 1);
        gort_wg_done(&wg);
        wg_join(&joined);
        join(th);
        for (int i = 0; i < NG + 2; i++) {
            CHECK_MSG(a[i].result == 0 || a[i].result == GORT_ETIMEDOUT, "result %d",
                      a[i].result);
            CHECK_MSG(!a[i].early, "waiter %d returned before the counter reached zero", i);
        }
        CHECK_EQ(a[NG + 1].result, 0);
        CHECK_MSG(all_zero(&wg, sizeof wg), "round %lld left %#llx/%#llx", r,
                  (unsigned long long)wg.opaque_[0], (unsigned long long)wg.opaque_[1]);
        /* Functional form of the same check. */
        gort_wg_add(&wg, 1);
        CHECK_EQ(gort_wg_wait_until(&wg, gort_now() + 200 * US), GORT_ETIMEDOUT);
        gort_wg_done(&wg);
    }
    gort_shutdown();
}

/* ======================================================================== */
/* Once                                                                     */
/* ======================================================================== */

typedef struct {
    gort_once once;
    int value;  /* written by the once function only */
    int calls;  /* ditto */
    gort_wg wg;
} once_shared;

static void once_fn(void *p)
{
    once_shared *s = p;
    s->calls++;
    gort_sleep(2 * MS); /* others pile up meanwhile */
    s->value = 42;
}

static void once_caller(void *p)
{
    once_shared *s = p;
    gort_once_do(&s->once, once_fn, s);
    CHECK_EQ(s->value, 42);
    gort_wg_done(&s->wg);
}

static void *once_thread(void *p)
{
    once_caller(p);
    return NULL;
}

static void once_never(void *p)
{
    (void)p;
    CHECK_MSG(0, "second function ran");
}

TEST(once_race)
{
    enum { NG = 32, NT = 4 };
    engine_up();
    for (int round = 0; round < 5; round++) {
        static once_shared s;
        memset(&s, 0, sizeof s);
        gort_wg_add(&s.wg, NG + NT);
        pthread_t th[NT];
        for (int i = 0; i < NT; i++)
            thread(&th[i], once_thread, &s);
        for (int i = 0; i < NG; i++)
            go(once_caller, &s);
        wg_join(&s.wg);
        for (int i = 0; i < NT; i++)
            join(th[i]);
        CHECK_EQ(s.calls, 1);
        gort_once_do(&s.once, once_never, NULL);
        CHECK_EQ(s.calls, 1);
    }
    gort_shutdown();
}

/* ======================================================================== */
/* Cond                                                                     */
/* ======================================================================== */

/* Bounded buffer with two conditions; producers and consumers are
 * goroutines and threads. */
enum { BB_CAP = 4 };
typedef struct {
    gort_mutex mu;
    gort_cond not_empty, not_full;
    long long buf[BB_CAP]; /* guarded by mu */
    int head, len;         /* guarded by mu */
    long long per_producer;
    _Atomic long long sum;
    _Atomic long long taken;
    long long total;
    gort_wg wg;
} bb_shared;

static void bb_produce(bb_shared *s, long long base)
{
    for (long long i = 1; i <= s->per_producer; i++) {
        gort_mutex_lock(&s->mu);
        while (s->len == BB_CAP)
            gort_cond_wait(&s->not_full, &s->mu);
        s->buf[(s->head + s->len++) % BB_CAP] = base + i;
        gort_cond_signal(&s->not_empty);
        gort_mutex_unlock(&s->mu);
    }
    gort_wg_done(&s->wg);
}

static void bb_consume(bb_shared *s)
{
    for (;;) {
        gort_mutex_lock(&s->mu);
        while (s->len == 0 && atomic_load(&s->taken) < s->total)
            gort_cond_wait(&s->not_empty, &s->mu);
        if (s->len == 0) { /* everything consumed */
            gort_mutex_unlock(&s->mu);
            break;
        }
        long long v = s->buf[s->head];
        s->head = (s->head + 1) % BB_CAP;
        s->len--;
        long long t = atomic_fetch_add(&s->taken, 1) + 1;
        gort_cond_signal(&s->not_full);
        if (t == s->total)
            gort_cond_broadcast(&s->not_empty); /* release the other consumers */
        gort_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->sum, v);
    }
    gort_wg_done(&s->wg);
}

static void bb_prod_go(void *p)
{
    void **a = p;
    bb_produce(a[0], (long long)(intptr_t)a[1]);
}

static void *bb_prod_thread(void *p)
{
    bb_prod_go(p);
    return NULL;
}

static void bb_cons_go(void *p)
{
    bb_consume(p);
}

static void *bb_cons_thread(void *p)
{
    bb_consume(p);
    return NULL;
}

TEST(cond_signal_bounded_buffer)
{
    enum { PG = 4, PT = 2, CG = 4, CT = 2 };
    engine_up();
    static bb_shared s;
    s.per_producer = scaled(5000, 100);
    s.total = s.per_producer * (PG + PT);
    gort_wg_add(&s.wg, PG + PT + CG + CT);
    void *pa[PG + PT][2];
    long long expect = 0;
    for (int i = 0; i < PG + PT; i++) {
        long long base = (long long)i * 1000000000LL;
        pa[i][0] = &s;
        pa[i][1] = (void *)(intptr_t)base;
        expect += base * s.per_producer + s.per_producer * (s.per_producer + 1) / 2;
    }
    pthread_t th[PT + CT];
    for (int i = 0; i < PT; i++)
        thread(&th[i], bb_prod_thread, pa[PG + i]);
    for (int i = 0; i < CT; i++)
        thread(&th[PT + i], bb_cons_thread, &s);
    for (int i = 0; i < PG; i++)
        go(bb_prod_go, pa[i]);
    for (int i = 0; i < CG; i++)
        go(bb_cons_go, &s);
    wg_join(&s.wg);
    for (int i = 0; i < PT + CT; i++)
        join(th[i]);
    CHECK_EQ(atomic_load(&s.taken), s.total);
    CHECK_EQ(atomic_load(&s.sum), expect);
    CHECK(all_zero(&s.mu, sizeof s.mu));
    gort_shutdown();
}

typedef struct {
    gort_mutex mu;
    gort_cond cond;
    int waiting; /* guarded by mu */
    int flag;    /* guarded by mu */
    gort_wg wg;
} bc_shared;

static void bc_wait(bc_shared *s)
{
    gort_mutex_lock(&s->mu);
    s->waiting++;
    while (!s->flag)
        gort_cond_wait(&s->cond, &s->mu);
    s->waiting--;
    gort_mutex_unlock(&s->mu);
    gort_wg_done(&s->wg);
}

static void bc_go(void *p)
{
    bc_wait(p);
}

static void *bc_thread(void *p)
{
    bc_wait(p);
    return NULL;
}

/* Wait (yielding) until n waiters have registered under mu. */
static void await_waiting(gort_mutex *mu, int *waiting, int n)
{
    int64_t escape = hatch();
    for (;;) {
        gort_mutex_lock(mu);
        int w = *waiting;
        gort_mutex_unlock(mu);
        if (w >= n)
            return;
        CHECK_MSG(gort_now() < escape, "only %d of %d waiters arrived", w, n);
        gort_yield();
    }
}

TEST(cond_broadcast)
{
    enum { NG = 20, NT = 3 };
    engine_up();
    for (int round = 0; round < 10; round++) {
        static bc_shared s;
        memset(&s, 0, sizeof s);
        gort_wg_add(&s.wg, NG + NT);
        pthread_t th[NT];
        for (int i = 0; i < NT; i++)
            thread(&th[i], bc_thread, &s);
        for (int i = 0; i < NG; i++)
            go(bc_go, &s);
        await_waiting(&s.mu, &s.waiting, NG + NT);
        gort_cond_signal(&s.cond); /* one spurious-for-them wake-up */
        gort_mutex_lock(&s.mu);
        s.flag = 1;
        gort_cond_broadcast(&s.cond);
        gort_mutex_unlock(&s.mu);
        wg_join(&s.wg);
        for (int i = 0; i < NT; i++)
            join(th[i]);
        CHECK_EQ(s.waiting, 0);
        gort_cond_broadcast(&s.cond); /* no waiters: no-op */
        gort_cond_signal(&s.cond);
    }
    gort_shutdown();
}

typedef struct {
    gort_mutex *mu;
    gort_cond *cond;
    int64_t deadline;
    int result;
    int held_after; /* mutex was held on return */
    int64_t returned_at;
    gort_wg *joined;
} cwu_arg;

static void cwu_call(cwu_arg *a)
{
    gort_mutex_lock(a->mu);
    a->result = gort_cond_wait_until(a->cond, a->mu, a->deadline);
    a->returned_at = gort_now();
    a->held_after = gort_mutex_trylock(a->mu) == GORT_EBUSY;
    gort_mutex_unlock(a->mu);
    gort_wg_done(a->joined);
}

static void cwu_go(void *p)
{
    cwu_call(p);
}

static void *cwu_thread(void *p)
{
    cwu_call(p);
    return NULL;
}

TEST(cond_wait_until)
{
    engine_up();
    gort_mutex mu = GORT_MUTEX_INIT;
    gort_cond cond = GORT_COND_INIT;
    gort_wg joined = GORT_WG_INIT;

    gort_mutex_lock(&mu);
    CHECK_EQ(gort_cond_wait_until(&cond, &mu, GORT_NOWAIT), GORT_ETIMEDOUT);
    CHECK_EQ(gort_mutex_trylock(&mu), GORT_EBUSY);
    int64_t d = gort_now() + 20 * MS;
    CHECK_EQ(gort_cond_wait_until(&cond, &mu, d), GORT_ETIMEDOUT);
    CHECK(gort_now() >= d);
    CHECK_EQ(gort_mutex_trylock(&mu), GORT_EBUSY);
    gort_mutex_unlock(&mu);

    /* Goroutine and thread time out with the mutex re-held. */
    d = gort_now() + 30 * MS;
    cwu_arg a1 = {&mu, &cond, d, 1, 0, 0, &joined}, a2 = a1;
    gort_wg_add(&joined, 2);
    go(cwu_go, &a1);
    pthread_t th;
    thread(&th, cwu_thread, &a2);
    wg_join(&joined);
    join(th);
    CHECK_EQ(a1.result, GORT_ETIMEDOUT);
    CHECK_EQ(a2.result, GORT_ETIMEDOUT);
    CHECK(a1.held_after && a2.held_after);
    CHECK(a1.returned_at >= d && a2.returned_at >= d);

    /* And are woken by a signal before their deadline. */
    d = gort_now() + 20 * GORT_SECOND * slow();
    a1 = (cwu_arg){&mu, &cond, d, 1, 0, 0, &joined};
    a2 = a1;
    gort_wg_add(&joined, 2);
    go(cwu_go, &a1);
    thread(&th, cwu_thread, &a2);
    int64_t escape = hatch();
    for (;;) { /* signal until both have been woken */
        gort_cond_signal(&cond);
        if (gort_wg_wait_until(&joined, gort_now() + MS) == 0)
            break;
        CHECK(gort_now() < escape);
    }
    join(th);
    CHECK_EQ(a1.result, 0);
    CHECK_EQ(a2.result, 0);
    CHECK(a1.held_after && a2.held_after);
    CHECK(all_zero(&mu, sizeof mu));
    gort_shutdown();
}

/* A waiter whose deadline races with signal must never swallow the
 * signal: if no timed waiter reports a wake-up, the untimed one must get it. */
typedef struct {
    gort_mutex mu;
    gort_cond cond;
    int waiting; /* guarded by mu */
    _Atomic int woken_timed;
    gort_wg timed_wg, forever_wg;
} cr_shared;

typedef struct {
    cr_shared *s;
    int64_t deadline;
} cr_arg;

static void cr_timed(cr_arg *a)
{
    cr_shared *s = a->s;
    gort_mutex_lock(&s->mu);
    s->waiting++;
    int r = gort_cond_wait_until(&s->cond, &s->mu, a->deadline);
    gort_mutex_unlock(&s->mu);
    CHECK(r == 0 || r == GORT_ETIMEDOUT);
    if (r == 0)
        atomic_fetch_add(&s->woken_timed, 1);
    gort_wg_done(&s->timed_wg);
}

static void cr_timed_go(void *p)
{
    cr_timed(p);
}

static void *cr_timed_thread(void *p)
{
    cr_timed(p);
    return NULL;
}

static void cr_forever(void *p)
{
    cr_shared *s = p;
    gort_mutex_lock(&s->mu);
    s->waiting++;
    gort_cond_wait(&s->cond, &s->mu); /* exactly one wait: no spurious wake-ups */
    gort_mutex_unlock(&s->mu);
    gort_wg_done(&s->forever_wg);
}

TEST(cond_timeout_never_swallows_signal)
{
    enum { NG = 5 };
    engine_up();
    long long rounds = scaled(300, 20);
    uint64_t seed = seed_for(3);
    for (long long r = 0; r < rounds; r++) {
        static cr_shared s;
        memset(&s, 0, sizeof s);
        cr_arg a[NG + 1];
        int64_t now = gort_now();
        for (int i = 0; i < NG + 1; i++)
            a[i] = (cr_arg){&s, now + 100 * US + (int64_t)(rng(&seed) % (400 * US))};
        gort_wg_add(&s.timed_wg, NG + 1);
        gort_wg_add(&s.forever_wg, 1);
        pthread_t th;
        thread(&th, cr_timed_thread, &a[NG]);
        for (int i = 0; i < NG; i++)
            go(cr_timed_go, &a[i]);
        go(cr_forever, &s);
        await_waiting(&s.mu, &s.waiting, NG + 2);
        busy_ns((int64_t)(rng(&seed) % (500 * US)));
        gort_cond_signal(&s.cond);
        wg_join(&s.timed_wg);
        join(th);
        int wt = atomic_load(&s.woken_timed);
        CHECK_MSG(wt <= 1, "one signal woke %d waiters", wt);
        if (wt == 0) {
            /* The signal must have gone to the untimed waiter. */
            int rr = gort_wg_wait_until(&s.forever_wg, gort_now() + 10 * GORT_SECOND * slow());
            CHECK_MSG(rr == 0, "round %lld: signal lost to a timed-out waiter", r);
        } else {
            gort_cond_signal(&s.cond);
            wg_join(&s.forever_wg);
        }
    }
    gort_shutdown();
}

/* ======================================================================== */
/* RWMutex                                                                  */
/* ======================================================================== */

TEST(rwmutex_try)
{
    engine_up();
    gort_rwmutex rw = GORT_RWMUTEX_INIT;
    CHECK_EQ(gort_rwmutex_tryrlock(&rw), 0);
    CHECK_EQ(gort_rwmutex_tryrlock(&rw), 0);
    CHECK_EQ(gort_rwmutex_trylock(&rw), GORT_EBUSY);
    gort_rwmutex_runlock(&rw);
    gort_rwmutex_runlock(&rw);
    CHECK_EQ(gort_rwmutex_trylock(&rw), 0);
    CHECK_EQ(gort_rwmutex_tryrlock(&rw), GORT_EBUSY);
    CHECK_EQ(gort_rwmutex_trylock(&rw), GORT_EBUSY);
    gort_rwmutex_unlock(&rw);
    gort_rwmutex_lock(&rw);
    gort_rwmutex_unlock(&rw);
    gort_rwmutex_rlock(&rw);
    gort_rwmutex_runlock(&rw);
    CHECK(all_zero(&rw, sizeof rw));
    gort_shutdown();
}

typedef struct {
    gort_rwmutex rw;
    _Atomic int inside;
    int n;
    _Atomic int timed_out;
    gort_wg wg;
} rp_shared;

static void rp_reader(rp_shared *s)
{
    gort_rwmutex_rlock(&s->rw);
    atomic_fetch_add(&s->inside, 1);
    int64_t escape = gort_now() + 10 * GORT_SECOND * slow();
    while (atomic_load(&s->inside) < s->n) { /* everybody holds it at once */
        if (gort_now() > escape) {
            atomic_store(&s->timed_out, 1);
            break;
        }
        gort_yield();
    }
    gort_rwmutex_runlock(&s->rw);
    gort_wg_done(&s->wg);
}

static void rp_go(void *p)
{
    rp_reader(p);
}

static void *rp_thread(void *p)
{
    rp_reader(p);
    return NULL;
}

TEST(rwmutex_readers_parallel)
{
    enum { NG = 16, NT = 2 };
    engine_up();
    static rp_shared s;
    s.n = NG + NT;
    gort_wg_add(&s.wg, NG + NT);
    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        thread(&th[i], rp_thread, &s);
    for (int i = 0; i < NG; i++)
        go(rp_go, &s);
    wg_join(&s.wg);
    for (int i = 0; i < NT; i++)
        join(th[i]);
    CHECK_MSG(!atomic_load(&s.timed_out), "readers did not hold the lock together");
    CHECK(all_zero(&s.rw, sizeof s.rw));
    gort_shutdown();
}

typedef struct {
    gort_rwmutex rw;
    long long a, b; /* guarded by rw; writers keep a == b */
    _Atomic int readers, writers;
    _Atomic long long reads, writes;
    long long iters;
    gort_wg wg;
} rx_shared;

static void rx_work(void *p, uint64_t seed)
{
    rx_shared *s = p;
    for (long long i = 0; i < s->iters; i++) {
        uint64_t r = rng(&seed);
        if (r % 8 == 0) {
            if ((r >> 8) % 4 == 0) {
                if (gort_rwmutex_trylock(&s->rw) != 0)
                    continue;
            } else {
                gort_rwmutex_lock(&s->rw);
            }
            CHECK_EQ(atomic_fetch_add(&s->writers, 1), 0);
            CHECK_EQ(atomic_load(&s->readers), 0);
            s->a++;
            if ((r >> 16) % 4 == 0)
                gort_yield();
            s->b++;
            atomic_fetch_add(&s->writes, 1);
            atomic_fetch_sub(&s->writers, 1);
            gort_rwmutex_unlock(&s->rw);
        } else {
            if ((r >> 8) % 4 == 0) {
                if (gort_rwmutex_tryrlock(&s->rw) != 0)
                    continue;
            } else {
                gort_rwmutex_rlock(&s->rw);
            }
            atomic_fetch_add(&s->readers, 1);
            CHECK_EQ(atomic_load(&s->writers), 0);
            long long a = s->a;
            if ((r >> 16) % 8 == 0)
                gort_yield();
            CHECK_EQ(a, s->b);
            atomic_fetch_add(&s->reads, 1);
            atomic_fetch_sub(&s->readers, 1);
            gort_rwmutex_runlock(&s->rw);
        }
    }
    gort_wg_done(&s->wg);
}

TEST(rwmutex_writer_exclusion)
{
    enum { NG = 10, NT = 2 };
    engine_up();
    static rx_shared s;
    s.iters = scaled(10000, 100);
    gort_wg_add(&s.wg, NG + NT);
    run_workers(rx_work, &s, &s.wg, NG, NT, 50);
    CHECK_EQ(s.a, atomic_load(&s.writes));
    CHECK_EQ(s.b, s.a);
    CHECK(atomic_load(&s.writes) > 0 && atomic_load(&s.reads) > 0);
    CHECK(all_zero(&s.rw, sizeof s.rw));
    gort_shutdown();
}

/* Overlapping readers never let reader_count drop to zero; a writer must
 * still get in (new readers queue behind a pending writer). */
typedef struct {
    gort_rwmutex rw;
    _Atomic int stop;
    _Atomic int started;
    gort_wg readers_wg, writer_wg;
} ws_shared;

static void ws_reader(void *p)
{
    ws_shared *s = p;
    atomic_fetch_add(&s->started, 1);
    while (!atomic_load(&s->stop)) {
        gort_rwmutex_rlock(&s->rw);
        gort_sleep(200 * US);
        gort_rwmutex_runlock(&s->rw);
    }
    gort_wg_done(&s->readers_wg);
}

static void ws_writer(ws_shared *s)
{
    for (int i = 0; i < 5; i++) {
        gort_rwmutex_lock(&s->rw);
        gort_rwmutex_unlock(&s->rw);
    }
    gort_wg_done(&s->writer_wg);
}

static void ws_writer_go(void *p)
{
    ws_writer(p);
}

static void *ws_writer_thread(void *p)
{
    ws_writer(p);
    return NULL;
}

TEST(rwmutex_writer_not_starved)
{
    enum { NR = 8 };
    engine_up();
    static ws_shared s;
    gort_wg_add(&s.readers_wg, NR);
    for (int i = 0; i < NR; i++)
        go(ws_reader, &s);
    while (atomic_load(&s.started) < NR)
        gort_yield();
    gort_sleep(2 * MS);
    pthread_t th;
    gort_wg_add(&s.writer_wg, 2);
    go(ws_writer_go, &s);
    thread(&th, ws_writer_thread, &s);
    int r = gort_wg_wait_until(&s.writer_wg, gort_now() + 10 * GORT_SECOND * slow());
    CHECK_MSG(r == 0, "writers starved by readers");
    atomic_store(&s.stop, 1);
    wg_join(&s.readers_wg);
    join(th);
    CHECK(all_zero(&s.rw, sizeof s.rw));
    gort_shutdown();
}

/* ======================================================================== */
/* Semaphore                                                                */
/* ======================================================================== */

TEST(sem_basic)
{
    engine_up();
    gort_sem z = GORT_SEM_INIT; /* capacity 0 */
    CHECK_EQ(gort_sem_acquire(&z, 1), GORT_EINVAL);
    CHECK_EQ(gort_sem_acquire(&z, 0), 0);
    CHECK_EQ(gort_sem_try_acquire(&z, 0), 0);

    gort_sem s;
    CHECK_EQ(gort_sem_init(&s, -1), GORT_EINVAL);
    CHECK_EQ(gort_sem_init(&s, 10), 0);
    CHECK_EQ(gort_sem_acquire(&s, 11), GORT_EINVAL);
    CHECK_EQ(gort_sem_acquire(&s, -1), GORT_EINVAL);
    CHECK_EQ(gort_sem_try_acquire(&s, 11), GORT_EINVAL);
    CHECK_EQ(gort_sem_acquire_until(&s, 11, GORT_NOWAIT), GORT_EINVAL);
    CHECK_EQ(gort_sem_acquire(&s, 3), 0);
    CHECK_EQ(gort_sem_acquire(&s, 3), 0);
    CHECK_EQ(gort_sem_try_acquire(&s, 4), 0);
    CHECK_EQ(gort_sem_try_acquire(&s, 1), GORT_EAGAIN);
    CHECK_EQ(gort_sem_acquire_until(&s, 1, GORT_NOWAIT), GORT_ETIMEDOUT);
    int64_t d = gort_now() + 30 * MS;
    CHECK_EQ(gort_sem_acquire_until(&s, 1, d), GORT_ETIMEDOUT);
    CHECK(gort_now() >= d);
    gort_sem_release(&s, 4);
    CHECK_EQ(gort_sem_try_acquire(&s, 4), 0);
    gort_sem_release(&s, 10);
    CHECK_EQ(gort_sem_try_acquire(&s, 10), 0);
    gort_sem_release(&s, 10);
    gort_shutdown();
}

typedef struct {
    gort_sem *s;
    int64_t n;
    int64_t deadline;
    int result;
    _Atomic int done;
    _Atomic int *seq;
    int order; /* value of *seq when it acquired */
    gort_wg *joined;
} sa_arg;

static void sa_call(sa_arg *a)
{
    a->result = gort_sem_acquire_until(a->s, a->n, a->deadline);
    if (a->seq)
        a->order = atomic_fetch_add(a->seq, 1);
    atomic_store(&a->done, 1);
    gort_wg_done(a->joined);
}

static void sa_go(void *p)
{
    sa_call(p);
}

static void *sa_thread(void *p)
{
    sa_call(p);
    return NULL;
}

/* Wait until somebody is queued (try_acquire(0) fails only then) or the
 * waiter we are waiting for has already finished. */
static void await_queued(gort_sem *s, _Atomic int *finished)
{
    int64_t escape = hatch();
    while (gort_sem_try_acquire(s, 0) == 0 && !atomic_load(finished)) {
        CHECK_MSG(gort_now() < escape, "nobody queued");
        gort_yield();
    }
}

TEST(sem_fifo_weights)
{
    engine_up();
    gort_sem s;
    gort_wg joined = GORT_WG_INIT;
    _Atomic int seq = 0;
    CHECK_EQ(gort_sem_init(&s, 10), 0);
    CHECK_EQ(gort_sem_acquire(&s, 10), 0);
    /* A wants 5 (queued first, a goroutine), B wants 1 (a thread). */
    sa_arg A = {&s, 5, GORT_FOREVER, 1, 0, &seq, -1, &joined};
    sa_arg B = {&s, 1, GORT_FOREVER, 1, 0, &seq, -1, &joined};
    gort_wg_add(&joined, 2);
    go(sa_go, &A);
    await_queued(&s, &A.done);
    pthread_t th;
    thread(&th, sa_thread, &B);
    gort_sem_release(&s, 1); /* 1 free, but A is first and needs 5 */
    gort_sleep(20 * MS);     /* give B a chance to overtake (it must not) */
    CHECK(!atomic_load(&B.done));
    CHECK(!atomic_load(&A.done));
    CHECK_EQ(gort_sem_try_acquire(&s, 1), GORT_EAGAIN); /* no overtaking either */
    gort_sem_release(&s, 4); /* 5 free: A gets them */
    int64_t escape = hatch();
    while (!atomic_load(&A.done)) {
        CHECK(gort_now() < escape);
        gort_yield();
    }
    CHECK_EQ(A.result, 0);
    CHECK_EQ(A.order, 0);
    gort_sleep(5 * MS);
    CHECK(!atomic_load(&B.done)); /* nothing free */
    gort_sem_release(&s, 1);
    wg_join(&joined);
    join(th);
    CHECK_EQ(B.result, 0);
    CHECK_EQ(B.order, 1);
    gort_sem_release(&s, 10); /* A's 5, B's 1, the 4 we still hold */
    CHECK_EQ(gort_sem_try_acquire(&s, 10), 0);
    gort_sem_release(&s, 10);
    gort_shutdown();
}

TEST(sem_timeout_at_head_unblocks_others)
{
    engine_up();
    gort_sem s;
    gort_wg joined = GORT_WG_INIT;
    CHECK_EQ(gort_sem_init(&s, 10), 0);
    CHECK_EQ(gort_sem_acquire(&s, 9), 0); /* 1 free */
    int64_t d = gort_now() + 30 * MS;
    sa_arg A = {&s, 5, d, 1, 0, NULL, -1, &joined};
    sa_arg B = {&s, 1, GORT_FOREVER, 1, 0, NULL, -1, &joined};
    gort_wg_add(&joined, 2);
    go(sa_go, &A);
    await_queued(&s, &A.done);
    pthread_t th;
    thread(&th, sa_thread, &B);
    /* A times out; the 1 free unit then goes to B. */
    wg_join(&joined);
    join(th);
    CHECK_EQ(A.result, GORT_ETIMEDOUT);
    CHECK_EQ(B.result, 0);
    gort_sem_release(&s, 10);
    CHECK_EQ(gort_sem_try_acquire(&s, 10), 0);
    gort_shutdown();
}

typedef struct {
    gort_sem sem;
    int64_t cap;
    _Atomic int64_t in_use;
    _Atomic long long ok, timeouts;
    long long iters;
    gort_wg wg;
} ss_shared;

static void ss_work(void *p, uint64_t seed)
{
    ss_shared *s = p;
    for (long long i = 0; i < s->iters; i++) {
        uint64_t r = rng(&seed);
        int64_t n = (int64_t)(r % (uint64_t)(s->cap + 1));
        int res;
        switch ((r >> 8) % 3) {
        case 0:
            res = gort_sem_acquire(&s->sem, n);
            break;
        case 1:
            res = gort_sem_acquire_until(&s->sem, n, gort_now() + (int64_t)((r >> 16) % (300 * US)));
            break;
        default:
            res = gort_sem_try_acquire(&s->sem, n);
            break;
        }
        if (res != 0) {
            CHECK_MSG(res == GORT_ETIMEDOUT || res == GORT_EAGAIN, "res %d", res);
            atomic_fetch_add(&s->timeouts, 1);
            continue;
        }
        int64_t u = atomic_fetch_add(&s->in_use, n) + n;
        CHECK_MSG(u <= s->cap, "%lld units in use, capacity %lld", (long long)u,
                  (long long)s->cap);
        if ((r >> 24) % 4 == 0)
            gort_yield();
        atomic_fetch_sub(&s->in_use, n);
        gort_sem_release(&s->sem, n);
        atomic_fetch_add(&s->ok, 1);
    }
    gort_wg_done(&s->wg);
}

TEST(sem_stress)
{
    enum { NG = 10, NT = 2 };
    engine_up();
    static ss_shared s;
    s.cap = 7;
    CHECK_EQ(gort_sem_init(&s.sem, s.cap), 0);
    s.iters = scaled(5000, 100);
    gort_wg_add(&s.wg, NG + NT);
    run_workers(ss_work, &s, &s.wg, NG, NT, 200);
    CHECK_EQ(atomic_load(&s.ok) + atomic_load(&s.timeouts), (long long)(NG + NT) * s.iters);
    /* Everything was given back and nobody is left queued. */
    CHECK_EQ(gort_sem_try_acquire(&s.sem, s.cap), 0);
    gort_sem_release(&s.sem, s.cap);
    gort_shutdown();
}

/* ======================================================================== */
/* Without an engine: plain threads                                         */
/* ======================================================================== */

/* Foreign threads may use every primitive before gort_init (or after
 * gort_shutdown): they block on futexes and never need an engine thread. */
typedef struct {
    gort_mutex mu;
    gort_cond cond;
    gort_sem sem;
    gort_wg wg;
    long long counter; /* guarded by mu */
    long long iters;
    _Atomic int64_t in_use;
} ne_shared;

static void *ne_thread(void *p)
{
    ne_shared *s = p;
    for (long long i = 0; i < s->iters; i++) {
        if (i % 3 == 0) {
            while (gort_mutex_lock_until(&s->mu, gort_now() + 50 * US) != 0) {
            }
        } else {
            gort_mutex_lock(&s->mu);
        }
        s->counter++;
        gort_cond_broadcast(&s->cond);
        gort_mutex_unlock(&s->mu);
        CHECK_EQ(gort_sem_acquire(&s->sem, 2), 0);
        CHECK(atomic_fetch_add(&s->in_use, 2) + 2 <= 4);
        atomic_fetch_sub(&s->in_use, 2);
        gort_sem_release(&s->sem, 2);
    }
    gort_wg_done(&s->wg);
    return NULL;
}

TEST(sync_without_engine)
{
    enum { NT = 4 };
    CHECK(!gort_initialized());
    static ne_shared s;
    s.iters = scaled(20000, 200);
    CHECK_EQ(gort_sem_init(&s.sem, 4), 0);
    gort_wg_add(&s.wg, NT);
    pthread_t th[NT];
    for (int i = 0; i < NT; i++)
        thread(&th[i], ne_thread, &s);
    /* The main thread waits on the condition for the total. */
    long long total = (long long)NT * s.iters;
    gort_mutex_lock(&s.mu);
    while (s.counter < total) {
        int r = gort_cond_wait_until(&s.cond, &s.mu, gort_now() + 10 * MS);
        CHECK(r == 0 || r == GORT_ETIMEDOUT);
    }
    gort_mutex_unlock(&s.mu);
    gort_wg_wait(&s.wg);
    for (int i = 0; i < NT; i++)
        join(th[i]);
    CHECK_EQ(s.counter, total);
    CHECK(all_zero(&s.mu, sizeof s.mu));
    CHECK(all_zero(&s.wg, sizeof s.wg));
    CHECK_EQ(gort_sem_try_acquire(&s.sem, 4), 0);
    CHECK(!gort_initialized());
}

/* ======================================================================== */
/* Misuse: Go's fatal errors                                                */
/* ======================================================================== */

static void abort_unlock_unlocked(void *p)
{
    (void)p;
    gort_mutex mu = GORT_MUTEX_INIT;
    gort_mutex_unlock(&mu);
}

static void abort_unlock_unlocked_in_goroutine(void *p)
{
    (void)p;
    gort_main(abort_unlock_unlocked, NULL);
}

static void abort_double_unlock(void *p)
{
    (void)p;
    gort_mutex mu = GORT_MUTEX_INIT;
    gort_mutex_lock(&mu);
    gort_mutex_unlock(&mu);
    gort_mutex_unlock(&mu);
}

static void abort_negative_wg(void *p)
{
    (void)p;
    gort_wg wg = GORT_WG_INIT;
    gort_wg_add(&wg, 2);
    gort_wg_done(&wg);
    gort_wg_done(&wg);
    gort_wg_done(&wg);
}

static void abort_runlock_unlocked(void *p)
{
    (void)p;
    gort_rwmutex rw = GORT_RWMUTEX_INIT;
    gort_rwmutex_runlock(&rw);
}

static void abort_runlock_write_locked(void *p)
{
    (void)p;
    gort_rwmutex rw = GORT_RWMUTEX_INIT;
    gort_rwmutex_lock(&rw);
    gort_rwmutex_runlock(&rw);
}

static void abort_rw_unlock_unlocked(void *p)
{
    (void)p;
    gort_rwmutex rw = GORT_RWMUTEX_INIT;
    gort_rwmutex_unlock(&rw);
}

static void abort_sem_over_release(void *p)
{
    (void)p;
    gort_sem s;
    gort_sem_init(&s, 3);
    gort_sem_acquire(&s, 2);
    gort_sem_release(&s, 3);
}

TEST(misuse_aborts)
{
    harness_expect_abort(abort_unlock_unlocked, NULL, "sync: unlock of unlocked mutex");
    harness_expect_abort(abort_unlock_unlocked_in_goroutine, NULL,
                         "sync: unlock of unlocked mutex");
    harness_expect_abort(abort_double_unlock, NULL, "sync: unlock of unlocked mutex");
    harness_expect_abort(abort_negative_wg, NULL, "sync: negative WaitGroup counter");
    harness_expect_abort(abort_runlock_unlocked, NULL, "sync: RUnlock of unlocked RWMutex");
    harness_expect_abort(abort_runlock_write_locked, NULL, "sync: RUnlock of unlocked RWMutex");
    harness_expect_abort(abort_rw_unlock_unlocked, NULL, "sync: Unlock of unlocked RWMutex");
    harness_expect_abort(abort_sem_over_release, NULL, "released more than held");
}

/* api.md §1.2: a negative deadline other than GORT_FOREVER is in the past. */
TEST(sync_negative_deadline_is_in_the_past)
{
    gort_mutex mu = GORT_MUTEX_INIT;
    gort_wg wg = GORT_WG_INIT;
    gort_sem sem;
    CHECK_EQ(gort_sem_init(&sem, 1), 0);
    CHECK_EQ(gort_mutex_lock_until(&mu, -5), 0); /* free: taken at once */
    CHECK_EQ(gort_mutex_lock_until(&mu, -5), GORT_ETIMEDOUT);
    CHECK_EQ(gort_mutex_lock_until(&mu, INT64_MIN), GORT_ETIMEDOUT);
    gort_mutex_unlock(&mu);
    CHECK_EQ(gort_wg_wait_until(&wg, -5), 0); /* zero counter: returns at once */
    gort_wg_add(&wg, 1);
    CHECK_EQ(gort_wg_wait_until(&wg, -5), GORT_ETIMEDOUT);
    gort_wg_done(&wg);
    CHECK_EQ(gort_sem_acquire_until(&sem, 1, -5), 0);
    CHECK_EQ(gort_sem_acquire_until(&sem, 1, -5), GORT_ETIMEDOUT);
    gort_sem_release(&sem, 1);
}

HARNESS_MAIN()
