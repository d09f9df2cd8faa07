/**
 * Store throughput for realistic batch sizes (2 KiB, 32 KiB, 128 KiB), in the same run:
 *   - edgewise BatchStore: put = one LevelDB batch with sync:true (durable on power loss when it
 *     resolves); read = next() + remove(), the uploader's loop;
 *   - peer "file+fsync": one file per batch, writeFile + fsync (FleetWise's legacy persistency
 *     shape); read = readdir order, readFile + unlink;
 *   - peer "level no-sync": raw classic-level put with sync:false (survives a process crash,
 *     not a power loss); read = iterator + del.
 * Each write case runs for up to MAX_BATCHES batches or BUDGET_MS, whichever comes first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile, readdir, unlink, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { BatchStore } from '../src/store/index.js';

const SIZES = [2 * 1024, 32 * 1024, 128 * 1024];
const MAX_BATCHES = 2000;
const BUDGET_MS = 3000;

function payload(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  let s = seed | 1;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    b[i] = s >>> 24; // incompressible, like compressed batches
  }
  return b;
}

interface Result {
  name: string;
  size: number;
  n: number;
  writeMs: number;
  readMs: number;
}

async function timed(fn: (i: number) => Promise<void>): Promise<{ n: number; ms: number }> {
  const t = performance.now();
  let n = 0;
  while (n < MAX_BATCHES && performance.now() - t < BUDGET_MS) await fn(n++);
  return { n, ms: performance.now() - t };
}

async function benchStore(dir: string, size: number): Promise<Result> {
  const store = await BatchStore.open(path.join(dir, 'store'), { maxBytes: 1e12 });
  const data = payload(size, size);
  const w = await timed(async (i) => {
    await store.put({ priority: i % 3, campaign: 'bench', partitionId: 'default', createdMs: i }, () => [data]);
  });
  const t = performance.now();
  const none = new Set<number>();
  let read = 0;
  for (;;) {
    const b = await store.next(none);
    if (!b) break;
    read += b.bytes;
    await store.remove(b.seq);
  }
  const readMs = performance.now() - t;
  if (read !== w.n * size) throw new Error(`store read ${read} bytes, wrote ${w.n * size}`);
  await store.close();
  return { name: 'edgewise BatchStore (sync)', size, n: w.n, writeMs: w.ms, readMs };
}

async function benchFiles(dir: string, size: number): Promise<Result> {
  const d = path.join(dir, 'files');
  await mkdir(d);
  const data = payload(size, size);
  const w = await timed(async (i) => {
    const fh = await open(path.join(d, `${String(i).padStart(10, '0')}.bin`), 'w');
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
  });
  const t = performance.now();
  let read = 0;
  for (const f of (await readdir(d)).sort()) {
    const p = path.join(d, f);
    read += (await readFile(p)).length;
    await unlink(p);
  }
  const readMs = performance.now() - t;
  if (read !== w.n * size) throw new Error('files: short read');
  return { name: 'file per batch + fsync', size, n: w.n, writeMs: w.ms, readMs };
}

async function benchLevelNoSync(dir: string, size: number): Promise<Result> {
  const db = new ClassicLevel<string, Uint8Array>(path.join(dir, 'level'), { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  const data = payload(size, size);
  const w = await timed(async (i) => {
    await db.put(`b!${String(i).padStart(16, '0')}`, data, { sync: false });
  });
  const t = performance.now();
  let read = 0;
  for await (const [k, v] of db.iterator()) {
    read += v.length;
    await db.del(k);
  }
  const readMs = performance.now() - t;
  if (read !== w.n * size) throw new Error('level: short read');
  await db.close();
  return { name: 'classic-level sync:false', size, n: w.n, writeMs: w.ms, readMs };
}

const results: Result[] = [];
for (const size of SIZES) {
  for (const run of [benchStore, benchFiles, benchLevelNoSync]) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-store-bench-'));
    try {
      results.push(await run(dir, size));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

const kib = (n: number) => `${n / 1024} KiB`;
console.log(`Writes: up to ${MAX_BATCHES} batches or ${BUDGET_MS / 1000} s per case; reads drain what was written.\n`);
console.log('| batch | implementation | batches | write batches/s | write MB/s | read batches/s | read MB/s | write vs edgewise |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const size of SIZES) {
  const rs = results.filter((r) => r.size === size);
  const base = rs[0].n / rs[0].writeMs;
  for (const r of rs) {
    const wps = (r.n * 1000) / r.writeMs;
    const rps = (r.n * 1000) / r.readMs;
    console.log(
      `| ${kib(size)} | ${r.name} | ${r.n} | ${wps.toFixed(0)} | ${((wps * size) / 1e6).toFixed(1)} | ${rps.toFixed(0)} | ${((rps * size) / 1e6).toFixed(1)} | ${(r.n / r.writeMs / base).toFixed(2)}x |`,
    );
  }
}
