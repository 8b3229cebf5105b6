/*
 * io.c — blocking-style I/O that parks goroutines (the public "I/O" section
 * of gort.h): gort_fd_wait, registration and close, read/write/recv/send/
 * accept/connect with deadlines, and TCP listen/dial helpers.
 *
 * CONCEPTS
 *
 *   Every wrapper is the same loop (Go's internal/poll.FD.Read):
 *
 *       for (;;) {
 *           r = the non-blocking system call;
 *           if (r >= 0 || r is a real error) return r;      // never errno
 *           r = wait(fd, direction, deadline);              // after EAGAIN
 *           if (r < 0) return r;    // GORT_ETIMEDOUT, GORT_ECLOSED, ...
 *       }
 *
 *   The call is tried first, so a deadline already in the past still lets
 *   a ready operation complete (the rule of gort's channels), and the wait
 *   only starts after the kernel said EAGAIN — which is what makes the
 *   edge-triggered poller's "ready token" logic sufficient (netpoll_epoll.c,
 *   WHY NO READINESS IS LOST). A wake-up that finds the fd not ready after
 *   all (a stale token, another goroutine ate the data) costs one extra
 *   EAGAIN and another wait.
 *
 *   Who waits how:
 *     - a goroutine (gort__current() != NULL) waits in the engine's poller
 *       (gort__netpoll_wait, netpoll_fd.h): it parks, its thread runs other
 *       goroutines, and the scheduler's poll of epoll readies it;
 *     - a foreign thread blocks in ppoll(2) on the fd itself (with the
 *       deadline), whether or not the engine runs. To let gort_fd_close wake
 *       it, it also polls a private eventfd and publishes itself on a
 *       process-wide list of foreign waiters (below).
 *
 * FOREIGN WAITERS
 *
 *   fw_head is a doubly linked list of `fwait` records (on the waiting
 *   threads' stacks) protected by fw_lock (a gort__lock; static storage,
 *   so it outlives gort_shutdown: foreign threads may still be in a wait
 *   when the engine stops, and a list inside the poller would be freed
 *   under them). Each record has its own gort__waiter used for its claim:
 *   the thread itself claims it when poll reports readiness or the deadline
 *   passes; gort_fd_close claims it to complete it with GORT_ECLOSED, then
 *   signals the record's eventfd. Both happen with fw_lock held by the
 *   closer (claim, result, unlink, signal), so a thread that loses the
 *   claim only has to take fw_lock once to see the result.
 *   If eventfd() fails (EMFILE), the thread waits on the fd alone: a
 *   concurrent gort_fd_close then cannot wake it before its deadline (it is
 *   not published, since it could not be woken anyway).
 *
 * ERRNO AND PREEMPTION
 *
 *   errno is thread-local, and a goroutine can be preempted asynchronously
 *   (preempt.c) anywhere outside gort's core section and resume on another
 *   thread. So every "system call, then read errno" pair is in a small
 *   GORT__CORE helper (sys_*) that returns -errno: the goroutine cannot
 *   migrate between the call and the errno read.
 *
 * REJECTED ALTERNATIVES
 *
 *   - Foreign threads waiting through the engine's poller (a gort__waiter
 *     on the fd's descriptor, futex sleep): the poller only runs when the
 *     scheduler polls it, which may be never (all engine threads idle
 *     without a poller, or no engine at all); a foreign thread would have
 *     to start the scheduler's poller itself. poll(2) needs nobody.
 *   - A per-thread cached eventfd for foreign waits (saves two syscalls per
 *     blocking foreign wait): needs a TLS destructor and leaks one fd per
 *     thread that ever waited; foreign waits are the slow path anyway.
 *   - Checking the deadline before the first attempt (Go returns a timeout
 *     error without reading when the deadline has passed): gort's channels
 *     let a ready operation complete regardless, and I/O follows them.
 *   - Silently setting TCP_NODELAY on accepted fds (Go does, for TCP):
 *     gort_accept serves any socket family; gort_tcp_dial sets it, servers
 *     set it themselves.
 */
#include "internal.h"
#include "netpoll_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- system calls returning -errno (see ERRNO AND PREEMPTION) ------------ */

/* The four data transfers (read, write, recv, send), told apart by `op`. */
typedef enum io_op { IO_READ, IO_WRITE, IO_RECV, IO_SEND } io_op;

