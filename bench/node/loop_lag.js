// loop_lag — Node twin of bench/loop_lag.c.
//
// A 1 ms interval ticks on the loop. At the 10th tick, JOBS x fib(35) start
// (JOBS = 4 x $GORT_PROCS, else 4 x the number of CPUs: the same work as the
// C side). Node can only compute them on its one JavaScript thread, inside
// that tick, so the loop freezes; gort runs them with gort_async on the
// parallel pool. Ten ticks after the jobs are done the interval stops.
//
//   max_lag_ms  largest gap between consecutive ticks, minus the 1 ms period
//   fib_ms      start of the jobs .. all done (informational)
//   ticks       ticks seen (informational)
//
// usage: node loop_lag.js [fib_n]
'use strict';

const os = require('os');
const { performance } = require('perf_hooks');

const FIB = Number(process.argv[2] || 35);
const JOBS = 4 * (Number(process.env.GORT_PROCS) ||
  (os.availableParallelism ? os.availableParallelism() : os.cpus().length));

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

let last = 0;
let maxGap = 0;
let ticks = 0;
let doneTick = 0;
let fibMs = 0;

const iv = setInterval(() => {
  const t = performance.now();
  if (last) maxGap = Math.max(maxGap, t - last);
  last = t;
  ticks++;
  if (ticks === 10) {
    let sum = 0;
    for (let j = 0; j < JOBS; j++) sum += fib(FIB);
    if (FIB === 35 && sum !== 9227465 * JOBS) {
      console.error(`loop_lag: bad fib sum ${sum}`);
      process.exit(2);
    }
    fibMs = performance.now() - t;
    doneTick = ticks;
  }
  if (doneTick && ticks >= doneTick + 10) {
    clearInterval(iv);
    console.log(`RESULT max_lag_ms=${Math.max(0, maxGap - 1).toFixed(3)} ms`);
    console.log(`RESULT fib_ms=${fibMs.toFixed(3)} ms`);
    console.log(`RESULT ticks=${ticks} n`);
  }
}, 1);
