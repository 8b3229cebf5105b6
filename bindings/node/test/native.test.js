'use strict';
// JS and native goroutines on one engine: a C helper addon (test/native/
// helper.c, built here against the same libgort.so.0) exchanges typed
// channels by ch.handle and returns gort_promise * handles (gort.fromHandle).
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const gort = require('..');

const HERE = path.resolve(__dirname, '..');
const ROOT = path.resolve(HERE, '..', '..');
function napiInclude() {
  for (const d of [path.resolve(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'])
    if (fs.existsSync(path.join(d, 'node_api.h'))) return d;
  return require('node-api-headers').include_dir;
}
let helper;
test.before(() => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gort-helper-')), 'helper.node');
  const r = spawnSync(process.env.CC || 'cc', ['-std=c11', '-shared', '-fPIC', '-Wall', '-Wextra', '-Werror',
    '-I', path.join(ROOT, 'include'), '-I', napiInclude(), path.join(__dirname, 'native', 'helper.c'),
    path.join(HERE, 'build', 'libgort.so.0'), `-Wl,-rpath,${path.join(HERE, 'build')}`, '-o', out], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  helper = require(out);
});

test('100k int64 values JS -> C goroutine -> JS, every value checked', { timeout: 120000 }, async () => {
  const N = 100000;
  const input = new gort.Chan(64, 'int64'), output = new gort.Chan(64, 'int64');
  helper.doubler(input.handle, output.handle, N);
  const prod = (async () => {
    for (let i = 0; i < N; i++) if (!input.trySend(i - 50000)) await input.send(i - 50000);
  })();
  let i = 0;
  for await (const v of output) {
    assert.strictEqual(v, 2 * (i - 50000));
    i++;
  }
  await prod;
  assert.strictEqual(i, N);
});

test('gort.fromHandle awaits a gort_promise * from another addon', { timeout: 60000 }, async () => {
  const h = helper.asyncSum(100000);
  const sum = await gort.fromHandle(h, 'int64');
  helper.releasePromise(h);
  assert.strictEqual(sum, 100000 * 99999 / 2);
  const bad = helper.asyncSum(-1);
  await assert.rejects(gort.fromHandle(bad, 'int64'), (e) => e.code === 'GORT_EINVAL' && /n must be/.test(e.message));
  helper.releasePromise(bad);
  assert.throws(() => gort.fromHandle(5), TypeError);
  assert.throws(() => gort.fromHandle(1n, 'int32'), (e) => e instanceof TypeError && /"type"/.test(e.message));
});

test('gort.native: crc32 from libz, sync and fn.async on the pool, checked against zlib.crc32', { timeout: 120000 }, async () => {
  const zlib = require('zlib');
  const crc32 = gort.native('libz.so.1').func('unsigned long crc32(unsigned long, const uint8_t *, unsigned int)');
  assert.strictEqual(crc32.name, 'crc32');
  assert.strictEqual(crc32.length, 3);
  const bufs = Array.from({ length: 24 }, (_, i) => Buffer.alloc((1 << 20) + i, i * 7 + 1));
  let ticks = 0;
  const iv = setInterval(() => ticks++, 1);
  // Only the promises keep the Buffers alive: a GC during the calls must not free them.
  const ps = bufs.map((b) => crc32.async(0, new Uint8Array(b), b.length));
  if (global.gc) global.gc();
  const crcs = await gort.Promise.all(ps);
  clearInterval(iv);
  crcs.forEach((c, i) => assert.strictEqual(c, zlib.crc32(bufs[i])));
  assert.strictEqual(crc32(0, bufs[0], bufs[0].length), zlib.crc32(bufs[0]));
  assert.throws(() => crc32(0, bufs[0], -1), (e) => e instanceof RangeError && /#3/.test(e.message));
  assert.throws(() => crc32(0, bufs[0], 2 ** 32), RangeError);
  assert.throws(() => crc32(0, 'str', 1), (e) => e instanceof TypeError && /#2/.test(e.message));
  assert.throws(() => crc32(0, bufs[0]), (e) => e instanceof TypeError && /takes 3/.test(e.message));
  const strlen = gort.native('libc.so.6').func('size_t strlen(const char *)');
  assert.strictEqual(strlen('héllo'), 6);
  assert.strictEqual(await strlen.async('abc'), 3);
  assert.throws(() => gort.native('libc.so.6').func('int nosuchfunction_gort(int)'), /not found/);
  assert.throws(() => gort.native('libc.so.6').func('int (int'), (e) => e.code === 'GORT_EINVAL');
  assert.throws(() => gort.native('/nonexistent/lib.so'), /nonexistent/);
});

test('gort.native: variadic functions take (type, value) pairs after the fixed arguments', { timeout: 60000 }, async () => {
  const libc = gort.native('libc.so.6');
  const snprintf = libc.func('int snprintf(char *buf, size_t n, const char *fmt, ...)');
  assert.strictEqual(snprintf.length, 3);
  const buf = Buffer.alloc(128);
  const show = (n) => buf.toString('utf8', 0, n);
  // every promotion class: int, unsigned, long long (BigInt), double, string, pointer
  let n = snprintf(buf, buf.length, '%d|%u|%lld|%.3f|%s|%p', 'int', -42, 'unsigned int', 4294967295,
    'long long', -(2n ** 62n), 'double', 2.5, 'const char *', 'héllo', 'void *', null);
  assert.strictEqual(show(n), `-42|4294967295|${-(2n ** 62n)}|2.500|héllo|(nil)`);
  assert.strictEqual(n, Buffer.byteLength(show(n)));
  // no variadic arguments: the fixed ones only
  assert.strictEqual(show(snprintf(buf, buf.length, 'plain')), 'plain');
  // the same type list again reuses its derived signature; another list gets its own
  for (let i = 0; i < 100; i++) assert.strictEqual(show(snprintf(buf, buf.length, '%d', 'int', i)), String(i));
  assert.strictEqual(show(snprintf(buf, buf.length, '%g %g', 'double', 0.5, 'double', -1e300)), '0.5 -1e+300');
  // doubles in registers past the integer ones, and on the stack
  const ds = Array.from({ length: 10 }, (_, i) => i + 0.25);
  n = snprintf(buf, buf.length, ds.map(() => '%.2f').join(' '), ...ds.flatMap((d) => ['double', d]));
  assert.strictEqual(show(n), ds.map((d) => d.toFixed(2)).join(' '));
  // on the pool: strings are copied, the Buffer kept alive until it settles
  const out = Buffer.alloc(64);
  n = await snprintf.async(out, out.length, '%s=%d', 'char *', 'async', 'int', 7);
  assert.strictEqual(out.toString('utf8', 0, n), 'async=7');
  const ps = Array.from({ length: 32 }, (_, i) => {
    const b = Buffer.alloc(16);
    return snprintf.async(b, b.length, '%x', 'unsigned', i * 4099).then((m) => b.toString('utf8', 0, m));
  });
  assert.deepStrictEqual(await gort.Promise.all(ps), Array.from({ length: 32 }, (_, i) => (i * 4099).toString(16)));
  // errors name what is wrong
  assert.throws(() => snprintf(buf, 1, '%d', 'int'), (e) => e instanceof TypeError && /\(type, value\) pair/.test(e.message));
  assert.throws(() => snprintf(buf, 1, '%d', 5, 1), (e) => e instanceof TypeError && /type of variadic argument 0/.test(e.message));
  assert.throws(() => snprintf(buf, 1, '%f', 'float', 1), (e) => e instanceof TypeError && /promoted to double/.test(e.message));
  assert.throws(() => snprintf(buf, 1, '%d', 'nosuchtype', 1), (e) => e instanceof TypeError && /bad variadic argument types/.test(e.message));
  assert.throws(() => snprintf(buf, 1, '%d', 'int', 'x'), (e) => e instanceof TypeError && /#4/.test(e.message));
  assert.throws(() => snprintf(buf, 1, '%d', 'int', 2 ** 31), (e) => e instanceof RangeError && /#4/.test(e.message));
  assert.throws(() => snprintf.async(buf, 1, '%d', 'int'), TypeError);
});

test('fn.async settles one gort.Promise with the C result: every return kind, re-read, chained, mixed with V8 promises', { timeout: 60000 }, async () => {
  const libc = gort.native('libc.so.6');
  const llabs = libc.func('long long llabs(long long)');
  const labs = libc.func('long labs(long)');
  const getenv = libc.func('char *getenv(const char *)');
  const atof = libc.func('double atof(const char *)');
  const abs = libc.func('int abs(int)');
  const p = llabs.async(-(2n ** 62n));
  assert.ok(p instanceof gort.Promise);
  assert.strictEqual(Object.prototype.toString.call(p), '[object gort.Promise]');
  assert.strictEqual(await p, 2n ** 62n); // beyond 2^53: a BigInt
  assert.strictEqual(await p, 2n ** 62n); // the settled result reads the same again
  assert.strictEqual(await labs.async(-5), 5); // in range: a Number
  assert.strictEqual(await atof.async('2.5'), 2.5);
  process.env.GORT_NODE_TEST_VAR = 'value-1';
  const s = getenv.async('GORT_NODE_TEST_VAR');
  const got = await s;
  process.env.GORT_NODE_TEST_VAR = 'value-2-longer'; // the result was copied when the call settled
  assert.strictEqual(got, 'value-1');
  assert.strictEqual(await s, 'value-1');
  assert.strictEqual(await getenv.async('GORT_NODE_NO_SUCH_VAR'), null);
  let fin = 0;
  assert.strictEqual(await abs.async(-3).then((v) => v * 2).finally(() => fin++), 6);
  assert.strictEqual(fin, 1);
  assert.strictEqual(await abs.async(-3).then(() => { throw new Error('boom'); }).catch((e) => e.message), 'boom');
  assert.deepStrictEqual(await Promise.all([abs.async(-1), Promise.resolve(2), abs.async(3)]), [1, 2, 3]);
  const settled = await gort.Promise.allSettled([abs.async(-4), gort.Promise.reject(new Error('r'))]);
  assert.deepStrictEqual(settled.map((x) => x.status), ['fulfilled', 'rejected']);
  assert.strictEqual(settled[0].value, 4);
  assert.strictEqual(await gort.Promise.race([abs.async(-9)]), 9);
  // errors stay synchronous, with the parameter named
  assert.throws(() => abs.async(2 ** 31), (e) => e instanceof RangeError && /#1/.test(e.message));
  assert.throws(() => abs.async('x'), (e) => e instanceof TypeError && /#1/.test(e.message));
  assert.throws(() => abs.async(), (e) => e instanceof TypeError && /takes 1/.test(e.message));
});

test('fn.async: 192 calls in flight whose only references to their Buffers are the calls, gc() while they run', { timeout: 120000 }, () => {
  const code = `
    const gort = require(${JSON.stringify(HERE)});
    const zlib = require('zlib');
    const crc32 = gort.native('libz.so.1').func('unsigned long crc32(unsigned long, const uint8_t *, unsigned int)');
    const strlen = gort.native('libc.so.6').func('size_t strlen(const char *)');
    const N = 192, LEN = 1 << 20;
    const want = Array.from({ length: 16 }, (_, k) => zlib.crc32(Buffer.alloc(LEN, k * 13 + 1)));
    // Each Buffer / TypedArray (own ArrayBuffer) is made here and dropped: the call holds it.
    const start = (i) => {
      const k = i % 16;
      if (i % 3 === 0) return crc32.async(0, new Uint8Array(LEN).fill(k * 13 + 1), LEN).then((c) => [c, want[k]]);
      if (i % 3 === 1) return crc32.async(0, Buffer.alloc(LEN, k * 13 + 1), LEN).then((c) => [c, want[k]]);
      const s = 'x'.repeat(1000 + i); // a string: copied for the call
      return strlen.async(s).then((n) => [n, 1000 + i]);
    };
    (async () => {
      const ps = Array.from({ length: N }, (_, i) => start(i));
      let done = 0, gcs = 0;
      const junk = [];
      ps.forEach((p) => p.then(() => done++));
      // collect and reuse memory while the calls run
      while (done < N) {
        global.gc(); gcs++;
        junk.length = 0;
        for (let j = 0; j < 8; j++) junk.push(Buffer.alloc(LEN, 0xee), new Uint8Array(LEN).fill(0xee));
        await new Promise((r) => setImmediate(r));
      }
      const rs = await gort.Promise.all(ps);
      const bad = rs.filter(([got, exp]) => got !== exp).length;
      console.log(JSON.stringify({ bad, n: rs.length, gcs }));
    })();`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', code], { encoding: 'utf8', timeout: 100000 });
  assert.strictEqual(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.strictEqual(m.n, 192);
  assert.strictEqual(m.bad, 0, `${m.bad} of 192 results wrong`);
  assert.ok(m.gcs >= 1);
});
