/* C side of test_native.py: native goroutines and C-made channels/promises
 * that talk to Python goroutines through the one engine (libgort.so.0). */
#include <gort.h>
#include <stdint.h>
#include <stdlib.h>

struct prod_arg { gort_chan *ch; int64_t n; };
struct pipe_arg { gort_chan *in; gort_chan *out; };
struct sum_arg  { gort_chan *in; gort_chan *done; int64_t sum; int64_t count; };
struct spin_arg { volatile int64_t counter; volatile int stop; gort_chan *done; };

/* sends 0..n-1 as int64_t on ch, then closes it */
void producer(void *arg) {
    struct prod_arg *a = arg;
    for (int64_t i = 0; i < a->n; i++)
        if (gort_chan_send(a->ch, &i) != 0)
            return;
    gort_chan_close(a->ch);
}

/* sends 0.5, 1.5, ... (n doubles) on ch, then closes it */
void dproducer(void *arg) {
    struct prod_arg *a = arg;
    for (int64_t i = 0; i < a->n; i++) {
        double d = (double)i + 0.5;
        if (gort_chan_send(a->ch, &d) != 0)
            return;
    }
    gort_chan_close(a->ch);
}

/* receives int64 from in until it is closed, sends 2x on out, closes out */
void doubler(void *arg) {
    struct pipe_arg *a = arg;
    int64_t v;
    while (gort_chan_recv(a->in, &v) == 0) {
        v *= 2;
        if (gort_chan_send(a->out, &v) != 0)
            return;
    }
    gort_chan_close(a->out);
}

/* sums int64 from in until closed; stores sum/count; closes done */
void summer(void *arg) {
    struct sum_arg *a = arg;
    int64_t v, s = 0, c = 0;
    while (gort_chan_recv(a->in, &v) == 0) {
        s += v;
        c++;
    }
    a->sum = s;
    a->count = c;
    gort_chan_close(a->done);
}

/* counts as fast as it can (no gort calls, no GIL) until told to stop */
void spinner(void *arg) {
    struct spin_arg *a = arg;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE))
        __atomic_fetch_add(&a->counter, 1, __ATOMIC_RELAXED);
    gort_chan_close(a->done);
}

gort_chan *make_chan_int64(size_t cap) { return gort_chan_make(sizeof(int64_t), cap); }
void release_chan(gort_chan *ch) { gort_chan_release(ch); }

gort_promise *make_resolved_promise(intptr_t v) {
    gort_promise *p = gort_promise_new();
    gort_promise_resolve(p, (void *)v, NULL);
    return p;
}
/* fulfilled with a malloc'd int64_t holding v (freed with the promise) */
static void *int64_box(int64_t v) {
    int64_t *b = malloc(sizeof *b);
    *b = v;
    return b;
}
gort_promise *make_int64_promise(int64_t v) {
    gort_promise *p = gort_promise_new();
    gort_promise_resolve(p, int64_box(v), free);
    return p;
}
gort_promise *make_null_promise(void) {
    gort_promise *p = gort_promise_new();
    gort_promise_resolve(p, NULL, NULL);
    return p;
}
gort_promise *make_rejected_promise(void) {
    gort_promise *p = gort_promise_new();
    gort_promise_reject(p, GORT_EINVAL, "native failure");
    return p;
}
gort_promise *make_pending_promise(void) { return gort_promise_new(); }
int resolve_promise_int64(gort_promise *p, int64_t v) { return gort_promise_resolve(p, int64_box(v), free); }
void release_promise(gort_promise *p) { gort_promise_release(p); }

static void square_fn(gort_promise *p, void *arg) {
    int64_t x = (int64_t)(intptr_t)arg;
    gort_sleep(GORT_MILLISECOND); /* a little work on the pool */
    gort_promise_resolve(p, int64_box(x * x), free);
}
gort_promise *async_square(int64_t x) { return gort_async(square_fn, (void *)(intptr_t)x); }

const char *lib_version_string(void) { return gort_version_string(); }
