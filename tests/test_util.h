/*
 * test_util.h — helpers shared by several test programs (include it after
 * harness.h). Everything is static and marked unused, so that a test program
 * pays only for what it calls and -Wunused stays quiet for the rest.
 *
 *   timing:      mono_ns, slow, scaled, hatch
 *   engine:      init_procs, no_async_preempt (+ T_ON_VALGRIND, T_SANITIZER)
 *   goroutines:  GCHECK / GCHECKF / CHECK_GOROUTINES (checks made off the
 *                test's thread), join_t (join point for a foreign thread),
 *                yield_until (join point for a goroutine)
 *   counts:      stress, cnt (Go's short / full counts), GO, run_main
 */
#ifndef GORT_TEST_UTIL_H
#define GORT_TEST_UTIL_H

#include "gort.h"
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>

#define TU_UNUSED __attribute__((unused))

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define T_ON_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef T_ON_VALGRIND
#define T_ON_VALGRIND() 0
#endif

/* ---- timing -------------------------------------------------------------- */

static TU_UNUSED int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How much slower than normal this run is (GORT_TEST_SCALE): timing bounds
 * and escape hatches are multiplied by it. */
static TU_UNUSED int64_t slow(void)
{
    long long s = 1000000LL / T_SCALE(1000000LL);
    return s < 1 ? 1 : (int64_t)s;
}

static TU_UNUSED long long scaled(long long n, long long min)
{
    long long v = T_SCALE(n);
    return v < min ? min : v;
}

/* 1 in an ASan or TSan build (they own SIGSEGV and shadow memory). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define T_SANITIZER 1
#endif
#endif
#ifndef T_SANITIZER
#define T_SANITIZER 0
#endif

/* Like scaled(), for counts of goroutines spawned: ThreadSanitizer creates
 * and destroys a fiber (an mmap'd thread state) per goroutine, ~0.7 ms of
 * system time each on the CI machine, so a TSan build spawns a further 10x
 * fewer (100k goroutines took 64-85 s there, against a 90 s join bound). */
static TU_UNUSED long long scaled_spawns(long long n, long long min)
{
#if defined(__SANITIZE_THREAD__)
    n /= 10;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    n /= 10;
#endif
#endif
    return scaled(n, min);
}

/* Escape hatch for waits and joins: something is broken if it takes this
 * long. */
static TU_UNUSED int64_t hatch(void)
{
    return gort_now() + 20 * GORT_SECOND * slow();
}

/* ---- engine -------------------------------------------------------------- */

static TU_UNUSED int init_procs(int procs)
{
    gort_config cfg;
    gort_config_init(&cfg);
    cfg.procs = procs;
    return gort_init(&cfg);
}

/* Async (signal) preemption is documented as unavailable (preempt.c) under
 * ThreadSanitizer, off x86-64, with a statically linked C library and with
 * GORT_ASYNCPREEMPT=0. Returns why, or NULL if it should work. */
static TU_UNUSED const char *no_async_preempt(void)
{
#if defined(__SANITIZE_THREAD__)
    return "ThreadSanitizer build: cooperative preemption only";
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    return "ThreadSanitizer build: cooperative preemption only";
#endif
#endif
#if !defined(__x86_64__)
    return "async preemption is x86-64 only";
#endif
    const char *e = getenv("GORT_ASYNCPREEMPT");
    if (e && strcmp(e, "0") == 0)
        return "GORT_ASYNCPREEMPT=0";
    if (getauxval(AT_BASE) == 0)
        return "statically linked: async preemption stays off";
    if (T_ON_VALGRIND())
        return "signal-based preemption under valgrind";
    return NULL;
}

/* ---- checks off the test's thread ---------------------------------------- */

/* Failures observed inside goroutines or helper threads. */
static TU_UNUSED _Atomic int g_bad;
static TU_UNUSED char g_bad_msg[512];

