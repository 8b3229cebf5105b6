'use strict';
// Argument checks that name the parameter (TypeError / RangeError), as
// Node's own APIs do.
function typeError(name, what, v) {
  const e = new TypeError(`The "${name}" argument must be ${what}. Received ${describe(v)}`);
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}
function rangeError(name, what, v) {
  const e = new RangeError(`The value of "${name}" is out of range. It must be ${what}. Received ${describe(v)}`);
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}
function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'function') return `function ${v.name || '<anonymous>'}`;
  if (typeof v === 'object') return `an instance of ${(v.constructor && v.constructor.name) || 'Object'}`;
  if (typeof v === 'string') return `type string ('${v.length > 20 ? v.slice(0, 20) + '...' : v}')`;
  return `type ${typeof v} (${String(v)})`;
}
function checkMs(name, v) {
  if (typeof v !== 'number') throw typeError(name, 'of type number', v);
  if (!(v >= 0) || v === Infinity) throw rangeError(name, '>= 0 and finite', v);
  return v;
}
module.exports = { typeError, rangeError, checkMs };
