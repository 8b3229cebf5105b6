// crc32 (zlib's) over many large Buffers on all cores with gort.native's
// fn.async — each call a pool goroutine — while a setInterval keeps ticking
// on the JS thread. Checked against zlib.crc32.
const gort = require('gort');
const zlib = require('zlib');
const crypto = require('crypto');

const crc32 = gort.native('libz.so.1').func('unsigned long crc32(unsigned long, const uint8_t *, unsigned int)');
const N = 32, SIZE = 4 << 20;
const bufs = Array.from({ length: N }, () => crypto.randomBytes(SIZE));

async function main() {
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 5);
  const t0 = process.hrtime.bigint();
  const crcs = await gort.Promise.all(bufs.map((b) => crc32.async(0, b, b.length)));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  clearInterval(timer);
  const bad = crcs.filter((c, i) => c !== zlib.crc32(bufs[i])).length;
  console.log(`${N} x ${SIZE >> 20} MiB crc32 on ${gort.procs()} Ps: ${ms.toFixed(1)} ms, ` +
    `${ticks} interval ticks meanwhile, ${bad} mismatches against zlib.crc32`);
  if (bad) process.exit(1);
}
main();
