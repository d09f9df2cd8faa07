import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BatchStore, type StoreOptions } from '../../src/store/index.js';
import type { StoredBatch } from '../../src/types.js';

export function tempDir(): { dir: string; cleanup: () => void } {
  const base = mkdtempSync(path.join(os.tmpdir(), 'edgewise-store-'));
  return { dir: path.join(base, 'store'), cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** Deterministic parts for a seq: `n` parts of `size` bytes whose content encodes the seq. */
export function partsFor(seq: number, size = 100, n = 1): Uint8Array[] {
  return Array.from({ length: n }, (_, k) => {
    const p = new Uint8Array(size);
    for (let i = 0; i < size; i++) p[i] = (seq * 31 + k * 7 + i) & 0xff;
    return p;
  });
}

export function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg?: string) => void lines.push({ level, obj, msg });
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/** Drain the queue order without removing: repeatedly next() excluding what was seen. */
export async function queueOrder(store: BatchStore): Promise<StoredBatch[]> {
  const seen = new Set<number>();
  const out: StoredBatch[] = [];
  for (;;) {
    const b = await store.next(seen);
    if (!b) return out;
    seen.add(b.seq);
    out.push(b);
  }
}

export async function openStore(dir: string, opts: Partial<StoreOptions> = {}): Promise<BatchStore> {
  return BatchStore.open(dir, { maxBytes: 10_000_000, ...opts });
}
