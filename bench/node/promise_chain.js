// promise_chain — Node twin of bench/promise_chain.c.
//
// A then-chain of N promises (default 1,000,000): p = p.then(v => v + 1),
// N times, on a promise already fulfilled with 0; the chain is built by
// the main script (the loop's first task) and runs as microtasks. The
// clock runs from the first then() to the last reaction (the final value
// is checked). A warm-up chain of N/10 runs first.
//
//   RESULT ns_per_then=<ns> ns
//
// usage: node promise_chain.js [n]
'use strict';

const N = Number(process.argv[2] || 1000000);
const now = () => process.hrtime.bigint();

function chain(n) {
  return new Promise((done) => {
    const t0 = now();
    let p = Promise.resolve(0);
    for (let i = 0; i < n; i++) p = p.then((v) => v + 1);
    p.then((v) => {
      const t1 = now();
      if (v !== n) {
        console.error(`promise_chain: got ${v}, want ${n}`);
        process.exit(2);
      }
      done(Number(t1 - t0));
    });
  });
}

(async () => {
  await chain(Math.max(1, Math.floor(N / 10)));
  const ns = await chain(N);
  console.log(`RESULT ns_per_then=${(ns / N).toFixed(3)} ns`);
})();
