import { afterEach, describe, expect, it } from 'vitest';
import { openStore, partsFor, queueOrder, recordingLogger, tempDir } from './helpers.js';
import type { BatchStore, StoreOptions } from '../../src/store/index.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function fresh(opts: Partial<StoreOptions>) {
  const t = tempDir();
  const rec = recordingLogger();
  const store = await openStore(t.dir, { logger: rec.logger, ...opts });
  cleanups.push(t.cleanup, () => store.close());
  return { store, lines: rec.lines, dir: t.dir };
}

const put = (store: BatchStore, priority: number, size = 100, campaign = `p${priority}`, partitionId = 'default', createdMs = 0) =>
  store.put({ priority, campaign, partitionId, createdMs }, (seq) => partsFor(seq, size));

describe('BatchStore bounds', () => {
  it('when full, evicts the least important (highest priority number) first, oldest first, counting and logging each', async () => {
    const { store, lines } = await fresh({ maxBytes: 500 });
    // seq: 0(p1) 1(p5) 2(p1) 3(p5) 4(p3)
    for (const p of [1, 5, 1, 5, 3]) await put(store, p);
    expect(store.stats()).toMatchObject({ bytes: 500, evictions: 0 });
    await put(store, 2); // seq 5: needs 100 bytes -> evicts seq 1 (p5, oldest)
    expect((await queueOrder(store)).map((b) => b.seq)).toEqual([0, 2, 5, 4, 3]);
    await put(store, 2, 200); // seq 6: evicts seq 3 (p5), then seq 4 (p3)
    expect((await queueOrder(store)).map((b) => b.seq)).toEqual([0, 2, 5, 6]);
    expect(store.stats()).toMatchObject({ bytes: 500, batches: 4, evictions: 3, evictedBytes: 300 });
    const ev = lines.filter((l) => l.level === 'warn' && l.msg === 'batch evicted').map((l) => l.obj);
    expect(ev.map((o) => o.seq)).toEqual([1, 3, 4]);
    expect(ev[0]).toMatchObject({ campaign: 'p5', bytes: 100, reason: 'store-full' });
  });

  it('rejects with STORE_FULL a batch larger than the whole cap, after logging, and keeps everything else', async () => {
    const { store, lines } = await fresh({ maxBytes: 500 });
    await put(store, 1);
    await expect(put(store, 0, 501)).rejects.toMatchObject({ code: 'STORE_FULL' });
    expect(lines.some((l) => l.level === 'warn' && l.obj.bytes === 501)).toBe(true);
    expect(store.stats()).toMatchObject({ batches: 1, evictions: 0, rejected: 1 });
  });

  it('does not evict more important batches for a less important one', async () => {
    const { store } = await fresh({ maxBytes: 300 });
    for (const p of [0, 1, 1]) await put(store, p);
    await expect(put(store, 4)).rejects.toMatchObject({ code: 'STORE_FULL' });
    expect((await queueOrder(store)).map((b) => b.seq)).toEqual([0, 1, 2]);
    // same priority: the oldest of that priority makes room
    await put(store, 1);
    expect((await queueOrder(store)).map((b) => b.seq)).toEqual([0, 2, 4]);
  });

  it('caps a partition on its own, evicting its oldest batches only', async () => {
    const { store } = await fresh({ maxBytes: 10_000, partitions: { 'cam/hot': { maxBytes: 250 } } });
    await put(store, 1, 100, 'cam', 'hot'); // 0
    await put(store, 3, 100, 'other', 'default'); // 1 (less important, untouched)
    await put(store, 1, 100, 'cam', 'hot'); // 2
    await put(store, 1, 100, 'cam', 'hot'); // 3 -> evicts 0
    expect((await queueOrder(store)).map((b) => b.seq)).toEqual([2, 3, 1]);
    expect(store.stats()).toMatchObject({ evictions: 1, bytes: 300 });
    await expect(put(store, 1, 300, 'cam', 'hot')).rejects.toMatchObject({ code: 'STORE_FULL' });
  });

  it('expire deletes batches past their partition TTL and counts them', async () => {
    const { store, lines } = await fresh({ maxBytes: 10_000, partitions: { 'cam/short': { ttlMs: 1000 } } });
    await put(store, 1, 100, 'cam', 'short', 0); // 0: expires at 1000
    await put(store, 1, 100, 'cam', 'short', 500); // 1: expires at 1500
    await put(store, 1, 100, 'cam', 'default', 0); // 2: no TTL
    expect(await store.expire(999)).toBe(0);
    expect(await store.expire(1200)).toBe(1);
    expect((await queueOrder(store)).map((b) => b.seq)).toEqual([1, 2]);
    expect(await store.expire(10_000)).toBe(1);
    expect(store.stats()).toMatchObject({ expired: 2, batches: 1, bytes: 100 });
    expect(lines.filter((l) => l.msg === 'batch expired').map((l) => l.obj.seq)).toEqual([0, 1]);
  });

  it('setLimits applies live: lowering the cap evicts down to it, partition limits take effect for new puts and sweeps', async () => {
    const { store } = await fresh({ maxBytes: 10_000 });
    for (const p of [0, 2, 1, 2]) await put(store, p, 100, 'cam');
    store.setLimits(250);
    await store.expire(0); // queued behind the limit enforcement
    expect((await queueOrder(store)).map((b) => b.seq)).toEqual([0, 2]);
    expect(store.stats()).toMatchObject({ evictions: 2, bytes: 200 });
    store.setLimits(10_000, { 'cam/default': { ttlMs: 10 } });
    expect(await store.expire(100)).toBe(2);
    expect(store.stats().batches).toBe(0);
  });

  it('eviction survives a restart: evicted batches stay gone, the rest stay', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    let store = await openStore(t.dir, { maxBytes: 300 });
    for (const p of [2, 1, 2, 1]) await put(store, p);
    await store.close();
    store = await openStore(t.dir, { maxBytes: 300 });
    cleanups.push(() => store.close());
    expect((await queueOrder(store)).map((b) => b.seq)).toEqual([1, 3, 2]);
    expect(store.stats().bytes).toBe(300);
  });
});
