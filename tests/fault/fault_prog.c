/*
 * fault_prog.c — the representative programs that the fault sweep runs
 * with one injected failure each (see fault_inject.c and fault_sweep.c).
 *
 *   fault_prog spawn     init + 1000 goroutines + wait
 *   fault_prog chan      channels (unbuffered, buffered), select (small and
 *                        large: the large one allocates), gort_after, ticker
 *   fault_prog promise   loop + gort_async + all + then + timers + posts +
 *                        a loop-bound goroutine awaiting
 *   fault_prog io        echo over a socketpair and over TCP loopback
 *
 * Exit status (what the driver checks):
 *   0  completed, every result correct;
 *   3  a call reported a documented resource error (GORT_ENOMEM,
 *      GORT_EAGAIN, -EMFILE, NULL from a constructor) and the program
 *      cleaned up and stopped as a C program would; the driver accepts
 *      this only in a run where a failure was injected;
 *   1  a contract violation (wrong result, an undocumented code, a lost
 *      goroutine, value or callback), printed on stderr.
 * Every path, including 3, frees what it made and calls gort_shutdown, so
 * LeakSanitizer (ASan build) sees only what the library itself leaked.
 * A hang is bounded by deadlines (a call that would wait forever uses a
 * generous _until) and, outside, by the driver's timeout.
 *
 * The program makes no allocation of its own through the wrapped functions
 * (static storage only), so every counted call is libgort's.
 */
#include "gort.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_VIOLATION = 1, EXIT_DOCUMENTED = 3 };

#define WAIT_BOUND (60 * GORT_SECOND) /* "never": the driver's timeout is shorter */

static _Atomic bool documented; /* a documented resource error was reported */

static _Noreturn __attribute__((format(printf, 1, 2))) void violation(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fault_prog: contract violation: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    _exit(EXIT_VIOLATION); /* no leak report: the violation is the finding */
}

/* rc from `what`: true if it succeeded (>= 0); false if it is a documented
 * resource error (recorded); any other code is a violation. */
static bool ok(long long rc, const char *what)
{
    if (rc >= 0)
        return true;
    if (rc == GORT_ENOMEM || rc == GORT_EAGAIN || rc == -EMFILE || rc == -ENFILE) {
        documented = true;
        return false;
    }
    violation("%s returned %lld (%s)", what, rc, gort_err_name((int)rc));
}

/* A constructor's result: true if non-NULL, else a documented failure. */
static bool made(const void *p)
{
    if (p)
        return true;
    documented = true;
    return false;
}

static int64_t bound(void)
{
    return gort_now() + WAIT_BOUND;
}

/* ---- spawn ------------------------------------------------------------------ */

enum { SPAWN_N = 1000 };
static _Atomic int spawn_ran;
static gort_wg spawn_wg = GORT_WG_INIT;

static void spawn_body(void *arg)
{
    (void)arg;
    atomic_fetch_add(&spawn_ran, 1);
    gort_wg_done(&spawn_wg);
}

static void scenario_spawn(void)
{
    int accepted = 0;
    for (int i = 0; i < SPAWN_N; i++) {
        gort_wg_add(&spawn_wg, 1);
        if (ok(gort_go(spawn_body, NULL), "gort_go"))
            accepted++;
        else
            gort_wg_done(&spawn_wg);
    }
    if (gort_wg_wait_until(&spawn_wg, bound()) != 0)
        violation("%d goroutines accepted by gort_go, only %d ran", accepted,
                  atomic_load(&spawn_ran));
    if (atomic_load(&spawn_ran) != accepted)
        violation("%d goroutines accepted, %d ran", accepted, atomic_load(&spawn_ran));
}

/* ---- chan ------------------------------------------------------------------- */

enum { PRODUCERS = 4, PER_PRODUCER = 50, BIG_SELECT = 12 };
static gort_chan *chans[2];
static gort_wg chan_wg = GORT_WG_INIT;

