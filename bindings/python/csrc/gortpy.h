/* gortpy.h — sync objects of gort's Python binding: each wraps a gort
 * primitive with the bookkeeping that turns misuse (which gort turns into a
 * fatal error, as Go panics) into a Python exception. The bookkeeping is
 * only touched by gort._native calls holding the GIL, so the GIL guards it.
 * Declared to cffi too (gort_build.py), which allocates them (ffi.new). */
#ifndef GORTPY_H
#define GORTPY_H
#include <gort.h>

typedef struct gortpy_wg {
    gort_wg wg;
    int64_t count;    /* the counter as Python sees it (never < 0) */
} gortpy_wg;

typedef struct gortpy_mutex {
    gort_mutex mu;
    int        locked; /* 1 between a successful lock and its unlock */
} gortpy_mutex;

typedef struct gortpy_rwmutex {
    gort_rwmutex rw;
    int64_t      readers; /* read locks held */
    int          writer;  /* 1 while write-locked */
} gortpy_rwmutex;

typedef struct gortpy_sem {
    gort_sem sem;
    int64_t  capacity;
    int64_t  held;     /* units acquired and not released */
} gortpy_sem;

int gortpy_init(void);
#endif
