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

/* Cycle init/shutdown at least `cycles` times while one foreign thread
 * calls s->call in a loop, and on until it has made cycles / 4 calls (so
 * the calls really overlap the cycles, however the threads are scheduled). */
static void run_storm(storm *s, long long cycles)
{
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, storm_thread, s), 0);
    int64_t deadline = mono_ns() + 30 * GORT_SECOND * slow();
    for (long long i = 0; i < cycles || (atomic_load(&s->calls) < cycles / 4 && mono_ns() < deadline);
         i++) {
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

/* Every other entry point a foreign thread may call while the engine comes
 * and goes: channels, select, sync, loops (post, timers, reactions),
 * promises, I/O wrappers. Each must return one of its documented results. */
static void t_noop(void *arg)
{
    (void)arg;
}

static void r_noop(gort_promise *next, gort_promise *settled, void *ud)
{
    (void)next;
    (void)settled;
    (void)ud;
}

static void call_everything(storm *s)
{
    int v = 7;
    gort_chan *ch = gort_chan_make(sizeof v, 1);
    CHECK(ch != NULL); /* channels need no engine */
    CHECK_EQ(gort_chan_send_until(ch, &v, gort_now() + GORT_MICROSECOND), 0);
    CHECK_EQ(gort_chan_send_until(ch, &v, gort_now() + GORT_MICROSECOND), GORT_ETIMEDOUT);
    gort_case c = {.chan = ch, .dir = GORT_RECV, .elem = &v};
    CHECK_EQ(gort_select(&c, 1, GORT_NOWAIT), 0);
    CHECK_EQ(gort_select(&c, 1, gort_now() + GORT_MICROSECOND), GORT_ETIMEDOUT);
    gort_chan_release(ch);

    gort_mutex mu = GORT_MUTEX_INIT;
    gort_mutex_lock(&mu);
    CHECK_EQ(gort_mutex_lock_until(&mu, GORT_NOWAIT), GORT_ETIMEDOUT);
    gort_mutex_unlock(&mu);
    gort_wg wg = GORT_WG_INIT;
    gort_wg_add(&wg, 1);
    CHECK_EQ(gort_wg_wait_until(&wg, gort_now() + GORT_MICROSECOND), GORT_ETIMEDOUT);
    gort_wg_done(&wg);
    gort_wg_wait(&wg);

    gort_loop *loop = gort_loop_new();
    if (loop) {
        atomic_fetch_add(&s->ok, 1);
        check_refusal(gort_loop_post(loop, t_noop, NULL), "gort_loop_post");
        int64_t id = gort_loop_set_timeout(loop, GORT_MILLISECOND, t_noop, NULL);
        CHECK_MSG(id > 0 || id == GORT_ENOTINIT || id == GORT_ESHUTDOWN, "set_timeout: %lld",
                  (long long)id);
        gort_promise *p = gort_promise_new();
        CHECK(p != NULL);
        gort_promise *next = gort_promise_then(p, loop, r_noop, r_noop, NULL);
        CHECK_EQ(gort_promise_resolve(p, NULL, NULL), 0);
        int rc = gort_loop_run_once(loop, GORT_NOWAIT);
        CHECK_MSG(rc >= 0 || rc == GORT_ENOTINIT || rc == GORT_ESHUTDOWN, "run_once: %d", rc);
        gort_loop_free(loop); /* cancels the reaction if it did not run */
        if (next) {
            int r = gort_await_until(next, GORT_NOWAIT);
            CHECK_MSG(r == 0 || r == GORT_ECANCELED || r == GORT_ESHUTDOWN ||
                          r == GORT_ETIMEDOUT,
                      "reaction: %d", r);
            gort_promise_release(next);
        }
        gort_promise_release(p);
    }

    int fds[2];
    CHECK_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    char b;
    CHECK_EQ(gort_read_until(fds[0], &b, 1, GORT_NOWAIT), GORT_EAGAIN);
    CHECK_EQ(gort_write(fds[1], "x", 1), 1);
    CHECK_EQ(gort_read_until(fds[0], &b, 1, gort_now() + GORT_SECOND), 1);
    close(fds[0]);
    close(fds[1]);
}

TEST(lifecycle_every_entry_point_during_init_shutdown_cycles)
{
    storm s = {.call = call_everything};
    run_storm(&s, scaled(1000, 20));
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
 * GORT_EAGAIN (what the engine does: with no pool thread at all, nothing
 * could run the goroutine), or accepts — and then the goroutine runs once
 * threads can be created again (sysmon retries), without another call to
 * wake it. Timers likewise (gort_after: NULL or a channel that fires). */
TEST(lifecycle_goroutine_runs_after_thread_creation_failed)
{
    if (T_ON_VALGRIND() || getenv("GORT_TEST_EMULATED"))
        SKIP("Valgrind / the emulator manage the address space themselves");
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
    /* Once threads can be created again, the engine works as usual. */
    atomic_store(&g_ran, 0);
    CHECK_EQ(gort_go(mark_ran, NULL), 0);
    int64_t deadline = hatch();
    while (!atomic_load(&g_ran) && gort_now() < deadline)
        nanosleep(&pause, NULL);
    CHECK(atomic_load(&g_ran));
    gort_shutdown();
}

/* ---- shutdown discards a preempted goroutine, then init + go ------------------ */

static _Atomic int g_computing;

static __attribute__((noinline)) void compute_in_frame(volatile char *buf)
{
    volatile char local[512]; /* ASan: redzones around it, poisoned while live */
    local[0] = buf[0];
    atomic_store(&g_computing, 1);
    for (unsigned long x = 0;; x++)
        local[x % sizeof local] = (char)x; /* never reaches the scheduler */
}

static void compute_forever(void *arg)
{
    (void)arg;
    volatile char buf[512];
    buf[0] = 1;
    compute_in_frame(buf);
}

static void deep_frames(void *arg)
{
    volatile char buf[16 << 10]; /* spans the old goroutine's frames and redzones */
    for (size_t i = 0; i < sizeof buf; i += 64)
        buf[i] = (char)i;
    gort_wg_done(arg);
}

/* Under ASan, the discarded goroutine's poisoned frames must not survive
 * into the next engine's stacks (a "stack-buffer-overflow" in the next
 * goroutine's setup). Elsewhere: the cycle works. */
TEST(lifecycle_reinit_after_discarding_a_preempted_goroutine)
{
    const char *why = no_async_preempt();
    if (why)
        SKIP("%s (shutdown would wait for the computing goroutine forever)", why);
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(init_procs(1), 0);
        atomic_store(&g_computing, 0);
        CHECK_EQ(gort_go(compute_forever, NULL), 0);
        int64_t deadline = hatch();
        while (!atomic_load(&g_computing) && gort_now() < deadline)
            gort_sleep(GORT_MILLISECOND);
        CHECK(atomic_load(&g_computing));
        gort_sleep(30 * GORT_MILLISECOND); /* let sysmon preempt it a few times */
        gort_shutdown();
        CHECK_EQ(init_procs(1), 0);
        gort_wg wg = GORT_WG_INIT;
        gort_wg_add(&wg, 64);
        for (int i = 0; i < 64; i++)
            CHECK_EQ(gort_go(deep_frames, &wg), 0);
        CHECK_EQ(gort_wg_wait_until(&wg, hatch()), 0);
        gort_shutdown();
    }
}

/* ---- fork in every state ---------------------------------------------------- */

/* ThreadSanitizer cannot start threads in the child of a multi-threaded
 * fork, and ASan's allocator may be inherited locked by a thread that
 * vanished in the fork (the child's new threads then hang in it): under
 * either, the child checks only that it has no engine. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define CHILD_MAY_REINIT 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define CHILD_MAY_REINIT 0
#endif
#endif
#ifndef CHILD_MAY_REINIT
#define CHILD_MAY_REINIT 1
#endif

static gort_wg g_child_wg = GORT_WG_INIT;

static void child_member(void *arg)
{
    (void)arg;
    gort_wg_done(&g_child_wg);
}

/* What a forked child may do (docs/api.md "fork"): it starts with no
 * engine, refuses calls that need one, and may start a fresh engine.
 * Returns the child's exit status: 0, or the number of the failed step. */
static int child_program(void)
{
    if (gort_initialized() != 0)
        return 1;
    if (gort_go(noop, NULL) != GORT_ENOTINIT)
        return 2;
    if (gort_after(GORT_MILLISECOND) != NULL || gort_ticker_new(GORT_MILLISECOND) != NULL)
        return 3;
    if (gort_loop_new() != NULL)
        return 4;
    gort_chan *ch = gort_chan_make(sizeof(int), 0);
    int v;
    if (!ch || gort_chan_recv_until(ch, &v, gort_now() + GORT_MILLISECOND) != GORT_ETIMEDOUT)
        return 5;
    /* Under qemu-user, the child of a multi-threaded fork cannot start
     * threads reliably (exit 127), so it only checks the refusals there. */
    if (!CHILD_MAY_REINIT || getenv("GORT_TEST_EMULATED"))
        return 0;
    if (gort_init(NULL) != 0)
        return 6;
    gort_wg_add(&g_child_wg, 8);
    for (int i = 0; i < 8; i++)
        if (gort_go(child_member, NULL) != 0)
            return 7;
    if (gort_wg_wait_until(&g_child_wg, gort_now() + 20 * GORT_SECOND * slow()) != 0)
        return 8;
    gort_chan *t = gort_after(GORT_MILLISECOND);
    int64_t when;
    if (!t || gort_chan_recv_until(t, &when, gort_now() + 20 * GORT_SECOND * slow()) != 0)
        return 9;
    gort_chan_release(t);
    gort_chan_release(ch);
    gort_shutdown();
    return 0;
}

/* Wait (bounded) for the child; -1 if it hung (then it is killed). */
static int wait_child(pid_t pid, int *status)
{
    int64_t deadline = mono_ns() + 30 * GORT_SECOND * slow();
    pid_t r;
    while ((r = waitpid(pid, status, WNOHANG)) == 0 && mono_ns() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (r == pid)
        return 0;
    kill(pid, SIGKILL);
    waitpid(pid, status, 0);
    return -1;
}

/* Fork now and require the child to run child_program to a clean exit. */
static void fork_and_check(const char *state)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(child_program());
    int status = 0;
    CHECK_MSG(wait_child(pid, &status) == 0, "%s: the forked child hung", state);
    CHECK_MSG(WIFEXITED(status), "%s: child killed by signal %d", state,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    CHECK_MSG(WEXITSTATUS(status) == 0, "%s: child failed at step %d", state, WEXITSTATUS(status));
}

TEST(lifecycle_fork_idle)
{
    CHECK_EQ(init_procs(2), 0);
    fork_and_check("idle");
    gort_shutdown();
    fork_and_check("after shutdown");
}

static _Atomic int g_spin_stop;

static void spinner(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_spin_stop))
        gort_yield();
}

