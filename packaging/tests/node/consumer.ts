// consumer.ts — compiled (tsc --strict --noEmit) by scripts/dist-node.sh in a
// temp project where only the packed tarball is installed: the shipped
// index.d.ts must type the fixed core of DESIGN.md ("Node — the fixed core").
import * as gort from 'gort';

async function main(): Promise<number> {
    const ch = new gort.Chan(2);
    await ch.send(1);
    const r = await ch.recv();
    const ok: boolean = r.ok;
    ch.close();
    const n: number = ch.length + ch.capacity;
    for await (const v of ch) { void v; }
    const sel = await gort.select([{ recv: ch }], { timeout: 10 });
    const idx: number = sel.index;
    await gort.sleep(1);
    const wg = new gort.WaitGroup();
    wg.add(1);
    wg.done();
    await wg.wait();
    const p = new gort.Promise<number>((resolve) => resolve(3));
    const all = await gort.Promise.all([p, gort.Promise.resolve(4)]);
    return (ok ? 1 : 0) + n + idx + all.length;
}

main().then((x: number) => console.log(x));
