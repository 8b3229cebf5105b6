'use strict';
// gort.Promise: Promises/A+ on gort_promise (src/promise.c). The engine
// holds the state and runs reactions as microtasks of this env's gort loop
// (driven on the JS thread, src/addon.c); this file is the JS side: the
// resolution procedure (A+ 2.3, which must call thenables from JS), the
// handler dispatcher, combinators' result shapes, unhandled rejections.
const native = require('./native');

const INTERNAL = Symbol('gort.internal');
const PENDING = 0, FULFILLED = 1, REJECTED = 2;
const C_TYPES = ['pointer', 'int64', 'float64', 'string'];

class GortPromise {
  // (INTERNAL, handle): a promise on an existing gort_promise external.
  constructor(executor, handle) {
    this._h = executor === INTERNAL && handle !== undefined ? handle : native.promiseNew();
    this._handled = false;
    if (executor === INTERNAL) return;
    if (typeof executor !== 'function') {
      const e = new TypeError(`Promise resolver ${String(executor)} is not a function`);
      e.code = 'ERR_INVALID_ARG_TYPE';
      throw e;
    }
    let done = false;
    const resolve = (v) => { if (!done) { done = true; resolveP(this, v); } };
    const reject = (r) => { if (!done) { done = true; rejectP(this, r); } };
    try {
      executor(resolve, reject);
    } catch (e) {
      reject(e);
    }
  }

  then(onFulfilled, onRejected) {
    const res = new GortPromise(INTERNAL);
    this._handled = true;
    native.promiseThen(this._h, onFulfilled, onRejected, res);
    return res;
  }

  catch(onRejected) { return this.then(undefined, onRejected); }

  finally(onFinally) {
    if (typeof onFinally !== 'function') return this.then(onFinally, onFinally);
    return this.then(
      (v) => GortPromise.resolve(onFinally()).then(() => v),
      (r) => GortPromise.resolve(onFinally()).then(() => { throw r; }));
  }

  // The gort_promise * (BigInt) for native code: valid while this object lives.
  get handle() { return native.promiseHandle(this._h); }

  get [Symbol.toStringTag]() { return 'gort.Promise'; }

  static resolve(v) {
    if (v instanceof GortPromise) return v;
    const p = new GortPromise(INTERNAL);
    resolveP(p, v);
    return p;
  }

  static reject(r) {
    const p = new GortPromise(INTERNAL);
    rejectP(p, r);
    return p;
  }

  static all(iterable) { return combine(1, iterable); }
  static allSettled(iterable) { return combine(2, iterable); }
  static race(iterable) { return combine(3, iterable); }
  static any(iterable) { return combine(4, iterable); }

  // Adopt a gort_promise * returned by another addon (a BigInt; one
  // reference is taken, the caller keeps its own). Its C value reaches JS
  // as read by `type`: 'int64' | 'float64' (the value points at one),
  // 'string' (a NUL-terminated char *), or 'pointer' (default: the address
  // as a BigInt, undefined for NULL). A C rejection is an Error whose code
  // is the GORT_E* name.
  static fromHandle(handle, type = 'pointer') {
    if (typeof handle !== 'bigint' || handle === 0n) {
      const e = new TypeError('The "handle" argument must be a non-zero bigint (a gort_promise *)');
      e.code = 'ERR_INVALID_ARG_TYPE';
      throw e;
    }
    const kind = typeof type === 'function' ? -2 : C_TYPES.indexOf(type);
    if (kind === -1) {
      const e = new TypeError(`The "type" argument must be one of ${C_TYPES.map((t) => `'${t}'`).join(', ')}`);
      e.code = 'ERR_INVALID_ARG_TYPE';
      throw e;
    }
    const src = new GortPromise(INTERNAL, native.promiseFromHandle(handle));
    native.ref(); // native work in flight keeps the process alive, like a libuv request
    // The C value is read inside this reaction, while the engine's promise
    // (which owns it) is certainly alive; `type` may be a reader function.
    return src.then((v) => {
      native.unref();
      if (kind === -2) return type(v);
      return typeof v === 'bigint' ? native.readC(v, kind) : v;
    }, (r) => {
      native.unref();
      throw r;
    });
  }
}

function fulfillP(p, v) { native.promiseFulfill(p._h, v); }

function rejectP(p, r) {
  if (!native.promiseReject(p._h, r)) return;
  if (!p._handled) setImmediate(checkUnhandled, p, r);
}

// Node's rule: a rejection with no handler once the microtasks have run
// goes to process 'unhandledRejection'; with no listener it is thrown
// (Node's default --unhandled-rejections=throw).
function checkUnhandled(p, r) {
  if (p._handled) return;
  if (!process.emit('unhandledRejection', r, p)) throw r;
}

// A+ 2.3: the promise resolution procedure.
function resolveP(p, x) {
  if (x === p) {
    rejectP(p, new TypeError('Chaining cycle detected for promise #<gort.Promise>'));
    return;
  }
  if (x instanceof GortPromise) {
    x.then((v) => fulfillP(p, v), (r) => rejectP(p, r));
    return;
  }
  if (x !== null && (typeof x === 'object' || typeof x === 'function')) {
    let then;
    try {
      then = x.then;
    } catch (e) {
      rejectP(p, e);
      return;
    }
    if (typeof then === 'function') {
      let called = false;
      try {
        then.call(x,
          (y) => { if (!called) { called = true; resolveP(p, y); } },
          (r) => { if (!called) { called = true; rejectP(p, r); } });
      } catch (e) {
        if (!called) { called = true; rejectP(p, e); }
      }
      return;
    }
  }
  fulfillP(p, x);
}

// Called by the engine's reaction (src/promise.c) on the JS thread.
function dispatch(handler, rejected, value, res) {
  if (res._inputs) { // a combinator's result
    settleCombined(res, rejected, value);
    return;
  }
  if (typeof handler !== 'function') {
    if (rejected) rejectP(res, value); else fulfillP(res, value);
    return;
  }
  let x;
  try {
    x = handler(value);
  } catch (e) {
    rejectP(res, e);
    return;
  }
  resolveP(res, x);
}

function settleCombined(res, rejected, value) {
  const inputs = res._inputs;
  res._inputs = null;
  const kind = res._kind;
  if (kind === 1 && !rejected) {
    fulfillP(res, inputs.map((p) => native.promiseValue(p._h)));
  } else if (kind === 2) {
    fulfillP(res, inputs.map((p) => native.promiseState(p._h) === FULFILLED
      ? { status: 'fulfilled', value: native.promiseValue(p._h) }
      : { status: 'rejected', reason: native.promiseValue(p._h) }));
  } else if (kind === 4 && rejected && value === undefined) {
    rejectP(res, new AggregateError(inputs.map((p) => native.promiseValue(p._h)),
      'All promises were rejected'));
  } else if (rejected) {
    rejectP(res, value);
  } else {
    fulfillP(res, value);
  }
}

function combine(kind, iterable) {
  const res = new GortPromise(INTERNAL);
  let inputs;
  try {
    if (iterable == null || typeof iterable[Symbol.iterator] !== 'function')
      throw new TypeError(`${typeof iterable} is not iterable`);
    inputs = Array.from(iterable, (x) => GortPromise.resolve(x));
  } catch (e) {
    rejectP(res, e);
    return res;
  }
  for (const p of inputs) p._handled = true;
  res._inputs = inputs;
  res._kind = kind;
  native.promiseCombine(kind, inputs.map((p) => p._h), res);
  return res;
}

native.promiseSetup(dispatch);

module.exports = { GortPromise, INTERNAL, PENDING, FULFILLED, REJECTED };
