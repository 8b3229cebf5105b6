'use strict';
// Process lifetime (child processes: exit codes and times), worker_threads,
// leaks.
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('child_process');
const path = require('path');

const MOD = JSON.stringify(path.resolve(__dirname, '..'));
function node(code, args = []) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args.concat(['-e', code]), { encoding: 'utf8', timeout: 60000 });
  return { ...r, ms: Date.now() - t0 };
}
const T = { timeout: 120000 };

test('an idle program exits at once with status 0', T, () => {
  const r = node(`const gort = require(${MOD}); new gort.Chan(1); gort.Promise.resolve(1).then(() => {});`);
  assert.strictEqual(r.status, 0, r.stderr);
});

test('pending sleep / after / channel operations keep the process alive until done', T, () => {
  const r = node(`const gort = require(${MOD});
    (async () => {
      await gort.sleep(200);
      const ch = new gort.Chan();
      setTimeout(() => ch.send('x'), 100);
      const v = await ch.recv();
      await gort.after(100).recv();
      console.log('done', v.value);
    })();`);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), 'done x');
  assert.ok(r.ms >= 400, `exited after ${r.ms} ms`);
});

test('a then() on a promise nobody settles does not keep Node alive', T, () => {
  const r = node(`const gort = require(${MOD}); new gort.Promise(() => {}).then(() => console.log('never'));`);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout, '');
});

test('process.exit() with operations in flight exits cleanly with its code', T, () => {
  const r = node(`const gort = require(${MOD});
    const chans = Array.from({ length: 100 }, () => new gort.Chan());
    for (const c of chans) { c.recv(); c.send(1); gort.select([{ recv: c }], { timeout: 10000 }); }
    const t = new gort.Ticker(1);
    new gort.WaitGroup().add(1);
    setTimeout(() => process.exit(7), 50);`);
  assert.strictEqual(r.status, 7, r.stderr);
  assert.strictEqual(r.signal, null);
  assert.ok(r.ms < 20000);
});

test('8 worker_threads load the addon, exchange traffic, some terminated mid-traffic', T, () => {
  const r = node(`
    const { Worker } = require('worker_threads');
    const src = \`
      const gort = require(${MOD.replace(/\\/g, '\\\\')});
      const { parentPort, workerData } = require('worker_threads');
      (async () => {
        const ch = new gort.Chan(workerData % 3);
        let sum = 0;
        const n = 5000;
        const prod = (async () => { for (let i = 0; i < n; i++) await ch.send(i); ch.close(); })();
        for await (const v of ch) sum += v;
        await prod;
        const all = await gort.Promise.all([gort.Promise.resolve(workerData), new gort.Promise((r) => setTimeout(r, 5, 1))]);
        parentPort.postMessage({ id: workerData, ok: sum === n * (n - 1) / 2 && all[0] === workerData });
        if (workerData >= 4) { // keep traffic going until terminated
          const c = new gort.Chan();
          for (;;) { const p = c.recv(); await c.send(1); await p; }
        }
      })();\`;
    let ok = 0;
    const ws = Array.from({ length: 8 }, (_, i) => {
      const w = new Worker(src, { eval: true, workerData: i });
      w.on('message', (m) => { if (m.ok) ok++; if (m.id >= 4) setTimeout(() => w.terminate(), 20); });
      w.on('error', (e) => { console.error('worker error', e); process.exitCode = 2; });
      return w;
    });
    Promise.all(ws.map((w) => new Promise((r) => w.on('exit', r)))).then(() => console.log('ok', ok));`);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), 'ok 8');
});

test('RSS stays flat over 1M channel operations; collected Chans are freed', T, () => {
  const r = node(`const gort = require(${MOD});
    (async () => {
      const ch = new gort.Chan(64);
      const round = async (n) => {
        for (let i = 0; i < n; i += 64) {
          for (let j = 0; j < 64; j++) ch.trySend({ j });
          for (let j = 0; j < 64; j++) ch.tryRecv();
        }
        for (let i = 0; i < 2000; i++) { const p = ch.recv(); await ch.send(i); await p; }
      };
      await round(200000); global.gc();
      const before = process.memoryUsage().rss;
      await round(1000000); global.gc();
      const after = process.memoryUsage().rss;
      let freed = 0;
      const reg = new FinalizationRegistry(() => freed++);
      for (let i = 0; i < 1000; i++) { const c = new gort.Chan(4); c.trySend({ big: 'x'.repeat(100) }); reg.register(c, i); }
      for (let i = 0; i < 10 && freed < 900; i++) { global.gc(); await new Promise((r) => setImmediate(r)); }
      console.log(JSON.stringify({ growthMiB: (after - before) / 1048576, freed }));
    })();`, ['--expose-gc']);
  assert.strictEqual(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  assert.ok(m.growthMiB < 16, `RSS grew ${m.growthMiB} MiB over 1M operations`);
  assert.ok(m.freed >= 900, `only ${m.freed} of 1000 Chans collected`);
});
