// fib_parallel — Go twin of bench/fib_parallel.c: T goroutines each
// computing fib(35) recursively; bench/run.py runs it with GOMAXPROCS=1 and
// =all and reports the speed-up. Reports wall seconds.
//
// usage: fib_parallel [tasks] [n]
package main

import (
	"fmt"
	"os"
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

//go:noinline
func fib(n int) int64 {
	if n < 2 {
		return int64(n)
	}
	return fib(n-1) + fib(n-2)
}

func main() {
	tasks := int(arg(1, 16))
	n := int(arg(2, 35))
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
	result("seconds", el.Seconds(), "s")
}
