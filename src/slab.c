/*
 * slab.c — fixed-size blocks carved from shared chunks.
 *
 * Concepts
 *   - A then-chain allocates one block per link (promise.c's then_block:
 *     the promise then() returns and its reaction) and frees them in the
 *     same order, a million at a time: the C library's allocator then pays
 *     ~230 instructions per calloc and ~190 per free (the freed blocks
 *     overflow its per-thread cache and are coalesced one by one), a third
 *     of a link's cost (callgrind, bench/promise_chain). The same goes for
 *     the inputs of a big gort_promise_all and their combinator nodes.
 *     promise.c therefore takes its promises, then() blocks and internal
 *     nodes from the running loop's slabs (one per kind, loop.c) when made
 *     on a loop's thread.
 *   - A chunk is one malloc holding GORT__SLAB_BLOCKS blocks. Its owner
 *     slab carves blocks out of it in address order (a bump of `carved`)
 *     and never reuses one: a chunk goes back to the heap, with one free,
 *     when every block carved from it has been freed and the slab has moved
 *     on. No free list, so nothing to cap and no memory kept beyond the
 *     chunks that still hold a live block; a block can be freed on any
 *     thread without reaching back to the slab (or its loop, which may be
 *     gone by then).
 *   - Each block is preceded by a pointer to its chunk. A block from the
 *     heap (gort__slab_alloc with no slab: a promise made on a thread that
 *     runs no loop) has the same layout with a NULL chunk, so
 *     gort__slab_free needs no other hint.
 *   - Allocation failure stays visible: a chunk is a plain malloc, made
 *     when the first block is needed (never in advance), so the first
 *     allocation on a loop's thread, and every GORT__SLAB_BLOCKS-th, is a
 *     malloc that the fault-injection sweep can fail.
 *   - Blocks are zeroed as they are carved (calloc'ing the chunk would
 *     clear it with `rep stosb`, and clear blocks never carved).
 *
 * Invariant: chunk->live = blocks not yet carved + blocks carved and not
 * yet freed + 1 while a slab carves it. So it is GORT__SLAB_BLOCKS + 1 at
 * birth, each free subtracts 1, and the slab subtracts the uncarved rest
 * plus its own 1 when it moves on: it reaches 0 exactly when the chunk is
 * empty and abandoned, on whichever thread does the last subtraction. No
 * atomic operation per carve.
 *
 * Memory ordering: the subtractions are acq_rel (a refcount's release):
 * every use of every block happens before the chunk's free.
 *
 * Cost: one chunk per GORT__SLAB_BLOCKS blocks; a single long-lived block
 * keeps its whole chunk (at most GORT__SLAB_BLOCKS - 1 dead neighbours'
 * worth: ~3 KB for then() blocks, ~1.8 KB for promises) allocated until it
 * is freed; a program keeping one promise in 16 for good uses 16 times the
 * memory for those.
 *
 * Checkers: a freed block is poisoned for ASan and made inaccessible for
 * Valgrind's memcheck, so a use after free of a block is still reported
 * although its chunk is still allocated; a leaked block shows as its
 * leaked chunk.
 *
 * Rejected alternatives: a per-loop free list of blocks (a then-chain
 * builds all its links before any is freed, so any cap is exceeded at
 * once; and a block freed on another thread, after its loop, has no list
 * to go back to); carving without a chunk pointer, by aligning chunks
 * (aligned_alloc wastes up to a chunk per chunk in the C library's
 * allocator).
 */
#include "slab.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h> /* ASAN_POISON_MEMORY_REGION: no-op without ASan */
#endif
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#endif
#if defined(GORT_HAVE_VALGRIND_H) && GORT_HAVE_VALGRIND_H
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_NOACCESS(addr, size) ((void)(addr), (void)(size))
#endif

/* Blocks per chunk: amortises one malloc and one free over this many. */
#define GORT__SLAB_BLOCKS 16

struct gort__slab_chunk {
    _Atomic size_t live;   /* see the invariant above */
    size_t         carved; /* blocks handed out (the carving slab's thread) */
    size_t         stride; /* bytes per block, its chunk pointer included (immutable) */
    alignas(GORT__SLAB_ALIGN) unsigned char mem[]; /* GORT__SLAB_BLOCKS blocks */
};

/* What precedes every block. */
typedef struct block_head {
    gort__slab_chunk *chunk; /* NULL: a block of its own from the heap */
} block_head;

static void chunk_sub(gort__slab_chunk *c, size_t n)
{
    if (atomic_fetch_sub_explicit(&c->live, n, memory_order_acq_rel) == n)
        free(c);
}

void *gort__slab_alloc(gort__slab *s, size_t size)
{
    size_t stride = sizeof(block_head) + (size + GORT__SLAB_ALIGN - 1) / GORT__SLAB_ALIGN *
                                             GORT__SLAB_ALIGN;
    if (!s) {
        block_head *h = calloc(1, stride);
        return h ? h + 1 : NULL;
    }
    gort__slab_chunk *c = s->cur;
    if (!c || c->carved == GORT__SLAB_BLOCKS || c->stride != stride) {
        gort__slab_chunk *fresh = malloc(sizeof *fresh + GORT__SLAB_BLOCKS * stride);
        if (!fresh)
            return NULL;
        atomic_init(&fresh->live, GORT__SLAB_BLOCKS + 1);
        fresh->carved = 0;
        fresh->stride = stride;
        gort__slab_release(s);
        s->cur = c = fresh;
    }
    block_head *h = (block_head *)(void *)(c->mem + c->carved++ * stride);
    memset(h, 0, stride); /* zeroed as carved (see Concepts) */
    h->chunk = c;
    return h + 1;
}

void gort__slab_free(void *block)
{
    if (!block)
        return;
    block_head *h = (block_head *)block - 1;
    gort__slab_chunk *c = h->chunk;
    if (!c) {
        free(h);
        return;
    }
    ASAN_POISON_MEMORY_REGION(h, c->stride);
    VALGRIND_MAKE_MEM_NOACCESS(h, c->stride);
    chunk_sub(c, 1);
}

void gort__slab_release(gort__slab *s)
{
    gort__slab_chunk *c = s->cur;
    if (c) {
        s->cur = NULL;
        chunk_sub(c, GORT__SLAB_BLOCKS - c->carved + 1);
    }
}
