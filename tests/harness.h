/*
 * harness.h — gort's header-only test harness.
 *
 *     #include "harness.h"
 *
 *     TEST(chan_basic) {
 *         gort_chan *ch = gort_chan_make(sizeof(int), 1);
 *         CHECK(ch != NULL);
 *         CHECK_EQ(gort_chan_try_send(ch, &(int){7}), 0);
 *         CHECK_MSG(gort_chan_len(ch) == 1, "len %zu", gort_chan_len(ch));
 *         if (!have_ipv6()) SKIP("no IPv6 here");
 *         for (long long i = 0; i < T_SCALE(100000); i++) ...
 *     }
 *     HARNESS_MAIN()
 *
 * Model (libuv/liburing style):
 *   - TEST(name) registers a case at load time (constructor). Cases run in
 *     registration (= source) order.
 *   - harness_main() runs every case in its own forked child process, with a
 *     per-case timeout (env GORT_TEST_TIMEOUT seconds, default 120; the child
 *     is killed and the case fails with "timeout"). A crash, a leak report or
 *     a wedged engine therefore never affects the next case. The harness never
 *     initializes gort; each case does (gort_main / gort_init) as it needs.
 *   - Output, one line per case, then a summary:
 *         ok   name (12 ms)
 *         FAIL name: tests/test_x.c:42: CHECK(a == b) failed
 *         skip name: reason
 *         3 passed, 1 failed, 1 skipped
 *     The process exits 1 if any case failed, else 0.
 *   - Env GORT_TEST_BUDGET (seconds, optional): total time for the whole
 *     program. Past it, the running case fails with a timeout and the cases
 *     not run yet fail as "not run". CTest sets it a little below its own
 *     TIMEOUT, so the harness cleans up and reports before CTest SIGKILLs it.
 *   - Arguments: case names (or fnmatch patterns) select cases; -l lists the
 *     cases; -h prints usage.
 *   - CHECK*, SKIP may be used from any thread of the case (a goroutine, an
 *     engine thread, a helper pthread): they end the whole case process.
 *   - T_SCALE(n): n / GORT_TEST_SCALE (env, default 1), at least 1. Use it for
 *     iteration counts so sanitizer, Valgrind and qemu runs stay fast.
 *   - Each case's child leads a process group of its own; when the case ends
 *     (pass, fail, timeout) the whole group is killed, so processes a test
 *     forked and left behind cannot outlive it (and hold CTest's pipe open).
 *     SIGINT/SIGTERM/SIGHUP to the harness also kill the running case's group.
 *   - harness_expect_abort(fn, arg, "substring"): runs fn(arg) in a forked
 *     grandchild and requires it to die by SIGABRT with "substring" in its
 *     stderr (for Go-style "gort: fatal error: ..." misuse checks). On any
 *     other outcome it fails the case itself; on success it returns 1, so both
 *     `harness_expect_abort(...);` and `CHECK(harness_expect_abort(...));`
 *     work. Call it from the case's own thread (not from inside a goroutine):
 *     fork() copies only the calling thread.
 *
 * Everything here has external weak linkage, so the header may be included by
 * several translation units of one test program.
 */
#ifndef GORT_TEST_HARNESS_H
#define GORT_TEST_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <errno.h>
#include <sched.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HARNESS__WEAK __attribute__((weak))
#define HARNESS__NORETURN __attribute__((noreturn))
#define HARNESS__PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- public API ------------------------------------------------------------ */

#define TEST(name)                                                                      \
    static void harness__case_##name(void);                                             \
    __attribute__((constructor)) static void harness__register_##name(void)             \
    {                                                                                   \
        harness__register(#name, harness__case_##name, __FILE__, __LINE__);             \
    }                                                                                   \
    static void harness__case_##name(void)

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond))                                                                    \
            harness__fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);               \
    } while (0)

#define CHECK_EQ(a, b)                                                                  \
    do {                                                                                \
        long long harness__a_ = (long long)(a);                                         \
        long long harness__b_ = (long long)(b);                                         \
        if (harness__a_ != harness__b_)                                                 \
            harness__fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s) failed: %lld != %lld",  \
                          #a, #b, harness__a_, harness__b_);                            \
    } while (0)

