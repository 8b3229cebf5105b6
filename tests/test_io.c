/*
 * test_io.c — the I/O section of gort.h and the epoll poller behind it
 * (io.c, netpoll_epoll.c), exercised through the scheduler's integration.
 *
 * Every case runs in its own forked process (harness.h), starts the engine
 * itself (most cases twice: with 1 P and with 2 Ps, names *_p1 / *_p2) and
 * calls gort_shutdown at the end, so the poller's teardown runs in every
 * case (LeakSanitizer / Valgrind check it). Loopback only (127.0.0.1, ::1,
 * socketpairs); every loop is bounded; joins use deadlines so a broken
 * poller gives a FAIL, not a hang. Nothing waits by sleeping: "is the
 * goroutine parked in the poller yet?" is answered white-box by
 * gort__netpoll_pending() (netpoll.h).
 *
 * Cases:
 *   echo_*                 hundreds of concurrent connections (T_SCALE'd)
 *                          against a goroutine-per-connection echo server
 *                          with two acceptors on one listener; every byte
 *                          verified; plus bulk transfers larger than the
 *                          socket buffers (partial writes, EAGAIN on write)
 *   echo_ipv6              the same on ::1 (skipped without IPv6)
 *   deadline_*             read/accept/fd_wait deadlines within slack;
 *                          GORT_NOWAIT / past / negative deadlines; a ready
 *                          operation completes despite a past deadline
 *   close_wakes_*          gort_fd_close / gort_fd_unregister wake readers,
 *                          writers, fd_waiters and a foreign thread
 *   timer_while_polling_*  the idle engine blocked in epoll still fires
 *                          timers on time, including one added from a
 *                          foreign thread while the poller sleeps (break)
 *   ready_before_wait_*    an edge harvested before anybody waits is kept
 *                          as a token; gort_fd_wait has level semantics
 *   foreign_*              blocking I/O on foreign threads, with and
 *                          without an engine, mixed with goroutines
 *   bad_input              invalid fds, events, ports, deadlines
 */
#include "gort.h"
#include "harness.h"
#include "netpoll.h" /* white-box: gort__netpoll_pending / _poll */
#include "netpoll_fd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MS GORT_MILLISECOND

/* ---- helpers ------------------------------------------------------------- */

static int64_t slow(void)
{
    long long s = 1000000LL / T_SCALE(1000000LL);
    if (getenv("GORT_UNDER_VALGRIND"))
        s *= 4;
    return s < 1 ? 1 : (int64_t)s;
}

static long long scaled(long long n, long long min)
{
    long long v = T_SCALE(n);
    return v < min ? min : v;
}

/* Timing slack for "fired on time" checks. */
static int64_t slack(void)
{
    return 250 * MS * slow();
}

