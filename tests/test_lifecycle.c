/*
 * test_lifecycle.c — the engine's life cycle under attack: init/shutdown
 * storms while foreign threads call every public entry point, thread
 * creation failing, and fork in every state.
 *
 * Only the contract is asserted: no crash, no hang (the harness' timeout),
 * and only documented results (0, GORT_ENOTINIT, GORT_ESHUTDOWN, NULL for
 * constructors, or the call's own documented codes).
 */
#include "harness.h"
#include "test_util.h"

#include <fcntl.h>
#include <sys/wait.h>

/* ---- init/shutdown storms ------------------------------------------------ */

typedef struct storm {
    _Atomic int done;   /* the cycling thread has finished */
    _Atomic long calls; /* calls the foreign thread made */
    _Atomic long ok;    /* of those, the ones the engine accepted */
    void (*call)(struct storm *s);
} storm;

static void *storm_thread(void *arg)
{
    storm *s = arg;
    while (!atomic_load(&s->done)) {
        s->call(s);
        atomic_fetch_add(&s->calls, 1);
    }
    return NULL;
}

static void check_refusal(int rc, const char *what)
{
    CHECK_MSG(rc == 0 || rc == GORT_ENOTINIT || rc == GORT_ESHUTDOWN, "%s returned %d (%s)", what,
              rc, gort_strerror(rc));
}

/* Cycle init/shutdown `cycles` times while one foreign thread calls s->call
 * in a loop. */
static void run_storm(storm *s, long long cycles)
{
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, storm_thread, s), 0);
    for (long long i = 0; i < cycles; i++) {
        CHECK_EQ(init_procs(2), 0);
        gort_shutdown();
    }
    atomic_store(&s->done, 1);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK(atomic_load(&s->calls) > 0);
}

static void noop(void *arg)
{
    (void)arg;
}

static void call_go(storm *s)
{
    int rc = gort_go(noop, NULL);
    check_refusal(rc, "gort_go");
    if (rc == 0)
        atomic_fetch_add(&s->ok, 1);
}

static void call_after(storm *s)
{
    gort_chan *ch = gort_after(GORT_MILLISECOND);
    if (ch) {
        atomic_fetch_add(&s->ok, 1);
        gort_chan_release(ch);
    }
}

static void call_ticker(storm *s)
{
    gort_timer *t = gort_ticker_new(GORT_MILLISECOND);
    if (t) {
        atomic_fetch_add(&s->ok, 1);
        gort_ticker_stop(t);
    }
}

TEST(lifecycle_go_during_init_shutdown_cycles)
{
    storm s = {.call = call_go};
    run_storm(&s, scaled(2000, 20));
}

TEST(lifecycle_after_during_init_shutdown_cycles)
{
    storm s = {.call = call_after};
    run_storm(&s, scaled(2000, 20));
}

TEST(lifecycle_ticker_during_init_shutdown_cycles)
{
    storm s = {.call = call_ticker};
    run_storm(&s, scaled(2000, 20));
}

/* ---- thread creation fails: a goroutine accepted still runs ---------------- */

static long vm_size_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
            break;
    fclose(f);
    CHECK(kb > 0);
    return kb * 1024;
}

static _Atomic int g_ran;

static void mark_ran(void *arg)
{
    (void)arg;
    atomic_store(&g_ran, 1);
}

/* The first pool thread cannot be created (the address space is full, as
 * under a tight RLIMIT_AS): gort_go either refuses with GORT_ENOMEM or
 * GORT_EAGAIN, or accepts — and then the goroutine runs once threads can be
 * created again (sysmon retries), without another call to wake it. Timers
 * likewise. */
TEST(lifecycle_goroutine_runs_after_thread_creation_failed)
{
    if (T_ON_VALGRIND())
        SKIP("Valgrind manages the address space itself");
    CHECK_EQ(init_procs(1), 0);
    long vm = vm_size_bytes();
    if (vm > (1L << 40))
        SKIP("sanitizer shadow memory: RLIMIT_AS cannot be set near VmSize");
    struct rlimit old;
    CHECK_EQ(getrlimit(RLIMIT_AS, &old), 0);
    /* Room for a few small allocations, not for a thread's 256 KiB stack. */
    struct rlimit tight = {.rlim_cur = (rlim_t)vm + (64 << 10), .rlim_max = old.rlim_max};
    CHECK_EQ(setrlimit(RLIMIT_AS, &tight), 0);
    int rc = gort_go(mark_ran, NULL);
    gort_chan *after = gort_after(GORT_MILLISECOND);
    /* Let the engine fail (and sysmon retry, and fail) a while. */
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    int ran_while_tight = atomic_load(&g_ran);
    CHECK_EQ(setrlimit(RLIMIT_AS, &old), 0);
    CHECK_MSG(rc == 0 || rc == GORT_ENOMEM || rc == GORT_EAGAIN, "gort_go: %d", rc);
    CHECK_MSG(!ran_while_tight, "no thread should have been creatable");
    if (rc == 0) {
        int64_t deadline = hatch();
        while (!atomic_load(&g_ran) && gort_now() < deadline)
            nanosleep(&pause, NULL);
        CHECK_MSG(atomic_load(&g_ran), "accepted goroutine never ran");
    }
    if (after) {
        int64_t v;
        CHECK_EQ(gort_chan_recv_until(after, &v, hatch()), 0);
        gort_chan_release(after);
    }
    CHECK(rc == 0 || after != NULL); /* something was accepted and honoured */
    gort_shutdown();
}

HARNESS_MAIN()
