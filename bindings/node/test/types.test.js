'use strict';
// index.d.ts against a typed usage file (tsc --noEmit --strict), and ESM
// import of the package.
const test = require('node:test');
const assert = require('node:assert');
const { spawnSync } = require('child_process');
const path = require('path');

test('tsc --noEmit --strict accepts test/types/usage.ts', { timeout: 120000 }, () => {
  const tsc = require.resolve('typescript/bin/tsc', { paths: [path.join(__dirname, '..'), process.cwd()] });
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types', 'tsconfig.json')], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stdout + r.stderr);
});

test('ESM: import gort from "gort" and named imports', { timeout: 60000 }, () => {
  const url = require('url').pathToFileURL(path.join(__dirname, '..', 'lib', 'index.mjs')).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e',
    `import gort, { Chan, Promise as GP } from ${JSON.stringify(url)};
     const c = new Chan(1); await c.send(1);
     console.log(gort.Chan === Chan, (await c.recv()).value, await GP.resolve(2));`], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout.trim(), 'true 1 2');
});
