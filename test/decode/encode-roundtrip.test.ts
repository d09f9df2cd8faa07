import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadDbcFile, parseDbc, type DbcMessage } from '../../src/dbc/index.js';
import { compileMessage, DECODE_OK, decodeToObject, encodeMessage, type CompiledMessage } from '../../src/decode/index.js';
import { insertRawBig } from '../../src/decode/bits.js';
import { isEdgewiseError } from '../../src/errors.js';
import { dbcPath, HAVE_SHARED, rng, sharedDbcFiles } from './shared.js';

/** A frame whose multiplexers select signals (random raw values everywhere else). */
function randomFrame(msg: DbcMessage, next: () => number): Uint8Array {
  const data = new Uint8Array(msg.length);
  for (let i = 0; i < data.length; i++) data[i] = next() & 0xff;
  const muxes = msg.signals.filter((s) => msg.signals.some((k) => k.multiplexerSignal === s.name));
  for (let round = 0; round < 3; round++) {
    for (const m of muxes) {
      const ranges = msg.signals.filter((k) => k.multiplexerSignal === m.name).flatMap((k) => k.multiplexerValues ?? []);
      const r = ranges[next() % ranges.length];
      const v = r.min + (next() % (r.max - r.min + 1));
      insertRawBig(m, data, BigInt(Math.round((v - m.offset) / m.factor)));
    }
  }
  return data;
}

/** Decoded physical values of the present signals, as encodeMessage takes them. */
function physicalValues(cm: CompiledMessage, data: Uint8Array): Record<string, number | bigint> | undefined {
  const out = cm.createOutput();
  if (cm.decode(data, out) !== DECODE_OK) return undefined;
  const values: Record<string, number | bigint> = {};
  cm.signals.forEach((s, i) => {
    if (out.present[i]) values[s.name] = out.big[i] ?? out.values[i];
  });
  return values;
}

function expectSame(a: Record<string, number | bigint>, b: Record<string, number | bigint>, where: string): void {
  expect(Object.keys(b), where).toEqual(Object.keys(a));
  for (const k of Object.keys(a)) {
    const x = a[k];
    const y = b[k];
    expect(Object.is(x, y) || x === y || (Number.isNaN(x) && Number.isNaN(y)), `${where}.${k}: ${x} vs ${y}`).toBe(true);
  }
}

describe.skipIf(!HAVE_SHARED)('encodeMessage is the inverse of decoding for every message of the corpus', () => {
  for (const file of sharedDbcFiles()) {
    it(`${file}: decode(encode(values)) gives the values back`, () => {
      const db = loadDbcFile(dbcPath(file));
      const next = rng(0x51ed270b + file.length * 977);
      let n = 0;
      for (const msg of db.messages) {
        if (msg.length > 64) continue;
        const cm = compileMessage(msg);
        for (let k = 0; k < 4; k++) {
          const values = physicalValues(cm, randomFrame(msg, next));
          if (!values) continue;
          const again = physicalValues(cm, encodeMessage(cm, values));
          expect(again, `${msg.name} re-decodes`).toBeDefined();
          expectSame(values, again!, msg.name);
          n++;
        }
      }
      expect(n).toBeGreaterThan(0);
    });
  }

  it('property: any frame of any toyota/vw message survives decode -> encode -> decode', () => {
    const msgs = ['toyota_nodsu_pt_generated.dbc', 'vw_mlb.dbc', 'signed.dbc', 'multiplex_2.dbc'].flatMap((f) => loadDbcFile(dbcPath(f)).messages.map(compileMessage));
    fc.assert(
      fc.property(fc.nat({ max: msgs.length - 1 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (i, bytes) => {
        const cm = msgs[i];
        const values = physicalValues(cm, bytes.subarray(0, cm.message.length));
        fc.pre(values !== undefined);
        expectSame(values!, physicalValues(cm, encodeMessage(cm, values!))!, cm.message.name);
      }),
      { numRuns: 500 },
    );
  });
});

describe('encodeMessage', () => {
  const db = parseDbc(`BO_ 1 M: 8 X
 SG_ Mux M : 0|4@1+ (1,0) [0|15] "" X
 SG_ A m1 : 8|8@1- (0.5,10) [0|0] "" X
 SG_ B m2 : 15|16@0+ (1,0) [0|0] "" X
 SG_ C : 32|8@1+ (1,0) [0|0] "" X
 SG_ D : 40|24@1+ (1,-1000) [0|0] "" X
BA_DEF_ SG_ "GenSigStartValue" INT 0 1000;
BA_ "GenSigStartValue" SG_ 1 C 7;
VAL_ 1 C 3 "three" 4 "four" ;
`);
  const cm = compileMessage(db.messages[0]);

  it('writes the given values, initial values for the rest, and choice texts', () => {
    const data = encodeMessage(cm, { Mux: 1, A: -3.5 });
    // A raw = (-3.5 - 10) / 0.5 = -27 -> 0xe5; C = initial 7; D = raw 0 (initial absent).
    expect(Array.from(data)).toEqual([1, 0xe5, 0, 0, 7, 0, 0, 0]);
    expect(decodeToObject(cm, data).signals).toEqual({ Mux: 1, A: -3.5, C: 7, D: -1000 });
    expect(Array.from(encodeMessage(cm, { Mux: 2, B: 0x1234, C: 'four', D: 0 }))).toEqual([2, 0x12, 0x34, 0, 4, 0xe8, 0x03, 0]);
  });

  it('rejects unknown signals, unknown texts, values that do not fit and signals the multiplexer does not select', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isEdgewiseError(e) ? e.code + ': ' + e.detail : String(e);
      }
      return 'no error';
    };
    expect(code(() => encodeMessage(cm, { Nope: 1 }))).toBe('USAGE: cannot encode M.Nope = 1: M has no signal Nope');
    expect(code(() => encodeMessage(cm, { C: 'five' }))).toMatch(/^USAGE: cannot encode M.C = five: not one of/);
    expect(code(() => encodeMessage(cm, { C: 256 }))).toMatch(/^USAGE: .*raw value 256 does not fit 8 unsigned bits/);
    expect(code(() => encodeMessage(cm, { Mux: 1, A: 100 }))).toMatch(/raw value 180 does not fit 8 signed bits/);
    expect(code(() => encodeMessage(cm, { Mux: 1, B: 1 }))).toBe('USAGE: cannot encode M.B = 1: not selected by multiplexer Mux');
    expect(code(() => encodeMessage(cm, { C: NaN }))).toMatch(/not a finite number/);
  });
});
