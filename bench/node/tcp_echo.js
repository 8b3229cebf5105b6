// tcp_echo — Node twin of bench/tcp_echo.c for bench/run_io.py: a TCP echo
// server on 127.0.0.1 (net.createServer; every chunk written straight back).
// Prints "LISTENING <port>" and serves until killed; bench/loadgen.c
// measures it. Node runs JavaScript on one thread: that is the comparison.
//
// usage: node tcp_echo.js [port]
'use strict';
const net = require('net');

const port = process.argv.length > 2 ? Number(process.argv[2]) : 0;
const server = net.createServer({ noDelay: true }, (sock) => {
  sock.setNoDelay(true);
  sock.on('data', (chunk) => sock.write(chunk));
  sock.on('error', () => sock.destroy());
});
server.on('error', (err) => {
  console.error(`bench: error: listen: ${err.message}`);
  process.exit(2);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
