// binding.js — the Node binding (bindings/node) against Node's own tools,
// both sides in the same run, alternating, medians of RUNS runs:
//
//   pingpong     two async functions exchanging a value over two unbuffered
//                gort.Chan vs over a minimal promise-based queue (ns/round trip)
//   native_rt    JS -> C goroutine -> JS over two int64 gort.Chan (a C helper
//                addon doubles each value) vs a worker_threads postMessage
//                round trip (ns/round trip)
//   then_chain   a 100k then-chain: gort.Promise vs Promise (ns/then)
//   all          Promise.all over 10k resolved promises (ns/input)
//   crc32        zlib crc32 over 64 x 4 MiB: fn.async on gort's pool vs a
//                worker_threads pool (piscina if installed, else a plain
//                pool of one Worker per CPU) vs serial zlib.crc32 (Node's
//                bundled zlib) and vs serial synchronous calls of the same
//                system libz crc32 that fn.async runs (ms), and the
//                event-loop delay p99 (perf_hooks) while gort computes, next
//                to the same p99 while piscina computes and while the loop
//                idles for as long (the machine's own floor); plus the
//                machine's ceiling of the same minute: the same libz crc32 on
//                one plain pthread per CPU vs one thread (bench/node/ceiling.c,
//                no gort, no Node), and the hypervisor's steal time. With
//                --expose-gc every measured batch starts after a full GC and
//                a pause for V8's sweeping, so no side pays for garbage
//                another one left (its own garbage it still pays for)
//   task         per-task overhead: 20k trivial tasks (crc32 of 16 bytes)
//                with fn.async vs piscina.run, all in flight at once (us/task
//                wall, and process CPU time per task from process.cpuUsage(),
//                all threads: less sensitive to other load on the machine)
//
// Prints RESULT lines and a Markdown table with gort/Node ratios.
// usage: NODE_PATH=<dir with gort> node --expose-gc bench/node/binding.js [runs] [filter]
//   filter: a substring of the case names to run (crc32, task, pingpong...)
'use strict';
const gort = require('gort');
const { Worker } = require('worker_threads');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const RUNS = Number(process.argv[2] || 5);
const FILTER = process.argv[3] || '';
const want = (name) => name.includes(FILTER);
const now = () => Number(process.hrtime.bigint());

class PromiseQueue { // an unbuffered channel with plain promises: the JS baseline
  constructor() { this.values = []; this.takers = []; }
  send(v) {
    return new Promise((done) => {
      const t = this.takers.shift();
      if (t) { t(v); done(); } else this.values.push([v, done]);
    });
  }
  recv() {
    const e = this.values.shift();
    if (e) { e[1](); return Promise.resolve(e[0]); }
    return new Promise((r) => this.takers.push(r));
  }
}

async function pingpongGort(n) {
  const a = new gort.Chan(), b = new gort.Chan();
  const t0 = now();
  const peer = (async () => { for (let i = 0; i < n; i++) { const { value } = await a.recv(); await b.send(value + 1); } })();
  for (let i = 0; i < n; i++) { await a.send(i); await b.recv(); }
  await peer;
  return (now() - t0) / n;
}

async function pingpongQueue(n) {
  const a = new PromiseQueue(), b = new PromiseQueue();
  const t0 = now();
  const peer = (async () => { for (let i = 0; i < n; i++) { const v = await a.recv(); await b.send(v + 1); } })();
  for (let i = 0; i < n; i++) { await a.send(i); await b.recv(); }
  await peer;
  return (now() - t0) / n;
}

