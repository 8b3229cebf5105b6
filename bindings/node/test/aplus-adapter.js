'use strict';
// promises-aplus-tests adapter: deferred() through gort.Promise, so the
// suite exercises gort_promise's state machine and gort's loop.
const gort = require('..');
exports.deferred = () => {
  let resolve, reject;
  const promise = new gort.Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
};
exports.resolved = (v) => gort.Promise.resolve(v);
exports.rejected = (r) => gort.Promise.reject(r);
