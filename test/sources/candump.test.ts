import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { readCandump, candumpChunks, parseCandumpLine, formatCandumpLine, type CandumpStats } from '../../src/sources/index.js';
import { newCanFrame, copyCanFrame } from '../../src/can/index.js';
import type { CanFrame } from '../../src/types.js';
import { isEdgewiseError } from '../../src/errors.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = path.resolve(REPO, '../shared');

function parse(line: string): CanFrame {
  const f = newCanFrame();
  const r = parseCandumpLine(line, f);
  expect(r, `line ${JSON.stringify(line)}`).toBeNull();
  return copyCanFrame(f);
}

function reason(line: string): string | null {
  return parseCandumpLine(line, newCanFrame());
}

async function readAll(input: string | NodeJS.ReadableStream): Promise<{ frames: CanFrame[]; lines: number[]; stats: CandumpStats }> {
  const frames: CanFrame[] = [];
  const lines: number[] = [];
  const stats = await readCandump(input, (f, line) => {
    frames.push(copyCanFrame(f));
    lines.push(line);
  });
  return { frames, lines, stats };
}

describe('parseCandumpLine: candump -L line format', () => {
  it('reads a classic standard frame with an exact µs timestamp', () => {
    const f = parse('(1700000000.000100) can0 123#DEADBEEF');
    expect(f).toMatchObject({ iface: 'can0', id: 0x123, extended: false, fd: false, remote: false, error: false });
    expect(f.timeMs).toBe(1700000000000.1);
    expect([...f.data]).toEqual([0xde, 0xad, 0xbe, 0xef]);
  });

  it('keeps timestamps with 1..9 fraction digits and without a fraction', () => {
    expect(parse('(1700000000.5) can0 123#').timeMs).toBe(1700000000500);
    expect(parse('(1700000000.123456789) can0 123#').timeMs).toBeCloseTo(1700000000123.456789, 3);
    expect(parse('(1700000000) can0 123#').timeMs).toBe(1700000000000);
    expect(parse('(000.000250) vcan0 123#').timeMs).toBe(0.25);
  });

  it('reads an 8-digit id as extended and a 3-digit one as standard, lower case too', () => {
    const e = parse('(1.000000) can1 00000123#0102');
    expect(e).toMatchObject({ id: 0x123, extended: true, iface: 'can1' });
    const s = parse('(1.000000) can1 7ff#aabb');
    expect(s).toMatchObject({ id: 0x7ff, extended: false });
    expect([...s.data]).toEqual([0xaa, 0xbb]);
    expect(parse('(1.0) can0 1FFFFFFF#').id).toBe(0x1fffffff);
  });

  it('reads an empty classic frame and bytes separated by dots', () => {
    expect(parse('(1.0) can0 123#').data.length).toBe(0);
    expect([...parse('(1.0) can0 123#DE.AD.BE.EF').data]).toEqual([0xde, 0xad, 0xbe, 0xef]);
  });

  it('reads CAN FD frames with the BRS/ESI flags digit', () => {
    const data = '00112233445566778899AABB';
    const f = parse(`(1.0) can0 123##3${data}`);
    expect(f).toMatchObject({ fd: true, brs: true, esi: true, id: 0x123 });
    expect(f.data.length).toBe(12);
    expect(f.data[11]).toBe(0xbb);
    expect(parse('(1.0) can0 123##1' + '00'.repeat(64)).data.length).toBe(64);
    expect(parse('(1.0) can0 123##0').data.length).toBe(0);
    expect(parse('(1.0) can0 123##2FF')).toMatchObject({ brs: false, esi: true });
  });

  it('rejects CAN FD lengths that are not wire lengths', () => {
    expect(reason('(1.0) can0 123##1' + '00'.repeat(10))).toMatch(/CAN FD data length/);
    expect(reason('(1.0) can0 123##1' + '00'.repeat(65))).toMatch(/more than 64/);
    expect(reason('(1.0) can0 123##')).toMatch(/flags digit/);
  });

  it('reads remote frames with and without a DLC', () => {
    const r = parse('(1.0) can0 123#R');
    expect(r).toMatchObject({ remote: true, id: 0x123 });
    expect(r.data.length).toBe(0);
    const r5 = parse('(1.0) can0 12345678#R5');
    expect(r5).toMatchObject({ remote: true, extended: true, id: 0x12345678 });
    expect(r5.data.length).toBe(5);
    expect(reason('(1.0) can0 123#R9')).toMatch(/DLC/);
  });

  it('reads error frames: error flag in an 8-digit id, not extended', () => {
    const f = parse('(1.0) can0 20000080#0000000000000000');
    expect(f).toMatchObject({ error: true, extended: false, id: 0x80 });
    expect(f.data.length).toBe(8);
  });

  it('tolerates trailing direction markers, CR and whitespace', () => {
    expect(parse('(1.0) can0 123#11 R').data[0]).toBe(0x11);
    expect(parse('(1.0) can0 123#11 T\r').data[0]).toBe(0x11);
    expect(parse('  (1.0)\tcan0\t123#11  ').data[0]).toBe(0x11);
    expect(parse('(1.0) can0 123#1122334455667788_A').data.length).toBe(8);
  });

  it('reads the candump -ta screen format, FD lengths and -x columns', () => {
    const c = parse(' (1700000000.000100)  can0  123   [4]  DE AD BE EF');
    expect(c).toMatchObject({ id: 0x123, fd: false, timeMs: 1700000000000.1 });
    expect([...c.data]).toEqual([0xde, 0xad, 0xbe, 0xef]);
    const fd = parse('(1.0)  can0  12345678  [12]  00 11 22 33 44 55 66 77 88 99 AA BB');
    expect(fd).toMatchObject({ extended: true, fd: true });
    expect(fd.data.length).toBe(12);
    const x = parse('(1.0)  can0  RX B -  123  [08]  01 02 03 04 05 06 07 08');
    expect(x).toMatchObject({ fd: true, brs: true, esi: false });
    const rr = parse('(1.0)  can0  123   [3]  remote request');
    expect(rr).toMatchObject({ remote: true });
    expect(rr.data.length).toBe(3);
    const ascii = parse("(1.0)  can0  123   [2]  41 42   'AB'");
    expect([...ascii.data]).toEqual([0x41, 0x42]);
    const err = parse('(1.0)  can0  20000004   [8]  00 04 00 00 00 00 00 00   ERRORFRAME');
    expect(err).toMatchObject({ error: true, id: 4 });
    expect(reason('(1.0)  can0  123   [4]  DE AD')).toMatch(/fewer data bytes/);
  });

  it('names the reason of bad lines', () => {
    expect(reason('can0 123#00')).toMatch(/timestamp/);
    expect(reason('(1.0x) can0 123#00')).toMatch(/timestamp/);
    expect(reason('(1.0)')).toMatch(/interface/);
    expect(reason('(1.0) can0')).toMatch(/missing frame/);
    expect(reason('(1.0) can0 12#00')).toMatch(/3 \(standard\) or 8/);
    expect(reason('(1.0) can0 1234#00')).toMatch(/3 \(standard\) or 8/);
    expect(reason('(1.0) can0 800#00')).toMatch(/above 7FF/);
    expect(reason('(1.0) can0 40000000#00')).toMatch(/above 1FFFFFFF/);
    expect(reason('(1.0) can0 123#ABC')).toMatch(/odd number/);
    expect(reason('(1.0) can0 123#001122334455667788')).toMatch(/more than 8/);
    expect(reason('(1.0) can0 123#00GG')).toMatch(/unexpected text/);
    expect(reason('(1.0) can0 123#00 X')).toMatch(/unexpected text/);
    expect(reason('')).toBe('empty line');
  });

  it('formatCandumpLine is the inverse of parseCandumpLine', () => {
    const fdLens = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];
    const frameArb = fc
      .record({
        kind: fc.constantFrom('classic', 'fd', 'remote', 'error'),
        extended: fc.boolean(),
        id11: fc.integer({ min: 0, max: 0x7ff }),
        id29: fc.integer({ min: 0, max: 0x1fffffff }),
        us: fc.integer({ min: 0, max: 4_000_000_000_000_000 }),
        fdLen: fc.constantFrom(...fdLens),
        bytes: fc.uint8Array({ minLength: 64, maxLength: 64 }),
        len8: fc.integer({ min: 0, max: 8 }),
        brs: fc.boolean(),
        esi: fc.boolean(),
        iface: fc.constantFrom('can0', 'vcan1', 'any'),
      })
      .map((r): CanFrame => {
        const len = r.kind === 'fd' ? r.fdLen : r.len8;
        const error = r.kind === 'error';
        return {
          timeMs: r.us / 1000,
          iface: r.iface,
          id: error ? r.id29 & 0x1fffffff : r.extended ? r.id29 : r.id11,
          extended: !error && r.extended,
          fd: r.kind === 'fd',
          brs: r.kind === 'fd' && r.brs,
          esi: r.kind === 'fd' && r.esi,
          remote: r.kind === 'remote',
          error,
          data: r.kind === 'remote' ? new Uint8Array(len) : r.bytes.slice(0, len),
        };
      });
    fc.assert(
      fc.property(frameArb, (frame) => {
        const line = formatCandumpLine(frame);
        const back = newCanFrame();
        expect(parseCandumpLine(line, back)).toBeNull();
        expect(copyCanFrame(back)).toEqual(frame);
        expect(formatCandumpLine(back)).toBe(line);
      }),
      { numRuns: 500 },
    );
  });

  it('formats the examples candump writes', () => {
    expect(formatCandumpLine(parse('(1700000000.000100) can0 0C00FEFE#B3386A0EF4766BCE'))).toBe(
      '(1700000000.000100) can0 0C00FEFE#B3386A0EF4766BCE',
    );
    expect(formatCandumpLine(parse('(1.0) can0 123##10011'))).toBe('(1.000000) can0 123##10011');
    expect(formatCandumpLine(parse('(1.0) can0 123#R'))).toBe('(1.000000) can0 123#R');
  });
});

