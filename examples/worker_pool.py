"""worker_pool.py — Go by Example's "Worker Pools" in Python on gort (the
Python twin of examples/worker_pool.c).

The Go program:

    func worker(id int, jobs <-chan int, results chan<- int) {
        for j := range jobs {
            fmt.Printf("worker %d started  job %d\\n", id, j)
            time.Sleep(100 * time.Millisecond)
            fmt.Printf("worker %d finished job %d\\n", id, j)
            results <- j * 2
        }
    }

    func main() {
        const numJobs = 5
        jobs := make(chan int, numJobs)
        results := make(chan int, numJobs)
        var wg sync.WaitGroup
        for w := 1; w <= 3; w++ {
            wg.Add(1)
            go func(w int) { defer wg.Done(); worker(w, jobs, results) }(w)
        }
        for j := 1; j <= numJobs; j++ {
            jobs <- j
        }
        close(jobs)
        go func() { wg.Wait(); close(results) }()
        total := 0
        for r := range results {
            fmt.Println("result", r)
            total += r
        }
        fmt.Println("total", total)
    }

Three workers share five jobs; each takes ~100 ms, so the whole run takes
~200 ms instead of 500. Run: python examples/worker_pool.py (with the `gort`
package installed, e.g. build/python/venv-3.11/bin/python).

One departure, for an output that is the same on every run: in Go all three
workers sleep exactly 100 ms, so which of them wakes first (and the order of
the lines) varies from run to run; here worker w sleeps 100 + 10*(w-1) ms.
Python goroutines all run on one executor thread and switch only where they
block, so with the wake-ups 10 ms apart the lines come out in one order.
"""
import gort

NUM_JOBS, NUM_WORKERS = 5, 3


def worker(id: int, jobs: "gort.Chan[int]", results: "gort.Chan[int]", wg: gort.WaitGroup) -> None:
    try:
        for j in jobs:                             # for j := range jobs (ends at close)
            print(f"worker {id} started  job {j}")
            gort.sleep(0.1 + 0.01 * (id - 1))      # time.Sleep(100 * time.Millisecond): parks
            print(f"worker {id} finished job {j}")
            results.send(j * 2)                    # results <- j * 2
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
        gort.go(worker, w, jobs, results, wg)      # go worker(w, jobs, results)
    for j in range(1, NUM_JOBS + 1):
        jobs.send(j)                               # jobs <- j
    jobs.close()                                   # close(jobs): the workers' loops end

    gort.go(closer, wg, results)                   # go func() { wg.Wait(); close(results) }()

    total = 0
    for r in results:                              # for r := range results
        print("result", r)
        total += r
    print("total", total)


if __name__ == "__main__":
    # Like gort_main(go_main, NULL) in the C version: main() runs as the main
    # goroutine, and this thread waits for it (GIL released).
    gort.spawn(main).result()
