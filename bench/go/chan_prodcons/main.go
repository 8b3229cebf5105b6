// chan_prodcons — Go twin of bench/chan_prodcons.c: Go's
// benchmarkChanProdCons(b, chanSize, 0) for chanSize 0, 10, 128, written out
// as a program (P producers + P consumers, batches of 1000 from an atomic
// counter, a 0 ends each consumer). Reports ns per item.
//
// usage: chan_prodcons [items-per-capacity]
package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"gortbench/internal/benchutil"
)

const callsPerSched = 1000

func run(chanSize int, items int64) float64 {
	procs := runtime.GOMAXPROCS(0)
	batches := items / callsPerSched
	n := batches
	myc := make(chan int64, chanSize)
	var wg sync.WaitGroup
	wg.Add(2 * procs)
	t0 := time.Now()
	for p := 0; p < procs; p++ {
		go func() {
			for atomic.AddInt64(&n, -1) >= 0 {
				for g := 0; g < callsPerSched; g++ {
					myc <- 1
				}
			}
			myc <- 0
			wg.Done()
		}()
		go func() {
			for {
				v := <-myc
				if v == 0 {
					break
				}
			}
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	return float64(el.Nanoseconds()) / float64(batches*callsPerSched)
}

func main() {
	items := benchutil.Arg(1, 3000000)
	if items < callsPerSched {
		items = callsPerSched
	}
	r0 := run(0, items)
	r10 := run(10, items)
	r128 := run(128, items)
	benchutil.Result("ns_cap0", r0, "ns")
	benchutil.Result("ns_cap10", r10, "ns")
	benchutil.Result("ns_cap128", r128, "ns")
}