/* Escape hatch for joins. */
static int64_t hatch(void)
{
    return gort_now() + 30 * GORT_SECOND * slow();
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Start the engine with `procs` Ps, run fn as the main goroutine, stop. */
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

/* Generate name_p1 and name_p2 cases from one body(void *). */
#define IO_TEST(name)                                                                     \
    static void name##_body(void *arg);                                                   \
    TEST(name##_p1) { run_with(1, name##_body, NULL); }                                   \
    TEST(name##_p2) { run_with(2, name##_body, NULL); }                                   \
    static void name##_body(void *arg)

/* A connected non-blocking AF_UNIX stream pair. */
static void nb_pair(int sv[2])
{
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* Wait (bounded, without sleeping) until at least n goroutines are parked
 * in the poller. */
static void await_pollers(int64_t n, const char *what)
{
    int64_t end = hatch();
    while (gort__netpoll_nwait() < n) {
        CHECK_MSG(gort_now() < end, "%s never started waiting in the poller (%lld of %lld)", what,
                  (long long)gort__netpoll_nwait(), (long long)n);
        gort_yield();
    }
}

/* Deterministic byte for (stream id, offset). */
static inline unsigned char pat(uint32_t id, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)id << 32 | id);
    x ^= x >> 29;
    return (unsigned char)(x * 0xBF58476D1CE4E5B9ULL >> 56);
}

/* ---- echo server ----------------------------------------------------------- */

typedef struct echo_srv {
    int          lfd;         /* listening socket */
    gort_wg      conns;       /* connection handlers running */
    gort_wg      acceptors;   /* acceptor goroutines running */
    _Atomic long accepted;    /* connections accepted */
    _Atomic long bytes;       /* bytes echoed */
    _Atomic int  accept_err;  /* first unexpected accept error */
} echo_srv;

typedef struct echo_conn {
    echo_srv *srv; /* the server it belongs to */
    int       fd;  /* the accepted connection (the handler closes it) */
} echo_conn;

static void echo_handler(void *arg)
{
    echo_conn *c = arg;
    char buf[16384];
    for (;;) {
        ssize_t n = gort_recv(c->fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        ssize_t w = gort_write_all(c->fd, buf, (size_t)n);
        if (w != n)
            break;
        atomic_fetch_add(&c->srv->bytes, n);
    }
    gort_fd_close(c->fd);
    gort_wg_done(&c->srv->conns);
    free(c);
}

static void echo_acceptor(void *arg)
{
    echo_srv *s = arg;
    for (;;) {
        int fd = gort_accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            if (fd != GORT_ECLOSED && fd != -EBADF) {
                int z = 0;
                atomic_compare_exchange_strong(&s->accept_err, &z, fd);
            }
            break;
        }
        atomic_fetch_add(&s->accepted, 1);
        echo_conn *c = malloc(sizeof *c);
        CHECK(c != NULL);
        c->srv = s;
        c->fd = fd;
        gort_wg_add(&s->conns, 1);
        CHECK_EQ(gort_go(echo_handler, c), 0);
    }
    gort_wg_done(&s->acceptors);
}

static void echo_start(echo_srv *s, const char *host)
{
    memset(s, 0, sizeof *s);
    s->lfd = gort_tcp_listen(host, 0, 1024);
    CHECK_MSG(s->lfd >= 0, "gort_tcp_listen(%s): %s", host, gort_strerror(s->lfd));
    gort_wg_add(&s->acceptors, 2);
    CHECK_EQ(gort_go(echo_acceptor, s), 0); /* two acceptors share the listener */
    CHECK_EQ(gort_go(echo_acceptor, s), 0);
}

static void echo_stop(echo_srv *s)
{
    CHECK_EQ(gort_fd_close(s->lfd), 0); /* wakes both acceptors (GORT_ECLOSED) */
    CHECK_EQ(gort_wg_wait_until(&s->acceptors, hatch()), 0);
    CHECK_EQ(gort_wg_wait_until(&s->conns, hatch()), 0);
    CHECK_MSG(atomic_load(&s->accept_err) == 0, "accept failed: %s",
              gort_strerror(atomic_load(&s->accept_err)));
}

typedef struct echo_client {
    const char   *host;     /* server address */
    int           port;
    uint32_t      id;       /* seeds the message sizes and bytes */
    int           rounds;   /* messages to send and verify */
    gort_wg      *wg;       /* done when finished */
    _Atomic long *verified; /* total bytes verified, all clients */
} echo_client;

static void echo_client_fn(void *arg)
{
    echo_client *c = arg;
    int fd = gort_tcp_dial(c->host, c->port, hatch());
    CHECK_MSG(fd >= 0, "dial %s:%d: %s", c->host, c->port, gort_strerror(fd));
    unsigned char out[4096], in[4096];
    uint64_t off = 0;
    for (int r = 0; r < c->rounds; r++) {
        size_t len = 1 + (size_t)((c->id * 131u + (unsigned)r * 977u) % sizeof out);
        for (size_t i = 0; i < len; i++)
            out[i] = pat(c->id, off + i);
        CHECK_EQ(gort_write_all_until(fd, out, len, hatch()), (long long)len);
        size_t got = 0;
        while (got < len) {
            ssize_t n = gort_read_until(fd, in + got, len - got, hatch());
            CHECK_MSG(n > 0, "client %u read: %s", c->id, n == 0 ? "EOF" : gort_strerror((int)n));
            got += (size_t)n;
        }
        CHECK_MSG(memcmp(in, out, len) == 0, "client %u round %d: echo differs", c->id, r);
        off += len;
        atomic_fetch_add(c->verified, (long)len);
    }
    CHECK_EQ(gort_fd_close(fd), 0);
    gort_wg_done(c->wg);
}

static void echo_many(const char *host)
{
    raise_nofile();
    echo_srv s;
    echo_start(&s, host);
    int port = gort_tcp_port(s.lfd);
    CHECK(port > 0);
    int n = (int)scaled(300, 8);
    int rounds = (int)scaled(20, 3);
    gort_wg wg = GORT_WG_INIT;
    _Atomic long verified = 0;
    echo_client *cl = calloc((size_t)n, sizeof *cl);
    CHECK(cl != NULL);
    gort_wg_add(&wg, n);
    for (int i = 0; i < n; i++) {
        cl[i] = (echo_client){.host = host, .port = port, .id = (uint32_t)i + 1, .rounds = rounds,
                              .wg = &wg, .verified = &verified};
        CHECK_EQ(gort_go(echo_client_fn, &cl[i]), 0);
    }
    CHECK_EQ(gort_wg_wait_until(&wg, hatch()), 0);
    echo_stop(&s);
    CHECK_EQ(atomic_load(&s.accepted), n);
    CHECK_EQ(atomic_load(&s.bytes), atomic_load(&verified));
    CHECK(atomic_load(&verified) > 0);
    free(cl);
}

/* Bulk: one connection, a writer and a reader goroutine, far more data than
 * the socket buffers hold, so writes go partial and park on EAGAIN. */
typedef struct bulk {
    int      fd;    /* connection to the echo server */
    uint64_t total; /* bytes to send (and to read back) */
    gort_wg  wg;    /* writer + reader */
} bulk;

static void bulk_writer(void *arg)
{
    bulk *b = arg;
    unsigned char buf[65536];
    uint64_t off = 0;
    while (off < b->total) {
        size_t len = sizeof buf;
        if (len > b->total - off)
            len = (size_t)(b->total - off);
        for (size_t i = 0; i < len; i++)
            buf[i] = pat(7, off + i);
        CHECK_EQ(gort_write_all_until(b->fd, buf, len, hatch()), (long long)len);
        off += len;
    }
    CHECK_EQ(shutdown(b->fd, SHUT_WR), 0);
    gort_wg_done(&b->wg);
}

static void bulk_reader(void *arg)
{
    bulk *b = arg;
    unsigned char buf[30000];
    uint64_t off = 0;
    for (;;) {
        ssize_t n = gort_read_until(b->fd, buf, sizeof buf, hatch());
        CHECK_MSG(n >= 0, "bulk read: %s", gort_strerror((int)n));
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            CHECK_MSG(buf[i] == pat(7, off + (uint64_t)i), "bulk byte %llu differs",
                      (unsigned long long)(off + (uint64_t)i));
        off += (uint64_t)n;
    }
    CHECK_EQ(off, b->total);
    gort_wg_done(&b->wg);
}

static void echo_bulk(void)
{
    echo_srv s;
    echo_start(&s, "127.0.0.1");
    bulk b = {.total = (uint64_t)scaled(16 << 20, 1 << 20), .wg = GORT_WG_INIT};
    b.fd = gort_tcp_dial("127.0.0.1", gort_tcp_port(s.lfd), hatch());
    CHECK(b.fd >= 0);
    /* Modest buffers: many EAGAINs on both sides. (Tiny ones, a few KiB,
     * make TCP itself crawl: zero-window probes back off exponentially.) */
    int small = 64 << 10;
    setsockopt(b.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(b.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    gort_wg_add(&b.wg, 2);
    CHECK_EQ(gort_go(bulk_writer, &b), 0);
    CHECK_EQ(gort_go(bulk_reader, &b), 0);
    CHECK_EQ(gort_wg_wait_until(&b.wg, hatch()), 0);
    CHECK_EQ(gort_fd_close(b.fd), 0);
    echo_stop(&s);
    CHECK_EQ(atomic_load(&s.bytes), (long long)b.total);
}

IO_TEST(echo)
{
    (void)arg;
    echo_many("127.0.0.1");
    echo_bulk();
}

static void echo6_body(void *arg)
{
    (void)arg;
    echo_many("::1");
}

TEST(echo_ipv6)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = probe >= 0 && bind(probe, (struct sockaddr *)&a, sizeof a) == 0;
    if (probe >= 0)
        close(probe);
    if (!ok)
        SKIP("no IPv6 loopback here");
    run_with(2, echo6_body, NULL);
}

/* ---- deadlines -------------------------------------------------------------- */

static void check_elapsed(int64_t t0, int64_t want, const char *what)
{
    int64_t el = gort_now() - t0;
    CHECK_MSG(el >= want, "%s returned early: %lld us < %lld us", what, (long long)(el / 1000),
              (long long)(want / 1000));
    CHECK_MSG(el < want + slack(), "%s returned late: %lld us (wanted %lld us + slack)", what,
              (long long)(el / 1000), (long long)(want / 1000));
}

IO_TEST(deadline)
{
    (void)arg;
    int sv[2];
    nb_pair(sv);
    char buf[64];
    const int64_t d = 30 * MS;

    /* read */
    int64_t t0 = gort_now();
    CHECK_EQ(gort_read_until(sv[0], buf, sizeof buf, t0 + d), GORT_ETIMEDOUT);
    check_elapsed(t0, d, "gort_read_until");
    t0 = gort_now();
    CHECK_EQ(gort_recv_until(sv[0], buf, sizeof buf, 0, t0 + d), GORT_ETIMEDOUT);
    check_elapsed(t0, d, "gort_recv_until");
    t0 = gort_now();
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, t0 + d), GORT_ETIMEDOUT);
    check_elapsed(t0, d, "gort_fd_wait");

    /* accept */
    int lfd = gort_tcp_listen("127.0.0.1", 0, 16);
    CHECK(lfd >= 0);
    t0 = gort_now();
    CHECK_EQ(gort_accept_until(lfd, NULL, NULL, t0 + d), GORT_ETIMEDOUT);
    check_elapsed(t0, d, "gort_accept_until");

    /* expired deadlines do not wait */
    CHECK_EQ(gort_read_until(sv[0], buf, sizeof buf, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_read_until(sv[0], buf, sizeof buf, gort_now() - MS), GORT_ETIMEDOUT);
    CHECK_EQ(gort_read_until(sv[0], buf, sizeof buf, -5), GORT_ETIMEDOUT);
    CHECK_EQ(gort_accept_until(lfd, NULL, NULL, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_accept_until(lfd, NULL, NULL, -1000), GORT_ETIMEDOUT);
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, -7), GORT_ETIMEDOUT);
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, 1), GORT_ETIMEDOUT); /* 1 ns after boot: past */

    /* ...but a ready operation still completes */
    CHECK_EQ(gort_write(sv[1], "hi", 2), 2);
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, GORT_NOWAIT), GORT_POLLIN);
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN | GORT_POLLOUT, -3), GORT_POLLIN | GORT_POLLOUT);
    CHECK_EQ(gort_read_until(sv[0], buf, sizeof buf, -5), 2);
    CHECK_EQ(gort_write_until(sv[0], "x", 1, GORT_NOWAIT), 1);

    /* a deadline that passes with the fd idle, then data: the next wait works */
    t0 = gort_now();
    CHECK_EQ(gort_read_until(sv[1], buf, sizeof buf, t0 + d), 1);
    CHECK(!gort__netpoll_pending()); /* timed-out waiters were unlinked */

    CHECK_EQ(gort_fd_close(lfd), 0);
    CHECK_EQ(gort_fd_close(sv[0]), 0);
    CHECK_EQ(gort_fd_close(sv[1]), 0);
}

