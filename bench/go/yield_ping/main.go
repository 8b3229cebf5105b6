// yield_ping — Go twin of bench/yield_ping.c: N goroutines each calling
// runtime.Gosched() ITERS times, run with GOMAXPROCS=1. Reports ns per yield.
//
// usage: yield_ping [goroutines] [yields-per-goroutine]
package main

import (
	"fmt"
	"os"
	"runtime"
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

func main() {
	n := arg(1, 4)
	iters := arg(2, 2000000)
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
	result("ns_per_yield", float64(el.Nanoseconds())/float64(n*iters), "ns")
}
