/*
 * consumer.c — a tiny program built against an *installed* gort, once through
 * pkg-config and once through find_package(gort) (see run-consumers.sh).
 * It checks that the header and the library agree on the version and that
 * goroutines, a channel and a wait group work end to end, and that a native
 * call on the pool works (it needs libffi at link time: the static consumers
 * get it from the package's dependency) unless gort was built without it.
 */
#include <gort.h>

#include <stdio.h>
#include <string.h>

#define N 1000

struct state {
    gort_chan *ch;
    gort_wg    wg;
    long long  sum;
    int        native; /* 0: native call checked; GORT_ENOSYS: built without libffi */
};

static long long triple(long long v)
{
    return 3 * v;
}

/* gort_call_async("long long(long long)") on the pool, awaited. */
static int native_call(void)
{
    gort_sig *sig;
    int rc = gort_sig_new(&sig, "long long triple(long long)");
    if (rc)
        return rc;
    long long v = -14;
    gort_promise *p = gort_call_async(sig, (void (*)(void))triple, (void *[]){&v});
    rc = !p ? GORT_ENOMEM : gort_await(p);
    if (rc == 0 && *(long long *)gort_promise_value(p) != -42)
        rc = GORT_ERANGE;
    gort_promise_release(p);
    gort_sig_free(sig);
    return rc;
}

static void producer(void *arg)
{
    struct state *s = arg;
    for (int i = 1; i <= N; i++)
        gort_chan_send(s->ch, &i);
    gort_wg_done(&s->wg);
}

static void closer(void *arg)
{
    struct state *s = arg;
    gort_wg_wait(&s->wg);
    gort_chan_close(s->ch);
}

static void main_g(void *arg)
{
    struct state *s = arg;
    s->ch = gort_chan_make(sizeof(int), 16);
    if (!s->ch)
        return;
    gort_wg_add(&s->wg, 2);
    gort_go(producer, s);
    gort_go(producer, s);
    gort_go(closer, s);
    int v;
    while (gort_chan_recv(s->ch, &v) == 0)
        s->sum += v;
    gort_chan_release(s->ch);
    s->native = native_call();
}

int main(void)
{
    if (gort_version() != GORT_VERSION_HEX) {
        fprintf(stderr, "consumer: header says %#x, library says %#x\n", GORT_VERSION_HEX,
                gort_version());
        return 1;
    }
    static struct state s = {.wg = GORT_WG_INIT};
    int rc = gort_main(main_g, &s);
    long long want = 2LL * N * (N + 1) / 2;
    if (rc != 0 || s.sum != want || (s.native != 0 && s.native != GORT_ENOSYS)) {
        fprintf(stderr, "consumer: gort_main=%d (%s), sum=%lld, want %lld, native call %s\n", rc,
                gort_strerror(rc), s.sum, want, gort_err_name(s.native));
        return 1;
    }
    printf("consumer ok: gort %s, sum %lld, native call %s\n", gort_version_string(), s.sum,
           s.native ? "not built (GORT_WITH_FFI=OFF)" : "ok");
    return 0;
}