GORT__CORE static ssize_t sys_io(io_op op, int fd, void *buf, size_t len, int flags)
{
    ssize_t r;
    switch (op) {
    case IO_READ:  r = read(fd, buf, len); break;
    case IO_WRITE: r = write(fd, buf, len); break;
    case IO_RECV:  r = recv(fd, buf, len, flags); break;
    default:       r = send(fd, buf, len, flags); break;
    }
    return r >= 0 ? r : -errno;
}

GORT__CORE static int sys_accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    int r = accept4(fd, addr, addrlen, flags);
    return r >= 0 ? r : -errno;
}

GORT__CORE static int sys_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    return connect(fd, addr, len) == 0 ? 0 : -errno;
}

/* Pending socket error (SO_ERROR) as a positive errno, 0, or -errno if
 * getsockopt itself failed. */
GORT__CORE static int sys_so_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -errno;
    return err;
}

GORT__CORE static int sys_connected(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    return getpeername(fd, (struct sockaddr *)&ss, &len) == 0 ? 0 : -errno;
}

GORT__CORE static int sys_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (fl & O_NONBLOCK)
        return 0;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 ? 0 : -errno;
}

GORT__CORE static int sys_socket(int family, int type, int proto)
{
    int r = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    return r >= 0 ? r : -errno;
}

GORT__CORE static int sys_bind_listen(int fd, const struct sockaddr *addr, socklen_t len, int backlog)
{
    if (bind(fd, addr, len) != 0)
        return -errno;
    return listen(fd, backlog) == 0 ? 0 : -errno;
}

/* ppoll until the absolute deadline; returns ppoll's result or -errno. */
GORT__CORE static int sys_ppoll(struct pollfd *pfd, nfds_t n, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;
    if (deadline != GORT_FOREVER) {
        int64_t rel = deadline < 0 ? 0 : deadline - gort_now();
        if (rel < 0)
            rel = 0;
        ts.tv_sec = (time_t)(rel / GORT_SECOND);
        ts.tv_nsec = (long)(rel % GORT_SECOND);
        tsp = &ts;
    }
    int r = ppoll(pfd, n, tsp, NULL);
    return r >= 0 ? r : -errno;
}

static inline bool deadline_passed(int64_t deadline)
{
    return deadline != GORT_FOREVER && (deadline < 0 || deadline <= gort_now());
}

/* ---- foreign threads ------------------------------------------------------ */

typedef struct fwait fwait;
/* A foreign thread blocked in a gort I/O wait (on its stack). */
struct fwait {
    fwait       *next, *prev; /* fw_head list links (fw_lock) */
    bool         linked;      /* on fw_head (fw_lock) */
    int          fd;          /* the fd it waits on (constant) */
    int          efd;         /* its eventfd: the closer writes 1 (constant) */
    int          result;      /* written by the closer that won the claim (fw_lock) */
    gort__waiter w;           /* only its claim is used: thread vs. closer */
};

static gort__lock fw_lock;   /* protects fw_head, fw_count and every record's links/result */
static fwait     *fw_head;   /* foreign threads waiting in gort I/O calls */
static int        fw_count;  /* records on fw_head (tests) */

int gort__io_foreign_waiters(void)
{
    gort__lock_acquire(&fw_lock);
    int n = fw_count;
    gort__lock_release(&fw_lock);
    return n;
}

static void fw_unlink(fwait *f)
{
    if (!f->linked)
        return;
    if (f->prev)
        f->prev->next = f->next;
    else
        fw_head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->next = f->prev = NULL;
    f->linked = false;
    fw_count--;
}

/* gort_fd_close: complete every foreign waiter on fd with GORT_ECLOSED. */
static void fw_close(int fd)
{
    gort__lock_acquire(&fw_lock);
    for (fwait *f = fw_head, *next; f; f = next) {
        next = f->next;
        if (f->fd != fd || !gort__waiter_claim(&f->w))
            continue; /* another fd, or the thread completed itself */
        f->result = GORT_ECLOSED;
        fw_unlink(f);
        uint64_t one = 1;
        ssize_t r = write(f->efd, &one, sizeof one);
        (void)r;
    }
    gort__lock_release(&fw_lock);
}

