// mutex — Go twin of bench/mutex.c: G goroutines each doing K
// lock/counter++/unlock on one sync.Mutex. Reports ns per op.
//
// usage: mutex [iters-per-goroutine] [goroutines]
package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"gortbench/internal/benchutil"
)

var (
	mu      sync.Mutex
	wg      sync.WaitGroup
	counter int64
)

func worker(k int64) {
	for i := int64(0); i < k; i++ {
		mu.Lock()
		counter++
		mu.Unlock()
	}
	wg.Done()
}

func main() {
	k := benchutil.Arg(1, 10000000)
	n := benchutil.Arg(2, 4)
	wg.Add(int(n))
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go worker(k)
	}
	wg.Wait()
	el := time.Since(t0)
	if counter != n*k {
		fmt.Fprintf(os.Stderr, "bench: error: counter %d, want %d\n", counter, n*k)
		os.Exit(2)
	}
	benchutil.Result("ns_per_op", float64(el.Nanoseconds())/float64(n*k), "ns")
}
