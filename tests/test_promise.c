/*
 * test_promise.c — promises (Promises/A+ in C), through the public API.
 *
 * What is checked, by A+ section where there is one:
 *   2.1  states: settlement happens once; resolve/reject of a settled
 *        promise is GORT_EALREADY and the value handed to it is destroyed at
 *        once; the settled value is destroyed exactly once, at the last
 *        release; messages are copied; accessors.
 *   2.2  then: handlers never run synchronously (a flag set after then()
 *        returns, or after the resolve, is seen by the handler); each runs
 *        once; in registration order (including handlers registered after
 *        the settlement); NULL handlers pass the state through (a rejection
 *        travels down a chain of 3 to the first on_rejected); then() returns
 *        a new promise; a handler that settles nothing leaves next
 *        fulfilled with NULL; handlers run on the loop's thread; a chain of
 *        thousands of then()s.
 *   2.3  resolution: adoption of pending, fulfilled and rejected promises
 *        (the value is shared, not copied, and destroyed once); a resolving
 *        promise is locked in; self-resolution, 2- and 3-cycles reject with
 *        GORT_ECYCLE; a chain of 10000 adoptions (built both ways) settles
 *        and is freed without deep recursion.
 *   combinators: values ordered by input index, not settle order; first
 *        rejection for all; aggregate for any; all_settled; race; n == 0;
 *        already-settled inputs; the results outlive the inputs' user
 *        references; the result cannot be settled by hand.
 *   async/await: gort_async awaited from a loop-bound goroutine (the loop
 *        keeps running meanwhile), from a pool goroutine and from a foreign
 *        thread; rejections come back as the code; deadlines (GORT_NOWAIT,
 *        a timeout that leaves the promise pending and leaks nothing, a
 *        race of resolve against the deadline); GORT_EDEADLK on the loop's
 *        own thread; an await in a loop-bound goroutine resumes after the
 *        reactions registered before it (JavaScript's order).
 *   storm: T_SCALE(100000) promises, settled from pool goroutines and
 *        foreign pthreads while a loop task registers a then() on each:
 *        every reaction runs exactly once, on the loop's thread.
 *   unhandled rejections: the hook runs once for an unobserved rejection,
 *        never for an observed one; the default hook's line on stderr.
 *   bridges: gort_promise_from_recv (ready value, later value, closed
 *        channel) and gort_promise_to_chan (buffered, unbuffered, already
 *        settled, closed channel).
 *   bad input: NULL promises, err >= 0, then() without a loop, wrong channel
 *        element size.
 *
 * Every TEST runs in its own forked process (harness.h) and starts and stops
 * the engine itself. Nothing synchronises by sleeping; waits have an escape
 * hatch so that a bug fails instead of hanging. ASan/LSan runs check that
 * nothing leaks (every case releases what it made).
 */
#define _GNU_SOURCE 1
#include "gort.h"
#include "harness.h"
#include "test_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS GORT_MILLISECOND

/* ---- helpers ------------------------------------------------------------- */

static void start(void)
{
    CHECK_EQ(gort_init(NULL), 0);
}

static void stop(void)
{
    gort_shutdown();
}

/* Run fn(arg) as a macrotask on a new loop, on this thread, until the loop
 * has nothing left to do. Returns the loop's thread id (this thread). */
static void run_in_loop(gort_task_fn fn, void *arg)
{
    gort_loop *loop = gort_loop_new();
    CHECK(loop != NULL);
    CHECK_EQ(gort_loop_post(loop, fn, arg), 0);
    CHECK_EQ(gort_loop_run(loop), 0);
    gort_loop_free(loop);
}

/* Destructor that counts its calls. */
static _Atomic int dtor_calls;
static void count_dtor(void *v)
{
    (void)v;
    atomic_fetch_add(&dtor_calls, 1);
}

/* An ordered log of small integers, written from the loop thread. */
static int logv[64];
static _Atomic int nlog;
static void log_put(int v)
{
    int i = atomic_fetch_add(&nlog, 1);
    CHECK(i < 64);
    logv[i] = v;
}

static void join_thread(pthread_t th)
{
    CHECK_EQ(pthread_join(th, NULL), 0);
}

static void wg_wait_hatch(gort_wg *wg)
{
    CHECK_MSG(gort_wg_wait_until(wg, hatch()) == 0, "wait group never reached zero");
}

/* ---- 2.1 states ------------------------------------------------------------ */

TEST(state_fulfil_once)
{
    start();
    atomic_store(&dtor_calls, 0);
    int a = 1, b = 2;
    gort_promise *p = gort_promise_new();
    CHECK(p != NULL);
    CHECK_EQ(gort_promise_state(p), GORT_PENDING);
    CHECK(gort_promise_value(p) == NULL);
    CHECK(gort_promise_dtor(p) == NULL);
    CHECK_EQ(gort_promise_error(p), 0);
    CHECK_EQ(gort_promise_resolve(p, &a, count_dtor), 0);
    CHECK_EQ(gort_promise_state(p), GORT_FULFILLED);
    CHECK(gort_promise_value(p) == &a);
    CHECK(gort_promise_dtor(p) == count_dtor);
    CHECK(gort_promise_dtor(NULL) == NULL);
    CHECK_EQ(gort_promise_error(p), 0);
    CHECK(gort_promise_message(p) == NULL);
    CHECK(gort_promise_reason(p) == NULL);
    /* Second settlement: refused, and its value destroyed at once. */
    CHECK_EQ(gort_promise_resolve(p, &b, count_dtor), GORT_EALREADY);
    CHECK_EQ(atomic_load(&dtor_calls), 1);
    CHECK_EQ(gort_promise_reject(p, GORT_EINVAL, "no"), GORT_EALREADY);
    CHECK_EQ(gort_promise_reject_value(p, GORT_EINVAL, &b, count_dtor), GORT_EALREADY);
    CHECK_EQ(atomic_load(&dtor_calls), 2);
    CHECK_EQ(gort_promise_state(p), GORT_FULFILLED);
    CHECK(gort_promise_value(p) == &a);
    /* The value lives as long as the promise. */
    CHECK(gort_promise_retain(p) == p);
    gort_promise_release(p);
    CHECK_EQ(atomic_load(&dtor_calls), 2);
    gort_promise_release(p);
    CHECK_EQ(atomic_load(&dtor_calls), 3);
    stop();
}

TEST(state_reject_once)
{
    start();
    atomic_store(&dtor_calls, 0);
    char msg[] = "disk on fire";
    gort_promise *p = gort_promise_new();
    CHECK_EQ(gort_promise_reject(p, GORT_ECANCELED, msg), 0);
    msg[0] = 'X'; /* the message was copied */
    CHECK_EQ(gort_promise_state(p), GORT_REJECTED);
    CHECK_EQ(gort_promise_error(p), GORT_ECANCELED);
    CHECK(strcmp(gort_promise_message(p), "disk on fire") == 0);
    CHECK(gort_promise_value(p) == NULL);
    CHECK(gort_promise_reason(p) == NULL);
    int x = 0;
    CHECK_EQ(gort_promise_resolve(p, &x, count_dtor), GORT_EALREADY);
    CHECK_EQ(atomic_load(&dtor_calls), 1);
    CHECK_EQ(gort_await(p), GORT_ECANCELED); /* observed: no unhandled report */
    gort_promise_release(p);

    /* reject_value: the reason value is owned and destroyed once. */
    int *r = malloc(sizeof *r);
    *r = 99;
    gort_promise *q = gort_promise_new();
    CHECK_EQ(gort_promise_reject_value(q, GORT_ERANGE, r, free), 0);
    CHECK_EQ(gort_promise_error(q), GORT_ERANGE);
    CHECK(gort_promise_reason(q) == r);
    CHECK(gort_promise_dtor(q) == free);
    CHECK(gort_promise_message(q) == NULL);
    /* Adoption shares the value: the adopter reports its destructor too. */
    gort_promise *adopter = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(adopter, q), 0);
    CHECK_EQ(gort_await(adopter), GORT_ERANGE);
    CHECK(gort_promise_dtor(adopter) == free);
    gort_promise_release(adopter);
    CHECK_EQ(gort_await(q), GORT_ERANGE);
    gort_promise_release(q); /* ASan: r freed exactly once */
    stop();
}

static gort_promise *race_p;
static _Atomic int race_wins, race_losses;
static void race_settle(int i)
{
    int *v = malloc(sizeof *v);
    *v = i;
    int r = (i % 2) ? gort_promise_resolve(race_p, v, free)
                    : gort_promise_reject_value(race_p, GORT_EINVAL, v, free);
    if (r == 0)
        atomic_fetch_add(&race_wins, 1);
    else if (r == GORT_EALREADY)
        atomic_fetch_add(&race_losses, 1);
    else
        CHECK_MSG(0, "settle returned %d", r);
}
static gort_wg race_wg = GORT_WG_INIT;
static void race_go(void *arg)
{
    race_settle((int)(intptr_t)arg);
    gort_wg_done(&race_wg);
}
static void *race_thread(void *arg)
{
    race_settle((int)(intptr_t)arg);
    return NULL;
}

TEST(state_settle_race_many_threads)
{
    start();
    for (int round = 0; round < T_SCALE(200) + 1; round++) {
        race_p = gort_promise_new();
        atomic_store(&race_wins, 0);
        atomic_store(&race_losses, 0);
        pthread_t th[4];
        gort_wg_add(&race_wg, 8);
        for (int i = 0; i < 8; i++)
            CHECK_EQ(gort_go(race_go, (void *)(intptr_t)i), 0);
        for (int i = 0; i < 4; i++)
            CHECK_EQ(pthread_create(&th[i], NULL, race_thread, (void *)(intptr_t)(8 + i)), 0);
        for (int i = 0; i < 4; i++)
            join_thread(th[i]);
        wg_wait_hatch(&race_wg);
        CHECK_EQ(atomic_load(&race_wins), 1);
        CHECK_EQ(atomic_load(&race_losses), 11);
        int st = gort_promise_state(race_p);
        CHECK(st == GORT_FULFILLED || st == GORT_REJECTED);
        gort_await(race_p);
        gort_promise_release(race_p);
    }
    stop();
}

