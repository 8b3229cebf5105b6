/*
 * worker_pool.c — Go by Example's "Worker Pools", line for line in gort.
 *
 * The Go program:
 *
 *     func worker(id int, jobs <-chan int, results chan<- int) {
 *         for j := range jobs {
 *             fmt.Printf("worker %d started  job %d\n", id, j)
 *             time.Sleep(100 * time.Millisecond)
 *             fmt.Printf("worker %d finished job %d\n", id, j)
 *             results <- j * 2
 *         }
 *     }
 *
 *     func main() {
 *         const numJobs = 5
 *         jobs := make(chan int, numJobs)
 *         results := make(chan int, numJobs)
 *         var wg sync.WaitGroup
 *         for w := 1; w <= 3; w++ {
 *             wg.Add(1)
 *             go func(w int) { defer wg.Done(); worker(w, jobs, results) }(w)
 *         }
 *         for j := 1; j <= numJobs; j++ {
 *             jobs <- j
 *         }
 *         close(jobs)
 *         go func() { wg.Wait(); close(results) }()
 *         total := 0
 *         for r := range results {
 *             fmt.Println("result", r)
 *             total += r
 *         }
 *         fmt.Println("total", total)
 *     }
 *
 * Three workers share five jobs; each takes ~100 ms, so the whole run takes
 * ~200 ms instead of 500. Build: cc worker_pool.c $(pkg-config --cflags --libs gort)
 */
#include <gort.h>

#include <stdint.h>
#include <stdio.h>

enum { NUM_JOBS = 5, NUM_WORKERS = 3 };

static gort_chan *jobs, *results; /* chan int, both buffered (numJobs) */
static gort_wg wg = GORT_WG_INIT; /* var wg sync.WaitGroup */

/* func worker(id int, jobs <-chan int, results chan<- int) */
static void worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    int j;
    while (gort_chan_recv(jobs, &j) == 0) { /* for j := range jobs (ends at close) */
        printf("worker %d started  job %d\n", id, j);
        gort_sleep(100 * GORT_MILLISECOND); /* time.Sleep(100 * time.Millisecond) */
        printf("worker %d finished job %d\n", id, j);
        int r = j * 2;
        gort_chan_send(results, &r); /* results <- j * 2 */
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
        gort_go(worker, (void *)(intptr_t)w); /* go worker(w, jobs, results) */
    }
    for (int j = 1; j <= NUM_JOBS; j++)
        gort_chan_send(jobs, &j); /* jobs <- j */
    gort_chan_close(jobs);        /* close(jobs): the workers' range loops end */

    gort_go(closer, gort_chan_retain(results));

    int total = 0, r;
    while (gort_chan_recv(results, &r) == 0) { /* for r := range results */
        printf("result %d\n", r);
        total += r;
    }
    printf("total %d\n", total);

    gort_chan_release(jobs);
    gort_chan_release(results);
}

int main(void)
{
    /* Runs go_main as the first goroutine; returns when it returns. */
    return gort_main(go_main, NULL) == 0 ? 0 : 1;
}
