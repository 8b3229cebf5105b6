// http_hello — Go twin of bench/http_hello.c for bench/run_io.py: net/http
// answering every request with "Hello, World!\n" (200, text/plain), HTTP/1.1
// keep-alive, one goroutine per connection (net/http's model). Prints
// "LISTENING <port>" and serves until killed; bench/loadgen.c measures it.
//
// usage: http_hello [port]
package main

import (
	"fmt"
	"net/http"
	"os"

	"gortbench/internal/benchutil"
)

var body = []byte("Hello, World!\n")

func main() {
	ln := benchutil.Listen()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(body)
	})
	if err := http.Serve(ln, h); err != nil {
		fmt.Fprintf(os.Stderr, "bench: error: serve: %v\n", err)
		os.Exit(2)
	}
}