/* Many goroutines with staggered deadlines on idle fds: each times out on
 * its own schedule (timer + poller interplay under load). */
typedef struct dl_arg {
    int          fd;   /* idle fd to read from */
    int64_t      d;    /* relative deadline */
    gort_wg     *wg;   /* done when timed out */
    _Atomic int *late; /* waiters that woke later than the slack */
} dl_arg;

static void dl_waiter(void *arg)
{
    dl_arg *a = arg;
    char c;
    int64_t t0 = gort_now();
    CHECK_EQ(gort_read_until(a->fd, &c, 1, t0 + a->d), GORT_ETIMEDOUT);
    int64_t el = gort_now() - t0;
    CHECK_MSG(el >= a->d, "woke %lld ns early", (long long)(a->d - el));
    if (el > a->d + slack())
        atomic_fetch_add(a->late, 1);
    gort_wg_done(a->wg);
}

IO_TEST(deadline_many)
{
    (void)arg;
    int n = (int)scaled(200, 10);
    int sv[2];
    nb_pair(sv);
    gort_wg wg = GORT_WG_INIT;
    _Atomic int late = 0;
    dl_arg *a = calloc((size_t)n, sizeof *a);
    CHECK(a != NULL);
    gort_wg_add(&wg, n);
    for (int i = 0; i < n; i++) {
        a[i] = (dl_arg){.fd = sv[i & 1], .d = (1 + i % 40) * MS, .wg = &wg, .late = &late};
        CHECK_EQ(gort_go(dl_waiter, &a[i]), 0);
    }
    CHECK_EQ(gort_wg_wait_until(&wg, hatch()), 0);
    CHECK_EQ(atomic_load(&late), 0);
    CHECK(!gort__netpoll_pending());
    free(a);
    gort_fd_close(sv[0]);
    gort_fd_close(sv[1]);
}