/* ---- 2.2 then --------------------------------------------------------------- */

static _Atomic int flag;
static _Atomic int ran;
static pthread_t loop_thread;

static void h_flag(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)ud;
    CHECK_MSG(atomic_load(&flag) == 1, "handler ran synchronously");
    CHECK(pthread_equal(pthread_self(), loop_thread));
    CHECK_EQ(gort_promise_state(settled), GORT_FULFILLED);
    atomic_fetch_add(&ran, 1);
}

static void h_count(gort_promise *next, gort_promise *s, void *ud)
{
    (void)next;
    (void)s;
    (void)ud;
    CHECK(pthread_equal(pthread_self(), loop_thread));
    atomic_fetch_add(&ran, 1);
}

static void h_never_ran(gort_promise *next, gort_promise *s, void *ud)
{
    (void)next;
    (void)s;
    (void)ud;
    CHECK_MSG(0, "a reaction on a promise nobody settled ran");
}

static void task_never_sync(void *arg)
{
    (void)arg;
    /* Already settled: then() must still not call the handler itself. */
    gort_promise *p = gort_promise_new();
    gort_promise_resolve(p, NULL, NULL);
    atomic_store(&flag, 0);
    gort_promise *n1 = gort_promise_then(p, NULL, h_flag, NULL, NULL);
    CHECK(n1 != NULL);
    CHECK(n1 != p); /* then returns a new promise */
    CHECK_EQ(atomic_load(&ran), 0);
    /* Pending, resolved on the loop thread: not during resolve either. */
    gort_promise *q = gort_promise_new();
    gort_promise *n2 = gort_promise_then(q, NULL, h_flag, NULL, NULL);
    CHECK(n2 != NULL && n2 != q && n2 != n1);
    gort_promise_resolve(q, NULL, NULL);
    CHECK_EQ(atomic_load(&ran), 0);
    atomic_store(&flag, 1);
    gort_promise_release(n1);
    gort_promise_release(n2);
    gort_promise_release(p);
    gort_promise_release(q);
}

TEST(then_never_synchronous)
{
    start();
    atomic_store(&ran, 0);
    loop_thread = pthread_self();
    run_in_loop(task_never_sync, NULL);
    CHECK_EQ(atomic_load(&ran), 2);
    stop();
}

static void h_log(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)settled;
    log_put((int)(intptr_t)ud);
}

static void task_order(void *arg)
{
    (void)arg;
    gort_promise *p = gort_promise_new();
    gort_promise *nx[10];
    for (int i = 0; i < 5; i++)
        nx[i] = gort_promise_then(p, NULL, h_log, h_log, (void *)(intptr_t)i);
    gort_promise_resolve(p, NULL, NULL);
    gort_promise_resolve(p, NULL, NULL); /* twice: still once each */
    for (int i = 5; i < 10; i++)
        nx[i] = gort_promise_then(p, NULL, h_log, h_log, (void *)(intptr_t)i);
    for (int i = 0; i < 10; i++) {
        CHECK(nx[i] != NULL);
        gort_promise_release(nx[i]);
    }
    gort_promise_release(p);
}

TEST(then_once_in_registration_order)
{
    start();
    atomic_store(&nlog, 0);
    run_in_loop(task_order, NULL);
    CHECK_EQ(atomic_load(&nlog), 10);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(logv[i], i);
    stop();
}

/* then_ex: the user_data destructor runs once — after the reaction (and
 * after it, never before), or when a pending promise is dropped. */
static _Atomic int dropped_dtor_calls;
static void count_dropped_dtor(void *v)
{
    (void)v;
    atomic_fetch_add(&dropped_dtor_calls, 1);
}

static void h_log_then_check_dtor(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)settled;
    CHECK_EQ(atomic_load(&dtor_calls), 0); /* not yet */
    log_put((int)(intptr_t)ud);
}

static void task_then_ex(void *arg)
{
    (void)arg;
    gort_promise *p = gort_promise_new();
    gort_promise *nx = gort_promise_then_ex(p, NULL, h_log_then_check_dtor, NULL,
                                            (void *)(intptr_t)7, count_dtor);
    CHECK(nx != NULL);
    gort_promise_resolve(p, NULL, NULL);
    gort_promise_release(nx);
    gort_promise_release(p);
    /* A pending promise dropped with a reaction: the destructor runs there. */
    gort_promise *q = gort_promise_new();
    gort_promise *nq = gort_promise_then_ex(q, NULL, h_log, h_log, (void *)(intptr_t)8,
                                            count_dropped_dtor);
    CHECK(nq != NULL);
    gort_promise_release(nq);
    CHECK_EQ(atomic_load(&dropped_dtor_calls), 0);
    gort_promise_release(q);
    CHECK_EQ(atomic_load(&dropped_dtor_calls), 1);
}

TEST(then_ex_user_data_dtor_runs_once)
{
    start();
    atomic_store(&nlog, 0);
    atomic_store(&dtor_calls, 0);
    atomic_store(&dropped_dtor_calls, 0);
    run_in_loop(task_then_ex, NULL); /* returns: the dropped reaction let go of the loop */
    CHECK_EQ(atomic_load(&nlog), 1);
    CHECK_EQ(logv[0], 7);
    CHECK_EQ(atomic_load(&dtor_calls), 1);
    CHECK_EQ(atomic_load(&dropped_dtor_calls), 1);
    stop();
}

/* Registration order when the settlement happens on another thread: the
 * first five reactions are registered before, the next five after the
 * settling thread has returned (it posts the second half's task itself). */
static gort_promise *xt_p;
static gort_loop *xt_loop;
static void task_register_rest(void *arg)
{
    (void)arg;
    for (int i = 5; i < 10; i++)
        gort_promise_release(gort_promise_then(xt_p, NULL, h_log, h_log, (void *)(intptr_t)i));
    gort_loop_unref(xt_loop);
}
static void *xt_settler(void *arg)
{
    (void)arg;
    gort_promise_resolve(xt_p, NULL, NULL);
    CHECK_EQ(gort_loop_post(xt_loop, task_register_rest, NULL), 0);
    return NULL;
}

TEST(then_order_settled_on_other_thread)
{
    start();
    atomic_store(&nlog, 0);
    xt_loop = gort_loop_new();
    xt_p = gort_promise_new();
    for (int i = 0; i < 5; i++)
        gort_promise_release(gort_promise_then(xt_p, xt_loop, h_log, h_log, (void *)(intptr_t)i));
    gort_loop_ref(xt_loop);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, xt_settler, NULL), 0);
    CHECK_EQ(gort_loop_run(xt_loop), 0);
    join_thread(th);
    CHECK_EQ(atomic_load(&nlog), 10);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(logv[i], i);
    gort_promise_release(xt_p);
    gort_loop_free(xt_loop);
    stop();
}

/* A+ 2.2.6 across threads: r1 is registered before p settles, r2 after.
 * A foreign thread settles p (r1's microtask travels through the loop's
 * inbox) and then readies a loop-bound goroutine through a channel while the
 * loop is busy in a macrotask; the goroutine registers r2 on the settled p,
 * on the loop thread. r1 must still run first. */
static gort_promise *o2_p;
static gort_chan *o2_ch;
static _Atomic int o2_parked, o2_sent;
static void o2_goroutine(void *arg)
{
    (void)arg;
    gort_promise_release(gort_promise_then(o2_p, NULL, h_log, NULL, (void *)(intptr_t)1));
    atomic_store(&o2_parked, 1);
    CHECK_EQ(gort_chan_recv(o2_ch, NULL), 0);
    gort_promise_release(gort_promise_then(o2_p, NULL, h_log, NULL, (void *)(intptr_t)2));
}
static void o2_busy(void *arg)
{
    (void)arg;
    int64_t until = hatch();
    while (!atomic_load(&o2_sent) && gort_now() < until)
        sched_yield();
}
static void o2_post_busy(void *arg)
{
    CHECK_EQ(gort_loop_post(arg, o2_busy, NULL), 0);
}
static void *o2_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&o2_parked))
        sched_yield();
    gort_promise_resolve(o2_p, NULL, NULL);
    CHECK_EQ(gort_chan_send(o2_ch, NULL), 0);
    atomic_store(&o2_sent, 1);
    return NULL;
}

TEST(then_order_across_threads_and_goroutines)
{
    start();
    atomic_store(&nlog, 0);
    o2_p = gort_promise_new();
    o2_ch = gort_chan_make(0, 1);
    gort_loop *loop = gort_loop_new();
    CHECK_EQ(gort_loop_go(loop, o2_goroutine, NULL), 0);
    CHECK_EQ(gort_loop_post(loop, o2_post_busy, loop), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, o2_thread, NULL), 0);
    CHECK_EQ(gort_loop_run(loop), 0);
    join_thread(th);
    CHECK_EQ(atomic_load(&nlog), 2);
    CHECK_MSG(logv[0] == 1 && logv[1] == 2, "reactions ran as %d, %d", logv[0], logv[1]);
    gort_loop_free(loop);
    gort_promise_release(o2_p);
    gort_chan_release(o2_ch);
    stop();
}

/* Loop liveness: a reaction waiting on a pending promise keeps its loop
 * running (the result of in-flight work is still to be handled); releasing
 * the pending promise, which nobody can settle any more, lets it finish. */
static gort_promise *live_p;
static void *live_thread(void *arg)
{
    (void)arg;
    usleep(10000); /* creates the situation: the loop is idle meanwhile */
    gort_promise_resolve(live_p, NULL, NULL);
    return NULL;
}
static void task_drop_pending(void *arg)
{
    (void)arg;
    gort_promise *p = gort_promise_new();
    gort_promise_release(gort_promise_then(p, NULL, h_never_ran, NULL, NULL));
    gort_promise_release(p); /* unreachable: its reaction goes, and the loop may end */
}