/* Wait on a foreign thread. Level semantics (ppoll looks at the fd now). */
static int foreign_wait(int fd, int events, int64_t deadline)
{
    struct pollfd pfd[2] = {{.fd = fd, .events = gort__poll_events(events)}, {.fd = -1}};
    /* Probe first: most waits after EAGAIN are short, and an fd that is
     * ready or dead needs no eventfd. */
    int r0 = sys_ppoll(pfd, 1, GORT_NOWAIT);
    if (r0 > 0) {
        if (pfd[0].revents & POLLNVAL)
            return -EBADF;
        int m = gort__poll_revents_mask(pfd[0].revents) & events;
        if (m)
            return m;
    }
    if (deadline_passed(deadline))
        return deadline == GORT_NOWAIT ? GORT_EAGAIN : GORT_ETIMEDOUT;

    fwait f;
    memset(&f, 0, sizeof f);
    f.fd = fd;
    gort__waiter_init(&f.w, deadline);
    f.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (f.efd == fd) {
        /* fd was closed after the probe and the eventfd took its number. */
        close(f.efd);
        return -EBADF;
    }
    if (f.efd >= 0) {
        pfd[1].fd = f.efd;
        pfd[1].events = POLLIN;
        gort__lock_acquire(&fw_lock);
        f.next = fw_head;
        if (fw_head)
            fw_head->prev = &f;
        fw_head = &f;
        f.linked = true;
        fw_count++;
        gort__lock_release(&fw_lock);
    }

    int result = 0;
    bool mine = false; /* we won our own claim: result is ours */
    for (;;) {
        int r = sys_ppoll(pfd, f.efd >= 0 ? 2 : 1, deadline);
        if (r == -EINTR)
            continue;
        if (f.efd >= 0 && pfd[1].revents)
            break; /* a closer completed us */
        int cand;
        if (r < 0)
            cand = r;
        else if (r > 0 && (pfd[0].revents & POLLNVAL))
            cand = -EBADF;
        else if (r > 0 && (cand = gort__poll_revents_mask(pfd[0].revents) & events) != 0)
            ;
        else if (deadline_passed(deadline))
            cand = GORT_ETIMEDOUT;
        else
            continue;
        if (f.efd < 0 || gort__waiter_claim(&f.w)) {
            mine = true;
            result = cand;
        }
        break;
    }
    if (f.efd >= 0) {
        gort__lock_acquire(&fw_lock);
        fw_unlink(&f);
        if (!mine)
            result = f.result; /* the closer wrote it before releasing fw_lock */
        gort__lock_release(&fw_lock);
        close(f.efd);
    }
    return result;
}

/* Wait after EAGAIN, in whichever way the caller can. */
static int io_wait(int fd, int events, int64_t deadline)
{
    if (gort__current() != NULL)
        return gort__netpoll_wait(fd, events, deadline, false);
    return foreign_wait(fd, events, deadline);
}

/* ---- fds ------------------------------------------------------------------ */

GORT_API int gort_fd_wait(int fd, int events, int64_t deadline)
{
    if (events <= 0 || (events & ~(GORT_POLLIN | GORT_POLLOUT)) != 0)
        return GORT_EINVAL;
    if (fd < 0)
        return -EBADF;
    if (gort__current() != NULL)
        return gort__netpoll_wait(fd, events, deadline, true);
    return foreign_wait(fd, events, deadline);
}

GORT_API int gort_set_nonblock(int fd)
{
    if (fd < 0)
        return -EBADF;
    return sys_set_nonblock(fd);
}

GORT_API int gort_fd_register(int fd)
{
    int r = gort_set_nonblock(fd);
    if (r != 0)
        return r;
    return gort__netpoll_register(fd);
}

GORT_API int gort_fd_unregister(int fd)
{
    if (fd < 0)
        return -EBADF;
    fw_close(fd);
    return gort__netpoll_unregister(fd, false);
}

GORT_API int gort_fd_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    fw_close(fd);
    return gort__netpoll_unregister(fd, true);
}

/* Register an fd gort just created, when goroutines may use it. Without an
 * engine the first goroutine wait registers it lazily instead. */
static int register_new(int fd)
{
    if (!gort_initialized())
        return 0;
    return gort__netpoll_register(fd);
}

/* ---- read / write --------------------------------------------------------- */

/* The wrapper loop of CONCEPTS for one transfer: read and recv wait for
 * input, write and send for output. `flags` is passed to recv/send only. */
static ssize_t io_until(io_op op, int fd, void *buf, size_t len, int flags, int64_t deadline)
{
    if (fd < 0)
        return -EBADF;
    int events = op == IO_READ || op == IO_RECV ? GORT_POLLIN : GORT_POLLOUT;
    for (;;) {
        ssize_t n = sys_io(op, fd, buf, len, flags);
        if (n >= 0 || (n != -EAGAIN && n != -EINTR))
            return n;
        if (n == -EINTR)
            continue;
        int r = io_wait(fd, events, deadline);
        if (r < 0)
            return r;
    }
}

