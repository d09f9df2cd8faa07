import { describe, expect, it } from 'vitest';
import * as snappy from 'snappyjs';
import { brotliDecompressSync } from 'node:zlib';
import { batchToRows, decodeBatch, encodeBatch } from '../../src/batches/index.js';
import { BatchType } from '../../src/batches/schema.js';
import type { CompressionMode } from '../../src/types.js';
import { makeBatch, signal, T0, sameTime } from './helpers.js';

const MODES: CompressionMode[] = ['OFF', 'SNAPPY', 'BROTLI'];

function allTypesBatch(compression: CompressionMode) {
  const t = (k: number) => Array.from({ length: k }, (_, i) => T0 - 500 + i * 10.001);
  return makeBatch({
    compression,
    triggeredBy: ['overspeed', 'brake'],
    signals: [
      signal('Vehicle.Bool', 'bool', t(3), [true, false, true]),
      signal('Vehicle.U8', 'uint8', t(3), [0, 255, 7]),
      signal('Vehicle.U64', 'uint64', t(4), [0, 2n ** 64n - 1n, 2n ** 53n + 1n, 9007199254740991]),
      signal('Vehicle.I64', 'int64', t(4), [-(2n ** 63n), 2n ** 63n - 1n, -1, -(2n ** 53n) - 3n]),
      signal('Vehicle.I16', 'int16', t(3), [-32768, 32767, 0]),
      signal('Vehicle.F32', 'float32', t(3), [Math.fround(1.1), -0, Math.fround(3.4e38)]),
      signal('Vehicle.F64', 'float64', t(3), [Math.PI, -1e-300, Number.MAX_VALUE]),
      signal('Vehicle.Str', 'string', t(2), ['VIN123', 'ünïcødé ✓']),
      signal('Vehicle.Empty', 'float64', [], []),
      signal('Vehicle.Part', 'uint16', [T0 + 1], [42], 'hot'),
    ],
    dtcs: [
      { timeMs: T0 - 3.5, codes: ['P0133', 'U0100'] },
      { timeMs: T0 + 1000, codes: [] },
    ],
  });
}

