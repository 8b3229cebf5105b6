// sleepers — Go twin of bench/sleepers.c: N goroutines each time.Sleep a
// splitmix64-derived duration in [0, 10 ms] (same seed, same durations as
// the C side). Reports wall ms and oversleep mean / p99 in µs.
//
// usage: sleepers [n] [seed]
package main

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"gortbench/internal/benchutil"
)

func splitmix64(state *uint64) uint64 {
	*state += 0x9E3779B97F4A7C15
	z := *state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

const maxSleepNs = 10000000 // 10 ms

var (
	dur  []int64
	over []int64
	wg   sync.WaitGroup
)

func sleeper(i int) {
	d := dur[i]
	t0 := time.Now()
	time.Sleep(time.Duration(d))
	el := time.Since(t0)
	over[i] = el.Nanoseconds() - d
	wg.Done()
}

func main() {
	n := int(benchutil.Arg(1, 100000))
	st := uint64(benchutil.Arg(2, 42))
	dur = make([]int64, n)
	over = make([]int64, n)
	for i := range dur {
		dur[i] = int64(splitmix64(&st) % (maxSleepNs + 1))
	}
	wg.Add(n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go sleeper(i)
	}
	wg.Wait()
	wall := time.Since(t0)

	var sum float64
	for _, o := range over {
		sum += float64(o)
	}
	sort.Slice(over, func(a, b int) bool { return over[a] < over[b] })
	if over[0] < 0 {
		fmt.Fprintf(os.Stderr, "sleepers: warning: a sleep returned %.1f us early\n", float64(-over[0])/1e3)
	}
	benchutil.Result("wall_ms", float64(wall.Nanoseconds())/1e6, "ms")
	benchutil.Result("oversleep_mean_us", sum/float64(n)/1e3, "us")
	benchutil.Result("oversleep_p99_us", float64(over[(n*99)/100])/1e3, "us")
}