GORT_API ssize_t gort_read_until(int fd, void *buf, size_t len, int64_t deadline)
{
    return io_until(IO_READ, fd, buf, len, 0, deadline);
}

GORT_API ssize_t gort_read(int fd, void *buf, size_t len)
{
    return gort_read_until(fd, buf, len, GORT_FOREVER);
}

GORT_API ssize_t gort_write_until(int fd, const void *buf, size_t len, int64_t deadline)
{
    return io_until(IO_WRITE, fd, (void *)buf, len, 0, deadline);
}

GORT_API ssize_t gort_write(int fd, const void *buf, size_t len)
{
    return gort_write_until(fd, buf, len, GORT_FOREVER);
}

GORT_API ssize_t gort_write_all_until(int fd, const void *buf, size_t len, int64_t deadline)
{
    if (fd < 0)
        return -EBADF;
    if (len > (size_t)SSIZE_MAX)
        return GORT_EINVAL;
    const char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = gort_write_until(fd, p + done, len - done, deadline);
        if (n < 0)
            return n;
        done += (size_t)n;
    }
    return (ssize_t)len;
}

GORT_API ssize_t gort_write_all(int fd, const void *buf, size_t len)
{
    return gort_write_all_until(fd, buf, len, GORT_FOREVER);
}

GORT_API ssize_t gort_recv_until(int fd, void *buf, size_t len, int flags, int64_t deadline)
{
    return io_until(IO_RECV, fd, buf, len, flags | MSG_DONTWAIT, deadline);
}

GORT_API ssize_t gort_recv(int fd, void *buf, size_t len, int flags)
{
    return gort_recv_until(fd, buf, len, flags, GORT_FOREVER);
}

GORT_API ssize_t gort_send_until(int fd, const void *buf, size_t len, int flags, int64_t deadline)
{
    return io_until(IO_SEND, fd, (void *)buf, len, flags | MSG_DONTWAIT | MSG_NOSIGNAL, deadline);
}

GORT_API ssize_t gort_send(int fd, const void *buf, size_t len, int flags)
{
    return gort_send_until(fd, buf, len, flags, GORT_FOREVER);
}

/* ---- accept / connect ----------------------------------------------------- */

GORT_API int gort_accept_until(int fd, struct sockaddr *addr, socklen_t *addrlen, int64_t deadline)
{
    if (fd < 0)
        return -EBADF;
    for (;;) {
        int c = sys_accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            int r = register_new(c);
            if (r != 0) {
                close(c);
                return r;
            }
            return c;
        }
        if (c == -EINTR || c == -ECONNABORTED)
            continue; /* a connection reset before we took it: take the next */
        if (c != -EAGAIN)
            return c;
        int r = io_wait(fd, GORT_POLLIN, deadline);
        if (r < 0)
            return r;
    }
}

GORT_API int gort_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    return gort_accept_until(fd, addr, addrlen, GORT_FOREVER);
}

GORT_API int gort_connect_until(int fd, const struct sockaddr *addr, socklen_t addrlen,
                                int64_t deadline)
{
    if (fd < 0)
        return -EBADF;
    if (addr == NULL)
        return GORT_EINVAL;
    int r = sys_connect(fd, addr, addrlen);
    if (r == 0)
        return 0;
    if (r != -EINPROGRESS && r != -EINTR && r != -EALREADY)
        return r; /* includes -EAGAIN (AF_UNIX backlog full) */
    /* The connection proceeds in the kernel: wait until the socket is
     * writable, then ask how it went. Writable may be spurious (a stale
     * token): SO_ERROR 0 is then confirmed with getpeername, and ENOTCONN
     * means "still connecting" (Go does the same). */
    for (;;) {
        int w = io_wait(fd, GORT_POLLOUT, deadline);
        if (w < 0)
            return w;
        int err = sys_so_error(fd);
        if (err < 0)
            return err;
        if (err == EINPROGRESS || err == EALREADY || err == EINTR)
            continue;
        if (err != 0)
            return -err;
        int c = sys_connected(fd);
        if (c != -ENOTCONN)
            return c;
    }
}

GORT_API int gort_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    return gort_connect_until(fd, addr, addrlen, GORT_FOREVER);
}

/* ---- TCP helpers ---------------------------------------------------------- */

/* getaddrinfo, run as a blocking call in a goroutine. */
typedef struct resolve_req {
    const char      *host;  /* NULL: passive wildcard / loopback */
    char             serv[8];
    struct addrinfo  hints;
    struct addrinfo *res;   /* out */
    int              rc;    /* out: getaddrinfo's result */
    int              err;   /* out: errno for EAI_SYSTEM */
} resolve_req;

