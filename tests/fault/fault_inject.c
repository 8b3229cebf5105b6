/*
 * fault_inject.c — link-time fault injector for the `fault` test stage.
 *
 * CONCEPT
 *
 * Every fault program is linked against libgort.a with
 *     -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,...
 * so that each reference to one of the wrapped functions from an object of
 * that link (libgort's objects and the fault program's own) resolves to the
 * __wrap_<name> defined here, which counts the call and passes it on to
 * __real_<name> (the C library, or the sanitizer's interceptor in the ASan
 * build). The C library's internal calls (getaddrinfo's mallocs, stdio) and
 * the sanitizer runtimes are not affected: they are not part of the link's
 * relocatable inputs. The program's own code makes none of these calls, so
 * the count is the number of resource acquisitions libgort made.
 *
 * With GORT_FAULT_N=N (N >= 1) in the environment, the Nth counted call
 * (over all wrapped functions, in the process-wide order the calls happen)
 * fails once, the way the real function fails when the resource runs out:
 *     malloc, calloc, realloc, aligned_alloc   -> NULL, errno ENOMEM
 *     posix_memalign                           -> ENOMEM
 *     mmap                                     -> MAP_FAILED, errno ENOMEM
 *     mprotect                                 -> -1, errno ENOMEM
 *     pthread_create                           -> EAGAIN
 *     eventfd, epoll_create1, pipe, pipe2      -> -1, errno EMFILE
 * Every other call succeeds: a one-shot, "transient" fault in SQLite's
 * terms, which checks that each failure path is handled and leaves the
 * library usable. With GORT_FAULT_PERSIST=1 every call from the Nth on
 * fails (the resource has run out for good, as under RLIMIT_AS or
 * RLIMIT_NPROC): that checks that nothing accepted is silently dropped
 * when no retry can succeed. realloc(p, 0) is never failed (it frees).
 *
 * REPORTING. If GORT_FAULT_FD names an open file descriptor, the injector
 * writes one line to it when it injects ("inject N <function> <offset> <object>",
 * offset = the return address relative to the object's load address, for
 * addr2line) and one at exit
 * ("calls <total>") from a destructor. The sweep driver (fault_sweep.c)
 * reads them through a pipe; a run whose program dies by a signal has no
 * "calls" line, which the driver does not need.
 *
 * CONCURRENCY. The counter is one atomic fetch-add per call: calls from
 * concurrent threads get distinct numbers, so exactly one call fails for a
 * given N, though which one may differ between runs when threads race
 * (the driver sweeps N up to the largest count any run reached).
 *
 * REJECTED ALTERNATIVES
 *   - LD_PRELOAD of a shared interposer: also catches the C library's and
 *     the sanitizer runtime's own internal allocations (and ASan's
 *     interceptors are themselves the preloaded malloc), so a failure could
 *     land in code gort does not own and cannot handle.
 *   - A test-only hook in src/ (gort__alloc() with a failure counter):
 *     needs every call site in the library changed and a hook that ships
 *     in the production library; --wrap needs no source change and tests
 *     the library exactly as it is built.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int   __real_posix_memalign(void **out, size_t align, size_t n);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int   __real_mprotect(void *addr, size_t len, int prot);
int   __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                            void *arg);
int   __real_eventfd(unsigned int initval, int flags);
int   __real_epoll_create1(int flags);
int   __real_pipe(int fds[2]);
int   __real_pipe2(int fds[2], int flags);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int   __wrap_posix_memalign(void **out, size_t align, size_t n);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int   __wrap_mprotect(void *addr, size_t len, int prot);
int   __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                            void *arg);
int   __wrap_eventfd(unsigned int initval, int flags);
int   __wrap_epoll_create1(int flags);
int   __wrap_pipe(int fds[2]);
int   __wrap_pipe2(int fds[2], int flags);

static _Atomic uint64_t calls;   /* counted calls so far (all functions) */
static uint64_t         fail_at; /* GORT_FAULT_N: the call to fail, 0 = none */
static bool             persist; /* GORT_FAULT_PERSIST=1: fail every call from fail_at on */
static int              report_fd = -1; /* GORT_FAULT_FD, or -1 */

/* Read the environment before main (and before any thread exists). */
__attribute__((constructor)) static void fault_setup(void)
{
    const char *n = getenv("GORT_FAULT_N");
    const char *fd = getenv("GORT_FAULT_FD");
    const char *p = getenv("GORT_FAULT_PERSIST");
    persist = p && strcmp(p, "1") == 0;
    if (n)
        fail_at = strtoull(n, NULL, 10);
    if (fd)
        report_fd = atoi(fd);
}

static void report(const char *line, int len)
{
    if (report_fd >= 0 && len > 0) {
        ssize_t ignored = write(report_fd, line, (size_t)len);
        (void)ignored;
    }
}

__attribute__((destructor)) static void fault_teardown(void)
{
    char line[64];
    report(line, snprintf(line, sizeof line, "calls %llu\n",
                          (unsigned long long)atomic_load(&calls)));
}

/* Count one call; true if this one must fail. */
static bool fault_hit(const char *fn, void *caller)
{
    uint64_t k = atomic_fetch_add(&calls, 1) + 1;
    if (fail_at == 0 || k < fail_at || (k > fail_at && !persist))
        return false;
    if (k > fail_at)
        return true; /* persistent: reported once, at the first */
    /* The caller as an offset into its object (stable across runs despite
     * ASLR: it names the call site, and addr2line resolves it). */
    Dl_info info;
    uintptr_t off = (uintptr_t)caller;
    const char *obj = "?";
    if (dladdr(caller, &info) && info.dli_fbase) {
        off -= (uintptr_t)info.dli_fbase;
        obj = info.dli_fname;
    }
    char line[512];
    report(line, snprintf(line, sizeof line, "inject %llu %s %#lx %s\n", (unsigned long long)k, fn,
                          (unsigned long)off, obj));
    return true;
}

#define HIT(name) fault_hit(name, __builtin_return_address(0))

void *__wrap_malloc(size_t n)
{
    if (HIT("malloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (HIT("calloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (n > 0 && HIT("realloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    if (HIT("aligned_alloc")) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_aligned_alloc(align, n);
}

int __wrap_posix_memalign(void **out, size_t align, size_t n)
{
    if (HIT("posix_memalign"))
        return ENOMEM;
    return __real_posix_memalign(out, align, n);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (HIT("mmap")) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return __real_mmap(addr, len, prot, flags, fd, off);
}

int __wrap_mprotect(void *addr, size_t len, int prot)
{
    if (HIT("mprotect")) {
        errno = ENOMEM;
        return -1;
    }
    return __real_mprotect(addr, len, prot);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg)
{
    if (HIT("pthread_create"))
        return EAGAIN;
    return __real_pthread_create(t, attr, fn, arg);
}

int __wrap_eventfd(unsigned int initval, int flags)
{
    if (HIT("eventfd")) {
        errno = EMFILE;
        return -1;
    }
    return __real_eventfd(initval, flags);
}

int __wrap_epoll_create1(int flags)
{
    if (HIT("epoll_create1")) {
        errno = EMFILE;
        return -1;
    }
    return __real_epoll_create1(flags);
}

int __wrap_pipe(int fds[2])
{
    if (HIT("pipe")) {
        errno = EMFILE;
        return -1;
    }
    return __real_pipe(fds);
}

int __wrap_pipe2(int fds[2], int flags)
{
    if (HIT("pipe2")) {
        errno = EMFILE;
        return -1;
    }
    return __real_pipe2(fds, flags);
}
