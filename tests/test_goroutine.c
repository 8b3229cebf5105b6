/*
 * test_goroutine.c — goroutines through the public API: spawning at scale,
 * true parallelism, fairness of gort_yield, async preemption, identity
 * (gort_self / names), stack sizes, pinned goroutines and goroutine-local
 * storage.
 *
 * Every TEST runs in its own forked process, so each one starts the engine
 * itself and shuts it down at the end. Checks made inside goroutines go
 * through GCHECK (recorded in a global, reported by the main thread with
 * CHECK_GOROUTINES), so the harness is only called from the test's own
 * thread. Nothing waits by sleeping: joins are counters with a condition
 * variable (foreign thread) or a gort_yield loop (goroutine), always with a
 * wall-clock escape hatch so that a broken engine gives a FAIL, not a hang.
 */
#include "gort.h"
#include "harness.h"
#include "test_util.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define MS GORT_MILLISECOND

/* ---- helpers (the shared ones are in test_util.h) ----------------------- */

static long tid(void)
{
    return (long)syscall(SYS_gettid);
}

/* Busy work the compiler cannot remove. */
static NOINLINE unsigned burn(unsigned n)
{
    volatile unsigned x = 0;
    for (unsigned i = 0; i < n; i++)
        x = x * 31u + i;
    return x;
}

/* ---- spawning ------------------------------------------------------------ */

/* ThreadSanitizer gives every goroutine stack a fiber, and dies beyond 8128
 * threads + fibers alive at once (Go's race detector has the same limit on
 * live goroutines). Under TSan the spawning tests keep fewer goroutines
 * alive at a time; elsewhere they do not throttle. */
#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#ifdef T_TSAN
#define ALIVE_CAP 4000L
#else
#define ALIVE_CAP LONG_MAX
#endif

static unsigned char *g_flags; /* one per goroutine: how often it ran */
static long g_n;
static join_t g_join;
static _Atomic long g_spawned;  /* gort_go calls made (for the TSan throttle) */

static void mark(void *arg)
{
    size_t i = (size_t)arg;
    __atomic_fetch_add(&g_flags[i], 1, __ATOMIC_RELAXED);
    join_done(&g_join);
}

static void check_flags_once(long n)
{
    long zero = 0, many = 0, first_bad = -1;
    for (long i = 0; i < n; i++) {
        unsigned char f = __atomic_load_n(&g_flags[i], __ATOMIC_RELAXED);
        if (f != 1 && first_bad < 0)
            first_bad = i;
        zero += f == 0;
        many += f > 1;
    }
    CHECK_MSG(zero == 0 && many == 0, "%ld never ran, %ld ran more than once (first bad #%ld) of %ld",
              zero, many, first_bad, n);
}

/* Under TSan: wait while too many spawned goroutines have not finished. */
static void throttle(void)
{
    if (ALIVE_CAP == LONG_MAX)
        return;
    int64_t dl = mono_ns() + 30 * GORT_SECOND;
    while (atomic_load(&g_spawned) - atomic_load(&g_join.done) >= ALIVE_CAP &&
           mono_ns() < dl) {
        if (gort_self())
            gort_yield();
        else
            sched_yield();
    }
}

static void spawn_range(long lo, long hi)
{
    for (long i = lo; i < hi; i++) {
        throttle();
        atomic_fetch_add(&g_spawned, 1);
        int rc = gort_go(mark, (void *)(size_t)i);
        if (rc != 0) {
            gfail(__LINE__, "gort_go #%ld: %s", i, gort_err_name(rc));
            /* count it as run so the join still completes */
            __atomic_fetch_add(&g_flags[i], 1, __ATOMIC_RELAXED);
            join_done(&g_join);
        }
    }
}

static void spawner_all(void *arg)
{
    (void)arg;
    spawn_range(0, g_n);
}

/* 1,000,000 goroutines spawned by one goroutine, no throttling: every one
 * runs exactly once. */
TEST(spawn_million_from_one_goroutine)
{
    g_n = scaled_spawns(1000000, 1000);
    g_flags = calloc((size_t)g_n, 1);
    CHECK(g_flags != NULL);
    join_init(&g_join, g_n);
    CHECK_EQ(gort_init(NULL), 0);
    int64_t t0 = mono_ns();
    CHECK_EQ(gort_go(spawner_all, NULL), 0);
    int ok = join_wait(&g_join, 60 * GORT_SECOND * slow());
    CHECK_MSG(ok, "only %ld of %ld goroutines finished", atomic_load(&g_join.done), g_n);
    fprintf(stderr, "  %ld goroutines in %.1f ms\n", g_n, (mono_ns() - t0) / 1e6);
    gort_shutdown();
    CHECK_GOROUTINES();
    if (ok)
        check_flags_once(g_n);
    join_destroy(&g_join);
    free(g_flags);
}

/* A spawner that outruns its goroutines at one P. Its spawns overflow the
 * P's run queue every 129 goroutines (half the ring goes to the global
 * queue); it then yields behind the global queue, so everything it spawned
 * so far runs before it spawns more and only a few hundred goroutines are
 * alive at any time (each one a stack slot: before, the spilled halves
 * piled up on the global queue, ~N/2 of them alive at the end). */
static _Atomic int64_t g_alive_max;

static void leaf_sample_alive(void *arg)
{
    (void)arg;
    int64_t alive = gort_num_goroutine(), seen = atomic_load(&g_alive_max);
    while (alive > seen && !atomic_compare_exchange_weak(&g_alive_max, &seen, alive)) {
    }
    join_done(&g_join);
}

static void spawner_sampled(void *arg)
{
    (void)arg;
    for (long i = 0; i < g_n; i++) {
        int rc = gort_go(leaf_sample_alive, NULL);
        GCHECKF(rc == 0, "gort_go #%ld: %s", i, gort_err_name(rc));
        if (rc != 0)
            join_done(&g_join);
    }
}

TEST(spawner_outrunning_its_goroutines_keeps_few_alive_procs1)
{
    g_n = scaled_spawns(200000, 20000);
    atomic_store(&g_alive_max, 0);
    join_init(&g_join, g_n);
    CHECK_EQ(init_procs(1), 0);
    CHECK_EQ(gort_go(spawner_sampled, NULL), 0);
    int ok = join_wait(&g_join, 60 * GORT_SECOND * slow());
    CHECK_MSG(ok, "only %ld of %ld goroutines finished", atomic_load(&g_join.done), g_n);
    gort_shutdown();
    CHECK_GOROUTINES();
    fprintf(stderr, "  at most %lld of %ld alive at once\n", (long long)atomic_load(&g_alive_max), g_n);
    /* Ring (256) + runnext + the spilled half + the spawner, with room for
     * a preemption of the spawner by sysmon between two spills. */
    CHECK_MSG(atomic_load(&g_alive_max) <= 1024, "%lld goroutines alive at once (of %ld)",
              (long long)atomic_load(&g_alive_max), g_n);
    join_destroy(&g_join);
}

/* gort_num_goroutine sums per-P counts of spawns and exits (a goroutine
 * may exit on another P than the one that spawned it). Children spawned by
 * goroutines on every P block until released: while they all live the
 * count never drops below their number, and once they are gone it is 0. */
#define NG_SPAWNERS 4
#define NG_CHILDREN 1000
static gort_wg g_ng_release;
static _Atomic long g_ng_arrived;

static void ng_child(void *arg)
{
    (void)arg;
    atomic_fetch_add(&g_ng_arrived, 1);
    gort_wg_wait(&g_ng_release);
}

static void ng_spawner(void *arg)
{
    (void)arg;
    for (int i = 0; i < NG_CHILDREN; i++)
        GCHECKF(gort_go(ng_child, NULL) == 0, "spawn of child %d failed", i);
}

