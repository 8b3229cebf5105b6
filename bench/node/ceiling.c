/*
 * ceiling.c — what this machine gives right now for binding.js's crc32 case,
 * without gort or Node: the same libz crc32 over the same 64 x 4 MiB
 * buffers, once on one thread and once on one plain pthread per CPU taking
 * the next buffer from a shared counter (a minimal pool, as gort's is).
 * binding.js runs it between its own runs, so its speed-up is the
 * ceiling of the same minute (a VM's two vCPUs are not always two
 * free CPUs: host contention shows here as a ceiling below 2).
 * Prints "serial_ms parallel_ms threads" of the median of three pairs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* zlib's crc32, declared here so that no zlib headers are needed: the
 * program links the runtime library itself (-l:libz.so.1), the one
 * gort.native('libz.so.1') opens. */
unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len);

enum { NBUF = 64, BUF_SIZE = 4 << 20, MAX_THREADS = 64 };

static unsigned char *bufs[NBUF];
static unsigned long  want[NBUF], got[NBUF];
static int            nthreads;
static atomic_int     next_buf;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i; (i = atomic_fetch_add(&next_buf, 1)) < NBUF;)
        got[i] = crc32(0, bufs[i], BUF_SIZE);
    return NULL;
}

int main(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = cpus < 1 ? 1 : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
    for (int i = 0; i < NBUF; i++) {
        bufs[i] = malloc(BUF_SIZE);
        if (!bufs[i])
            return 1;
        memset(bufs[i], i + 1, BUF_SIZE); /* binding.js's Buffer.alloc(4 MiB, i + 1) */
    }
    /* PAIRS serial/parallel pairs back to back; the pair with the median
     * ratio is printed (one slow moment of the VM moves one pair). */
    enum { PAIRS = 3 };
    double serial[PAIRS], parallel[PAIRS];
    for (int k = 0; k < PAIRS; k++) {
        double t0 = now_ms();
        for (int i = 0; i < NBUF; i++)
            want[i] = crc32(0, bufs[i], BUF_SIZE);
        serial[k] = now_ms() - t0;
        pthread_t th[MAX_THREADS];
        atomic_store(&next_buf, 0);
        t0 = now_ms();
        for (long t = 0; t < nthreads; t++)
            if (pthread_create(&th[t], NULL, worker, NULL) != 0)
                return 1;
        for (int t = 0; t < nthreads; t++)
            pthread_join(th[t], NULL);
        parallel[k] = now_ms() - t0;
        for (int i = 0; i < NBUF; i++)
            if (got[i] != want[i])
                return 1;
    }
    int order[PAIRS]; /* the pairs sorted by ratio */
    for (int k = 0; k < PAIRS; k++)
        order[k] = k;
    for (int a = 0; a < PAIRS; a++)
        for (int b = a + 1; b < PAIRS; b++)
            if (serial[order[b]] / parallel[order[b]] < serial[order[a]] / parallel[order[a]]) {
                int t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
    int mid = order[PAIRS / 2];
    printf("%.2f %.2f %d\n", serial[mid], parallel[mid], nthreads);
    return 0;
}
