// macrotask_chain — Node twin of bench/macrotask_chain.c.
//
// A chain of N macrotasks (default 1,000,000) in which every task queues
// the next one with setImmediate (gort: gort_loop_post from the loop
// thread). The clock runs from queuing the first to the start of the last.
// A warm-up chain of N/10 runs first.
//
//   RESULT ns_per_task=<ns> ns
//
// usage: node macrotask_chain.js [n]
'use strict';

const N = Number(process.argv[2] || 1000000);
const now = () => process.hrtime.bigint();

function chain(n) {
  return new Promise((done) => {
    let i = 0;
    const t0 = now();
    function step() {
      if (++i < n) setImmediate(step);
      else done(Number(now() - t0));
    }
    setImmediate(step);
  });
}

(async () => {
  await chain(Math.max(1, Math.floor(N / 10)));
  const ns = await chain(N);
  console.log(`RESULT ns_per_task=${(ns / N).toFixed(3)} ns`);
})();
