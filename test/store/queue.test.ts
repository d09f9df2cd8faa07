import { afterEach, describe, expect, it } from 'vitest';
import { ClassicLevel } from 'classic-level';
import type { BatchStore } from '../../src/store/index.js';
import { openStore, partsFor, queueOrder, recordingLogger, tempDir } from './helpers.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function fresh(opts = {}): Promise<{ store: BatchStore; dir: string }> {
  const t = tempDir();
  const store = await openStore(t.dir, opts);
  cleanups.push(t.cleanup, () => store.close());
  return { store, dir: t.dir };
}

const meta = (priority: number, campaign = 'c', createdMs = 1000, partitionId = 'default') => ({ priority, campaign, partitionId, createdMs });

describe('BatchStore as an upload queue', () => {
  it('assigns increasing seqs, hands the seq to the encoder and returns the stored parts', async () => {
    const { store } = await fresh();
    const seen: number[] = [];
    const s0 = await store.put(meta(1), (seq) => (seen.push(seq), partsFor(seq, 50, 3)));
    const s1 = await store.put(meta(1), (seq) => (seen.push(seq), partsFor(seq, 10)));
    expect([s0, s1]).toEqual([0, 1]);
    expect(seen).toEqual([0, 1]);
    const b = await store.next(new Set());
    expect(b).toMatchObject({ seq: 0, priority: 1, campaign: 'c', partitionId: 'default', createdMs: 1000, bytes: 150 });
    expect(b!.parts.map((p) => Buffer.from(p))).toEqual(partsFor(0, 50, 3).map((p) => Buffer.from(p)));
    expect(store.stats()).toMatchObject({ batches: 2, bytes: 160, nextSeq: 2, oldestMs: 1000 });
  });

  it('orders by priority (lower number first), then age, and honours exclude and accept', async () => {
    const { store } = await fresh();
    const pri = [5, 1, 5, 0, 1, 9, 0];
    for (const p of pri) await store.put(meta(p, `camp${p}`, 1000 + p), (seq) => partsFor(seq));
    const order = (await queueOrder(store)).map((b) => b.seq);
    expect(order).toEqual([3, 6, 1, 4, 0, 2, 5]);
    expect((await store.next(new Set([3, 6])))!.seq).toBe(1);
    const onlyFive = await store.next(new Set(), (b) => b.campaign === 'camp5');
    expect(onlyFive!.seq).toBe(0);
    expect(await store.next(new Set(), () => false)).toBeUndefined();
  });

  it('remove deletes a batch for good, also across a restart', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    let store = await openStore(t.dir);
    for (let i = 0; i < 4; i++) await store.put(meta(1), (seq) => partsFor(seq));
    await store.remove(1);
    await store.remove(1); // unknown now: ignored
    expect((await queueOrder(store)).map((b) => b.seq)).toEqual([0, 2, 3]);
    await store.close();
    store = await openStore(t.dir);
    cleanups.push(() => store.close());
    expect((await queueOrder(store)).map((b) => b.seq)).toEqual([0, 2, 3]);
    expect(store.stats()).toMatchObject({ batches: 3, bytes: 300 });
  });

  it('seq continues from the persisted counter after restart, even when the newest batches were removed', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    let store = await openStore(t.dir);
    for (let i = 0; i < 5; i++) await store.put(meta(1), (seq) => partsFor(seq));
    for (const s of [2, 3, 4]) await store.remove(s);
    await store.close();
    store = await openStore(t.dir);
    expect(store.stats().nextSeq).toBe(5);
    expect(await store.put(meta(1), (seq) => partsFor(seq))).toBe(5);
    for (const b of await queueOrder(store)) await store.remove(b.seq);
    await store.close();
    store = await openStore(t.dir);
    cleanups.push(() => store.close());
    expect(await store.put(meta(1), (seq) => partsFor(seq))).toBe(6);
  });

  it('onAppend wakes listeners on every stored batch until unsubscribed', async () => {
    const { store } = await fresh();
    let calls = 0;
    const woke = new Promise<void>((resolve) => store.onAppend(() => resolve()));
    const off = store.onAppend(() => calls++);
    await store.put(meta(1), (seq) => partsFor(seq));
    await woke;
    await store.put(meta(1), (seq) => partsFor(seq));
    off();
    await store.put(meta(1), (seq) => partsFor(seq));
    expect(calls).toBe(2);
  });

  it('concurrent puts get distinct seqs and all land', async () => {
    const { store } = await fresh();
    const seqs = await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(meta(i % 3), (seq) => partsFor(seq))));
    expect(new Set(seqs).size).toBe(20);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(store.stats().batches).toBe(20);
  });

  it('drops a record whose value fails its checksum, logs it and serves the next one', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    let store = await openStore(t.dir);
    await store.put(meta(0), (seq) => partsFor(seq));
    await store.put(meta(1), (seq) => partsFor(seq));
    await store.close();
    // flip one byte in the stored value of seq 0, behind the store's back
    const db = new ClassicLevel<string, Uint8Array>(t.dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    for await (const [k, v] of db.iterator({ gte: 'b!', lt: 'b"' })) {
      if (k.startsWith('b!0000000000000000!')) {
        const bad = Uint8Array.from(v);
        bad[bad.length - 1] ^= 0xff;
        await db.put(k, bad);
      }
    }
    await db.close();
    const { logger, lines } = recordingLogger();
    store = await openStore(t.dir, { logger });
    cleanups.push(() => store.close());
    const b = await store.next(new Set());
    expect(b!.seq).toBe(1);
    expect(store.stats()).toMatchObject({ corruptRecords: 1, batches: 1 });
    expect(lines.some((l) => l.level === 'error' && l.obj.seq === 0)).toBe(true);
  });
});

describe('BatchStore.select / has', () => {
  it('selects stored seqs by time range, campaign and partition; has() follows removal', async () => {
    const t = tempDir();
    const store = await openStore(t.dir);
    cleanups.push(t.cleanup, () => store.close());
    const rows: [string, string, number][] = [
      ['a', 'default', 100],
      ['a', 'hot', 200],
      ['b', 'default', 300],
      ['a', 'default', 400],
    ];
    for (const [campaign, partitionId, createdMs] of rows) await store.put({ priority: 1, campaign, partitionId, createdMs }, (s) => partsFor(s));
    expect(store.select()).toEqual([0, 1, 2, 3]);
    expect(store.select({ campaign: 'a' })).toEqual([0, 1, 3]);
    expect(store.select({ campaign: 'a', partitionId: 'default', toMs: 399 })).toEqual([0]);
    expect(store.select({ fromMs: 200, toMs: 300 })).toEqual([1, 2]);
    expect(store.has(2)).toBe(true);
    await store.remove(2);
    expect(store.has(2)).toBe(false);
  });
});
