/*
 * loadgen — the one load generator for gort's network benchmarks
 * (bench/run_io.py). It drives the gort, Go and Node versions of a server
 * with exactly the same client, so the numbers differ only by the server.
 *
 *   usage: loadgen echo|http HOST PORT [conns] [seconds] [size] [warmup_s]
 *
 *     echo   each connection sends `size` bytes (default 64), waits until
 *            all of them have come back (and checks them), and repeats:
 *            a closed loop, one request in flight per connection.
 *     http   each connection sends "GET / HTTP/1.1" requests on one
 *            keep-alive connection, one in flight, and reads each response
 *            (status line checked, Content-Length body consumed).
 *     conns  concurrent connections (default 64); seconds: measured
 *            duration (default 3); warmup_s: unmeasured run-in (default 0.5).
 *
 *   Output (bench/README.md format):
 *     RESULT requests_per_s=<n> req/s
 *     RESULT p50_us=<n> us, RESULT p99_us=<n> us    (request latency)
 *     RESULT errors=<n> count                       (only if non-zero)
 *
 * Design: plain C, single-threaded, level-triggered epoll over non-blocking
 * sockets — deliberately not gort, so the generator is neutral and costs the
 * same against every server (it takes about one of the machine's cores; the
 * servers get the rest — GORT_PROCS/GOMAXPROCS are set by the runner).
 * Connections are established (blocking connect, TCP_NODELAY) before the
 * clock starts; EPOLLOUT is only armed while a request is partially
 * written. Latency runs from a request's first write attempt to the arrival
 * of the last byte of its response, in a 1-us-resolution histogram up to
 * 100 ms (beyond: one overflow bucket, reported as the max). Only requests
 * that start after the warm-up and finish before the end are counted; the
 * rate is their number over the measured window.
 *
 * Not a gort benchmark binary: it prints RESULT lines only when driven by
 * run_io.py (bench/run.py's own list does not include it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US 100000 /* 1-us buckets up to 100 ms */
#define BUF 65536

enum { MODE_ECHO, MODE_HTTP };

typedef struct conn {
    int      fd;
    size_t   out_off;    /* bytes of the current request written */
    size_t   in_len;     /* bytes buffered in `in` (http) / received (echo) */
    int64_t  t_start;    /* when the current request started */
    long     http_need;  /* http: total response bytes expected, -1 = headers incomplete */
    int      out_armed;  /* EPOLLOUT is in the registration */
    char    *in;         /* receive buffer (BUF bytes) */
} conn;

static int      mode;
static size_t   req_size = 64;
static char    *req;          /* the request bytes */
static size_t   req_len;
static uint64_t hist[HIST_US + 1];
static uint64_t overflow_max_us;
static uint64_t done_measured, errors;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "loadgen: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(2);
}

static int dial(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        die("getaddrinfo: %s", gai_strerror(rc));
    int fd = -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        die("cannot connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void record(int64_t lat_ns)
{
    uint64_t us = lat_ns < 0 ? 0 : (uint64_t)(lat_ns / 1000);
    if (us >= HIST_US) {
        hist[HIST_US]++;
        if (us > overflow_max_us)
            overflow_max_us = us;
    } else {
        hist[us]++;
    }
}

static double percentile(double q)
{
    uint64_t total = 0;
    for (size_t i = 0; i <= HIST_US; i++)
        total += hist[i];
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)total);
    if (rank >= total)
        rank = total - 1;
    uint64_t acc = 0;
    for (size_t i = 0; i < HIST_US; i++) {
        acc += hist[i];
        if (acc > rank)
            return (double)i + 0.5;
    }
    return (double)overflow_max_us;
}

static int ep = -1;

/* Arm EPOLLOUT only while a request is partially written. */
static void want_out(conn *c, int on)
{
    if (c->out_armed == on)
        return;
    c->out_armed = on;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Start (or continue) writing the current request. -1 on error. */
static int send_req(conn *c)
{
    while (c->out_off < req_len) {
        ssize_t n = send(c->fd, req + c->out_off, req_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                want_out(c, 1);
                return 0;
            }
            return -1;
        }
        c->out_off += (size_t)n;
    }
    want_out(c, 0);
    return 0;
}

static void start_req(conn *c)
{
    c->out_off = 0;
    c->in_len = 0;
    c->http_need = -1;
    c->t_start = now_ns();
}

/* http: parse what is buffered; returns 1 when the response is complete,
 * 0 if more is needed, -1 on a malformed or non-200 response. */
