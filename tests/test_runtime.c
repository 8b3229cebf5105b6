/*
 * test_runtime.c — the engine's life cycle and the runtime API through the
 * public header: init/shutdown/re-init, gort_main, configuration, bad input,
 * error names, version, gort_now, gort_sleep (in goroutines and on foreign
 * threads) and stack overflow.
 *
 * Every TEST runs in its own forked process, so each one starts the engine
 * itself and shuts it down. Checks inside goroutines are recorded (GCHECK)
 * and reported from the test's thread. No sleeps are used to synchronise;
 * timing checks have slack, multiplied under GORT_TEST_SCALE.
 */
#include "gort.h"
#include "harness.h"
#include "test_util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#define NOINLINE __attribute__((noinline))
#define MS GORT_MILLISECOND
#define US GORT_MICROSECOND

/* "Late" allows for a loaded machine: CI runs test programs in parallel on
 * 2 CPUs, and there plain pthreads in clock_nanosleep were measured waking
 * up to ~400 ms late. LATE_OK (times GORT_TEST_SCALE) still catches unit
 * mistakes and lost wake-ups. */
#define LATE_OK (500 * MS)

/* ---- helpers (the shared ones are in test_util.h) ----------------------- */

static join_t g_join;

static void noop(void *arg)
{
    (void)arg;
}

/* gort_shutdown from a helper thread (any foreign thread may call it), so a
 * shutdown that hangs fails the case after `limit` instead of timing out the
 * harness. Returns how long it took. */
static join_t sd_join;
static void *sd_thread(void *arg)
{
    (void)arg;
    gort_shutdown();
    join_done(&sd_join);
    return NULL;
}

static int64_t shutdown_within(int64_t limit)
{
    pthread_t th;
    join_init(&sd_join, 1);
    int64_t t0 = mono_ns();
    CHECK_EQ(pthread_create(&th, NULL, sd_thread, NULL), 0);
    int ok = join_wait(&sd_join, limit);
    int64_t dt = mono_ns() - t0;
    CHECK_MSG(ok, "gort_shutdown did not return within %.0f ms", limit / 1e6);
    pthread_join(th, NULL);
    join_destroy(&sd_join);
    return dt;
}

static void done_fn(void *arg)
{
    (void)arg;
    join_done(&g_join);
}

/* ---- version, config, errors --------------------------------------------- */

TEST(version)
{
    char want[32];
    CHECK_EQ(gort_version(), GORT_VERSION_HEX);
    snprintf(want, sizeof want, "%d.%d.%d", GORT_VERSION_MAJOR, GORT_VERSION_MINOR,
             GORT_VERSION_PATCH);
    CHECK(gort_version_string() != NULL);
    CHECK_MSG(strcmp(gort_version_string(), want) == 0, "\"%s\" vs \"%s\"",
              gort_version_string(), want);
}

TEST(config_and_options_init)
{
    gort_config cfg;
    gort_go_options o;
    memset(&cfg, 0xab, sizeof cfg);
    gort_config_init(&cfg);
    CHECK_EQ(cfg.struct_size, sizeof(gort_config));
    CHECK(cfg.procs >= 0);
    CHECK(cfg.max_threads >= 0);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(cfg.reserved[i], 0);
    memset(&o, 0xab, sizeof o);
    gort_go_options_init(&o);
    CHECK_EQ(o.struct_size, sizeof(gort_go_options));
    CHECK_EQ(o.stack_size, 0);
    CHECK(o.name == NULL);
    CHECK_EQ(o.pinned, 0);
    CHECK_EQ(o.nopreempt, 0);
    for (size_t i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i++)
        CHECK_EQ(o.reserved[i], 0);
}

/* gort_strerror / gort_err_name for every code of GORT_ERRNO_MAP, 0 and
 * unknown values. */
TEST(strerror_and_err_name)
{
    struct {
        int         val;
        const char *name, *msg;
    } tab[] = {
#define T_ROW(name, val, msg) {val, "GORT_" #name, msg},
        GORT_ERRNO_MAP(T_ROW)
#undef T_ROW
    };
    size_t n = sizeof tab / sizeof tab[0];
    CHECK(n >= 14);
    for (size_t i = 0; i < n; i++) {
        CHECK_MSG(tab[i].val < 0, "%s = %d is not negative", tab[i].name, tab[i].val);
        const char *m = gort_strerror(tab[i].val), *nm = gort_err_name(tab[i].val);
        CHECK_MSG(m && strcmp(m, tab[i].msg) == 0, "gort_strerror(%s) = \"%s\"", tab[i].name,
                  m ? m : "(null)");
        CHECK_MSG(nm && strcmp(nm, tab[i].name) == 0, "gort_err_name(%d) = \"%s\", want %s",
                  tab[i].val, nm ? nm : "(null)", tab[i].name);
        for (size_t j = i + 1; j < n; j++)
            CHECK_MSG(tab[i].val != tab[j].val, "%s and %s share %d", tab[i].name, tab[j].name,
                      tab[i].val);
    }
    /* errno twins */
    CHECK_EQ(GORT_EPERM, -EPERM);
    CHECK_EQ(GORT_EAGAIN, -EAGAIN);
    CHECK_EQ(GORT_ENOMEM, -ENOMEM);
    CHECK_EQ(GORT_EINVAL, -EINVAL);
    CHECK_EQ(GORT_ETIMEDOUT, -ETIMEDOUT);
    CHECK_EQ(GORT_ECANCELED, -ECANCELED);
    CHECK_EQ(GORT_OK, 0);
    /* unknown negatives fall back to strerror(-err) */
    CHECK_MSG(strcmp(gort_strerror(-EIO), strerror(EIO)) == 0, "gort_strerror(-EIO) = \"%s\"",
              gort_strerror(-EIO));
    CHECK_MSG(strcmp(gort_strerror(-ECONNRESET), strerror(ECONNRESET)) == 0,
              "gort_strerror(-ECONNRESET) = \"%s\"", gort_strerror(-ECONNRESET));
    CHECK(strcmp(gort_err_name(-EIO), "GORT_E?") == 0);
    CHECK(strcmp(gort_err_name(-999), "GORT_E?") == 0);
    CHECK(strcmp(gort_err_name(-1999), "GORT_E?") == 0);
    CHECK(strcmp(gort_err_name(12345), "GORT_E?") == 0);
    CHECK(strcmp(gort_err_name(INT_MIN), "GORT_E?") == 0);
    CHECK(strcmp(gort_err_name(INT_MAX), "GORT_E?") == 0);
    const int odd[] = {0, 1, 12345, INT_MAX, INT_MIN, -4095, -4096, -100000, -1999};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *m = gort_strerror(odd[i]);
        CHECK_MSG(m != NULL && m[0] != '\0', "gort_strerror(%d) empty", odd[i]);
        CHECK(gort_err_name(odd[i]) != NULL);
    }
}

