/*
 * stack.c — goroutine stack slots.
 *
 * Concepts. A slot is one contiguous range of virtual memory: the goroutine's
 * G struct at the top, its stack below, and at the bottom either a PROT_NONE
 * guard page or (see below) a canary. Memory is reserved with MAP_NORESERVE
 * and committed lazily by the kernel on first touch, so a goroutine costs the
 * pages it actually touched: one 4 KiB page for a goroutine that blocks
 * shortly after starting (the G struct shares that page with the top frames).
 * Slots are recycled with their G (per-P free lists in sched.c, then the
 * global pool here), so spawning normally needs no system call.
 *
 * Default-size slots are carved from slabs of ~16 MiB (one mmap each) and are
 * never unmapped before gort_shutdown. Other sizes get a mapping of their own
 * and are unmapped when their goroutine exits.
 *
 * Guard pages. On Linux 6.13+ a slot's bottom page is made a guard region
 * with madvise(MADV_GUARD_INSTALL): it faults like PROT_NONE but splits no
 * mapping, so every slot is guarded at no cost in mappings (checked at init
 * by a write(2) from a guarded page, which must fail with EFAULT — an
 * emulator may accept the advice and ignore it). Older kernels get the
 * fallback below.
 *
 * The vm.max_map_count trade-off (older kernels). Linux caps a process at
 * 65530 mappings by default. An mprotect guard page splits a mapping, so
 * every guarded slot costs two mappings: with guards everywhere, a million
 * blocked goroutines would need two million. gort therefore guards slots
 * only while the guard budget lasts
 * (a quarter of vm.max_map_count, ~16k slots on a stock kernel; env
 * GORT_STACK_GUARDS=N overrides, 0 disables). Slots created after that are
 * unguarded: their bottom 64 bytes are a canary that must stay zero (fresh
 * anonymous memory is zero, so the canary costs no write and no page). The
 * scheduler checks it every time such a goroutine switches out with its
 * lowest observed stack pointer within 64 KiB of the end, turning an overflow into a "stack overflow" fatal error at the
 * next switch instead of silent corruption (best effort: an overflow that
 * jumps past the canary into the slot below is not caught). Slabs
 * themselves are one mapping per ~64 slots, so a million slots cost ~16k
 * mappings.
 *
 * Trimming. A goroutine that went deep leaves committed pages behind; before
 * its slot is reused, pages below the top GORT__TRIM_KEEP bytes are returned
 * with madvise(MADV_DONTNEED) if the lowest stack pointer observed at its
 * context switches shows they were used.
 *
 * Locking: pool_lock protects the free pool, the slab list and the guard
 * budget. Slots handed out are owned by their G.
 */
#include "engine.h"
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define GORT__HAVE_VALGRIND 1
#endif
#endif
#ifndef GORT__HAVE_VALGRIND
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif
#ifdef GORT__ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Before unmapping stack memory: clear ASan's poison on it. A goroutine
 * discarded mid-run (gort_shutdown with a preempted goroutine) leaves the
 * redzones of its live frames poisoned, and a later mmap at the same
 * address (the next gort_init's slabs) would inherit them. */
GORT__CORE static void stack_unpoison(void *lo, size_t bytes)
{
#ifdef GORT__ASAN
    __asan_unpoison_memory_region(lo, bytes);
#else
    (void)lo;
    (void)bytes;
#endif
}

#define GORT__SLAB_BYTES ((size_t)16 << 20)
#define GORT__TRIM_KEEP ((size_t)32 << 10)
#define GORT__CANARY_WORDS 8
#define GORT__CHECK_DEPTH ((uintptr_t)64 << 10)

typedef struct slab {
    struct slab *next;   /* pool.slabs list */
    void        *base;   /* mapping */
    size_t       bytes;
} slab;

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13+: a guard page that splits no mapping */
#endif

static struct {
    gort__lock lock;     /* protects everything below */
    size_t     slot_size; /* default slot size */
    gort__g   *free;     /* free default slots (linked by schedlink) */
    slab      *slabs;
    long       guards_left; /* mprotect guard pages we may still create */
    bool       light_guards; /* MADV_GUARD_INSTALL works: guard every slot for free */
    size_t     page;
} pool;

GORT__CORE size_t gort__page_size(void)
{
    if (!pool.page)
        pool.page = (size_t)sysconf(_SC_PAGESIZE);
    return pool.page;
}

GORT__CORE static long guard_budget(void)
{
    const char *env = getenv("GORT_STACK_GUARDS");
    if (env && *env)
        return atol(env);
    long max_maps = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &max_maps) != 1)
            max_maps = 65530;
        fclose(f);
    }
    return max_maps / 4;
}