TEST(then_pending_reaction_keeps_loop_alive)
{
    start();
    atomic_store(&ran, 0);
    loop_thread = pthread_self();
    gort_loop *loop = gort_loop_new();
    live_p = gort_promise_new();
    gort_promise_release(gort_promise_then(live_p, loop, h_count, NULL, NULL));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, live_thread, NULL), 0);
    CHECK_EQ(gort_loop_run(loop), 0); /* returns only after the reaction */
    CHECK_EQ(atomic_load(&ran), 1);
    join_thread(th);
    gort_promise_release(live_p);
    CHECK_EQ(gort_loop_post(loop, task_drop_pending, NULL), 0);
    CHECK_EQ(gort_loop_run(loop), 0);
    CHECK_EQ(atomic_load(&ran), 1);
    gort_loop_free(loop);
    stop();
}

/* Pass-through: fulfilment down NULL handlers; rejection down a chain of 3
 * then()s without on_rejected, caught by the 4th. */
static gort_promise *pt_end_f, *pt_end_r;
static int pt_value = 1234;

static void h_catch(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)ud;
    CHECK_EQ(gort_promise_state(settled), GORT_REJECTED);
    CHECK_EQ(gort_promise_error(settled), GORT_ECANCELED);
    CHECK(strcmp(gort_promise_message(settled), "stop") == 0);
    log_put(100);
    /* recover: next fulfilled with a value */
    gort_promise_resolve(next, &pt_value, NULL);
}

static void h_never(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)settled;
    (void)ud;
    CHECK_MSG(0, "on_fulfilled of a rejected chain ran");
}

static void task_pass_through(void *arg)
{
    (void)arg;
    /* fulfilment through 3 NULL/NULL thens */
    gort_promise *p = gort_promise_new();
    gort_promise *a = gort_promise_then(p, NULL, NULL, NULL, NULL);
    gort_promise *b = gort_promise_then(a, NULL, NULL, h_never, NULL);
    pt_end_f = gort_promise_then(b, NULL, NULL, NULL, NULL);
    gort_promise_resolve(p, &pt_value, NULL);
    gort_promise_release(p);
    gort_promise_release(a);
    gort_promise_release(b);

    /* rejection through 3 thens with on_fulfilled only */
    gort_promise *q = gort_promise_new();
    gort_promise *c1 = gort_promise_then(q, NULL, h_never, NULL, NULL);
    gort_promise *c2 = gort_promise_then(c1, NULL, h_never, NULL, NULL);
    gort_promise *c3 = gort_promise_then(c2, NULL, h_never, NULL, NULL);
    pt_end_r = gort_promise_then(c3, NULL, h_never, h_catch, NULL);
    gort_promise_reject(q, GORT_ECANCELED, "stop");
    gort_promise_release(q);
    gort_promise_release(c1);
    gort_promise_release(c2);
    gort_promise_release(c3);
}

TEST(then_null_handlers_pass_through)
{
    start();
    atomic_store(&nlog, 0);
    run_in_loop(task_pass_through, NULL);
    CHECK_EQ(gort_promise_state(pt_end_f), GORT_FULFILLED);
    CHECK(gort_promise_value(pt_end_f) == &pt_value);
    CHECK_EQ(atomic_load(&nlog), 1);
    CHECK_EQ(gort_promise_state(pt_end_r), GORT_FULFILLED);
    CHECK(gort_promise_value(pt_end_r) == &pt_value);
    gort_promise_release(pt_end_f);
    gort_promise_release(pt_end_r);
    stop();
}

/* Handlers that do nothing / resolve / reject / adopt; next's outcome. */
static gort_promise *hn_next[4];
static gort_promise *hn_other;
static int hn_val = 7;
static void h_nothing(gort_promise *next, gort_promise *s, void *ud)
{
    (void)next;
    (void)s;
    (void)ud;
}
static void h_resolve(gort_promise *next, gort_promise *s, void *ud)
{
    (void)s;
    (void)ud;
    CHECK_EQ(gort_promise_resolve(next, &hn_val, count_dtor), 0);
}
static void h_reject(gort_promise *next, gort_promise *s, void *ud)
{
    (void)s;
    (void)ud;
    CHECK_EQ(gort_promise_reject(next, GORT_EPERM, "nope"), 0);
}
static void h_adopt(gort_promise *next, gort_promise *s, void *ud)
{
    (void)s;
    (void)ud;
    CHECK_EQ(gort_promise_resolve_with(next, hn_other), 0); /* pending */
}
static void task_handlers(void *arg)
{
    (void)arg;
    gort_promise *p = gort_promise_new();
    hn_other = gort_promise_new();
    hn_next[0] = gort_promise_then(p, NULL, h_nothing, NULL, NULL);
    hn_next[1] = gort_promise_then(p, NULL, h_resolve, NULL, NULL);
    hn_next[2] = gort_promise_then(p, NULL, h_reject, NULL, NULL);
    hn_next[3] = gort_promise_then(p, NULL, h_adopt, NULL, NULL);
    gort_promise_resolve(p, NULL, NULL);
    gort_promise_release(p);
}

TEST(then_handler_settles_next)
{
    start();
    atomic_store(&dtor_calls, 0);
    run_in_loop(task_handlers, NULL);
    CHECK_EQ(gort_promise_state(hn_next[0]), GORT_FULFILLED);
    CHECK(gort_promise_value(hn_next[0]) == NULL);
    CHECK_EQ(gort_promise_state(hn_next[1]), GORT_FULFILLED);
    CHECK(gort_promise_value(hn_next[1]) == &hn_val);
    CHECK_EQ(gort_promise_state(hn_next[2]), GORT_REJECTED);
    CHECK_EQ(gort_promise_error(hn_next[2]), GORT_EPERM);
    CHECK(strcmp(gort_promise_message(hn_next[2]), "nope") == 0);
    /* resolving with a pending promise: not fulfilled with NULL afterwards */
    CHECK_EQ(gort_promise_state(hn_next[3]), GORT_PENDING);
    gort_promise_resolve(hn_other, &hn_val, NULL);
    CHECK_EQ(gort_promise_state(hn_next[3]), GORT_FULFILLED);
    CHECK(gort_promise_value(hn_next[3]) == &hn_val);
    CHECK_EQ(gort_await(hn_next[2]), GORT_EPERM);
    for (int i = 0; i < 4; i++)
        gort_promise_release(hn_next[i]);
    gort_promise_release(hn_other);
    CHECK_EQ(atomic_load(&dtor_calls), 1);
    stop();
}

/* then() without a loop: NULL outside loops; current loop inside. */
TEST(then_without_loop)
{
    start();
    gort_promise *p = gort_promise_new();
    CHECK(gort_loop_current() == NULL);
    CHECK(gort_promise_then(p, NULL, h_nothing, NULL, NULL) == NULL);
    gort_promise_release(p);
    stop();
}

/* A chain of thousands of then()s, each a microtask. */
static gort_promise *long_head, *long_tail;
static void h_inc(gort_promise *next, gort_promise *s, void *ud)
{
    (void)ud;
    intptr_t v = (intptr_t)gort_promise_value(s);
    gort_promise_resolve(next, (void *)(v + 1), NULL);
}
static void task_long_chain(void *arg)
{
    long n = (long)(intptr_t)arg;
    long_head = gort_promise_new();
    gort_promise *cur = gort_promise_retain(long_head);
    for (long i = 0; i < n; i++) {
        gort_promise *nx = gort_promise_then(cur, NULL, (i % 2) ? h_inc : NULL, NULL, NULL);
        CHECK(nx != NULL);
        gort_promise_release(cur);
        cur = nx;
    }
    long_tail = cur;
    gort_promise_resolve(long_head, (void *)(intptr_t)1, NULL);
}

TEST(then_long_chain)
{
    start();
    long n = (long)T_SCALE(20000) + 2;
    run_in_loop(task_long_chain, (void *)(intptr_t)n);
    CHECK_EQ(gort_promise_state(long_tail), GORT_FULFILLED);
    CHECK_EQ((intptr_t)gort_promise_value(long_tail), 1 + n / 2);
    gort_promise_release(long_head);
    gort_promise_release(long_tail);
    stop();
}

/* ---- 2.3 resolution procedure ---------------------------------------------- */