describe('readCandump: files and streams', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'edgewise-candump-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const LOG = [
    '(1700000000.000100) can0 123#DEADBEEF',
    '(1700000000.000200) can1 12345678#0102',
    'garbage here',
    '',
    '(1700000000.000300) can0 123##1' + '11'.repeat(12),
    '(1700000000.000400) can0 123#R',
    '(1700000000.000500) can0 20000080#0000000000000000',
    '(1700000000.000600) can0 800#00',
  ];

  function check(r: Awaited<ReturnType<typeof readAll>>): void {
    expect(r.stats.lines).toBe(8);
    expect(r.stats.frames).toBe(5);
    expect(r.stats.badLines).toBe(2);
    expect(r.stats.firstBadLines).toEqual([
      { line: 3, text: 'garbage here', reason: expect.stringMatching(/timestamp/) },
      { line: 8, text: '(1700000000.000600) can0 800#00', reason: expect.stringMatching(/7FF/) },
    ]);
    expect(r.lines).toEqual([1, 2, 5, 6, 7]);
    expect(r.frames.map((f) => f.iface)).toEqual(['can0', 'can1', 'can0', 'can0', 'can0']);
    expect(r.frames.map((f) => [f.fd, f.remote, f.error, f.extended])).toEqual([
      [false, false, false, false],
      [false, false, false, true],
      [true, false, false, false],
      [false, true, false, false],
      [false, false, true, false],
    ]);
    expect(r.frames[2].data.length).toBe(12);
  }

  it('reads a plain LF file, counting bad lines with their numbers', async () => {
    const f = path.join(dir, 'plain.log');
    writeFileSync(f, LOG.join('\n') + '\n');
    check(await readAll(f));
  });

  it('reads a CRLF file without a final newline', async () => {
    const f = path.join(dir, 'crlf.log');
    writeFileSync(f, LOG.join('\r\n'));
    check(await readAll(f));
  });

  it('detects gzip by its magic bytes, whatever the name', async () => {
    const f = path.join(dir, 'compressed.log');
    writeFileSync(f, gzipSync(LOG.join('\n') + '\n'));
    check(await readAll(f));
    const g = path.join(dir, 'compressed.log.gz');
    writeFileSync(g, gzipSync(LOG.join('\n') + '\n'));
    check(await readAll(g));
  });

  it('reads concatenated gzip members', async () => {
    const f = path.join(dir, 'multi.gz');
    const a = gzipSync(LOG.slice(0, 4).join('\n') + '\n');
    const b = gzipSync(LOG.slice(4).join('\n') + '\n');
    writeFileSync(f, Buffer.concat([a, b]));
    check(await readAll(f));
  });

  it('reads a stream split at every byte (lines crossing chunk boundaries)', async () => {
    const bytes = Buffer.from(LOG.join('\n') + '\n');
    const chunks = [...bytes].map((x) => Buffer.from([x]));
    check(await readAll(Readable.from(chunks)));
    const gz = gzipSync(bytes);
    check(await readAll(Readable.from([...gz].map((x) => Buffer.from([x])))));
  });

  it('reads an empty file, a one-byte file and a one-byte-chunk gzip header', async () => {
    const empty = path.join(dir, 'empty.log');
    writeFileSync(empty, '');
    expect((await readAll(empty)).stats).toMatchObject({ lines: 0, frames: 0, badLines: 0 });
    const one = path.join(dir, 'one.log');
    writeFileSync(one, 'x');
    expect((await readAll(one)).stats).toMatchObject({ lines: 1, frames: 0, badLines: 1 });
    const gz = gzipSync('(1.0) can0 123#01\n');
    const r = await readAll(Readable.from([gz.subarray(0, 1), gz.subarray(1)]));
    expect(r.stats).toMatchObject({ lines: 1, frames: 1 });
  });

  it('cuts an endless line spread over many chunks into one bad line and goes on', async () => {
    const text = `(1.0) can0 123#01\n${'x'.repeat(300_000)}\n(2.0) can0 123#02\n`;
    const bytes = Buffer.from(text);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 16_384) chunks.push(bytes.subarray(i, i + 16_384));
    const r = await readAll(Readable.from(chunks));
    expect(r.stats).toMatchObject({ lines: 3, frames: 2, badLines: 1 });
    expect(r.stats.firstBadLines[0]).toMatchObject({ line: 2, reason: 'line longer than 64 KiB' });
    expect(r.stats.firstBadLines[0].text.length).toBeLessThanOrEqual(200);
    expect(r.lines).toEqual([1, 3]);
    expect(r.frames[1].data[0]).toBe(2);
  });

  it('reports a truncated gzip file and keeps the frames before the cut', async () => {
    const lines = Array.from({ length: 20000 }, (_, i) => `(1700000000.${String(i).padStart(6, '0')}) can0 123#${(i & 0xff).toString(16).padStart(2, '0')}`);
    const gz = gzipSync(lines.join('\n') + '\n');
    const f = path.join(dir, 'truncated.gz');
    writeFileSync(f, gz.subarray(0, Math.floor(gz.length * 0.6)));
    const r = await readAll(f);
    expect(r.stats.inputError).toMatch(/corrupt or truncated/);
    expect(r.stats.frames).toBeGreaterThan(1000);
    expect(r.stats.frames).toBeLessThan(20000);
    // every delivered frame is the right one (a cut line may be counted bad, never misread)
    r.frames.forEach((fr, k) => expect(fr.data[0]).toBe((r.lines[k] - 1) & 0xff));
  });

  it('throws an IO error naming a missing file', async () => {
    const err = await readCandump(path.join(dir, 'nope.log'), () => {}).catch((e: unknown) => e);
    expect(isEdgewiseError(err, 'IO')).toBe(true);
    expect((err as Error).message).toMatch(/nope\.log: no such file/);
  });

  it('calls onBadLine and keeps only the first samples', async () => {
    const f = path.join(dir, 'bad.log');
    writeFileSync(f, Array.from({ length: 50 }, (_, i) => `bad ${i}`).join('\n'));
    const seen: number[] = [];
    const stats = await readCandump(f, () => {}, { onBadLine: (line) => seen.push(line), maxBadSamples: 5 });
    expect(stats.badLines).toBe(50);
    expect(stats.firstBadLines.map((b) => b.line)).toEqual([1, 2, 3, 4, 5]);
    expect(seen.length).toBe(50);
    expect(seen[49]).toBe(50);
  });

  it('stops when the signal aborts', async () => {
    const ac = new AbortController();
    const big = Array.from({ length: 1000 }, () => '(1.0) can0 123#00').join('\n') + '\n';
    const src = Readable.from((function* () {
      for (let i = 0; i < 100; i++) yield Buffer.from(big);
    })());
    let n = 0;
    const stats = await readCandump(src, () => {
      if (++n === 1500) ac.abort();
    }, { signal: ac.signal });
    expect(stats.aborted).toBe(true);
    expect(stats.frames).toBeLessThan(100_000);
    expect(stats.frames).toBeGreaterThanOrEqual(1500);
  });

  it('candumpChunks yields copied frames in order with their line numbers', async () => {
    const f = path.join(dir, 'chunks.log');
    writeFileSync(f, LOG.join('\n'));
    const stats = {} as CandumpStats;
    const frames: CanFrame[] = [];
    const lines: number[] = [];
    for await (const c of candumpChunks(f, { stats })) {
      expect(c.frames.length).toBe(c.lines.length);
      expect(c.frames.length).toBeGreaterThan(0);
      frames.push(...c.frames);
      lines.push(...c.lines);
    }
    check({ frames, lines, stats });
    // the frames are distinct objects with their own data
    expect(frames[0].data).not.toBe(frames[1].data);
    expect([...frames[0].data]).toEqual([0xde, 0xad, 0xbe, 0xef]);
  });
});

describe.skipIf(!existsSync(path.join(SHARED, 'logs')))('readCandump on the shared benchmark logs (skipped when ../shared is absent)', () => {
  it('reads every line of the CAN FD log without a bad line', async () => {
    let fd = 0;
    let prev = 0;
    let ordered = true;
    const stats = await readCandump(path.join(SHARED, 'logs/hyundai_canfd_generated.500k.log.gz'), (f) => {
      if (f.fd) fd++;
      if (f.timeMs <= prev) ordered = false;
      prev = f.timeMs;
    });
    expect(stats).toMatchObject({ lines: 500_000, frames: 500_000, badLines: 0 });
    expect(fd).toBeGreaterThan(0);
    expect(ordered).toBe(true);
  });
});
