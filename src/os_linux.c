/*
 * os_linux.c — the operating-system layer for Linux: futexes, the low-level
 * lock, clocks, CPU count, the spin hint, per-thread randomness and the fatal
 * error path.
 *
 * Everything above this file talks to the OS only through the functions
 * declared in internal.h (gort__futex_*, gort__lock_*, gort__ncpu, ...), so a
 * port to another kernel replaces this file (futex -> __ulock/WaitOnAddress),
 * not the scheduler.
 *
 * The low-level lock is Drepper's three-state futex mutex ("Futexes Are
 * Tricky", mutex3): 0 = free, 1 = locked, 2 = locked and somebody may sleep.
 * Acquire is an acquire-CAS, release an exchange with release order, so the
 * lock's happens-before edges are plain C11 atomics that ThreadSanitizer
 * understands without annotations. It spins briefly before sleeping because
 * the critical sections it protects are a few dozen instructions long.
 * Rejected: pthread_mutex_t (bigger, cannot be zero-initialised portably, and
 * its error-checking/robust modes are useless here).
 */
#include "internal.h"
#include "stats.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

GORT__CORE GORT_API int64_t gort_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * GORT_SECOND + ts.tv_nsec;
}

/* CLOCK_MONOTONIC_COARSE is the same clock as CLOCK_MONOTONIC read at the
 * last timer tick (1-4 ms old, never ahead of gort_now()). The vDSO returns
 * it without reading the TSC: 8 ns against 29 ns for gort_now() on this
 * project's VM, which matters on paths taken at every park. */
GORT__CORE int64_t gort__now_coarse(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * GORT_SECOND + ts.tv_nsec;
}

GORT__CORE int gort__futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;
    if (deadline != GORT_FOREVER) {
        /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time: the
         * same clock as gort_now(), so no relative-time drift. */
        if (deadline < 0)
            deadline = 0;
        ts.tv_sec = deadline / GORT_SECOND;
        ts.tv_nsec = deadline % GORT_SECOND;
        tsp = &ts;
    }
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, tsp,
                     NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT)
        return GORT_ETIMEDOUT;
    return 0;
}

GORT__CORE void gort__futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

GORT__CORE int gort__ncpu(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

GORT__CORE void gort__procyield(int n)
{
    for (int i = 0; i < n; i++) {
#if defined(__x86_64__)
        __asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
        __asm__ __volatile__("yield" ::: "memory");
#else
        atomic_signal_fence(memory_order_seq_cst);
#endif
    }
}

/* ---- the low-level lock -------------------------------------------------- */

__thread int gort__tls_locks;

GORT__CORE void gort__lock_acquire(gort__lock *l)
{
    uint32_t c = 0;
    gort__tls_locks++;
    if (GORT__LIKELY(atomic_compare_exchange_strong_explicit(&l->word, &c, 1, memory_order_acquire,
                                                             memory_order_relaxed)))
        return;
    GORT__STAT(LOCK_SPIN);
    /* Brief spin: the holder is usually running on another core. */
    for (int i = 0; i < 64; i++) {
        gort__procyield(8);
        c = 0;
        if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_weak_explicit(&l->word, &c, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
    }
    /* Announce a sleeper (2) and sleep until we take it as 2. */
    if (c != 2)
        c = atomic_exchange_explicit(&l->word, 2, memory_order_acquire);
    while (c != 0) {
        GORT__STAT(LOCK_SLEEP);
        gort__futex_wait(&l->word, 2, GORT_FOREVER);
        c = atomic_exchange_explicit(&l->word, 2, memory_order_acquire);
    }
}

GORT__CORE bool gort__lock_try(gort__lock *l)
{
    uint32_t c = 0;
    if (!atomic_compare_exchange_strong_explicit(&l->word, &c, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return false;
    gort__tls_locks++;
    return true;
}

GORT__CORE void gort__lock_release(gort__lock *l)
{
    if (atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2) {
        GORT__STAT(LOCK_WAKE);
        gort__futex_wake(&l->word, 1);
    }
    gort__tls_locks--;
}

/* ---- randomness ---------------------------------------------------------- */
/* wyrand: one 64-bit multiply per number; the state is thread-local, which is
 * safe here because it is touched only inside these two out-of-line
 * functions (a goroutine that migrates just continues another thread's
 * sequence, which is fine for randomness). */
static __thread uint64_t rand_state;

GORT__CORE uint32_t gort__rand32(void)
{
    if (GORT__UNLIKELY(rand_state == 0))
        rand_state = (uint64_t)gort_now() ^ ((uint64_t)(uintptr_t)&rand_state << 16) ^
                     0x9E3779B97F4A7C15ull;
    rand_state += 0xa0761d6478bd642full;
    __uint128_t t = (__uint128_t)rand_state * (rand_state ^ 0xe7037ed1a0b428dbull);
    return (uint32_t)((uint64_t)(t >> 64) ^ (uint64_t)t);
}

GORT__CORE uint32_t gort__randn(uint32_t n)
{
    /* Lemire's multiply-shift reduction: unbiased enough for scheduling. */
    return (uint32_t)(((uint64_t)gort__rand32() * n) >> 32);
}

/* ---- fatal errors -------------------------------------------------------- */

GORT__CORE _Noreturn void gort__fatal(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    /* write(2) directly: stdio may be locked by the thread that failed. */
    static const char prefix[] = "gort: fatal error: ";
    ssize_t ignored = write(2, prefix, sizeof prefix - 1);
    ignored = write(2, buf, (size_t)n);
    ignored = write(2, "\n", 1);
    (void)ignored;
    abort();
}
