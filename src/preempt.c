/*
 * preempt.c — asynchronous (signal-based) preemption, like Go 1.14+.
 *
 * sysmon (sysmon.c) flags a goroutine that has run 10 ms without passing
 * through the scheduler (g->preempt) and sends SIGURG to its thread. The
 * flag alone gives cooperative preemption: gort__preempt_point() at gort
 * calls yields. The signal handles code that never calls gort
 * (`for (;;) x++;`): the handler decides whether the interrupted
 * instruction is a safe point and, if so, rewrites the signal context so
 * that on return the goroutine "calls" gort__async_preempt (ctx_<arch>.S),
 * which saves every register, yields, and later resumes exactly there.
 *
 * A point is safe only if ALL hold (otherwise the handler just returns and
 * sysmon asks again later):
 *   - the thread runs a goroutine (m->curg) whose stack contains the
 *     interrupted stack pointer (not the scheduler's own stack);
 *   - that goroutine asked for nothing special: no gort_preempt_disable /
 *     nopreempt option, not between gort_syscall_enter and _exit;
 *   - the thread holds no internal gort lock (gort__tls_locks == 0);
 *   - the PC is not in gort's core (the gort_core section: scheduler,
 *     timers, stacks, context switch — see internal.h);
 *   - the PC is in the main program's own code. Never in the C library, the
 *     dynamic loader, or another shared object: they hold locks (malloc's
 *     arenas, stdio, the loader lock) and thread-locals we cannot see. If the
 *     C library is linked statically into the program, we cannot tell it
 *     apart, so async preemption stays off (cooperative preemption remains).
 * Other gort code (channels, sync, I/O) is preemptible when it holds no lock:
 * it keeps no thread-affine state outside the core.
 *
 * Only x86-64 is implemented: on AArch64 injecting a call needs a scratch
 * register the interrupted code might be using (Go reserves one; C cannot),
 * so there preemption is cooperative only. ThreadSanitizer defers signal
 * handlers to its own safe points, which breaks context rewriting, so TSan
 * builds use cooperative preemption too; so do runs under Valgrind, whose
 * memcheck rejects the fake call frame written below the stack pointer.
 * GORT_ASYNCPREEMPT=0 disables it.
 *
 * Why SIGURG: like Go — programs rarely use it, and its default action is
 * to ignore it, so a stray one is harmless. A handler installed by the
 * program before gort_init is chained.
 */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && !defined(GORT__TSAN)
#define GORT__ASYNC_PREEMPT 1
#include <cpuid.h>
#include <link.h>
#include <ucontext.h>
#endif

/* Read by ctx_x86_64.S: whether XSAVE is usable, and the save-area size. */
int gort__have_xsave;
uint64_t gort__xsave_size = 1024;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int async_on;               /* set once in preempt_setup, then read-only */

GORT__CORE void gort__preempt_yield(void)
{
    gort_yield();
}

#ifdef GORT__ASYNC_PREEMPT
static struct sigaction chained;   /* the program's earlier SIGURG handler */

#define MAX_RANGES 8
static struct {
    uintptr_t lo, hi;
} user_text[MAX_RANGES];           /* executable segments of the main program */
static int n_user_text;

extern char __start_gort_core[], __stop_gort_core[];
void gort__async_preempt(void);

GORT__CORE static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    /* The first object reported is the main program. */
    for (int i = 0; i < info->dlpi_phnum && n_user_text < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            user_text[n_user_text].lo = info->dlpi_addr + ph->p_vaddr;
            user_text[n_user_text].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
            n_user_text++;
        }
    }
    return 1; /* stop after the main program */
}

GORT__CORE static bool in_user_text(uintptr_t pc)
{
    for (int i = 0; i < n_user_text; i++)
        if (pc >= user_text[i].lo && pc < user_text[i].hi)
            return true;
    return false;
}

GORT__CORE static bool safe_point(gort__g *g, uintptr_t pc, uintptr_t sp)
{
    if (!GORT__RLOAD(g->preempt) || g->nopreempt || GORT__RLOAD(g->in_syscall) || gort__tls_locks)
        return false;
    uintptr_t lo = (uintptr_t)g->ctx.stack_lo, hi = (uintptr_t)g;
    if (sp < lo + 4096 || sp >= hi)
        return false; /* not on the goroutine's stack, or no room to save state */
    if (pc >= (uintptr_t)__start_gort_core && pc < (uintptr_t)__stop_gort_core)
        return false;
    return in_user_text(pc);
}

GORT__CORE static void on_sigurg(int sig, siginfo_t *info, void *uctx)
{
    int saved_errno = errno;
    gort__m *m = gort__this_m();
    gort__g *g = m ? GORT__RLOAD(m->curg) : NULL;
    ucontext_t *uc = uctx;
    if (g) {
        uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
        uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
        if (safe_point(g, pc, sp)) {
            /* Fake a call: skip the red zone, push the PC as return address. */
            uintptr_t nsp = sp - 128 - 8;
            *(uintptr_t *)nsp = pc;
            uc->uc_mcontext.gregs[REG_RSP] = (greg_t)nsp;
            uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)gort__async_preempt;
        }
    }
    if (chained.sa_flags & SA_SIGINFO) {
        if (chained.sa_sigaction)
            chained.sa_sigaction(sig, info, uctx);
    } else if (chained.sa_handler != SIG_DFL && chained.sa_handler != SIG_IGN) {
        chained.sa_handler(sig);
    }
    errno = saved_errno;
}

extern void *malloc(size_t);

GORT__CORE static void preempt_setup(void)
{
    const char *env = getenv("GORT_ASYNCPREEMPT");
    if ((env && strcmp(env, "0") == 0) || RUNNING_ON_VALGRIND)
        return;
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE)) {
        __cpuid_count(0xD, 0, a, b, c, d);
        gort__have_xsave = 1;
        gort__xsave_size = b;
    } else {
        gort__xsave_size = 512;
    }
    gort__xsave_size += 64 + 64; /* header zeroing even for FXSAVE; alignment */
    if (gort__xsave_size < 576 + 64)
        gort__xsave_size = 576 + 64;
    dl_iterate_phdr(phdr_cb, NULL);
    /* A statically linked C library would look like user code. */
    if (in_user_text((uintptr_t)&malloc))
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigurg;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGURG, &sa, &chained) != 0)
        return;
    async_on = 1;
}
#else
GORT__CORE static void preempt_setup(void)
{
}
#endif

GORT__CORE int gort__preempt_init(void)
{
    pthread_once(&init_once, preempt_setup);
    return 0;
}

GORT__CORE void gort__preempt_request(gort__m *m, gort__g *g)
{
    atomic_store_explicit(&g->preempt, 1, memory_order_relaxed);
    if (async_on && !g->nopreempt)
        pthread_kill(m->thread, SIGURG);
}

GORT__CORE GORT_API int gort_preempt_async_enabled(void)
{
    return async_on;
}
