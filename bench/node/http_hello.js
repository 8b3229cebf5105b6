// http_hello — Node twin of bench/http_hello.c for bench/run_io.py: the
// http module answering every request with "Hello, World!\n" (200,
// text/plain, keep-alive). Prints "LISTENING <port>" and serves until
// killed; bench/loadgen.c measures it.
//
// usage: node http_hello.js [port]
'use strict';
const http = require('http');

const port = process.argv.length > 2 ? Number(process.argv[2]) : 0;
const body = Buffer.from('Hello, World!\n');
const server = http.createServer((req, res) => {
  res.writeHead(200, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': body.length,
  });
  res.end(body);
});
server.keepAliveTimeout = 60000;
server.on('error', (err) => {
  console.error(`bench: error: listen: ${err.message}`);
  process.exit(2);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
