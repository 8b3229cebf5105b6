// http_hello — Go twin of bench/http_hello.c for bench/run_io.py: net/http
// answering every request with "Hello, World!\n" (200, text/plain), HTTP/1.1
// keep-alive, one goroutine per connection (net/http's model). Prints
// "LISTENING <port>" and serves until killed; bench/loadgen.c measures it.
//
// usage: http_hello [port]
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

var body = []byte("Hello, World!\n")

func main() {
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
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(body)
	})
	if err := http.Serve(ln, h); err != nil {
		fmt.Fprintf(os.Stderr, "bench: error: serve: %v\n", err)
		os.Exit(2)
	}
}
