'use strict';
// prepack: copy the engine sources into vendor/ so that the tarball from
// `npm pack` builds on its own (scripts/build.js prefers vendor/).
const fs = require('fs');
const path = require('path');
const HERE = path.resolve(__dirname, '..');
const ROOT = path.resolve(HERE, '..', '..');
const V = path.join(HERE, 'vendor');
fs.rmSync(V, { recursive: true, force: true });
for (const d of ['src', 'include', 'packaging'])
  fs.cpSync(path.join(ROOT, d), path.join(V, d), { recursive: true, filter: (s) => !/\.(pc|cmake)\.in$/.test(s) });
