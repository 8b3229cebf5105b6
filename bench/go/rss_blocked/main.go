// rss_blocked — Go twin of bench/rss_blocked.c: N goroutines blocked on
// `<-ch`; reports (VmRSS blocked - VmRSS baseline) / N, then closes ch and
// waits for all of them to exit.
//
// usage: rss_blocked [n]
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"gortbench/internal/benchutil"
)

func vmrss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line[6:])
			if len(fields) > 0 {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return kb * 1024
				}
			}
		}
	}
	return -1
}

var (
	ch      = make(chan int64)
	started sync.WaitGroup
	done    sync.WaitGroup
)

func blocked() {
	started.Done()
	<-ch
	done.Done()
}

func main() {
	n := int(benchutil.Arg(1, 1000000))
	base := vmrss()
	started.Add(n)
	done.Add(n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go blocked()
	}
	started.Wait()
	t1 := time.Now()
	rss := vmrss()
	if base < 0 || rss < 0 {
		fmt.Fprintf(os.Stderr, "bench: error: cannot read VmRSS\n")
		os.Exit(2)
	}
	t2 := time.Now()
	close(ch)
	done.Wait()
	t3 := time.Now()
	fmt.Fprintf(os.Stderr, "rss_blocked: baseline %d KiB, blocked %d KiB\n", base/1024, rss/1024)
	benchutil.Result("bytes_per_g", float64(rss-base)/float64(n), "B")
	benchutil.Result("spawn_ms", float64(t1.Sub(t0).Nanoseconds())/1e6, "ms")
	benchutil.Result("release_ms", float64(t3.Sub(t2).Nanoseconds())/1e6, "ms")
}
