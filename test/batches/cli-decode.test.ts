import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../../src/cli/main.js';
import { encodeBatch } from '../../src/batches/index.js';
import { makeBatch, signal, T0 } from './helpers.js';

const DIR = mkdtempSync(path.join(os.tmpdir(), 'edgewise-batch-cli-'));
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => ((out += c.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((err += c.toString()), true)) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    process.exitCode = undefined;
  }
}

const payload = encodeBatch(
  makeBatch({
    compression: 'SNAPPY',
    signals: [signal('Vehicle.Odo', 'uint64', [T0, T0 + 0.5], [12, 2n ** 63n + 5n]), signal('Vehicle.Vin', 'string', [T0 - 1], ['WVW'])],
    dtcs: [{ timeMs: T0, codes: ['P0420'] }],
  }),
  { seq: 17, vehicle: 'car-1' },
)[0];
const FILE = path.join(DIR, 'batch.bin');
writeFileSync(FILE, payload);

describe('edgewise batch decode', () => {
  it('prints one JSON line per sample with exact 64-bit values', async () => {
    const r = await cli('batch', 'decode', FILE);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toContain('"value":9223372036854775813,');
    expect(JSON.parse(lines[0])).toEqual({ time: T0, signal: 'Vehicle.Odo', value: 12, campaign: 'heartbeat', vehicle: 'car-1', seq: 17 });
    expect(JSON.parse(lines[2])).toMatchObject({ signal: 'Vehicle.Vin', value: 'WVW' });
    expect(JSON.parse(lines[3])).toMatchObject({ signal: '@dtc', value: 'P0420' });
  });

  it('--format json prints one array; --time iso prints ISO times', async () => {
    const r = await cli('batch', 'decode', FILE, '--format', 'json', '--time', 'iso');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out.replace(/9223372036854775813/, '0'));
    expect(rows).toHaveLength(4);
    expect(rows[0].time).toBe(new Date(T0).toISOString());
  });

  it('garbage: one clear error line and exit 1', async () => {
    const bad = path.join(DIR, 'bad.bin');
    writeFileSync(bad, 'hello world, not a batch');
    const r = await cli('batch', 'decode', bad);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^edgewise: .*bad\.bin: not an edgewise batch/);
  });

  it('missing file: exit 1 with an IO error; bad --format: usage error exit 2', async () => {
    expect((await cli('batch', 'decode', path.join(DIR, 'nope.bin'))).code).toBe(1);
    expect((await cli('batch', 'decode', FILE, '--format', 'xml')).code).toBe(2);
  });

  it('batch info prints the header and per-signal counts', async () => {
    const r = await cli('batch', 'info', FILE);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ seq: 17, vehicle: 'car-1', compression: 'SNAPPY', partIndex: 0, partCount: 1, samples: 3, dtcs: 1 });
  });
});