/* ---- close wakes waiters ----------------------------------------------------- */

typedef struct cw {
    int         fd;     /* the fd to block on */
    int         kind;   /* 0 read, 1 fd_wait IN, otherwise write until blocked */
    _Atomic int result; /* what the blocked call returned */
    gort_wg    *wg;     /* done when it returned */
} cw;

static void cw_fn(void *arg)
{
    cw *c = arg;
    char buf[4096];
    int r;
    switch (c->kind) {
    case 0:
        r = (int)gort_read(c->fd, buf, sizeof buf);
        break;
    case 1:
        r = gort_fd_wait(c->fd, GORT_POLLIN, GORT_FOREVER);
        break;
    default:
        memset(buf, 'w', sizeof buf);
        for (;;) { /* fill the socket, then block in write */
            r = (int)gort_write(c->fd, buf, sizeof buf);
            if (r < 0)
                break;
        }
        break;
    }
    atomic_store(&c->result, r);
    gort_wg_done(c->wg);
}

static void *foreign_reader(void *arg)
{
    cw *c = arg;
    char buf[16];
    atomic_store(&c->result, (int)gort_read_until(c->fd, buf, sizeof buf, hatch()));
    return NULL;
}

IO_TEST(close_wakes)
{
    (void)arg;
    int a[2], b[2];
    nb_pair(a);
    nb_pair(b);
    gort_wg wg = GORT_WG_INIT;
    cw c[3] = {{.fd = a[0], .kind = 0, .wg = &wg},
               {.fd = a[0], .kind = 1, .wg = &wg},
               {.fd = b[0], .kind = 3, .wg = &wg}};
    gort_wg_add(&wg, 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gort_go(cw_fn, &c[i]), 0);
    await_pollers(3, "the readers and the writer");
    CHECK_EQ(gort_fd_close(a[0]), 0);
    CHECK_EQ(gort_fd_close(b[0]), 0);
    CHECK_EQ(gort_wg_wait_until(&wg, hatch()), 0);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(atomic_load(&c[i].result) == GORT_ECLOSED, "waiter %d: %s", i,
                  gort_strerror(atomic_load(&c[i].result)));
    CHECK(!gort__netpoll_pending());
    /* The closed numbers are dead: new waits say -EBADF, never hang. */
    char x;
    CHECK_EQ(gort_read_until(a[0], &x, 1, hatch()), -EBADF);
    CHECK_EQ(gort_fd_wait(a[0], GORT_POLLIN, hatch()), -EBADF);

    /* unregister: waiters wake with GORT_ECLOSED, the fd stays usable */
    int u2[2];
    nb_pair(u2);
    cw u = {.fd = u2[0], .kind = 0, .wg = &wg};
    gort_wg_add(&wg, 1);
    CHECK_EQ(gort_go(cw_fn, &u), 0);
    await_pollers(1, "the reader");
    CHECK_EQ(gort_fd_unregister(u2[0]), 0);
    CHECK_EQ(gort_wg_wait_until(&wg, hatch()), 0);
    CHECK_EQ(atomic_load(&u.result), GORT_ECLOSED);
    /* the fd still works, through a lazy re-registration */
    CHECK_EQ(write(u2[1], "u", 1), 1);
    CHECK_EQ(gort_read_until(u2[0], &x, 1, hatch()), 1);
    CHECK_EQ(gort_fd_close(u2[0]), 0);
    CHECK_EQ(gort_read_until(u2[1], &x, 1, hatch()), 0); /* EOF */
    CHECK_EQ(gort_fd_close(u2[1]), 0);
    /* a[0] is closed: a[1] reads EOF */
    CHECK_EQ(gort_read_until(a[1], &x, 1, hatch()), 0);

    /* a foreign thread blocked in gort_read is woken by gort_fd_close too */
    int c2[2];
    nb_pair(c2);
    cw f = {.fd = c2[0], .result = 1};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign_reader, &f), 0);
    int64_t end = hatch();
    while (gort__io_foreign_waiters() < 1) {
        CHECK_MSG(gort_now() < end, "foreign reader never waited");
        gort_yield();
    }
    int64_t t0 = gort_now();
    CHECK_EQ(gort_fd_close(c2[0]), 0);
    while (atomic_load(&f.result) == 1) { /* join without blocking the P */
        CHECK_MSG(gort_now() - t0 < 4 * slack(), "foreign reader not woken by close");
        gort_yield();
    }
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&f.result), GORT_ECLOSED);
    CHECK_EQ(gort__io_foreign_waiters(), 0);
    gort_fd_close(c2[1]);
    gort_fd_close(a[1]);
    gort_fd_close(b[1]);
}

