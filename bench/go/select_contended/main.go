// select_contended — Go twin of bench/select_contended.c: Go's
// BenchmarkSelectSyncContended (per P: a sender selecting over three
// unbuffered sends + <-done, a receiver selecting over three receives).
// Reports ns per receive-select (wall / total iterations).
//
// usage: select_contended [iterations]
package main

import (
	"runtime"
	"sync"
	"time"

	"gortbench/internal/benchutil"
)

func main() {
	n := benchutil.Arg(1, 1000000)
	procs := int64(runtime.GOMAXPROCS(0))
	per := n / procs
	myc1 := make(chan int64)
	myc2 := make(chan int64)
	myc3 := make(chan int64)
	done := make(chan int64)
	var recvWg, sendWg sync.WaitGroup
	recvWg.Add(int(procs))
	sendWg.Add(int(procs))
	t0 := time.Now()
	for p := int64(0); p < procs; p++ {
		go func() {
			for {
				select {
				case myc1 <- 0:
				case myc2 <- 0:
				case myc3 <- 0:
				case <-done:
					sendWg.Done()
					return
				}
			}
		}()
		go func() {
			for i := int64(0); i < per; i++ {
				select {
				case <-myc1:
				case <-myc2:
				case <-myc3:
				}
			}
			recvWg.Done()
		}()
	}
	recvWg.Wait()
	el := time.Since(t0)
	close(done)
	sendWg.Wait()
	benchutil.Result("ns_per_op", float64(el.Nanoseconds())/float64(per*procs), "ns")
}