static void producer(void *arg)
{
    intptr_t id = (intptr_t)arg;
    for (int64_t i = 0; i < PER_PRODUCER; i++) {
        int64_t v = id * 1000 + i;
        int rc = gort_chan_send_until(chans[id % 2], &v, bound());
        if (rc == GORT_ECLOSED && atomic_load(&documented))
            break; /* the consumer gave up after a documented error */
        if (rc != 0)
            violation("producer %d: send returned %s", (int)id, gort_err_name(rc));
    }
    gort_wg_done(&chan_wg);
}

static void scenario_chan(void)
{
    gort_chan *after = NULL;
    gort_timer *ticker = NULL;
    int started = 0;
    chans[0] = gort_chan_make(sizeof(int64_t), 0);
    chans[1] = gort_chan_make(sizeof(int64_t), 4);
    if (!made(chans[0]) || !made(chans[1]))
        goto out;
    if (!made(after = gort_after(GORT_MILLISECOND)) || !made(ticker = gort_ticker_new(GORT_MILLISECOND)))
        goto out;
    for (intptr_t id = 0; id < PRODUCERS; id++) {
        gort_wg_add(&chan_wg, 1);
        if (ok(gort_go(producer, (void *)id), "gort_go"))
            started |= 1 << id;
        else
            gort_wg_done(&chan_wg);
    }
    int64_t expect = 0, sum = 0, v;
    int want = 0, got = 0, fired = 0;
    for (int id = 0; id < PRODUCERS; id++)
        if (started & (1 << id)) {
            want += PER_PRODUCER;
            for (int64_t i = 0; i < PER_PRODUCER; i++)
                expect += id * 1000 + i;
        }
    /* Alternate a small select (never allocates) and a large one (it does). */
    gort_case cs[BIG_SELECT];
    while (got < want) {
        size_t n = (got % 2) ? 4 : BIG_SELECT;
        for (size_t i = 0; i < n; i++) {
            gort_chan *ch = i % 4 == 2 ? after : i % 4 == 3 ? gort_ticker_chan(ticker) : chans[i % 2];
            cs[i] = (gort_case){.chan = ch, .dir = GORT_RECV, .elem = &v};
        }
        int idx = gort_select(cs, n, bound());
        if (idx == GORT_ETIMEDOUT)
            violation("select: nothing ready for %d s with %d of %d values received",
                      (int)(WAIT_BOUND / GORT_SECOND), got, want);
        if (!ok(idx, "gort_select")) {
            /* ENOMEM of the large select: give up as a program would;
             * closing lets the producers finish (GORT_ECLOSED). */
            gort_chan_close(chans[0]);
            gort_chan_close(chans[1]);
            break;
        }
        if (cs[idx].result != 0)
            violation("select case %d fired with %s", idx, gort_err_name(cs[idx].result));
        if (idx % 4 >= 2) {
            fired++;
            continue;
        }
        sum += v;
        got++;
    }
    if (got == want && sum != expect)
        violation("received sum %lld, sent %lld", (long long)sum, (long long)expect);
    if (gort_wg_wait_until(&chan_wg, bound()) != 0)
        violation("producers did not finish");
    (void)fired; /* timer/ticker values are not counted: only that select survives them */
out:
    gort_ticker_stop(ticker);
    gort_chan_release(after);
    gort_chan_release(chans[0]);
    gort_chan_release(chans[1]);
}

/* ---- promise ---------------------------------------------------------------- */

enum { ASYNCS = 8 };
static int64_t promise_sum;   /* set by the `then` reaction */
static _Atomic int tasks_ran; /* timeout + post callbacks */
static int awaited_rc = 1;    /* result of the loop-bound goroutine's await */

static void square(gort_promise *p, void *arg)
{
    intptr_t i = (intptr_t)arg;
    gort_promise_resolve(p, (void *)(i * i), NULL);
}

static void on_all(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)ud;
    void **vals = gort_promise_value(settled);
    for (int i = 0; i < ASYNCS; i++)
        promise_sum += (intptr_t)vals[i];
}

static void on_rejected(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)ud;
    gort_promise_reject(next, gort_promise_error(settled), NULL);
}