TEST(num_goroutine_counts_spawns_and_exits_on_every_p)
{
    CHECK_EQ(init_procs(2), 0);
    CHECK_EQ(gort_num_goroutine(), 0);
    gort_wg_add(&g_ng_release, 1);
    for (int k = 0; k < NG_SPAWNERS; k++)
        CHECK_EQ(gort_go(ng_spawner, NULL), 0);
    const long n = (long)NG_SPAWNERS * NG_CHILDREN;
    int64_t dl = mono_ns() + 30 * GORT_SECOND * slow();
    while (atomic_load(&g_ng_arrived) < n && mono_ns() < dl)
        sched_yield();
    CHECK_EQ(atomic_load(&g_ng_arrived), n);
    /* The spawners finish; the children stay. */
    int64_t count = gort_num_goroutine();
    while (count != n && mono_ns() < dl) {
        CHECK_MSG(count >= n && count <= n + NG_SPAWNERS, "%lld goroutines counted, %ld alive",
                  (long long)count, n);
        sched_yield();
        count = gort_num_goroutine();
    }
    CHECK_EQ(count, n);
    gort_wg_done(&g_ng_release);
    while ((count = gort_num_goroutine()) != 0 && mono_ns() < dl)
        CHECK_MSG(count > 0 && count <= n, "%lld goroutines counted while %ld exit",
                  (long long)count, n);
    CHECK_EQ(gort_num_goroutine(), 0);
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK_EQ(gort_num_goroutine(), 0);
}

static long g_spawners;
static void spawner_part(void *arg)
{
    long k = (long)(size_t)arg, per = g_n / g_spawners;
    long lo = k * per, hi = k == g_spawners - 1 ? g_n : lo + per;
    /* Yield now and then, so that children run while others are still
     * being spawned (otherwise all 1M are alive at once: that case is
     * many_blocked_goroutines' job, at a size the CI can afford). */
    for (long i = lo; i < hi; i += 64) {
        spawn_range(i, i + 64 < hi ? i + 64 : hi);
        gort_yield();
    }
}

/* Many goroutines spawn concurrently (contention on run queues, stealing). */
TEST(spawn_from_many_goroutines)
{
    g_n = scaled_spawns(1000000, 1000);
    g_spawners = 100;
    g_flags = calloc((size_t)g_n, 1);
    join_init(&g_join, g_n);
    CHECK_EQ(gort_init(NULL), 0);
    for (long k = 0; k < g_spawners; k++)
        CHECK_EQ(gort_go(spawner_part, (void *)(size_t)k), 0);
    int ok = join_wait(&g_join, 60 * GORT_SECOND * slow());
    CHECK_MSG(ok, "only %ld of %ld goroutines finished", atomic_load(&g_join.done), g_n);
    gort_shutdown();
    CHECK_GOROUTINES();
    if (ok)
        check_flags_once(g_n);
    join_destroy(&g_join);
    free(g_flags);
}

/* A chain: each goroutine spawns its successor and exits (Go's
 * BenchmarkCreateGoroutines shape: exercises runnext and G recycling). */
static void chain_link(void *arg)
{
    size_t i = (size_t)arg;
    __atomic_fetch_add(&g_flags[i], 1, __ATOMIC_RELAXED);
    if ((long)i + 1 < g_n) {
        int rc = gort_go(chain_link, (void *)(i + 1));
        GCHECKF(rc == 0, "chain gort_go #%zu: %s", i + 1, gort_err_name(rc));
        if (rc != 0) {
            for (long k = (long)i + 1; k < g_n; k++)
                join_done(&g_join);
        }
    }
    join_done(&g_join);
}

TEST(spawn_chain)
{
    g_n = scaled(200000, 100);
    g_flags = calloc((size_t)g_n, 1);
    join_init(&g_join, g_n);
    CHECK_EQ(gort_init(NULL), 0);
    CHECK_EQ(gort_go(chain_link, (void *)(size_t)0), 0);
    int ok = join_wait(&g_join, 30 * GORT_SECOND * slow());
    CHECK_MSG(ok, "chain stopped at %ld of %ld", atomic_load(&g_join.done), g_n);
    gort_shutdown();
    CHECK_GOROUTINES();
    if (ok)
        check_flags_once(g_n);
    join_destroy(&g_join);
    free(g_flags);
}

/* A binary tree of spawns: node i spawns 2i+1 and 2i+2 (work stealing). */
static void tree_node(void *arg)
{
    size_t i = (size_t)arg;
    __atomic_fetch_add(&g_flags[i], 1, __ATOMIC_RELAXED);
    for (size_t c = 2 * i + 1; c <= 2 * i + 2; c++) {
        if ((long)c < g_n) {
            int rc = gort_go(tree_node, (void *)c);
            GCHECKF(rc == 0, "tree gort_go: %s", gort_err_name(rc));
        }
    }
    join_done(&g_join);
}

TEST(spawn_tree)
{
    g_n = scaled(1 << 18, 64) - 1;
    if (g_n > ALIVE_CAP) /* half of the nodes may be alive at once */
        g_n = ALIVE_CAP;
    g_flags = calloc((size_t)g_n, 1);
    join_init(&g_join, g_n);
    CHECK_EQ(gort_init(NULL), 0);
    CHECK_EQ(gort_go(tree_node, (void *)(size_t)0), 0);
    int ok = join_wait(&g_join, 30 * GORT_SECOND * slow());
    CHECK_MSG(ok, "only %ld of %ld tree nodes finished", atomic_load(&g_join.done), g_n);
    gort_shutdown();
    CHECK_GOROUTINES();
    if (ok)
        check_flags_once(g_n);
    join_destroy(&g_join);
    free(g_flags);
}

/* Foreign pthreads spawn while the engine runs; the spawned goroutines are
 * real goroutines (gort_self != 0) and the spawning thread stays foreign. */
static void mark_check_self(void *arg)
{
    GCHECK(gort_self() != 0);
    mark(arg);
}

static void *foreign_spawner(void *arg)
{
    long k = (long)(size_t)arg, per = g_n / g_spawners;
    long lo = k * per, hi = k == g_spawners - 1 ? g_n : lo + per;
    GCHECK(gort_self() == 0);
    for (long i = lo; i < hi; i++) {
        throttle();
        atomic_fetch_add(&g_spawned, 1);
        int rc = gort_go(mark_check_self, (void *)(size_t)i);
        if (rc != 0) {
            gfail(__LINE__, "foreign gort_go #%ld: %s", i, gort_err_name(rc));
            __atomic_fetch_add(&g_flags[i], 1, __ATOMIC_RELAXED);
            join_done(&g_join);
        }
    }
    GCHECK(gort_self() == 0);
    return NULL;
}

TEST(spawn_from_foreign_threads)
{
    enum { NT = 4 };
    pthread_t th[NT];
    g_n = scaled_spawns(400000, 400);
    g_spawners = NT;
    g_flags = calloc((size_t)g_n, 1);
    join_init(&g_join, g_n);
    CHECK_EQ(gort_init(NULL), 0);
    for (long k = 0; k < NT; k++)
        CHECK_EQ(pthread_create(&th[k], NULL, foreign_spawner, (void *)(size_t)k), 0);
    for (int k = 0; k < NT; k++)
        pthread_join(th[k], NULL);
    int ok = join_wait(&g_join, 60 * GORT_SECOND * slow());
    CHECK_MSG(ok, "only %ld of %ld goroutines finished", atomic_load(&g_join.done), g_n);
    CHECK_EQ(gort_self(), 0);
    gort_shutdown();
    CHECK_GOROUTINES();
    if (ok)
        check_flags_once(g_n);
    join_destroy(&g_join);
    free(g_flags);
}

/* A foreign thread spawning rounds of goroutines that run and exit on the
 * pool (Node's JS thread issuing fn.async calls, a Python thread calling
 * gort.blocking): their stack slots must come back to it. Each goroutine
 * records the address of a local (which identifies its slot); over many
 * rounds the distinct slots stay near one round's worth, where slots kept
 * in the exiting Ps' caches (out of a P-less spawner's reach) made every
 * round build fresh ones — up to the caches' 512 per P. */
enum { SLOT_ROUND = 32 };
static uintptr_t g_slot_seen[SLOT_ROUND];
static gort_wg g_slot_wg = GORT_WG_INIT;
static NOINLINE void record_slot(void *arg)
{
    volatile char local = 0;
    g_slot_seen[(intptr_t)arg] = (uintptr_t)&local;
    gort_wg_done(&g_slot_wg);
}

