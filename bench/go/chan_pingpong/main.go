// chan_pingpong — Go twin of bench/chan_pingpong.c: round trips over two
// unbuffered chan int64 (ping, pong) between main and a partner goroutine.
//
// usage: chan_pingpong [round-trips]
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

func main() {
	n := arg(1, 2000000)
	ping := make(chan int64)
	pong := make(chan int64)
	fin := make(chan struct{})
	go func() {
		for {
			v := <-ping
			if v < 0 {
				break
			}
			pong <- v
		}
		close(fin)
	}()
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		ping <- i
		if w := <-pong; w != i {
			fmt.Fprintf(os.Stderr, "bench: error: got %d, want %d\n", w, i)
			os.Exit(2)
		}
	}
	el := time.Since(t0)
	ping <- -1
	<-fin
	result("ns_per_roundtrip", float64(el.Nanoseconds())/float64(n), "ns")
}
