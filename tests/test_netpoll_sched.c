/*
 * test_netpoll_sched.c — how the scheduler and the network poller hand
 * readiness to goroutines (sched.c's blocking poller, netpoll_epoll.c),
 * white-box: what the hand-off costs in engine threads, and that it loses
 * nothing.
 *
 * Each round of these cases makes the engine fall idle with a goroutine
 * parked on a socket, so its only M blocks in epoll (gort__S.in_netpoll),
 * and only then lets a foreign thread make the socket ready. So every round
 * goes through the blocking poller, not through the busy M's non-blocking
 * poll. The foreign thread waits for that state by polling the flag with
 * sched_yield (bounded by a deadline), never by sleeping.
 *
 * Cases:
 *   poller_runs_what_it_readies_p1
 *                 at one P the poller takes the idle P itself and runs the
 *                 goroutine it readied: in rounds of ping-pong through the
 *                 blocking poller the goroutine runs on the poller's M
 *                 (before the fix, the poller's wakep() gave the only P to
 *                 another M, futex-woken every round, and the poller went
 *                 back to epoll)
 *   poller_wakes_for_the_rest_p1, _p2
 *                 a poll that readies two goroutines gets both run: nothing
 *                 one poll readies is left behind when the poller runs the
 *                 first itself
 *   io_wait_reaches_timer_poller_p2
 *                 a goroutine that starts waiting for I/O while the poller
 *                 sleeps for a timer alone (in a futex, not in epoll) gets
 *                 an M into epoll, so its readiness is seen at once
 */
#include "gort.h"
#include "harness.h"
#include "engine.h" /* white-box: gort__S.in_netpoll, gort__S.poller, gort__this_m */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int64_t hatch(void)
{
    return gort_now() + 30 * GORT_SECOND * (getenv("GORT_UNDER_VALGRIND") ? 4 : 1);
}

static void run_with(int procs, void (*fn)(void *), void *arg)
{
    signal(SIGPIPE, SIG_IGN);
    gort_config cfg;
    gort_config_init(&cfg);
    cfg.procs = procs;
    CHECK_EQ(gort_init(&cfg), 0);
    CHECK_EQ(gort_main(fn, arg), 0);
    gort_shutdown();
}

/* Foreign thread: wait (bounded, yielding) until the engine's poller blocks
 * in epoll. */
static void await_blocked_poller(void)
{
    int64_t end = hatch();
    while (!atomic_load(&gort__S.in_netpoll)) {
        CHECK_MSG(gort_now() < end, "the engine's M never blocked in the network poller");
        sched_yield();
    }
}

/* A blocking (foreign-side) end and a gort end of one stream socketpair. */
static void make_pair(int sv[2])
{
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    CHECK_EQ(gort_fd_register(sv[1]), 0); /* non-blocking, in the poller */
}

/* ---- poller_runs_what_it_readies_p1 --------------------------------------- */

typedef struct pingpong {
    int               fd;       /* the foreign thread's (blocking) end */
    long              rounds;   /* round trips to make */
    _Atomic(gort__m *) poller;  /* the M blocked in epoll when this round's byte was sent */
} pingpong;

static gort__m *blocked_poller(void)
{
    gort__lock_acquire(&gort__S.lock);
    gort__m *m = gort__S.poller;
    gort__lock_release(&gort__S.lock);
    return m;
}

static void *pinger(void *arg)
{
    pingpong *pp = arg;
    for (long i = 0; i < pp->rounds; i++) {
        unsigned char b = (unsigned char)i, back = 0;
        await_blocked_poller();
        atomic_store(&pp->poller, blocked_poller());
        CHECK_EQ(write(pp->fd, &b, 1), 1);
        CHECK_EQ(read(pp->fd, &back, 1), 1);
        CHECK_EQ(back, b);
    }
    return NULL;
}

static void ponger_body(void *arg)
{
    (void)arg;
    int sv[2];
    make_pair(sv);
    pingpong pp = {.fd = sv[0], .rounds = T_SCALE(200) < 20 ? 20 : T_SCALE(200)};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, pinger, &pp), 0);
    long on_poller = 0; /* rounds run by the M whose poll readied us */
    for (long i = 0; i < pp.rounds; i++) {
        unsigned char b;
        CHECK_EQ(gort_read_until(sv[1], &b, 1, hatch()), 1);
        if (gort__this_m() == atomic_load(&pp.poller))
            on_poller++;
        CHECK_EQ(gort_write_until(sv[1], &b, 1, hatch()), 1);
    }
    CHECK_EQ(pthread_join(t, NULL), 0);
    /* Every round should be run by the poller's M; sysmon's 10 ms stale
     * poll may take a round's event first on a slow machine (Go's would
     * too), so require most, not all. Before the fix: none. */
    CHECK_MSG(2 * on_poller >= pp.rounds,
              "only %ld of %ld goroutine wake-ups through the blocking poller at one P ran on "
              "the poller's own M (the others were handed to another M)",
              on_poller, pp.rounds);
    CHECK_EQ(gort_fd_close(sv[1]), 0);
    CHECK_EQ(close(sv[0]), 0);
}

TEST(poller_runs_what_it_readies_p1) { run_with(1, ponger_body, NULL); }

/* ---- poller_wakes_for_the_rest_p2 ----------------------------------------- */

typedef struct pair_round {
    int          fds[2];   /* the foreign ends of two pairs */
    long         rounds;
    _Atomic long parked;   /* goroutines that reached their read (this round) */
} pair_round;

