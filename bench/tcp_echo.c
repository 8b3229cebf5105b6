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
#include "bench_net.h"

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

int main(int argc, char **argv)
{
    bench_serve_main(argc, argv, "tcp_echo", conn_main);
    return 0;
}
