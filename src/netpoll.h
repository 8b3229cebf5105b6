/*
 * netpoll.h — the contract between the scheduler and a network-poller
 * backend (netpoll_epoll.c on Linux; kqueue / io_uring backends implement
 * the same four functions in files of their own).
 *
 * The backend owns the kernel object (an epoll instance plus an eventfd used
 * to break a blocking wait) and the per-fd poll descriptors; it creates them
 * lazily, on the first fd registered, so a program without I/O pays nothing.
 * Goroutines (and foreign threads) wait for readiness through the backend's
 * own waiters (io.c); when the poller reports an fd ready, the backend
 * completes those waiters with gort__waiter_claim/gort__waiter_wake, which
 * readies the goroutines (onto the calling M's P, or the global queue when
 * the caller holds no P).
 *
 * The scheduler calls:
 *   - gort__netpoll_pending(): are goroutines waiting for I/O? A cheap atomic
 *     read; the scheduler only polls when it is true.
 *   - gort__netpoll_poll(until): collect ready events and complete their
 *     waiters. until == GORT_NOWAIT: do not block; GORT_FOREVER: block until
 *     an event or a break; else block until that absolute gort_now() time.
 *     Returns the number of waiters completed. Several threads may call it
 *     at once with GORT_NOWAIT; at most one thread (the scheduler's poller)
 *     blocks in it at a time. A GORT_NOWAIT call from a thread without
 *     a P (sysmon) returns 0 at once while the poller is blocked in epoll:
 *     the poller harvests the events.
 *   - gort__netpoll_break(): make a blocked gort__netpoll_poll return soon
 *     (idempotent, async-signal-safe, callable from any thread).
 *   - gort__netpoll_shutdown(): gort_shutdown: close the kernel objects and
 *     free every descriptor; waiters still registered are abandoned (their
 *     goroutines are discarded by the shutdown anyway).
 */
#ifndef GORT_NETPOLL_H
#define GORT_NETPOLL_H

#include "internal.h"

bool gort__netpoll_pending(void);
int  gort__netpoll_poll(int64_t until);
void gort__netpoll_break(void);
void gort__netpoll_shutdown(void);

#endif