TEST(foreign_spawner_reuses_the_slots_its_goroutines_free)
{
    CHECK_EQ(gort_init(NULL), 0);
    int rounds = (int)scaled(60, 20);
    uintptr_t *distinct = calloc((size_t)rounds * SLOT_ROUND, sizeof *distinct);
    CHECK(distinct != NULL);
    int ndistinct = 0;
    for (int r = 0; r < rounds; r++) {
        gort_wg_add(&g_slot_wg, SLOT_ROUND);
        for (intptr_t i = 0; i < SLOT_ROUND; i++)
            CHECK_EQ(gort_go(record_slot, (void *)i), 0);
        CHECK_EQ(gort_wg_wait_until(&g_slot_wg, hatch()), 0);
        for (int i = 0; i < SLOT_ROUND; i++) {
            int k = 0;
            while (k < ndistinct && distinct[k] != g_slot_seen[i])
                k++;
            if (k == ndistinct)
                distinct[ndistinct++] = g_slot_seen[i];
        }
    }
    /* One round in flight, the previous round's goroutines possibly still
     * exiting (wg_done comes before the exit), one 64-slot slab of slack. */
    CHECK_MSG(ndistinct <= 2 * SLOT_ROUND + 64,
              "%d distinct stack slots for %d rounds of %d goroutines", ndistinct, rounds,
              SLOT_ROUND);
    free(distinct);
    gort_shutdown();
}

/* Many goroutines alive and blocked at the same time (here: sleeping), more
 * than vm.max_map_count (65530) would allow with one mapping each. */
static _Atomic long g_asleep;
static void sleep_then_mark(void *arg)
{
    atomic_fetch_add(&g_asleep, 1);
    gort_sleep(200 * MS);
    mark(arg);
}

TEST(many_blocked_goroutines)
{
    g_n = scaled(100000, 1000);
    if (g_n > ALIVE_CAP)
        g_n = ALIVE_CAP;
    g_flags = calloc((size_t)g_n, 1);
    join_init(&g_join, g_n);
    CHECK_EQ(gort_init(NULL), 0);
    for (long i = 0; i < g_n; i++) {
        int rc = gort_go(sleep_then_mark, (void *)(size_t)i);
        if (rc != 0) {
            CHECK_MSG(rc == 0, "gort_go #%ld with %ld asleep: %s", i, atomic_load(&g_asleep),
                      gort_err_name(rc));
            break;
        }
    }
    int ok = join_wait(&g_join, 60 * GORT_SECOND * slow());
    CHECK_MSG(ok, "only %ld of %ld sleepers finished", atomic_load(&g_join.done), g_n);
    gort_shutdown();
    CHECK_GOROUTINES();
    if (ok)
        check_flags_once(g_n);
    join_destroy(&g_join);
    free(g_flags);
}

/* ---- parallelism (Go's TestGoroutineParallelism) ------------------------- */

enum { PAR_P = 2, PAR_ROUNDS = 50, PAR_TRIES = 5 };
static _Atomic uint32_t par_x;
static _Atomic int par_abort;
static int64_t par_deadline;
static long par_tid[PAR_TRIES][PAR_P][PAR_ROUNDS];
static int par_try;

/* Goroutine p may take step P*i+p only after every other goroutine took its
 * previous step. It spins without ever calling into gort, so the steps can
 * only advance quickly if all P goroutines run at the same time. */
static void par_worker(void *arg)
{
    uint32_t p = (uint32_t)(size_t)arg;
    for (uint32_t i = 0; i < PAR_ROUNDS; i++) {
        uint32_t expected = PAR_P * i + p;
        unsigned spins = 0;
        while (atomic_load_explicit(&par_x, memory_order_acquire) != expected) {
            if ((++spins & 0xffff) == 0 &&
                (atomic_load(&par_abort) || mono_ns() > par_deadline)) {
                atomic_store(&par_abort, 1);
                join_done(&g_join);
                return;
            }
        }
        par_tid[par_try][p][i] = tid();
        atomic_store_explicit(&par_x, expected + 1, memory_order_release);
    }
    join_done(&g_join);
}

TEST(goroutine_parallelism)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 2)
        SKIP("needs 2 CPUs, have %ld", ncpu);
    if (T_ON_VALGRIND())
        SKIP("valgrind runs one thread at a time");
    CHECK_EQ(init_procs(PAR_P), 0);
    if (gort_procs() < PAR_P) {
        gort_shutdown();
        SKIP("gort_procs() = %d", gort_procs());
    }
    int64_t t0 = mono_ns();
    par_deadline = t0 + 10 * GORT_SECOND * slow();
    int ok = 1;
    for (par_try = 0; par_try < PAR_TRIES && ok; par_try++) {
        atomic_store(&par_x, 0);
        join_init(&g_join, PAR_P);
        for (int p = 0; p < PAR_P; p++)
            CHECK_EQ(gort_go(par_worker, (void *)(size_t)p), 0);
        ok = join_wait(&g_join, 20 * GORT_SECOND * slow());
        CHECK_MSG(ok, "try %d: workers did not finish", par_try);
        join_destroy(&g_join);
        ok = ok && !atomic_load(&par_abort);
    }
    int64_t took = mono_ns() - t0;
    CHECK_MSG(!atomic_load(&par_abort), "goroutines never ran simultaneously (x stuck at %u)",
              atomic_load(&par_x));
    /* Unloaded this takes well under 10 ms. The bound only catches an engine
     * that gets there by time-slicing one thread (500 x 10 ms preemption
     * slices); the thread check below is the precise one, since the OS may
     * time-slice our two threads on a loaded machine. */
    CHECK_MSG(took < 4 * GORT_SECOND * slow(), "%d hand-offs took %.0f ms: not parallel",
              PAR_TRIES * PAR_ROUNDS * PAR_P, took / 1e6);
    if (!atomic_load(&par_abort)) {
        /* Both were spinning at once, so at each step they were on
         * different OS threads. */
        int same = 0;
        for (int t = 0; t < PAR_TRIES; t++)
            for (int i = 0; i < PAR_ROUNDS; i++)
                same += par_tid[t][0][i] == par_tid[t][1][i];
        CHECK_MSG(same <= PAR_TRIES * PAR_ROUNDS / 10,
                  "%d of %d steps ran both goroutines on one thread", same,
                  PAR_TRIES * PAR_ROUNDS);
    }
    gort_shutdown();
}

/* ---- gort_yield ---------------------------------------------------------- */

static _Atomic int y_flag;
static _Atomic long y_spins;

static void y_waiter(void *arg)
{
    (void)arg;
    int64_t dl = mono_ns() + 5 * GORT_SECOND * slow();
    long n = 0;
    while (!atomic_load(&y_flag)) {
        gort_yield();
        n++;
        if (mono_ns() > dl) {
            gfail(__LINE__, "flag never set after %ld yields", n);
            break;
        }
    }
    atomic_store(&y_spins, n);
    join_done(&g_join);
}

static void y_setter(void *arg)
{
    (void)arg;
    atomic_store(&y_flag, 1);
    join_done(&g_join);
}

/* Spawns waiter then setter; both are queued before either runs because
 * there is one P and the spawner keeps it until it yields. */
static void y_parent(void *arg)
{
    (void)arg;
    GCHECK(gort_go(y_waiter, NULL) == 0);
    GCHECK(gort_go(y_setter, NULL) == 0);
    join_done(&g_join);
}

/* procs=1: a goroutine spinning on a flag with gort_yield lets the
 * goroutine that sets it run, after a handful of yields (not after a
 * preemption time slice). */
