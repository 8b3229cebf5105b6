// mutex — Go twin of bench/mutex.c: G goroutines each doing K
// lock/counter++/unlock on one sync.Mutex. Reports ns per op.
//
// usage: mutex [iters-per-goroutine] [goroutines]
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
	k := arg(1, 10000000)
	n := arg(2, 4)
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
	result("ns_per_op", float64(el.Nanoseconds())/float64(n*k), "ns")
}