static void *double_pinger(void *arg)
{
    pair_round *pr = arg;
    for (long i = 0; i < pr->rounds; i++) {
        unsigned char b = (unsigned char)i, back = 0;
        int64_t end = hatch();
        while (atomic_load(&pr->parked) < 2 * (i + 1)) { /* both readers are at their read */
            CHECK_MSG(gort_now() < end, "readers never reached round %ld", i);
            sched_yield();
        }
        await_blocked_poller();
        /* Both sockets ready before the poller returns (most rounds): one
         * poll readies both goroutines. */
        CHECK_EQ(write(pr->fds[0], &b, 1), 1);
        CHECK_EQ(write(pr->fds[1], &b, 1), 1);
        for (int k = 0; k < 2; k++) {
            CHECK_EQ(read(pr->fds[k], &back, 1), 1);
            CHECK_EQ(back, b);
        }
    }
    return NULL;
}

typedef struct reader_arg {
    pair_round *pr;
    int         fd;   /* its gort end */
    gort_wg    *done;
} reader_arg;

static void echo_reader(void *arg)
{
    reader_arg *ra = arg;
    for (long i = 0; i < ra->pr->rounds; i++) {
        unsigned char b;
        atomic_fetch_add(&ra->pr->parked, 1);
        CHECK_EQ(gort_read_until(ra->fd, &b, 1, hatch()), 1);
        CHECK_EQ(gort_write_until(ra->fd, &b, 1, hatch()), 1);
    }
    gort_wg_done(ra->done);
}

static void double_body(void *arg)
{
    (void)arg;
    int a[2], b[2];
    make_pair(a);
    make_pair(b);
    pair_round pr = {.fds = {a[0], b[0]}, .rounds = T_SCALE(200) < 20 ? 20 : T_SCALE(200)};
    gort_wg done = GORT_WG_INIT;
    gort_wg_add(&done, 2);
    reader_arg ra[2] = {{&pr, a[1], &done}, {&pr, b[1], &done}};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, double_pinger, &pr), 0);
    CHECK_EQ(gort_go(echo_reader, &ra[0]), 0);
    CHECK_EQ(gort_go(echo_reader, &ra[1]), 0);
    CHECK_EQ(gort_wg_wait_until(&done, hatch()), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(gort_fd_close(a[1]), 0);
    CHECK_EQ(gort_fd_close(b[1]), 0);
    CHECK_EQ(close(a[0]), 0);
    CHECK_EQ(close(b[0]), 0);
}

TEST(poller_wakes_for_the_rest_p1) { run_with(1, double_body, NULL); }
TEST(poller_wakes_for_the_rest_p2) { run_with(2, double_body, NULL); }

/* ---- io_wait_reaches_timer_poller_p2 --------------------------------------- */

/* The M sleeping for the earliest timer (the engine's poller) sleeps in a
 * futex when nobody waited for I/O as it went to sleep. A goroutine that
 * then parks on a socket, on another M that goes idle after it, must get an
 * M into epoll: otherwise its readiness is only seen by sysmon's stale
 * poll (10 ms) and the poller sleeps on until its timer. */

typedef struct timer_waiter {
    gort_chan   *stop;    /* closed at the end: releases the waiter */
    _Atomic int  started; /* it is about to wait with a far deadline */
    gort_wg     *done;
} timer_waiter;

static void far_timer(void *arg)
{
    timer_waiter *tw = arg;
    int x;
    atomic_store(&tw->started, 1);
    /* far beyond the test's bounds: only the close ends it */
    CHECK_EQ(gort_chan_recv_until(tw->stop, &x, gort_now() + 600 * GORT_SECOND), GORT_ECLOSED);
    gort_wg_done(tw->done);
}

static void *one_ping(void *arg)
{
    int fd = *(int *)arg;
    unsigned char b = 42;
    await_blocked_poller();
    CHECK_EQ(write(fd, &b, 1), 1);
    return NULL;
}

static void timer_poller_body(void *arg)
{
    (void)arg;
    int sv[2];
    make_pair(sv);
    gort_wg done = GORT_WG_INIT;
    gort_wg_add(&done, 1);
    timer_waiter tw = {.stop = gort_chan_make(sizeof(int), 0), .done = &done};
    CHECK(tw.stop != NULL);
    CHECK_EQ(gort_go(far_timer, &tw), 0);
    /* Wait (bounded, yielding) until the other M sleeps as a timer-only
     * poller: the far timer is armed and nobody waits for I/O. */
    int64_t end = hatch();
    for (;;) {
        gort__lock_acquire(&gort__S.lock);
        bool timer_poller = gort__S.poller != NULL && !atomic_load(&gort__S.in_netpoll);
        gort__lock_release(&gort__S.lock);
        if (atomic_load(&tw.started) && timer_poller)
            break;
        CHECK_MSG(gort_now() < end, "the engine never slept for its timer alone");
        gort_yield();
    }
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, one_ping, &sv[0]), 0);
    unsigned char b = 0;
    /* No deadline: a deadline's timer would itself wake the poller (it is
     * earlier than the far one). If no M gets into epoll, one_ping's bound
     * fails the case. */
    CHECK_EQ(gort_read(sv[1], &b, 1), 1);
    CHECK_EQ(b, 42);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(gort_chan_close(tw.stop), 0);
    CHECK_EQ(gort_wg_wait_until(&done, hatch()), 0);
    gort_chan_release(tw.stop);
    CHECK_EQ(gort_fd_close(sv[1]), 0);
    CHECK_EQ(close(sv[0]), 0);
}

TEST(io_wait_reaches_timer_poller_p2) { run_with(2, timer_poller_body, NULL); }

HARNESS_MAIN()