GORT__CORE /* Does MADV_GUARD_INSTALL really guard? (An emulator may accept the advice
 * and ignore it.) A write(2) from a guarded page must fail with EFAULT:
 * the kernel reports the fault instead of delivering a signal. */
GORT__CORE static bool light_guards_work(void)
{
    size_t page = gort__page_size();
    char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    bool ok = false;
    int fds[2];
    if (madvise(p, page, MADV_GUARD_INSTALL) == 0 && pipe(fds) == 0) {
        ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
        close(fds[0]);
        close(fds[1]);
    }
    munmap(p, page);
    return ok;
}

void gort__stacks_init(size_t default_size)
{
    gort__page_size();
    const char *env = getenv("GORT_STACK_GUARDS");
    pool.light_guards = !(env && *env) && light_guards_work();
    pool.slot_size = default_size;
    pool.free = NULL;
    pool.slabs = NULL;
    pool.guards_left = guard_budget();
}

GORT__CORE static size_t g_header_size(void)
{
    return (sizeof(gort__g) + 63) & ~(size_t)63;
}

/* Lay out a fresh slot: G at the top, guard or canary at the bottom. */
GORT__CORE static gort__g *slot_init(void *lo, size_t size, bool guard, bool default_size)
{
    size_t page = gort__page_size();
    if (pool.light_guards)
        guard = madvise(lo, page, MADV_GUARD_INSTALL) == 0;
    else if (guard && mprotect(lo, page, PROT_NONE) != 0)
        guard = false;
    gort__g *g = (gort__g *)((char *)lo + size - g_header_size());
    memset(g, 0, sizeof *g);
    g->slot_lo = lo;
    g->slot_size = size;
    g->guarded = guard;
    g->default_size = default_size;
    char *stack_lo = (char *)lo + (guard ? page : GORT__CANARY_WORDS * sizeof(uint64_t));
    g->ctx.stack_lo = stack_lo;
    g->ctx.stack_size = (size_t)((char *)g - stack_lo);
    g->vg_stack_id = VALGRIND_STACK_REGISTER(stack_lo, (char *)g);
    return g; /* TSan fibers are created per goroutine (sched.c): TSan caps
                 threads + fibers at 8128, so idle slots must not hold one */
}

GORT__CORE static void slot_release_tools(gort__g *g)
{
    VALGRIND_STACK_DEREGISTER(g->vg_stack_id);
#ifdef GORT__TSAN
    if (g->ctx.tsan_owned)
        __tsan_destroy_fiber(g->ctx.tsan_fiber);
    g->ctx.tsan_owned = 0;
    g->ctx.tsan_fiber = NULL;
#endif
}

/* pool.lock held: map a slab and put its slots in the free pool. */
GORT__CORE static bool slab_new(void)
{
    size_t per = GORT__SLAB_BYTES / pool.slot_size;
    if (per == 0)
        per = 1;
    size_t bytes = per * pool.slot_size;
    void *base = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED)
        return false;
    slab *sl = malloc(sizeof *sl);
    if (!sl) {
        munmap(base, bytes);
        return false;
    }
    GORT__STAT(SLAB_NEW);
    sl->base = base;
    sl->bytes = bytes;
    sl->next = pool.slabs;
    pool.slabs = sl;
    /* Push in reverse so slots are handed out in address order. */
    for (size_t i = per; i-- > 0;) {
        bool guard = pool.guards_left > 0;
        if (guard)
            pool.guards_left--;
        gort__g *g = slot_init((char *)base + i * pool.slot_size, pool.slot_size, guard, true);
        g->schedlink = pool.free;
        pool.free = g;
    }
    return true;
}