/* ---- timers while the engine sleeps in epoll --------------------------------- */

typedef struct tw {
    int      fd; /* never-ready fd to wait on */
    int      r;  /* gort_fd_wait's result */
    gort_wg *wg; /* done when it returned */
} tw;

static void tw_fd_waiter(void *arg)
{
    tw *t = arg;
    t->r = gort_fd_wait(t->fd, GORT_POLLIN, GORT_FOREVER);
    gort_wg_done(t->wg);
}

typedef struct tsleep {
    int64_t  d;    /* sleep duration */
    int64_t  over; /* measured - requested */
    gort_wg *wg;   /* done when awake */
} tsleep;

static void sleeper(void *arg)
{
    tsleep *s = arg;
    int64_t t0 = gort_now();
    gort_sleep(s->d);
    s->over = gort_now() - t0 - s->d;
    gort_wg_done(s->wg);
}

IO_TEST(timer_while_polling)
{
    (void)arg;
    int sv[2];
    nb_pair(sv);
    gort_wg wg = GORT_WG_INIT, swg = GORT_WG_INIT;
    tw t = {.fd = sv[0], .wg = &wg};
    gort_wg_add(&wg, 1);
    CHECK_EQ(gort_go(tw_fd_waiter, &t), 0);
    await_pollers(1, "the fd waiter");

    /* Goroutine timers while a goroutine sits in the poller: every other
     * goroutine is asleep, so the idle engine blocks in epoll until the
     * earliest timer and must wake for it. */
    enum { NS = 5 };
    tsleep s[NS];
    gort_wg_add(&swg, NS);
    for (int i = 0; i < NS; i++) {
        s[i] = (tsleep){.d = (10 + 7 * i) * MS, .wg = &swg};
        CHECK_EQ(gort_go(sleeper, &s[i]), 0);
    }
    CHECK_EQ(gort_wg_wait_until(&swg, hatch()), 0);
    for (int i = 0; i < NS; i++)
        CHECK_MSG(s[i].over >= 0 && s[i].over < slack(), "sleeper %d overslept %lld us", i,
                  (long long)(s[i].over / 1000));

    CHECK_EQ(gort_write(sv[1], "!", 1), 1);
    CHECK_EQ(gort_wg_wait_until(&wg, hatch()), 0);
    CHECK_EQ(t.r, GORT_POLLIN);
    gort_fd_close(sv[0]);
    gort_fd_close(sv[1]);
}

/* The break: the only goroutine waits for I/O (no timer anywhere), so the
 * idle poller blocks in epoll with no timeout. A foreign thread then arms a
 * timer (gort_after): the poller must be broken out of epoll to re-arm its
 * sleep, or the timer never fires. */
static void break_waiter(void *arg)
{
    tw *t = arg;
    t->r = gort_fd_wait(t->fd, GORT_POLLIN, GORT_FOREVER);
    gort_wg_done(t->wg);
}

static void poll_break(int procs)
{
    signal(SIGPIPE, SIG_IGN);
    gort_config cfg;
    gort_config_init(&cfg);
    cfg.procs = procs;
    CHECK_EQ(gort_init(&cfg), 0);
    int sv[2];
    nb_pair(sv);
    gort_wg wg = GORT_WG_INIT;
    tw t = {.fd = sv[0], .wg = &wg};
    gort_wg_add(&wg, 1);
    CHECK_EQ(gort_go(break_waiter, &t), 0);
    int64_t end = hatch();
    while (!gort__netpoll_pending()) {
        CHECK_MSG(gort_now() < end, "fd waiter never parked");
        sched_yield();
    }
    /* Let the engine settle into epoll (a few rounds, no sleeping needed
     * for correctness: if the poller is not blocked yet the timer is simply
     * seen before it blocks). */
    for (int round = 0; round < 3; round++) {
        const int64_t d = 20 * MS;
        int64_t t0 = gort_now();
        gort_chan *ch = gort_after(d);
        CHECK(ch != NULL);
        int64_t fired = 0;
        CHECK_EQ(gort_chan_recv_until(ch, &fired, t0 + d + 20 * slack()), 0);
        int64_t el = gort_now() - t0;
        CHECK_MSG(el >= d && el < d + slack(), "round %d: timer fired after %lld us (want %lld)",
                  round, (long long)(el / 1000), (long long)(d / 1000));
        gort_chan_release(ch);
    }
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(gort_wg_wait_until(&wg, hatch()), 0);
    CHECK_EQ(t.r, GORT_POLLIN);
    gort_shutdown();
    close(sv[0]);
    close(sv[1]);
}

