/*
 * promise_all.c — the seed's JavaScript program (tests/seed/promise_all.js),
 * written with gort's loop and promises. Its output equals
 * `node tests/seed/promise_all.js`, line for line.
 *
 *     async function worker(id, job) {
 *       console.log(`Worker ${id} started job ${job}`);
 *       await new Promise(resolve => setTimeout(resolve, 100));
 *       return job * 2;
 *     }
 *     async function main() {
 *       const jobs = [1, 2, 3, 4, 5];
 *       const workerPromises = jobs.map((job, index) => {
 *         const workerId = (index % 3) + 1;
 *         return worker(workerId, job);
 *       });
 *       const results = await Promise.all(workerPromises);
 *       results.forEach(res => { console.log(`Result processed: ${res}`); });
 *     }
 *     main();
 *
 * The translation:
 *     worker(id, job)           ->  worker(): prints, returns a promise that a
 *                                   loop timer (setTimeout) resolves 100 ms
 *                                   later with job * 2 (a malloc'd int the
 *                                   promise owns: destructor free)
 *     Promise.all(...)          ->  gort_promise_all(promises, 5)
 *     await ... ; forEach(...)  ->  gort_promise_then(all, loop, print_results, ...)
 *     the implicit event loop   ->  gort_loop_run: returns when nothing is
 *                                   pending, as `node script.js` exits
 */
#include <gort.h>

#include <stdio.h>
#include <stdlib.h>

static gort_loop *loop;
static int ok; /* set by the reaction: exit status */

typedef struct job_ctx {
    int           job;
    gort_promise *promise; /* the timer's reference, dropped when settled */
} job_ctx;

/* resolve(job * 2) when the timer fires */
static void job_done(void *arg)
{
    job_ctx *j = arg;
    int *result = malloc(sizeof *result);
    if (result)
        *result = j->job * 2;
    gort_promise_resolve(j->promise, result, free); /* the promise owns it */
    gort_promise_release(j->promise);
    free(j);
}

/* async function worker(id, job) */
static gort_promise *worker(int id, int job)
{
    printf("Worker %d started job %d\n", id, job);
    gort_promise *p = gort_promise_new();
    job_ctx *j = malloc(sizeof *j);
    if (!p || !j) {
        free(j);
        gort_promise_release(p);
        return NULL;
    }
    j->job = job;
    j->promise = gort_promise_retain(p);
    if (gort_loop_set_timeout(loop, 100 * GORT_MILLISECOND, job_done, j) <= 0) {
        gort_promise_reject(p, GORT_ENOMEM, "setTimeout failed");
        gort_promise_release(j->promise);
        free(j);
    }
    return p;
}

/* results.forEach(res => console.log(`Result processed: ${res}`)) */
static void print_results(gort_promise *next, gort_promise *all, void *user_data)
{
    (void)next;
    size_t n = (size_t)(uintptr_t)user_data;
    int **results = gort_promise_value(all); /* valid while `all` lives */
    for (size_t i = 0; i < n; i++) {
        if (!results[i]) {
            fprintf(stderr, "out of memory\n");
            return;
        }
        printf("Result processed: %d\n", *results[i]);
    }
    ok = 1;
}

static void print_error(gort_promise *next, gort_promise *all, void *user_data)
{
    (void)next;
    (void)user_data;
    const char *msg = gort_promise_message(all);
    fprintf(stderr, "a job failed: %s (%s)\n", msg ? msg : "",
            gort_strerror(gort_promise_error(all)));
}

int main(void)
{
    if (gort_init(NULL) != 0 || !(loop = gort_loop_new())) {
        fprintf(stderr, "cannot start gort\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    enum { N = 5 };
    static const int jobs[N] = {1, 2, 3, 4, 5};
    gort_promise *promises[N];
    for (int i = 0; i < N; i++) {
        promises[i] = worker(i % 3 + 1, jobs[i]); /* 3 simulated workers */
        if (!promises[i]) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
    }
    gort_promise *all = gort_promise_all(promises, N);
    gort_promise *done = all ? gort_promise_then(all, loop, print_results, print_error,
                                                 (void *)(uintptr_t)N)
                             : NULL;
    if (!done) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }

    int rc = gort_loop_run(loop); /* until nothing is pending */

    gort_promise_release(done);
    gort_promise_release(all);
    for (int i = 0; i < N; i++)
        gort_promise_release(promises[i]);
    gort_loop_free(loop);
    gort_shutdown();
    return rc == 0 && ok ? 0 : 1;
}