static int http_parse(conn *c)
{
    if (c->http_need < 0) {
        char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!end)
            return c->in_len >= BUF ? -1 : 0;
        size_t head = (size_t)(end - c->in) + 4;
        if (c->in_len < 12 || memcmp(c->in, "HTTP/1.1 200", 12) != 0)
            return -1;
        long clen = 0;
        char *lim = end + 2; /* through the last header line's CRLF */
        for (char *p = c->in; p < lim;) {
            char *nl = memchr(p, '\n', (size_t)(lim - p));
            if (!nl)
                break;
            if ((size_t)(nl - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
                clen = strtol(p + 15, NULL, 10);
            p = nl + 1;
        }
        c->http_need = (long)head + clen;
    }
    if ((long)c->in_len < c->http_need)
        return 0;
    if ((long)c->in_len > c->http_need)
        return -1; /* one request in flight: nothing may follow */
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: loadgen echo|http HOST PORT [conns] [seconds] [size] [warmup_s]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "echo") == 0)
        mode = MODE_ECHO;
    else if (strcmp(argv[1], "http") == 0)
        mode = MODE_HTTP;
    else
        die("unknown mode '%s'", argv[1]);
    const char *host = argv[2], *port = argv[3];
    int nconn = argc > 4 ? atoi(argv[4]) : 64;
    double seconds = argc > 5 ? atof(argv[5]) : 3.0;
    if (argc > 6)
        req_size = (size_t)atol(argv[6]);
    double warmup = argc > 7 ? atof(argv[7]) : 0.5;
    if (nconn < 1 || seconds <= 0 || req_size < 1 || req_size > BUF || warmup < 0)
        die("bad arguments%s", "");

    if (mode == MODE_ECHO) {
        req_len = req_size;
        req = malloc(req_len);
        for (size_t i = 0; i < req_len; i++)
            req[i] = (char)('a' + i % 26);
    } else {
        char tmp[256];
        int n = snprintf(tmp, sizeof tmp, "GET / HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: gort-loadgen\r\n\r\n",
                         host, port);
        req_len = (size_t)n;
        req = malloc(req_len);
        memcpy(req, tmp, req_len);
    }

    ep = epoll_create1(EPOLL_CLOEXEC);
    conn *cs = calloc((size_t)nconn, sizeof *cs);
    if (ep < 0 || !cs || !req)
        die("setup failed: %s", strerror(errno));
    for (int i = 0; i < nconn; i++) {
        cs[i].fd = dial(host, port);
        cs[i].in = malloc(BUF);
        if (!cs[i].in)
            die("out of memory%s", "");
    }
    for (int i = 0; i < nconn; i++) {
        conn *c = &cs[i];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            die("epoll_ctl: %s", strerror(errno));
    }

    int64_t t0 = now_ns();
    int64_t t_measure = t0 + (int64_t)(warmup * 1e9);
    int64_t t_end = t_measure + (int64_t)(seconds * 1e9);
    for (int i = 0; i < nconn; i++) {
        start_req(&cs[i]);
        if (send_req(&cs[i]) < 0)
            errors++;
    }
    struct epoll_event evs[256];
    int64_t now = t0;
    while (now < t_end) {
        int ms = (int)((t_end - now) / 1000000) + 1;
        int n = epoll_wait(ep, evs, 256, ms);
        now = now_ns();
        for (int k = 0; k < n; k++) {
            conn *c = evs[k].data.ptr;
            if (c->fd < 0)
                continue;
            if ((evs[k].events & EPOLLOUT) && c->out_off < req_len && send_req(c) < 0)
                goto broken;
            if (!(evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            for (;;) {
                size_t room = BUF - c->in_len;
                if (mode == MODE_ECHO && room > req_len - c->in_len)
                    room = req_len - c->in_len;
                if (room == 0)
                    goto broken;
                ssize_t r = recv(c->fd, c->in + c->in_len, room, 0);
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    break;
                if (r <= 0)
                    goto broken;
                c->in_len += (size_t)r;
                int complete;
                if (mode == MODE_ECHO) {
                    complete = c->in_len == req_len;
                    if (complete && memcmp(c->in, req, req_len) != 0)
                        goto broken;
                } else {
                    complete = http_parse(c);
                    if (complete < 0)
                        goto broken;
                }
                if (complete) {
                    int64_t t = now_ns();
                    if (c->t_start >= t_measure && t <= t_end) {
                        record(t - c->t_start);
                        done_measured++;
                    }
                    start_req(c);
                    if (send_req(c) < 0)
                        goto broken;
                }
            }
            continue;
        broken:
            errors++;
            epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
        }
    }
    double secs = (double)(t_end - t_measure) / 1e9;
    printf("RESULT requests_per_s=%.6g req/s\n", (double)done_measured / secs);
    printf("RESULT p50_us=%.6g us\n", percentile(0.50));
    printf("RESULT p99_us=%.6g us\n", percentile(0.99));
    if (errors)
        printf("RESULT errors=%llu count\n", (unsigned long long)errors);
    fflush(stdout);
    for (int i = 0; i < nconn; i++) {
        if (cs[i].fd >= 0)
            close(cs[i].fd);
        free(cs[i].in);
    }
    free(cs);
    free(req);
    close(ep);
    return errors ? 1 : 0;
}