TEST(adopt_pending_fulfilled_rejected)
{
    start();
    atomic_store(&dtor_calls, 0);
    int v = 5;
    /* pending -> fulfilled later: same value, not a copy */
    gort_promise *src = gort_promise_new();
    gort_promise *p = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(p, src), 0);
    CHECK_EQ(gort_promise_state(p), GORT_PENDING);
    /* locked in: a direct settlement is refused (and its value destroyed) */
    CHECK_EQ(gort_promise_resolve(p, &v, count_dtor), GORT_EALREADY);
    CHECK_EQ(gort_promise_reject(p, GORT_EINVAL, NULL), GORT_EALREADY);
    CHECK_EQ(gort_promise_resolve_with(p, src), GORT_EALREADY);
    CHECK_EQ(atomic_load(&dtor_calls), 1);
    CHECK_EQ(gort_promise_resolve(src, &v, count_dtor), 0);
    CHECK_EQ(gort_promise_state(p), GORT_FULFILLED);
    CHECK(gort_promise_value(p) == &v);
    gort_promise_release(src); /* p keeps the value alive */
    CHECK(gort_promise_value(p) == &v);
    CHECK_EQ(atomic_load(&dtor_calls), 1);
    gort_promise_release(p);
    CHECK_EQ(atomic_load(&dtor_calls), 2); /* once */

    /* already fulfilled */
    gort_promise *f = gort_promise_new();
    gort_promise_resolve(f, &v, NULL);
    gort_promise *q = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(q, f), 0);
    CHECK_EQ(gort_promise_state(q), GORT_FULFILLED);
    CHECK(gort_promise_value(q) == &v);

    /* already rejected, and rejected later */
    gort_promise *r = gort_promise_new();
    gort_promise_reject(r, GORT_ECANCELED, "gone");
    gort_promise *s = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(s, r), 0);
    CHECK_EQ(gort_promise_state(s), GORT_REJECTED);
    CHECK_EQ(gort_promise_error(s), GORT_ECANCELED);
    CHECK(gort_promise_message(s) == gort_promise_message(r)); /* shared */
    gort_promise *r2 = gort_promise_new();
    gort_promise *s2 = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(s2, r2), 0);
    int *reason = malloc(sizeof *reason);
    CHECK_EQ(gort_promise_reject_value(r2, GORT_ERANGE, reason, free), 0);
    CHECK_EQ(gort_promise_error(s2), GORT_ERANGE);
    CHECK(gort_promise_reason(s2) == reason);
    CHECK_EQ(gort_await(s), GORT_ECANCELED);
    CHECK_EQ(gort_await(s2), GORT_ERANGE);
    /* adopting an adopter follows to the origin */
    gort_promise *t = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(t, s2), 0);
    CHECK(gort_promise_reason(t) == reason);
    CHECK_EQ(gort_await(t), GORT_ERANGE);
    gort_promise *all[] = {f, q, r, s, r2, s2, t};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        gort_promise_release(all[i]);
    stop();
}

TEST(adopt_cycles)
{
    start();
    /* self */
    gort_promise *a = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(a, a), GORT_ECYCLE);
    CHECK_EQ(gort_promise_state(a), GORT_REJECTED);
    CHECK_EQ(gort_promise_error(a), GORT_ECYCLE);
    CHECK_EQ(gort_await(a), GORT_ECYCLE);
    gort_promise_release(a);

    /* 2-cycle: b waits for c, c resolved with b */
    gort_promise *b = gort_promise_new(), *c = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(b, c), 0);
    CHECK_EQ(gort_promise_resolve_with(c, b), GORT_ECYCLE);
    CHECK_EQ(gort_promise_error(c), GORT_ECYCLE);
    CHECK_EQ(gort_promise_error(b), GORT_ECYCLE); /* adopted c's rejection */
    CHECK_EQ(gort_await(b), GORT_ECYCLE);
    gort_promise_release(b);
    gort_promise_release(c);

    /* 3-cycle */
    gort_promise *x = gort_promise_new(), *y = gort_promise_new(), *z = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(x, y), 0);
    CHECK_EQ(gort_promise_resolve_with(y, z), 0);
    CHECK_EQ(gort_promise_resolve_with(z, x), GORT_ECYCLE);
    CHECK_EQ(gort_promise_error(x), GORT_ECYCLE);
    CHECK_EQ(gort_promise_error(y), GORT_ECYCLE);
    CHECK_EQ(gort_await(x), GORT_ECYCLE);
    gort_promise_release(x);
    gort_promise_release(y);
    gort_promise_release(z);

    /* no false positive: a diamond is not a cycle */
    gort_promise *d = gort_promise_new(), *e1 = gort_promise_new(), *e2 = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(e1, d), 0);
    CHECK_EQ(gort_promise_resolve_with(e2, d), 0);
    gort_promise_resolve(d, NULL, NULL);
    CHECK_EQ(gort_promise_state(e1), GORT_FULFILLED);
    CHECK_EQ(gort_promise_state(e2), GORT_FULFILLED);
    gort_promise_release(d);
    gort_promise_release(e1);
    gort_promise_release(e2);
    stop();
}

/* Two threads closing a 2-cycle at the same time: exactly one of them sees
 * the cycle, and both promises end up rejected with GORT_ECYCLE. */
static gort_promise *cyc_a, *cyc_b;
static _Atomic int cyc_go;
static int cyc_rc[2];
static void *cyc_thread(void *arg)
{
    int i = (int)(intptr_t)arg;
    while (!atomic_load(&cyc_go))
        sched_yield();
    cyc_rc[i] = i ? gort_promise_resolve_with(cyc_b, cyc_a) : gort_promise_resolve_with(cyc_a, cyc_b);
    return NULL;
}

TEST(adopt_cycle_concurrent)
{
    start();
    for (int round = 0; round < T_SCALE(500) + 1; round++) {
        cyc_a = gort_promise_new();
        cyc_b = gort_promise_new();
        atomic_store(&cyc_go, 0);
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            CHECK_EQ(pthread_create(&th[i], NULL, cyc_thread, (void *)(intptr_t)i), 0);
        atomic_store(&cyc_go, 1);
        join_thread(th[0]);
        join_thread(th[1]);
        CHECK_MSG((cyc_rc[0] == 0 && cyc_rc[1] == GORT_ECYCLE) ||
                      (cyc_rc[0] == GORT_ECYCLE && cyc_rc[1] == 0),
                  "rc %d %d", cyc_rc[0], cyc_rc[1]);
        CHECK_EQ(gort_promise_error(cyc_a), GORT_ECYCLE);
        CHECK_EQ(gort_promise_error(cyc_b), GORT_ECYCLE);
        gort_await(cyc_a);
        gort_await(cyc_b);
        gort_promise_release(cyc_a);
        gort_promise_release(cyc_b);
    }
    stop();
}

/* p[i] adopts p[i+1]; the last one is resolved: every promise settles
 * without deep recursion, and freeing the chain does not recurse either. */
static void adopt_chain(long n, int reverse, int settle)
{
    atomic_store(&dtor_calls, 0);
    gort_promise **p = malloc((size_t)(n + 1) * sizeof *p);
    CHECK(p != NULL);
    for (long i = 0; i <= n; i++)
        p[i] = gort_promise_new();
    for (long k = 0; k < n; k++) {
        long i = reverse ? n - 1 - k : k;
        CHECK_EQ(gort_promise_resolve_with(p[i], p[i + 1]), 0);
    }
    static int v = 77;
    if (settle) {
        CHECK_EQ(gort_promise_resolve(p[n], &v, count_dtor), 0);
        for (long i = 0; i <= n; i++) {
            CHECK_EQ(gort_promise_state(p[i]), GORT_FULFILLED);
            CHECK(gort_promise_value(p[i]) == &v);
        }
        CHECK_EQ(gort_await(p[0]), 0);
    } else {
        for (long i = 0; i <= n; i++)
            CHECK_EQ(gort_promise_state(p[i]), GORT_PENDING);
    }
    /* Release the source end first: then the dependents go, one by one,
     * from inside that release (pending case: the nodes hold them). */
    for (long i = n; i >= 0; i--)
        gort_promise_release(p[i]);
    CHECK_EQ(atomic_load(&dtor_calls), settle ? 1 : 0);
    free(p);
}

static void chain_on_small_stack(void *arg)
{
    long mode = (long)(intptr_t)arg;
    adopt_chain(10000, (int)(mode & 1), (int)(mode >> 1));
}

TEST(adopt_chain_10000)
{
    start();
    adopt_chain(10000, 0, 1); /* settled */
    adopt_chain(10000, 0, 0); /* never settled: freed from the source end */
    /* built from the far end: every resolve_with walks the chain so far */
    adopt_chain(T_SCALE(10000) + 10, 1, 1);
    stop();
}

/* The same in goroutines with a 64 KiB stack: recursion per link would
 * overflow it at once. */
static gort_chan *chain_done;
static void chain_go(void *arg)
{
    chain_on_small_stack(arg);
    CHECK_EQ(gort_chan_send(chain_done, NULL), 0);
}

TEST(adopt_chain_10000_small_stack)
{
    start();
    chain_done = gort_chan_make(0, 4);
    gort_go_options o;
    gort_go_options_init(&o);
    o.stack_size = 64 << 10;
    /* one after the other: they share the destructor counter */
    CHECK_EQ(gort_go_opts(chain_go, (void *)(intptr_t)2, &o), 0); /* settled */
    CHECK_EQ(gort_chan_recv_until(chain_done, NULL, hatch()), 0);
    CHECK_EQ(gort_go_opts(chain_go, (void *)(intptr_t)0, &o), 0); /* pending, freed */
    CHECK_EQ(gort_chan_recv_until(chain_done, NULL, hatch()), 0);
    gort_chan_release(chain_done);
    stop();
}

/* A pending source that becomes unreachable frees its dependents. */
TEST(adopt_unreachable_source_frees_dependents)
{
    start();
    atomic_store(&dtor_calls, 0);
    gort_promise *src = gort_promise_new();
    gort_promise *dep = gort_promise_new();
    CHECK_EQ(gort_promise_resolve_with(dep, src), 0);
    gort_promise_release(src); /* nobody can settle it any more */
    CHECK_EQ(gort_promise_state(dep), GORT_PENDING);
    CHECK_EQ(gort_await_until(dep, GORT_NOWAIT), GORT_ETIMEDOUT);
    gort_promise_release(dep); /* LSan: nothing left */
    stop();
}

/* ---- combinators ------------------------------------------------------------ */

static int vals[8];

TEST(comb_all_order_by_index)
{
    start();
    gort_promise *ps[5];
    for (int i = 0; i < 5; i++)
        ps[i] = gort_promise_new();
    gort_promise *all = gort_promise_all(ps, 5);
    CHECK(all != NULL);
    CHECK_EQ(gort_promise_resolve(all, NULL, NULL), GORT_EALREADY); /* only inputs settle it */
    for (int i = 4; i >= 0; i--) {
        CHECK_EQ(gort_promise_state(all), GORT_PENDING);
        gort_promise_resolve(ps[i], &vals[i], NULL);
    }
    CHECK_EQ(gort_promise_state(all), GORT_FULFILLED);
    /* the inputs' user references may go: the result keeps them */
    for (int i = 0; i < 5; i++)
        gort_promise_release(ps[i]);
    void **v = gort_promise_value(all);
    CHECK(v != NULL);
    for (int i = 0; i < 5; i++)
        CHECK(v[i] == &vals[i]);
    CHECK_EQ(gort_await(all), 0);
    gort_promise_release(all);
    stop();
}

