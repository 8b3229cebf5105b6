/*
 * test_blocking.c — the scheduler under real-world blocking (issue #4's
 * engine side): syscall handoff, preemption controls, timer fairness,
 * deadlock reports and goroutine dumps. Everything through the public API.
 */
#include "harness.h"
#include "test_util.h"

#include <gort.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Slack factor for slow runs (sanitizers, Valgrind, qemu set a scale). */
static int64_t slack(void)
{
    const char *s = getenv("GORT_TEST_SCALE");
    long v = s ? atol(s) : 1;
    return v > 1 ? 10 : 1;
}

/* ---- syscall handoff ---------------------------------------------------- */

static _Atomic long progress;
static _Atomic int blocker_in, blocker_out;

static void nap_200ms(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL); /* a real blocking system call */
}

static void blocker(void *arg)
{
    (void)arg;
    atomic_store(&blocker_in, 1);
    CHECK_EQ(gort_blocking(nap_200ms, NULL), 0);
    atomic_store(&blocker_out, 1);
}

static void counter(void *arg)
{
    (void)arg;
    while (!atomic_load(&blocker_out)) {
        if (atomic_load(&blocker_in))
            atomic_fetch_add(&progress, 1);
        gort_yield();
    }
}

TEST(syscall_handoff_keeps_one_p_busy)
{
    /* One P: while the blocker sleeps in the kernel, its P is handed to
     * another thread and the counter goroutine keeps running. */
    CHECK_EQ(init_procs(1), 0);
    CHECK_EQ(gort_go(blocker, NULL), 0);
    CHECK_EQ(gort_go(counter, NULL), 0);
    int64_t dl = gort_now() + 10 * GORT_SECOND * slack();
    while (!atomic_load(&blocker_out) && gort_now() < dl)
        gort_sleep(GORT_MILLISECOND);
    CHECK(atomic_load(&blocker_out));
    CHECK_MSG(atomic_load(&progress) > 100,
              "only %ld yields happened while another goroutine was in a syscall",
              atomic_load(&progress));
    gort_shutdown();
}

static void syscall_misuse(void *arg)
{
    int *rc = arg;
    rc[0] = gort_syscall_exit();  /* without enter */
    rc[1] = gort_syscall_enter();
    rc[2] = gort_syscall_enter(); /* nested */
    rc[3] = gort_syscall_exit();
    rc[4] = gort_blocking(NULL, NULL);
}

TEST(syscall_bad_input)
{
    int rc[5];
    CHECK_EQ(gort_main(syscall_misuse, rc), 0);
    CHECK_EQ(rc[0], GORT_EINVAL);
    CHECK_EQ(rc[1], 0);
    CHECK_EQ(rc[2], GORT_EINVAL);
    CHECK_EQ(rc[3], 0);
    CHECK_EQ(rc[4], GORT_EINVAL);
    /* On a foreign thread they are no-ops. */
    CHECK_EQ(gort_syscall_enter(), 0);
    CHECK_EQ(gort_syscall_exit(), 0);
}

/* ---- preemption controls ------------------------------------------------ */

static _Atomic int spin_started, other_ran, spin_done, other_ran_early;

static void spin_50ms_nopreempt(void *arg)
{
    (void)arg;
    gort_preempt_disable();
    atomic_store(&spin_started, 1);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 50000000L);
    atomic_store(&spin_done, 1);
    gort_preempt_enable();
}

static void other(void *arg)
{
    (void)arg;
    if (!atomic_load(&spin_done))
        atomic_store(&other_ran_early, 1);
    atomic_store(&other_ran, 1);
}

static void preempt_disable_main(void *arg)
{
    (void)arg;
    CHECK_EQ(gort_go(other, NULL), 0); /* queued behind the spinner */
    CHECK_EQ(gort_go(spin_50ms_nopreempt, NULL), 0);
    while (!atomic_load(&spin_done) || !atomic_load(&other_ran))
        gort_yield();
}

TEST(preempt_disable_is_respected)
{
    /* One P, a 50 ms computation (5x the preemption slice) with preemption
     * disabled: the goroutine queued behind it must not run before it ends. */
    CHECK_EQ(init_procs(1), 0);
    CHECK_EQ(gort_main(preempt_disable_main, NULL), 0);
    CHECK(atomic_load(&spin_done));
    CHECK(atomic_load(&other_ran));
    CHECK_MSG(!atomic_load(&other_ran_early), "a goroutine with preemption disabled was preempted");
    gort_shutdown();
}

static _Atomic int hog_stop;
static _Atomic long hog_x;
static void hog(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&hog_stop, memory_order_relaxed))
        atomic_fetch_add_explicit(&hog_x, 1, memory_order_relaxed);
}

static void wake_after_hog(void *arg)
{
    int64_t *lat = arg;
    int64_t t0 = gort_now();
    gort_yield();
    *lat = gort_now() - t0;
    atomic_store(&hog_stop, 1);
}

