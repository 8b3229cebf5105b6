/*
 * fault_sweep.c — the driver of the `fault` stage: runs a fault program
 * (fault_prog.c, linked with fault_inject.c) once per injection point.
 *
 *   fault_sweep [-p] [-v] [-j JOBS] [-t TIMEOUT_S] [-m MAX_RUNS] [-l LABEL] PROG SCENARIO...
 *
 * -p: persistent faults (GORT_FAULT_PERSIST=1: every call from the Nth on
 * fails); -v: list the call sites reached at the end.
 *
 * For each scenario: one run without injection (GORT_FAULT_N=0) must exit 0
 * and says how many calls C the wrapped functions saw. Then the sweep runs
 * N = 1, 1+s, 1+2s, ... each in a child process of its own (own process
 * group, TIMEOUT_S seconds, killed with its group after that), until N is
 * beyond C and a run saw no injection (counts vary a little between runs:
 * threads race). Calls beyond C happen only after a failure (retries,
 * error paths) and are not swept: a one-shot fault cannot reach them.
 * The stride s is 1 unless C exceeds MAX_RUNS, then ceil(C / MAX_RUNS) —
 * a sample, said so in the output. The verdict of one run:
 *   pass   exit 0 (the library absorbed the failure, results checked by the
 *          program), or exit 3 (a documented error surfaced and the program
 *          cleaned up) in a run where a failure was injected;
 *   fail   a signal (crash, abort, gort fatal error), a timeout (hang), any
 *          other status (1: the program saw a contract violation; a
 *          sanitizer's exit code), exit 3 without an injected failure, or a
 *          sanitizer report (ASan, LSan leak, UBSan) in the run's stderr.
 * A failing run is printed with its scenario, N, the failed call and its
 * call site (addr2line of the offset the injector reported) and the head of
 * its stderr. The last line adds everything up for the stage summary:
 *   fault: <label>: P injection points swept (S call sites), P passed
 *
 * Children run JOBS at a time; the driver sleeps in sigtimedwait(SIGCHLD)
 * between events, so a timeout costs no polling.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_JOBS = 16, MAX_SITES = 4096, REPORT_FD = 3 };

typedef struct run {
    pid_t    pid;      /* 0: slot free */
    uint64_t n;        /* GORT_FAULT_N */
    int      report;   /* memfd: the injector's lines */
    int      err;      /* memfd: the child's stderr */
    double   deadline; /* monotonic seconds */
    bool     timed_out;
} run;

typedef struct site {
    char fn[32];
    unsigned long off;
    char obj[256];
} site;

