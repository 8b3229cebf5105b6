'use strict';
// Builds the addon without node-gyp (which would download headers):
//   1. libgort.so.0 from the engine's C sources (the repository's src/ and
//      include/, or vendor/ inside a packed tarball), with the flags CMake
//      uses (-fvisibility=hidden, version script, SONAME libgort.so.0);
//   2. gort.node from src/*.c against the Node-API headers of the running
//      node (/usr/include/node, <prefix>/include/node) or npm's
//      node-api-headers, linked to libgort.so.0 with RUNPATH $ORIGIN.
// Both land in build/. Because the addon links libgort.so.0 by SONAME, a
// process that already loaded another libgort.so.0 (another addon, a C
// host) reuses it: one engine per process (the dynamic linker resolves a
// DT_NEEDED to an already-loaded object with the same SONAME).
// Both are linked -z nodelete: Node unloads an addon when the last worker
// that loaded it ends, but the engine's threads keep running its code.
// Environment: CC (default cc), GORT_BUILD_JOBS (default: CPU count),
// GORT_WERROR=0 to drop -Werror.
const fs = require('fs');
const path = require('path');
const os = require('os');
const { spawn } = require('child_process');

const HERE = path.resolve(__dirname, '..');
// In a checkout, the repository's own sources; in an installed tarball,
// the copy `npm pack` vendored.
const REPO = path.resolve(HERE, '..', '..');
const ROOT = fs.existsSync(path.join(REPO, 'include', 'gort.h')) && fs.existsSync(path.join(REPO, 'src'))
  ? REPO : path.join(HERE, 'vendor');
const SRC = path.join(ROOT, 'src');
const INC = path.join(ROOT, 'include');
const MAP = path.join(ROOT, 'packaging', 'libgort.map');
const OUT = path.join(HERE, 'build');
const CC = (process.env.CC || 'cc').split(/\s+/);
const werror = !['0', 'OFF', 'off', 'no'].includes(process.env.GORT_WERROR || '1');
const WARN = ['-Wall', '-Wextra'].concat(werror ? ['-Werror'] : []);

function nodeApiInclude() {
  const cands = [path.resolve(path.dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node', '/usr/local/include/node'];
  for (const d of cands) if (fs.existsSync(path.join(d, 'node_api.h'))) return d;
  try { return require('node-api-headers').include_dir; } catch (_) { /* not installed */ }
  throw new Error('gort: no Node-API headers (node_api.h): install node headers or npm node-api-headers');
}

function run(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(CC[0], CC.slice(1).concat(args), { stdio: 'inherit' });
    p.on('error', reject);
    p.on('exit', (code) => code === 0 ? resolve() : reject(new Error(`gort: ${CC[0]} ${args.join(' ')} failed (${code})`)));
  });
}

async function pool(jobs, n) {
  const queue = jobs.slice();
  await Promise.all(Array.from({ length: n }, async () => {
    while (queue.length) await queue.shift()();
  }));
}

// libffi for native calls (src/ffi.c), as CMake's GORT_WITH_FFI: through
// pkg-config, else a plain -lffi if <ffi.h> is on the default path; without
// it native calls return GORT_ENOSYS. GORT_WITH_FFI=0 turns it off.
function libffi() {
  if (['0', 'OFF', 'off', 'no'].includes(process.env.GORT_WITH_FFI || '')) return null;
  const { spawnSync } = require('child_process');
  const pc = (a) => spawnSync('pkg-config', [a, 'libffi'], { encoding: 'utf8' });
  const c = pc('--cflags'), l = pc('--libs');
  if (c.status === 0 && l.status === 0)
    return { cflags: c.stdout.trim().split(/\s+/).filter(Boolean), libs: l.stdout.trim().split(/\s+/).filter(Boolean) };
  const multi = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];
  if (['/usr/include/ffi.h', `/usr/include/${multi}/ffi.h`].some((h) => fs.existsSync(h)))
    return { cflags: [], libs: ['-lffi'] };
  return null;
}