TEST(comb_all_first_rejection)
{
    start();
    gort_promise *ps[4];
    for (int i = 0; i < 4; i++)
        ps[i] = gort_promise_new();
    gort_promise *all = gort_promise_all(ps, 4);
    gort_promise_resolve(ps[0], &vals[0], NULL);
    gort_promise_reject(ps[3], GORT_ECANCELED, "three");
    gort_promise_reject(ps[1], GORT_EINVAL, "one");
    gort_promise_resolve(ps[2], &vals[2], NULL);
    CHECK_EQ(gort_promise_state(all), GORT_REJECTED);
    CHECK_EQ(gort_promise_error(all), GORT_ECANCELED);
    CHECK(strcmp(gort_promise_message(all), "three") == 0);
    CHECK_EQ(gort_await(all), GORT_ECANCELED);
    /* the inputs count as handled: no unhandled report for ps[1] */
    for (int i = 0; i < 4; i++)
        gort_promise_release(ps[i]);
    gort_promise_release(all);
    stop();
}

TEST(comb_all_settled)
{
    start();
    gort_promise *ps[3];
    for (int i = 0; i < 3; i++)
        ps[i] = gort_promise_new();
    gort_promise *as = gort_promise_all_settled(ps, 3);
    gort_promise_reject(ps[1], GORT_EPERM, NULL);
    gort_promise_resolve(ps[2], &vals[2], NULL);
    CHECK_EQ(gort_promise_state(as), GORT_PENDING);
    gort_promise_resolve(ps[0], &vals[0], NULL);
    CHECK_EQ(gort_promise_state(as), GORT_FULFILLED);
    for (int i = 0; i < 3; i++)
        gort_promise_release(ps[i]);
    gort_promise **arr = gort_promise_value(as);
    CHECK(arr != NULL);
    CHECK_EQ(gort_promise_state(arr[0]), GORT_FULFILLED);
    CHECK(gort_promise_value(arr[0]) == &vals[0]);
    CHECK_EQ(gort_promise_state(arr[1]), GORT_REJECTED);
    CHECK_EQ(gort_promise_error(arr[1]), GORT_EPERM);
    CHECK(gort_promise_value(arr[2]) == &vals[2]);
    gort_promise_release(as);
    stop();
}

TEST(comb_race)
{
    start();
    gort_promise *ps[3];
    for (int i = 0; i < 3; i++)
        ps[i] = gort_promise_new();
    gort_promise *r = gort_promise_race(ps, 3);
    gort_promise *r2 = gort_promise_race(ps, 3);
    gort_promise_resolve(ps[2], &vals[2], NULL);
    CHECK_EQ(gort_promise_state(r), GORT_FULFILLED);
    CHECK(gort_promise_value(r) == &vals[2]);
    gort_promise_reject(ps[0], GORT_EINVAL, NULL);
    CHECK(gort_promise_value(r) == &vals[2]);
    CHECK(gort_promise_value(r2) == &vals[2]);
    gort_promise_release(r);
    gort_promise_release(r2);
    /* the losers settle after the results are gone: fine */
    gort_promise_resolve(ps[1], NULL, NULL);
    /* a race decided by a rejection */
    gort_promise *q[2] = {gort_promise_new(), gort_promise_new()};
    gort_promise *rq = gort_promise_race(q, 2);
    gort_promise_reject(q[1], GORT_ETIMEDOUT, "late");
    CHECK_EQ(gort_promise_error(rq), GORT_ETIMEDOUT);
    CHECK_EQ(gort_await(rq), GORT_ETIMEDOUT);
    gort_promise_release(rq);
    gort_promise_release(q[0]); /* never settled: its node goes with it */
    gort_promise_release(q[1]);
    for (int i = 0; i < 3; i++)
        gort_promise_release(ps[i]);
    stop();
}

TEST(comb_any)
{
    start();
    gort_promise *ps[3];
    for (int i = 0; i < 3; i++)
        ps[i] = gort_promise_new();
    gort_promise *a = gort_promise_any(ps, 3);
    gort_promise_reject(ps[0], GORT_EINVAL, NULL);
    CHECK_EQ(gort_promise_state(a), GORT_PENDING);
    gort_promise_resolve(ps[2], &vals[2], NULL);
    gort_promise_resolve(ps[1], &vals[1], NULL);
    CHECK_EQ(gort_promise_state(a), GORT_FULFILLED);
    CHECK(gort_promise_value(a) == &vals[2]);
    gort_promise_release(a);
    for (int i = 0; i < 3; i++)
        gort_promise_release(ps[i]);

    /* all rejected: GORT_EAGGREGATE with the inputs as reason */
    for (int i = 0; i < 3; i++)
        ps[i] = gort_promise_new();
    a = gort_promise_any(ps, 3);
    gort_promise_reject(ps[2], GORT_EINVAL, NULL);
    gort_promise_reject(ps[0], GORT_EPERM, NULL);
    gort_promise_reject(ps[1], GORT_ERANGE, NULL);
    CHECK_EQ(gort_promise_state(a), GORT_REJECTED);
    CHECK_EQ(gort_promise_error(a), GORT_EAGGREGATE);
    for (int i = 0; i < 3; i++)
        gort_promise_release(ps[i]);
    gort_promise **arr = gort_promise_reason(a);
    CHECK(arr != NULL);
    CHECK_EQ(gort_promise_error(arr[0]), GORT_EPERM);
    CHECK_EQ(gort_promise_error(arr[1]), GORT_ERANGE);
    CHECK_EQ(gort_promise_error(arr[2]), GORT_EINVAL);
    CHECK_EQ(gort_await(a), GORT_EAGGREGATE);
    gort_promise_release(a);
    stop();
}

TEST(comb_empty_and_presettled)
{
    start();
    gort_promise *all = gort_promise_all(NULL, 0);
    CHECK_EQ(gort_promise_state(all), GORT_FULFILLED);
    CHECK(gort_promise_value(all) != NULL);
    gort_promise *as = gort_promise_all_settled(NULL, 0);
    CHECK_EQ(gort_promise_state(as), GORT_FULFILLED);
    CHECK(gort_promise_value(as) != NULL);
    gort_promise *any = gort_promise_any(NULL, 0);
    CHECK_EQ(gort_promise_state(any), GORT_REJECTED);
    CHECK_EQ(gort_promise_error(any), GORT_EAGGREGATE);
    CHECK_EQ(gort_await(any), GORT_EAGGREGATE);
    gort_promise *race = gort_promise_race(NULL, 0);
    CHECK_EQ(gort_promise_state(race), GORT_PENDING);
    CHECK_EQ(gort_await_until(race, gort_now() + MS), GORT_ETIMEDOUT);
    gort_promise_release(all);
    gort_promise_release(as);
    gort_promise_release(any);
    gort_promise_release(race);

    /* inputs settled before the combinator is made */
    gort_promise *ps[3];
    for (int i = 0; i < 3; i++) {
        ps[i] = gort_promise_new();
        gort_promise_resolve(ps[i], &vals[i], NULL);
    }
    all = gort_promise_all(ps, 3);
    CHECK_EQ(gort_promise_state(all), GORT_FULFILLED);
    void **v = gort_promise_value(all);
    for (int i = 0; i < 3; i++)
        CHECK(v[i] == &vals[i]);
    race = gort_promise_race(ps, 3);
    CHECK(gort_promise_value(race) == &vals[0]);
    /* a duplicate input counts twice */
    gort_promise *dup[2] = {ps[1], ps[1]};
    gort_promise *d = gort_promise_all(dup, 2);
    CHECK_EQ(gort_promise_state(d), GORT_FULFILLED);
    for (int i = 0; i < 3; i++)
        gort_promise_release(ps[i]);
    gort_promise_release(all);
    gort_promise_release(race);
    gort_promise_release(d);
    stop();
}

/* Combinator inputs settled concurrently from many threads. */
#define CC_N 64
static gort_promise *cc_in[CC_N];
static gort_wg cc_wg = GORT_WG_INIT;
static void cc_go(void *arg)
{
    int i = (int)(intptr_t)arg;
    gort_promise_resolve(cc_in[i], &vals[i % 8], NULL);
    gort_wg_done(&cc_wg);
}

TEST(comb_concurrent_inputs)
{
    start();
    for (int round = 0; round < T_SCALE(100) + 1; round++) {
        for (int i = 0; i < CC_N; i++)
            cc_in[i] = gort_promise_new();
        gort_promise *all = gort_promise_all(cc_in, CC_N);
        gort_promise *as = gort_promise_all_settled(cc_in, CC_N);
        gort_promise *any = gort_promise_any(cc_in, CC_N);
        gort_wg_add(&cc_wg, CC_N);
        for (int i = 0; i < CC_N; i++)
            CHECK_EQ(gort_go(cc_go, (void *)(intptr_t)i), 0);
        CHECK_EQ(gort_await_until(all, hatch()), 0);
        CHECK_EQ(gort_await_until(as, hatch()), 0);
        CHECK_EQ(gort_await_until(any, hatch()), 0);
        void **v = gort_promise_value(all);
        for (int i = 0; i < CC_N; i++)
            CHECK(v[i] == &vals[i % 8]);
        wg_wait_hatch(&cc_wg);
        for (int i = 0; i < CC_N; i++)
            gort_promise_release(cc_in[i]);
        gort_promise_release(all);
        gort_promise_release(as);
        gort_promise_release(any);
    }
    stop();
}

/* ---- async / await -------------------------------------------------------- */