TEST(poll_break_foreign_timer_p1) { poll_break(1); }
TEST(poll_break_foreign_timer_p2) { poll_break(2); }

/* ---- readiness before the wait ------------------------------------------------ */

static void *writer_thread(void *arg)
{
    int fd = *(int *)arg;
    char c = 'z';
    ssize_t r = write(fd, &c, 1);
    (void)r;
    return NULL;
}

IO_TEST(ready_before_wait)
{
    (void)arg;
    int sv[2];
    nb_pair(sv);
    CHECK_EQ(gort_fd_register(sv[0]), 0);

    /* Edge path, white-box: the event is harvested while nobody waits. It
     * must be kept as a token that the next (edge-semantics) wait consumes
     * without the fd being probed. */
    CHECK_EQ(write(sv[1], "abc", 3), 3);
    int64_t end = hatch();
    /* The event may be harvested by the scheduler itself; either way it
     * must not be lost. Poll until our harvest or the scheduler's happened:
     * a harvest drains the epoll ready list, so a second NOWAIT poll that
     * returns 0 means it is done. */
    gort__netpoll_poll(GORT_NOWAIT);
    CHECK_EQ(gort__netpoll_wait(sv[0], GORT_POLLIN, gort_now() + slack(), false), GORT_POLLIN);
    /* consumed: the next edge wait has to wait */
    CHECK_EQ(gort__netpoll_wait(sv[0], GORT_POLLIN, GORT_NOWAIT, false), GORT_EAGAIN);
    /* level wait: the data is still there */
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, GORT_NOWAIT), GORT_POLLIN);
    char buf[8];
    CHECK_EQ(gort_read(sv[0], buf, 1), 1); /* partial read: still readable */
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, gort_now() + slack()), GORT_POLLIN);
    CHECK_EQ(gort_read(sv[0], buf, sizeof buf), 2);
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, GORT_NOWAIT), GORT_EAGAIN);

    /* Many rounds of "write lands between EAGAIN and the wait": a foreign
     * thread writes while this goroutine is between its failing read and its
     * park; whatever the interleaving, the read completes. */
    int rounds = (int)scaled(300, 20);
    for (int i = 0; i < rounds; i++) {
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, writer_thread, &sv[1]), 0);
        char c = 0;
        CHECK_EQ(gort_read_until(sv[0], &c, 1, end), 1);
        CHECK_EQ(c, 'z');
        pthread_join(th, NULL);
    }
    /* Write readiness before the wait: a fresh socket is writable at once. */
    CHECK_EQ(gort_fd_wait(sv[1], GORT_POLLOUT, GORT_NOWAIT), GORT_POLLOUT);
    gort_fd_close(sv[0]);
    gort_fd_close(sv[1]);
}

/* Ping-pong between two goroutines over a socketpair: every message is a
 * park on one side and an edge on the other; a lost edge hangs. */
typedef struct pp {
    int      fd;    /* its end of the socketpair */
    int      n;     /* round trips */
    int      first; /* 1: serves first (writes, then reads) */
    gort_wg *wg;    /* done when finished */
} pp;

static void pinger(void *arg)
{
    pp *p = arg;
    char c = 0;
    for (int i = 0; i < p->n; i++) {
        if (p->first) {
            CHECK_EQ(gort_write(p->fd, &c, 1), 1);
            CHECK_EQ(gort_read_until(p->fd, &c, 1, hatch()), 1);
        } else {
            CHECK_EQ(gort_read_until(p->fd, &c, 1, hatch()), 1);
            c++;
            CHECK_EQ(gort_write(p->fd, &c, 1), 1);
        }
    }
    gort_wg_done(p->wg);
}

IO_TEST(pingpong)
{
    (void)arg;
    int pairs = 4;
    int n = (int)scaled(20000, 200);
    gort_wg wg = GORT_WG_INIT;
    int sv[4][2];
    pp a[4][2];
    gort_wg_add(&wg, 2 * pairs);
    for (int i = 0; i < pairs; i++) {
        nb_pair(sv[i]);
        a[i][0] = (pp){.fd = sv[i][0], .n = n, .first = 1, .wg = &wg};
        a[i][1] = (pp){.fd = sv[i][1], .n = n, .first = 0, .wg = &wg};
        CHECK_EQ(gort_go(pinger, &a[i][0]), 0);
        CHECK_EQ(gort_go(pinger, &a[i][1]), 0);
    }
    CHECK_EQ(gort_wg_wait_until(&wg, hatch()), 0);
    for (int i = 0; i < pairs; i++) {
        gort_fd_close(sv[i][0]);
        gort_fd_close(sv[i][1]);
    }
}

/* ---- foreign threads ------------------------------------------------------------ */

static void *foreign_client(void *arg)
{
    int port = *(int *)arg;
    int fd = gort_tcp_dial("127.0.0.1", port, hatch());
    CHECK_MSG(fd >= 0, "foreign dial: %s", gort_strerror(fd));
    char out[1000], in[1000];
    for (int r = 0; r < 50; r++) {
        for (size_t i = 0; i < sizeof out; i++)
            out[i] = (char)pat(99, (uint64_t)r * 1000 + i);
        CHECK_EQ(gort_write_all(fd, out, sizeof out), (long long)sizeof out);
        size_t got = 0;
        while (got < sizeof in) {
            ssize_t n = gort_read_until(fd, in + got, sizeof in - got, hatch());
            CHECK_MSG(n > 0, "foreign read: %s", gort_strerror((int)n));
            got += (size_t)n;
        }
        CHECK(memcmp(in, out, sizeof in) == 0);
    }
    CHECK_EQ(gort_fd_close(fd), 0);
    return NULL;
}

