/*
 * gls.c — goroutine-local storage (pthread_key_t for goroutines).
 *
 * Keys are process-wide slots 0..GORT_KEYS_MAX-1 handed out from a bitmap.
 * A goroutine keeps keys 0..GORT__GLS_INLINE-1 inside its G (no allocation
 * for the common case of a binding or two) and the rest in an array
 * allocated on first use and kept with the G slot for reuse. On a foreign
 * thread the values live in a thread-local array (destructors do not run
 * there: the thread is not ours to watch).
 *
 * At goroutine exit the destructors of non-NULL values run on the
 * goroutine's own stack (so they may call gort functions, even block), up to
 * GORT__GLS_PASSES rounds in case destructors set values again (POSIX's
 * PTHREAD_DESTRUCTOR_ITERATIONS rule).
 *
 * Locking: keys_lock protects the bitmap and the destructor table for
 * create/delete; get/set touch only the calling goroutine's own slots.
 * Rejected: a hash map keyed by (goroutine, key) — a lock and a lookup on
 * every access for no gain.
 */
#include "engine.h"

#include <stdlib.h>

#define GORT__GLS_PASSES 4

static gort__lock keys_lock;
static _Atomic bool key_used[GORT_KEYS_MAX];          /* written under keys_lock */
static void (*_Atomic key_dtor[GORT_KEYS_MAX])(void *); /* written under keys_lock */
static __thread void *foreign_values[GORT_KEYS_MAX];

GORT__CORE GORT_API int gort_key_create(gort_key *key, void (*destructor)(void *))
{
    if (!key)
        return GORT_EINVAL;
    gort__lock_acquire(&keys_lock);
    for (int k = 0; k < GORT_KEYS_MAX; k++) {
        if (!key_used[k]) {
            key_used[k] = true;
            atomic_store(&key_dtor[k], destructor);
            gort__lock_release(&keys_lock);
            *key = k;
            return 0;
        }
    }
    gort__lock_release(&keys_lock);
    return GORT_EAGAIN;
}

GORT__CORE GORT_API int gort_key_delete(gort_key key)
{
    if (key < 0 || key >= GORT_KEYS_MAX)
        return GORT_EINVAL;
    gort__lock_acquire(&keys_lock);
    bool used = key_used[key];
    key_used[key] = false;
    atomic_store(&key_dtor[key], NULL);
    gort__lock_release(&keys_lock);
    return used ? 0 : GORT_EINVAL;
}

/* Where key's value lives for the caller; NULL (with *err set) if it cannot. */
GORT__CORE static void **slot_of(gort_key key, bool create, int *err)
{
    if (key < 0 || key >= GORT_KEYS_MAX || !atomic_load_explicit(&key_used[key], memory_order_relaxed)) {
        *err = GORT_EINVAL;
        return NULL;
    }
    gort__g *g = gort__current();
    if (!g)
        return &foreign_values[key];
    if (key < GORT__GLS_INLINE)
        return &g->gls[key];
    if (!g->gls_ext) {
        if (!create) {
            *err = 0;
            return NULL;
        }
        g->gls_ext = calloc(GORT_KEYS_MAX - GORT__GLS_INLINE, sizeof(void *));
        if (!g->gls_ext) {
            *err = GORT_ENOMEM;
            return NULL;
        }
    }
    return &g->gls_ext[key - GORT__GLS_INLINE];
}

GORT__CORE GORT_API int gort_setspecific(gort_key key, void *value)
{
    int err = 0;
    void **slot = slot_of(key, value != NULL, &err);
    if (!slot)
        return err;
    *slot = value;
    return 0;
}

GORT__CORE GORT_API void *gort_getspecific(gort_key key)
{
    int err = 0;
    void **slot = slot_of(key, false, &err);
    return slot ? *slot : NULL;
}

GORT__CORE static GORT__NOINLINE void gls_destroy_values(gort__g *g);

GORT__CORE void gort__gls_destroy(gort__g *g)
{
    /* Most goroutines never set a value: nothing to run or clear. */
    uintptr_t any = (uintptr_t)g->gls_ext;
    for (int k = 0; k < GORT__GLS_INLINE; k++)
        any |= (uintptr_t)g->gls[k];
    if (any)
        gls_destroy_values(g);
}

GORT__CORE static GORT__NOINLINE void gls_destroy_values(gort__g *g)
{
    for (int pass = 0; pass < GORT__GLS_PASSES; pass++) {
        bool any = false;
        for (int k = 0; k < GORT_KEYS_MAX; k++) {
            void **slot = k < GORT__GLS_INLINE ? &g->gls[k]
                          : g->gls_ext       ? &g->gls_ext[k - GORT__GLS_INLINE]
                                             : NULL;
            if (!slot) {
                if (k >= GORT__GLS_INLINE)
                    break;
                continue;
            }
            void *v = *slot;
            if (!v)
                continue;
            *slot = NULL;
            void (*dtor)(void *) = atomic_load(&key_dtor[k]);
            if (dtor) {
                dtor(v);
                any = true;
            }
        }
        if (!any)
            break;
    }
    /* Values without destructors are simply dropped. */
    for (int k = 0; k < GORT__GLS_INLINE; k++)
        g->gls[k] = NULL;
    if (g->gls_ext)
        for (int k = 0; k < GORT_KEYS_MAX - GORT__GLS_INLINE; k++)
            g->gls_ext[k] = NULL;
}
