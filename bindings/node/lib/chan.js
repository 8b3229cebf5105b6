'use strict';
// gort.Chan, gort.select, gort.after, gort.Ticker (native side: src/chan.c).
const native = require('./native');
const { typeError, rangeError, checkMs } = require('./errors');

const KINDS = { any: 0, int64: 1, float64: 2, bytes: 3 };
const KIND_NAMES = ['any', 'int64', 'float64', 'bytes'];
const FROM_HANDLE = Symbol('gort.fromHandle');

class Chan {
  constructor(cap = 0, type = 'any') {
    if (cap === FROM_HANDLE) { // internal: wrap an existing native handle
      this._h = type.h;
      this._kind = type.kind;
      return;
    }
    if (typeof cap !== 'number') throw typeError('cap', 'of type number', cap);
    if (!Number.isInteger(cap) || cap < 0 || cap > 2 ** 32)
      throw rangeError('cap', 'an integer >= 0 and <= 2 ** 32', cap);
    if (!(type in KINDS) || typeof type !== 'string')
      throw typeError('type', "one of 'any', 'int64', 'float64', 'bytes'", type);
    this._kind = KINDS[type];
    this._h = native.chanNew(cap, this._kind);
  }

  // Adopt a gort_chan * from native code (BigInt); takes a reference.
  static fromHandle(handle, type) {
    if (typeof handle !== 'bigint') throw typeError('handle', 'of type bigint (a gort_chan *)', handle);
    if (!(type in KINDS) || type === 'any')
      throw typeError('type', "one of 'int64', 'float64', 'bytes'", type);
    return new Chan(FROM_HANDLE, { h: native.chanFromHandle(handle, KINDS[type]), kind: KINDS[type] });
  }

  send(value) { return native.chanSend(this._h, value); }
  recv() { return native.chanRecv(this._h); }
  trySend(value) { return native.chanTrySend(this._h, value); }
  tryRecv() { return native.chanTryRecv(this._h); }
  close() { native.chanClose(this._h); }
  get length() { return native.chanLen(this._h); }
  get capacity() { return native.chanCap(this._h); }
  get type() { return KIND_NAMES[this._kind]; }
  // The gort_chan * for other addons (typed channels only; valid while
  // this object lives, or retain it with gort_chan_retain).
  get handle() {
    if (this._kind === 0) throw new TypeError("handle: a channel of type 'any' carries JS values and cannot be shared with native code");
    return native.chanHandle(this._h);
  }

  // for await: one receive per iteration, none in advance, so a break
  // leaves nothing behind (return() has no pending receive to withdraw).
  [Symbol.asyncIterator]() {
    const ch = this;
    let done = false;
    return {
      next() {
        if (done) return Promise.resolve({ value: undefined, done: true });
        return ch.recv().then(({ value, ok }) => {
          if (!ok) done = true;
          return { value, done: !ok };
        });
      },
      return(value) {
        done = true;
        return Promise.resolve({ value, done: true });
      },
      [Symbol.asyncIterator]() { return this; },
    };
  }
}

// select(cases, { timeout, default }) -> { index, value, ok }
function select(cases, opts = {}) {
  if (!Array.isArray(cases)) throw typeError('cases', 'an Array of { recv: ch } or { send: ch, value }', cases);
  if (opts === null || typeof opts !== 'object') throw typeError('options', 'of type object', opts);
  const chans = [], dirs = [], values = [];
  cases.forEach((c, i) => {
    if (c === null || typeof c !== 'object') throw typeError(`cases[${i}]`, 'of type object', c);
    if ('recv' in c) {
      if (c.recv !== null && !(c.recv instanceof Chan)) throw typeError(`cases[${i}].recv`, 'a gort.Chan or null', c.recv);
      chans.push(c.recv === null ? null : c.recv._h); dirs.push(2); values.push(undefined);
    } else if ('send' in c) {
      if (c.send !== null && !(c.send instanceof Chan)) throw typeError(`cases[${i}].send`, 'a gort.Chan or null', c.send);
      chans.push(c.send === null ? null : c.send._h); dirs.push(1); values.push(c.value);
    } else {
      throw typeError(`cases[${i}]`, 'of the form { recv: ch } or { send: ch, value }', c);
    }
  });
  let ms = -1;
  if (opts.default) ms = 0;
  else if (opts.timeout !== undefined) ms = Math.max(checkMs('options.timeout', opts.timeout), 1e-6);
  return native.select(chans, dirs, values, ms);
}

// A channel that receives gort.now()-style nanoseconds (a Number) once, ms
// from now. Keeps the process alive until it fires, like setTimeout.
function after(ms) {
  checkMs('ms', ms);
  return new Chan(FROM_HANDLE, { h: native.after(ms), kind: 1 });
}

class Ticker {
  constructor(ms) {
    checkMs('ms', ms);
    if (ms <= 0) throw rangeError('ms', '> 0', ms);
    const [t, h] = native.tickerNew(ms);
    this._t = t;
    this.chan = new Chan(FROM_HANDLE, { h, kind: 1 });
  }
  stop() { native.tickerStop(this._t); }
}

module.exports = { Chan, select, after, Ticker };