static long fib(int n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static void job_fib(gort_promise *p, void *arg)
{
    long *r = malloc(sizeof *r);
    *r = fib((int)(intptr_t)arg);
    gort_promise_resolve(p, r, free);
}

static void job_fail(gort_promise *p, void *arg)
{
    (void)arg;
    gort_promise_reject(p, GORT_ERANGE, "too big");
}

static void job_nothing(gort_promise *p, void *arg)
{
    (void)p;
    (void)arg;
}

static void check_async_await(void)
{
    gort_promise *p = gort_async(job_fib, (void *)(intptr_t)25);
    CHECK(p != NULL);
    CHECK_EQ(gort_await(p), 0);
    CHECK_EQ(*(long *)gort_promise_value(p), fib(25));
    gort_promise_release(p);
    p = gort_async(job_fail, NULL);
    CHECK_EQ(gort_await(p), GORT_ERANGE);
    CHECK(strcmp(gort_promise_message(p), "too big") == 0);
    gort_promise_release(p);
    p = gort_async(job_nothing, NULL);
    CHECK_EQ(gort_await_until(p, hatch()), 0);
    CHECK_EQ(gort_promise_state(p), GORT_FULFILLED);
    CHECK(gort_promise_value(p) == NULL);
    gort_promise_release(p);
}

/* In a loop-bound goroutine: the await yields to the loop, which keeps
 * running its tasks (ticks) until the pool's result arrives. */
static _Atomic int ticks;
static _Atomic int lb_done;
static gort_loop *lb_loop;
static void tick(void *arg)
{
    (void)arg;
    CHECK(pthread_equal(pthread_self(), loop_thread));
    atomic_fetch_add(&ticks, 1);
    if (!atomic_load(&lb_done))
        CHECK(gort_loop_set_timeout(lb_loop, 100 * GORT_MICROSECOND, tick, NULL) > 0);
}
static void lb_async(void *arg)
{
    (void)arg;
    CHECK(pthread_equal(pthread_self(), loop_thread));
    check_async_await();
    /* a long job: the loop ticks meanwhile */
    int before = atomic_load(&ticks);
    gort_promise *p = gort_async(job_fib, (void *)(intptr_t)30);
    CHECK_EQ(gort_await(p), 0);
    CHECK(pthread_equal(pthread_self(), loop_thread));
    CHECK_EQ(*(long *)gort_promise_value(p), fib(30));
    gort_promise_release(p);
    int after = atomic_load(&ticks);
    printf("    loop ticked %d times while awaiting fib(30)\n", after - before);
    atomic_store(&lb_done, 1);
}

TEST(async_await_loop_bound)
{
    start();
    loop_thread = pthread_self();
    lb_loop = gort_loop_new();
    CHECK_EQ(gort_loop_go(lb_loop, lb_async, NULL), 0);
    CHECK(gort_loop_set_timeout(lb_loop, 0, tick, NULL) > 0);
    CHECK_EQ(gort_loop_run(lb_loop), 0);
    CHECK_EQ(atomic_load(&lb_done), 1);
    gort_loop_free(lb_loop);
    stop();
}

static gort_wg aw_wg = GORT_WG_INIT;
static void pool_async(void *arg)
{
    (void)arg;
    check_async_await();
    gort_wg_done(&aw_wg);
}

TEST(async_await_pool_goroutine)
{
    start();
    gort_wg_add(&aw_wg, 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(gort_go(pool_async, NULL), 0);
    wg_wait_hatch(&aw_wg);
    stop();
}

static void *thread_async(void *arg)
{
    (void)arg;
    check_async_await();
    return NULL;
}

TEST(async_await_foreign_thread)
{
    start();
    check_async_await(); /* the case's main thread */
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, thread_async, NULL), 0);
    for (int i = 0; i < 3; i++)
        join_thread(th[i]);
    stop();
}

/* gort_async from a loop task: the result comes back through a reaction. */
static void h_fib_done(gort_promise *next, gort_promise *s, void *ud)
{
    (void)next;
    (void)ud;
    CHECK(pthread_equal(pthread_self(), loop_thread));
    CHECK_EQ(*(long *)gort_promise_value(s), fib(27));
    atomic_fetch_add(&ran, 1);
}
static void task_async_then(void *arg)
{
    (void)arg;
    gort_promise *p = gort_async(job_fib, (void *)(intptr_t)27);
    CHECK(p != NULL);
    gort_promise *n = gort_promise_then(p, NULL, h_fib_done, NULL, NULL);
    CHECK(n != NULL);
    gort_promise_release(n);
    gort_promise_release(p);
}

TEST(async_then_from_loop_task)
{
    start();
    loop_thread = pthread_self();
    atomic_store(&ran, 0);
    /* The reaction keeps the loop alive: run returns after it ran. */
    run_in_loop(task_async_then, NULL);
    CHECK_EQ(atomic_load(&ran), 1);
    stop();
}

/* Deadlines. */
static void check_timeouts(void)
{
    gort_promise *p = gort_promise_new();
    CHECK_EQ(gort_await_until(p, GORT_NOWAIT), GORT_ETIMEDOUT);
    CHECK_EQ(gort_await_until(p, gort_now() - GORT_SECOND), GORT_ETIMEDOUT);
    int64_t t0 = gort_now();
    CHECK_EQ(gort_await_until(p, t0 + 20 * MS), GORT_ETIMEDOUT);
    CHECK(gort_now() - t0 >= 20 * MS);
    CHECK_EQ(gort_promise_state(p), GORT_PENDING); /* untouched */
    int *v = malloc(sizeof *v);
    CHECK_EQ(gort_promise_resolve(p, v, free), 0); /* the stale waiter is gone */
    CHECK_EQ(gort_await_until(p, GORT_NOWAIT), 0);
    gort_promise_release(p);
}

static void pool_timeouts(void *arg)
{
    (void)arg;
    check_timeouts();
    gort_wg_done(&aw_wg);
}

static void lb_timeouts(void *arg)
{
    (void)arg;
    check_timeouts();
}

TEST(await_deadline)
{
    start();
    check_timeouts();
    gort_wg_add(&aw_wg, 2);
    CHECK_EQ(gort_go(pool_timeouts, NULL), 0);
    CHECK_EQ(gort_go(pool_timeouts, NULL), 0);
    wg_wait_hatch(&aw_wg);
    gort_loop *loop = gort_loop_new();
    CHECK_EQ(gort_loop_go(loop, lb_timeouts, NULL), 0);
    CHECK_EQ(gort_loop_run(loop), 0);
    gort_loop_free(loop);
    stop();
}

/* Resolve racing the deadline: either result is fine, nothing is lost,
 * nothing is touched after the awaiter left (ASan/TSan). */
static gort_promise *dr_p;
static void dr_resolver(void *arg)
{
    (void)arg;
    int *v = malloc(sizeof *v);
    gort_promise_resolve(dr_p, v, free);
    gort_wg_done(&aw_wg);
}
static void dr_awaiter(void *arg)
{
    (void)arg;
    int r = gort_await_until(dr_p, gort_now() + 20 * GORT_MICROSECOND);
    CHECK(r == 0 || r == GORT_ETIMEDOUT);
    if (r == 0)
        CHECK_EQ(gort_promise_state(dr_p), GORT_FULFILLED);
    gort_wg_done(&aw_wg);
}

TEST(await_deadline_race)
{
    start();
    for (int i = 0; i < T_SCALE(3000) + 1; i++) {
        dr_p = gort_promise_new();
        gort_wg_add(&aw_wg, 3);
        CHECK_EQ(gort_go(dr_awaiter, NULL), 0);
        CHECK_EQ(gort_go(dr_awaiter, NULL), 0);
        CHECK_EQ(gort_go(dr_resolver, NULL), 0);
        wg_wait_hatch(&aw_wg);
        gort_promise_release(dr_p);
    }
    stop();
}

/* Many awaiters of one promise, goroutines and threads: one resolve wakes
 * them all. */
static gort_promise *many_p;
static _Atomic int many_woken;
static void many_go(void *arg)
{
    (void)arg;
    CHECK_EQ(gort_await_until(many_p, hatch()), 0);
    atomic_fetch_add(&many_woken, 1);
    gort_wg_done(&aw_wg);
}
static void *many_thread(void *arg)
{
    (void)arg;
    CHECK_EQ(gort_await_until(many_p, hatch()), 0);
    atomic_fetch_add(&many_woken, 1);
    return NULL;
}

TEST(await_many_waiters)
{
    start();
    many_p = gort_promise_new();
    gort_wg_add(&aw_wg, 100);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(gort_go(many_go, NULL), 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, many_thread, NULL), 0);
    gort_sleep(5 * MS); /* let most of them block (not needed for correctness) */
    gort_promise_resolve(many_p, NULL, NULL);
    wg_wait_hatch(&aw_wg);
    for (int i = 0; i < 4; i++)
        join_thread(th[i]);
    CHECK_EQ(atomic_load(&many_woken), 104);
    gort_promise_release(many_p);
    stop();
}

/* GORT_EDEADLK on the loop's own thread, outside a loop-bound goroutine. */
static void h_await_in_reaction(gort_promise *next, gort_promise *s, void *ud)
{
    (void)s;
    (void)ud;
    gort_promise *q = gort_promise_new();
    CHECK_EQ(gort_await(q), GORT_EDEADLK);
    CHECK_EQ(gort_await(next), GORT_EDEADLK);
    gort_promise_release(q);
    atomic_fetch_add(&ran, 1);
}
static void task_edeadlk(void *arg)
{
    (void)arg;
    gort_promise *p = gort_promise_new();
    CHECK_EQ(gort_await(p), GORT_EDEADLK);
    CHECK_EQ(gort_await_until(p, gort_now() + MS), GORT_EDEADLK);
    CHECK_EQ(gort_await_until(p, GORT_NOWAIT), GORT_ETIMEDOUT); /* never blocks */
    gort_promise_resolve(p, NULL, NULL);
    CHECK_EQ(gort_await(p), 0); /* settled: fine anywhere */
    gort_promise *n = gort_promise_then(p, NULL, h_await_in_reaction, NULL, NULL);
    gort_promise_release(n);
    gort_promise_release(p);
}

