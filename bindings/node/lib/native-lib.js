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
    const [h, nargs, name, types, variadic] = native.func(this._h, decl);
    // bind(args) -> [handle, C argument values, their GORT_T_* types]
    const bind = variadic ? variadicBinder(h, nargs, name) : (args) => [h, args, types];
    const fn = (...args) => { const [fh, vals] = bind(args); return native.call(fh, vals); };
    Object.defineProperty(fn, 'name', { value: name });
    Object.defineProperty(fn, 'length', { value: nargs });
    // The call on a pool goroutine: a gort.Promise of the result. Buffers and
    // TypedArrays passed stay referenced (so alive and not collected) until
    // the call has settled; strings are passed as NUL-terminated copies.
    fn.async = (...args) => {
      const [fh, vals, ts] = bind(args);
      const pass = vals.map((a, i) => (ts[i] === T_STRING && typeof a === 'string' ? Buffer.from(a + '\0') : a));
      const addr = native.callAsync(fh, pass);
      // The result is read in the first reaction (the engine's promise owns
      // the copy); the closure keeps the arguments' memory alive until then.
      const p = GortPromise.fromHandle(addr, (ret) => {
        void pass;
        return native.readRet(fh, ret === undefined ? 0n : ret);
      });
      native.promiseRelease(addr); // fromHandle took its own reference
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
  const derived = new Map(); // 'int,double' -> [handle, GORT_T_* types]
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
      const [dh, , , dtypes] = native.derive(h, key);
      d = [dh, dtypes];
      derived.set(key, d);
    }
    return [d[0], vals, d[1]];
  };
}

function load(path) { return new Library(path); }

module.exports = { native: load, Library };