GORT__CORE gort__g *gort__slot_alloc(size_t slot_size)
{
    if (slot_size == pool.slot_size) {
        gort__lock_acquire(&pool.lock);
        if (!pool.free && !slab_new()) {
            gort__lock_release(&pool.lock);
            return NULL;
        }
        gort__g *g = pool.free;
        pool.free = g->schedlink;
        gort__lock_release(&pool.lock);
        g->schedlink = NULL;
        return g;
    }
    void *lo = mmap(NULL, slot_size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (lo == MAP_FAILED)
        return NULL;
    return slot_init(lo, slot_size, true, false);
}

GORT__CORE int gort__slot_alloc_batch(gort__g **out, int max)
{
    gort__lock_acquire(&pool.lock);
    if (!pool.free && !slab_new()) {
        gort__lock_release(&pool.lock);
        return 0;
    }
    int n = 0;
    gort__g *head = pool.free, *tail = NULL;
    for (gort__g *g = head; g && n < max; g = g->schedlink) {
        tail = g;
        n++;
    }
    pool.free = tail->schedlink;
    gort__lock_release(&pool.lock);
    tail->schedlink = NULL;
    *out = head;
    return n;
}

GORT__CORE void gort__slot_free_batch(gort__g *head, gort__g *tail)
{
    gort__lock_acquire(&pool.lock);
    tail->schedlink = pool.free;
    pool.free = head;
    gort__lock_release(&pool.lock);
}

GORT__CORE void gort__slot_free(gort__g *g)
{
    if (g->default_size) {
        gort__lock_acquire(&pool.lock);
        g->schedlink = pool.free;
        pool.free = g;
        gort__lock_release(&pool.lock);
        return;
    }
    slot_release_tools(g);
    stack_unpoison(g->slot_lo, g->slot_size);
    munmap(g->slot_lo, g->slot_size);
}

GORT__CORE void gort__slot_trim(gort__g *g)
{
    uintptr_t top = (uintptr_t)g;
    if (g->lowest_sp && top - g->lowest_sp > GORT__TRIM_KEEP) {
        uintptr_t page = gort__page_size();
        uintptr_t lo = (uintptr_t)g->ctx.stack_lo;
        uintptr_t start = (lo + page - 1) & ~(page - 1);
        uintptr_t end = (top - GORT__TRIM_KEEP) & ~(page - 1);
        if (end > start)
            madvise((void *)start, end - start, MADV_DONTNEED);
    }
    g->lowest_sp = 0;
}

GORT__CORE void gort__stack_check(gort__g *g)
{
    /* Only stacks observed deep enough to be near their end: reading the
     * canary of a shallow stack would fault in a page for nothing. */
    if (g->guarded || g->lowest_sp - (uintptr_t)g->slot_lo > GORT__CHECK_DEPTH)
        return;
    const uint64_t *c = g->slot_lo;
    for (int i = 0; i < GORT__CANARY_WORDS; i++)
        if (c[i] != 0)
            gort__fatal("stack overflow in goroutine %llu (unguarded %zu-byte stack; "
                        "raise the stack size or GORT_STACK_GUARDS)",
                        (unsigned long long)g->id, g->slot_size);
}

GORT__CORE void *gort__stacks_forget(void)
{
    slab *dropped = pool.slabs; /* stays mapped */
    pool.lock = (gort__lock)GORT__LOCK_INIT;
    pool.slabs = NULL;
    pool.free = NULL;
    return dropped;
}

GORT__CORE void gort__stacks_destroy(void)
{
    /* Every G ever created is on sched.allg; custom-size ones that are still
     * alive are unmapped by sched.c. Here: the slabs and their slots. */
    for (slab *sl = pool.slabs, *next; sl; sl = next) {
        next = sl->next;
        for (size_t off = 0; off + pool.slot_size <= sl->bytes; off += pool.slot_size) {
            gort__g *g = (gort__g *)((char *)sl->base + off + pool.slot_size - g_header_size());
            slot_release_tools(g);
        }
        stack_unpoison(sl->base, sl->bytes);
        munmap(sl->base, sl->bytes);
        free(sl);
    }
    pool.slabs = NULL;
    pool.free = NULL;
}
