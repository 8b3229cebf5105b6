/*
 * promise_all.c — JavaScript's Promise.all, written with gort.
 *
 * The JavaScript original: five jobs, each a promise that a timer settles
 * (the timer stands in for I/O: a query, a download), started together and
 * awaited together. Promise.all keeps the input order, whatever order the
 * jobs finish in.
 *
 *     function job(id, ms) {
 *       return new Promise((resolve) => {
 *         setTimeout(() => {
 *           console.log(`  job ${id} finished (${ms} ms)`);
 *           resolve(`job ${id}: ${ms} ms of work`);
 *         }, ms);
 *       });
 *     }
 *
 *     const started = Date.now();
 *     const jobs = [[1, 150], [2, 100], [3, 120], [4, 60], [5, 90]]
 *       .map(([id, ms]) => job(id, ms));
 *     Promise.all(jobs).then((results) => {
 *       for (const r of results) console.log(r);
 *       console.log(`all ${results.length} jobs done in ${Date.now() - started} ms`);
 *     });
 *
 * The translation, line for line:
 *     new Promise + setTimeout  ->  gort_promise_new + gort_loop_set_timeout,
 *                                   the timer callback resolves the promise
 *                                   with a malloc'd string (the promise owns
 *                                   it: destructor free)
 *     Promise.all(jobs)         ->  gort_promise_all(jobs, 5)
 *     .then(results => ...)     ->  gort_promise_then(all, loop, print_results, ...)
 *     the implicit event loop   ->  gort_loop_run: returns when nothing is
 *                                   pending, as `node script.js` exits
 *
 * Expected output: jobs finishing in the order 4, 5, 2, 3, 1, then the five
 * results in input order, then "all 5 jobs done in ~150 ms".
 */
#include <gort.h>

#include <stdio.h>
#include <stdlib.h>

static gort_loop *loop;
static int64_t started;
static int ok; /* set by the reaction: exit status */

typedef struct job_ctx {
    int           id;
    int           ms;
    gort_promise *promise; /* a reference of its own, dropped when settled */
} job_ctx;

/* () => { console.log(...); resolve(`job ${id}: ...`); } */
static void job_timer(void *arg)
{
    job_ctx *j = arg;
    printf("  job %d finished (%d ms)\n", j->id, j->ms);
    char *result = malloc(64);
    if (result)
        snprintf(result, 64, "job %d: %d ms of work", j->id, j->ms);
    gort_promise_resolve(j->promise, result, free); /* the promise owns the string */
    gort_promise_release(j->promise);
    free(j);
}

/* function job(id, ms) { return new Promise(resolve => setTimeout(..., ms)); } */
static gort_promise *job(int id, int ms)
{
    gort_promise *p = gort_promise_new();
    job_ctx *j = malloc(sizeof *j);
    if (!p || !j) {
        free(j);
        gort_promise_release(p);
        return NULL;
    }
    j->id = id;
    j->ms = ms;
    j->promise = gort_promise_retain(p); /* the timer's reference */
    if (gort_loop_set_timeout(loop, ms * GORT_MILLISECOND, job_timer, j) <= 0) {
        gort_promise_reject(p, GORT_ENOMEM, "setTimeout failed");
        gort_promise_release(j->promise);
        free(j);
    }
    return p;
}

/* (results) => { for (const r of results) console.log(r); ... } */
static void print_results(gort_promise *next, gort_promise *all, void *user_data)
{
    (void)next;
    size_t n = (size_t)(uintptr_t)user_data;
    char **results = gort_promise_value(all); /* valid while `all` lives */
    for (size_t i = 0; i < n; i++)
        printf("%s\n", results[i] ? results[i] : "(out of memory)");
    printf("all %zu jobs done in %lld ms\n", n,
           (long long)((gort_now() - started) / GORT_MILLISECOND));
    ok = 1;
}

/* A rejection (no job here rejects, but a real program would see one). */
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

    static const int spec[][2] = {{1, 150}, {2, 100}, {3, 120}, {4, 60}, {5, 90}};
    enum { N = sizeof spec / sizeof spec[0] };
    started = gort_now();
    gort_promise *jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = job(spec[i][0], spec[i][1]);
        if (!jobs[i]) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
    }
    gort_promise *all = gort_promise_all(jobs, N);
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
        gort_promise_release(jobs[i]);
    gort_loop_free(loop);
    gort_shutdown();
    return rc == 0 && ok ? 0 : 1;
}
