/*
 * http_hello — gort HTTP/1.1 "Hello, World!" server for bench/run_io.py
 * (3-way: gort / Go net/http / Node http, the same bench/loadgen.c driving
 * each with keep-alive GET requests).
 *
 *   usage: http_hello [port]      (default 0: an ephemeral port)
 *
 * Prints "LISTENING <port>" on stdout, then serves until killed. One
 * goroutine per connection parses request heads (up to the blank line;
 * bodies announced by Content-Length are skipped), handles pipelined
 * requests in order, keeps the connection alive unless the client says
 * "Connection: close" (or speaks HTTP/1.0 without keep-alive), and answers
 * each request with one write of a 200 response carrying the same headers
 * Go's net/http sends for this handler (Date, Content-Length, Content-Type)
 * — so the bytes on the wire are comparable. The Date header is formatted
 * at most once per second per connection.
 *
 * Not a general HTTP server (no chunked bodies, no header folding): it is
 * the minimum that answers the load generator, a browser and curl.
 */
#include "bench_net.h"

#include <ctype.h>
#include <stdbool.h>
#include <strings.h>
#include <time.h>

#define BODY "Hello, World!\n"
#define REQ_MAX 8192

/* "Date:" value, cached per connection and refreshed when the second
 * changes (time() is a vDSO call; no shared state between goroutines). */
typedef struct date_cache {
    time_t sec;
    char   text[40];
} date_cache;

static const char *http_date(date_cache *d)
{
    time_t t = time(NULL);
    if (t != d->sec) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(d->text, sizeof d->text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        d->sec = t;
    }
    return d->text;
}

/* Case-insensitive search for header `name` in [p, end); returns the value
 * start or NULL. */
static const char *header(const char *p, const char *end, const char *name, size_t nlen)
{
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

static void conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char in[REQ_MAX];
    size_t len = 0;
    char out[256];
    date_cache date = {.sec = -1};
    for (;;) {
        char *end = len ? memmem(in, len, "\r\n\r\n", 4) : NULL;
        if (!end) {
            if (len == sizeof in)
                break; /* head too large */
            ssize_t n = gort_recv(fd, in + len, sizeof in - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
            continue;
        }
        size_t head = (size_t)(end - in) + 4;
        const char *line_end = memchr(in, '\n', head);
        bool http10 = line_end && line_end - in >= 9 && memcmp(line_end - 9, "HTTP/1.0", 8) == 0;
        const char *conn = header(in, end, "Connection", 10);
        bool close_after = http10 ? !(conn && strncasecmp(conn, "keep-alive", 10) == 0)
                                  : (conn && strncasecmp(conn, "close", 5) == 0);
        const char *cl = header(in, end, "Content-Length", 14);
        size_t body = cl ? (size_t)strtoul(cl, NULL, 10) : 0;
        bool is_head = len >= 5 && memcmp(in, "HEAD ", 5) == 0;
        int n = snprintf(out, sizeof out,
                         "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Length: %zu\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n%s\r\n%s",
                         http_date(&date), sizeof BODY - 1, close_after ? "Connection: close\r\n" : "",
                         is_head ? "" : BODY);
        if (gort_write_all(fd, out, (size_t)n) != n)
            break;
        if (close_after)
            break;
        /* Drop this request (head + body) from the buffer and keep what
         * follows (pipelining); a body larger than what is buffered is
         * read and discarded. */
        size_t total = head + body;
        if (len >= total) {
            memmove(in, in + total, len - total);
            len -= total;
            continue;
        }
        size_t skip = total - len;
        len = 0;
        while (skip > 0) {
            ssize_t r = gort_recv(fd, in, skip < sizeof in ? skip : sizeof in, 0);
            if (r <= 0)
                goto out;
            skip -= (size_t)r;
        }
    }
out:
    gort_fd_close(fd);
}

int main(int argc, char **argv)
{
    bench_serve_main(argc, argv, "http_hello", conn_main);
    return 0;
}
