// worker_pool — Go twin of bench/worker_pool.c: Go by Example's "Worker
// Pools" (the seed example) with numJobs = 1M, no sleep, no printing, for
// 3 and 64 workers. Reports total ms.
//
// usage: worker_pool [jobs]
package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"gortbench/internal/benchutil"
)

func worker(jobs <-chan int64, results chan<- int64, wg *sync.WaitGroup) {
	defer wg.Done()
	for j := range jobs {
		results <- j * 2
	}
}

func run(numJobs int64, workers int) float64 {
	t0 := time.Now()
	jobs := make(chan int64, numJobs)
	results := make(chan int64, numJobs)
	var wg sync.WaitGroup
	for w := 1; w <= workers; w++ {
		wg.Add(1)
		go worker(jobs, results, &wg)
	}
	for j := int64(1); j <= numJobs; j++ {
		jobs <- j
	}
	close(jobs)
	go func() {
		wg.Wait()
		close(results)
	}()
	var total int64
	for r := range results {
		total += r
	}
	el := time.Since(t0)
	if total != numJobs*(numJobs+1) {
		fmt.Fprintf(os.Stderr, "bench: error: total %d, want %d\n", total, numJobs*(numJobs+1))
		os.Exit(2)
	}
	return float64(el.Nanoseconds()) / 1e6
}

func main() {
	n := benchutil.Arg(1, 1000000)
	m3 := run(n, 3)
	m64 := run(n, 64)
	benchutil.Result("ms_w3", m3, "ms")
	benchutil.Result("ms_w64", m64, "ms")
}
