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
	"strconv"
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
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcp_echo: accept: %v\n", err)
			continue
		}
		go handle(c)
	}
}