static void blocked_recv(void *arg)
{
    int v;
    (void)gort_chan_recv(arg, &v);
}

TEST(lifecycle_fork_with_goroutines_running_and_blocked)
{
    if (getenv("GORT_TEST_EMULATED"))
        SKIP("qemu-user: fork while several threads compute hangs the emulated parent");
    CHECK_EQ(init_procs(2), 0);
    gort_chan *ch = gort_chan_make(sizeof(int), 0);
    CHECK(ch != NULL);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(gort_go(spinner, NULL), 0);
        CHECK_EQ(gort_go(blocked_recv, ch), 0);
    }
    fork_and_check("goroutines running and blocked in recv");
    atomic_store(&g_spin_stop, 1);
    CHECK_EQ(gort_chan_close(ch), 0);
    gort_chan_release(ch);
    gort_shutdown();
}

/* Fork from inside a goroutine while another is blocked in a receive: the
 * child runs on the goroutine's stack, with no engine. */
static _Atomic int g_forked_status = -1;

static void fork_from_goroutine(gort_promise *p, void *arg)
{
    (void)p;
    (void)arg;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_program()); /* must not return into the parent's goroutine */
    int status = 0;
    if (pid > 0 && wait_child(pid, &status) == 0)
        atomic_store(&g_forked_status, WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status));
    else
        atomic_store(&g_forked_status, 200); /* no child, or it hung */
}