/* ---- state before init --------------------------------------------------- */

TEST(api_before_init)
{
    CHECK_EQ(gort_initialized(), 0);
    CHECK_EQ(gort_procs(), 0);
    CHECK_EQ(gort_self(), 0);
    CHECK(gort_self_name() != NULL && gort_self_name()[0] == '\0');
    CHECK_EQ(gort_go(noop, NULL), GORT_ENOTINIT);
    gort_go_options o;
    gort_go_options_init(&o);
    CHECK_EQ(gort_go_opts(noop, NULL, &o), GORT_ENOTINIT);
    CHECK(gort_now() > 0);
    gort_yield(); /* foreign thread: sched_yield */
    /* blocking calls work on a foreign thread, engine or not */
    int64_t t0 = gort_now();
    gort_sleep(5 * MS);
    int64_t dt = gort_now() - t0;
    CHECK_MSG(dt >= 5 * MS, "slept %lld ns", (long long)dt);
    CHECK_MSG(dt < 5 * MS + LATE_OK * slow(), "slept %lld ns", (long long)dt);
    gort_shutdown(); /* no engine: a no-op */
    gort_shutdown();
    CHECK_EQ(gort_initialized(), 0);
    CHECK_EQ(gort_procs(), 0);
    /* and the engine starts normally afterwards */
    CHECK_EQ(gort_init(NULL), 0);
    CHECK_EQ(gort_initialized(), 1);
    gort_shutdown();
}

/* ---- init ---------------------------------------------------------------- */

static int ncpu_candidates(int p)
{
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (p == online)
        return 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && p == CPU_COUNT(&set))
        return 1;
    return 0;
}

TEST(init_default_procs)
{
    unsetenv("GORT_PROCS");
    CHECK_EQ(gort_init(NULL), 0);
    CHECK_EQ(gort_initialized(), 1);
    CHECK_MSG(ncpu_candidates(gort_procs()), "gort_procs() = %d, online CPUs %ld", gort_procs(),
              sysconf(_SC_NPROCESSORS_ONLN));
    gort_shutdown();
    CHECK_EQ(gort_initialized(), 0);
    CHECK_EQ(gort_procs(), 0);
    /* config with procs = 0 also means "default" */
    CHECK_EQ(init_procs(0), 0);
    CHECK(ncpu_candidates(gort_procs()));
    gort_shutdown();
}

