// worker_pool — Go twin of bench/worker_pool.c: Go by Example's "Worker
// Pools" (the seed example) with numJobs = 1M, no sleep, no printing, for
// 3 and 64 workers. Reports total ms.
//
// usage: worker_pool [jobs]
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func arg(i int, def int64) int64 {
	if i < len(os.Args) && os.Args[i] != "" {
		v, err := strconv.ParseInt(os.Args[i], 0, 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "bench: error: bad argument %d: '%s'\n", i, os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

func result(metric string, v float64, unit string) {
	fmt.Printf("RESULT %s=%.6g %s\n", metric, v, unit)
}

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
	n := arg(1, 1000000)
	m3 := run(n, 3)
	m64 := run(n, 64)
	result("ms_w3", m3, "ms")
	result("ms_w64", m64, "ms")
}
