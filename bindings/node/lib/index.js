'use strict';
// gort for Node: Go's channels, select and sync, Promises/A+ promises on
// gort's engine, driven by Node's own event loop. See docs/node.md.
const native = require('./native');
const { Chan, select, after, Ticker } = require('./chan');
const { sleep, WaitGroup, Mutex } = require('./sync');
const { GortPromise } = require('./promise');
const { native: loadNative } = require('./native-lib');

module.exports = {
  Chan, select, after, Ticker, sleep, WaitGroup, Mutex,
  Promise: GortPromise,
  fromHandle: GortPromise.fromHandle,
  native: loadNative,
  procs: native.procs,
  goroutines: native.goroutines,
  errors: native.errors,
  version: native.version,
};
