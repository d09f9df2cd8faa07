import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeBatch, encodeBatch, IOT_MAX_PAYLOAD_BYTES } from '../../src/batches/index.js';
import type { CollectedSignal, CompressionMode, SignalType, SignalValue } from '../../src/types.js';
import { expectedRows, makeBatch, rowsOfParts, sameTime, signal, T0 } from './helpers.js';

/** Deterministic pseudo-random numbers (noisy sensor data compresses poorly, like real data at worst). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function hugeBatch(compression: CompressionMode) {
  const r = rng(42);
  const signals: CollectedSignal[] = [];
  // 40 float64 signals x 6000 noisy samples (~2.5 MB raw) + one int64 signal with 60k samples + strings
  for (let k = 0; k < 40; k++) {
    const times = Array.from({ length: 6000 }, (_, i) => T0 - 60_000 + i * 10 + r());
    signals.push(signal(`Vehicle.Sensor${k}`, 'float64', times, times.map(() => r() * 1e6 - 5e5)));
  }
  const big = Array.from({ length: 60_000 }, (_, i) => T0 - 60_000 + i);
  signals.push(signal('Vehicle.Counter', 'int64', big, big.map((_, i) => BigInt(i) * 123456789123n - 2n ** 62n)));
  signals.push(signal('Vehicle.Log', 'string', [T0, T0 + 1, T0 + 2], ['a'.repeat(70_000), 'b', 'c'.repeat(100_000)]));
  return makeBatch({ compression, signals, dtcs: [{ timeMs: T0, codes: ['P0420'] }] });
}

describe('splitting batches to the IoT Core payload limit', () => {
  for (const mode of ['OFF', 'SNAPPY', 'BROTLI'] as CompressionMode[]) {
    it(`splits a huge batch so every part fits 131072 bytes and the parts reassemble it (${mode})`, () => {
      const b = hugeBatch(mode);
      const parts = encodeBatch(b, { seq: 1234, vehicle: 'car-9' });
      expect(parts.length).toBeGreaterThan(5);
      for (const p of parts) expect(p.length).toBeLessThanOrEqual(IOT_MAX_PAYLOAD_BYTES);
      const decoded = parts.map(decodeBatch);
      decoded.forEach((d, i) => {
        expect(d).toMatchObject({ seq: 1234, vehicle: 'car-9', partIndex: i, partCount: parts.length, campaign: 'heartbeat', eventId: b.eventId });
      });
      // parts are reasonably full: no more than ~1.6x the minimum number of parts
      const total = parts.reduce((a, p) => a + p.length, 0);
      expect(parts.length).toBeLessThanOrEqual(Math.ceil((total / IOT_MAX_PAYLOAD_BYTES) * 1.6) + 1);
      const want = expectedRows(b);
      const got = rowsOfParts(parts);
      expect(got.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) {
        if (got[i].signal !== want[i].signal || got[i].value !== want[i].value || !sameTime(got[i].time, want[i].time)) {
          expect(got[i]).toEqual(want[i]);
        }
      }
    });
  }

  it('throws BATCH_FORMAT when a single sample cannot fit one payload', () => {
    const b = makeBatch({ signals: [signal('Blob', 'string', [T0], ['x'.repeat(200_000)])] });
    expect(() => encodeBatch(b, { seq: 1, vehicle: 'v' })).toThrow(expect.objectContaining({ code: 'BATCH_FORMAT' }));
  });

  const TYPES: SignalType[] = ['bool', 'uint8', 'uint64', 'int32', 'int64', 'float32', 'float64', 'string'];
  const valueArb = (t: SignalType): fc.Arbitrary<SignalValue> => {
    switch (t) {
      case 'bool':
        return fc.boolean();
      case 'uint8':
        return fc.integer({ min: 0, max: 255 });
      case 'uint64':
        return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v));
      case 'int32':
        return fc.integer();
      case 'int64':
        return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v) => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v));
      case 'float32':
        return fc.float({ noNaN: true });
      case 'float64':
        return fc.double({ noNaN: true });
      default:
        return fc.string({ maxLength: 300 });
    }
  };
  const signalArb = fc
    .tuple(fc.constantFrom(...TYPES), fc.integer({ min: 0, max: 400 }), fc.string({ minLength: 1, maxLength: 20 }), fc.constantFrom('default', 'p1'))
    .chain(([type, n, name, partitionId]) =>
      fc.record({
        name: fc.constant(name),
        type: fc.constant(type),
        partitionId: fc.constant(partitionId),
        timesMs: fc.array(fc.integer({ min: -3_600_000_000, max: 3_600_000_000 }).map((us) => T0 + us / 1000), { minLength: n, maxLength: n }),
        values: fc.array(valueArb(type), { minLength: n, maxLength: n }),
      }),
    );

  it('property: any batch at any limit splits into parts ≤ the limit that reassemble exactly', () => {
    fc.assert(
      fc.property(
        fc.array(signalArb, { maxLength: 6 }),
        fc.array(fc.record({ timeMs: fc.constant(T0 - 1), codes: fc.array(fc.constantFrom('P0420', 'U0100', 'C1234'), { maxLength: 4 }) }), { maxLength: 3 }),
        fc.constantFrom<CompressionMode>('OFF', 'SNAPPY', 'BROTLI'),
        fc.integer({ min: 1200, max: 20_000 }),
        (signals, dtcs, compression, max) => {
          const b = makeBatch({ signals, dtcs, compression });
          const parts = encodeBatch(b, { seq: 3, vehicle: 'veh', maxPayloadBytes: max });
          for (const p of parts) expect(p.length).toBeLessThanOrEqual(max);
          parts.forEach((p, i) => expect(decodeBatch(p)).toMatchObject({ partIndex: i, partCount: parts.length, seq: 3 }));
          const want = expectedRows(b);
          const got = rowsOfParts(parts);
          expect(got.map((r) => [r.signal, r.value])).toEqual(want.map((r) => [r.signal, r.value]));
          got.forEach((r, i) => expect(sameTime(r.time, want[i].time)).toBe(true));
        },
      ),
      { numRuns: 60 },
    );
  });
});
