/*
 * echo_server.c — a TCP echo server, one goroutine per connection, written
 * the way Go's net package makes you write servers: blocking-style calls
 * (gort_accept, gort_recv, gort_write_all) that park the goroutine, not the
 * thread, while the socket is not ready.
 *
 *     echo_server [port]                serve on 0.0.0.0/[::]:port (default 7007)
 *                                       until interrupted (Ctrl-C)
 *     echo_server --self-test [n] [port]
 *                                       start the server on 127.0.0.1 (port 0 =
 *                                       any free one), connect n clients
 *                                       (default 100) as goroutines, have each
 *                                       send messages and verify the echo byte
 *                                       for byte, then stop and exit 0 (1 on
 *                                       any mismatch). `make demo` runs this.
 *
 * Try it:  ./echo_server 7007 &   then   nc localhost 7007
 * Build:   cc echo_server.c $(pkg-config --cflags --libs gort)
 */
#include <gort.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One connection: echo until the client closes. */
static void serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = gort_recv(fd, buf, sizeof buf, 0); /* parks while nothing arrives */
        if (n <= 0)                                     /* 0: client closed; < 0: error */
            break;
        if (gort_write_all(fd, buf, (size_t)n) != n)
            break;
    }
    gort_fd_close(fd);
}

typedef struct server {
    int     lfd;  /* listening socket; closing it stops the accept loop */
    gort_wg done; /* the accept loop has returned */
} server;

/* The accept loop: `for { c, err := ln.Accept(); go serve(c) }`. */
static void accept_loop(void *arg)
{
    server *s = arg;
    for (;;) {
        int fd = gort_accept(s->lfd, NULL, NULL);
        if (fd == GORT_ECLOSED || fd == -EBADF)
            break; /* the listener was closed: shut down */
        if (fd < 0) {
            fprintf(stderr, "echo_server: accept: %s\n", gort_strerror(fd));
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (gort_go(serve_conn, (void *)(intptr_t)fd) != 0)
            gort_fd_close(fd);
    }
    gort_wg_done(&s->done);
}

/* ---- self-test ---------------------------------------------------------- */

static int      g_port;
static int      g_rounds = 20;
static gort_wg  g_clients = GORT_WG_INIT;
static gort_mutex g_mu = GORT_MUTEX_INIT;
static long     g_failures, g_bytes;

static void client(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    int64_t deadline = gort_now() + 20 * GORT_SECOND;
    long bad = 0, bytes = 0;
    int fd = gort_tcp_dial("127.0.0.1", g_port, deadline);
    if (fd < 0) {
        fprintf(stderr, "client %u: dial: %s\n", id, gort_strerror(fd));
        bad++;
        goto out;
    }
    char out[2048], in[2048];
    for (int r = 0; r < g_rounds && !bad; r++) {
        size_t len = 1 + (id * 37u + (unsigned)r * 101u) % sizeof out;
        for (size_t i = 0; i < len; i++)
            out[i] = (char)(id + r + i);
        if (gort_write_all_until(fd, out, len, deadline) != (ssize_t)len) {
            bad++;
            break;
        }
        size_t got = 0;
        while (got < len) {
            ssize_t n = gort_read_until(fd, in + got, len - got, deadline);
            if (n <= 0) {
                fprintf(stderr, "client %u: read: %s\n", id, n ? gort_strerror((int)n) : "EOF");
                bad++;
                break;
            }
            got += (size_t)n;
        }
        if (!bad && memcmp(in, out, len) != 0) {
            fprintf(stderr, "client %u: echo differs in round %d\n", id, r);
            bad++;
        }
        bytes += (long)len;
    }
    gort_fd_close(fd);
out:
    gort_mutex_lock(&g_mu);
    g_failures += bad;
    g_bytes += bytes;
    gort_mutex_unlock(&g_mu);
    gort_wg_done(&g_clients);
}

typedef struct self_test {
    int n;    /* clients */
    int port; /* 0: any free port */
    int rc;   /* out: exit status */
} self_test;

static void self_test_main(void *arg)
{
    self_test *t = arg;
    server s = {.done = GORT_WG_INIT};
    s.lfd = gort_tcp_listen("127.0.0.1", t->port, 0);
    if (s.lfd < 0) {
        fprintf(stderr, "echo_server: listen: %s\n", gort_strerror(s.lfd));
        t->rc = 1;
        return;
    }
    g_port = gort_tcp_port(s.lfd);
    gort_wg_add(&s.done, 1);
    gort_go(accept_loop, &s);

    int64_t t0 = gort_now();
    gort_wg_add(&g_clients, t->n);
    for (int i = 0; i < t->n; i++)
        gort_go(client, (void *)(uintptr_t)(i + 1));
    gort_wg_wait(&g_clients);
    double ms = (double)(gort_now() - t0) / 1e6;

    gort_fd_close(s.lfd); /* wakes the accept loop with GORT_ECLOSED */
    gort_wg_wait(&s.done);
    printf("echo_server self-test: %d clients x %d messages, %ld bytes echoed and verified "
           "on port %d in %.1f ms: %s\n",
           t->n, g_rounds, g_bytes, g_port, ms, g_failures ? "FAILED" : "ok");
    t->rc = g_failures ? 1 : 0;
}

/* ---- server mode ------------------------------------------------------- */

static void server_main(void *arg)
{
    int port = *(int *)arg;
    server s = {.done = GORT_WG_INIT};
    s.lfd = gort_tcp_listen(NULL, port, 0);
    if (s.lfd < 0) {
        fprintf(stderr, "echo_server: listen on port %d: %s\n", port, gort_strerror(s.lfd));
        return;
    }
    printf("echo_server: listening on port %d (Ctrl-C to stop)\n", gort_tcp_port(s.lfd));
    fflush(stdout);
    gort_wg_add(&s.done, 1);
    accept_loop(&s);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && strcmp(argv[1], "--self-test") == 0) {
        self_test t = {.n = argc > 2 ? atoi(argv[2]) : 100, .port = argc > 3 ? atoi(argv[3]) : 0};
        if (t.n < 1)
            t.n = 1;
        int rc = gort_main(self_test_main, &t);
        if (rc != 0) {
            fprintf(stderr, "echo_server: %s\n", gort_strerror(rc));
            return 1;
        }
        return t.rc;
    }
    int port = argc > 1 ? atoi(argv[1]) : 7007;
    int rc = gort_main(server_main, &port);
    if (rc != 0) {
        fprintf(stderr, "echo_server: %s\n", gort_strerror(rc));
        return 1;
    }
    return 1; /* the server only returns on a listen error */
}
