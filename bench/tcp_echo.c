/*
 * tcp_echo — gort TCP echo server for bench/run_io.py (3-way: gort / Go /
 * Node, the same load generator bench/loadgen.c against each).
 *
 *   usage: tcp_echo [port]        (default 0: an ephemeral port)
 *
 * Prints "LISTENING <port>" on stdout once it accepts connections, then
 * serves until killed. One goroutine per connection: recv into a 16 KiB
 * buffer, write everything back (gort_write_all), until EOF. The listener
 * is on 127.0.0.1; accepted connections get TCP_NODELAY (Go's default).
 * Twins: bench/go/tcp_echo/main.go (net.Listen, goroutine per connection,
 * io.Copy-style loop) and bench/node/tcp_echo.js (net.createServer, pipe
 * back). The number of Ps comes from GORT_PROCS (run_io.py sets it and
 * GOMAXPROCS to the same value).
 *
 * This binary prints no RESULT lines: the numbers come from loadgen.
 */
#include "bench.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

static int g_port;

static void conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = gort_recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        if (gort_write_all(fd, buf, (size_t)n) != n)
            break;
    }
    gort_fd_close(fd);
}

static void server(void *arg)
{
    (void)arg;
    int lfd = gort_tcp_listen("127.0.0.1", g_port, 4096);
    if (lfd < 0)
        bench_die("listen: %s", gort_strerror(lfd));
    printf("LISTENING %d\n", gort_tcp_port(lfd));
    fflush(stdout);
    for (;;) {
        int fd = gort_accept(lfd, NULL, NULL);
        if (fd < 0) {
            fprintf(stderr, "tcp_echo: accept: %s\n", gort_strerror(fd));
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        bench_go(conn_main, (void *)(intptr_t)fd);
    }
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    g_port = argc > 1 ? atoi(argv[1]) : 0;
    bench_main(server, NULL);
    return 0;
}
