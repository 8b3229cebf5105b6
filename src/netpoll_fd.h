/*
 * netpoll_fd.h — the contract between io.c (the public I/O wrappers) and a
 * network-poller backend (netpoll_epoll.c on Linux), for the fd side of the
 * poller. The scheduler side of the same backend is netpoll.h.
 *
 * A backend keeps one poll descriptor per fd number ("pd", Go's pollDesc):
 * whether the fd is registered with the kernel poller, a "ready" token per
 * direction, and the goroutines waiting for each direction. io.c never sees
 * descriptors; it calls these three functions with plain fd numbers.
 *
 * Only goroutines wait through the backend: foreign threads block in poll(2)
 * themselves (io.c), because the engine's poller is driven by the scheduler
 * and may not be running at all when a foreign thread does I/O.
 *
 * Direction masks are the public GORT_POLLIN / GORT_POLLOUT bits.
 */
#ifndef GORT_NETPOLL_FD_H
#define GORT_NETPOLL_FD_H

#include "internal.h"

#include <poll.h>

/* Register fd with the kernel poller (lazily creating the poller). A fd the
 * kernel refuses to poll (EPERM: regular files, directories) is recorded as
 * "always ready" and counts as success. Registering an fd that is already
 * registered refreshes the registration (new generation, tokens cleared):
 * this is what makes a recycled fd number safe after a close(2) that
 * bypassed gort_fd_close. Returns 0 or -errno (-EBADF, -ENOMEM, -ENOSPC...). */
int gort__netpoll_register(int fd);

/* Stop polling fd: waiters on it wake with GORT_ECLOSED, the registration is
 * removed from the kernel poller and, if do_close, fd is closed with
 * close(2) while new waits on it fail with GORT_ECLOSED. Works whether or
 * not fd was ever registered (then it only closes). Returns 0, or the
 * -errno of close(2) (do_close) / -EBADF for fd < 0. */
int gort__netpoll_unregister(int fd, bool do_close);

/* Goroutines only (gort__current() != NULL). Wait until fd is ready for one
 * of `events` or the deadline passes. fd is registered lazily if needed.
 *   level == false: the caller has just seen EAGAIN from the I/O call, so
 *     any readiness the kernel reports from now on is news: a ready token
 *     left by an earlier event is consumed at once (edge semantics).
 *   level == true: the caller wants to know whether fd is ready *now*
 *     (gort_fd_wait): stale tokens are dropped and the fd is probed with a
 *     zero-timeout poll(2) before parking (level semantics).
 * Returns the ready subset of events (> 0; may be spurious: the I/O call
 * may still say EAGAIN, then wait again), GORT_EAGAIN (deadline ==
 * GORT_NOWAIT and not ready), GORT_ETIMEDOUT, GORT_ECLOSED (fd was closed
 * or unregistered with gort_fd_close / gort_fd_unregister while waiting,
 * or is being closed), -EBADF, or another -errno from the registration. */
int gort__netpoll_wait(int fd, int events, int64_t deadline, bool level);

/* White-box views for tests: waiters parked in the poller (goroutines), and
 * foreign threads blocked in a gort I/O wait that gort_fd_close can wake. */
int64_t gort__netpoll_nwait(void);
int     gort__io_foreign_waiters(void);

/* GORT_POLL* mask -> poll(2) events. */
static inline short gort__poll_events(int events)
{
    return (short)(((events & GORT_POLLIN) ? (POLLIN | POLLRDHUP) : 0) |
                   ((events & GORT_POLLOUT) ? POLLOUT : 0));
}

/* poll(2) revents -> GORT_POLL* mask. An error or hang-up counts as ready
 * for both directions: the next I/O call reports what happened. */
static inline int gort__poll_revents_mask(short revents)
{
    int m = 0;
    if (revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))
        m |= GORT_POLLIN;
    if (revents & (POLLOUT | POLLHUP | POLLERR))
        m |= GORT_POLLOUT;
    return m;
}

#endif
