'use strict';
// The seed programs: examples/seed_promise_all.js and examples/promise_all.c
// must print what `node tests/seed/promise_all.js` prints, line for line;
// examples/seed_worker_pool.js what `go run tests/seed/worker_pool.go`
// prints, up to the orders Go's scheduling may change.
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const HERE = path.resolve(__dirname, '..');
// `require('gort')` from examples/: a node_modules dir holding a link to this package
const modDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gort-node-'));
fs.mkdirSync(path.join(modDir, 'node_modules'));
fs.symlinkSync(HERE, path.join(modDir, 'node_modules', 'gort'));
const env = { ...process.env, NODE_PATH: path.join(modDir, 'node_modules') };
const run = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 60000 });
const T = { timeout: 120000 };

const seedJs = run(process.execPath, [path.join(ROOT, 'tests/seed/promise_all.js')]);

test('examples/seed_promise_all.js prints the seed JS program output', T, () => {
  const r = run(process.execPath, [path.join(ROOT, 'examples/seed_promise_all.js')]);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(seedJs.stdout.split('\n').length, 11);
  assert.strictEqual(r.stdout, seedJs.stdout);
});

test('examples/promise_all.c prints the seed JS program output', T, () => {
  const exe = path.join(modDir, 'promise_all');
  const cc = run(process.env.CC || 'cc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-D_GNU_SOURCE',
    '-I', path.join(ROOT, 'include'), path.join(ROOT, 'examples/promise_all.c'),
    path.join(HERE, 'build/libgort.so.0'), `-Wl,-rpath,${path.join(HERE, 'build')}`, '-o', exe]);
  assert.strictEqual(cc.status, 0, cc.stderr);
  const r = run(exe, []);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout, seedJs.stdout);
});

// The ordering Go guarantees for the seed: every job started once by one of
// workers 1..3; the first three starts precede every result; each result
// follows its job's start; results are the five doubled jobs.
function checkWorkerPool(out) {
  const lines = out.trim().split('\n');
  assert.strictEqual(lines.length, 10, out);
  const started = new Map(), results = [];
  lines.forEach((l, i) => {
    let m;
    if ((m = /^Worker ([123]) started job ([1-5])$/.exec(l))) {
      assert.ok(!started.has(m[2]), `job ${m[2]} started twice`);
      started.set(m[2], i);
    } else if ((m = /^Result processed: (\d+)$/.exec(l))) {
      const job = String(Number(m[1]) / 2);
      assert.ok(started.has(job) && started.get(job) < i, `result ${m[1]} before its job started`);
      results.push(Number(m[1]));
    } else {
      assert.fail(`unexpected line ${l}`);
    }
  });
  assert.deepStrictEqual(results.slice().sort((a, b) => a - b), [2, 4, 6, 8, 10]);
  const firstResult = lines.findIndex((l) => l.startsWith('Result'));
  assert.ok(firstResult >= 3, 'three workers start before the first result');
  return lines.map((l) => l.replace(/^Worker \d/, 'Worker N')).sort();
}

test('examples/seed_worker_pool.js prints the seed Go program lines', T, (t) => {
  const r = run(process.execPath, [path.join(ROOT, 'examples/seed_worker_pool.js')]);
  assert.strictEqual(r.status, 0, r.stderr);
  const mine = checkWorkerPool(r.stdout);
  const goBin = ['/usr/local/go/bin/go', 'go'].find((g) => spawnSync(g, ['version']).status === 0);
  if (!goBin) { t.diagnostic('go not installed: checked against the seed\'s rules only'); return; }
  const go = spawnSync(goBin, ['run', path.join(ROOT, 'tests/seed/worker_pool.go')],
    { encoding: 'utf8', timeout: 120000, env: { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: process.env.GOCACHE || path.join(os.tmpdir(), 'gort-go-cache') } });
  assert.strictEqual(go.status, 0, go.stderr);
  assert.deepStrictEqual(mine, checkWorkerPool(go.stdout));
});
