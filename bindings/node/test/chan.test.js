'use strict';
// Channels, select, timers and sync from JS (cases ported from
// tests/test_chan.c and tests/test_chan_more.c where they apply).
const test = require('node:test');
const assert = require('node:assert');
const gort = require('..');

const T = { timeout: 30000 };

test('buffered channel is FIFO; length and capacity', T, async () => {
  const ch = new gort.Chan(3);
  assert.strictEqual(ch.capacity, 3);
  await ch.send('a'); await ch.send({ b: 1 }); await ch.send(3);
  assert.strictEqual(ch.length, 3);
  assert.strictEqual(ch.trySend(4), false);
  assert.deepStrictEqual(await ch.recv(), { value: 'a', ok: true });
  assert.deepStrictEqual(await ch.recv(), { value: { b: 1 }, ok: true });
  assert.deepStrictEqual(ch.tryRecv(), { value: 3, ok: true });
  assert.strictEqual(ch.tryRecv(), undefined);
  assert.strictEqual(ch.length, 0);
});

test('unbuffered: a send completes only when received; values keep identity', T, async () => {
  const ch = new gort.Chan();
  const obj = { x: 1 };
  let sent = false;
  const s = ch.send(obj).then(() => { sent = true; });
  await gort.sleep(20);
  assert.strictEqual(sent, false);
  const r = await ch.recv();
  assert.strictEqual(r.value, obj);
  await s;
  assert.strictEqual(sent, true);
});

test('one sender, one receiver, 20000 values in order (blocking paths)', T, async () => {
  const ch = new gort.Chan(0);
  const N = 20000;
  const prod = (async () => { for (let i = 0; i < N; i++) await ch.send(i); ch.close(); })();
  let expect = 0;
  for await (const v of ch) assert.strictEqual(v, expect++);
  await prod;
  assert.strictEqual(expect, N);
});

test('close: buffered values drain first, then ok=false; send rejects GORT_ECLOSED', T, async () => {
  const ch = new gort.Chan(2);
  await ch.send(1); await ch.send(2);
  ch.close();
  assert.deepStrictEqual(await ch.recv(), { value: 1, ok: true });
  assert.deepStrictEqual(await ch.recv(), { value: 2, ok: true });
  assert.deepStrictEqual(await ch.recv(), { value: undefined, ok: false });
  await assert.rejects(ch.send(3), (e) => e.code === 'GORT_ECLOSED');
  assert.throws(() => ch.trySend(3), (e) => e.code === 'GORT_ECLOSED');
  assert.throws(() => ch.close(), (e) => e.code === 'GORT_ECLOSED' && /closed/.test(e.message));
});

test('close wakes blocked receivers and senders', T, async () => {
  const a = new gort.Chan();
  const r = a.recv();
  const b = new gort.Chan();
  const s = b.send('x');
  await gort.sleep(10);
  a.close(); b.close();
  assert.deepStrictEqual(await r, { value: undefined, ok: false });
  await assert.rejects(s, (e) => e.code === 'GORT_ECLOSED');
});

test('for await: break leaves the remaining values; throw ends the loop', T, async () => {
  const ch = new gort.Chan(5);
  for (let i = 0; i < 5; i++) await ch.send(i);
  ch.close();
  for await (const v of ch) if (v === 1) break;
  await assert.rejects((async () => { for await (const v of ch) if (v === 2) throw new Error('boom'); })(), /boom/);
  const rest = [];
  for await (const v of ch) rest.push(v);
  assert.deepStrictEqual(rest, [3, 4]);
});

test('argument errors name the parameter', T, () => {
  assert.throws(() => new gort.Chan(-1), (e) => e instanceof RangeError && /"cap"/.test(e.message));
  assert.throws(() => new gort.Chan('x'), (e) => e instanceof TypeError && /"cap"/.test(e.message));
  assert.throws(() => new gort.Chan(1, 'int32'), (e) => e instanceof TypeError && /"type"/.test(e.message));
  assert.throws(() => gort.sleep(-5), (e) => e instanceof RangeError && /"ms"/.test(e.message));
  assert.throws(() => gort.select([{ recv: 5 }]), (e) => e instanceof TypeError && /cases\[0\]\.recv/.test(e.message));
  assert.throws(() => new gort.Chan(1, 'int64').trySend(1.5), RangeError);
  assert.throws(() => new gort.Chan(1, 'int64').trySend('1'), TypeError);
  assert.throws(() => new gort.Chan(1, 'int64').trySend(2n ** 64n), RangeError);
  assert.throws(() => new gort.Chan(1, 'float64').trySend(1n), TypeError);
  assert.throws(() => new gort.Chan(1, 'bytes').trySend(5), TypeError);
  assert.throws(() => new gort.WaitGroup().add(-1), (e) => e instanceof RangeError && /"n"/.test(e.message));
  assert.throws(() => new gort.Mutex().unlock(), (e) => e.code === 'GORT_EPERM');
  assert.throws(() => new gort.Chan().handle, TypeError);
});

