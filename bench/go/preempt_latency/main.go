// preempt_latency — Go twin of bench/preempt_latency.c: with GOMAXPROCS=1, a
// goroutine spinning on an atomic counter (no calls) next to a goroutine that
// sleeps 1 ms SAMPLES times and measures how late it wakes. Reports the mean
// and max lateness in ms.
//
// usage: preempt_latency [samples]
package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"gortbench/internal/benchutil"
)

func main() {
	runtime.GOMAXPROCS(1)
	samples := benchutil.Arg(1, 20)
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
	benchutil.Result("late_mean_ms", mean, "ms")
	benchutil.Result("late_max_ms", max, "ms")
}