describe('batch encode/decode round trip', () => {
  for (const mode of MODES) {
    it(`keeps header, every type exactly, times to the µs and DTCs (${mode})`, () => {
      const b = allTypesBatch(mode);
      const parts = encodeBatch(b, { seq: 77, vehicle: 'car-1' });
      expect(parts).toHaveLength(1);
      const d = decodeBatch(parts[0]);
      expect(d).toMatchObject({
        schemaVersion: 1,
        compression: mode,
        vehicle: 'car-1',
        campaign: 'heartbeat',
        campaignVersion: 3,
        eventId: 0x1234567,
        triggerTimeMs: T0,
        seq: 77,
        partIndex: 0,
        partCount: 1,
        triggeredBy: ['overspeed', 'brake'],
        priority: 2,
      });
      expect(d.signals.map((s) => [s.name, s.type, s.partitionId])).toEqual(b.signals.map((s) => [s.name, s.type, s.partitionId]));
      const byName = Object.fromEntries(d.signals.map((s) => [s.name, s]));
      expect(byName['Vehicle.Bool'].values).toEqual([true, false, true]);
      expect(byName['Vehicle.U8'].values).toEqual([0, 255, 7]);
      expect(byName['Vehicle.U64'].values).toEqual([0, 2n ** 64n - 1n, 2n ** 53n + 1n, 9007199254740991]);
      expect(byName['Vehicle.I64'].values).toEqual([-(2n ** 63n), 2n ** 63n - 1n, -1, -(2n ** 53n) - 3n]);
      expect(byName['Vehicle.I16'].values).toEqual([-32768, 32767, 0]);
      expect(byName['Vehicle.F32'].values).toEqual([Math.fround(1.1), -0, Math.fround(3.4e38)]);
      expect(byName['Vehicle.F64'].values).toEqual([Math.PI, -1e-300, Number.MAX_VALUE]);
      expect(byName['Vehicle.Str'].values).toEqual(['VIN123', 'ünïcødé ✓']);
      expect(byName['Vehicle.Empty'].values).toEqual([]);
      expect(byName['Vehicle.Part'].partitionId).toBe('hot');
      for (const s of b.signals) {
        const got = byName[s.name].timesMs;
        expect(got).toHaveLength(s.timesMs.length);
        s.timesMs.forEach((t, i) => expect(sameTime(got[i], t), `${s.name}[${i}] ${got[i]} vs ${t}`).toBe(true));
      }
      expect(d.dtcs.map((x) => x.codes)).toEqual([['P0133', 'U0100'], []]);
      expect(sameTime(d.dtcs[0].timeMs, T0 - 3.5)).toBe(true);
    });
  }

  it('puts each type in its native packed field, not double', () => {
    const parts = encodeBatch(allTypesBatch('OFF'), { seq: 1, vehicle: 'v' });
    const msg = BatchType.toObject(BatchType.decode(parts[0].subarray(2)), { longs: String, arrays: true }) as {
      signals: Record<string, unknown[]>[];
    };
    const fieldOf = (i: number) =>
      ['sint64_values', 'uint64_values', 'float_values', 'double_values', 'bool_values', 'string_values'].filter(
        (f) => msg.signals[i][f].length > 0,
      );
    expect(fieldOf(0)).toEqual(['bool_values']);
    expect(fieldOf(1)).toEqual(['uint64_values']);
    expect(fieldOf(2)).toEqual(['uint64_values']);
    expect(msg.signals[2].uint64_values[1]).toBe('18446744073709551615');
    expect(fieldOf(3)).toEqual(['sint64_values']);
    expect(msg.signals[3].sint64_values[0]).toBe('-9223372036854775808');
    expect(fieldOf(5)).toEqual(['float_values']);
    expect(fieldOf(6)).toEqual(['double_values']);
    expect(fieldOf(7)).toEqual(['string_values']);
    // times: first relative to trigger, then deltas, in µs
    expect(msg.signals[0].time_deltas_us).toEqual(['-500000', '10001', '10001']);
  });

  it('falls back to double (never rounds) when values do not fit the declared type', () => {
    const b = makeBatch({
      signals: [
        signal('Scaled.F32', 'float32', [T0, T0 + 1], [0.1, 0.2]),
        signal('Scaled.I8', 'int8', [T0, T0 + 1], [1.5, -2]),
        signal('Odd.Bool', 'bool', [T0], [1]),
      ],
    });
    const d = decodeBatch(encodeBatch(b, { seq: 1, vehicle: 'v' })[0]);
    expect(d.signals[0]).toMatchObject({ type: 'float32', values: [0.1, 0.2] });
    expect(d.signals[1]).toMatchObject({ type: 'int8', values: [1.5, -2] });
    expect(d.signals[2]).toMatchObject({ type: 'bool', values: [1] });
  });

  it('SNAPPY payloads are a raw snappy block and BROTLI a brotli stream behind the 2-byte envelope', () => {
    const b = allTypesBatch('SNAPPY');
    const [s] = encodeBatch(b, { seq: 5, vehicle: 'v' });
    expect([s[0], s[1]]).toEqual([0xed, 1]);
    const [off] = encodeBatch({ ...b, compression: 'OFF' }, { seq: 5, vehicle: 'v' });
    expect([off[0], off[1]]).toEqual([0xed, 0]);
    expect(Buffer.from(snappy.uncompress(s.subarray(2)))).toEqual(Buffer.from(off.subarray(2)));
    const [br] = encodeBatch({ ...b, compression: 'BROTLI' }, { seq: 5, vehicle: 'v' });
    expect([br[0], br[1]]).toEqual([0xed, 2]);
    expect(Buffer.from(brotliDecompressSync(br.subarray(2)))).toEqual(Buffer.from(off.subarray(2)));
  });

  it('rejects a batch whose times and values differ in length', () => {
    const b = makeBatch({ signals: [signal('X', 'float64', [T0, T0 + 1], [1])] });
    expect(() => encodeBatch(b, { seq: 1, vehicle: 'v' })).toThrow(expect.objectContaining({ code: 'BATCH_FORMAT' }));
  });

  it('batchToRows gives one row per sample and per DTC code with campaign, vehicle and seq', () => {
    const b = makeBatch({
      signals: [signal('A', 'uint64', [T0, T0 + 2], [1, 2n ** 60n]), signal('B', 'string', [T0 + 1], ['x'])],
      dtcs: [{ timeMs: T0, codes: ['P0001', 'P0002'] }],
    });
    const rows = batchToRows(decodeBatch(encodeBatch(b, { seq: 9, vehicle: 'car' })[0]));
    expect(rows).toEqual([
      { time: T0, signal: 'A', value: 1, campaign: 'heartbeat', vehicle: 'car', seq: 9 },
      { time: expect.closeTo(T0 + 2, 3), signal: 'A', value: 2n ** 60n, campaign: 'heartbeat', vehicle: 'car', seq: 9 },
      { time: expect.closeTo(T0 + 1, 3), signal: 'B', value: 'x', campaign: 'heartbeat', vehicle: 'car', seq: 9 },
      { time: T0, signal: '@dtc', value: 'P0001', campaign: 'heartbeat', vehicle: 'car', seq: 9 },
      { time: T0, signal: '@dtc', value: 'P0002', campaign: 'heartbeat', vehicle: 'car', seq: 9 },
    ]);
  });
});
