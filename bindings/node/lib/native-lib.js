'use strict';
// gort.native(path).func(decl): C functions called synchronously or, with
// fn.async(...), on gort's parallel pool (native side: src/native.c, on the
// engine's native-call API).
const native = require('./native');
const { GortPromise } = require('./promise');
const { typeError } = require('./errors');

const T_STRING = 13;

class Library {
  constructor(path) {
    if (typeof path !== 'string') throw typeError('path', 'of type string', path);
    this.path = path;
    this._h = native.dlopen(path);
  }
  func(decl) {
    if (typeof decl !== 'string') throw typeError('decl', 'of type string', decl);
    const [h, nargs, name, types] = native.func(this._h, decl);
    const fn = (...args) => native.call(h, args);
    Object.defineProperty(fn, 'name', { value: name });
    Object.defineProperty(fn, 'length', { value: nargs });
    // The call on a pool goroutine: a gort.Promise of the result. Buffers and
    // TypedArrays passed stay referenced (so alive and not collected) until
    // the call has settled; strings are passed as NUL-terminated copies.
    fn.async = (...args) => {
      const pass = args.map((a, i) => (types[i] === T_STRING && typeof a === 'string' ? Buffer.from(a + '\0') : a));
      const addr = native.callAsync(h, pass);
      // The result is read in the first reaction (the engine's promise owns
      // the copy); the closure keeps the arguments' memory alive until then.
      const p = GortPromise.fromHandle(addr, (ret) => {
        void pass;
        return native.readRet(h, ret === undefined ? 0n : ret);
      });
      native.promiseRelease(addr); // fromHandle took its own reference
      return p;
    };
    return fn;
  }
}

function load(path) { return new Library(path); }

module.exports = { native: load, Library };