function helper() {
  const root = path.resolve(__dirname, '..', '..');
  const pkg = path.dirname(require.resolve('gort/package.json'));
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gort-bench-')), 'helper.node');
  const inc = ['/usr/include/node', path.resolve(path.dirname(process.execPath), '..', 'include', 'node')]
    .find((d) => fs.existsSync(path.join(d, 'node_api.h')));
  const r = spawnSync('cc', ['-std=c11', '-O2', '-shared', '-fPIC', '-I', path.join(root, 'include'), '-I', inc,
    path.join(root, 'bindings/node/test/native/helper.c'), path.join(pkg, 'build/libgort.so.0'),
    `-Wl,-rpath,${path.join(pkg, 'build')}`, '-o', out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return require(out);
}

async function nativeGort(h, n) {
  const a = new gort.Chan(0, 'int64'), b = new gort.Chan(0, 'int64');
  h.doubler(a.handle, b.handle, n);
  const t0 = now();
  for (let i = 0; i < n; i++) {
    await a.send(i);
    const { value } = await b.recv();
    if (value !== 2 * i) throw new Error('bad value');
  }
  return (now() - t0) / n;
}

async function nativeWorker(w, n) {
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const v = await new Promise((r) => { w.once('message', r); w.postMessage(i); });
    if (v !== 2 * i) throw new Error('bad value');
  }
  return (now() - t0) / n;
}

function chain(P, n) {
  return new Promise((done) => {
    const t0 = now();
    let p = P.resolve(0);
    for (let i = 0; i < n; i++) p = p.then((v) => v + 1);
    p.then(() => done((now() - t0) / n));
  });
}

async function all(P, n) {
  const ps = Array.from({ length: n }, (_, i) => P.resolve(i));
  const t0 = now();
  await P.all(ps);
  return (now() - t0) / n;
}

const zlib = require('zlib');
const { monitorEventLoopDelay } = require('perf_hooks');
const crcBufs = Array.from({ length: 64 }, (_, i) => Buffer.alloc(4 << 20, i + 1));
const crcWant = crcBufs.map((b) => zlib.crc32(b));
const crc32 = gort.native('libz.so.1').func('unsigned long crc32(unsigned long, const uint8_t *, unsigned int)');
const lagP99 = { gort: [], pool: [], idle: [] }; // event-loop delay p99 per run, ms
// A full GC, then a pause for V8's concurrent sweeping (its worker threads
// would otherwise compete with the pool, and preempt the JS thread, during
// the batch that follows).
const fullGc = async () => { if (global.gc) { global.gc(); await new Promise((r) => setTimeout(r, 20)); } };

// Runs fn() with an event-loop delay histogram (1 ms resolution) and pushes
// its p99 (ms) onto `into`; returns fn's result.
async function withLag(into, fn) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const r = await fn();
  h.disable();
  into.push(h.percentile(99) / 1e6);
  return r;
}

// One parallel batch after a quiet heap: runAll() settles with the 64 crcs;
// its lag p99 goes onto `lag`. Returns ms.
async function crcBatch(lag, runAll) {
  await fullGc();
  return withLag(lag, async () => {
    const t0 = now();
    const got = await runAll();
    const ms = (now() - t0) / 1e6;
    got.forEach((c, i) => { if (c !== crcWant[i]) throw new Error('crc mismatch'); });
    return ms;
  });
}

const crcGort = () => crcBatch(lagP99.gort, () => gort.Promise.all(crcBufs.map((b) => crc32.async(0, b, b.length))));

// The loop doing nothing for ms: the delay this machine gives an idle loop.
const idleLag = (ms) => withLag(lagP99.idle, () => new Promise((r) => setTimeout(r, ms)));