TEST(init_procs_from_env_and_config)
{
    setenv("GORT_PROCS", "3", 1);
    CHECK_EQ(gort_init(NULL), 0);
    CHECK_EQ(gort_procs(), 3);
    gort_shutdown();
    CHECK_EQ(init_procs(0), 0);
    CHECK_EQ(gort_procs(), 3);
    gort_shutdown();
    /* an explicit procs wins over the environment */
    CHECK_EQ(init_procs(1), 0);
    CHECK_EQ(gort_procs(), 1);
    gort_shutdown();
    unsetenv("GORT_PROCS");
    CHECK_EQ(init_procs(5), 0); /* more Ps than CPUs is allowed (GOMAXPROCS) */
    CHECK_EQ(gort_procs(), 5);
    join_init(&g_join, 100);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(gort_go(done_fn, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    gort_shutdown();
    join_destroy(&g_join);
}

static _Atomic int inner_init_rc = 1;
static void try_init_inside(void *arg)
{
    (void)arg;
    atomic_store(&inner_init_rc, gort_init(NULL));
    join_done(&g_join);
}

TEST(init_twice_is_ealready)
{
    CHECK_EQ(init_procs(2), 0);
    CHECK_EQ(gort_init(NULL), GORT_EALREADY);
    CHECK_EQ(init_procs(1), GORT_EALREADY);
    /* unchanged and still working */
    CHECK_EQ(gort_procs(), 2);
    CHECK_EQ(gort_initialized(), 1);
    join_init(&g_join, 1);
    CHECK_EQ(gort_go(try_init_inside, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    CHECK_EQ(atomic_load(&inner_init_rc), GORT_EALREADY);
    join_destroy(&g_join);
    gort_shutdown();
    CHECK_EQ(gort_initialized(), 0);
}

TEST(init_bad_config_is_einval)
{
    gort_config cfg;
    int rc;
#define BAD_CFG(field, value)                                                        \
    do {                                                                             \
        gort_config_init(&cfg);                                                      \
        cfg.field = value;                                                           \
        rc = gort_init(&cfg);                                                        \
        CHECK_MSG(rc == GORT_EINVAL, "%s = %s: %s", #field, #value, gort_err_name(rc)); \
        CHECK_EQ(gort_initialized(), 0);                                             \
        CHECK_EQ(gort_procs(), 0);                                                   \
        CHECK_EQ(gort_go(noop, NULL), GORT_ENOTINIT);                                \
    } while (0)
    BAD_CFG(procs, -1);
    BAD_CFG(procs, INT_MIN);
    BAD_CFG(stack_size, SIZE_MAX);
    BAD_CFG(stack_size, SIZE_MAX / 2);
    BAD_CFG(stack_size, (size_t)1 << 50);
    BAD_CFG(max_threads, -1);
#undef BAD_CFG
    /* a good config still works after all those refusals */
    CHECK_EQ(init_procs(2), 0);
    CHECK_EQ(gort_procs(), 2);
    join_init(&g_join, 10);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(gort_go(done_fn, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    gort_shutdown();
    join_destroy(&g_join);
}

/* ---- bad input to gort_go ------------------------------------------------ */

TEST(go_null_fn_is_einval)
{
    gort_go_options o;
    CHECK_EQ(gort_init(NULL), 0);
    CHECK_EQ(gort_go(NULL, NULL), GORT_EINVAL);
    CHECK_EQ(gort_go(NULL, &o), GORT_EINVAL);
    gort_go_options_init(&o);
    CHECK_EQ(gort_go_opts(NULL, NULL, &o), GORT_EINVAL);
    CHECK_EQ(gort_go_opts(NULL, NULL, NULL), GORT_EINVAL);
    /* NULL options = defaults */
    join_init(&g_join, 2);
    CHECK_EQ(gort_go_opts(done_fn, NULL, NULL), 0);
    CHECK_EQ(gort_go_opts(done_fn, NULL, &o), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    join_destroy(&g_join);
    gort_shutdown();
    CHECK_EQ(gort_go(noop, NULL), GORT_ENOTINIT);
}

/* ---- gort_main ----------------------------------------------------------- */

static _Atomic uint64_t main_self;
static _Atomic int main_inited, main_procs, main_ran;
static _Atomic long main_children;

static void child_inc(void *arg)
{
    (void)arg;
    atomic_fetch_add(&main_children, 1);
}

static void main_fn(void *arg)
{
    atomic_store(&main_self, gort_self());
    atomic_store(&main_inited, gort_initialized());
    atomic_store(&main_procs, gort_procs());
    atomic_fetch_add(&main_ran, 1);
    GCHECK(arg == (void *)&main_ran);
    /* spawn and wait for some children (with gort_yield) */
    long base = atomic_load(&main_children);
    for (int i = 0; i < 100; i++)
        GCHECK(gort_go(child_inc, NULL) == 0);
    GCHECKF(yield_until(&main_children, base + 100, 10 * GORT_SECOND * slow()),
            "children of the main goroutine did not run");
}

TEST(main_runs_fn_as_goroutine_and_shuts_down)
{
    CHECK_EQ(gort_main(main_fn, &main_ran), 0);
    CHECK_EQ(atomic_load(&main_ran), 1);
    CHECK(atomic_load(&main_self) != 0);
    CHECK_EQ(atomic_load(&main_inited), 1);
    CHECK(atomic_load(&main_procs) >= 1);
    CHECK_EQ(gort_initialized(), 0); /* it initialized, so it shut down */
    CHECK_EQ(gort_procs(), 0);
    CHECK_EQ(gort_self(), 0);
    CHECK_EQ(gort_go(noop, NULL), GORT_ENOTINIT);
    CHECK_GOROUTINES();
}

TEST(main_twice_in_a_row)
{
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(gort_main(main_fn, &main_ran), 0);
        CHECK_EQ(gort_initialized(), 0);
    }
    CHECK_EQ(atomic_load(&main_ran), 3);
    CHECK_EQ(atomic_load(&main_children), 300);
    CHECK_GOROUTINES();
}

TEST(main_with_running_engine_keeps_it)
{
    CHECK_EQ(init_procs(2), 0);
    CHECK_EQ(gort_main(main_fn, &main_ran), 0);
    CHECK_EQ(atomic_load(&main_ran), 1);
    CHECK_EQ(atomic_load(&main_procs), 2);
    CHECK_EQ(gort_initialized(), 1); /* not ours to shut down */
    CHECK_EQ(gort_procs(), 2);
    join_init(&g_join, 10);
    for (int i = 0; i < 10; i++)
        CHECK_EQ(gort_go(done_fn, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    join_destroy(&g_join);
    gort_shutdown();
    CHECK_EQ(gort_initialized(), 0);
    CHECK_GOROUTINES();
}

/* gort_main on a running engine, again and again, right after other
 * goroutines finished (engine threads going idle at that moment): it never
 * reports a deadlock that is not there, and returns only after fn did. */
static _Atomic long rep_leaves, rep_fn_runs;
static void rep_leaf(void *arg)
{
    (void)arg;
    atomic_fetch_add(&rep_leaves, 1);
}
static void rep_main(void *arg)
{
    (void)arg;
    atomic_fetch_add(&rep_fn_runs, 1);
}

TEST(main_on_running_engine_repeatedly)
{
    long n = scaled(10000, 100);
    long bad = 0, first_bad = -1, early = 0;
    int first_rc = 0;
    CHECK_EQ(init_procs(4), 0);
    for (long i = 0; i < n; i++) {
        long want = atomic_load(&rep_leaves) + 8;
        for (int k = 0; k < 8; k++)
            CHECK_EQ(gort_go(rep_leaf, NULL), 0);
        int64_t dl = mono_ns() + 10 * GORT_SECOND * slow();
        while (atomic_load(&rep_leaves) < want && mono_ns() < dl)
            sched_yield();
        CHECK(atomic_load(&rep_leaves) >= want);
        int rc = gort_main(rep_main, NULL);
        if (rc != 0 && bad++ == 0) {
            first_bad = i;
            first_rc = rc;
        }
        early += atomic_load(&rep_fn_runs) != i + 1;
    }
    CHECK_MSG(bad == 0, "%ld of %ld gort_main calls failed, first (#%ld) with %s", bad, n,
              first_bad, gort_err_name(first_rc));
    CHECK_MSG(early == 0, "%ld of %ld gort_main calls returned before their function ran", early,
              n);
    gort_shutdown();
}

TEST(main_null_fn_is_einval)
{
    CHECK_EQ(gort_main(NULL, NULL), GORT_EINVAL);
    CHECK_EQ(gort_initialized(), 0);
}

static _Atomic int nested_rc = 1;
static _Atomic int nested_inner_ran;
static void nested_inner(void *arg)
{
    (void)arg;
    atomic_store(&nested_inner_ran, 1);
}
static void nested_outer(void *arg)
{
    (void)arg;
    atomic_store(&nested_rc, gort_main(nested_inner, NULL));
}

TEST(main_inside_goroutine_is_eperm)
{
    CHECK_EQ(gort_main(nested_outer, NULL), 0);
    CHECK_EQ(atomic_load(&nested_rc), GORT_EPERM);
    CHECK_EQ(atomic_load(&nested_inner_ran), 0);
    /* also from a plain goroutine of a running engine */
    atomic_store(&nested_rc, 1);
    CHECK_EQ(gort_init(NULL), 0);
    join_init(&g_join, 1);
    CHECK_EQ(gort_go(nested_outer, NULL), 0);
    /* nested_outer does not signal; wait for its result */
    int64_t dl = mono_ns() + 10 * GORT_SECOND * slow();
    while (atomic_load(&nested_rc) == 1 && mono_ns() < dl)
        sched_yield();
    CHECK_EQ(atomic_load(&nested_rc), GORT_EPERM);
    CHECK_EQ(atomic_load(&nested_inner_ran), 0);
    join_destroy(&g_join);
    gort_shutdown();
}

/* gort_main returns when fn returns, discarding the goroutines fn left
 * behind (sleeping for an hour, spinning on gort_yield), promptly. */
static void forever_sleeper(void *arg)
{
    (void)arg;
    gort_sleep(3600 * GORT_SECOND);
    gfail(__LINE__, "an hour-long sleep returned");
}

static _Atomic int yielders_stop;
static void forever_yielder(void *arg)
{
    (void)arg;
    while (!atomic_load(&yielders_stop))
        gort_yield();
}

static void main_leaves_goroutines(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        GCHECK(gort_go(forever_sleeper, NULL) == 0);
    for (int i = 0; i < 4; i++)
        GCHECK(gort_go(forever_yielder, NULL) == 0);
    gort_yield();
}

TEST(main_returns_with_goroutines_left_behind)
{
    int64_t t0 = mono_ns();
    CHECK_EQ(gort_main(main_leaves_goroutines, NULL), 0);
    int64_t dt = mono_ns() - t0;
    CHECK_MSG(dt < 2 * GORT_SECOND * slow(), "gort_main took %.0f ms", dt / 1e6);
    CHECK_EQ(gort_initialized(), 0);
    /* the engine can be started again */
    CHECK_EQ(gort_main(main_fn, &main_ran), 0);
    CHECK_EQ(atomic_load(&main_ran), 1);
    CHECK_GOROUTINES();
}

/* ---- gort_shutdown ------------------------------------------------------- */

static void shutdown_inside(void *arg)
{
    (void)arg;
    gort_shutdown();
    /* must not return */
    fprintf(stderr, "gort_shutdown returned inside a goroutine\n");
    _exit(3);
}

static void abort_case_shutdown_in_goroutine(void *arg)
{
    (void)arg;
    if (gort_init(NULL) != 0)
        _exit(4);
    if (gort_go(shutdown_inside, NULL) != 0)
        _exit(5);
    /* wait for the abort (the harness fails us if we return instead) */
    int64_t dl = mono_ns() + 10 * GORT_SECOND * slow();
    while (mono_ns() < dl) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

TEST(shutdown_inside_goroutine_aborts)
{
    CHECK(harness_expect_abort(abort_case_shutdown_in_goroutine, NULL, "gort_shutdown"));
}

static void abort_case_shutdown_in_main_fn(void *arg)
{
    (void)arg;
    gort_main(shutdown_inside, NULL);
}

TEST(shutdown_inside_main_goroutine_aborts)
{
    CHECK(harness_expect_abort(abort_case_shutdown_in_main_fn, NULL, "gort_shutdown"));
}

TEST(shutdown_is_idempotent)
{
    gort_shutdown();
    CHECK_EQ(init_procs(2), 0);
    gort_shutdown();
    gort_shutdown();
    CHECK_EQ(gort_initialized(), 0);
    CHECK_EQ(gort_procs(), 0);
    CHECK_EQ(gort_go(noop, NULL), GORT_ENOTINIT);
}

/* init -> work -> shutdown -> init with other procs -> ..., several times. */
static _Atomic long cyc_leaves;
static void cyc_leaf(void *arg)
{
    (void)arg;
    gort_yield();
    atomic_fetch_add(&cyc_leaves, 1);
    join_done(&g_join);
}
static void cyc_node(void *arg)
{
    (void)arg;
    gort_sleep(100 * US);
    GCHECK(gort_go(cyc_leaf, NULL) == 0);
    gort_yield();
    join_done(&g_join);
}

TEST(reinit_cycles_with_different_procs)
{
    static const int procs[] = {1, 2, 3, 4, 1, 2, 8, 1};
    long per = scaled(2000, 20);
    for (size_t c = 0; c < sizeof procs / sizeof procs[0]; c++) {
        CHECK_EQ(init_procs(procs[c]), 0);
        CHECK_EQ(gort_initialized(), 1);
        CHECK_EQ(gort_procs(), procs[c]);
        join_init(&g_join, 2 * per);
        atomic_store(&cyc_leaves, 0);
        for (long i = 0; i < per; i++)
            CHECK_EQ(gort_go(cyc_node, NULL), 0);
        CHECK_MSG(join_wait(&g_join, 20 * GORT_SECOND * slow()), "cycle %zu: %ld of %ld", c,
                  atomic_load(&g_join.done), 2 * per);
        CHECK_EQ(atomic_load(&cyc_leaves), per);
        /* a main goroutine in between: gort_main on a running engine */
        CHECK_EQ(gort_main(main_fn, &main_ran), 0);
        gort_shutdown();
        CHECK_EQ(gort_initialized(), 0);
        CHECK_EQ(gort_procs(), 0);
        CHECK_EQ(gort_go(noop, NULL), GORT_ENOTINIT);
        join_destroy(&g_join);
    }
    CHECK_GOROUTINES();
}

/* Shutdown with goroutines blocked forever (sleeping for an hour, pinned
 * and sleeping, with a big stack, spinning on gort_yield): returns promptly,
 * frees everything (the Valgrind stage checks), and the engine starts
 * again cleanly. */
static _Atomic long blk_started;
static void blk_sleeper(void *arg)
{
    (void)arg;
    atomic_fetch_add(&blk_started, 1);
    gort_sleep(3600 * GORT_SECOND);
    gfail(__LINE__, "an hour-long sleep returned");
}
static void blk_yielder(void *arg)
{
    (void)arg;
    atomic_fetch_add(&blk_started, 1);
    for (;;)
        gort_yield();
}

TEST(shutdown_with_blocked_goroutines)
{
    long n = scaled(10000, 100);
    gort_go_options big, pin;
    gort_go_options_init(&big);
    big.stack_size = 1024 * 1024;
    gort_go_options_init(&pin);
    pin.pinned = 1;
    for (int round = 0; round < 2; round++) {
        atomic_store(&blk_started, 0);
        CHECK_EQ(init_procs(2), 0);
        for (long i = 0; i < n; i++)
            CHECK_EQ(gort_go(blk_sleeper, NULL), 0);
        for (int i = 0; i < 4; i++) {
            CHECK_EQ(gort_go_opts(blk_sleeper, NULL, &big), 0);
            CHECK_EQ(gort_go_opts(blk_sleeper, NULL, &pin), 0);
        }
        for (int i = 0; i < 3; i++)
            CHECK_EQ(gort_go(blk_yielder, NULL), 0);
        long total = n + 8 + 3;
        int64_t dl = mono_ns() + 20 * GORT_SECOND * slow();
        while (atomic_load(&blk_started) < total && mono_ns() < dl)
            sched_yield();
        CHECK_MSG(atomic_load(&blk_started) == total, "%ld of %ld goroutines started",
                  atomic_load(&blk_started), total);
        int64_t dt = shutdown_within(10 * GORT_SECOND * slow());
        CHECK_MSG(dt < 2 * GORT_SECOND * slow(), "gort_shutdown took %.0f ms", dt / 1e6);
        CHECK_EQ(gort_initialized(), 0);
    }
    /* a fresh engine works, and old timers do not fire into it */
    CHECK_EQ(init_procs(1), 0);
    join_init(&g_join, 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(gort_go(done_fn, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    join_destroy(&g_join);
    gort_shutdown();
    CHECK_GOROUTINES();
}

/* Shutdown while a goroutine computes without ever calling gort (it can
 * only be stopped by preempting it). */
static _Atomic int spin_started;
static void pure_spinner(void *arg)
{
    (void)arg;
    volatile uint64_t x = 0;
    atomic_store(&spin_started, 1);
    for (;;)
        x++;
}

TEST(shutdown_with_spinning_goroutine)
{
    const char *why = no_async_preempt();
    if (why)
        SKIP("%s", why);
    CHECK_EQ(init_procs(2), 0);
    CHECK_EQ(gort_go(pure_spinner, NULL), 0);
    int64_t dl = mono_ns() + 10 * GORT_SECOND * slow();
    while (!atomic_load(&spin_started) && mono_ns() < dl)
        sched_yield();
    CHECK(atomic_load(&spin_started));
    int64_t dt = shutdown_within(5 * GORT_SECOND * (slow() < 4 ? slow() : 4));
    CHECK_MSG(dt < 2 * GORT_SECOND * slow(), "gort_shutdown took %.0f ms", dt / 1e6);
    CHECK_EQ(gort_initialized(), 0);
    CHECK_EQ(init_procs(1), 0);
    gort_shutdown();
}

/* Shutdown while goroutines keep spawning goroutines. */
static void spawny(void *arg)
{
    (void)arg;
    for (;;) {
        int rc = gort_go(spawny, NULL);
        if (rc != 0) {
            GCHECKF(rc == GORT_ENOMEM || rc == GORT_ESHUTDOWN || rc == GORT_ENOTINIT,
                    "gort_go during shutdown: %s", gort_err_name(rc));
            return;
        }
        gort_sleep(1 * MS);
        if (gort_self() & 1)
            return;
    }
}

TEST(shutdown_while_spawning)
{
    for (int round = 0; round < 5; round++) {
        CHECK_EQ(init_procs(2), 0);
        for (int i = 0; i < 8; i++)
            CHECK_EQ(gort_go(spawny, NULL), 0);
        struct timespec ts = {0, 20 * 1000 * 1000}; /* let it churn */
        nanosleep(&ts, NULL);
        int64_t dt = shutdown_within(10 * GORT_SECOND * slow());
        CHECK_MSG(dt < 2 * GORT_SECOND * slow(), "gort_shutdown took %.0f ms", dt / 1e6);
    }
    CHECK_GOROUTINES();
}

/* ---- time ---------------------------------------------------------------- */

static _Atomic int now_bad;
static void now_goroutine(void *arg)
{
    (void)arg;
    int64_t prev = gort_now();
    for (int i = 0; i < 2000; i++) {
        if (i % 100 == 0)
            gort_sleep(10 * US);
        else if (i % 10 == 0)
            gort_yield();
        int64_t t = gort_now();
        if (t < prev)
            atomic_store(&now_bad, 1);
        prev = t;
    }
    join_done(&g_join);
}

/* gort_now is CLOCK_MONOTONIC: non-decreasing, on every thread. */
TEST(now_is_monotonic)
{
    long n = scaled(1000000, 1000);
    int64_t prev = gort_now();
    CHECK(prev > 0);
    for (long i = 0; i < n; i++) {
        int64_t t = gort_now();
        CHECK_MSG(t >= prev, "gort_now went back from %lld to %lld", (long long)prev,
                  (long long)t);
        prev = t;
    }
    for (int i = 0; i < 1000; i++) {
        int64_t a = mono_ns(), g = gort_now(), b = mono_ns();
        CHECK_MSG(a <= g && g <= b, "gort_now %lld outside CLOCK_MONOTONIC [%lld, %lld]",
                  (long long)g, (long long)a, (long long)b);
    }
    CHECK_EQ(init_procs(2), 0);
    join_init(&g_join, 16);
    for (int i = 0; i < 16; i++)
        CHECK_EQ(gort_go(now_goroutine, NULL), 0);
    CHECK(join_wait(&g_join, 20 * GORT_SECOND * slow()));
    CHECK_EQ(atomic_load(&now_bad), 0);
    join_destroy(&g_join);
    gort_shutdown();
}

/* Sleeps of 1, 10 and 50 ms never return early and are not absurdly late
 * (LATE_OK). */
static const int64_t sleep_durs[] = {1 * MS, 10 * MS, 50 * MS, 1 * MS, 10 * MS, 50 * MS};
#define N_SLEEP_DURS (sizeof sleep_durs / sizeof sleep_durs[0])
static int64_t sleep_took[4][N_SLEEP_DURS];

static void sleep_series(int slot)
{
    for (size_t i = 0; i < N_SLEEP_DURS; i++) {
        int64_t t0 = gort_now();
        gort_sleep(sleep_durs[i]);
        sleep_took[slot][i] = gort_now() - t0;
    }
}

static void check_sleep_series(int slot, const char *where)
{
    for (size_t i = 0; i < N_SLEEP_DURS; i++) {
        int64_t d = sleep_durs[i], got = sleep_took[slot][i];
        CHECK_MSG(got >= d, "%s: sleep(%lld ms) returned after %lld ns (early)", where,
                  (long long)(d / MS), (long long)got);
        CHECK_MSG(got <= d + LATE_OK * slow(), "%s: sleep(%lld ms) took %.1f ms", where,
                  (long long)(d / MS), got / 1e6);
    }
}

static void sleep_series_g(void *arg)
{
    sleep_series((int)(size_t)arg);
    join_done(&g_join);
}

TEST(sleep_accuracy_in_goroutines)
{
    CHECK_EQ(init_procs(2), 0);
    join_init(&g_join, 3);
    /* three at once: one plain, two more sharing the Ps */
    for (size_t s = 0; s < 3; s++)
        CHECK_EQ(gort_go(sleep_series_g, (void *)s), 0);
    CHECK(join_wait(&g_join, 20 * GORT_SECOND * slow()));
    gort_shutdown();
    check_sleep_series(0, "goroutine 0");
    check_sleep_series(1, "goroutine 1");
    check_sleep_series(2, "goroutine 2");
    join_destroy(&g_join);
}

static void *sleep_series_t(void *arg)
{
    GCHECK(gort_self() == 0);
    sleep_series((int)(size_t)arg);
    return NULL;
}

/* On foreign threads (the test's thread and a pthread) gort_sleep blocks
 * the thread, with the same accuracy, while goroutines sleep too. */
TEST(sleep_accuracy_on_foreign_threads)
{
    pthread_t th;
    CHECK_EQ(init_procs(1), 0);
    join_init(&g_join, 1);
    CHECK_EQ(gort_go(sleep_series_g, (void *)(size_t)2), 0);
    CHECK_EQ(pthread_create(&th, NULL, sleep_series_t, (void *)(size_t)1), 0);
    sleep_series(0);
    pthread_join(th, NULL);
    CHECK(join_wait(&g_join, 20 * GORT_SECOND * slow()));
    gort_shutdown();
    CHECK_GOROUTINES();
    check_sleep_series(0, "main thread");
    check_sleep_series(1, "pthread");
    check_sleep_series(2, "goroutine");
    join_destroy(&g_join);
}

/* gort_sleep(0) and negative durations return promptly: in a goroutine
 * they never sleep (the fastest of 10 calls is well under a millisecond);
 * on a foreign thread they are sched_yield(), whose cost is the OS's (on a
 * loaded machine it gives the CPU away for a time slice), so there they
 * only must not hang. */
static int64_t zero_min[2][4], zero_total[2][4];
static void sleep_zero_series(int slot)
{
    static const int64_t d[4] = {0, -1, -GORT_SECOND, INT64_MIN};
    for (int i = 0; i < 4; i++) {
        zero_min[slot][i] = INT64_MAX;
        zero_total[slot][i] = 0;
        for (int k = 0; k < 10; k++) {
            int64_t t0 = mono_ns();
            gort_sleep(d[i]);
            int64_t dt = mono_ns() - t0;
            zero_total[slot][i] += dt;
            if (dt < zero_min[slot][i])
                zero_min[slot][i] = dt;
        }
    }
}
static void sleep_zero_g(void *arg)
{
    (void)arg;
    sleep_zero_series(1);
    join_done(&g_join);
}

static void check_zero(int s, const char *where)
{
    for (int i = 0; i < 4; i++) {
        if (s == 1)
            CHECK_MSG(zero_min[s][i] < 1 * MS * slow(), "%s: case %d: fastest call took %.2f ms",
                      where, i, zero_min[s][i] / 1e6);
        CHECK_MSG(zero_total[s][i] < 5 * GORT_SECOND * slow(), "%s: case %d: 10 calls took %.1f ms",
                  where, i, zero_total[s][i] / 1e6);
    }
}

TEST(sleep_zero_or_negative_is_prompt)
{
    sleep_zero_series(0); /* foreign, no engine */
    check_zero(0, "foreign thread, no engine");
    CHECK_EQ(init_procs(1), 0);
    sleep_zero_series(0); /* foreign, engine running */
    join_init(&g_join, 1);
    CHECK_EQ(gort_go(sleep_zero_g, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    gort_shutdown();
    check_zero(0, "foreign thread");
    check_zero(1, "goroutine");
    join_destroy(&g_join);
}

/* Many concurrent sleepers with shuffled deadlines (4 ms apart) wake roughly
 * in deadline order (at most 20% of the pairs 40 ms apart inverted), none
 * early. */
enum { ORD_N = 50 };
static int64_t ord_target[ORD_N], ord_woke[ORD_N], ord_started[ORD_N], ord_spawned[ORD_N];
static long ord_ticket[ORD_N];
static _Atomic long ord_next;

static void ord_sleeper(void *arg)
{
    size_t i = (size_t)arg;
    ord_started[i] = gort_now();
    gort_sleep(ord_target[i] - gort_now());
    ord_woke[i] = gort_now();
    ord_ticket[i] = atomic_fetch_add(&ord_next, 1);
    join_done(&g_join);
}

TEST(sleepers_wake_in_deadline_order)
{
    int perm[ORD_N];
    for (int i = 0; i < ORD_N; i++)
        perm[i] = i;
    srand(12345);
    for (int i = ORD_N - 1; i > 0; i--) {
        int j = rand() % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    CHECK_EQ(init_procs(2), 0);
    int64_t base = gort_now() + 20 * MS * slow();
    for (int i = 0; i < ORD_N; i++)
        ord_target[i] = base + perm[i] * 4 * MS;
    join_init(&g_join, ORD_N);
    for (size_t i = 0; i < ORD_N; i++) {
        ord_spawned[i] = gort_now();
        CHECK_EQ(gort_go(ord_sleeper, (void *)i), 0);
    }
    CHECK(join_wait(&g_join, 20 * GORT_SECOND * slow()));
    gort_shutdown();
    int64_t slack = 40 * MS * (slow() < 4 ? slow() : 4);
    int pairs = 0, inverted = 0, ex_i = -1, ex_j = -1;
    for (int i = 0; i < ORD_N; i++) {
        CHECK_MSG(ord_woke[i] >= ord_target[i], "sleeper %d woke %lld ns early", i,
                  (long long)(ord_target[i] - ord_woke[i]));
        CHECK_MSG(ord_woke[i] <= ord_target[i] + LATE_OK * slow(),
                  "sleeper %d (deadline +%lld ms) woke %.1f ms late; it started running %.1f ms "
                  "after its spawn",
                  i, (long long)((ord_target[i] - base) / MS), (ord_woke[i] - ord_target[i]) / 1e6,
                  (ord_started[i] - ord_spawned[i]) / 1e6);
        for (int j = 0; j < ORD_N; j++) {
            if (ord_target[i] + slack > ord_target[j])
                continue;
            pairs++;
            if (ord_ticket[i] > ord_ticket[j]) {
                inverted++;
                ex_i = i;
                ex_j = j;
            }
        }
    }
    /* A loaded machine may delay a thread now and then; a timer heap that
     * does not order by deadline inverts about half of the pairs. */
    CHECK_MSG(inverted * 5 <= pairs,
              "%d of %d pairs (deadlines >= 40 ms apart) woke out of order, e.g. +%lld ms after "
              "+%lld ms",
              inverted, pairs, ex_i >= 0 ? (long long)((ord_target[ex_i] - base) / MS) : 0LL,
              ex_j >= 0 ? (long long)((ord_target[ex_j] - base) / MS) : 0LL);
    join_destroy(&g_join);
}

/* Thousands of concurrent sleepers with different durations: all wake, none
 * early. */
static _Atomic long many_early;
static void many_sleeper(void *arg)
{
    size_t i = (size_t)arg;
    int64_t d = (int64_t)((i * 7919) % 30 + 1) * MS;
    int64_t t0 = gort_now();
    gort_sleep(d);
    if (gort_now() - t0 < d)
        atomic_fetch_add(&many_early, 1);
    join_done(&g_join);
}

TEST(many_concurrent_sleepers)
{
    long n = scaled(20000, 200);
    CHECK_EQ(gort_init(NULL), 0);
    join_init(&g_join, n);
    int64_t t0 = mono_ns();
    for (long i = 0; i < n; i++)
        CHECK_EQ(gort_go(many_sleeper, (void *)(size_t)i), 0);
    CHECK_MSG(join_wait(&g_join, 20 * GORT_SECOND * slow()), "%ld of %ld sleepers woke",
              atomic_load(&g_join.done), n);
    fprintf(stderr, "  %ld sleepers (1-30 ms) done in %.1f ms\n", n, (mono_ns() - t0) / 1e6);
    CHECK_EQ(atomic_load(&many_early), 0);
    gort_shutdown();
    join_destroy(&g_join);
}

/* ---- stack overflow ------------------------------------------------------ */

/* Run fn in a forked grandchild; collect its wait status and stderr. */
static int run_forked(void (*fn)(void), int *status, char *err, size_t errlen)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        alarm((unsigned)(30 * slow())); /* a hang ends as SIGALRM */
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    for (;;) {
        char chunk[1024];
        ssize_t r = read(fds[0], chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r;
        if (take > errlen - 1 - len)
            take = errlen - 1 - len;
        memcpy(err + len, chunk, take);
        len += take;
    }
    err[len] = 0;
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

static volatile int never = -1;
static NOINLINE int recurse(int d)
{
    volatile char buf[200];
    buf[0] = (char)d;
    buf[199] = (char)d;
    if (d == never)
        return 0;
    return recurse(d + 1) + buf[d % 200];
}

static void overflow_g(void *arg)
{
    (void)arg;
    recurse(0);
}

static gort_go_options ovf_opts;
static void overflow_child(void)
{
    if (gort_init(NULL) != 0)
        _exit(10);
    if (gort_go_opts(overflow_g, NULL, &ovf_opts) != 0)
        _exit(11);
    struct timespec ts = {10 * slow(), 0};
    nanosleep(&ts, NULL);
    _exit(12); /* survived */
}

/* A host loop that embeds a gort loop (Node, asyncio) attaches its thread
 * at every turn: the signal stack is the loop's, kept between turns, and the
 * host's own is back in place after each. The overflow happens in a
 * loop-bound goroutine at the third turn, with no host stack left to fall
 * back on. */
static void overflow_on_loop_child(void)
{
    static char host_stack[64 * 1024];
    stack_t host = {.ss_sp = host_stack, .ss_size = sizeof host_stack}, now;
    if (gort_init(NULL) != 0 || sigaltstack(&host, NULL) != 0)
        _exit(10);
    gort_loop *loop = gort_loop_new();
    if (!loop)
        _exit(11);
    for (int turn = 0; turn < 2; turn++) {
        if (gort_loop_run_once(loop, GORT_NOWAIT) < 0 || sigaltstack(NULL, &now) != 0)
            _exit(12);
        if (now.ss_sp != host_stack || now.ss_size != sizeof host_stack)
            _exit(13); /* the host's alternate stack was not restored */
    }
    stack_t none = {.ss_flags = SS_DISABLE};
    if (sigaltstack(&none, NULL) != 0) /* the diagnosis must come from gort's own */
        _exit(14);
    if (gort_loop_go_opts(loop, overflow_g, NULL, &ovf_opts) != 0)
        _exit(14);
    gort_loop_run_once(loop, GORT_NOWAIT);
    _exit(15); /* survived */
}

static void check_overflow_death_in(void (*child)(void), const char *what)
{
    int status = 0;
    static char err[16384];
    CHECK_EQ(run_forked(child, &status, err, sizeof err), 0);
    if (!T_SANITIZER) {
        /* gort's guard-page handler names the goroutine before it dies
         * (sanitizers own SIGSEGV and report the overflow themselves). */
        char want[160];
        snprintf(want, sizeof want, " stack overflow (name \"%s\", stack ",
                 ovf_opts.name ? ovf_opts.name : "");
        CHECK_MSG(strstr(err, "gort: fatal error: goroutine ") && strstr(err, want) &&
                      strstr(err, " bytes)"),
                  "%s: no overflow diagnosis on stderr: %.300s", what, err);
        CHECK_MSG(WIFSIGNALED(status) && (WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGBUS),
                  "%s: after the diagnosis the process must die of the fault", what);
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        int diagnosed = sig == SIGABRT && (strstr(err, "stack") || strstr(err, "Sanitizer"));
        CHECK_MSG(sig == SIGSEGV || sig == SIGBUS || diagnosed,
                  "%s: overflow killed by signal %d (%s); stderr: %.300s", what, sig,
                  strsignal(sig), err);
    } else {
        /* sanitizers report the SEGV themselves and exit non-zero */
        int san = T_SANITIZER && WEXITSTATUS(status) != 0 && strstr(err, "Sanitizer");
        CHECK_MSG(san, "%s: stack overflow did not kill the process: exit status %d; stderr: %.300s",
                  what, WEXITSTATUS(status), err);
    }
}

static void check_overflow_death(const char *what)
{
    check_overflow_death_in(overflow_child, what);
}

/* Unbounded recursion in a goroutine dies by SIGSEGV on the guard page. */
TEST(stack_overflow_default_stack_segv)
{
    if (T_ON_VALGRIND())
        SKIP("valgrind reports the overflow itself");
    gort_go_options_init(&ovf_opts);
    check_overflow_death("default stack");
}

TEST(stack_overflow_custom_stack_segv)
{
    if (T_ON_VALGRIND())
        SKIP("valgrind reports the overflow itself");
    gort_go_options_init(&ovf_opts);
    ovf_opts.stack_size = 64 * 1024;
    ovf_opts.name = "overflower";
    check_overflow_death("64 KiB stack");
    ovf_opts.stack_size = 1024 * 1024;
    check_overflow_death("1 MiB stack");
}

TEST(stack_overflow_on_an_embedded_loop_segv)
{
    if (T_ON_VALGRIND())
        SKIP("valgrind reports the overflow itself");
    gort_go_options_init(&ovf_opts);
    ovf_opts.name = "on-loop";
    check_overflow_death_in(overflow_on_loop_child, "loop-bound goroutine, third turn");
}

HARNESS_MAIN()
