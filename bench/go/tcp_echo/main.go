// tcp_echo — Go twin of bench/tcp_echo.c for bench/run_io.py: a TCP echo
// server on 127.0.0.1, one goroutine per connection (read into a 16 KiB
// buffer, write it all back, until EOF). Prints "LISTENING <port>" and
// serves until killed; bench/loadgen.c measures it. Go sets TCP_NODELAY on
// accepted TCP connections by default, as the C server does explicitly.
//
// usage: tcp_echo [port]
package main

import (
	"fmt"
	"net"
	"os"

	"gortbench/internal/benchutil"
)

func handle(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16384)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	ln := benchutil.Listen()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcp_echo: accept: %v\n", err)
			continue
		}
		go handle(c)
	}
}
