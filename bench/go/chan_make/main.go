// chan_make — Go twin of bench/chan_make.c: make(chan int64) and
// make(chan int64, 8) N times, each stored to a package-level variable so
// it is heap-allocated; the GC reclaims them. Reports ns per make.
//
// usage: chan_make [n]
package main

import (
	"time"

	"gortbench/internal/benchutil"
)

var sink chan int64

func main() {
	n := benchutil.Arg(1, 5000000)
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		sink = make(chan int64)
	}
	unbuf := float64(time.Since(t0).Nanoseconds()) / float64(n)
	t0 = time.Now()
	for i := int64(0); i < n; i++ {
		sink = make(chan int64, 8)
	}
	buf := float64(time.Since(t0).Nanoseconds()) / float64(n)
	benchutil.Result("ns_unbuffered", unbuf, "ns")
	benchutil.Result("ns_cap8", buf, "ns")
}