static void task(void *arg)
{
    (void)arg;
    atomic_fetch_add(&tasks_ran, 1);
}

static void awaiter(void *arg)
{
    (void)arg;
    gort_promise *p = gort_async(square, (void *)(intptr_t)3);
    if (!made(p)) {
        awaited_rc = GORT_ENOMEM;
        return;
    }
    awaited_rc = gort_await(p);
    if (awaited_rc == 0 && (intptr_t)gort_promise_value(p) != 9)
        violation("awaited value %ld, want 9", (long)(intptr_t)gort_promise_value(p));
    gort_promise_release(p);
}

static void scenario_promise(void)
{
    gort_promise *ps[ASYNCS] = {0}, *all = NULL, *fin = NULL;
    int n = 0, want_tasks = 0;
    bool go_ok = false;
    gort_loop *loop = gort_loop_new();
    if (!made(loop))
        return;
    for (; n < ASYNCS; n++)
        if (!made(ps[n] = gort_async(square, (void *)(intptr_t)n)))
            goto out;
    if (!made(all = gort_promise_all(ps, ASYNCS)))
        goto out;
    if (!made(fin = gort_promise_then(all, loop, on_all, on_rejected, NULL)))
        goto out;
    want_tasks += ok(gort_loop_set_timeout(loop, GORT_MILLISECOND, task, NULL), "set_timeout");
    want_tasks += ok(gort_loop_post(loop, task, NULL), "gort_loop_post");
    go_ok = ok(gort_loop_go(loop, awaiter, NULL), "gort_loop_go");
    if (!ok(gort_loop_run(loop), "gort_loop_run"))
        goto out;
    if (atomic_load(&tasks_ran) != want_tasks)
        violation("%d loop tasks accepted, %d ran", want_tasks, atomic_load(&tasks_ran));
    if (go_ok && awaited_rc != 0 && ok(awaited_rc, "gort_await"))
        violation("loop goroutine accepted but its await did not complete");
    switch (gort_promise_state(fin)) {
    case GORT_FULFILLED:
        if (promise_sum != 140) /* 0 + 1 + 4 + ... + 49 */
            violation("all() summed to %lld, want 140", (long long)promise_sum);
        break;
    case GORT_REJECTED:
        ok(gort_promise_error(fin), "the then() promise's rejection");
        break;
    default:
        violation("the loop finished with the then() promise still pending");
    }
out:
    gort_promise_release(fin);
    gort_promise_release(all);
    /* Wait for the goroutines behind accepted promises before shutdown, as
     * a program must (gort_shutdown discards goroutines not yet run, and
     * their gort_async context with them). */
    for (int i = 0; i < n; i++) {
        if (gort_await_until(ps[i], bound()) == GORT_ETIMEDOUT)
            violation("gort_async promise %d accepted but never settled", i);
        gort_promise_release(ps[i]);
    }
    gort_loop_free(loop);
}

/* ---- io --------------------------------------------------------------------- */

enum { IO_BYTES = 64 * 1024 };
static unsigned char io_out[IO_BYTES], io_in[IO_BYTES];
static gort_wg io_wg = GORT_WG_INIT;

/* After a documented failure on one side has shut its socket down, the
 * other side's -EPIPE/-ECONNRESET is the expected consequence. */
static bool peer_gone(ssize_t n)
{
    return (n == -EPIPE || n == -ECONNRESET) && atomic_load(&documented);
}

/* Echo every byte from fd back to it until EOF or an error. */
static void echo(void *arg)
{
    int fd = (int)(intptr_t)arg;
    unsigned char buf[4096];
    for (;;) {
        ssize_t n = gort_read_until(fd, buf, sizeof buf, bound());
        if (n > 0)
            n = gort_write_all_until(fd, buf, (size_t)n, bound());
        if (n <= 0) {
            if (n < 0 && !peer_gone(n))
                ok(n, "echo: gort_read/gort_write_all");
            break;
        }
    }
    shutdown(fd, SHUT_RDWR); /* the other side sees EOF or EPIPE, never a stall */
    gort_wg_done(&io_wg);
}

