// fib_parallel — Go twin of bench/fib_parallel.c: T goroutines each
// computing fib(35) recursively; bench/run.py runs it with GOMAXPROCS=1 and
// =all and reports the speed-up. Reports wall seconds.
//
// usage: fib_parallel [tasks] [n]
package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"gortbench/internal/benchutil"
)

//go:noinline
func fib(n int) int64 {
	if n < 2 {
		return int64(n)
	}
	return fib(n-1) + fib(n-2)
}

func main() {
	tasks := int(benchutil.Arg(1, 16))
	n := int(benchutil.Arg(2, 35))
	res := make([]int64, tasks)
	var wg sync.WaitGroup
	wg.Add(tasks)
	t0 := time.Now()
	for i := 0; i < tasks; i++ {
		go func(i int) {
			res[i] = fib(n)
			wg.Done()
		}(i)
	}
	wg.Wait()
	el := time.Since(t0)
	for i := 1; i < tasks; i++ {
		if res[i] != res[0] {
			fmt.Fprintf(os.Stderr, "bench: error: fib results differ\n")
			os.Exit(2)
		}
	}
	benchutil.Result("seconds", el.Seconds(), "s")
}
