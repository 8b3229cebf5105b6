'use strict';
// The Promises/A+ compliance suite (npm promises-aplus-tests, installed by
// the `node` stage of scripts/test-all.sh) against gort.Promise, in a child
// process (node --test would report the suite's deliberate unhandled
// rejections as failures of its own).
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('child_process');
const path = require('path');

test('Promises/A+ suite: 872 passing, 0 failing', { timeout: 300000 }, () => {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'aplus-run.js')],
    { encoding: 'utf8', env: { ...process.env, APLUS_REPORTER: 'dot' } });
  const out = r.stdout + r.stderr;
  const passing = /(\d+) passing/.exec(out);
  assert.ok(passing, out.slice(-2000));
  assert.strictEqual(Number(passing[1]), 872, out.slice(-2000));
  assert.doesNotMatch(out, /\d+ failing/, out.slice(-4000));
  assert.strictEqual(r.status, 0, out.slice(-2000));
});
