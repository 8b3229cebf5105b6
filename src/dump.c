/*
 * dump.c — goroutine dumps (Go's SIGQUIT traceback, without stack walks).
 *
 * For every goroutine that has not finished: its id, state (running,
 * runnable, syscall, or the wait reason of a parked one: chan receive,
 * select, sleep, IO wait, sync.Mutex.Lock, ...), how long it has waited,
 * its name, its entry function and the place that spawned it (the return
 * address of the gort_go call, symbolised with dladdr when possible — build
 * with -rdynamic to see static functions of the main program).
 *
 * It walks sched.allg under allg_lock. From the SIGQUIT handler it walks
 * without the lock (the interrupted thread may hold it) and without
 * dladdr/malloc: a best-effort snapshot, printed with write(2), after which
 * the process exits with status 2 like a Go program.
 *
 * Goroutines keep running while they are dumped (nothing stops the world):
 * the fields that change as a goroutine runs (status, wait_reason,
 * in_syscall, wait_since) are atomics, written and read relaxed, so a dump
 * shows each goroutine in some recent state without a data race. The
 * identity fields (id, fn, name, creator_pc) are written once at spawn,
 * before the goroutine is published; the one case a dump is not exact is a
 * slot reused by a spawn while the dump is reading that very slot.
 */
#define _GNU_SOURCE 1
#include "engine.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void symbolize(char *buf, size_t len, uintptr_t pc, bool dl)
{
    Dl_info info;
    if (dl && pc && dladdr((void *)pc, &info) && info.dli_sname) {
        snprintf(buf, len, "%s+0x%lx", info.dli_sname,
                 (unsigned long)(pc - (uintptr_t)info.dli_saddr));
        return;
    }
    snprintf(buf, len, "0x%lx", (unsigned long)pc);
}

static const char *state_of(gort__g *g)
{
    if (GORT__RLOAD(g->in_syscall))
        return "syscall";
    switch (GORT__RLOAD(g->status)) {
    case GORT__GS_RUNNABLE:
        return "runnable";
    case GORT__GS_RUNNING:
        return "running";
    case GORT__GS_WAITING:
        return gort__wait_reason_name(GORT__RLOAD(g->wait_reason));
    default:
        return NULL;
    }
}

void gort__dump_fd(int fd, bool lock)
{
    if (!atomic_load(&gort__S.running))
        return;
    if (lock)
        gort__lock_acquire(&gort__S.allg_lock);
    int64_t now = gort_now();
    char line[512], entry[160], creator[160];
    for (gort__g *g = gort__S.allg; g; g = g->alllink) {
        const char *state = state_of(g);
        if (!state)
            continue; /* finished (its slot is cached for reuse) */
        int n;
        if (GORT__RLOAD(g->status) == GORT__GS_WAITING || GORT__RLOAD(g->in_syscall))
            n = snprintf(line, sizeof line, "goroutine %llu [%s, %lld ms]:\n",
                         (unsigned long long)g->id, state,
                         (long long)((now - GORT__RLOAD(g->wait_since)) / GORT_MILLISECOND));
        else
            n = snprintf(line, sizeof line, "goroutine %llu [%s]:\n", (unsigned long long)g->id,
                         state);
        put(fd, line, (size_t)n);
        symbolize(entry, sizeof entry, (uintptr_t)g->fn, lock);
        symbolize(creator, sizeof creator, g->creator_pc, lock);
        n = snprintf(line, sizeof line, "\tentry %s%s%s%s\n\tcreated by %s\n\n", entry,
                     g->name[0] ? " name \"" : "", g->name, g->name[0] ? "\"" : "", creator);
        put(fd, line, (size_t)n);
    }
    if (lock)
        gort__lock_release(&gort__S.allg_lock);
}

GORT_API int gort_dump(int fd)
{
    if (fd < 0)
        return GORT_EINVAL;
    if (!atomic_load(&gort__S.running))
        return GORT_ENOTINIT;
    gort__dump_fd(fd, true);
    return 0;
}

GORT_API int64_t gort_num_goroutine(void)
{
    if (gort__enter() != 0)
        return 0;
    int64_t n = gort__num_goroutines();
    gort__leave();
    return n;
}

static void on_sigquit(int sig)
{
    (void)sig;
    static const char head[] = "SIGQUIT: quit\n\n";
    put(2, head, sizeof head - 1);
    gort__dump_fd(2, false);
    _exit(2);
}

/* Install the SIGQUIT dump unless the program handles SIGQUIT itself. */
static void sigquit_setup(void)
{
    const char *env = getenv("GORT_SIGQUIT");
    if (env && strcmp(env, "0") == 0)
        return;
    struct sigaction old;
    if (sigaction(SIGQUIT, NULL, &old) != 0 || old.sa_handler != SIG_DFL ||
        (old.sa_flags & SA_SIGINFO))
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigquit;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGQUIT, &sa, NULL);
}

void gort__dump_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sigquit_setup);
}
