/*
 * gilstate.c — CPython 3.10/3.11 only: keep the interpreter's "gilstate"
 * (the per-OS-thread pointer to "this thread's PyThreadState" that
 * PyGILState_Check, and through it the debug allocators of -X dev /
 * PYTHONMALLOC=debug, compare the running tstate with) pointing at the
 * goroutine whose tstate was just made current on the executor thread.
 *
 * Why: every Python goroutine has a tstate of its own on the one executor
 * thread (csrc/gortpy.c). 3.10/3.11 bind the gilstate to the *first* tstate
 * made on a thread and never move it, so inside a goroutine
 * PyGILState_Check() is false and -X dev aborts ("Python memory allocator
 * called without holding the GIL"). 3.12+ rebind the gilstate on every
 * activation of a tstate (tstate_activate -> bind_gilstate_tstate): this
 * file does the same for the older versions, at the points where
 * gortpy.c makes a tstate current (gortpy_gilstate_bind after every
 * PyEval_RestoreThread). A tstate being deleted unbinds itself (CPython
 * clears the mapping when it points at the deleted tstate).
 *
 * This is the only translation unit compiled with Py_BUILD_CORE: it reads
 * _PyRuntime.gilstate.autoTSSkey with the layout of the installed internal
 * headers of that very version, so the offset is right by construction.
 * Rejected: finding the pthread key by scanning values (guesswork);
 * disabling the check (hides real GIL bugs, which -X dev is there to find).
 */
#include <patchlevel.h> /* PY_VERSION_HEX, before Python.h sees Py_BUILD_CORE */
#if PY_VERSION_HEX < 0x030C0000 && !defined(Py_BUILD_CORE)
#define Py_BUILD_CORE
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030C0000
#include <internal/pycore_runtime.h>

void gortpy_gilstate_bind(PyThreadState *ts)
{
    Py_tss_t *key = &_PyRuntime.gilstate.autoTSSkey;
    if (PyThread_tss_is_created(key) && PyThread_tss_get(key) != ts)
        PyThread_tss_set(key, ts);
}
#else
void gortpy_gilstate_bind(PyThreadState *ts)
{
    (void)ts; /* 3.12+ rebinds on every activation */
}
#endif
