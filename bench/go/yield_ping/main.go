// yield_ping — Go twin of bench/yield_ping.c: N goroutines each calling
// runtime.Gosched() ITERS times, run with GOMAXPROCS=1. Reports ns per yield.
//
// usage: yield_ping [goroutines] [yields-per-goroutine]
package main

import (
	"runtime"
	"sync"
	"time"

	"gortbench/internal/benchutil"
)

func main() {
	n := benchutil.Arg(1, 4)
	iters := benchutil.Arg(2, 2000000)
	var wg sync.WaitGroup
	wg.Add(int(n))
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			for j := int64(0); j < iters; j++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	benchutil.Result("ns_per_yield", float64(el.Nanoseconds())/float64(n*iters), "ns")
}