TEST(yield_lets_other_goroutine_run)
{
    CHECK_EQ(init_procs(1), 0);
    CHECK_EQ(gort_procs(), 1);
    join_init(&g_join, 3);
    CHECK_EQ(gort_go(y_parent, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK(atomic_load(&y_flag));
    CHECK_MSG(atomic_load(&y_spins) <= 100, "waiter yielded %ld times before the setter ran",
              atomic_load(&y_spins));
    join_destroy(&g_join);
}

/* Same with gort_sleep(0) and a negative sleep, which "yield". */
static _Atomic int64_t s0_mode;
static void s0_waiter(void *arg)
{
    (void)arg;
    int64_t dl = mono_ns() + 5 * GORT_SECOND * slow();
    long n = 0;
    while (!atomic_load(&y_flag)) {
        gort_sleep(atomic_load(&s0_mode));
        n++;
        if (mono_ns() > dl) {
            gfail(__LINE__, "flag never set after %ld sleep(%lld)", n,
                  (long long)atomic_load(&s0_mode));
            break;
        }
    }
    atomic_store(&y_spins, n);
    join_done(&g_join);
}

static void s0_parent(void *arg)
{
    (void)arg;
    GCHECK(gort_go(s0_waiter, NULL) == 0);
    GCHECK(gort_go(y_setter, NULL) == 0);
    join_done(&g_join);
}

TEST(sleep_zero_and_negative_yield)
{
    static const int64_t modes[] = {0, -1, INT64_MIN};
    CHECK_EQ(init_procs(1), 0);
    for (int m = 0; m < 3; m++) {
        atomic_store(&y_flag, 0);
        atomic_store(&s0_mode, modes[m]);
        join_init(&g_join, 3);
        CHECK_EQ(gort_go(s0_parent, NULL), 0);
        CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
        CHECK_MSG(atomic_load(&y_spins) <= 100, "sleep(%lld): waiter looped %ld times",
                  (long long)modes[m], atomic_load(&y_spins));
        join_destroy(&g_join);
    }
    gort_shutdown();
    CHECK_GOROUTINES();
}

/* procs=1, N goroutines each yield K times: yield is round-robin enough that
 * no goroutine gets far ahead of the slowest. */
enum { RR_N = 8, RR_K = 200 };
static _Atomic long rr_progress[RR_N];
static _Atomic long rr_maxlead;

static void rr_worker(void *arg)
{
    int me = (int)(size_t)arg;
    for (long k = 0; k < RR_K; k++) {
        long mine = atomic_fetch_add(&rr_progress[me], 1) + 1;
        long min = mine;
        for (int j = 0; j < RR_N; j++) {
            long v = atomic_load(&rr_progress[j]);
            if (v < min)
                min = v;
        }
        long lead = mine - min, cur = atomic_load(&rr_maxlead);
        while (lead > cur && !atomic_compare_exchange_weak(&rr_maxlead, &cur, lead)) {
        }
        gort_yield();
    }
    join_done(&g_join);
}

static void rr_parent(void *arg)
{
    (void)arg;
    for (int i = 0; i < RR_N; i++)
        GCHECK(gort_go(rr_worker, (void *)(size_t)i) == 0);
}

TEST(yield_round_robin)
{
    CHECK_EQ(init_procs(1), 0);
    join_init(&g_join, RR_N);
    CHECK_EQ(gort_go(rr_parent, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK_MSG(atomic_load(&rr_maxlead) <= 4, "a goroutine got %ld iterations ahead of another",
              atomic_load(&rr_maxlead));
    join_destroy(&g_join);
}

/* ---- fairness (Go's TestPingPongHog idea) ------------------------------- */

enum { WORK = 20000 };
static _Atomic int ph_stop;
static _Atomic long ph_hog_units, ph_light_units;
static _Atomic int ph_turn;

static void ph_hog(void *arg)
{
    (void)arg;
    while (!atomic_load(&ph_stop)) {
        burn(WORK);
        atomic_fetch_add(&ph_hog_units, 1);
        gort_yield();
    }
    join_done(&g_join);
}

/* The light pair: A and B alternate; each turn does one unit of the same
 * work. While it is not its turn a side yields. */
static void ph_light(void *arg)
{
    int me = (int)(size_t)arg;
    while (!atomic_load(&ph_stop)) {
        if (atomic_load(&ph_turn) != me) {
            gort_yield();
            continue;
        }
        burn(WORK);
        atomic_fetch_add(&ph_light_units, 1);
        atomic_store(&ph_turn, 1 - me);
        gort_yield();
    }
    join_done(&g_join);
}

TEST(fairness_ping_pong_next_to_hogs)
{
    CHECK_EQ(init_procs(1), 0);
    join_init(&g_join, 4);
    CHECK_EQ(gort_go(ph_hog, NULL), 0);
    CHECK_EQ(gort_go(ph_hog, NULL), 0);
    CHECK_EQ(gort_go(ph_light, (void *)(size_t)0), 0);
    CHECK_EQ(gort_go(ph_light, (void *)(size_t)1), 0);
    /* a measurement window, not synchronisation */
    struct timespec win = {0, 300 * 1000 * 1000};
    nanosleep(&win, NULL);
    atomic_store(&ph_stop, 1);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    gort_shutdown();
    long hog = atomic_load(&ph_hog_units), light = atomic_load(&ph_light_units);
    fprintf(stderr, "  hog units %ld, ping-pong units %ld\n", hog, light);
    CHECK_MSG(light >= 20, "ping-pong pair starved: %ld units (hogs %ld)", light, hog);
    CHECK_MSG(hog >= 20, "hogs starved: %ld units (ping-pong %ld)", hog, light);
    CHECK_MSG(hog <= 20 * (light + 1) && light <= 20 * (hog + 1),
              "unfair: hogs %ld units vs ping-pong %ld", hog, light);
    join_destroy(&g_join);
}

/* procs=1: a pair that ping-pongs over unbuffered channels keeps refilling
 * runnext, so a goroutine in the P's ring must still get its turn: a G
 * taken from runnext inherits the time slice (Go's inheritTime), and after
 * 10 ms sysmon makes the pair yield. C is spawned by A mid-exchange, so it
 * sits in the ring behind the pair; only C can stop them. */
static gort_chan *pp_ab, *pp_ba;
static _Atomic int pp_stop;

static void pp_third(void *arg)
{
    (void)arg;
    atomic_store(&pp_stop, 1);
    join_done(&g_join);
}

static void pp_side(void *arg)
{
    int a = arg != NULL;
    int v = 0;
    int spawned = 0;
    for (;;) {
        if (a) {
            if (!spawned) { /* into runnext; the send below pushes it to the ring */
                spawned = 1;
                CHECK_EQ(gort_go(pp_third, NULL), 0);
            }
            int stop = atomic_load(&pp_stop);
            CHECK_EQ(gort_chan_send(pp_ab, &stop), 0);
            if (stop)
                break;
            CHECK_EQ(gort_chan_recv(pp_ba, &v), 0);
        } else {
            CHECK_EQ(gort_chan_recv(pp_ab, &v), 0);
            if (v)
                break;
            CHECK_EQ(gort_chan_send(pp_ba, &v), 0);
        }
    }
    join_done(&g_join);
}

TEST(ping_pong_pair_does_not_starve_the_ring)
{
    CHECK_EQ(init_procs(1), 0);
    join_init(&g_join, 3);
    pp_ab = gort_chan_make(sizeof(int), 0);
    pp_ba = gort_chan_make(sizeof(int), 0);
    CHECK(pp_ab && pp_ba);
    CHECK_EQ(gort_go(pp_side, NULL), 0);
    CHECK_EQ(gort_go(pp_side, (void *)1), 0);
    CHECK_MSG(join_wait(&g_join, 20 * GORT_SECOND * slow()),
              "a goroutine behind a channel ping-pong pair never ran");
    gort_shutdown();
    gort_chan_release(pp_ab);
    gort_chan_release(pp_ba);
    join_destroy(&g_join);
}

/* ---- asynchronous preemption --------------------------------------------- */

static _Atomic int pre_started, pre_stop, pre_hog_gave_up;
static _Atomic int64_t pre_stop_at;

/* A pure computation loop: no gort call, no libc call on the hot path. */
static void pre_hog(void *arg)
{
    (void)arg;
    volatile uint64_t x = 0;
    int64_t dl = mono_ns() + 3 * GORT_SECOND * slow();
    atomic_store(&pre_started, 1);
    while (!atomic_load_explicit(&pre_stop, memory_order_relaxed)) {
        x++;
        if ((x & 0xfffff) == 0 && mono_ns() > dl) {
            atomic_store(&pre_hog_gave_up, 1);
            break;
        }
    }
    join_done(&g_join);
}

static void pre_stopper(void *arg)
{
    (void)arg;
    atomic_store(&pre_stop_at, mono_ns());
    atomic_store(&pre_stop, 1);
    join_done(&g_join);
}

/* procs=1: a goroutine in `for (;;)` without gort calls must not keep the
 * only P forever (Go 1.14+ async preemption; sysmon's 10 ms slice). */
TEST(preempt_tight_loop)
{
    const char *why = no_async_preempt();
    if (why)
        SKIP("%s", why);
    CHECK_EQ(init_procs(1), 0);
    join_init(&g_join, 2);
    CHECK_EQ(gort_go(pre_hog, NULL), 0);
    int64_t dl = mono_ns() + 5 * GORT_SECOND * slow();
    while (!atomic_load(&pre_started) && mono_ns() < dl)
        sched_yield();
    CHECK(atomic_load(&pre_started));
    int64_t t0 = mono_ns();
    CHECK_EQ(gort_go(pre_stopper, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    CHECK_MSG(!atomic_load(&pre_hog_gave_up),
              "the spinning goroutine was never preempted: the other one never ran");
    if (atomic_load(&pre_stop_at))
        CHECK_MSG(atomic_load(&pre_stop_at) - t0 < 500 * MS * slow(),
                  "stopper ran only after %.0f ms", (atomic_load(&pre_stop_at) - t0) / 1e6);
    gort_shutdown();
    join_destroy(&g_join);
}

/* ---- identity ------------------------------------------------------------ */

static uint64_t *id_seen;
static void record_id(void *arg)
{
    size_t i = (size_t)arg;
    uint64_t a = gort_self();
    gort_yield();
    uint64_t b = gort_self();
    gort_sleep(10 * GORT_MICROSECOND);
    uint64_t c = gort_self();
    GCHECKF(a == b && b == c, "gort_self changed across yield/sleep: %llu %llu %llu",
            (unsigned long long)a, (unsigned long long)b, (unsigned long long)c);
    id_seen[i] = a;
    join_done(&g_join);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* gort_self: >= 1, stable within a goroutine, unique across goroutines
 * (also across goroutines that ran one after another and recycled G
 * structures: Go never reuses a goroutine id); 0 on foreign threads. */
TEST(self_ids_unique)
{
    long n = scaled(20000, 200);
    CHECK_EQ(gort_self(), 0);
    id_seen = calloc((size_t)n, sizeof *id_seen);
    CHECK_EQ(gort_init(NULL), 0);
    CHECK_EQ(gort_self(), 0);
    /* two waves so that the second reuses the first one's Gs */
    for (int wave = 0; wave < 2; wave++) {
        long lo = wave * (n / 2), hi = wave ? n : n / 2;
        join_init(&g_join, hi - lo);
        for (long i = lo; i < hi; i++)
            CHECK_EQ(gort_go(record_id, (void *)(size_t)i), 0);
        CHECK(join_wait(&g_join, 30 * GORT_SECOND * slow()));
        join_destroy(&g_join);
    }
    CHECK_EQ(gort_self(), 0);
    gort_shutdown();
    CHECK_GOROUTINES();
    long zero = 0, dup = 0;
    for (long i = 0; i < n; i++)
        zero += id_seen[i] == 0;
    qsort(id_seen, (size_t)n, sizeof *id_seen, cmp_u64);
    for (long i = 1; i < n; i++)
        dup += id_seen[i] == id_seen[i - 1] && id_seen[i] != 0;
    CHECK_MSG(zero == 0, "%ld goroutines saw gort_self() == 0", zero);
    CHECK_MSG(dup == 0, "%ld duplicate goroutine ids among %ld goroutines", dup, n);
    CHECK_EQ(gort_self(), 0);
    free(id_seen);
}

static void *foreign_self(void *arg)
{
    (void)arg;
    GCHECK(gort_self() == 0);
    GCHECK(strcmp(gort_self_name(), "") == 0);
    return NULL;
}

TEST(self_on_foreign_thread)
{
    pthread_t th;
    CHECK_EQ(gort_self(), 0);
    CHECK_EQ(init_procs(2), 0);
    CHECK_EQ(gort_self(), 0);
    CHECK(gort_self_name() != NULL && gort_self_name()[0] == '\0');
    CHECK_EQ(pthread_create(&th, NULL, foreign_self, NULL), 0);
    pthread_join(th, NULL);
    gort_shutdown();
    CHECK_GOROUTINES();
}

/* ---- names --------------------------------------------------------------- */

static char name_seen[8][64];
static void record_name(void *arg)
{
    size_t i = (size_t)arg;
    const char *n = gort_self_name();
    GCHECK(n != NULL);
    if (n) {
        snprintf(name_seen[i], sizeof name_seen[i], "%s", n);
        gort_yield();
        GCHECKF(strcmp(gort_self_name(), name_seen[i]) == 0, "name changed across yield");
    }
    join_done(&g_join);
}

static const char long40[] = "0123456789abcdefghijklmnopqrstuvwxyzABCD"; /* 40 chars */
static const char exact31[] = "0123456789012345678901234567890"; /* 31 chars */
static const char exact32[] = "01234567890123456789012345678901"; /* 32 chars */

static void name_parent(void *arg)
{
    (void)arg;
    gort_go_options o;
    char buf[64];
    const char *names[6] = {"worker-7", long40, exact31, exact32, "", NULL};
    for (int i = 0; i < 6; i++) {
        gort_go_options_init(&o);
        if (names[i]) {
            snprintf(buf, sizeof buf, "%s", names[i]);
            o.name = buf;
        }
        GCHECK(gort_go_opts(record_name, (void *)(size_t)i, &o) == 0);
        /* the name must have been copied: scribble over our buffer before
         * the child can run (one P, we hold it) */
        memset(buf, 'X', sizeof buf - 1);
        buf[sizeof buf - 1] = 0;
    }
    GCHECK(gort_go(record_name, (void *)(size_t)6) == 0);
}

TEST(goroutine_names)
{
    CHECK_EQ(GORT_NAME_MAX, 32);
    CHECK_EQ(init_procs(1), 0);
    join_init(&g_join, 7);
    CHECK_EQ(gort_go(name_parent, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK_MSG(strcmp(name_seen[0], "worker-7") == 0, "got \"%s\"", name_seen[0]);
    CHECK_MSG(strlen(name_seen[1]) == GORT_NAME_MAX - 1 &&
                  strncmp(name_seen[1], long40, GORT_NAME_MAX - 1) == 0,
              "40-char name became \"%s\"", name_seen[1]);
    CHECK_MSG(strcmp(name_seen[2], exact31) == 0, "31-char name became \"%s\"", name_seen[2]);
    CHECK_MSG(strcmp(name_seen[3], exact31) == 0, "32-char name became \"%s\"", name_seen[3]);
    CHECK_MSG(strcmp(name_seen[4], "") == 0, "empty name became \"%s\"", name_seen[4]);
    CHECK_MSG(strcmp(name_seen[5], "") == 0, "NULL name became \"%s\"", name_seen[5]);
    CHECK_MSG(strcmp(name_seen[6], "") == 0, "gort_go name is \"%s\"", name_seen[6]);
    join_destroy(&g_join);
}

/* A recycled G must not keep the name of its previous life. */
static _Atomic long nr_named_seen;
static void nr_named(void *arg)
{
    (void)arg;
    GCHECK(strcmp(gort_self_name(), "named-one") == 0);
    atomic_fetch_add(&nr_named_seen, 1);
    join_done(&g_join);
}
static void nr_unnamed(void *arg)
{
    (void)arg;
    GCHECKF(strcmp(gort_self_name(), "") == 0, "unnamed goroutine is called \"%s\"",
            gort_self_name());
    join_done(&g_join);
}
static void nr_parent(void *arg)
{
    (void)arg;
    gort_go_options o;
    for (int round = 0; round < 50; round++) {
        long base = atomic_load(&g_join.done);
        gort_go_options_init(&o);
        o.name = "named-one";
        for (int i = 0; i < 8; i++)
            GCHECK(gort_go_opts(nr_named, NULL, &o) == 0);
        if (!yield_until(&g_join.done, base + 8, 5 * GORT_SECOND * slow())) {
            gfail(__LINE__, "named goroutines did not finish");
            return;
        }
        for (int i = 0; i < 8; i++)
            GCHECK(gort_go(nr_unnamed, NULL) == 0);
        if (!yield_until(&g_join.done, base + 16, 5 * GORT_SECOND * slow())) {
            gfail(__LINE__, "unnamed goroutines did not finish");
            return;
        }
    }
    join_done(&g_join);
}

TEST(names_not_inherited_by_recycled_goroutines)
{
    CHECK_EQ(init_procs(1), 0);
    join_init(&g_join, 50 * 16 + 1);
    CHECK_EQ(gort_go(nr_parent, NULL), 0);
    CHECK(join_wait(&g_join, 20 * GORT_SECOND * slow()));
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK_EQ(atomic_load(&nr_named_seen), 400);
    join_destroy(&g_join);
}

/* ---- stack sizes --------------------------------------------------------- */

/* Uses about depth * 8 KiB of stack, touching every page of every frame. */
static NOINLINE unsigned deep(unsigned depth)
{
    volatile char buf[8192];
    for (size_t i = 0; i < sizeof buf; i += 256)
        buf[i] = (char)(i + depth);
    if (depth == 0)
        return (unsigned char)buf[512];
    return deep(depth - 1) + (unsigned char)buf[4096];
}

static _Atomic long st_ok;
static void use_stack_kib(void *arg)
{
    size_t kib = (size_t)arg;
    unsigned frames = (unsigned)(kib / 8);
    unsigned r = deep(frames);
    (void)r;
    gort_yield();
    /* and again after a possible migration */
    r = deep(frames);
    atomic_fetch_add(&st_ok, 1);
    join_done(&g_join);
}

/* A goroutine given a 1 MiB stack can use ~900 KiB of locals, next to
 * default-size goroutines that keep working (using ~100 KiB of their
 * 256 KiB default). */
TEST(stack_size_option)
{
    gort_go_options big;
    CHECK_EQ(gort_init(NULL), 0);
    gort_go_options_init(&big);
    big.stack_size = 1024 * 1024;
    enum { NBIG = 4, NSMALL = 64 };
    join_init(&g_join, NBIG + NSMALL);
    for (int i = 0; i < NBIG; i++)
        CHECK_EQ(gort_go_opts(use_stack_kib, (void *)(size_t)896, &big), 0);
    for (int i = 0; i < NSMALL; i++)
        CHECK_EQ(gort_go(use_stack_kib, (void *)(size_t)96), 0);
    CHECK(join_wait(&g_join, 30 * GORT_SECOND * slow()));
    CHECK_EQ(atomic_load(&st_ok), NBIG + NSMALL);
    gort_shutdown();
    CHECK_GOROUTINES();
    join_destroy(&g_join);
}

/* gort_config.stack_size changes the default for plain gort_go. */
TEST(stack_size_config_default)
{
    gort_config cfg;
    gort_config_init(&cfg);
    cfg.stack_size = 1024 * 1024;
    CHECK_EQ(gort_init(&cfg), 0);
    join_init(&g_join, 8);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(gort_go(use_stack_kib, (void *)(size_t)896), 0);
    CHECK(join_wait(&g_join, 30 * GORT_SECOND * slow()));
    CHECK_EQ(atomic_load(&st_ok), 8);
    gort_shutdown();
    join_destroy(&g_join);
}

/* About n KiB of stack in 1 KiB frames. */
static NOINLINE unsigned deep1k(unsigned n)
{
    volatile char buf[1024 - 64];
    for (size_t i = 0; i < sizeof buf; i += 64)
        buf[i] = (char)(i + n);
    if (n <= 1)
        return (unsigned char)buf[64];
    return deep1k(n - 1) + (unsigned char)buf[128];
}

static void use_small_stack(void *arg)
{
    unsigned r = deep1k((unsigned)(size_t)arg);
    (void)r;
    gort_yield();
    r = deep1k((unsigned)(size_t)arg);
    atomic_fetch_add(&st_ok, 1);
    join_done(&g_join);
}

/* Tiny stack requests are rounded up to the 16 KiB minimum and work (here
 * with 4 KiB of locals: the slot also holds the G and a guard page). */
TEST(stack_size_small_rounded_up)
{
    gort_go_options o;
    CHECK_EQ(gort_init(NULL), 0);
    gort_go_options_init(&o);
    join_init(&g_join, 3 * 16);
    size_t sizes[3] = {1, 4096, 16 * 1024 + 1};
    for (int s = 0; s < 3; s++) {
        o.stack_size = sizes[s];
        for (int i = 0; i < 16; i++)
            CHECK_EQ(gort_go_opts(use_small_stack, (void *)(size_t)4, &o), 0);
    }
    CHECK(join_wait(&g_join, 30 * GORT_SECOND * slow()));
    CHECK_EQ(atomic_load(&st_ok), 48);
    gort_shutdown();
    join_destroy(&g_join);
}

/* An absurd stack size is refused, not crashed on. */
TEST(stack_size_absurd_refused)
{
    gort_go_options o;
    CHECK_EQ(gort_init(NULL), 0);
    gort_go_options_init(&o);
    o.stack_size = SIZE_MAX;
    int rc = gort_go_opts(use_stack_kib, (void *)(size_t)8, &o);
    CHECK_MSG(rc == GORT_EINVAL || rc == GORT_ENOMEM, "SIZE_MAX stack: %s", gort_err_name(rc));
    o.stack_size = SIZE_MAX / 2;
    rc = gort_go_opts(use_stack_kib, (void *)(size_t)8, &o);
    CHECK_MSG(rc == GORT_EINVAL || rc == GORT_ENOMEM, "SIZE_MAX/2 stack: %s", gort_err_name(rc));
    /* the engine still works */
    join_init(&g_join, 1);
    CHECK_EQ(gort_go(use_stack_kib, (void *)(size_t)8), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    gort_shutdown();
    join_destroy(&g_join);
}

/* ---- pinned goroutines --------------------------------------------------- */

static __thread int tls_cookie;
static _Atomic long pin_tid;
static _Atomic int pin_alive;
static _Atomic long pin_collisions;
static _Atomic long unpinned_tids[64];
static _Atomic int n_unpinned_tids;

static void pinned_body(void *arg)
{
    (void)arg;
    long t0 = tid();
    pthread_t self = pthread_self();
    tls_cookie = 4242;
    atomic_store(&pin_tid, t0);
    atomic_store(&pin_alive, 1);
    for (int i = 0; i < 200; i++) {
        if (i & 1)
            gort_sleep(50 * GORT_MICROSECOND);
        else
            gort_yield();
        long t = tid();
        if (t != t0 || !pthread_equal(self, pthread_self()) || tls_cookie != 4242) {
            gfail(__LINE__, "pinned goroutine moved from thread %ld to %ld at step %d", t0, t, i);
            break;
        }
    }
    atomic_store(&pin_alive, 0);
    join_done(&g_join);
}

static void note_tid(long t)
{
    int n = atomic_load(&n_unpinned_tids);
    for (int i = 0; i < n && i < 64; i++)
        if (atomic_load(&unpinned_tids[i]) == t)
            return;
    int slot = atomic_fetch_add(&n_unpinned_tids, 1);
    if (slot < 64)
        atomic_store(&unpinned_tids[slot], t);
}

static void unpinned_body(void *arg)
{
    (void)arg;
    int64_t dl = mono_ns() + 10 * GORT_SECOND * slow();
    while (atomic_load(&pin_alive) && mono_ns() < dl) {
        long t = tid();
        if (t == atomic_load(&pin_tid) && atomic_load(&pin_alive))
            atomic_fetch_add(&pin_collisions, 1);
        note_tid(t);
        burn(2000);
        if (t & 1)
            gort_sleep(20 * GORT_MICROSECOND);
        else
            gort_yield();
    }
    join_done(&g_join);
}

/* A pinned goroutine stays on one OS thread (tid, pthread_self and its
 * __thread variables unchanged across yields and sleeps), and that thread
 * is its own: no unpinned goroutine runs on it meanwhile. */
TEST(pinned_stays_on_its_thread)
{
    gort_go_options o;
    CHECK_EQ(init_procs(2), 0);
    gort_go_options_init(&o);
    o.pinned = 1;
    join_init(&g_join, 1 + 8);
    CHECK_EQ(gort_go_opts(pinned_body, NULL, &o), 0);
    int64_t dl = mono_ns() + 5 * GORT_SECOND * slow();
    while (!atomic_load(&pin_alive) && atomic_load(&g_join.done) == 0 && mono_ns() < dl)
        sched_yield();
    CHECK(atomic_load(&pin_tid) != 0);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(gort_go(unpinned_body, NULL), 0);
    CHECK(join_wait(&g_join, 20 * GORT_SECOND * slow()));
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK_MSG(atomic_load(&pin_collisions) == 0,
              "%ld times an unpinned goroutine ran on the pinned goroutine's thread",
              atomic_load(&pin_collisions));
    CHECK(atomic_load(&pin_tid) != tid());
    join_destroy(&g_join);
}

/* Several pinned goroutines alive at once each have their own thread. */
enum { NPIN = 4 };
static _Atomic long pins_tid[NPIN];
static _Atomic long pins_ready;

static void pin_many_body(void *arg)
{
    size_t i = (size_t)arg;
    long t = tid();
    atomic_store(&pins_tid[i], t);
    atomic_fetch_add(&pins_ready, 1);
    /* stay alive (yielding, so others on a shared thread could run if the
     * engine wrongly shared one) until all have published their thread */
    if (!yield_until(&pins_ready, NPIN, 5 * GORT_SECOND * slow()))
        gfail(__LINE__, "pinned goroutine %zu: others never started", i);
    GCHECKF(tid() == t, "pinned goroutine %zu migrated", i);
    join_done(&g_join);
}

TEST(pinned_goroutines_get_distinct_threads)
{
    gort_go_options o;
    CHECK_EQ(init_procs(1), 0);
    gort_go_options_init(&o);
    o.pinned = 1;
    join_init(&g_join, NPIN);
    for (size_t i = 0; i < NPIN; i++)
        CHECK_EQ(gort_go_opts(pin_many_body, (void *)i, &o), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    gort_shutdown();
    CHECK_GOROUTINES();
    for (int i = 0; i < NPIN; i++)
        for (int j = i + 1; j < NPIN; j++)
            CHECK_MSG(atomic_load(&pins_tid[i]) != atomic_load(&pins_tid[j]),
                      "pinned goroutines %d and %d share thread %ld", i, j,
                      atomic_load(&pins_tid[i]));
    join_destroy(&g_join);
}

/* Go's TestYieldLockedProgress: with one P, a pinned goroutine waiting
 * (gort_yield loop) for an unpinned one makes progress, and vice versa. */
static _Atomic long yp_flag[3];
static void yp_set(void *arg)
{
    atomic_store(&yp_flag[(size_t)arg], 1);
    join_done(&g_join);
}
static void yp_wait(void *arg)
{
    size_t i = (size_t)arg;
    GCHECKF(yield_until(&yp_flag[i], 1, 5 * GORT_SECOND * slow()), "pair %zu made no progress", i);
    join_done(&g_join);
}

TEST(pinned_and_unpinned_yield_progress)
{
    gort_go_options pin;
    gort_go_options_init(&pin);
    pin.pinned = 1;
    CHECK_EQ(init_procs(1), 0);
    join_init(&g_join, 6);
    /* pair 0: pinned waits for unpinned */
    CHECK_EQ(gort_go_opts(yp_wait, (void *)(size_t)0, &pin), 0);
    CHECK_EQ(gort_go(yp_set, (void *)(size_t)0), 0);
    /* pair 1: unpinned waits for pinned */
    CHECK_EQ(gort_go(yp_wait, (void *)(size_t)1), 0);
    CHECK_EQ(gort_go_opts(yp_set, (void *)(size_t)1, &pin), 0);
    /* pair 2: pinned waits for pinned */
    CHECK_EQ(gort_go_opts(yp_wait, (void *)(size_t)2, &pin), 0);
    CHECK_EQ(gort_go_opts(yp_set, (void *)(size_t)2, &pin), 0);
    CHECK(join_wait(&g_join, 20 * GORT_SECOND * slow()));
    gort_shutdown();
    CHECK_GOROUTINES();
    join_destroy(&g_join);
}

/* Goroutines spawned by a pinned goroutine are ordinary ones: they run, and
 * never on the pinned goroutine's thread. */
static _Atomic long pc_parent_tid, pc_on_parent;
static void pc_child(void *arg)
{
    (void)arg;
    if (tid() == atomic_load(&pc_parent_tid))
        atomic_fetch_add(&pc_on_parent, 1);
    gort_yield();
    if (tid() == atomic_load(&pc_parent_tid))
        atomic_fetch_add(&pc_on_parent, 1);
    join_done(&g_join);
}
static void pc_parent(void *arg)
{
    (void)arg;
    atomic_store(&pc_parent_tid, tid());
    for (int i = 0; i < 200; i++) {
        GCHECK(gort_go(pc_child, NULL) == 0);
        if (i % 16 == 0)
            gort_yield();
    }
    /* stay alive until the children are done */
    GCHECK(yield_until(&g_join.done, 200, 10 * GORT_SECOND * slow()));
    join_done(&g_join);
}

TEST(pinned_goroutine_spawns_ordinary_children)
{
    gort_go_options pin;
    gort_go_options_init(&pin);
    pin.pinned = 1;
    CHECK_EQ(init_procs(1), 0);
    join_init(&g_join, 201);
    CHECK_EQ(gort_go_opts(pc_parent, NULL, &pin), 0);
    CHECK(join_wait(&g_join, 20 * GORT_SECOND * slow()));
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK_MSG(atomic_load(&pc_on_parent) == 0, "%ld times a child ran on the pinned thread",
              atomic_load(&pc_on_parent));
    join_destroy(&g_join);
}

/* Unpinned goroutines are not tied to a thread: with procs=2, goroutines
 * that keep yielding and sleeping get run by more than one OS thread.
 * Unloaded, the 200 steps of all 16 take ~12 ms together, in which a
 * loaded machine may give the second M no CPU at all (one CI run saw one
 * thread): so they go on past 200 steps until two threads have run them,
 * with a generous bound. An engine that never spreads them fails there. */
static _Atomic long mig_moved;
static int64_t mig_deadline;
static void migrate_body(void *arg)
{
    (void)arg;
    long t0 = tid();
    for (int i = 0; i < 200 || (atomic_load(&n_unpinned_tids) < 2 && mono_ns() < mig_deadline);
         i++) {
        burn(1000);
        if (i % 3 == 0)
            gort_sleep(20 * GORT_MICROSECOND);
        else
            gort_yield();
        note_tid(tid());
        if (tid() != t0)
            atomic_fetch_add(&mig_moved, 1);
    }
    join_done(&g_join);
}

TEST(unpinned_goroutines_use_several_threads)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        SKIP("needs 2 CPUs");
    CHECK_EQ(init_procs(2), 0);
    mig_deadline = mono_ns() + 10 * GORT_SECOND * slow();
    join_init(&g_join, 16);
    for (int i = 0; i < 16; i++)
        CHECK_EQ(gort_go(migrate_body, NULL), 0);
    CHECK(join_wait(&g_join, 20 * GORT_SECOND * slow()));
    gort_shutdown();
    fprintf(stderr, "  %d distinct threads, %ld migrations observed\n",
            atomic_load(&n_unpinned_tids), atomic_load(&mig_moved));
    CHECK_MSG(atomic_load(&n_unpinned_tids) >= 2, "all goroutines ran on one thread");
    join_destroy(&g_join);
}

/* ---- goroutine-local storage --------------------------------------------- */

typedef struct gls_rec {
    long        id;
    _Atomic int dtor_calls;
} gls_rec;

static gls_rec *gls_recs;
static gort_key gls_key, gls_key2;
static _Atomic long gls_dtor_total, gls_dtor2_total;
static join_t gls_dtor_join;

static void gls_dtor(void *v)
{
    gls_rec *r = v;
    atomic_fetch_add(&r->dtor_calls, 1);
    atomic_fetch_add(&gls_dtor_total, 1);
    join_done(&gls_dtor_join);
}

static void gls_dtor2(void *v)
{
    GCHECK(v == (void *)&gls_dtor2_total);
    atomic_fetch_add(&gls_dtor2_total, 1);
    join_done(&gls_dtor_join);
}

static void gls_body(void *arg)
{
    long i = (long)(size_t)arg;
    void *want = NULL;
    GCHECKF(gort_getspecific(gls_key) == NULL, "goroutine %ld starts with a value", i);
    GCHECKF(gort_getspecific(gls_key2) == NULL, "goroutine %ld starts with a value (key2)", i);
    switch (i % 4) {
    case 0: /* never set */
        break;
    case 1:
        want = &gls_recs[i];
        GCHECK(gort_setspecific(gls_key, want) == 0);
        break;
    case 2: /* overwritten: only the final value is destroyed */
        GCHECK(gort_setspecific(gls_key, &gls_recs[i - 1]) == 0);
        want = &gls_recs[i];
        GCHECK(gort_setspecific(gls_key, want) == 0);
        break;
    case 3: /* set, then cleared: no destructor */
        GCHECK(gort_setspecific(gls_key, &gls_recs[i]) == 0);
        GCHECK(gort_setspecific(gls_key, NULL) == 0);
        break;
    }
    if (i % 2 == 0)
        GCHECK(gort_setspecific(gls_key2, &gls_dtor2_total) == 0);
    for (int k = 0; k < 20; k++) {
        if (k % 5 == 0)
            gort_sleep(10 * GORT_MICROSECOND);
        else
            gort_yield();
        void *got = gort_getspecific(gls_key);
        if (got != want) {
            gfail(__LINE__, "goroutine %ld: value %p, expected %p (step %d)", i, got, want, k);
            break;
        }
    }
    join_done(&g_join);
}

/* Values are per goroutine (even with one P, i.e. one thread for all),
 * start NULL (also in recycled Gs), follow the goroutine across threads,
 * and each non-NULL value's destructor runs exactly once at exit. */
static void gls_run(int procs)
{
    long n = scaled(4000, 40) & ~3L;
    long expect_dtor = n / 2; /* cases 1 and 2 */
    gls_recs = calloc((size_t)n, sizeof *gls_recs);
    CHECK_EQ(init_procs(procs), 0);
    CHECK_EQ(gort_key_create(&gls_key, gls_dtor), 0);
    CHECK_EQ(gort_key_create(&gls_key2, gls_dtor2), 0);
    CHECK(gls_key != gls_key2);
    for (int wave = 0; wave < 2; wave++) { /* the 2nd wave reuses Gs */
        atomic_store(&gls_dtor_total, 0);
        atomic_store(&gls_dtor2_total, 0);
        for (long i = 0; i < n; i++)
            atomic_store(&gls_recs[i].dtor_calls, 0);
        join_init(&g_join, n);
        join_init(&gls_dtor_join, expect_dtor + n / 2);
        for (long i = 0; i < n; i++)
            CHECK_EQ(gort_go(gls_body, (void *)(size_t)i), 0);
        CHECK(join_wait(&g_join, 30 * GORT_SECOND * slow()));
        CHECK_MSG(join_wait(&gls_dtor_join, 10 * GORT_SECOND * slow()),
                  "wave %d: %ld of %ld + %ld of %ld destructors ran", wave,
                  atomic_load(&gls_dtor_total), expect_dtor, atomic_load(&gls_dtor2_total), n / 2);
        /* every goroutine has exited once its destructor ran; give stray
         * extra calls no excuse by checking exact counts per value */
        long wrong = 0;
        for (long i = 0; i < n; i++) {
            int want = (i % 4 == 1 || i % 4 == 2) ? 1 : 0;
            wrong += atomic_load(&gls_recs[i].dtor_calls) != want;
        }
        CHECK_MSG(wrong == 0, "wave %d: %ld values destroyed the wrong number of times", wave,
                  wrong);
        join_destroy(&g_join);
        join_destroy(&gls_dtor_join);
    }
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK_EQ(atomic_load(&gls_dtor_total), expect_dtor);
    CHECK_EQ(atomic_load(&gls_dtor2_total), n / 2);
    free(gls_recs);
}

TEST(gls_values_per_goroutine_procs1)
{
    gls_run(1);
}

TEST(gls_values_per_goroutine_procs2)
{
    gls_run(2);
}

/* Key exhaustion and bad keys. */
TEST(gls_keys_exhaustion_and_bad_keys)
{
    static gort_key keys[GORT_KEYS_MAX + 1];
    int n = 0, rc = 0;
    CHECK_EQ(gort_init(NULL), 0);
    for (n = 0; n <= GORT_KEYS_MAX; n++) {
        rc = gort_key_create(&keys[n], NULL);
        if (rc != 0)
            break;
    }
    CHECK_MSG(rc == GORT_EAGAIN, "key_create after %d keys: %s", n, gort_err_name(rc));
    CHECK_MSG(n <= GORT_KEYS_MAX && n >= GORT_KEYS_MAX / 2, "%d keys available", n);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (keys[i] == keys[j])
                CHECK_MSG(0, "key %d handed out twice", keys[i]);
    /* all of them usable, independently */
    for (int i = 0; i < n; i++)
        CHECK_EQ(gort_setspecific(keys[i], &keys[i]), 0);
    for (int i = 0; i < n; i++)
        CHECK(gort_getspecific(keys[i]) == &keys[i]);
    for (int i = 0; i < n; i++)
        CHECK_EQ(gort_setspecific(keys[i], NULL), 0);
    /* delete one: one create succeeds again */
    CHECK_EQ(gort_key_delete(keys[n / 2]), 0);
    CHECK_EQ(gort_key_create(&keys[n / 2], NULL), 0);
    CHECK_EQ(gort_key_create(&keys[n], NULL), GORT_EAGAIN);
    for (int i = 0; i < n; i++)
        CHECK_EQ(gort_key_delete(keys[i]), 0);
    /* all of them free again */
    for (int i = 0; i < n; i++)
        CHECK_EQ(gort_key_create(&keys[i], NULL), 0);
    for (int i = 0; i < n; i++)
        CHECK_EQ(gort_key_delete(keys[i]), 0);

    /* bad keys */
    const gort_key bad[] = {-1, -1000, GORT_KEYS_MAX, GORT_KEYS_MAX + 1, INT_MAX, INT_MIN};
    int x;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(gort_setspecific(bad[i], &x) == GORT_EINVAL, "setspecific(%d)", bad[i]);
        CHECK_MSG(gort_getspecific(bad[i]) == NULL, "getspecific(%d)", bad[i]);
        CHECK_MSG(gort_key_delete(bad[i]) == GORT_EINVAL, "key_delete(%d)", bad[i]);
    }
    CHECK(gort_key_create(NULL, NULL) < 0);
    gort_shutdown();
}

/* On foreign threads values are thread-local, and no destructor runs. */
static gort_key ft_key;
static _Atomic long ft_dtor_calls;
static void ft_dtor(void *v)
{
    (void)v;
    atomic_fetch_add(&ft_dtor_calls, 1);
}

static void *ft_thread(void *arg)
{
    GCHECK(gort_getspecific(ft_key) == NULL);
    GCHECK(gort_setspecific(ft_key, arg) == 0);
    sched_yield();
    GCHECK(gort_getspecific(ft_key) == arg);
    return NULL;
}

static void ft_goroutine(void *arg)
{
    (void)arg;
    GCHECKF(gort_getspecific(ft_key) == NULL, "a goroutine sees a foreign thread's value");
    join_done(&g_join);
}

TEST(gls_on_foreign_threads)
{
    pthread_t th[4];
    int vals[4], mine;
    CHECK_EQ(init_procs(2), 0);
    CHECK_EQ(gort_key_create(&ft_key, ft_dtor), 0);
    CHECK(gort_getspecific(ft_key) == NULL);
    CHECK_EQ(gort_setspecific(ft_key, &mine), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, ft_thread, &vals[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    CHECK(gort_getspecific(ft_key) == &mine);
    join_init(&g_join, 16);
    for (int i = 0; i < 16; i++)
        CHECK_EQ(gort_go(ft_goroutine, NULL), 0);
    CHECK(join_wait(&g_join, 10 * GORT_SECOND * slow()));
    CHECK(gort_getspecific(ft_key) == &mine);
    CHECK_EQ(atomic_load(&ft_dtor_calls), 0);
    CHECK_EQ(gort_setspecific(ft_key, NULL), 0);
    CHECK_EQ(gort_key_delete(ft_key), 0);
    gort_shutdown();
    CHECK_GOROUTINES();
    CHECK_EQ(atomic_load(&ft_dtor_calls), 0);
    join_destroy(&g_join);
}

/* api.md §3.3: gort_sleep(INT64_MAX) saturates and sleeps (Go's
 * time.Sleep), it does not return at once. gort_shutdown discards it. */
static _Atomic int g_huge_sleep_returned;
static void huge_sleeper(void *arg)
{
    (void)arg;
    gort_sleep(INT64_MAX);
    atomic_store(&g_huge_sleep_returned, 1);
}

TEST(sleep_int64_max_sleeps)
{
    CHECK_EQ(gort_init(NULL), 0);
    CHECK_EQ(gort_go(huge_sleeper, NULL), 0);
    int64_t until = gort_now() + 100 * GORT_MILLISECOND;
    while (gort_now() < until && !atomic_load(&g_huge_sleep_returned))
        gort_sleep(5 * GORT_MILLISECOND);
    CHECK_EQ(atomic_load(&g_huge_sleep_returned), 0);
    CHECK_EQ(gort_num_goroutine(), 1);
    gort_shutdown();
}

HARNESS_MAIN()
