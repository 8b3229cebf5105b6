// select_recv2 — Go twin of bench/select_recv2.c: Go's
// BenchmarkSelectUncontended (P parallel goroutines, private cap-1 channels,
// a 2-case select receive + a send per iteration). Reports ns per op
// (wall / total iterations).
//
// usage: select_recv2 [iterations]
package main

import (
	"runtime"
	"sync"
	"time"

	"gortbench/internal/benchutil"
)

func main() {
	n := benchutil.Arg(1, 10000000)
	procs := int64(runtime.GOMAXPROCS(0))
	per := n / procs
	var wg sync.WaitGroup
	wg.Add(int(procs))
	t0 := time.Now()
	for p := int64(0); p < procs; p++ {
		go func() {
			myc1 := make(chan int64, 1)
			myc2 := make(chan int64, 1)
			myc1 <- 0
			for i := int64(0); i < per; i++ {
				select {
				case v := <-myc1:
					myc2 <- v
				case v := <-myc2:
					myc1 <- v
				}
			}
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	benchutil.Result("ns_per_op", float64(el.Nanoseconds())/float64(per*procs), "ns")
}