TEST(async_preemption_latency)
{
    CHECK_EQ(init_procs(1), 0);
    if (!gort_preempt_async_enabled()) {
        gort_shutdown();
        SKIP("asynchronous preemption is not available in this build/platform");
    }
    int64_t lat = -1;
    CHECK_EQ(gort_go(hog, NULL), 0);
    CHECK_EQ(gort_go(wake_after_hog, &lat), 0);
    int64_t dl = gort_now() + 10 * GORT_SECOND * slack();
    while (!atomic_load(&hog_stop) && gort_now() < dl)
        gort_sleep(GORT_MILLISECOND);
    CHECK_MSG(atomic_load(&hog_stop), "a goroutine spinning without calls was never preempted");
    /* Go's slice is 10 ms; allow generous slack for a loaded machine. */
    CHECK_MSG(lat < 500 * GORT_MILLISECOND * slack(), "waited %lld ms behind a hog",
              (long long)(lat / GORT_MILLISECOND));
    gort_shutdown();
}

TEST(async_preemption_can_be_disabled_by_env)
{
    setenv("GORT_ASYNCPREEMPT", "0", 1);
    CHECK_EQ(init_procs(1), 0);
    CHECK_EQ(gort_preempt_async_enabled(), 0);
    gort_shutdown();
}

/* ---- timers next to busy goroutines (Go's TestTimerFairness) ------------ */

static _Atomic int fair_stop;
static gort_wg spammers = GORT_WG_INIT;
static void chan_spammer(void *arg)
{
    gort_chan *ch = arg;
    int v = 1;
    while (!atomic_load(&fair_stop)) {
        gort_chan_try_send(ch, &v);
        gort_chan_try_recv(ch, &v);
    }
    gort_wg_done(&spammers);
}

static void timer_fairness_main(void *arg)
{
    (void)arg;
    gort_chan *ch = gort_chan_make(sizeof(int), 1);
    CHECK(ch != NULL);
    gort_wg_add(&spammers, 2);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(gort_go(chan_spammer, ch), 0);
    gort_chan *t = gort_after(10 * GORT_MILLISECOND);
    CHECK(t != NULL);
    gort_case cases[1] = {{.chan = t, .dir = GORT_RECV}};
    int r = gort_select(cases, 1, gort_now() + 5 * GORT_SECOND * slack());
    CHECK_MSG(r == 0, "timer did not fire next to busy goroutines (%s)", gort_strerror(r));
    atomic_store(&fair_stop, 1);
    gort_wg_wait(&spammers);
    gort_chan_release(t);
    gort_chan_release(ch);
}

TEST(timer_fires_next_to_busy_channel_goroutines)
{
    CHECK_EQ(init_procs(1), 0);
    CHECK_EQ(gort_main(timer_fairness_main, NULL), 0);
    gort_shutdown();
}

/* ---- deadlock detection ------------------------------------------------- */

/* Run fn under gort_main in a child process; return gort_main's result and
 * (in out) what the child wrote to stderr. */
