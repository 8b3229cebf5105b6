/*
 * ctx.h — execution contexts: a saved stack pointer plus what the sanitizers
 * need to follow a switch between stacks.
 *
 * The switch itself is ~20 instructions of assembly (src/ctx/ctx_<arch>.S).
 * Around it, gort__ctx_jump tells the tools what happens:
 *   - AddressSanitizer: __sanitizer_start_switch_fiber before the switch
 *     (with the target stack's bounds; a NULL fake-stack slot when the
 *     context being left is dead, so ASan frees its fake frames) and
 *     __sanitizer_finish_switch_fiber right after we are switched back to.
 *   - ThreadSanitizer: every context owns a TSan fiber; switching with flag 0
 *     makes the switch a synchronisation point (which it is: the scheduler's
 *     run-queue handoff orders everything anyway).
 *   - Valgrind: stacks are registered when mapped (stack.c), so memcheck does
 *     not mistake a switch for a giant stack-pointer move.
 * A context that has never run starts in gort__ctx_entry, which calls
 * entry(arg); entry must never return (it switches away for the last time).
 */
#ifndef GORT_CTX_H
#define GORT_CTX_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define GORT__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define GORT__TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(GORT__ASAN)
#define GORT__ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(GORT__TSAN)
#define GORT__TSAN 1
#endif
#endif

#ifdef GORT__ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef GORT__TSAN
#include <sanitizer/tsan_interface.h>
#endif

typedef struct gort__ctx {
    void  *sp;         /* saved stack pointer while not running */
    void  *stack_lo;   /* lowest usable address of the stack (ASan bounds) */
    size_t stack_size; /* usable bytes above stack_lo */
#ifdef GORT__ASAN
    void *asan_fake;   /* ASan fake-stack handle saved while switched out */
#endif
#ifdef GORT__TSAN
    void *tsan_fiber;  /* TSan fiber of this context */
    int   tsan_owned;  /* 1 if we created the fiber (and must destroy it) */
#endif
} gort__ctx;

void gort__ctx_switch(void **save_sp, void *load_sp);
void gort__ctx_entry(void);

/* Prepare ctx to start entry(arg) on the stack [lo, lo + size). */
static inline void gort__ctx_make(gort__ctx *ctx, void *lo, size_t size, void (*entry)(void *),
                                  void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uintptr_t *sp;
#if defined(__x86_64__)
    /* Popped by gort__ctx_switch; its ret leaves rsp = top (16-aligned) in
     * gort__ctx_entry, whose call then enters entry() with rsp % 16 == 8,
     * exactly as the ABI requires at a function's first instruction. */
    sp = (uintptr_t *)top;
    *--sp = (uintptr_t)gort__ctx_entry;   /* return address */
    *--sp = 0;                            /* rbp: ends the frame chain */
    *--sp = (uintptr_t)entry;             /* rbx */
    *--sp = (uintptr_t)arg;               /* r12 */
    *--sp = 0;                            /* r13 */
    *--sp = 0;                            /* r14 */
    *--sp = 0;                            /* r15 */
    *--sp = 0x037Full << 32 | 0x1F80u;    /* x87 control word | MXCSR defaults */
#elif defined(__aarch64__)
    sp = (uintptr_t *)(top - 176);
    for (int i = 0; i < 22; i++)
        sp[i] = 0;
    sp[0] = (uintptr_t)entry;              /* x19 */
    sp[1] = (uintptr_t)arg;                /* x20 */
    sp[11] = (uintptr_t)gort__ctx_entry;   /* x30 */
#else
#error "gort: no context switch for this architecture"
#endif
    ctx->sp = sp;
    ctx->stack_lo = lo;
    ctx->stack_size = size;
}

/* Switch from the running context `from` to `to`. from_dead: `from` will
 * never run again (a finished goroutine). Returns when someone switches
 * back to `from`. */
static inline void gort__ctx_jump(gort__ctx *from, gort__ctx *to, int from_dead)
{
#ifdef GORT__ASAN
    __sanitizer_start_switch_fiber(from_dead ? NULL : &from->asan_fake, to->stack_lo,
                                   to->stack_size);
#else
    (void)from_dead;
#endif
#ifdef GORT__TSAN
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
    gort__ctx_switch(&from->sp, to->sp);
#ifdef GORT__ASAN
    __sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
#endif
}

/* First thing a new context does (before touching anything else). */
static inline void gort__ctx_started(void)
{
#ifdef GORT__ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

#endif /* GORT_CTX_H */
