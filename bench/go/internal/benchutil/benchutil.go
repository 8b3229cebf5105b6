// Package benchutil holds what every Go twin under bench/go shares: reading
// a numeric command-line argument and printing a result in the format
// bench/run.py parses ("RESULT <metric>=<value> <unit>"), and the listener
// set-up of the network servers run by bench/run_io.py.
package benchutil

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

// Arg returns os.Args[i] parsed as a positive integer (decimal, or with a
// 0x / 0 / 0b prefix), or def when the argument is absent or empty. A bad
// or non-positive value prints an error and exits with status 2.
func Arg(i int, def int64) int64 {
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

// Result prints one result line for bench/run.py.
func Result(metric string, v float64, unit string) {
	fmt.Printf("RESULT %s=%.6g %s\n", metric, v, unit)
}

// Listen parses the optional port argument (os.Args[1], default 0: an
// ephemeral port), listens on 127.0.0.1 and prints "LISTENING <port>" for
// bench/run_io.py. A bad port or a failed listen prints an error and exits
// with status 2.
func Listen() net.Listener {
	port := 0
	if len(os.Args) > 1 {
		p, err := strconv.Atoi(os.Args[1])
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: error: bad port %q\n", os.Args[1])
			os.Exit(2)
		}
		port = p
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: error: listen: %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	return ln
}
