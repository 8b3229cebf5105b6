/*
 * slab.h — fixed-size blocks carved from shared chunks, for objects an event
 * loop's thread makes by the million (promise.c's promises and reaction
 * nodes). See slab.c.
 */
#ifndef GORT_SLAB_H
#define GORT_SLAB_H

#include "internal.h"

/* What a block's address is aligned to (a chunk pointer precedes it). */
#define GORT__SLAB_ALIGN sizeof(void *)

typedef struct gort__slab_chunk gort__slab_chunk;

/* A slab: the chunk its owner carves blocks from. Zero-initialised = empty.
 * Only one thread at a time uses a slab (its owner: a loop's running
 * thread); blocks may be freed on any thread. */
typedef struct gort__slab {
    gort__slab_chunk *cur; /* chunk being carved, or NULL */
} gort__slab;

/* A zeroed block of `size` bytes, aligned to GORT__SLAB_ALIGN; from the
 * slab's current chunk, or a new chunk (one malloc per GORT__SLAB_BLOCKS
 * blocks). s == NULL: a block of its own from the heap (one calloc). NULL
 * when out of memory. */
void *gort__slab_alloc(gort__slab *s, size_t size);
/* Free a block from gort__slab_alloc (any thread). */
void gort__slab_free(void *block);
/* The owner is done with s (its blocks stay valid until freed). */
void gort__slab_release(gort__slab *s);

/* What a loop keeps a slab for (promise.c's objects, one size each). */
enum {
    GORT__SLAB_THEN,    /* then() blocks: promise + USER node */
    GORT__SLAB_PROMISE, /* gort_promise_new's promises */
    GORT__SLAB_NODE,    /* internal reaction nodes (adopt, combinator, to_chan) */
    GORT__SLAB_KINDS
};

/* loop.c: the slab of `kind` of `loop` if the caller is the loop's
 * running thread (the slabs' owner), else NULL (allocate from the heap). */
gort__slab *gort__loop_slab(gort_loop *loop, int kind);

#endif /* GORT_SLAB_H */
