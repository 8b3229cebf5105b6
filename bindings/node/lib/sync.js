'use strict';
// gort.sleep, gort.WaitGroup, gort.Mutex (native side: src/sync.c).
const native = require('./native');
const { typeError, rangeError, checkMs } = require('./errors');
const { GortPromise } = require('./promise');

function sleep(ms) {
  checkMs('ms', ms);
  return native.sleep(ms);
}

class WaitGroup {
  constructor() {
    this._h = native.cellNew();
    this._count = 0; // mirrors the gort_wg counter: misuse is a JS error, not an abort
  }
  add(n = 1) {
    if (!Number.isSafeInteger(n)) throw typeError('n', 'a safe integer', n);
    if (this._count + n < 0) throw rangeError('n', `>= ${-this._count} (the counter would go negative)`, n);
    this._count += n;
    native.wgAdd(this._h, n);
  }
  done() { this.add(-1); }
  wait() { return native.wgWait(this._h); }
}

class Mutex {
  constructor() {
    this._h = native.cellNew();
    this._locked = false;
  }
  lock() {
    return native.mutexLock(this._h).then(() => { this._locked = true; });
  }
  tryLock() {
    const ok = native.mutexTryLock(this._h);
    if (ok) this._locked = true;
    return ok;
  }
  unlock() {
    if (!this._locked) {
      const e = new Error('unlock of an unlocked gort.Mutex');
      e.code = 'GORT_EPERM';
      throw e;
    }
    this._locked = false;
    native.mutexUnlock(this._h);
  }
}

module.exports = { sleep, WaitGroup, Mutex, GortPromise };