static void join_fn(void *arg)
{
    pthread_join(*(pthread_t *)arg, NULL);
}

IO_TEST(foreign_with_engine)
{
    (void)arg;
    echo_srv s;
    echo_start(&s, "127.0.0.1");
    int port = gort_tcp_port(s.lfd);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, foreign_client, &port), 0);
    /* pthread_join blocks this goroutine's thread: as a blocking call, so
     * its P is handed off and the server goroutines keep running (with 1
     * P they would otherwise starve). */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gort_blocking(join_fn, &th[i]), 0);
    echo_stop(&s);
    CHECK_EQ(atomic_load(&s.bytes), 3 * 50 * 1000);
}

static void *foreign_pair_writer(void *arg)
{
    int fd = *(int *)arg;
    char buf[1 << 16];
    memset(buf, 'q', sizeof buf);
    long total = 0;
    while (total < (4 << 20)) {
        ssize_t n = gort_write_all_until(fd, buf, sizeof buf, hatch());
        CHECK_EQ(n, (long long)sizeof buf);
        total += n;
    }
    shutdown(fd, SHUT_WR);
    return NULL;
}

/* No engine at all: the wrappers block the thread in poll(2). */
TEST(foreign_without_engine)
{
    CHECK(!gort_initialized());
    int sv[2];
    nb_pair(sv);
    char buf[65536];
    int64_t t0 = gort_now();
    CHECK_EQ(gort_read_until(sv[0], buf, 10, t0 + 30 * MS), GORT_ETIMEDOUT);
    check_elapsed(t0, 30 * MS, "foreign gort_read_until");
    t0 = gort_now();
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, t0 + 30 * MS), GORT_ETIMEDOUT);
    check_elapsed(t0, 30 * MS, "foreign gort_fd_wait");
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLOUT, GORT_NOWAIT), GORT_POLLOUT);

    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign_pair_writer, &sv[1]), 0);
    long total = 0;
    for (;;) {
        ssize_t n = gort_read_until(sv[0], buf, sizeof buf, hatch());
        CHECK_MSG(n >= 0, "read: %s", gort_strerror((int)n));
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            CHECK(buf[i] == 'q');
        total += n;
    }
    pthread_join(th, NULL);
    CHECK_EQ(total, 4 << 20);

    /* listen / dial / accept on foreign threads, no engine */
    int lfd = gort_tcp_listen("127.0.0.1", 0, 8);
    CHECK(lfd >= 0);
    int port = gort_tcp_port(lfd);
    CHECK(port > 0);
    t0 = gort_now();
    CHECK_EQ(gort_accept_until(lfd, NULL, NULL, t0 + 20 * MS), GORT_ETIMEDOUT);
    int c = gort_tcp_dial("127.0.0.1", port, hatch());
    CHECK(c >= 0);
    int a = gort_accept_until(lfd, NULL, NULL, hatch());
    CHECK(a >= 0);
    CHECK_EQ(gort_send(c, "ping", 4, 0), 4);
    CHECK_EQ(gort_recv_until(a, buf, sizeof buf, 0, hatch()), 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_EQ(gort_fd_close(a), 0);
    CHECK_EQ(gort_recv_until(c, buf, sizeof buf, 0, hatch()), 0); /* EOF */
    CHECK_EQ(gort_fd_close(c), 0);
    CHECK_EQ(gort_fd_close(lfd), 0);
    CHECK_EQ(gort_fd_close(sv[0]), 0);
    CHECK_EQ(gort_fd_close(sv[1]), 0);
    CHECK(!gort_initialized());
}

/* ---- bad input ------------------------------------------------------------------ */

/* An fd number that is not open and will not be reused by the fds this
 * case (or the engine) opens: new fds take the lowest free number. */
static int not_open_fd(void)
{
    int fd = 900;
    while (fcntl(fd, F_GETFD) != -1)
        fd++;
    return fd;
}

