// spawn — Go twin of bench/spawn.c.
//
//	ns_per_go_chain: BenchmarkCreateGoroutines (P chains, each goroutine
//	                 spawns the next and exits)
//	ns_per_go_wg:    main spawns N goroutines whose body is wg.Done(), waits
//
// usage: spawn [n]
package main

import (
	"runtime"
	"sync"
	"time"

	"gortbench/internal/benchutil"
)

var wg sync.WaitGroup

func chain(n int64) {
	if n == 0 {
		wg.Done()
		return
	}
	go chain(n - 1)
}

func leaf() {
	wg.Done()
}

func main() {
	n := benchutil.Arg(1, 1000000)
	procs := int64(runtime.GOMAXPROCS(0))

	// warm-up
	wg.Add(1000)
	for i := 0; i < 1000; i++ {
		go leaf()
	}
	wg.Wait()

	per := n / procs
	wg.Add(int(procs))
	t0 := time.Now()
	for p := int64(0); p < procs; p++ {
		go chain(per)
	}
	wg.Wait()
	chainNs := float64(time.Since(t0).Nanoseconds()) / float64(per*procs)

	wg.Add(int(n))
	t0 = time.Now()
	for i := int64(0); i < n; i++ {
		go leaf()
	}
	wg.Wait()
	wgNs := float64(time.Since(t0).Nanoseconds()) / float64(n)

	benchutil.Result("ns_per_go_chain", chainNs, "ns")
	benchutil.Result("ns_per_go_wg", wgNs, "ns")
}
