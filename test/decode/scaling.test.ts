import { describe, expect, it } from 'vitest';
import { parseDbc } from '../../src/dbc/index.js';
import { compileMessage, decodeToObject, encodeMessage } from '../../src/decode/index.js';

/** Physical values computed the way Python computes cantools' `raw * scale + offset`. */
const db = parseDbc(`BO_ 1 Wide: 64 X
 SG_ U64x3 : 0|64@1+ (3,-5) [0|0] "" X
 SG_ S64frac : 64|64@1- (0.1,2.5) [0|0] "" X
 SG_ U40big : 128|40@1+ (100000000000,7) [0|0] "" X
 SG_ U16neg : 168|16@1+ (-2,1) [0|0] "" X
 SG_ U8float : 184|8@1+ (1.0,0) [0|0] "" X
 SG_ M64 : 199|64@0- (1,0) [0|0] "" X
`);
const cm = compileMessage(db.messages[0]);

function frame(fields: [number, number, bigint][]): Uint8Array {
  // [startByte, byteCount, little-endian value]
  const d = new Uint8Array(64);
  for (const [start, n, v] of fields) for (let i = 0; i < n; i++) d[start + i] = Number((BigInt.asUintN(n * 8, v) >> BigInt(8 * i)) & 0xffn);
  return d;
}

describe('scaling follows Python integer/float arithmetic', () => {
  it('integer factor and offset: the exact integer, bigint beyond 2^53', () => {
    const d = frame([[0, 8, 0xffffffffffffffffn], [16, 5, 0xffffffffffn], [21, 2, 0xffffn]]);
    const r = decodeToObject(cm, d).signals!;
    expect(r.U64x3).toBe(0xffffffffffffffffn * 3n - 5n);
    expect(r.U40big).toBe(0xffffffffffn * 100000000000n + 7n);
    expect(r.U16neg).toBe(0xffff * -2 + 1);
    const small = decodeToObject(cm, frame([[0, 8, 5n], [16, 5, 1n]])).signals!;
    expect(small.U64x3).toBe(10);
    expect(small.U40big).toBe(100000000007);
  });

  it('fractional factor: the raw value rounded to a double first, then raw * factor + offset', () => {
    const raw = -(2n ** 62n) - 3n;
    const r = decodeToObject(cm, frame([[8, 8, raw]])).signals!;
    expect(r.S64frac).toBe(Number(raw) * 0.1 + 2.5);
    const r2 = decodeToObject(cm, frame([[8, 8, 123n]])).signals!;
    expect(r2.S64frac).toBe(123 * 0.1 + 2.5);
  });

  it('factor written 1.0 is still an integer conversion', () => {
    expect(db.messages[0].signals[4].integerScale).toBe(true);
    expect(decodeToObject(cm, frame([[23, 1, 200n]])).signals!.U8float).toBe(200);
  });

  it('Motorola 64-bit signed across bytes 24..31', () => {
    // M64 199|64@0- : MSB is byte 24 bit 7, LSB byte 31 bit 0 -> big-endian bytes 24..31.
    const d = new Uint8Array(64);
    d.set([0x80, 0, 0, 0, 0, 0, 0, 1], 24);
    expect(decodeToObject(cm, d).signals!.M64).toBe(-(2n ** 63n) + 1n);
    d.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xe0, 0, 0], 24);
    expect(decodeToObject(cm, d).signals!.M64).toBe(-0x200000);
    // -2^53 is still a number; one below is a bigint.
    d.set([0xff, 0xe0, 0, 0, 0, 0, 0, 0], 24);
    expect(decodeToObject(cm, d).signals!.M64).toBe(-(2 ** 53));
    d.set([0xff, 0xdf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 24);
    expect(decodeToObject(cm, d).signals!.M64).toBe(-(2n ** 53n) - 1n);
  });

  it('encodes exact bigint values and decodes them back', () => {
    const values = { U64x3: 0xfffffffffffffff0n * 3n - 5n, S64frac: 2.5, U40big: 0xfffffffff0n * 100000000000n + 7n, U16neg: -9, U8float: 3, M64: -(2n ** 62n) };
    const data = encodeMessage(cm, values);
    expect(decodeToObject(cm, data).signals).toEqual({ ...values, U16neg: -9 });
    expect(() => encodeMessage(cm, { U64x3: 2n ** 64n * 3n })).toThrow(/does not fit 64 unsigned bits/);
    expect(() => encodeMessage(cm, { U16neg: 3 })).toThrow(/raw value -1 does not fit 16 unsigned bits/);
    // Python's round(): -0.5 rounds to 0, 2.5 to 2.
    expect(decodeToObject(cm, encodeMessage(cm, { U16neg: 2 })).signals!.U16neg).toBe(1);
    expect(decodeToObject(cm, encodeMessage(cm, { U16neg: -4 })).signals!.U16neg).toBe(-3);
  });
});
