/*
 * guard.c — a goroutine's stack overflow is a diagnosed death, not a silent
 * crash.
 *
 * Concepts
 *   - A guarded goroutine stack has a PROT_NONE page at its bottom
 *     (stack.c). Running past it faults there. The kernel delivers SIGSEGV
 *     (or SIGBUS) on the faulting thread — whose stack pointer is in the
 *     guard page, so a handler could not even run on that stack. Every
 *     thread that runs goroutines (pool Ms, executors, threads running a
 *     loop) therefore has an alternate signal stack (sigaltstack) while it
 *     is an M, and the handler is installed with SA_ONSTACK.
 *   - The mapping of an alternate stack belongs to whoever makes the thread
 *     an M: a pool thread maps one for its life; an event loop keeps one
 *     from its first run to gort_loop_free, because a host loop that embeds
 *     it (Node, asyncio) attaches and detaches at every turn, and a mmap and
 *     munmap per turn cost more than the turn's own work. Installing and
 *     restoring (sigaltstack) stay per attach: the host's own alternate
 *     stack, if any, is back in place whenever gort is not running there.
 *   - The handler recognises a goroutine overflow: the thread runs a
 *     goroutine (its M's curg) and the fault address lies in that
 *     goroutine's guard page, [slot_lo, stack_lo). Then it prints
 *       gort: fatal error: goroutine N stack overflow (name "x", stack S bytes)
 *     with write(2) only (async-signal-safe), and dies of the signal.
 *   - Every other fault is not ours: the handler chains to the action that
 *     was installed before gort's (a SA_SIGINFO or plain handler), or, for
 *     the default or ignore, restores the default action and returns: the
 *     faulting instruction runs again and the kernel kills the process with
 *     the original signal (core dump included). So an overflow, too, ends
 *     as SIGSEGV/SIGBUS after the message, as without gort.
 *
 * Sanitizers and Valgrind: ASan and TSan install their own SIGSEGV handling
 * (ASan reports "stack-overflow" itself) and Valgrind reports the overflow
 * itself; under them nothing is installed here (gort__guard_enabled()).
 *
 * Invariants: the handler reads only the faulting thread's own M and G
 * (which cannot change under it: the G is stopped in the fault) and the
 * previous actions (written once, before the handler is installed).
 *
 * Rejected alternatives
 *   - One process-wide alternate stack: signals on several threads at once
 *     would share it.
 *   - Recovering from the overflow (Go grows stacks instead; a C stack
 *     cannot be moved): the goroutine's frames are gone, so death it is.
 */
#include "engine.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GUARD_HAVE_VALGRIND 1
#endif
#endif

#define ALT_STACK_BYTES ((size_t)64 << 10)

static struct sigaction prev_segv, prev_bus; /* actions before ours (set once) */
static bool installed;                       /* set once, before the handler can run */
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

GORT__CORE static bool guard_enabled(void)
{
#if defined(GORT__ASAN) || defined(GORT__TSAN)
    return false;
#else
#ifdef GUARD_HAVE_VALGRIND
    if (RUNNING_ON_VALGRIND)
        return false;
#endif
    return true;
#endif
}

/* ---- async-signal-safe output ---------------------------------------------- */

GORT__CORE static void put_str(char *buf, size_t *len, size_t cap, const char *s)
{
    while (*s && *len < cap)
        buf[(*len)++] = *s++;
}

GORT__CORE static void put_u64(char *buf, size_t *len, size_t cap, uint64_t v)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n > 0 && *len < cap)
        buf[(*len)++] = digits[--n];
}

GORT__CORE static void report_overflow(const gort__g *g)
{
    char buf[256];
    size_t len = 0, cap = sizeof buf - 1;
    put_str(buf, &len, cap, "gort: fatal error: goroutine ");
    put_u64(buf, &len, cap, g->id);
    put_str(buf, &len, cap, " stack overflow (name \"");
    put_str(buf, &len, cap, g->name);
    put_str(buf, &len, cap, "\", stack ");
    put_u64(buf, &len, cap, g->ctx.stack_size);
    put_str(buf, &len, cap, " bytes)\n");
    ssize_t ignored = write(2, buf, len);
    (void)ignored;
}

/* ---- the handler ----------------------------------------------------------- */

GORT__CORE static void on_fault(int sig, siginfo_t *si, void *uctx)
{
    gort__m *m = gort__this_m();
    gort__g *g = m ? atomic_load_explicit(&m->curg, memory_order_relaxed) : NULL;
    uintptr_t addr = (uintptr_t)si->si_addr;
    if (g && g->guarded && addr >= (uintptr_t)g->slot_lo && addr < (uintptr_t)g->ctx.stack_lo)
        report_overflow(g);
    const struct sigaction *prev = sig == SIGBUS ? &prev_bus : &prev_segv;
    if (prev->sa_flags & SA_SIGINFO) {
        prev->sa_sigaction(sig, si, uctx);
        return;
    }
    if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
        prev->sa_handler(sig);
        return;
    }
    /* Default (or an ignored fault, which would loop forever): die of it
     * when the instruction faults again on return. */
    signal(sig, SIG_DFL);
}

GORT__CORE static void install(void)
{
    if (!guard_enabled())
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, NULL, &prev_segv) != 0 || sigaction(SIGBUS, NULL, &prev_bus) != 0)
        return;
    installed = true;
    (void)sigaction(SIGSEGV, &sa, NULL);
    (void)sigaction(SIGBUS, &sa, NULL);
}

GORT__CORE void gort__guard_init(void)
{
    pthread_once(&install_once, install);
}

/* ---- per-thread alternate stacks ------------------------------------------ */

GORT__CORE void *gort__guard_altstack_map(void)
{
    if (!installed)
        return NULL;
    void *mem = mmap(NULL, ALT_STACK_BYTES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return mem == MAP_FAILED ? NULL : mem; /* NULL: no diagnosis there; the fault still kills */
}

GORT__CORE void gort__guard_altstack_unmap(void *mem)
{
    if (mem)
        munmap(mem, ALT_STACK_BYTES);
}

GORT__CORE void gort__guard_thread_start(gort__altstack *a, void *mem)
{
    memset(a, 0, sizeof *a);
    if (!mem)
        return;
    stack_t ss = {.ss_sp = mem, .ss_size = ALT_STACK_BYTES, .ss_flags = 0};
    if (sigaltstack(&ss, &a->prev) == 0)
        a->mem = mem;
}

GORT__CORE void gort__guard_thread_stop(gort__altstack *a)
{
    if (!a->mem)
        return;
    (void)sigaltstack(&a->prev, NULL);
    a->mem = NULL;
}
