'use strict';
// gort.Promise beyond the A+ suite: ordering against V8 microtasks and
// timers, thenables both ways, combinators, unhandled rejections.
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('child_process');
const gort = require('..');

const T = { timeout: 30000 };

test('reactions run after the current job, before timers; registration order kept', T, async () => {
  const log = [];
  const p = gort.Promise.resolve(1);
  setTimeout(() => log.push('timeout'), 0);
  p.then(() => log.push('g1'));
  Promise.resolve().then(() => log.push('v8'));
  p.then(() => log.push('g2'));
  log.push('sync');
  await new Promise((r) => setTimeout(r, 20));
  assert.deepStrictEqual(log.slice(0, 1), ['sync']);
  assert.ok(log.indexOf('g1') < log.indexOf('g2'));
  assert.ok(log.indexOf('g2') < log.indexOf('timeout'), log.join());
  assert.ok(log.indexOf('v8') < log.indexOf('timeout'));
});

test('await and Promise.all accept gort promises; gort adopts JS thenables', T, async () => {
  assert.strictEqual(await gort.Promise.resolve(5), 5);
  assert.deepStrictEqual(await Promise.all([Promise.resolve(1), gort.Promise.resolve(2)]), [1, 2]);
  assert.strictEqual(await gort.Promise.resolve(Promise.resolve('js')), 'js');
  assert.strictEqual(await new gort.Promise((r) => r({ then(f) { f('thenable'); } })), 'thenable');
  await assert.rejects(gort.Promise.reject(new Error('no')), /no/);
  const p = new gort.Promise((r) => r());
  const self = p.then(() => self);
  await assert.rejects(self, TypeError);
  assert.strictEqual(await gort.Promise.reject(1).catch((x) => x + 1), 2);
  let fin = 0;
  assert.strictEqual(await gort.Promise.resolve(3).finally(() => { fin++; }), 3);
  assert.strictEqual(fin, 1);
  assert.throws(() => new gort.Promise(5), TypeError);
});

test('combinators: all, allSettled, race, any (input order kept)', T, async () => {
  const later = (v, ms, fail) => new gort.Promise((res, rej) => setTimeout(() => (fail ? rej : res)(v), ms));
  assert.deepStrictEqual(await gort.Promise.all([later('a', 30), later('b', 5), 'c']), ['a', 'b', 'c']);
  assert.deepStrictEqual(await gort.Promise.all([]), []);
  await assert.rejects(gort.Promise.all([later(1, 20), later(new Error('x'), 5, true)]), /x/);
  assert.deepStrictEqual(await gort.Promise.allSettled([later(1, 5), later(2, 1, true)]),
    [{ status: 'fulfilled', value: 1 }, { status: 'rejected', reason: 2 }]);
  assert.strictEqual(await gort.Promise.race([later('slow', 40), later('fast', 5)]), 'fast');
  assert.strictEqual(await gort.Promise.any([later(1, 5, true), later('ok', 10)]), 'ok');
  await assert.rejects(gort.Promise.any([later(1, 5, true), later(2, 1, true)]),
    (e) => e instanceof AggregateError && e.errors.join() === '1,2');
  await assert.rejects(gort.Promise.all(5), TypeError);
});

test('a long then-chain (10000) settles', T, async () => {
  let p = gort.Promise.resolve(0);
  for (let i = 0; i < 10000; i++) p = p.then((v) => v + 1);
  assert.strictEqual(await p, 10000);
});

test('unhandled rejections reach process "unhandledRejection"; none for handled ones', T, () => {
  const code = `
    const gort = require(${JSON.stringify(require.resolve('..'))});
    process.on('unhandledRejection', (r, p) => console.log('unhandled', r.message, p instanceof gort.Promise));
    gort.Promise.reject(new Error('lost'));
    gort.Promise.reject(new Error('caught')).catch(() => {});
    new gort.Promise((_, rej) => setTimeout(() => rej(new Error('later')), 5)).then(() => {});`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20000 });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.deepStrictEqual(r.stdout.trim().split('\n').sort(), ['unhandled later true', 'unhandled lost true']);
  const r2 = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(require.resolve('..'))}).Promise.reject(new Error('fatal'))`],
    { encoding: 'utf8', timeout: 20000 });
  assert.strictEqual(r2.status, 1); // Node's default: an unhandled rejection is fatal
  assert.match(r2.stderr, /fatal/);
});

test('gort error codes map to Error.code names', T, () => {
  assert.strictEqual(gort.errors.GORT_ECLOSED, -1002);
  assert.ok(Object.keys(gort.errors).every((k) => /^GORT_E[A-Z]+$/.test(k)));
});