static void bad_input_checks(void)
{
    char buf[8] = {0};
    int sv[2];
    nb_pair(sv);
    int dead = not_open_fd();

    /* events */
    CHECK_EQ(gort_fd_wait(sv[0], 0, GORT_NOWAIT), GORT_EINVAL);
    CHECK_EQ(gort_fd_wait(sv[0], -1, GORT_NOWAIT), GORT_EINVAL);
    CHECK_EQ(gort_fd_wait(sv[0], 0x100, GORT_NOWAIT), GORT_EINVAL);
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN | 0x2, GORT_NOWAIT), GORT_EINVAL);
    CHECK_EQ(gort_fd_wait(-1, 0, GORT_NOWAIT), GORT_EINVAL);

    /* fds */
    CHECK_EQ(gort_fd_wait(-1, GORT_POLLIN, GORT_FOREVER), -EBADF);
    CHECK_EQ(gort_fd_wait(dead, GORT_POLLIN, GORT_FOREVER), -EBADF);
    CHECK_EQ(gort_fd_wait(dead, GORT_POLLOUT, gort_now() + 10 * MS), -EBADF);
    CHECK_EQ(gort_read(-1, buf, 1), -EBADF);
    CHECK_EQ(gort_read(dead, buf, 1), -EBADF);
    CHECK_EQ(gort_write(-3, buf, 1), -EBADF);
    CHECK_EQ(gort_write_all(dead, buf, 1), -EBADF);
    CHECK_EQ(gort_write_all(-1, buf, 0), -EBADF);
    CHECK_EQ(gort_recv(-1, buf, 1, 0), -EBADF);
    CHECK_EQ(gort_send(dead, buf, 1, 0), -EBADF);
    CHECK_EQ(gort_accept(-1, NULL, NULL), -EBADF);
    CHECK_EQ(gort_accept(dead, NULL, NULL), -EBADF);
    CHECK_EQ(gort_connect(-1, NULL, 0), -EBADF);
    CHECK_EQ(gort_fd_close(-1), -EBADF);
    CHECK_EQ(gort_fd_close(dead), -EBADF);
    CHECK_EQ(gort_fd_unregister(-1), -EBADF);
    CHECK_EQ(gort_fd_register(-1), -EBADF);
    CHECK_EQ(gort_fd_register(dead), -EBADF);
    CHECK_EQ(gort_set_nonblock(-1), -EBADF);
    CHECK_EQ(gort_set_nonblock(dead), -EBADF);
    CHECK_EQ(gort_tcp_port(-1), -EBADF);
    CHECK_EQ(gort_tcp_port(sv[0]), GORT_EINVAL); /* AF_UNIX */

    /* not a socket; pipes; regular files */
    int pfd[2];
    CHECK_EQ(pipe2(pfd, O_NONBLOCK | O_CLOEXEC), 0);
    CHECK_EQ(gort_recv(pfd[0], buf, 1, 0), -ENOTSOCK);
    CHECK_EQ(gort_send(pfd[1], buf, 1, 0), -ENOTSOCK);
    CHECK_EQ(gort_accept(pfd[0], NULL, NULL), -ENOTSOCK);
    CHECK_EQ(gort_read_until(pfd[0], buf, 1, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_write(pfd[1], "ab", 2), 2);
    CHECK_EQ(gort_read(pfd[0], buf, sizeof buf), 2);
    CHECK_EQ(gort_fd_close(pfd[0]), 0);
    CHECK_EQ(gort_write(pfd[1], "ab", 2), -EPIPE); /* SIGPIPE is ignored here */
    CHECK_EQ(gort_fd_close(pfd[1]), 0);
    char path[] = "/tmp/gort-test-io-XXXXXX";
    int ffd = mkstemp(path);
    CHECK(ffd >= 0);
    unlink(path);
    CHECK_EQ(gort_fd_register(ffd), 0); /* epoll refuses files: "always ready" */
    CHECK_EQ(gort_fd_wait(ffd, GORT_POLLIN | GORT_POLLOUT, GORT_FOREVER), GORT_POLLIN | GORT_POLLOUT);
    CHECK_EQ(gort_write_all(ffd, "hello", 5), 5);
    CHECK_EQ(lseek(ffd, 0, SEEK_SET), 0);
    CHECK_EQ(gort_read(ffd, buf, sizeof buf), 5);
    CHECK_EQ(gort_read(ffd, buf, sizeof buf), 0);
    CHECK_EQ(gort_fd_close(ffd), 0);

    /* ports, addresses */
    CHECK_EQ(gort_tcp_listen("127.0.0.1", -1, 0), GORT_EINVAL);
    CHECK_EQ(gort_tcp_listen("127.0.0.1", 65536, 0), GORT_EINVAL);
    CHECK_EQ(gort_tcp_dial("127.0.0.1", 0, GORT_FOREVER), GORT_EINVAL);
    CHECK_EQ(gort_tcp_dial("127.0.0.1", 70000, GORT_FOREVER), GORT_EINVAL);
    int l = gort_tcp_listen("127.0.0.1", 0, 0);
    CHECK(l >= 0);
    int port = gort_tcp_port(l);
    CHECK(port > 0);
    CHECK_EQ(gort_tcp_listen("127.0.0.1", port, 0), -EADDRINUSE);
    CHECK_EQ(gort_fd_close(l), 0);
    CHECK_EQ(gort_tcp_dial("127.0.0.1", port, hatch()), -ECONNREFUSED);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(s >= 0);
    CHECK_EQ(gort_connect(s, NULL, 0), GORT_EINVAL);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(gort_connect_until(s, (struct sockaddr *)&sin, sizeof sin, hatch()), -ECONNREFUSED);
    CHECK_EQ(gort_fd_close(s), 0);

    /* negative / expired deadlines on a socket that is never ready */
    CHECK_EQ(gort_read_until(sv[0], buf, 1, -2), GORT_ETIMEDOUT);
    CHECK_EQ(gort_recv_until(sv[0], buf, 1, 0, INT64_MIN), GORT_ETIMEDOUT);
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, -100), GORT_ETIMEDOUT);
    CHECK_EQ(gort_fd_wait(sv[0], GORT_POLLIN, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_fd_close(sv[0]), 0);
    CHECK_EQ(gort_fd_close(sv[1]), 0);
}

static void bad_input_body(void *arg)
{
    (void)arg;
    bad_input_checks();
}

TEST(bad_input)
{
    signal(SIGPIPE, SIG_IGN);
    bad_input_checks(); /* foreign thread, no engine */
    run_with(2, bad_input_body, NULL);
}
HARNESS_MAIN()