static TU_UNUSED void gfail(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static TU_UNUSED void gfail(int line, const char *fmt, ...)
{
    if (atomic_fetch_add(&g_bad, 1) == 0) {
        va_list ap;
        int n = snprintf(g_bad_msg, sizeof g_bad_msg, "line %d: ", line);
        va_start(ap, fmt);
        vsnprintf(g_bad_msg + n, sizeof g_bad_msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
}
#define GCHECK(c)                                   \
    do {                                            \
        if (!(c))                                   \
            gfail(__LINE__, "GCHECK(%s)", #c);      \
    } while (0)
#define GCHECKF(c, ...)                             \
    do {                                            \
        if (!(c))                                   \
            gfail(__LINE__, __VA_ARGS__);           \
    } while (0)
#define CHECK_GOROUTINES()                                                           \
    CHECK_MSG(atomic_load(&g_bad) == 0, "%d check(s) failed off the main thread; first: %s", \
              atomic_load(&g_bad), g_bad_msg)

/* ---- join points --------------------------------------------------------- */

/* A join point: goroutines (or threads) call join_done(); a foreign thread
 * blocks in join_wait() until `target` calls happened or the timeout. */
typedef struct join {
    _Atomic long    done;
    long            target;
    int             fired;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
} join_t;

static TU_UNUSED void join_init(join_t *j, long target)
{
    pthread_condattr_t a;
    atomic_store(&j->done, 0);
    j->target = target;
    j->fired = 0;
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &a);
    pthread_condattr_destroy(&a);
}

static TU_UNUSED void join_destroy(join_t *j)
{
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
}

static TU_UNUSED void join_done(join_t *j)
{
    /* read target before arriving: once the last one arrived the waiter may
     * re-initialise j */
    long target = j->target;
    long n = atomic_fetch_add_explicit(&j->done, 1, memory_order_acq_rel) + 1;
    if (n == target) {
        pthread_mutex_lock(&j->mu);
        j->fired = 1;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
    }
}

/* Foreign thread only. 1 when all arrived, 0 on timeout. */
static TU_UNUSED int join_wait(join_t *j, int64_t timeout_ns)
{
    if (timeout_ns > 90 * GORT_SECOND) /* report before the harness's timeout */
        timeout_ns = 90 * GORT_SECOND;
    int64_t dl = mono_ns() + timeout_ns;
    struct timespec ts = {.tv_sec = dl / 1000000000, .tv_nsec = dl % 1000000000};
    int ok;
    pthread_mutex_lock(&j->mu);
    while (!j->fired) {
        if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT)
            break;
    }
    ok = j->fired;
    pthread_mutex_unlock(&j->mu);
    return ok;
}

/* Goroutine side: yield until *c >= target or the timeout. 1 if reached. */
static TU_UNUSED int yield_until(_Atomic long *c, long target, int64_t timeout_ns)
{
    int64_t dl = mono_ns() + timeout_ns;
    unsigned i = 0;
    while (atomic_load_explicit(c, memory_order_acquire) < target) {
        gort_yield();
        if ((++i & 63) == 0 && mono_ns() > dl)
            return 0;
    }
    return 1;
}

/* ---- counts and shorthands (ports of Go's tests) ------------------------- */

static TU_UNUSED int stress(void)
{
    const char *s = getenv("STRESS");
    return s != NULL && *s != '\0' && strcmp(s, "0") != 0;
}

/* Go's short count normally, its full count under STRESS=1; scaled. */
static TU_UNUSED long long cnt(long long short_n, long long full_n)
{
    return T_SCALE(stress() ? full_n : short_n);
}

#define GO(fn, arg) CHECK_EQ(gort_go((fn), (arg)), 0)

static TU_UNUSED void run_main(void (*fn)(void *), void *arg)
{
    CHECK_EQ(gort_main(fn, arg), 0);
}

#endif /* GORT_TEST_UTIL_H */
