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

HARNESS_MAIN()
