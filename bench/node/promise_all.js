// promise_all — Node twin of bench/promise_all.c.
//
// Promise.all over N promises (default 1,000,000), two shapes:
//   ns_resolved  the N promises are already fulfilled (Promise.resolve(i))
//                when Promise.all is called;
//   ns_async     the N promises are pending when Promise.all is called and
//                are fulfilled afterwards, in order, by one macrotask
//                (setImmediate).
// The clock runs from creating the first input to the reaction on the
// combined promise, which checks the sum of the N values. Per promise.
//
//   RESULT ns_resolved=<ns> ns
//   RESULT ns_async=<ns> ns
//
// usage: node promise_all.js [n]
'use strict';

const N = Number(process.argv[2] || 1000000);
const now = () => process.hrtime.bigint();

function check(vals, n) {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += vals[i];
  if (vals.length !== n || sum !== (n * (n - 1)) / 2) {
    console.error(`promise_all: bad result (len ${vals.length}, sum ${sum})`);
    process.exit(2);
  }
}

function resolvedCase(n) {
  return new Promise((done) => {
    const t0 = now();
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = Promise.resolve(i);
    Promise.all(ps).then((vals) => {
      check(vals, n);
      done(Number(now() - t0) / n);
    });
  });
}

function asyncCase(n) {
  return new Promise((done) => {
    const t0 = now();
    const ps = new Array(n);
    const res = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = new Promise((r) => { res[i] = r; });
    Promise.all(ps).then((vals) => {
      check(vals, n);
      done(Number(now() - t0) / n);
    });
    setImmediate(() => {
      for (let i = 0; i < n; i++) res[i](i);
    });
  });
}

(async () => {
  const w = Math.max(1, Math.floor(N / 10));
  await resolvedCase(w);
  await asyncCase(w);
  const a = await resolvedCase(N);
  const b = await asyncCase(N);
  console.log(`RESULT ns_resolved=${a.toFixed(3)} ns`);
  console.log(`RESULT ns_async=${b.toFixed(3)} ns`);
})();
