import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as snappy from 'snappyjs';
import { brotliCompressSync } from 'node:zlib';
import { decodeBatch, encodeBatch } from '../../src/batches/index.js';
import { EdgewiseError } from '../../src/errors.js';
import { makeBatch, signal, T0 } from './helpers.js';
import { BatchType } from '../../src/batches/schema.js';

/** decodeBatch either succeeds or throws EdgewiseError BATCH_FORMAT; anything else fails the property. */
function decodesOrBatchFormat(bytes: Uint8Array): boolean {
  try {
    decodeBatch(bytes);
    return true;
  } catch (e) {
    if (e instanceof EdgewiseError && e.code === 'BATCH_FORMAT') return true;
    throw e;
  }
}

const valid = ['OFF', 'SNAPPY', 'BROTLI'].map((compression) =>
  encodeBatch(
    makeBatch({
      compression: compression as 'OFF',
      signals: [
        signal('A', 'int64', [T0, T0 + 1, T0 + 2], [1, -(2n ** 62n), 3]),
        signal('B', 'string', [T0], ['hello']),
        signal('C', 'float32', [T0, T0 + 5], [1.5, 2.5]),
      ],
      dtcs: [{ timeMs: T0, codes: ['P0420'] }],
    }),
    { seq: 42, vehicle: 'v' },
  )[0],
);

describe('decodeBatch on garbage', () => {
  it.each([
    ['empty', new Uint8Array(0)],
    ['one byte', new Uint8Array([0xed])],
    ['wrong magic', new Uint8Array([0x08, 0x01, 0x12, 0x00])],
    ['unknown codec', new Uint8Array([0xed, 9, 1, 2, 3])],
    ['bad snappy', new Uint8Array([0xed, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2])],
    ['bad brotli', new Uint8Array([0xed, 2, 1, 2, 3, 4, 5])],
    ['truncated protobuf', valid[0].subarray(0, valid[0].length - 3)],
    ['no header', new Uint8Array([0xed, 0, 0x08, 0x01])],
    ['future schema', new Uint8Array([0xed, 0, 0x08, 0x02])],
  ])('%s -> BATCH_FORMAT', (_name, bytes) => {
    expect(() => decodeBatch(bytes)).toThrow(expect.objectContaining({ code: 'BATCH_FORMAT', name: 'EdgewiseError' }));
  });

  const header = { vehicle: 'v', campaign: 'c', seq: 1, part_index: 0, part_count: 1, trigger_time_ms: T0 };
  const msg = (m: object) => new Uint8Array([0xed, 0, ...BatchType.encode({ schema_version: 1, header, ...m }).finish()]);
  it.each([
    ['unknown signal type', msg({ signals: [{ name: 'x', type: 99, time_deltas_us: [1], double_values: [1] }] })],
    ['fewer values than times', msg({ signals: [{ name: 'x', type: 11, time_deltas_us: [1, 2], double_values: [1] }] })],
    ['values in two fields', msg({ signals: [{ name: 'x', type: 11, time_deltas_us: [1], double_values: [1], bool_values: [true] }] })],
    ['part index beyond count', msg({ header: { ...header, part_index: 2, part_count: 2 } })],
    ['zero parts', msg({ header: { ...header, part_count: 0 } })],
    ['seq beyond 2^53', msg({ header: { ...header, seq: '18446744073709551615' } })],
    ['non-finite trigger time', msg({ header: { ...header, trigger_time_ms: NaN } })],
  ])('well-formed protobuf but invalid batch: %s -> BATCH_FORMAT', (_name, bytes) => {
    expect(() => decodeBatch(bytes)).toThrow(expect.objectContaining({ code: 'BATCH_FORMAT' }));
  });

  it('the same builder makes a valid batch (so the cases above fail for their stated reason)', () => {
    expect(decodeBatch(msg({ signals: [{ name: 'x', type: 11, time_deltas_us: [1], double_values: [1] }] })).signals[0].values).toEqual([1]);
  });

  it('refuses a snappy header that claims a huge output instead of allocating it', () => {
    // varint 0xffffffff (4 GiB) then nothing
    expect(() => decodeBatch(new Uint8Array([0xed, 1, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/too big|BATCH_FORMAT/);
  });

  it('fuzz: random bytes never throw anything but BATCH_FORMAT', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), decodesOrBatchFormat), { numRuns: 2000 });
  });

  it('fuzz: random bodies behind a valid envelope, for every codec', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 0, max: 2 }), (body, codec) => {
        const inner = codec === 1 ? snappy.compress(body) : codec === 2 ? brotliCompressSync(body) : body;
        return decodesOrBatchFormat(new Uint8Array([0xed, codec, ...inner]));
      }),
      { numRuns: 1500 },
    );
  });

  it('fuzz: bit flips, truncations and splices of valid payloads', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (which, edits, cut) => {
          const p = Uint8Array.from(valid[which]);
          for (const [pos, val] of edits) p[2 + (pos % (p.length - 2))] = val;
          return decodesOrBatchFormat(p) && decodesOrBatchFormat(p.subarray(0, 2 + (cut % (p.length - 1))));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
