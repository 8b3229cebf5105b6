/*
 * http_hello.c — a tiny HTTP/1.1 server: one goroutine per connection,
 * keep-alive and pipelining, every request answered with "Hello, World!".
 * Blocking-style code (gort_recv / gort_write_all) that parks goroutines in
 * gort's network poller, like a Go net/http handler.
 *
 *     http_hello [port]                 serve on port (default 8080) until
 *                                       interrupted; try: curl localhost:8080/
 *     http_hello --self-test [n] [port] start on 127.0.0.1, run n client
 *                                       goroutines (default 50) that each send
 *                                       keep-alive, pipelined and
 *                                       "Connection: close" requests and check
 *                                       every response; exit 0 if all were
 *                                       right (1 otherwise). `make demo` runs it.
 *
 * What it understands: request heads up to 8 KiB, Content-Length bodies
 * (skipped), HTTP/1.0 (closes unless keep-alive) and HTTP/1.1 (keeps alive
 * unless "Connection: close"). HEAD gets the headers only. It is an
 * example, not a web server: no chunked request bodies, no header folding.
 *
 * Build: cc http_hello.c $(pkg-config --cflags --libs gort)
 */
#include <gort.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BODY "Hello, World!\n"
#define HEAD_MAX 8192

/* Value of header `name` in the head [p, end), or NULL. */
static const char *find_header(const char *p, const char *end, const char *name)
{
    size_t nlen = strlen(name);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        if ((size_t)(nl - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (v < nl && (*v == ' ' || *v == '\t'))
                v++;
            return v;
        }
        p = nl + 1;
    }
    return NULL;
}

static void serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char in[HEAD_MAX], out[512];
    size_t len = 0;
    for (;;) {
        /* 1. Read until a complete request head is buffered. */
        char *end = len ? memmem(in, len, "\r\n\r\n", 4) : NULL;
        if (!end) {
            if (len == sizeof in)
                break; /* head too large: give up on this client */
            ssize_t n = gort_recv(fd, in + len, sizeof in - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
            continue;
        }
        size_t head = (size_t)(end - in) + 4;

        /* 2. Decide: keep-alive? body to skip? HEAD? */
        const char *eol = memchr(in, '\n', head);
        bool http10 = eol && eol - in >= 9 && memcmp(eol - 9, "HTTP/1.0", 8) == 0;
        const char *conn = find_header(in, end, "Connection");
        bool close_after = http10 ? !(conn && strncasecmp(conn, "keep-alive", 10) == 0)
                                  : (conn && strncasecmp(conn, "close", 5) == 0);
        const char *cl = find_header(in, end, "Content-Length");
        size_t body = cl ? (size_t)strtoul(cl, NULL, 10) : 0;
        bool is_head = memcmp(in, "HEAD ", 5) == 0;

        /* 3. Answer in one write. */
        char date[40];
        time_t now = time(NULL);
        struct tm tm;
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
        int n = snprintf(out, sizeof out,
                         "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                         "Content-Length: %zu\r\n%s\r\n%s",
                         date, sizeof BODY - 1, close_after ? "Connection: close\r\n" : "",
                         is_head ? "" : BODY);
        if (gort_write_all(fd, out, (size_t)n) != n || close_after)
            break;

        /* 4. Drop the request; keep what follows (pipelined requests). */
        size_t total = head + body;
        if (len >= total) {
            memmove(in, in + total, len - total);
            len -= total;
            continue;
        }
        size_t skip = total - len; /* the rest of a body still on the wire */
        len = 0;
        while (skip > 0) {
            ssize_t r = gort_recv(fd, in, skip < sizeof in ? skip : sizeof in, 0);
            if (r <= 0)
                goto done;
            skip -= (size_t)r;
        }
    }
done:
    gort_fd_close(fd);
}

typedef struct server {
    int     lfd;  /* listening socket; closing it stops the accept loop */
    gort_wg done; /* the accept loop has returned */
} server;

