import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { openStore, partsFor, queueOrder, tempDir } from './helpers.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
// inside the repo so the bundle's bare imports (classic-level) resolve from node_modules
const OUT_DIR = path.join(REPO, '.tmp', `store-child-${process.pid}`);
const CHILD = path.join(OUT_DIR, 'put-child.mjs');

beforeAll(async () => {
  mkdirSync(OUT_DIR, { recursive: true });
  await build({
    entryPoints: [path.join(HERE, 'fixtures/put-child.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: CHILD,
    logLevel: 'error',
  });
});
afterAll(() => rmSync(OUT_DIR, { recursive: true, force: true }));

/** Run the child until it has acknowledged `killAfter` batches (plus a random few ms), then SIGKILL it. */
function runAndKill(dir: string, killAfter: number, extraMs: number): Promise<Map<number, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<number, number>();
    let buf = '';
    let err = '';
    let killing = false;
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'ready') continue;
        const [seq, size] = line.split(' ').map(Number);
        acked.set(seq, size);
        if (!killing && acked.size >= killAfter) {
          killing = true;
          setTimeout(() => child.kill('SIGKILL'), extraMs);
        }
      }
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code} ${signal}: ${err}`));
      else resolve(acked);
    });
  });
}

describe('BatchStore durability under kill -9', () => {
  it('every batch whose put resolved survives SIGKILL, and seqs keep increasing across runs', async () => {
    const t = tempDir();
    try {
      const all = new Map<number, number>();
      let lastMax = -1;
      for (let round = 0; round < 4; round++) {
        const acked = await runAndKill(t.dir, 5 + Math.floor(Math.random() * 20), Math.floor(Math.random() * 30));
        expect(acked.size).toBeGreaterThan(0);
        const seqs = [...acked.keys()];
        expect(Math.min(...seqs)).toBeGreaterThan(lastMax);
        lastMax = Math.max(...seqs);
        for (const [s, size] of acked) all.set(s, size);
        const store = await openStore(t.dir, { maxBytes: 1e12 });
        try {
          const stored = new Map((await queueOrder(store)).map((b) => [b.seq, b]));
          for (const [seq, size] of all) {
            const b = stored.get(seq);
            expect(b, `acknowledged seq ${seq} missing after kill -9 (round ${round})`).toBeDefined();
            expect(b!.parts.length).toBeGreaterThan(0);
            expect(Buffer.from(b!.parts[0])).toEqual(Buffer.from(partsFor(seq, size)[0]));
          }
          expect(store.stats().nextSeq).toBeGreaterThan(lastMax);
        } finally {
          await store.close();
        }
      }
    } finally {
      t.cleanup();
    }
  });
});
