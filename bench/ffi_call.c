/*
 * ffi_call — cost of a native call through gort's libffi layer (src/ffi.c).
 *
 * The function is int64_t add2(int64_t, int64_t) (not inlined, called
 * through a volatile pointer). Metrics, per call:
 *   direct_ns      a plain C call through the function pointer
 *   ffi_call_ns    libffi's ffi_call alone, with a cif prepared once
 *   gort_call_ns   gort_call (checks + ffi_call + result narrowing)
 *   async_rt_ns    gort_call_async + gort_await + release, one at a time,
 *                  from a goroutine (copy args, spawn, gort_blocking, settle)
 *   tramp_rt_ns    the same round trip through gort_async and a hand-written
 *                  trampoline that calls add2 inside gort_blocking and
 *                  resolves with a malloc'd copy (what gort_call_async saves
 *                  a C programmer from writing)
 * The three sync metrics are CPU time of the calling thread
 * (CLOCK_THREAD_CPUTIME_ID), so a loaded machine that deschedules the loop
 * does not inflate them; the round trips span threads and are wall time.
 * No Go twin (cgo is the Go counterpart; the benchmarks are CGO_ENABLED=0).
 *
 * usage: ffi_call [sync-calls] [async-round-trips]
 */
#include "bench.h"

#include <ffi.h>
#include <time.h>

static long long g_sync, g_async;
static double g_async_ns, g_tramp_ns;

__attribute__((noinline)) static int64_t add2(int64_t a, int64_t b)
{
    __asm__ volatile("" ::: "memory");
    return a + b;
}

static int64_t (*volatile g_fp)(int64_t, int64_t) = add2;
static gort_sig *g_sig;

/* CPU time of this thread, ns. */
static int64_t cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double per_call(int64_t t0, int64_t t1, long long n)
{
    return (double)(t1 - t0) / (double)n;
}

static void check(int64_t got, int64_t want, const char *what)
{
    if (got != want)
        bench_die("%s: got %lld, want %lld", what, (long long)got, (long long)want);
}

/* ---- sync ---- */

static double bench_direct(void)
{
    int64_t acc = 0, t0 = cpu_now();
    for (long long i = 0; i < g_sync; i++)
        acc += g_fp(i, 1);
    int64_t t1 = cpu_now();
    check(acc, g_sync * (g_sync - 1) / 2 + g_sync, "direct");
    return per_call(t0, t1, g_sync);
}

static double bench_ffi_call(void)
{
    ffi_cif cif;
    ffi_type *at[2] = {&ffi_type_sint64, &ffi_type_sint64};
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint64, at) != FFI_OK)
        bench_die("ffi_prep_cif failed");
    int64_t a, b = 1, acc = 0;
    void *args[2] = {&a, &b};
    ffi_arg r;
    int64_t t0 = cpu_now();
    for (long long i = 0; i < g_sync; i++) {
        a = i;
        ffi_call(&cif, FFI_FN(g_fp), &r, args);
        acc += (int64_t)r;
    }
    int64_t t1 = cpu_now();
    check(acc, g_sync * (g_sync - 1) / 2 + g_sync, "ffi_call");
    return per_call(t0, t1, g_sync);
}

static double bench_gort_call(void)
{
    int64_t a, b = 1, r, acc = 0;
    void *args[2] = {&a, &b};
    int64_t t0 = cpu_now();
    for (long long i = 0; i < g_sync; i++) {
        a = i;
        if (gort_call(g_sig, (void (*)(void))g_fp, args, &r) != 0)
            bench_die("gort_call failed");
        acc += r;
    }
    int64_t t1 = cpu_now();
    check(acc, g_sync * (g_sync - 1) / 2 + g_sync, "gort_call");
    return per_call(t0, t1, g_sync);
}

/* ---- async round trips ---- */

typedef struct tramp_args {
    int64_t a, b, *out;
} tramp_args;

static void tramp_call(void *arg)
{
    tramp_args *t = arg;
    *t->out = g_fp(t->a, t->b);
}

static void tramp(gort_promise *p, void *arg)
{
    tramp_args *t = arg;
    t->out = malloc(sizeof *t->out);
    if (!t->out)
        bench_die("malloc failed");
    gort_blocking(tramp_call, t);
    gort_promise_resolve(p, t->out, free);
}

static void bench_async(void *arg)
{
    (void)arg;
    int64_t acc = 0, a, b = 1;
    void *args[2] = {&a, &b};
    int64_t t0 = gort_now();
    for (long long i = 0; i < g_async; i++) {
        a = i;
        gort_promise *p = gort_call_async(g_sig, (void (*)(void))g_fp, args);
        if (!p || gort_await(p) != 0)
            bench_die("gort_call_async failed");
        acc += *(int64_t *)gort_promise_value(p);
        gort_promise_release(p);
    }
    int64_t t1 = gort_now();
    check(acc, g_async * (g_async - 1) / 2 + g_async, "gort_call_async");
    g_async_ns = per_call(t0, t1, g_async);

    acc = 0;
    tramp_args ta = {.b = 1};
    t0 = gort_now();
    for (long long i = 0; i < g_async; i++) {
        ta.a = i;
        gort_promise *p = gort_async(tramp, &ta);
        if (!p || gort_await(p) != 0)
            bench_die("gort_async failed");
        acc += *(int64_t *)gort_promise_value(p);
        gort_promise_release(p);
    }
    t1 = gort_now();
    check(acc, g_async * (g_async - 1) / 2 + g_async, "gort_async trampoline");
    g_tramp_ns = per_call(t0, t1, g_async);
}

int main(int argc, char **argv)
{
    g_sync = bench_arg(argc, argv, 1, 20000000);
    g_async = bench_arg(argc, argv, 2, 200000);
    int rc = gort_sig_new(&g_sig, "int64_t add2(int64_t, int64_t)");
    if (rc != 0)
        bench_die("gort_sig_new: %s", gort_err_name(rc));
    double direct = bench_direct();
    double ffi = bench_ffi_call();
    double gc = bench_gort_call();
    bench_main(bench_async, NULL);
    gort_sig_free(g_sig);
    bench_result("direct_ns", direct, "ns");
    bench_result("ffi_call_ns", ffi, "ns");
    bench_result("gort_call_ns", gc, "ns");
    bench_result("async_rt_ns", g_async_ns, "ns");
    bench_result("tramp_rt_ns", g_tramp_ns, "ns");
    return 0;
}