// bench/node/ceiling.c, built once: [serial ms, parallel ms] of the same
// minute, or null where it cannot be built.
let ceilingBin;
function ceiling() {
  if (ceilingBin === undefined) {
    ceilingBin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gort-ceiling-')), 'ceiling');
    const r = spawnSync('cc', ['-std=c11', '-O2', '-D_POSIX_C_SOURCE=200809L', path.join(__dirname, 'ceiling.c'),
      '-l:libz.so.1', '-lpthread', '-o', ceilingBin], { encoding: 'utf8' });
    if (r.status !== 0) { console.error(`ceiling.c not built: ${r.stderr}`); ceilingBin = null; }
  }
  if (!ceilingBin) return null;
  const r = spawnSync(ceilingBin, [], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const [serial, parallel] = r.stdout.trim().split(' ').map(Number);
  return [serial, parallel];
}

// Hypervisor steal time, as a fraction of all CPU time since the last call.
let stealPrev = null;
function stealSince() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const cur = { steal: f[7] || 0, total: f.reduce((a, b) => a + b, 0) };
  const prev = stealPrev; stealPrev = cur;
  return prev && cur.total > prev.total ? (cur.steal - prev.steal) / (cur.total - prev.total) : 0;
}

function makePool() {
  try {
    const Piscina = require('piscina');
    const p = new Piscina({ filename: path.join(os.tmpdir(), 'gort-crc-piscina.js') });
    return { name: 'piscina', run: (b) => p.run(b), close: () => p.destroy() };
  } catch (_) { /* not installed: a plain pool */ }
  const ws = os.cpus().map(() => new Worker(path.join(os.tmpdir(), 'gort-crc-worker.js')));
  const queue = [], idle = ws.slice();
  const pump = () => {
    while (idle.length && queue.length) {
      const w = idle.pop(), [b, done] = queue.shift();
      w.once('message', (c) => { idle.push(w); done(c); pump(); });
      w.postMessage(b);
    }
  };
  return { name: 'worker_threads pool', run: (b) => new Promise((r) => { queue.push([b, r]); pump(); }), close: () => Promise.all(ws.map((w) => w.terminate())) };
}

const crcPool = (pool) => crcBatch(lagP99.pool, () => Promise.all(crcBufs.map((b) => pool.run(b))));

// The 64 buffers one after another on the JS thread with crcOf(buf); ms.
async function crcSerialWith(crcOf) {
  await fullGc();
  const t0 = now();
  for (let i = 0; i < crcBufs.length; i++) if (crcOf(crcBufs[i]) !== crcWant[i]) throw new Error('crc mismatch');
  return (now() - t0) / 1e6;
}

const crcSerial = () => crcSerialWith((b) => zlib.crc32(b));
const crcSerialLibz = () => crcSerialWith((b) => crc32(0, b, b.length)); // the libz function fn.async runs

const tinyBuf = Buffer.alloc(16, 7), tinyWant = zlib.crc32(tinyBuf), TASKS = 20000;
const taskCpu = { gort: [], pool: [] }; // process CPU time (all threads) per task, us
const cpuUs = () => { const u = process.cpuUsage(); return u.user + u.system; };
async function taskGort() {
  const t0 = now(), c0 = cpuUs();
  const got = await gort.Promise.all(Array.from({ length: TASKS }, () => crc32.async(0, tinyBuf, tinyBuf.length)));
  const us = (now() - t0) / 1e3 / TASKS;
  taskCpu.gort.push((cpuUs() - c0) / TASKS);
  if (got.some((c) => c !== tinyWant)) throw new Error('crc mismatch');
  return us;
}

async function taskPool(pool) {
  const t0 = now(), c0 = cpuUs();
  const got = await Promise.all(Array.from({ length: TASKS }, () => pool.run(tinyBuf)));
  const us = (now() - t0) / 1e3 / TASKS;
  taskCpu.pool.push((cpuUs() - c0) / TASKS);
  if (got.some((c) => c !== tinyWant)) throw new Error('crc mismatch');
  return us;
}

const median = (xs) => { const s = xs.slice().sort((a, b) => a - b); return s[s.length >> 1]; };