TEST(await_edeadlk_on_loop_thread)
{
    start();
    atomic_store(&ran, 0);
    run_in_loop(task_edeadlk, NULL);
    CHECK_EQ(atomic_load(&ran), 1);
    stop();
}

/* In a loop-bound goroutine, `then(p, r1); await(p)` runs r1 before the
 * code after the await (JavaScript: the continuation is a later reaction). */
static gort_promise *ord_p;
static void lb_ordered(void *arg)
{
    (void)arg;
    gort_promise_release(gort_promise_then(ord_p, NULL, h_log, NULL, (void *)(intptr_t)1));
    CHECK_EQ(gort_await(ord_p), 0);
    log_put(2);
    gort_promise_release(gort_promise_then(ord_p, NULL, h_log, NULL, (void *)(intptr_t)3));
}
static void task_resolve_ord(void *arg)
{
    (void)arg;
    gort_promise_resolve(ord_p, NULL, NULL);
}
static _Atomic int ord_go;
static void task_release_thread(void *arg)
{
    (void)arg;
    atomic_store(&ord_go, 1); /* runs only once the goroutine has parked */
}
static void lb_ordered_remote(void *arg)
{
    gort_promise_release(gort_promise_then(ord_p, NULL, h_log, NULL, (void *)(intptr_t)1));
    CHECK_EQ(gort_loop_post(arg, task_release_thread, NULL), 0);
    CHECK_EQ(gort_await(ord_p), 0);
    log_put(2);
    gort_promise_release(gort_promise_then(ord_p, NULL, h_log, NULL, (void *)(intptr_t)3));
}
static void *ord_thread(void *arg)
{
    gort_loop *loop = arg;
    while (!atomic_load(&ord_go))
        sched_yield();
    gort_promise_resolve(ord_p, NULL, NULL);
    gort_loop_unref(loop);
    return NULL;
}

TEST(await_resumes_after_earlier_reactions)
{
    start();
    /* settled by a task on the loop */
    atomic_store(&nlog, 0);
    ord_p = gort_promise_new();
    gort_loop *loop = gort_loop_new();
    CHECK_EQ(gort_loop_go(loop, lb_ordered, NULL), 0);
    CHECK_EQ(gort_loop_post(loop, task_resolve_ord, NULL), 0);
    CHECK_EQ(gort_loop_run(loop), 0);
    CHECK_EQ(atomic_load(&nlog), 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(logv[i], i + 1);
    gort_promise_release(ord_p);

    /* settled by another thread */
    atomic_store(&nlog, 0);
    ord_p = gort_promise_new();
    atomic_store(&ord_go, 0);
    CHECK_EQ(gort_loop_go(loop, lb_ordered_remote, loop), 0);
    gort_loop_ref(loop);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, ord_thread, loop), 0);
    CHECK_EQ(gort_loop_run(loop), 0);
    join_thread(th);
    CHECK_EQ(atomic_load(&nlog), 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(logv[i], i + 1);
    gort_promise_release(ord_p);
    gort_loop_free(loop);
    stop();
}

/* ---- storm ------------------------------------------------------------------ */

static struct {
    long           n;
    gort_promise **ps;
    _Atomic int   *hits;
    _Atomic long   done;
    gort_loop     *loop;
    int            nsettlers;
    gort_wg        wg;
} storm;

static void storm_h(gort_promise *next, gort_promise *s, void *ud)
{
    (void)next;
    long i = (long)(intptr_t)ud;
    CHECK_MSG(pthread_equal(pthread_self(), loop_thread), "reaction %ld off the loop thread", i);
    CHECK_EQ(gort_promise_state(s), (i % 3) ? GORT_FULFILLED : GORT_REJECTED);
    CHECK_EQ(atomic_fetch_add(&storm.hits[i], 1), 0);
    if (atomic_fetch_add(&storm.done, 1) + 1 == storm.n)
        gort_loop_unref(storm.loop);
}

static void storm_settle(int k)
{
    for (long i = k; i < storm.n; i += storm.nsettlers) {
        if (i % 3)
            CHECK_EQ(gort_promise_resolve(storm.ps[i], (void *)(intptr_t)i, NULL), 0);
        else
            CHECK_EQ(gort_promise_reject(storm.ps[i], GORT_ECANCELED, NULL), 0);
    }
}
static void storm_go(void *arg)
{
    storm_settle((int)(intptr_t)arg);
    gort_wg_done(&storm.wg);
}
static void *storm_thread(void *arg)
{
    storm_settle((int)(intptr_t)arg);
    return NULL;
}
/* Registers the reactions on the loop thread while the settlers run: some
 * promises are pending, some settled, some being drained. */
static void storm_register(void *arg)
{
    for (long i = (long)(intptr_t)arg; i < storm.n; i++) {
        gort_promise *nx = gort_promise_then(storm.ps[i], NULL, storm_h, storm_h, (void *)(intptr_t)i);
        CHECK(nx != NULL);
        gort_promise_release(nx);
    }
}

TEST(storm_cross_thread_settle)
{
    start();
    loop_thread = pthread_self();
    storm.n = (long)T_SCALE(100000) + 3;
    storm.ps = malloc((size_t)storm.n * sizeof *storm.ps);
    storm.hits = calloc((size_t)storm.n, sizeof *storm.hits);
    CHECK(storm.ps && storm.hits);
    for (long i = 0; i < storm.n; i++)
        storm.ps[i] = gort_promise_new();
    storm.loop = gort_loop_new();
    enum { NGO = 8, NTH = 4 };
    storm.nsettlers = NGO + NTH;
    gort_loop_ref(storm.loop); /* until the last reaction */
    /* the first half registered before anything settles */
    for (long i = 0; i < storm.n / 2; i++)
        gort_promise_release(
            gort_promise_then(storm.ps[i], storm.loop, storm_h, storm_h, (void *)(intptr_t)i));
    long half = storm.n / 2;
    /* the rest by a loop task, concurrently with the settlers */
    CHECK_EQ(gort_loop_post(storm.loop, storm_register, (void *)(intptr_t)half), 0);
    gort_wg_add(&storm.wg, NGO);
    for (int k = 0; k < NGO; k++)
        CHECK_EQ(gort_go(storm_go, (void *)(intptr_t)k), 0);
    pthread_t th[NTH];
    for (int k = 0; k < NTH; k++)
        CHECK_EQ(pthread_create(&th[k], NULL, storm_thread, (void *)(intptr_t)(NGO + k)), 0);
    int64_t t0 = gort_now();
    CHECK_EQ(gort_loop_run(storm.loop), 0);
    int64_t t1 = gort_now();
    wg_wait_hatch(&storm.wg);
    for (int k = 0; k < NTH; k++)
        join_thread(th[k]);
    for (long i = 0; i < storm.n; i++)
        CHECK_MSG(atomic_load(&storm.hits[i]) == 1, "reaction %ld ran %d times", i,
                  atomic_load(&storm.hits[i]));
    printf("    %ld promises settled from %d goroutines + %d threads: %.1f ms\n", storm.n, NGO,
           NTH, (double)(t1 - t0) / 1e6);
    for (long i = 0; i < storm.n; i++)
        gort_promise_release(storm.ps[i]);
    free(storm.ps);
    free((void *)storm.hits);
    gort_loop_free(storm.loop);
    stop();
}

/* ---- unhandled rejections --------------------------------------------------- */

static _Atomic int hook_calls;
static int hook_err;
static int hook_marker;
static void hook(gort_promise *p, void *ud)
{
    CHECK(ud == &hook_marker);
    CHECK_EQ(gort_promise_state(p), GORT_REJECTED);
    hook_err = gort_promise_error(p);
    atomic_fetch_add(&hook_calls, 1);
}

static void h_swallow(gort_promise *next, gort_promise *s, void *ud)
{
    (void)next;
    (void)s;
    (void)ud;
}
static void task_handled_by_then(void *arg)
{
    (void)arg;
    gort_promise *p = gort_promise_new();
    gort_promise_reject(p, GORT_EPERM, NULL);
    gort_promise_release(gort_promise_then(p, NULL, NULL, h_swallow, NULL));
    gort_promise_release(p);
    /* a rejection passed down to a then() without handler, whose result is
     * dropped, is unhandled at the end of the chain (as in Node) */
    gort_promise *q = gort_promise_new();
    gort_promise_release(gort_promise_then(q, NULL, h_swallow, NULL, NULL));
    gort_promise_reject(q, GORT_ERANGE, NULL);
    gort_promise_release(q);
}

