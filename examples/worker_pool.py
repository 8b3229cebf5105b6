"""worker_pool.py — the seed's Go program (tests/seed/worker_pool.go) in
Python on gort, the twin of examples/worker_pool.c. It prints what `go run`
of the seed prints (which worker takes which job, and the order of the
results, vary as they do in Go; tests/seed/check_output.py checks it).

    func worker(id int, jobs <-chan int, results chan<- int, wg *sync.WaitGroup) {
        defer wg.Done()
        for job := range jobs {
            fmt.Printf("Worker %d started job %d\\n", id, job)
            time.Sleep(time.Millisecond * 100)
            results <- job * 2
        }
    }

    func main() {
        numJobs := 5
        jobs := make(chan int, numJobs)
        results := make(chan int, numJobs)
        var wg sync.WaitGroup
        for w := 1; w <= 3; w++ { wg.Add(1); go worker(w, jobs, results, &wg) }
        for j := 1; j <= numJobs; j++ { jobs <- j }
        close(jobs)
        go func() { wg.Wait(); close(results) }()
        for res := range results { fmt.Printf("Result processed: %d\\n", res) }
    }

Run: python examples/worker_pool.py (with the `gort` package installed, e.g.
build/python/venv-3.13/bin/python).
"""
import gort

NUM_JOBS, NUM_WORKERS = 5, 3


def worker(id: int, jobs: "gort.Chan[int]", results: "gort.Chan[int]", wg: gort.WaitGroup) -> None:
    try:
        for job in jobs:                           # for job := range jobs (ends at close)
            print(f"Worker {id} started job {job}")
            gort.sleep(0.1)                        # time.Sleep(time.Millisecond * 100): parks
            results.send(job * 2)                  # results <- job * 2
    finally:
        wg.done()                                  # defer wg.Done()


def closer(wg: gort.WaitGroup, results: "gort.Chan[int]") -> None:
    wg.wait()                                      # wg.Wait()
    results.close()                                # close(results)


def main() -> None:
    jobs: gort.Chan[int] = gort.Chan(NUM_JOBS)     # make(chan int, numJobs)
    results: gort.Chan[int] = gort.Chan(NUM_JOBS)  # make(chan int, numJobs)
    wg = gort.WaitGroup()                          # var wg sync.WaitGroup

    for w in range(1, NUM_WORKERS + 1):
        wg.add(1)
        gort.go(worker, w, jobs, results, wg)      # go worker(w, jobs, results, &wg)
    for j in range(1, NUM_JOBS + 1):
        jobs.send(j)                               # jobs <- j
    jobs.close()                                   # close(jobs): the workers' loops end

    gort.go(closer, wg, results)                   # go func() { wg.Wait(); close(results) }()

    for res in results:                            # for res := range results
        print(f"Result processed: {res}")


if __name__ == "__main__":
    # Like gort_main(go_main, NULL) in the C version: main() runs as the main
    # goroutine, and this thread waits for it (GIL released).
    gort.spawn(main).result()