/* CHECK_MSG(cond, fmt, ...) */
#define CHECK_MSG(cond, ...)                                                            \
    do {                                                                                \
        if (!(cond))                                                                    \
            harness__fail_msg(__FILE__, __LINE__, #cond, __VA_ARGS__);                  \
    } while (0)

/* SKIP(fmt, ...) — ends the case as skipped. */
#define SKIP(...) harness__skip(__FILE__, __LINE__, __VA_ARGS__)

#define HARNESS_MAIN()                                                                  \
    int main(int argc, char **argv) { return harness_main(argc, argv); }

long long T_SCALE(long long n);
int harness_main(int argc, char **argv);
int harness_expect_abort(void (*fn)(void *), void *arg, const char *substring);
/* Name of the case running in this process ("" in the parent). */
const char *harness_case_name(void);

/* ---- implementation -------------------------------------------------------- */

typedef void (*harness__fn)(void);

struct harness__case {
    const char *name;
    harness__fn fn;
    const char *file;
    int line;
    int order;       /* registration sequence number */
};

#define HARNESS__MAX_CASES 4096
#define HARNESS__REASON_MAX 2048

enum { HARNESS__NONE = 0, HARNESS__FAILED = 1, HARNESS__SKIPPED = 2 };

/* Shared (MAP_SHARED) between the harness and the running case's child: the
 * first CHECK failure or SKIP of the case records its verdict here. */
struct harness__shared {
    int verdict;                     /* HARNESS__*; first writer wins (atomic) */
    char reason[HARNESS__REASON_MAX];
};

HARNESS__WEAK struct harness__case harness__cases[HARNESS__MAX_CASES];
HARNESS__WEAK int harness__ncases;
HARNESS__WEAK struct harness__shared *harness__shm;
HARNESS__WEAK const char *harness__current = "";
/* Process group of the running case (its child's pid), 0 between cases. */
HARNESS__WEAK volatile sig_atomic_t harness__case_pgid;

void harness__register(const char *name, harness__fn fn, const char *file, int line);
HARNESS__NORETURN void harness__fail(const char *file, int line, const char *fmt, ...)
    HARNESS__PRINTF(3, 4);
HARNESS__NORETURN void harness__fail_msg(const char *file, int line, const char *expr,
                                         const char *fmt, ...) HARNESS__PRINTF(4, 5);
HARNESS__NORETURN void harness__skip(const char *file, int line, const char *fmt, ...)
    HARNESS__PRINTF(3, 4);

HARNESS__WEAK void harness__register(const char *name, harness__fn fn, const char *file, int line)
{
    if (harness__ncases >= HARNESS__MAX_CASES) {
        fprintf(stderr, "harness: too many cases (max %d)\n", HARNESS__MAX_CASES);
        abort();
    }
    struct harness__case *c = &harness__cases[harness__ncases];
    c->name = name;
    c->fn = fn;
    c->file = file;
    c->line = line;
    c->order = harness__ncases++;
}

HARNESS__WEAK const char *harness_case_name(void)
{
    return harness__current;
}

HARNESS__WEAK long long T_SCALE(long long n)
{
    const char *s = getenv("GORT_TEST_SCALE");
    long long scale = 1;
    if (s && *s) {
        scale = strtoll(s, NULL, 10);
        if (scale < 1)
            scale = 1;
    }
    long long r = n / scale;
    return r < 1 ? 1 : r;
}

static inline int64_t harness__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Record the verdict (first one wins), flush and end the case process. */
HARNESS__WEAK HARNESS__NORETURN void harness__finish(int verdict, int code, const char *fmt,
                                                     va_list ap)
{
    struct harness__shared *shm = harness__shm;
    if (shm) {
        int expect = HARNESS__NONE;
        if (__atomic_compare_exchange_n(&shm->verdict, &expect, -1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            vsnprintf(shm->reason, sizeof shm->reason, fmt, ap);
            __atomic_store_n(&shm->verdict, verdict, __ATOMIC_RELEASE);
        } else {
            /* Another thread of the case got there first: let it finish
             * writing its reason (bounded), then exit with our code. */
            for (int i = 0; i < 100000 && __atomic_load_n(&shm->verdict, __ATOMIC_ACQUIRE) < 0; i++)
                sched_yield();
        }
    } else {
        /* Called outside harness_main (a stand-alone helper): just report. */
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    fflush(stdout);
    fflush(stderr);
    _exit(code);
}

HARNESS__WEAK HARNESS__NORETURN void harness__failf(const char *fmt, ...) HARNESS__PRINTF(1, 2);
HARNESS__WEAK HARNESS__NORETURN void harness__failf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    harness__finish(HARNESS__FAILED, 1, fmt, ap);
}

HARNESS__WEAK HARNESS__NORETURN void harness__fail(const char *file, int line, const char *fmt, ...)
{
    char msg[HARNESS__REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    harness__failf("%s:%d: %s", file, line, msg);
}

HARNESS__WEAK HARNESS__NORETURN void harness__fail_msg(const char *file, int line, const char *expr,
                                                       const char *fmt, ...)
{
    char msg[HARNESS__REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    harness__failf("%s:%d: CHECK(%s) failed: %s", file, line, expr, msg);
}

HARNESS__WEAK HARNESS__NORETURN void harness__skip(const char *file, int line, const char *fmt, ...)
{
    (void)file;
    (void)line;
    va_list ap;
    va_start(ap, fmt);
    harness__finish(HARNESS__SKIPPED, 0, fmt, ap);
}

HARNESS__WEAK const char *harness__signame(int sig)
{
    switch (sig) {
    case SIGABRT: return "SIGABRT";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGQUIT: return "SIGQUIT";
    case SIGHUP: return "SIGHUP";
    case SIGPIPE: return "SIGPIPE";
    case SIGALRM: return "SIGALRM";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGURG: return "SIGURG";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGCHLD: return "SIGCHLD";
    case SIGPROF: return "SIGPROF";
    case SIGVTALRM: return "SIGVTALRM";
    default: return NULL;
    }
}

/* "killed by SIGSEGV (Segmentation fault)" / "exit status 3" */
HARNESS__WEAK void harness__describe_status(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *name = harness__signame(sig);
        if (name)
            snprintf(buf, len, "killed by %s (%s)%s", name, strsignal(sig),
                     WCOREDUMP(status) ? ", core dumped" : "");
        else
            snprintf(buf, len, "killed by signal %d (%s)", sig, strsignal(sig));
    } else if (WIFEXITED(status)) {
        snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
    } else {
        snprintf(buf, len, "wait status %#x", status);
    }
}

/* In a freshly forked child: die with the parent (the harness, or the case
 * child for a grandchild), so nothing outlives a killed test run. */
HARNESS__WEAK void harness__die_with_parent(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
}

HARNESS__WEAK int harness_expect_abort(void (*fn)(void *), void *arg, const char *substring)
{
    int fds[2];
    if (pipe(fds) != 0)
        harness__failf("harness_expect_abort: pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid < 0)
        harness__failf("harness_expect_abort: fork: %s", strerror(errno));
    if (pid == 0) {
        harness__die_with_parent(self);
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        /* The abort is expected: no core file. */
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore);
        /* Verdicts of the grandchild belong to the grandchild, not the case. */
        harness__shm = NULL;
        fn(arg);
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    close(fds[1]);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        harness__failf("harness_expect_abort: out of memory");
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* Keep the first 64 KiB (the fatal message comes first). */
        size_t take = (size_t)n;
        if (take > cap - len)
            take = cap - len;
        memcpy(buf + len, chunk, take);
        len += take;
    }
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            harness__failf("harness_expect_abort: waitpid: %s", strerror(errno));
    }
    int aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    int found = strstr(buf, substring) != NULL;
    if (!aborted || !found) {
        char how[128];
        harness__describe_status(status, how, sizeof how);
        /* Show what the grandchild said, in full, for diagnosis. */
        fprintf(stderr, "---- harness_expect_abort: stderr of the child ----\n%s%s---- end ----\n",
                buf, (len && buf[len - 1] != '\n') ? "\n" : "");
        fflush(stderr);
        harness__failf("expected abort with \"%s\" on stderr; child %s%s", substring, how,
                       aborted ? " but the message was not found" : "");
    }
    free(buf);
    return 1;
}

HARNESS__WEAK double harness__timeout_s(void)
{
    const char *s = getenv("GORT_TEST_TIMEOUT");
    if (s && *s) {
        double t = strtod(s, NULL);
        if (t > 0)
            return t;
    }
    return 120.0;
}

HARNESS__WEAK double harness__budget_s(void)
{
    const char *s = getenv("GORT_TEST_BUDGET");
    if (s && *s) {
        double t = strtod(s, NULL);
        if (t > 0)
            return t;
    }
    return 0; /* none */
}

HARNESS__WEAK int harness__cmp(const void *pa, const void *pb)
{
    const struct harness__case *a = pa, *b = pb;
    /* Constructors may not run in source order: sort by file (in order of
     * first registration), then line. */
    if (strcmp(a->file, b->file) != 0) {
        int fa = a->order, fb = b->order;
        for (int i = 0; i < harness__ncases; i++) {
            if (strcmp(harness__cases[i].file, a->file) == 0 && harness__cases[i].order < fa)
                fa = harness__cases[i].order;
            if (strcmp(harness__cases[i].file, b->file) == 0 && harness__cases[i].order < fb)
                fb = harness__cases[i].order;
        }
        return fa < fb ? -1 : 1;
    }
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->order < b->order ? -1 : (a->order > b->order);
}

/* Run one case in a child. Returns HARNESS__NONE (passed), _FAILED, _SKIPPED;
 * reason filled for the latter two. */
HARNESS__WEAK int harness__run_case(const struct harness__case *c, double timeout_s,
                                    int64_t budget_deadline, char *reason, size_t reason_len)
{
    struct harness__shared *shm = harness__shm;
    memset(shm, 0, sizeof *shm);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(reason, reason_len, "fork: %s", strerror(errno));
        return HARNESS__FAILED;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        harness__die_with_parent(parent);
        harness__current = c->name;
        c->fn();
        fflush(stdout);
        fflush(stderr);
        /* exit(), not _exit(): atexit handlers (LeakSanitizer's check among
         * them) run for a case that returns normally. */
        exit(0);
    }
    setpgid(pid, pid); /* also done by the child: whichever runs first */
    harness__case_pgid = pid;

    int64_t deadline = harness__now_ns() + (int64_t)(timeout_s * 1e9);
    int by_budget = 0;
    if (budget_deadline > 0 && budget_deadline < deadline) {
        deadline = budget_deadline;
        by_budget = 1;
    }
    int64_t nap = 20000; /* 20 µs, doubling up to 10 ms */
    int status = 0, timed_out = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            snprintf(reason, reason_len, "waitpid: %s", strerror(errno));
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            harness__case_pgid = 0;
            return HARNESS__FAILED;
        }
        if (harness__now_ns() >= deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            timed_out = 1;
            break;
        }
        struct timespec ts = {0, (long)nap};
        nanosleep(&ts, NULL);
        if (nap < 10000000)
            nap *= 2;
    }

    /* Whatever the case forked and left running dies with it. */
    kill(-pid, SIGKILL);
    harness__case_pgid = 0;

    int verdict = __atomic_load_n(&shm->verdict, __ATOMIC_ACQUIRE);
    if (timed_out) {
        if (by_budget)
            snprintf(reason, reason_len,
                     "timeout (the program's GORT_TEST_BUDGET ran out during this case)");
        else
            snprintf(reason, reason_len, "timeout (after %.0f s; GORT_TEST_TIMEOUT)", timeout_s);
        return HARNESS__FAILED;
    }
    if (verdict == HARNESS__FAILED) {
        snprintf(reason, reason_len, "%s", shm->reason);
        return HARNESS__FAILED;
    }
    char how[160];
    harness__describe_status(status, how, sizeof how);
    if (verdict == HARNESS__SKIPPED) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            snprintf(reason, reason_len, "%s", shm->reason);
            return HARNESS__SKIPPED;
        }
        snprintf(reason, reason_len, "skipped (%s) but then %s", shm->reason, how);
        return HARNESS__FAILED;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return HARNESS__NONE;
    snprintf(reason, reason_len, "%s", how);
    return HARNESS__FAILED;
}

