'use strict';
// gort.native(path).func(decl): C functions called synchronously or, with
// fn.async(...), on gort's parallel pool (native side: src/native.c, on the
// engine's native-call API).
const native = require('./native');
const { GortPromise, INTERNAL } = require('./promise');
const { typeError } = require('./errors');

class Library {
  constructor(path) {
    if (typeof path !== 'string') throw typeError('path', 'of type string', path);
    this.path = path;
    this._h = native.dlopen(path);
  }
  func(decl) {
    if (typeof decl !== 'string') throw typeError('decl', 'of type string', decl);
    const [h, nargs, name, variadic] = native.func(this._h, decl);
    // The call on a pool goroutine: a gort.Promise of the result, settled
    // by the native side (src/native.c) without a JS reaction. Bad
    // arguments throw here. Buffers and TypedArrays passed stay referenced
    // (so alive and not collected) until the call has returned; strings are
    // passed as NUL-terminated copies.
    let fn, start;
    if (variadic) {
      const bind = variadicBinder(h, nargs, name); // args -> [handle, C argument values]
      fn = (...args) => { const [fh, vals] = bind(args); return native.call(fh, vals); };
      start = (args, p) => { const [fh, vals] = bind(args); native.callAsync(fh, vals, p, p._h); };
    } else {
      fn = (...args) => native.call(h, args);
      start = (args, p) => native.callAsync(h, args, p, p._h);
    }
    Object.defineProperty(fn, 'name', { value: name });
    Object.defineProperty(fn, 'length', { value: nargs });
    fn.async = (...args) => {
      const p = new GortPromise(INTERNAL);
      start(args, p);
      return p;
    };
    return fn;
  }
}

// A variadic function ("int snprintf(char *, size_t, const char *, ...)")
// takes its fixed arguments, then one (type, value) pair per variadic
// argument, the type a C spelling: snprintf(buf, n, '%d %s', 'int', 42,
// 'const char *', 'x'). C's default promotions apply (float, char, short
// and bool are rejected: pass double or int). Each distinct type list is
// prepared once (gort_sig_new_var) and kept with the function.
function variadicBinder(h, nfixed, name) {
  const derived = new Map(); // 'int,double' -> derived handle
  return (args) => {
    if (args.length < nfixed || (args.length - nfixed) % 2) {
      throw new TypeError(`${name}() takes ${nfixed} fixed argument(s), then a (type, value) pair ` +
        `per variadic argument; got ${args.length} argument(s)`);
    }
    const vtypes = [];
    const vals = args.slice(0, nfixed);
    for (let i = nfixed; i < args.length; i += 2) {
      if (typeof args[i] !== 'string') throw typeError(`type of variadic argument ${vtypes.length}`, 'of type string', args[i]);
      vtypes.push(args[i]);
      vals.push(args[i + 1]);
    }
    const key = vtypes.join(',');
    let d = derived.get(key);
    if (!d) {
      d = native.derive(h, key)[0];
      derived.set(key, d);
    }
    return [d, vals];
  };
}

function load(path) { return new Library(path); }

module.exports = { native: load, Library };