const mtime = (f) => { try { return fs.statSync(f).mtimeMs; } catch (_) { return -1; } };
const stale = (out, ins) => ins.some((i) => mtime(i) > mtime(out)) || mtime(out) < 0;

async function main() {
  fs.mkdirSync(path.join(OUT, 'obj'), { recursive: true });
  const arch = { x64: 'x86_64', arm64: 'aarch64' }[process.arch];
  if (!arch) throw new Error(`gort: unsupported architecture ${process.arch}`);
  const headers = fs.readdirSync(SRC).filter((f) => f.endsWith('.h')).map((f) => path.join(SRC, f))
    .concat([path.join(INC, 'gort.h')]);
  const engine = fs.readdirSync(SRC).filter((f) => f.endsWith('.c')).map((f) => path.join(SRC, f))
    .concat([path.join(SRC, 'ctx', `ctx_${arch}.S`)]);
  const vg = fs.existsSync('/usr/include/valgrind/valgrind.h') ? '1' : '0';
  const ffi = libffi();
  const cflags = ['-std=c11', '-O2', '-g', '-fPIC', '-fvisibility=hidden', '-ftls-model=initial-exec',
    '-D_GNU_SOURCE', '-DGORT_BUILDING_LIBRARY=1', `-DGORT_HAVE_VALGRIND_H=${vg}`, '-iquote', SRC,
    '-I', INC, `-DGORT_HAVE_FFI=${ffi ? 1 : 0}`].concat(ffi ? ffi.cflags : [], WARN);
  const jobs = [];
  const objs = engine.map((s) => {
    const o = path.join(OUT, 'obj', path.basename(s) + '.o');
    if (stale(o, [s].concat(headers))) {
      const flags = s.endsWith('.S') ? ['-fPIC', '-Wa,--noexecstack', '-iquote', SRC] : cflags;
      jobs.push(() => run(flags.concat(['-c', s, '-o', o])));
    }
    return o;
  });
  const napi = nodeApiInclude();
  const addonSrc = fs.readdirSync(path.join(HERE, 'src')).filter((f) => f.endsWith('.c'))
    .map((f) => path.join(HERE, 'src', f));
  const addonHdr = fs.readdirSync(path.join(HERE, 'src')).filter((f) => f.endsWith('.h'))
    .map((f) => path.join(HERE, 'src', f));
  const aobjs = addonSrc.map((s) => {
    const o = path.join(OUT, 'obj', 'addon_' + path.basename(s) + '.o');
    if (stale(o, [s, path.join(INC, 'gort.h')].concat(addonHdr)))
      jobs.push(() => run(['-std=c11', '-O2', '-g', '-fPIC', '-fvisibility=hidden', '-D_GNU_SOURCE',
        '-DNAPI_VERSION=8', '-I', INC, '-I', napi].concat(WARN, ['-c', s, '-o', o])));
    return o;
  });
  const n = Math.max(1, Number(process.env.GORT_BUILD_JOBS) || os.cpus().length);
  await pool(jobs, n);
  const lib = path.join(OUT, 'libgort.so.0');
  if (stale(lib, objs.concat([MAP])))
    await run(['-shared', '-pthread', '-o', lib].concat(objs,
      ['-Wl,-soname,libgort.so.0', `-Wl,--version-script=${MAP}`, '-Wl,--no-undefined', '-Wl,-z,noexecstack', '-Wl,-z,nodelete'],
      ffi ? ffi.libs : []));
  const addon = path.join(OUT, 'gort.node');
  if (stale(addon, aobjs.concat([lib])))
    await run(['-shared', '-pthread', '-o', addon].concat(aobjs,
      [lib, '-Wl,-rpath,$ORIGIN', '-Wl,-z,noexecstack', '-Wl,-z,nodelete']));
  fs.copyFileSync(path.join(INC, 'gort.h'), path.join(OUT, 'gort.h'));
}

main().catch((e) => { console.error(e.message); process.exit(1); });