static int run_main_in_child(void (*fn)(void *), char *out, size_t outlen)
{
    int pipefd[2];
    CHECK_EQ(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        int rc = gort_main(fn, NULL);
        _exit(rc == GORT_EDEADLK ? 100 : rc == 0 ? 0 : 1);
    }
    close(pipefd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < outlen && (r = read(pipefd[0], out + n, outlen - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(pipefd[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status), "child died (status %d)", status);
    return WEXITSTATUS(status) == 100 ? GORT_EDEADLK : WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Global and external (a static that is never read would be optimised
 * away): the channel stays reachable when the deadlocked child exits. */
gort_chan *deadlock_chan;

static void deadlocked_main(void *arg)
{
    (void)arg;
    deadlock_chan = gort_chan_make(sizeof(int), 0);
    int v;
    gort_chan_recv(deadlock_chan, &v); /* nobody will ever send */
}

TEST(deadlock_is_reported)
{
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer keeps background threads of its own, so "every thread
     * is an engine thread or blocked in gort" never holds (docs/design.md). */
    SKIP("deadlock detection cannot count threads under ThreadSanitizer");
#endif
    /* qemu-user runs threads of its own inside the process, likewise. */
    if (getenv("GORT_TEST_EMULATED"))
        SKIP("deadlock detection cannot count threads under an emulator");
    char out[8192];
    int rc = run_main_in_child(deadlocked_main, out, sizeof out);
    CHECK_EQ(rc, GORT_EDEADLK);
    CHECK_MSG(strstr(out, "all goroutines are asleep - deadlock!") != NULL, "stderr: %s", out);
    CHECK_MSG(strstr(out, "[chan receive") != NULL, "dump lacks the waiter: %s", out);
}

static void sleeping_main(void *arg)
{
    (void)arg;
    gort_sleep(100 * GORT_MILLISECOND); /* a timer is pending: not a deadlock */
}

static void *late_sender(void *arg)
{
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int v = 7;
    CHECK_EQ(gort_chan_send(arg, &v), 0);
    return NULL;
}

static void waits_on_foreign_thread_main(void *arg)
{
    (void)arg;
    gort_chan *ch = gort_chan_make(sizeof(int), 0);
    pthread_t th;
    pthread_create(&th, NULL, late_sender, ch);
    int v = 0;
    CHECK_EQ(gort_chan_recv(ch, &v), 0);
    CHECK_EQ(v, 7);
    pthread_join(th, NULL);
    gort_chan_release(ch);
}

/* Waiting for I/O only: no timer, no other thread in this process; a
 * separate process connects after 100 ms. Go reports no deadlock while
 * goroutines wait on the network, and neither does gort. */
static void waits_on_io_main(void *arg)
{
    (void)arg;
    int lfd = gort_tcp_listen("127.0.0.1", 0, 4);
    CHECK(lfd >= 0);
    int port = gort_tcp_port(lfd);
    CHECK(port > 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        _exit(c >= 0 && connect(c, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : 1);
    }
    int cfd = gort_accept(lfd, NULL, NULL);
    CHECK_MSG(cfd >= 0, "accept: %s", gort_strerror(cfd));
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    gort_fd_close(cfd);
    gort_fd_close(lfd);
}

TEST(no_false_deadlock_for_timers_or_foreign_threads)
{
    char out[4096];
    CHECK_EQ(run_main_in_child(sleeping_main, out, sizeof out), 0);
    CHECK_EQ(run_main_in_child(waits_on_foreign_thread_main, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "deadlock") == NULL, "false report: %s", out);
    CHECK_EQ(run_main_in_child(waits_on_io_main, out, sizeof out), 0);
    CHECK_MSG(strstr(out, "deadlock") == NULL, "false report while waiting for I/O: %s", out);
}

/* ---- goroutine dump ----------------------------------------------------- */

static void parked_forever(void *arg)
{
    gort_chan_recv(arg, NULL);
}

static void long_sleeper(void *arg)
{
    (void)arg;
    gort_sleep(3600 * GORT_SECOND);
}

/* Dump into fd (rewritten each time) until the dump shows every string of
 * needles (NULL-terminated): goroutines just started park when they get to
 * it, so the test waits for that state instead of sleeping. Bounded: fails
 * after 20 s. */
static void dump_until_it_shows(int fd, const char *const *needles)
{
    char buf[8192];
    for (int64_t give_up = gort_now() + 20 * GORT_SECOND;; gort_sleep(GORT_MILLISECOND)) {
        CHECK_EQ(ftruncate(fd, 0), 0);
        CHECK(lseek(fd, 0, SEEK_SET) == 0);
        CHECK_EQ(gort_dump(fd), 0);
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        CHECK(n > 0);
        buf[n] = 0;
        bool all = true;
        for (const char *const *s = needles; *s && all; s++)
            all = strstr(buf, *s) != NULL;
        if (all)
            return;
        CHECK_MSG(gort_now() < give_up, "the goroutines never parked: %s", buf);
    }
}

static void dump_main(void *arg)
{
    int fd = *(int *)arg;
    gort_chan *ch = gort_chan_make(sizeof(int), 0);
    gort_go_options o;
    gort_go_options_init(&o);
    o.name = "recv-worker";
    CHECK_EQ(gort_go_opts(parked_forever, ch, &o), 0);
    CHECK_EQ(gort_go(long_sleeper, NULL), 0);
    CHECK(gort_num_goroutine() >= 3);
    dump_until_it_shows(fd, (const char *const[]){"[chan receive", "[sleep", NULL});
    gort_chan_close(ch); /* the receiver returns GORT_ECLOSED and exits */
    gort_chan_release(ch);
}

TEST(goroutine_dump)
{
    char path[] = "/tmp/gort-dump-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    CHECK_EQ(gort_dump(fd), GORT_ENOTINIT);
    CHECK_EQ(gort_main(dump_main, &fd), 0);
    char buf[8192];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    CHECK(n > 0);
    buf[n] = 0;
    CHECK_MSG(strstr(buf, "[chan receive") != NULL, "%s", buf);
    CHECK_MSG(strstr(buf, "[sleep") != NULL, "%s", buf);
    CHECK_MSG(strstr(buf, "recv-worker") != NULL, "%s", buf);
    CHECK_MSG(strstr(buf, "[running]") != NULL, "the dumping goroutine itself: %s", buf);
    close(fd);
}

static void sigquit_main(void *arg)
{
    (void)arg;
    CHECK_EQ(gort_go(long_sleeper, NULL), 0);
    char path[] = "/tmp/gort-dump-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    dump_until_it_shows(fd, (const char *const[]){"[sleep", NULL}); /* it parked */
    close(fd);
    raise(SIGQUIT);
    gort_sleep(5 * GORT_SECOND); /* not reached */
}

TEST(sigquit_dumps_and_exits_2)
{
    int pipefd[2];
    CHECK_EQ(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        gort_main(sigquit_main, NULL);
        _exit(0);
    }
    close(pipefd[1]);
    char out[8192];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof out && (r = read(pipefd[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d", status);
    CHECK_MSG(strstr(out, "SIGQUIT") && strstr(out, "[sleep"), "%s", out);
}

HARNESS_MAIN()