static void accept_loop(void *arg)
{
    server *s = arg;
    for (;;) {
        int fd = gort_accept(s->lfd, NULL, NULL);
        if (fd == GORT_ECLOSED || fd == -EBADF)
            break;
        if (fd < 0) {
            fprintf(stderr, "http_hello: accept: %s\n", gort_strerror(fd));
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

static int        g_port;
static gort_wg    g_clients = GORT_WG_INIT;
static gort_mutex g_mu = GORT_MUTEX_INIT;
static long       g_ok, g_bad;

/* Read one response from fd (buf[0..*len) carries bytes across calls);
 * check it is a 200 with the expected body. Returns 1 ok, 0 bad. */
static int read_response(int fd, char *buf, size_t *len, size_t cap, bool head_only,
                         bool expect_close, int64_t deadline)
{
    for (;;) {
        char *end = *len ? memmem(buf, *len, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t head = (size_t)(end - buf) + 4;
            const char *cl = find_header(buf, end + 2, "Content-Length");
            size_t body = cl ? (size_t)strtoul(cl, NULL, 10) : 0;
            size_t want = head + (head_only ? 0 : body);
            if (*len >= want) {
                int ok = memcmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0 && body == sizeof BODY - 1 &&
                         (head_only || memcmp(buf + head, BODY, body) == 0);
                const char *conn = find_header(buf, end + 2, "Connection");
                if (expect_close != (conn && strncasecmp(conn, "close", 5) == 0))
                    ok = 0;
                memmove(buf, buf + want, *len - want);
                *len -= want;
                return ok;
            }
        }
        if (*len == cap)
            return 0;
        ssize_t n = gort_recv_until(fd, buf + *len, cap - *len, 0, deadline);
        if (n <= 0)
            return 0;
        *len += (size_t)n;
    }
}

static void client(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    int64_t deadline = gort_now() + 20 * GORT_SECOND;
    long ok = 0, bad = 0;
    char req[256], buf[4096];
    size_t len = 0;
    int fd = gort_tcp_dial("127.0.0.1", g_port, deadline);
    if (fd < 0) {
        fprintf(stderr, "client %u: dial: %s\n", id, gort_strerror(fd));
        bad++;
        goto out;
    }
    /* 1. keep-alive: ten requests, one at a time, on one connection */
    int n = snprintf(req, sizeof req, "GET /hello/%u HTTP/1.1\r\nHost: localhost\r\n\r\n", id);
    for (int i = 0; i < 10; i++) {
        if (gort_write_all_until(fd, req, (size_t)n, deadline) != n)
            bad++;
        else
            read_response(fd, buf, &len, sizeof buf, false, false, deadline) ? ok++ : bad++;
    }
    /* 2. pipelining: a POST with a body, a HEAD and a GET in one write */
    n = snprintf(req, sizeof req,
                 "POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"
                 "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n"
                 "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    if (gort_write_all_until(fd, req, (size_t)n, deadline) != n) {
        bad++;
    } else {
        read_response(fd, buf, &len, sizeof buf, false, false, deadline) ? ok++ : bad++;
        read_response(fd, buf, &len, sizeof buf, true, false, deadline) ? ok++ : bad++;
        read_response(fd, buf, &len, sizeof buf, false, false, deadline) ? ok++ : bad++;
    }
    /* 3. Connection: close — then the server hangs up */
    n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if (gort_write_all_until(fd, req, (size_t)n, deadline) != n)
        bad++;
    else
        read_response(fd, buf, &len, sizeof buf, false, true, deadline) ? ok++ : bad++;
    (gort_recv_until(fd, buf, sizeof buf, 0, deadline) == 0) ? ok++ : bad++; /* EOF */
    gort_fd_close(fd);
out:
    gort_mutex_lock(&g_mu);
    g_ok += ok;
    g_bad += bad;
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
        fprintf(stderr, "http_hello: listen: %s\n", gort_strerror(s.lfd));
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
    gort_fd_close(s.lfd);
    gort_wg_wait(&s.done);
    printf("http_hello self-test: %d clients, %ld checks passed, %ld failed, port %d, %.1f ms: %s\n",
           t->n, g_ok, g_bad, g_port, ms, g_bad ? "FAILED" : "ok");
    t->rc = g_bad ? 1 : 0;
}

static void server_main(void *arg)
{
    int port = *(int *)arg;
    server s = {.done = GORT_WG_INIT};
    s.lfd = gort_tcp_listen(NULL, port, 0);
    if (s.lfd < 0) {
        fprintf(stderr, "http_hello: listen on port %d: %s\n", port, gort_strerror(s.lfd));
        return;
    }
    printf("http_hello: listening on http://localhost:%d/ (Ctrl-C to stop)\n", gort_tcp_port(s.lfd));
    fflush(stdout);
    gort_wg_add(&s.done, 1);
    accept_loop(&s);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && strcmp(argv[1], "--self-test") == 0) {
        self_test t = {.n = argc > 2 ? atoi(argv[2]) : 50, .port = argc > 3 ? atoi(argv[3]) : 0};
        if (t.n < 1)
            t.n = 1;
        int rc = gort_main(self_test_main, &t);
        if (rc != 0) {
            fprintf(stderr, "http_hello: %s\n", gort_strerror(rc));
            return 1;
        }
        return t.rc;
    }
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    int rc = gort_main(server_main, &port);
    if (rc != 0)
        fprintf(stderr, "http_hello: %s\n", gort_strerror(rc));
    return 1;
}
