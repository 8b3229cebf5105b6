// Typed usage of gort's declarations: `tsc --noEmit --strict` must accept it
// (types.test.js), and the lines marked @ts-expect-error must be errors.
import gort, { Chan, select, WaitGroup } from 'gort';
declare const Buffer: { alloc(n: number): Uint8Array };

async function main(): Promise<number> {
  const ch = new Chan<number>(4);
  await ch.send(1);
  const { value, ok } = await ch.recv();
  const n: number = ok && value !== undefined ? value : 0;
  for await (const v of ch) { const x: number = v; void x; }
  const r = await select<number>([{ recv: ch }, { send: ch, value: 2 }], { timeout: 10 });
  const idx: number = r.index;
  const wg = new WaitGroup(); wg.add(1); wg.done(); await wg.wait();
  const p = new gort.Promise<string>((resolve) => resolve('x'));
  const s: string = await p.then((v) => v + '!');
  const all: [number, string] = await gort.Promise.all([1, p]);
  const typed = new gort.Chan(1, 'int64');
  const h: bigint = typed.handle;
  await gort.sleep(1);
  const crc32 = gort.native('libz.so.1').func('unsigned long crc32(unsigned long, const uint8_t *, unsigned int)');
  const c: number = await crc32.async(0, Buffer.alloc(1), 1);
  void c;
  // @ts-expect-error: a string is not a number
  await ch.send('nope');
  // @ts-expect-error: unknown channel type
  new gort.Chan(1, 'int32');
  return n + idx + s.length + all[0] + Number(h > 0n);
}
void main;
