// chan_make — Go twin of bench/chan_make.c: make(chan int64) and
// make(chan int64, 8) N times, each stored to a package-level variable so
// it is heap-allocated; the GC reclaims them. Reports ns per make.
//
// usage: chan_make [n]
package main

import (
	"fmt"
	"os"
	"strconv"
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

var sink chan int64

func main() {
	n := arg(1, 5000000)
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
	result("ns_unbuffered", unbuf, "ns")
	result("ns_cap8", buf, "ns")
}