TEST(unhandled_rejection_hook)
{
    start();
    gort_set_unhandled_rejection_hook(hook, &hook_marker);
    /* unhandled: reported once, at the last release */
    gort_promise *p = gort_promise_new();
    gort_promise_reject(p, GORT_EINVAL, "boom");
    gort_promise_retain(p);
    gort_promise_release(p);
    CHECK_EQ(atomic_load(&hook_calls), 0);
    gort_promise_release(p);
    CHECK_EQ(atomic_load(&hook_calls), 1);
    CHECK_EQ(hook_err, GORT_EINVAL);

    /* fulfilled, or pending: never reported */
    p = gort_promise_new();
    gort_promise_resolve(p, NULL, NULL);
    gort_promise_release(p);
    gort_promise_release(gort_promise_new());
    CHECK_EQ(atomic_load(&hook_calls), 1);

    /* observed by await, a combinator or an adoption: not reported */
    p = gort_promise_new();
    gort_promise_reject(p, GORT_EINVAL, NULL);
    CHECK_EQ(gort_await(p), GORT_EINVAL);
    gort_promise_release(p);
    p = gort_promise_new();
    gort_promise *s = gort_promise_all_settled(&p, 1);
    gort_promise_reject(p, GORT_EINVAL, NULL);
    gort_promise_release(p);
    gort_promise_release(s);
    CHECK_EQ(atomic_load(&hook_calls), 1);

    /* adoption: the source is handled, the adopter is not */
    p = gort_promise_new();
    gort_promise *d = gort_promise_new();
    gort_promise_resolve_with(d, p);
    gort_promise_reject(p, GORT_ECANCELED, NULL);
    gort_promise_release(p);
    CHECK_EQ(atomic_load(&hook_calls), 1);
    gort_promise_release(d);
    CHECK_EQ(atomic_load(&hook_calls), 2);
    CHECK_EQ(hook_err, GORT_ECANCELED);

    /* then(): handled; the end of a pass-through chain is not */
    run_in_loop(task_handled_by_then, NULL);
    CHECK_EQ(atomic_load(&hook_calls), 3);
    CHECK_EQ(hook_err, GORT_ERANGE);
    gort_set_unhandled_rejection_hook(NULL, NULL);
    stop();
}

TEST(unhandled_rejection_default_message)
{
    start();
    char path[] = "/tmp/gort_promise_stderr_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    CHECK(saved >= 0);
    CHECK(dup2(fd, STDERR_FILENO) >= 0);
    gort_promise *p = gort_promise_new();
    gort_promise_reject(p, GORT_EINVAL, "boom");
    gort_promise_release(p);
    p = gort_promise_new();
    gort_promise_reject(p, GORT_ECLOSED, NULL);
    gort_promise_release(p);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char buf[512] = {0};
    CHECK(pread(fd, buf, sizeof buf - 1, 0) > 0);
    close(fd);
    CHECK_MSG(strstr(buf, "gort: unhandled promise rejection: GORT_EINVAL: boom\n") != NULL, "%s", buf);
    CHECK_MSG(strstr(buf, "gort: unhandled promise rejection: GORT_ECLOSED: channel closed\n") != NULL,
              "%s", buf);
    stop();
}

/* ---- bridges ------------------------------------------------------------------ */

static void send_later(void *arg)
{
    gort_chan *ch = arg;
    gort_sleep(2 * MS);
    int v = 7;
    CHECK_EQ(gort_chan_send(ch, &v), 0);
    gort_chan_release(ch);
}

TEST(bridge_from_recv)
{
    start();
    gort_chan *ch = gort_chan_make(sizeof(int), 1);
    int v = 42;
    CHECK_EQ(gort_chan_send(ch, &v), 0);
    gort_promise *p = gort_promise_from_recv(ch); /* ready: at once */
    CHECK_EQ(gort_promise_state(p), GORT_FULFILLED);
    CHECK_EQ(*(int *)gort_promise_value(p), 42);
    gort_promise_release(p);

    p = gort_promise_from_recv(ch); /* later */
    CHECK(p != NULL);
    CHECK_EQ(gort_go(send_later, gort_chan_retain(ch)), 0);
    CHECK_EQ(gort_await_until(p, hatch()), 0);
    CHECK_EQ(*(int *)gort_promise_value(p), 7);
    gort_promise_release(p);

    p = gort_promise_from_recv(ch); /* closed while waiting */
    gort_promise *q = gort_promise_from_recv(ch);
    gort_chan_close(ch);
    CHECK_EQ(gort_await_until(p, hatch()), GORT_ECLOSED);
    CHECK_EQ(gort_await_until(q, hatch()), GORT_ECLOSED);
    gort_promise_release(p);
    gort_promise_release(q);
    p = gort_promise_from_recv(ch); /* closed already */
    CHECK_EQ(gort_promise_error(p), GORT_ECLOSED);
    CHECK_EQ(gort_await(p), GORT_ECLOSED);
    gort_promise_release(p);
    gort_chan_release(ch);

    /* zero-size elements: fulfilled with NULL */
    gort_chan *z = gort_chan_make(0, 1);
    gort_chan_send(z, NULL);
    p = gort_promise_from_recv(z);
    CHECK_EQ(gort_promise_state(p), GORT_FULFILLED);
    CHECK(gort_promise_value(p) == NULL);
    gort_promise_release(p);
    gort_chan_release(z);
    stop();
}

TEST(bridge_to_chan)
{
    start();
    /* buffered, pending promise: sent when it settles */
    gort_chan *ch = gort_chan_make(sizeof(gort_promise *), 2);
    gort_promise *p = gort_promise_new();
    CHECK_EQ(gort_promise_to_chan(p, ch), 0);
    CHECK_EQ(gort_chan_len(ch), 0);
    int v = 3;
    gort_promise_resolve(p, &v, NULL);
    gort_promise *got = NULL;
    CHECK_EQ(gort_chan_try_recv(ch, &got), 0);
    CHECK(got == p);
    gort_promise_release(got);
    /* already settled: sent at once */
    CHECK_EQ(gort_promise_to_chan(p, ch), 0);
    CHECK_EQ(gort_chan_try_recv(ch, &got), 0);
    CHECK(got == p && gort_promise_value(got) == &v);
    gort_promise_release(got);
    gort_promise_release(p);
    gort_chan_release(ch);

    /* unbuffered: the settler does not block; a goroutine delivers */
    gort_chan *u = gort_chan_make(sizeof(gort_promise *), 0);
    gort_promise *r = gort_promise_new();
    CHECK_EQ(gort_promise_to_chan(r, u), 0);
    gort_promise_reject(r, GORT_ECANCELED, "x"); /* returns at once */
    CHECK_EQ(gort_chan_recv_until(u, &got, hatch()), 0);
    CHECK(got == r);
    CHECK_EQ(gort_promise_error(got), GORT_ECANCELED);
    gort_promise_release(got);
    gort_promise_release(r);
    /* The delivering goroutine exits after the hand-off: let it, or the
     * shutdown at the end of the case discards it with its allocation. */
    int64_t until = hatch();
    while (gort_num_goroutine() != 0 && gort_now() < until)
        sched_yield();
    CHECK_MSG(gort_num_goroutine() == 0, "the delivering goroutine never exited");

    /* closed channel: nothing sent, nothing leaked */
    gort_promise *c = gort_promise_new();
    CHECK_EQ(gort_promise_to_chan(c, u), 0);
    gort_chan_close(u);
    gort_promise_resolve(c, NULL, NULL);
    gort_promise_release(c);
    /* freed while pending: the node releases the channel */
    gort_promise *f = gort_promise_new();
    CHECK_EQ(gort_promise_to_chan(f, u), 0);
    gort_promise_release(f);
    gort_chan_release(u);

    /* wrong element size */
    gort_chan *w = gort_chan_make(sizeof(int), 1);
    p = gort_promise_new();
    CHECK_EQ(gort_promise_to_chan(p, w), GORT_EINVAL);
    gort_promise_release(p);
    gort_chan_release(w);
    stop();
}

/* ---- bad input -------------------------------------------------------------- */

TEST(bad_input)
{
    start();
    atomic_store(&dtor_calls, 0);
    int x;
    CHECK(gort_promise_retain(NULL) == NULL);
    gort_promise_release(NULL);
    CHECK_EQ(gort_promise_resolve(NULL, &x, count_dtor), GORT_EINVAL);
    CHECK_EQ(atomic_load(&dtor_calls), 1); /* ownership passed either way */
    CHECK_EQ(gort_promise_reject(NULL, GORT_EINVAL, "m"), GORT_EINVAL);
    CHECK_EQ(gort_promise_reject_value(NULL, GORT_EINVAL, &x, count_dtor), GORT_EINVAL);
    CHECK_EQ(atomic_load(&dtor_calls), 2);
    CHECK_EQ(gort_promise_resolve_with(NULL, NULL), GORT_EINVAL);
    CHECK_EQ(gort_promise_state(NULL), GORT_EINVAL);
    CHECK(gort_promise_value(NULL) == NULL);
    CHECK_EQ(gort_promise_error(NULL), GORT_EINVAL);
    CHECK(gort_promise_message(NULL) == NULL);
    CHECK(gort_promise_reason(NULL) == NULL);
    CHECK(gort_promise_then(NULL, NULL, h_nothing, NULL, NULL) == NULL);
    CHECK_EQ(gort_await(NULL), GORT_EINVAL);
    CHECK_EQ(gort_await_until(NULL, GORT_NOWAIT), GORT_EINVAL);
    CHECK(gort_promise_all(NULL, 2) == NULL);
    gort_promise *p = gort_promise_new();
    gort_promise *withnull[2] = {p, NULL};
    CHECK(gort_promise_all(withnull, 2) == NULL);
    CHECK(gort_promise_any(withnull, 2) == NULL);
    CHECK(gort_promise_race(withnull, 2) == NULL);
    CHECK(gort_promise_all_settled(withnull, 2) == NULL);
    CHECK(gort_async(NULL, NULL) == NULL);
    CHECK(gort_promise_from_recv(NULL) == NULL);
    CHECK_EQ(gort_promise_to_chan(NULL, NULL), GORT_EINVAL);
    CHECK_EQ(gort_promise_to_chan(p, NULL), GORT_EINVAL);
    CHECK_EQ(gort_promise_resolve_with(p, NULL), GORT_EINVAL);
    /* err >= 0 is not a rejection */
    CHECK_EQ(gort_promise_reject(p, 0, "zero"), GORT_EINVAL);
    CHECK_EQ(gort_promise_reject(p, 5, NULL), GORT_EINVAL);
    CHECK_EQ(gort_promise_reject_value(p, 0, &x, count_dtor), GORT_EINVAL);
    CHECK_EQ(atomic_load(&dtor_calls), 3);
    CHECK_EQ(gort_promise_state(p), GORT_PENDING);
    gort_promise_release(p);
    stop();
}

HARNESS_MAIN()