static void writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    ssize_t n = gort_write_all_until(fd, io_out, IO_BYTES, bound());
    if (n != IO_BYTES && !peer_gone(n) && ok(n, "gort_write_all"))
        violation("write_all wrote %zd of %d", n, IO_BYTES);
    shutdown(fd, SHUT_WR);
    gort_wg_done(&io_wg);
}

/* Send IO_BYTES through an echo on fds[1] and compare what comes back. */
static void echo_through(int fds[2])
{
    gort_wg_add(&io_wg, 1);
    if (!ok(gort_go(echo, (void *)(intptr_t)fds[1]), "gort_go")) {
        gort_wg_done(&io_wg);
        return;
    }
    gort_wg_add(&io_wg, 1);
    if (!ok(gort_go(writer, (void *)(intptr_t)fds[0]), "gort_go")) {
        gort_wg_done(&io_wg);
        shutdown(fds[0], SHUT_WR); /* the echo sees EOF and ends */
    } else {
        size_t got = 0;
        while (got < IO_BYTES) {
            ssize_t n = gort_read_until(fds[0], io_in + got, IO_BYTES - got, bound());
            if (n == 0 || peer_gone(n) || !ok(n, "gort_read"))
                break;
            got += (size_t)n;
        }
        shutdown(fds[0], SHUT_RDWR); /* a writer still writing stops (EPIPE) */
        if (got != IO_BYTES && !atomic_load(&documented))
            violation("echo returned %zu of %d bytes", got, IO_BYTES);
        if (got == IO_BYTES && memcmp(io_in, io_out, IO_BYTES) != 0)
            violation("echo returned different bytes");
    }
    if (gort_wg_wait_until(&io_wg, bound()) != 0)
        violation("echo goroutines did not finish");
}

static void scenario_io(void)
{
    for (int i = 0; i < IO_BYTES; i++)
        io_out[i] = (unsigned char)(i * 7 + 3);
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
        violation("socketpair: %s", strerror(errno));
    if (ok(gort_fd_register(sp[0]), "gort_fd_register") &&
        ok(gort_fd_register(sp[1]), "gort_fd_register"))
        echo_through(sp);
    gort_fd_close(sp[0]);
    gort_fd_close(sp[1]);
    if (documented)
        return;

    int lfd = gort_tcp_listen("127.0.0.1", 0, 0);
    if (!ok(lfd, "gort_tcp_listen"))
        return;
    int port = gort_tcp_port(lfd);
    int tcp[2] = {-1, -1};
    if (ok(port, "gort_tcp_port") &&
        ok(tcp[0] = gort_tcp_dial("127.0.0.1", port, bound()), "gort_tcp_dial") &&
        ok(tcp[1] = gort_accept_until(lfd, NULL, NULL, bound()), "gort_accept"))
        echo_through(tcp);
    for (int i = 0; i < 2; i++)
        if (tcp[i] >= 0)
            gort_fd_close(tcp[i]);
    gort_fd_close(lfd);
}

/* ---- main ------------------------------------------------------------------- */

static const struct {
    const char *name;
    void (*run)(void);
} scenarios[] = {
    {"spawn", scenario_spawn},
    {"chan", scenario_chan},
    {"promise", scenario_promise},
    {"io", scenario_io},
};

int main(int argc, char **argv)
{
    void (*run)(void) = NULL;
    for (size_t i = 0; argc == 2 && i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (strcmp(argv[1], scenarios[i].name) == 0)
            run = scenarios[i].run;
    if (!run) {
        fprintf(stderr, "usage: fault_prog spawn|chan|promise|io\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* gort_write on a shut-down socket: -EPIPE */
    gort_config cfg;
    gort_config_init(&cfg);
    cfg.procs = 2;
    if (!ok(gort_init(&cfg), "gort_init"))
        return EXIT_DOCUMENTED;
    run();
    gort_shutdown();
    if (gort_initialized())
        violation("gort_initialized() after gort_shutdown");
    return documented ? EXIT_DOCUMENTED : EXIT_OK;
}