TEST(lifecycle_fork_from_a_goroutine)
{
    CHECK_EQ(init_procs(2), 0);
    gort_chan *ch = gort_chan_make(sizeof(int), 0);
    CHECK_EQ(gort_go(blocked_recv, ch), 0);
    gort_promise *p = gort_async(fork_from_goroutine, NULL);
    CHECK(p != NULL);
    CHECK_EQ(gort_await_until(p, hatch()), 0);
    gort_promise_release(p);
    CHECK_MSG(atomic_load(&g_forked_status) == 0, "child status %d", atomic_load(&g_forked_status));
    CHECK_EQ(gort_chan_close(ch), 0);
    gort_chan_release(ch);
    gort_shutdown();
}

static void interval_tick(void *arg)
{
    atomic_fetch_add((_Atomic long *)arg, 1);
}

TEST(lifecycle_fork_with_a_loop_running)
{
    CHECK_EQ(init_procs(2), 0);
    gort_loop *loop = gort_loop_new();
    CHECK(loop != NULL);
    _Atomic long ticks = 0;
    CHECK(gort_loop_set_interval(loop, GORT_MILLISECOND, interval_tick, &ticks) > 0);
    CHECK_EQ(gort_loop_start(loop), 0);
    int64_t deadline = hatch();
    while (atomic_load(&ticks) < 2 && gort_now() < deadline) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECK(atomic_load(&ticks) >= 2);
    fork_and_check("loop running");
    gort_loop_stop(loop);
    CHECK_EQ(gort_loop_join(loop), 0);
    gort_loop_free(loop);
    gort_shutdown();
}

HARNESS_MAIN()
