/*
 * bench.h — helpers shared by the gort benchmarks (bench/<name>.c).
 *
 * Every benchmark is one C file with a main() that takes optional positional
 * arguments (iteration counts), runs its work once under gort_main(), and
 * prints one line per metric:
 *
 *     RESULT <metric>=<value> <unit>
 *
 * The Go twin in bench/go/<name>/main.go does the identical work and prints
 * the same lines; bench/run.py compares the two. Diagnostics go to stderr.
 *
 * Only the public API (gort.h) is used. The number of Ps comes from the
 * GORT_PROCS environment variable, which bench/run.py sets (together with
 * GOMAXPROCS for the Go twin).
 */
#ifndef GORT_BENCH_H
#define GORT_BENCH_H

#include "gort.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Print a message to stderr and leave at once. _exit, not exit: this may run
 * on a goroutine, and we do not want atexit handlers or a shutdown racing
 * with running goroutines. */
__attribute__((format(printf, 1, 2), noreturn, unused)) static void bench_die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("bench: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(2);
}

/* Optional positional argument i (1-based) as an integer, else def. */
__attribute__((unused)) static long long bench_arg(int argc, char **argv, int i, long long def)
{
    if (i < argc && argv[i][0] != '\0') {
        char *end = NULL;
        long long v = strtoll(argv[i], &end, 0);
        if (end == argv[i] || *end != '\0' || v <= 0)
            bench_die("bad argument %d: '%s' (want a positive integer)", i, argv[i]);
        return v;
    }
    return def;
}

__attribute__((unused)) static void bench_result(const char *metric, double value, const char *unit)
{
    printf("RESULT %s=%.6g %s\n", metric, value, unit);
    fflush(stdout);
}

/* gort_go that dies with a precise message on failure. */
__attribute__((unused)) static void bench_go(void (*fn)(void *), void *arg)
{
    int rc = gort_go(fn, arg);
    if (rc != 0)
        bench_die("gort_go failed: %s (%s)", gort_err_name(rc), gort_strerror(rc));
}

__attribute__((unused)) static gort_chan *bench_chan(size_t elem, size_t cap)
{
    gort_chan *ch = gort_chan_make(elem, cap);
    if (ch == NULL)
        bench_die("gort_chan_make(%zu, %zu) returned NULL", elem, cap);
    return ch;
}

/* Run fn(arg) as the main goroutine; die if the engine refuses. */
__attribute__((unused)) static void bench_main(void (*fn)(void *), void *arg)
{
    int rc = gort_main(fn, arg);
    if (rc != 0)
        bench_die("gort_main failed: %s (%s)", gort_err_name(rc), gort_strerror(rc));
}

/* splitmix64: the same generator is written out in the Go twins, so both
 * sides derive identical pseudo-random inputs from a seed. */
__attribute__((unused)) static uint64_t bench_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* VmRSS of this process in bytes (from /proc/self/status), or -1. */
__attribute__((unused)) static long long bench_vmrss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

#endif /* GORT_BENCH_H */
