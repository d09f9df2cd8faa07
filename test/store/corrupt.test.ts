import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync, existsSync, mkdirSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { openStore, partsFor, queueOrder, recordingLogger, tempDir } from './helpers.js';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function populated(n = 30) {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const store = await openStore(t.dir);
  for (let i = 0; i < n; i++) await store.put({ priority: 1, campaign: 'c', partitionId: 'default', createdMs: i }, (seq) => partsFor(seq, 2000));
  await store.close();
  return t.dir;
}

function asideDirs(dir: string): string[] {
  return readdirSync(path.dirname(dir)).filter((f) => f.startsWith(`${path.basename(dir)}.corrupt-`));
}

async function expectMovedAsideAndFresh(dir: string) {
  const { logger, lines } = recordingLogger();
  const store = await openStore(dir, { logger });
  cleanups.push(() => store.close());
  expect(store.stats()).toMatchObject({ movedAside: 1, batches: 0 });
  expect(asideDirs(dir)).toHaveLength(1);
  expect(lines.some((l) => l.level === 'error' && typeof l.obj.movedTo === 'string')).toBe(true);
  // the fresh store works
  const seq = await store.put({ priority: 0, campaign: 'c', partitionId: 'default', createdMs: 1 }, (s) => partsFor(s));
  expect((await queueOrder(store)).map((b) => b.seq)).toEqual([seq]);
}

describe('BatchStore on a corrupt directory', () => {
  it('garbage in CURRENT: moved aside, reported, fresh store opened', async () => {
    const dir = await populated();
    writeFileSync(path.join(dir, 'CURRENT'), 'not-a-manifest\n');
    await expectMovedAsideAndFresh(dir);
  });

  it('garbage written over every LevelDB file: moved aside, fresh store opened', async () => {
    const dir = await populated(200);
    for (const f of readdirSync(dir)) {
      if (f === 'LOCK' || f === 'CURRENT' || f === 'LOG') continue;
      const p = path.join(dir, f);
      const b = readFileSync(p);
      for (let i = 0; i < b.length; i += 5) b[i] ^= 0xa5;
      writeFileSync(p, b);
    }
    await expectMovedAsideAndFresh(dir);
  });

  it('a plain file where the store directory should be: moved aside', async () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    mkdirSync(path.dirname(t.dir), { recursive: true });
    writeFileSync(t.dir, 'oops');
    await expectMovedAsideAndFresh(t.dir);
  });

  it('a store held open by someone else is NOT moved aside (IO error instead)', async () => {
    const dir = await populated(3);
    const holder = await openStore(dir);
    cleanups.push(() => holder.close());
    await expect(openStore(dir)).rejects.toMatchObject({ code: 'IO' });
    expect(asideDirs(dir)).toHaveLength(0);
    expect(existsSync(path.join(dir, 'CURRENT'))).toBe(true);
  });

  it.skipIf(process.getuid?.() === 0)('an unreadable (permission denied) store is NOT moved aside', async () => {
    const dir = await populated(3);
    chmodSync(dir, 0o000);
    cleanups.push(() => chmodSync(dir, 0o755));
    await expect(openStore(dir)).rejects.toMatchObject({ code: 'IO' });
    expect(asideDirs(dir)).toHaveLength(0);
  });
});
