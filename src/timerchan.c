/*
 * timerchan.c — timer channels: gort_after (Go's time.After) and tickers
 * (time.NewTicker), built from an engine timer (internal.h, timer.c) whose
 * callback does a non-blocking send of gort_now() on a channel of int64_t
 * with capacity 1.
 *
 * CONCEPTS
 *
 *   A gort__timerchan couples an engine timer with the channel it feeds.
 *   The callback runs on an engine thread's scheduler context and must not
 *   block, so it uses gort_chan_try_send: if the single buffer slot is still
 *   full (nobody read the previous tick) the new tick is dropped — exactly
 *   Go's ticker behaviour for slow readers ("adjusts the intervals or drops
 *   ticks to make up for slow receivers"). A parked receiver gets the value
 *   by direct hand-off, i.e. the callback readies it.
 *
 * OWNERSHIP AND LIFETIME
 *
 *   gort_after: the *channel* owns the timerchan (ch->timer). The caller
 *   gets the only user reference; the timer holds none. When the last
 *   reference goes (chan.c's gort_chan_release), gort__timerchan_destroy
 *   stops the timer — gort__timer_stop waits for a callback that is running
 *   on another thread, so the callback never sees freed memory — then frees
 *   it. Why the timer holds no reference: then a gort_after channel that
 *   is dropped unread is freed at once (no memory pinned until a far
 *   deadline, like Go 1.23's collectable timers), and the callback never
 *   has to free anything itself (timer.c may still touch the timer after
 *   the callback returns, so freeing from inside it would be unsafe).
 *   A receiver blocked on the channel holds its own reference (chan.c, I4),
 *   so the channel — and with it the timer — stays alive until it fires.
 *
 *   Ticker: the gort_timer object owns the timer and one channel reference;
 *   gort_ticker_chan lends the channel; gort_ticker_stop stops the timer
 *   (waiting out a running callback), drops the reference and frees the
 *   object. As in Go, stopping does not close the channel: a goroutine
 *   still blocked on it stays blocked (with its own reference) — use a
 *   select with another channel or a deadline. A caller that wants the
 *   channel to outlive the ticker retains it.
 *
 *   Shutdown: gort_shutdown disposes of armed timers (the `dispose` hook),
 *   which here only records that the engine no longer knows the timer, so a
 *   later release/stop frees memory without calling into a dead engine.
 *
 * LOCKING
 *
 *   No lock of its own: the timer is the engine's business (timer.c), the
 *   channel's state the channel lock's. `disposed` is atomic because
 *   shutdown writes it on another thread.
 *
 * REJECTED ALTERNATIVES
 *
 *   - Go >= 1.23 unbuffered timer channels (a send happens only when a
 *     receiver is ready, so a stale tick is never observed after Reset):
 *     needs the timer to be driven from the channel's receive path; the
 *     brief (and Go <= 1.22) specify a buffered slot of 1, which keeps the
 *     engine timer fully independent of the channel code.
 *   - A dedicated timer thread sending blocking: costs a thread and breaks
 *     the rule that timer callbacks never block.
 */
#include "chan.h"

#include <stdlib.h>

struct gort__timerchan {
    gort__timer      timer;    /* engine timer; fn = tc_fire, arg = this */
    gort_chan       *ch;       /* channel fed by the timer (gort_after: our
                                  owner, no reference; ticker: one reference) */
    _Atomic uint32_t disposed; /* 1: gort_shutdown dropped the armed timer,
                                  the engine no longer knows it */
};

/* The ticker handle (opaque in gort.h). */
struct gort_timer {
    gort__timerchan tc;
};

static void tc_fire(gort__timer *t, int64_t now)
{
    gort__timerchan *tc = t->arg;
    (void)now;
    int64_t v = gort_now();
    /* Full slot (slow reader) or closed by the user: drop the tick. We hold
     * no reference (see OWNERSHIP), hence the _noref variant. */
    (void)gort__chan_try_send_noref(tc->ch, &v);
}

static void tc_dispose(gort__timer *t)
{
    gort__timerchan *tc = t->arg;
    atomic_store_explicit(&tc->disposed, 1, memory_order_release);
}

/* Disarm tc's timer unless the engine has already forgotten it. */
static void tc_stop(gort__timerchan *tc)
{
    if (!atomic_load_explicit(&tc->disposed, memory_order_acquire) && gort_initialized())
        (void)gort__timer_stop(&tc->timer);
}

static int64_t deadline_after(int64_t ns)
{
    return gort__deadline_add(gort_now(), ns);
}

static int tc_start(gort__timerchan *tc, int64_t first, int64_t period)
{
    tc->timer.when = first;
    tc->timer.period = period;
    tc->timer.fn = tc_fire;
    tc->timer.arg = tc;
    tc->timer.dispose = tc_dispose;
    atomic_init(&tc->disposed, 0);
    return gort__timer_start(&tc->timer);
}

void gort__timerchan_destroy(gort__timerchan *tc)
{
    tc_stop(tc);
    free(tc);
}

gort_chan *gort_after(int64_t ns)
{
    if (!gort_initialized())
        return NULL;
    gort_chan *ch = gort_chan_make(sizeof(int64_t), 1);
    if (ch == NULL)
        return NULL;
    if (ns <= 0) {
        /* Already due: the value is there when we return. */
        int64_t v = gort_now();
        (void)gort_chan_try_send(ch, &v);
        return ch;
    }
    gort__timerchan *tc = calloc(1, sizeof *tc);
    if (tc == NULL) {
        gort_chan_release(ch);
        return NULL;
    }
    tc->ch = ch;
    ch->timer = tc; /* before start: the channel is not shared yet */
    if (tc_start(tc, deadline_after(ns), 0) != 0) {
        ch->timer = NULL;
        free(tc);
        gort_chan_release(ch);
        return NULL;
    }
    return ch;
}

gort_timer *gort_ticker_new(int64_t period_ns)
{
    if (period_ns <= 0 || !gort_initialized())
        return NULL;
    gort_timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->tc.ch = gort_chan_make(sizeof(int64_t), 1);
    if (t->tc.ch == NULL) {
        free(t);
        return NULL;
    }
    if (tc_start(&t->tc, deadline_after(period_ns), period_ns) != 0) {
        gort_chan_release(t->tc.ch);
        free(t);
        return NULL;
    }
    return t;
}

gort_chan *gort_ticker_chan(gort_timer *t)
{
    return t != NULL ? t->tc.ch : NULL;
}

void gort_ticker_stop(gort_timer *t)
{
    if (t == NULL)
        return;
    tc_stop(&t->tc);
    gort_chan_release(t->tc.ch);
    free(t);
}