test('typed channels: int64 (Number and BigInt), float64, bytes', T, async () => {
  const i = new gort.Chan(4, 'int64');
  await i.send(-5); await i.send(2n ** 62n); await i.send(Number.MAX_SAFE_INTEGER);
  assert.deepStrictEqual((await i.recv()).value, -5);
  assert.deepStrictEqual((await i.recv()).value, 2n ** 62n);
  assert.deepStrictEqual((await i.recv()).value, Number.MAX_SAFE_INTEGER);
  const f = new gort.Chan(1, 'float64');
  await f.send(Math.PI);
  assert.strictEqual((await f.recv()).value, Math.PI);
  const b = new gort.Chan(3, 'bytes');
  const buf = Buffer.from('hello');
  await b.send(buf); await b.send(new Uint16Array([1, 2])); await b.send('héllo');
  buf[0] = 0x4a; // the channel holds a copy
  assert.deepStrictEqual((await b.recv()).value, Buffer.from('hello'));
  assert.deepStrictEqual((await b.recv()).value, Buffer.from(new Uint16Array([1, 2]).buffer));
  assert.strictEqual((await b.recv()).value.toString(), 'héllo');
  assert.strictEqual(typeof b.handle, 'bigint');
  const alias = gort.Chan.fromHandle(b.handle, 'bytes');
  await alias.send('via handle');
  assert.strictEqual((await b.recv()).value.toString(), 'via handle');
  assert.throws(() => gort.Chan.fromHandle(b.handle, 'int64'), RangeError);
});

test('select: ready case, timeout (-1), default, send case, nil channel', T, async () => {
  const a = new gort.Chan(1), b = new gort.Chan(1);
  await b.send(7);
  assert.deepStrictEqual(await gort.select([{ recv: a }, { recv: b }]), { index: 1, value: 7, ok: true });
  const t0 = Date.now();
  assert.strictEqual((await gort.select([{ recv: a }, { recv: null }], { timeout: 30 })).index, -1);
  assert.ok(Date.now() - t0 >= 25);
  assert.strictEqual((await gort.select([{ recv: a }], { default: true })).index, -1);
  assert.deepStrictEqual(await gort.select([{ send: a, value: 'v' }]), { index: 0, value: undefined, ok: true });
  assert.deepStrictEqual(await a.recv(), { value: 'v', ok: true });
  a.close();
  assert.deepStrictEqual(await gort.select([{ recv: a }]), { index: 0, value: undefined, ok: false });
});

test('select: losers leave nothing behind (blocked select, then one case fires)', T, async () => {
  const a = new gort.Chan(), b = new gort.Chan();
  const sel = gort.select([{ send: a, value: 'A' }, { recv: b }]);
  await gort.sleep(10);
  await b.send('B');
  assert.deepStrictEqual(await sel, { index: 1, value: 'B', ok: true });
  assert.strictEqual(a.tryRecv(), undefined); // the losing send did not happen
  const r = gort.select([{ recv: a }], { timeout: 20 });
  assert.strictEqual((await r).index, -1);
  assert.strictEqual(a.trySend('later'), false); // the timed-out select is no longer a receiver
});

test('select: uniform choice among ready cases', T, async () => {
  const a = new gort.Chan(1), b = new gort.Chan(1);
  const counts = [0, 0];
  for (let i = 0; i < 2000; i++) {
    a.trySend(1); b.trySend(2);
    const r = await gort.select([{ recv: a }, { recv: b }]);
    counts[r.index]++;
    a.tryRecv(); b.tryRecv();
  }
  assert.ok(counts[0] > 800 && counts[1] > 800, `counts ${counts}`);
});

test('after, Ticker, sleep', T, async () => {
  const t0 = Date.now();
  const r = await gort.after(30).recv();
  assert.ok(r.ok && typeof r.value === 'number');
  assert.ok(Date.now() - t0 >= 25);
  await gort.sleep(5); // a second loop timer after the first fired
  const tk = new gort.Ticker(5);
  for (let i = 0; i < 3; i++) assert.ok((await tk.chan.recv()).ok);
  tk.stop();
});

test('WaitGroup and Mutex', T, async () => {
  const wg = new gort.WaitGroup();
  await wg.wait(); // zero: at once
  wg.add(3);
  let n = 0;
  for (let i = 0; i < 3; i++) setTimeout(() => { n++; wg.done(); }, 5 * i);
  await wg.wait();
  assert.strictEqual(n, 3);
  const mu = new gort.Mutex();
  let inside = 0, max = 0;
  await Promise.all(Array.from({ length: 10 }, async () => {
    await mu.lock();
    inside++; max = Math.max(max, inside);
    await gort.sleep(1);
    inside--;
    mu.unlock();
  }));
  assert.strictEqual(max, 1);
  assert.strictEqual(mu.tryLock(), true);
  assert.strictEqual(mu.tryLock(), false);
  mu.unlock();
});
