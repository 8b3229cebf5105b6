/*
 * select_timeout.c — Go by Example's "Timeouts" in gort (durations scaled
 * from seconds to tenths), plus gort's other way to bound a wait: an
 * absolute deadline passed to gort_select itself.
 *
 *     c1 := make(chan string, 1)
 *     go func() { time.Sleep(200 * time.Millisecond); c1 <- "result 1" }()
 *     select {
 *     case res := <-c1:
 *         fmt.Println(res)
 *     case <-time.After(100 * time.Millisecond):
 *         fmt.Println("timeout 1")
 *     }
 *
 *     c2 := make(chan string, 1)
 *     go func() { time.Sleep(200 * time.Millisecond); c2 <- "result 2" }()
 *     select {
 *     case res := <-c2:
 *         fmt.Println(res)
 *     case <-time.After(300 * time.Millisecond):
 *         fmt.Println("timeout 2")
 *     }
 *
 * Expected output: "timeout 1", "result 2", then the deadline variant's
 * "timeout 3" and "result 3".
 */
#include <gort.h>

#include <stdio.h>

typedef struct job {
    gort_chan  *c;   /* chan string (a const char *), cap 1 */
    const char *msg;
} job;

static gort_wg senders = GORT_WG_INIT; /* main waits for them before cleaning up */

/* go func() { time.Sleep(200 * time.Millisecond); c <- msg }() */
static void slow_result(void *arg)
{
    job *j = arg;
    gort_sleep(200 * GORT_MILLISECOND);
    gort_chan_send(j->c, &j->msg); /* cap 1: never blocks, even if nobody waits */
    gort_wg_done(&senders);
}

static void start(job *j)
{
    gort_wg_add(&senders, 1);
    gort_go(slow_result, j);
}

/* select { case res := <-c: print res; case <-time.After(timeout): print timeout } */
static void await(gort_chan *c, int64_t timeout, const char *timeout_msg)
{
    const char *res = NULL;
    gort_chan *after = gort_after(timeout); /* time.After(timeout) */
    gort_case cases[] = {
        {.chan = c, .dir = GORT_RECV, .elem = &res},
        {.chan = after, .dir = GORT_RECV, .elem = NULL},
    };
    if (gort_select(cases, 2, GORT_FOREVER) == 0)
        printf("%s\n", res);
    else
        printf("%s\n", timeout_msg);
    gort_chan_release(after); /* an unfired timer is cancelled here */
}

static void go_main(void *arg)
{
    (void)arg;
    job j1 = {gort_chan_make(sizeof(const char *), 1), "result 1"};
    start(&j1);
    await(j1.c, 100 * GORT_MILLISECOND, "timeout 1");

    job j2 = {gort_chan_make(sizeof(const char *), 1), "result 2"};
    start(&j2);
    await(j2.c, 300 * GORT_MILLISECOND, "timeout 2");

    /* The same bound as an absolute deadline: no timer channel needed.
     * gort_select returns GORT_ETIMEDOUT when the deadline passes. */
    job j3 = {gort_chan_make(sizeof(const char *), 1), "result 3"};
    start(&j3);
    const char *res = NULL;
    gort_case c3[] = {{.chan = j3.c, .dir = GORT_RECV, .elem = &res}};
    if (gort_select(c3, 1, gort_now() + 100 * GORT_MILLISECOND) == GORT_ETIMEDOUT)
        printf("timeout 3\n");
    /* ... and a plain receive with a deadline, which this time succeeds. */
    if (gort_chan_recv_until(j3.c, &res, gort_now() + 300 * GORT_MILLISECOND) == 0)
        printf("%s\n", res);

    gort_wg_wait(&senders); /* "result 1" was sent after we stopped waiting for it */
    gort_chan_release(j1.c);
    gort_chan_release(j2.c);
    gort_chan_release(j3.c);
}

int main(void)
{
    return gort_main(go_main, NULL) == 0 ? 0 : 1;
}