/* SIGINT/SIGTERM/SIGHUP to the harness: take the running case's process
 * group down too, then die of the same signal. */
HARNESS__WEAK void harness__on_signal(int sig)
{
    pid_t pg = (pid_t)harness__case_pgid;
    if (pg > 0)
        kill(-pg, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

HARNESS__WEAK int harness_main(int argc, char **argv)
{
    int list = 0;
    int nfilters = 0;
    char **filters = calloc((size_t)argc + 1, sizeof *filters);
    if (!filters)
        return 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-l") == 0 || strcmp(argv[i], "--list") == 0) {
            list = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: %s [-l] [case-name-or-pattern...]\n"
                   "  -l   list the cases\n"
                   "env: GORT_TEST_TIMEOUT (seconds per case, default 120),\n"
                   "     GORT_TEST_SCALE (divides iteration counts, default 1)\n",
                   argv[0]);
            free(filters);
            return 0;
        } else {
            filters[nfilters++] = argv[i];
        }
    }

    qsort(harness__cases, (size_t)harness__ncases, sizeof harness__cases[0], harness__cmp);

    /* Select the cases. */
    char *selected = calloc((size_t)harness__ncases + 1, 1);
    if (!selected) {
        free(filters);
        return 2;
    }
    for (int f = 0; f < nfilters; f++) {
        int hit = 0;
        for (int i = 0; i < harness__ncases; i++) {
            if (fnmatch(filters[f], harness__cases[i].name, 0) == 0) {
                selected[i] = 1;
                hit = 1;
            }
        }
        if (!hit) {
            fprintf(stderr, "harness: no case matches '%s' (try -l)\n", filters[f]);
            free(selected);
            free(filters);
            return 2;
        }
    }
    for (int i = 0; i < harness__ncases && nfilters == 0; i++)
        selected[i] = 1;
    free(filters);

    if (list) {
        for (int i = 0; i < harness__ncases; i++)
            if (selected[i])
                printf("%s\n", harness__cases[i].name);
        free(selected);
        return 0;
    }

    harness__shm = mmap(NULL, sizeof *harness__shm, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (harness__shm == MAP_FAILED) {
        perror("harness: mmap");
        free(selected);
        return 2;
    }

    signal(SIGINT, harness__on_signal);
    signal(SIGTERM, harness__on_signal);
    signal(SIGHUP, harness__on_signal);

    double timeout_s = harness__timeout_s();
    double budget_s = harness__budget_s();
    int64_t budget_deadline = budget_s > 0 ? harness__now_ns() + (int64_t)(budget_s * 1e9) : 0;
    int passed = 0, failed = 0, skipped = 0;
    char reason[HARNESS__REASON_MAX + 256];
    for (int i = 0; i < harness__ncases; i++) {
        if (!selected[i])
            continue;
        const struct harness__case *c = &harness__cases[i];
        reason[0] = '\0';
        int64_t t0 = harness__now_ns();
        if (budget_deadline > 0 && t0 >= budget_deadline) {
            printf("FAIL %s: not run (GORT_TEST_BUDGET of %g s used up)\n", c->name, budget_s);
            failed++;
            continue;
        }
        int v = harness__run_case(c, timeout_s, budget_deadline, reason, sizeof reason);
        int64_t ms = (harness__now_ns() - t0) / 1000000;
        switch (v) {
        case HARNESS__NONE:
            printf("ok   %s (%lld ms)\n", c->name, (long long)ms);
            passed++;
            break;
        case HARNESS__SKIPPED:
            printf("skip %s: %s\n", c->name, reason);
            skipped++;
            break;
        default:
            printf("FAIL %s: %s\n", c->name, reason);
            failed++;
            break;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    fflush(stdout);
    munmap(harness__shm, sizeof *harness__shm);
    harness__shm = NULL;
    free(selected);
    return failed ? 1 : 0;
}

#endif /* GORT_TEST_HARNESS_H */