(async () => {
  const h = helper();
  const w = new Worker('const { parentPort } = require("worker_threads"); parentPort.on("message", (v) => parentPort.postMessage(v * 2));', { eval: true });
  const cases = [
    ['pingpong', 'ns/roundtrip', () => pingpongGort(20000), () => pingpongQueue(20000)],
    ['native_rt', 'ns/roundtrip', () => nativeGort(h, 20000), () => nativeWorker(w, 20000)],
    ['then_chain', 'ns/then', () => chain(gort.Promise, 100000), () => chain(Promise, 100000)],
    ['all', 'ns/input', () => all(gort.Promise, 10000), () => all(Promise, 10000)],
  ];
  const rows = [];
  for (const [name, unit, g, n] of cases.filter((c) => want(c[0]))) {
    await g(); await n(); // warm-up
    const gs = [], ns = [];
    for (let r = 0; r < RUNS; r++) {
      if (r % 2) { ns.push(await n()); gs.push(await g()); } else { gs.push(await g()); ns.push(await n()); }
    }
    const gm = median(gs), nm = median(ns);
    console.log(`RESULT ${name}_gort=${gm.toFixed(0)} ns`);
    console.log(`RESULT ${name}_node=${nm.toFixed(0)} ns`);
    rows.push(`| ${name} | ${unit} | ${gm.toFixed(0)} | ${nm.toFixed(0)} | ${(gm / nm).toFixed(2)} |`);
  }
  fs.writeFileSync(path.join(os.tmpdir(), 'gort-crc-worker.js'),
    "const zlib = require('zlib'); const { parentPort } = require('worker_threads');\n" +
    "module.exports = (b) => zlib.crc32(Buffer.from(b.buffer, b.byteOffset, b.length));\n" +
    "if (parentPort) parentPort.on('message', (b) => parentPort.postMessage(module.exports(b)));\n");
  // piscina talks over parentPort itself: its worker file only exports the task.
  fs.writeFileSync(path.join(os.tmpdir(), 'gort-crc-piscina.js'),
    "const zlib = require('zlib');\n" +
    "module.exports = (b) => zlib.crc32(Buffer.from(b.buffer, b.byteOffset, b.length));\n");
  const pool = makePool();
  if (want('crc32')) {
    await crcGort(); await crcPool(pool);
    for (const k in lagP99) lagP99[k].length = 0;
    const cg = [], cp = [], cs = [], cl = [], ceil = [];
    stealSince();
    // Speed-ups are per run (serial and parallel measured back to back, so
    // a slow minute of the VM slows both), then the median over runs.
    const spG = [], spL = [], spP = [], eff = [];
    for (let r = 0; r < RUNS; r++) {
      const ms = await crcGort();
      cg.push(ms); cs.push(await crcSerial()); cl.push(await crcSerialLibz());
      spG.push(cs[r] / ms); spL.push(cl[r] / ms);
      const c = ceiling();
      if (c) { ceil.push(c[0] / c[1]); eff.push(spL[r] / ceil[ceil.length - 1]); }
      await idleLag(ms);
      cp.push(await crcPool(pool)); spP.push(cs[r] / cp[r]);
    }
    const steal = stealSince();
    const [g, pl, se, sl] = [median(cg), median(cp), median(cs), median(cl)];
    console.log(`RESULT crc32_gort_ms=${g.toFixed(1)} ms`);
    console.log(`RESULT crc32_pool_ms=${pl.toFixed(1)} ms`);
    console.log(`RESULT crc32_serial_ms=${se.toFixed(1)} ms`);
    console.log(`RESULT crc32_serial_libz_ms=${sl.toFixed(1)} ms`);
    console.log(`RESULT crc32_lag_p99_ms=${median(lagP99.gort).toFixed(2)} ms`);
    console.log(`RESULT crc32_pool_lag_p99_ms=${median(lagP99.pool).toFixed(2)} ms`);
    console.log(`RESULT crc32_idle_lag_p99_ms=${median(lagP99.idle).toFixed(2)} ms`);
    console.log(`RESULT crc32_speedup=${median(spG).toFixed(2)} x`);
    console.log(`RESULT crc32_speedup_libz=${median(spL).toFixed(2)} x`);
    if (ceil.length) console.log(`RESULT crc32_ceiling_speedup=${median(ceil).toFixed(2)} x`);
    if (eff.length) console.log(`RESULT crc32_speedup_of_ceiling=${median(eff).toFixed(2)} x`);
    console.log(`RESULT crc32_steal_pct=${(100 * steal).toFixed(1)} %`);
    rows.push(`| crc32 64x4MiB | ms | ${g.toFixed(1)} | ${pl.toFixed(1)} (${pool.name}) | ${(g / pl).toFixed(2)} |`);
    rows.push(`| crc32 speed-up vs serial zlib.crc32 (Node's zlib), per run | x | ${median(spG).toFixed(2)} | ${median(spP).toFixed(2)} | — |`);
    rows.push(`| crc32 speed-up vs serial calls of the same libz crc32, per run | x | ${median(spL).toFixed(2)} | — | — |`);
    rows.push(`| crc32 overhead per task vs ideal (serial/procs) | ms | ${((g - se / os.cpus().length) / 64).toFixed(3)} | ${((pl - se / os.cpus().length) / 64).toFixed(3)} | — |`);
    if (ceil.length)
      rows.push(`| crc32 machine ceiling: plain pthreads vs one thread, same libz (ceiling.c) | x | — | ${median(ceil).toFixed(2)} | — |`);
    if (eff.length)
      rows.push(`| crc32 speed-up (same libz) / the ceiling of the same run | x | ${median(eff).toFixed(2)} | — | — |`);
    rows.push(`| event-loop delay p99 while the pool computes | ms | ${median(lagP99.gort).toFixed(2)} | ${median(lagP99.pool).toFixed(2)} (${pool.name}) | ${(median(lagP99.gort) / median(lagP99.pool)).toFixed(2)} |`);
    rows.push(`| event-loop delay p99 of the idle loop, as long (machine floor) | ms | — | ${median(lagP99.idle).toFixed(2)} | — |`);
    rows.push(`| hypervisor steal time during the crc32 runs | % | — | ${(100 * steal).toFixed(1)} | — |`);
  }
  if (want('task')) {
    await taskGort(); await taskPool(pool); taskCpu.gort = []; taskCpu.pool = [];
    const tg = [], tp = [];
    for (let r = 0; r < RUNS; r++) {
      if (r % 2) { tp.push(await taskPool(pool)); tg.push(await taskGort()); } else { tg.push(await taskGort()); tp.push(await taskPool(pool)); }
    }
    const [g, pl] = [median(tg), median(tp)];
    console.log(`RESULT task_gort_us=${g.toFixed(2)} us`);
    console.log(`RESULT task_pool_us=${pl.toFixed(2)} us`);
    const [cg, cpl] = [median(taskCpu.gort), median(taskCpu.pool)];
    console.log(`RESULT task_gort_cpu_us=${cg.toFixed(2)} us`);
    console.log(`RESULT task_pool_cpu_us=${cpl.toFixed(2)} us`);
    rows.push(`| per-task overhead (20k trivial tasks) | us/task | ${g.toFixed(2)} | ${pl.toFixed(2)} (${pool.name}) | ${(g / pl).toFixed(2)} |`);
    rows.push(`| per-task CPU time, all threads (20k trivial tasks) | us/task | ${cg.toFixed(2)} | ${cpl.toFixed(2)} (${pool.name}) | ${(cg / cpl).toFixed(2)} |`);
  }
  await pool.close();
  await w.terminate();
  console.log(`\nNode binding vs Node (${RUNS} runs, medians, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}${global.gc ? ', full GC before each crc32 batch' : ''})\n`);
  console.log('| benchmark | unit | gort | Node baseline | gort/Node |\n|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log('\nbaselines: pingpong: a promise queue; native_rt: worker.postMessage; then_chain/all: V8 Promise');
})();
