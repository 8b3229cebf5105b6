// preempt_latency — Go twin of bench/preempt_latency.c: with GOMAXPROCS=1, a
// goroutine spinning on an atomic counter (no calls) next to a goroutine that
// sleeps 1 ms SAMPLES times and measures how late it wakes. Reports the mean
// and max lateness in ms.
//
// usage: preempt_latency [samples]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
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
	runtime.GOMAXPROCS(1)
	samples := arg(1, 20)
	var stop atomic.Bool
	var spins atomic.Int64
	var wg sync.WaitGroup
	var mean, max float64
	wg.Add(2)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			spins.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		sum := 0.0
		for i := int64(0); i < samples; i++ {
			t0 := time.Now()
			time.Sleep(time.Millisecond)
			late := float64(time.Since(t0)-time.Millisecond) / 1e6
			sum += late
			if late > max {
				max = late
			}
		}
		mean = sum / float64(samples)
		stop.Store(true)
	}()
	wg.Wait()
	result("late_mean_ms", mean, "ms")
	result("late_max_ms", max, "ms")
}
