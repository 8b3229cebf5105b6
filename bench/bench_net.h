/*
 * bench_net.h — the server side shared by the gort network benchmarks
 * (bench/tcp_echo.c, bench/http_hello.c), driven by bench/run_io.py.
 *
 * A header of static functions, not a .c file: CMake builds every
 * bench/<name>.c into its own binary.
 *
 *   bench_serve_main(argc, argv, "name", conn_main);
 *
 * ignores SIGPIPE, takes the port from argv[1] (default 0: an ephemeral
 * port), listens on 127.0.0.1, prints "LISTENING <port>" on stdout, then
 * accepts until killed: each connection gets TCP_NODELAY (Go's default)
 * and a goroutine running conn_main((void *)(intptr_t)fd), which owns and
 * closes the fd. Accept errors are reported on stderr as "<name>: accept:
 * <error>" and the loop goes on.
 */
#ifndef GORT_BENCH_NET_H
#define GORT_BENCH_NET_H

#include "bench.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>

typedef struct bench_server {
    const char *name;
    int         port;
    void      (*conn)(void *);
} bench_server;

__attribute__((unused)) static void bench_serve(void *arg)
{
    const bench_server *srv = arg;
    int lfd = gort_tcp_listen("127.0.0.1", srv->port, 4096);
    if (lfd < 0)
        bench_die("listen: %s", gort_strerror(lfd));
    printf("LISTENING %d\n", gort_tcp_port(lfd));
    fflush(stdout);
    for (;;) {
        int fd = gort_accept(lfd, NULL, NULL);
        if (fd < 0) {
            fprintf(stderr, "%s: accept: %s\n", srv->name, gort_strerror(fd));
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        bench_go(srv->conn, (void *)(intptr_t)fd);
    }
}

__attribute__((unused)) static void bench_serve_main(int argc, char **argv, const char *name,
                                                     void (*conn)(void *))
{
    signal(SIGPIPE, SIG_IGN);
    bench_server srv = {.name = name, .port = argc > 1 ? atoi(argv[1]) : 0, .conn = conn};
    bench_main(bench_serve, &srv);
}

#endif /* GORT_BENCH_NET_H */