static const char *prog, *label = "fault";
static int jobs = 2, timeout_s = 60;
static uint64_t max_runs = 400;
static bool persistent, verbose;
static uint64_t clean_calls; /* "calls" count of the scenario's clean run */
static site sites[MAX_SITES];
static int nsites;
static uint64_t swept, passed;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The whole content of memfd fd, NUL-terminated, in a static buffer. */
static const char *slurp(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

static void start(run *r, const char *scenario, uint64_t n)
{
    r->n = n;
    r->report = memfd_create("fault-report", MFD_CLOEXEC);
    r->err = memfd_create("fault-stderr", MFD_CLOEXEC);
    if (r->report < 0 || r->err < 0) {
        perror("fault_sweep: memfd_create");
        exit(2);
    }
    r->deadline = now_s() + timeout_s;
    r->timed_out = false;
    pid_t pid = fork();
    if (pid < 0) {
        perror("fault_sweep: fork");
        exit(2);
    }
    if (pid == 0) {
        char nbuf[32], fdbuf[16];
        snprintf(nbuf, sizeof nbuf, "%llu", (unsigned long long)n);
        snprintf(fdbuf, sizeof fdbuf, "%d", REPORT_FD);
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(r->err, 2);
        dup2(r->report, REPORT_FD);
        fcntl(REPORT_FD, F_SETFD, 0); /* dup2 onto itself keeps close-on-exec */
        setenv("GORT_FAULT_N", nbuf, 1);
        setenv("GORT_FAULT_FD", fdbuf, 1);
        setenv("GORT_FAULT_PERSIST", persistent ? "1" : "0", 1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execl(prog, prog, scenario, (char *)NULL);
        perror("fault_sweep: exec");
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no race with the kill below */
    r->pid = pid;
}

/* Parse an injector line "inject N fn offset object" into *s. */
static bool parse_site(const char *inj, site *s)
{
    memset(s, 0, sizeof *s);
    return sscanf(inj, "inject %*u %31s %lx %255s", s->fn, &s->off, s->obj) >= 2;
}

/* Record the call site of an injection line (once per distinct site). */
static void note_site(const char *inj)
{
    site s;
    if (!parse_site(inj, &s))
        return;
    for (int i = 0; i < nsites; i++)
        if (sites[i].off == s.off && strcmp(sites[i].fn, s.fn) == 0 &&
            strcmp(sites[i].obj, s.obj) == 0)
            return;
    if (nsites < MAX_SITES)
        sites[nsites++] = s;
}

/* Print where an injected call was made (addr2line on the offset). */
static void print_site(const site *s)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "addr2line -f -i -C -p -e '%s' %#lx 2>/dev/null | sed 's/^/      at /'",
             s->obj[0] == '/' ? s->obj : prog, s->off - 1);
    fflush(stdout);
    if (system(cmd) != 0)
        printf("      (addr2line failed)\n");
}

static bool sanitizer_report(const char *err)
{
    return strstr(err, "ERROR: AddressSanitizer") || strstr(err, "ERROR: LeakSanitizer") ||
           strstr(err, "runtime error:") || strstr(err, "ERROR: UndefinedBehaviorSanitizer");
}

/* Judge a finished run. Returns true if N was beyond the calls it made. */
static bool finish(run *r, const char *scenario, int status)
{
    static char rep[8192], err[65536];
    slurp(r->report, rep, sizeof rep);
    slurp(r->err, err, sizeof err);
    close(r->report);
    close(r->err);
    r->pid = 0;
    const char *inj = strstr(rep, "inject ");
    if (inj)
        note_site(inj);
    const char *why = NULL;
    char buf[64];
    if (r->timed_out)
        why = "hang (timeout)";
    else if (WIFSIGNALED(status))
        snprintf(buf, sizeof buf, "crash (signal %d, %s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status))), why = buf;
    else if (sanitizer_report(err))
        why = "sanitizer report";
    else if (WEXITSTATUS(status) == 3 && !inj)
        why = "documented error reported although nothing was injected";
    else if (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3)
        snprintf(buf, sizeof buf, "exit status %d", WEXITSTATUS(status)), why = buf;
    if (r->n == 0) { /* the counting run */
        const char *calls = strstr(rep, "calls ");
        clean_calls = calls ? strtoull(calls + 6, NULL, 10) : 0;
        if (why || WEXITSTATUS(status) != 0 || !calls) {
            printf("fault: %s: %s: the run without injection failed: %s\n%s", label, scenario,
                   why ? why : "exit 3", err);
            exit(1);
        }
        return false;
    }
    swept++;
    if (!why) {
        passed++;
    } else {
        printf("fault: %s: FAIL %s N=%llu: %s; injected: %.*s\n", label, scenario,
               (unsigned long long)r->n, why, inj ? (int)strcspn(inj, "\n") : 4,
               inj ? inj : "none");
        site st;
        if (inj && parse_site(inj, &st))
            print_site(&st);
        char *end = err;
        for (int lines = 0; *end && lines < 40; lines++)
            end += strcspn(end, "\n") + (end[strcspn(end, "\n")] != 0);
        printf("%.*s", (int)(end - err), err);
    }
    return !inj && !why;
}

/* The clean run: sets clean_calls. */
static void count_calls(const char *scenario)
{
    run r = {0};
    start(&r, scenario, 0);
    int status;
    while (waitpid(r.pid, &status, 0) < 0 && errno == EINTR) {
    }
    finish(&r, scenario, status);
}

/* Sweep one scenario (adds to swept, passed and the call sites). */
static void sweep(const char *scenario)
{
    count_calls(scenario);
    uint64_t calls = clean_calls;
    uint64_t stride = calls > max_runs ? (calls + max_runs - 1) / max_runs : 1;
    uint64_t before = swept, passed_before = passed;
    int sites_before = nsites;
    double t0 = now_s();
    run slots[MAX_JOBS] = {{0}};
    uint64_t next = 1;
    bool clean = false; /* a run went past the last call it made */
    int active = 0;
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        for (int i = 0; i < jobs && !(clean && next > calls); i++)
            if (!slots[i].pid) {
                start(&slots[i], scenario, next);
                next += stride;
                active++;
            }
        if (!active)
            break;
        struct timespec tick = {0, 200 * 1000 * 1000};
        sigtimedwait(&chld, NULL, &tick);
        for (int i = 0; i < jobs; i++) {
            run *r = &slots[i];
            if (!r->pid)
                continue;
            int status;
            pid_t w = waitpid(r->pid, &status, WNOHANG);
            if (w == r->pid) {
                active--;
                if (finish(r, scenario, status))
                    clean = true;
            } else if (now_s() > r->deadline && !r->timed_out) {
                r->timed_out = true;
                kill(-r->pid, SIGKILL);
            }
        }
    }
    printf("fault: %s: %s: %llu calls in a clean run; %llu injection points swept%s "
           "(%d new call sites), %llu passed, %.1f s\n",
           label, scenario, (unsigned long long)calls, (unsigned long long)(swept - before),
           stride > 1 ? " (sampled)" : "", nsites - sites_before,
           (unsigned long long)(passed - passed_before), now_s() - t0);
    if (stride > 1)
        printf("fault: %s: %s: stride %llu over %llu calls (-m %llu)\n", label, scenario,
               (unsigned long long)stride, (unsigned long long)calls,
               (unsigned long long)max_runs);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "pvj:t:m:l:")) != -1) {
        switch (opt) {
        case 'p': persistent = true; break;
        case 'v': verbose = true; break;
        case 'j': jobs = atoi(optarg); break;
        case 't': timeout_s = atoi(optarg); break;
        case 'm': max_runs = strtoull(optarg, NULL, 10); break;
        case 'l': label = optarg; break;
        default: goto usage;
        }
    }
    if (optind + 2 > argc || jobs < 1 || jobs > MAX_JOBS || timeout_s < 1 || max_runs < 1)
        goto usage;
    prog = argv[optind];
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines reach a pipe (tee) as they come */
    /* SIGCHLD blocked: sigtimedwait receives it (no handler, no race). */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    for (int i = optind + 1; i < argc; i++)
        sweep(argv[i]);
    for (int i = 0; verbose && i < nsites; i++) {
        printf("fault: %s: site %d: %s\n", label, i + 1, sites[i].fn);
        print_site(&sites[i]);
    }
    printf("fault: %s: %llu injection points swept (%d call sites), %llu passed\n", label,
           (unsigned long long)swept, nsites, (unsigned long long)passed);
    return swept > 0 && passed == swept ? 0 : 1;
usage:
    fprintf(stderr, "usage: fault_sweep [-p] [-v] [-j JOBS] [-t TIMEOUT_S] [-m MAX_RUNS] [-l LABEL] "
                    "PROG SCENARIO...\n");
    return 2;
}
