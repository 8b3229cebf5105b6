/*
 * consumer.c — a tiny program built against an *installed* gort, once through
 * pkg-config and once through find_package(gort) (see run-consumers.sh).
 * It checks that the header and the library agree on the version and that
 * goroutines, a channel and a wait group work end to end.
 */
#include <gort.h>

#include <stdio.h>
#include <string.h>

#define N 1000

struct state {
    gort_chan *ch;
    gort_wg    wg;
    long long  sum;
};

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
    if (rc != 0 || s.sum != want) {
        fprintf(stderr, "consumer: gort_main=%d (%s), sum=%lld, want %lld\n", rc,
                gort_strerror(rc), s.sum, want);
        return 1;
    }
    printf("consumer ok: gort %s, sum %lld\n", gort_version_string(), s.sum);
    return 0;
}
