// timeouts — Node twin of bench/timeouts.c.
//
// N timeouts (default 100,000) of d ms each, d a whole number in [0, 10]
// from splitmix64 (seed 42: the same sequence as the C side), all set by the
// main script (the loop's first task) and pending at once. Each callback
// counts itself and notes its lateness (fire time - set time - d).
//
//   total_ms       first setTimeout .. last callback
//   ns_per_set     cost of one setTimeout call (the setting loop / N)
//   late_mean_us   mean lateness (informational: Node runs d = 0 at 1 ms)
//
// usage: node timeouts.js [n] [seed]
'use strict';

const N = Number(process.argv[2] || 100000);
const SEED = BigInt(process.argv[3] || 42);
const M64 = (1n << 64n) - 1n;

let state = SEED;
function splitmix64() {
  state = (state + 0x9E3779B97F4A7C15n) & M64;
  let z = state;
  z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & M64;
  return z ^ (z >> 31n);
}

const delays = new Int32Array(N);
for (let i = 0; i < N; i++) delays[i] = Number(splitmix64() % 11n);
const setAt = new Float64Array(N);
let fired = 0;
let lateSum = 0;
let tEnd = 0;

const { performance } = require('perf_hooks');
const t0 = performance.now();

function cb(i) {
  const t = performance.now();
  lateSum += t - setAt[i] - delays[i];
  if (++fired === N) {
    tEnd = t;
    console.log(`RESULT total_ms=${(tEnd - t0).toFixed(3)} ms`);
    console.log(`RESULT ns_per_set=${((tSet - t0) * 1e6 / N).toFixed(3)} ns`);
    console.log(`RESULT late_mean_us=${(lateSum * 1e3 / N).toFixed(3)} us`);
  }
}

for (let i = 0; i < N; i++) {
  setAt[i] = performance.now();
  setTimeout(cb, delays[i], i);
}
const tSet = performance.now();
