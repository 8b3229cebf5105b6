// chan_pingpong — Go twin of bench/chan_pingpong.c: round trips over two
// unbuffered chan int64 (ping, pong) between main and a partner goroutine.
//
// usage: chan_pingpong [round-trips]
package main

import (
	"fmt"
	"os"
	"time"

	"gortbench/internal/benchutil"
)

func main() {
	n := benchutil.Arg(1, 2000000)
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
	benchutil.Result("ns_per_roundtrip", float64(el.Nanoseconds())/float64(n), "ns")
}
