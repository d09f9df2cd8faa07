import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { candumpPacked, PackedFrames } from '../../src/sources/candump.js';
import { GunzipInto, ownedFileChunks, warmInflate } from '../../src/sources/gunzip.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-gunzip-'));
function file(name: string, data: Uint8Array | string): string {
  const f = path.join(dir, name);
  writeFileSync(f, data);
  return f;
}

/** Deterministic text that compresses like a log (repetitive, but not trivially). */
function logText(lines: number): string {
  const out: string[] = [];
  let x = 12345;
  for (let i = 0; i < lines; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out.push(`(${(1000 + i / 1000).toFixed(6)}) can0 ${(x % 0x7ff).toString(16).toUpperCase().padStart(3, '0')}#${x.toString(16).padStart(8, '0')}${(x >>> 7).toString(16).padStart(8, '0')}`);
  }
  return out.join('\n') + '\n';
}

async function readAll(f: string, opts: Parameters<typeof ownedFileChunks>[1] = {}): Promise<{ text: string; buffers: Set<ArrayBufferLike>; sizes: number[] }> {
  const parts: string[] = [];
  const buffers = new Set<ArrayBufferLike>();
  const sizes: number[] = [];
  for await (const c of ownedFileChunks(f, opts)) {
    parts.push(c.toString('latin1'));
    buffers.add(c.buffer);
    sizes.push(c.length);
  }
  return { text: parts.join(''), buffers, sizes };
}

describe('gunzip into owned buffers', () => {
  const text = logText(20_000);

  it('inflates a gzip file through one reused output buffer, in chunks no larger than it', async () => {
    const errors: string[] = [];
    const r = await readAll(file('a.log.gz', gzipSync(text)), { readBytes: 1000, chunkBytes: 4096, onInputError: (m) => errors.push(m) });
    expect(r.text).toBe(text);
    expect(errors).toEqual([]);
    expect(Math.max(...r.sizes)).toBeLessThanOrEqual(4096);
    // every chunk is a view of the same memory: nothing allocated per chunk
    expect(r.buffers.size).toBe(1);
  });

  it('reads a plain file the same way', async () => {
    const r = await readAll(file('a.log', text), { readBytes: 3000 });
    expect(r.text).toBe(text);
    expect(r.buffers.size).toBe(1);
    expect((await readAll(file('empty.log', ''))).text).toBe('');
  });

  it('reads concatenated gzip members in turn', async () => {
    const half = text.length >> 1;
    const f = file('two.gz', Buffer.concat([gzipSync(text.slice(0, half)), gzipSync(text.slice(half))]));
    const errors: string[] = [];
    expect((await readAll(f, { readBytes: 777, onInputError: (m) => errors.push(m) })).text).toBe(text);
    expect(errors).toEqual([]);
  });

  it('reports a truncated file once and keeps what came before the cut', async () => {
    const gz = gzipSync(text);
    const errors: string[] = [];
    const r = await readAll(file('cut.gz', gz.subarray(0, gz.length >> 1)), { onInputError: (m) => errors.push(m) });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/cut\.gz: gzip data is corrupt or truncated \(unexpected end of file\)/);
    expect(r.text.length).toBeGreaterThan(text.length / 4);
    expect(text.startsWith(r.text)).toBe(true);
  });

  it('reports corrupt data and bytes after the last member that are not gzip', async () => {
    const gz = Buffer.from(gzipSync(text));
    for (let i = 2000; i < 2100; i++) gz[i] ^= 0x55;
    const errors: string[] = [];
    const r = await readAll(file('bad.gz', gz), { onInputError: (m) => errors.push(m) });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/bad\.gz: gzip data is corrupt or truncated \(.+\)/);
    expect(text.startsWith(r.text)).toBe(true);

    const trailing: string[] = [];
    const t = await readAll(file('trail.gz', Buffer.concat([gzipSync('abc\n'), Buffer.from('garbage')])), { onInputError: (m) => trailing.push(m) });
    expect(t.text).toBe('abc\n');
    expect(trailing[0]).toMatch(/incorrect header check/);
  });

  it('GunzipInto.drain reports a full buffer until the input is used up', () => {
    const gz = gzipSync(text);
    const g = new GunzipInto();
    g.feed(gz, gz.length);
    const out = new Uint8Array(10_000);
    const sizes: number[] = [];
    for (let k = g.drain(out); k > 0; k = g.drain(out)) sizes.push(k);
    g.close();
    expect(sizes.slice(0, -1).every((k) => k === 10_000)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(text.length);
    expect(g.complete).toBe(true);
  });

  it('candumpPacked gives the same frames in low-memory mode (owned buffers) as in fast mode', async () => {
    const f = file('frames.log.gz', gzipSync(text + 'not a frame\n' + logText(10)));
    const collect = async (lowMemory: boolean) => {
      const ids: number[] = [];
      const lines: number[] = [];
      const stats = { lines: 0, frames: 0, badLines: 0, firstBadLines: [], aborted: false };
      for await (const p of candumpPacked(f, { lowMemory, stats })) {
        expect(p).toBeInstanceOf(PackedFrames);
        for (let i = 0; i < p.n; i++) {
          ids.push(p.ids[i]);
          lines.push(p.lines[i]);
        }
      }
      return { ids, lines, stats };
    };
    const fast = await collect(false);
    const lean = await collect(true);
    expect(lean.ids.length).toBe(20_010);
    expect(lean).toEqual(fast);
    expect(lean.stats.badLines).toBe(1);
  });
});

describe('warmInflate', () => {
  it('inflates its whole corpus (stored, fixed and dynamic blocks, four members) without error', () => {
    // 100 log lines (dynamic and fixed Huffman), 2,000 bytes stored, then both in one member.
    const n = warmInflate();
    expect(n).toBeGreaterThan(2 * 2000 + 3 * 100 * 20);
    expect(warmInflate()).toBe(n); // deterministic corpus
  });
});