static void resolve_fn(void *arg)
{
    resolve_req *q = arg;
    q->rc = getaddrinfo(q->host, q->serv, &q->hints, &q->res);
    q->err = q->rc == EAI_SYSTEM ? errno : 0;
}

static int resolve(const char *host, int port, bool passive, struct addrinfo **out)
{
    resolve_req q;
    memset(&q, 0, sizeof q);
    q.host = host && *host ? host : NULL;
    snprintf(q.serv, sizeof q.serv, "%d", port);
    q.hints.ai_family = AF_UNSPEC;
    q.hints.ai_socktype = SOCK_STREAM;
    q.hints.ai_protocol = IPPROTO_TCP;
    q.hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (gort__current() != NULL)
        gort_blocking(resolve_fn, &q);
    else
        resolve_fn(&q);
    switch (q.rc) {
    case 0:
        *out = q.res;
        return 0;
    case EAI_MEMORY:
        return GORT_ENOMEM;
    case EAI_SYSTEM:
        return q.err ? -q.err : -ENOENT;
    case EAI_BADFLAGS:
    case EAI_FAMILY:
    case EAI_SERVICE:
    case EAI_SOCKTYPE:
        return GORT_EINVAL;
    default: /* EAI_NONAME, EAI_AGAIN, EAI_FAIL, EAI_NODATA, ... */
        return -ENOENT;
    }
}

/* A non-blocking socket for `ai` with the boolean option level/name turned
 * on (best effort: its failure is ignored), or -errno. */
static int sys_socket_opt(const struct addrinfo *ai, int level, int name)
{
    int s = sys_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (s >= 0) {
        int one = 1;
        setsockopt(s, level, name, &one, sizeof one);
    }
    return s;
}

GORT_API int gort_tcp_listen(const char *host, int port, int backlog)
{
    if (port < 0 || port > 65535)
        return GORT_EINVAL;
    struct addrinfo *res = NULL;
    int r = resolve(host, port, true, &res);
    if (r != 0)
        return r;
    bool wildcard = host == NULL || *host == '\0';
    int last = -EADDRNOTAVAIL;
    /* Wildcard: prefer the IPv6 "::" socket (dual-stack, like Go's ":port"),
     * then anything else; otherwise getaddrinfo's order. */
    for (int pass = wildcard ? 0 : 1; pass < 2; pass++) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            if (pass == 0 && ai->ai_family != AF_INET6)
                continue;
            if (pass == 1 && wildcard && ai->ai_family == AF_INET6)
                continue;
            int s = sys_socket_opt(ai, SOL_SOCKET, SO_REUSEADDR);
            if (s < 0) {
                last = s;
                continue;
            }
            r = sys_bind_listen(s, ai->ai_addr, ai->ai_addrlen, backlog > 0 ? backlog : SOMAXCONN);
            if (r == 0)
                r = register_new(s);
            if (r == 0) {
                freeaddrinfo(res);
                return s;
            }
            close(s);
            last = r;
        }
    }
    freeaddrinfo(res);
    return last;
}

GORT_API int gort_tcp_dial(const char *host, int port, int64_t deadline)
{
    if (port <= 0 || port > 65535)
        return GORT_EINVAL;
    struct addrinfo *res = NULL;
    int r = resolve(host, port, false, &res);
    if (r != 0)
        return r;
    int last = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int s = sys_socket_opt(ai, IPPROTO_TCP, TCP_NODELAY);
        if (s < 0) {
            last = s;
            continue;
        }
        r = register_new(s);
        if (r == 0)
            r = gort_connect_until(s, ai->ai_addr, ai->ai_addrlen, deadline);
        if (r == 0) {
            freeaddrinfo(res);
            return s;
        }
        gort_fd_close(s);
        last = r;
        if (r == GORT_ETIMEDOUT || r == GORT_EAGAIN)
            break; /* the deadline covers the whole dial */
    }
    freeaddrinfo(res);
    return last;
}

GORT__CORE static int sys_getsockname(int fd, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof *ss;
    return getsockname(fd, (struct sockaddr *)ss, &len) == 0 ? 0 : -errno;
}

GORT_API int gort_tcp_port(int fd)
{
    if (fd < 0)
        return -EBADF;
    struct sockaddr_storage ss;
    int r = sys_getsockname(fd, &ss);
    if (r != 0)
        return r;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return GORT_EINVAL;
}
