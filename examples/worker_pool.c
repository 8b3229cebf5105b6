/*
 * worker_pool.c — the seed's Go program (tests/seed/worker_pool.go), line
 * for line in gort: three workers fed by a buffered jobs channel, results
 * collected after a WaitGroup closer. It prints what `go run` of the seed
 * prints (which worker takes which job, and the order of the results, vary
 * from run to run, as they do in Go; tests/seed/check_output.py checks it).
 *
 *     func worker(id int, jobs <-chan int, results chan<- int, wg *sync.WaitGroup) {
 *         defer wg.Done()
 *         for job := range jobs {
 *             fmt.Printf("Worker %d started job %d\n", id, job)
 *             time.Sleep(time.Millisecond * 100)
 *             results <- job * 2
 *         }
 *     }
 *
 *     func main() {
 *         numJobs := 5
 *         jobs := make(chan int, numJobs)
 *         results := make(chan int, numJobs)
 *         var wg sync.WaitGroup
 *         for w := 1; w <= 3; w++ { wg.Add(1); go worker(w, jobs, results, &wg) }
 *         for j := 1; j <= numJobs; j++ { jobs <- j }
 *         close(jobs)
 *         go func() { wg.Wait(); close(results) }()
 *         for res := range results { fmt.Printf("Result processed: %d\n", res) }
 *     }
 *
 * Build: cc worker_pool.c $(pkg-config --cflags --libs gort)
 */
#include <gort.h>

#include <stdint.h>
#include <stdio.h>

enum { NUM_JOBS = 5, NUM_WORKERS = 3 };

static gort_chan *jobs, *results; /* chan int, both buffered (numJobs) */
static gort_wg wg = GORT_WG_INIT; /* var wg sync.WaitGroup */

/* func worker(id int, jobs <-chan int, results chan<- int, wg *sync.WaitGroup) */
static void worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    int job;
    while (gort_chan_recv(jobs, &job) == 0) { /* for job := range jobs (ends at close) */
        printf("Worker %d started job %d\n", id, job);
        gort_sleep(100 * GORT_MILLISECOND); /* time.Sleep(time.Millisecond * 100) */
        int r = job * 2;
        gort_chan_send(results, &r); /* results <- job * 2 */
    }
    gort_wg_done(&wg); /* defer wg.Done() */
}

/* go func() { wg.Wait(); close(results) }() — it gets its own reference to
 * `results`, as every goroutine that outlives its spawner's use should. */
static void closer(void *arg)
{
    gort_chan *res = arg;
    gort_wg_wait(&wg);
    gort_chan_close(res);
    gort_chan_release(res);
}

static void go_main(void *arg)
{
    (void)arg;
    jobs = gort_chan_make(sizeof(int), NUM_JOBS);    /* make(chan int, numJobs) */
    results = gort_chan_make(sizeof(int), NUM_JOBS); /* make(chan int, numJobs) */
    if (jobs == NULL || results == NULL) {
        fprintf(stderr, "out of memory\n");
        return;
    }

    for (int w = 1; w <= NUM_WORKERS; w++) {
        gort_wg_add(&wg, 1);
        gort_go(worker, (void *)(intptr_t)w); /* go worker(w, jobs, results, &wg) */
    }
    for (int j = 1; j <= NUM_JOBS; j++)
        gort_chan_send(jobs, &j); /* jobs <- j */
    gort_chan_close(jobs);        /* close(jobs): the workers' range loops end */

    gort_go(closer, gort_chan_retain(results));

    int res;
    while (gort_chan_recv(results, &res) == 0) /* for res := range results */
        printf("Result processed: %d\n", res);

    gort_chan_release(jobs);
    gort_chan_release(results);
}

int main(void)
{
    /* Runs go_main as the first goroutine; returns when it returns. */
    return gort_main(go_main, NULL) == 0 ? 0 : 1;
}
