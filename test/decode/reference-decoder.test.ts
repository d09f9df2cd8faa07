import { describe, expect, it } from 'vitest';
import { loadDbcFile, type DbcMessage, type DbcSignal } from '../../src/dbc/index.js';
import { compileMessage, DECODE_MUX, DECODE_OK } from '../../src/decode/index.js';
import { insertRawBig } from '../../src/decode/bits.js';
import { dbcPath, HAVE_SHARED, rng, sharedDbcFiles } from './shared.js';

/*
 * Differential check of the generated decoders against a slow, independent model of cantools'
 * semantics: the whole payload as one bigint (little-endian for Intel signals, big-endian for
 * Motorola), Python-style scaling, recursive multiplexing.
 */

interface Payload {
  little: bigint;
  big: bigint;
  bits: bigint;
}

function payload(data: Uint8Array, length: number): Payload {
  const hex = Buffer.from(data.subarray(0, length)).toString('hex') || '0';
  const rev = Buffer.from(data.subarray(0, length)).reverse().toString('hex') || '0';
  return { big: BigInt('0x' + hex), little: BigInt('0x' + rev), bits: BigInt(length * 8) };
}

function rawOf(sig: DbcSignal, p: Payload): bigint {
  const L = BigInt(sig.length);
  let v: bigint;
  if (sig.byteOrder === 'little_endian') {
    v = (p.little >> BigInt(sig.startBit)) & ((1n << L) - 1n);
  } else {
    const msb = BigInt(8 * Math.floor(sig.startBit / 8) + (7 - (sig.startBit % 8)));
    v = (p.big >> (p.bits - msb - L)) & ((1n << L) - 1n);
  }
  if (sig.valueType === 'integer' && sig.signed && v >> (L - 1n)) v -= 1n << L;
  return v;
}

type Phys = { kind: 'num'; v: number } | { kind: 'int'; v: bigint };

function physical(sig: DbcSignal, raw: bigint): Phys {
  const dv = new DataView(new ArrayBuffer(8));
  if (sig.valueType === 'float32' || sig.valueType === 'float64') {
    let f: number;
    if (sig.valueType === 'float32') {
      dv.setUint32(0, Number(raw));
      f = dv.getFloat32(0);
    } else {
      dv.setBigUint64(0, raw);
      f = dv.getFloat64(0);
    }
    return { kind: 'num', v: sig.factor === 1 && sig.offset === 0 ? f : f * sig.factor + sig.offset };
  }
  if (Number.isInteger(sig.factor) && Number.isInteger(sig.offset)) {
    return { kind: 'int', v: raw * BigInt(sig.factor) + BigInt(sig.offset) };
  }
  return { kind: 'num', v: Number(raw) * sig.factor + sig.offset };
}

function referenceDecode(msg: DbcMessage, data: Uint8Array): { mux: boolean; values: Map<string, Phys> } {
  const values = new Map<string, Phys>();
  const pl = payload(data, msg.length);
  let muxError = false;
  const visit = (parent: string | undefined, sel: number | undefined): void => {
    for (const s of msg.signals) {
      if (s.multiplexerSignal !== parent) continue;
      if (sel !== undefined && !(s.multiplexerValues ?? []).some((r) => sel >= r.min && sel <= r.max)) continue;
      const raw = rawOf(s, pl);
      const p = physical(s, raw);
      values.set(s.name, p);
      // Only a signal marked as multiplexer selects children (cantools; vw_pq's bare `m`).
      const kids = s.isMultiplexer ? msg.signals.filter((k) => k.multiplexerSignal === s.name) : [];
      if (kids.length === 0) continue;
      const m = p.kind === 'int' ? Number(p.v) : Math.trunc(p.v);
      const covered = kids.some((k) => (k.multiplexerValues ?? []).some((r) => m >= r.min && m <= r.max));
      if (!covered && !(s.choices && s.choices.has(Number(raw)))) muxError = true;
      visit(s.name, m);
    }
  };
  visit(undefined, undefined);
  return { mux: muxError, values };
}

describe.skipIf(!HAVE_SHARED)('generated decoders agree with an independent bigint model', () => {
  for (const file of sharedDbcFiles()) {
    it(`decodes random frames of every message in ${file}`, () => {
      const db = loadDbcFile(dbcPath(file));
      const next = rng(0x9e3779b9 ^ file.length);
      let checked = 0;
      const problems: string[] = [];
      for (const msg of db.messages) {
        const cm = compileMessage(msg);
        const out = cm.createOutput();
        const muxes = msg.signals.filter((s) => msg.signals.some((k) => k.multiplexerSignal === s.name));
        for (let n = 0; n < 30; n++) {
          const data = new Uint8Array(msg.length + (n % 3));
          for (let i = 0; i < data.length; i++) data[i] = n < 4 ? [0, 0xff, 0x80, 0x7f][n] : next() & 0xff;
          // Steer most frames' multiplexers (parents before children) to values that select signals.
          if (n >= 6) {
            for (let round = 0; round < 3; round++) {
              for (const m of muxes) {
                const ranges = msg.signals.filter((k) => k.multiplexerSignal === m.name).flatMap((k) => k.multiplexerValues ?? []);
                const r = ranges[next() % ranges.length];
                const v = r.min + (next() % (r.max - r.min + 1));
                insertRawBig(m, data, BigInt(Math.round((v - m.offset) / m.factor)));
              }
            }
          }
          const status = cm.decode(data, out);
          const ref = referenceDecode(msg, data);
          const where = `${msg.name} frame ${Buffer.from(data).toString('hex')}`;
          if (ref.mux) {
            if (status !== DECODE_MUX || !/^no signals for multiplexer value -?\d+$/.test(out.error)) problems.push(`${where}: status ${status} ${out.error}`);
            continue;
          }
          if (status !== DECODE_OK) {
            problems.push(`${where}: status ${status} ${out.error}`);
            continue;
          }
          cm.signals.forEach((s, i) => {
            const want = ref.values.get(s.name);
            if (out.present[i] !== (want ? 1 : 0)) problems.push(`${where}: ${s.name} presence ${out.present[i]}`);
            if (!want) return;
            let ok: boolean;
            if (want.kind === 'int') {
              const big = out.big[i];
              ok = big !== undefined
                ? big === want.v && out.values[i] === Number(want.v) && (big > 2n ** 53n || big < -(2n ** 53n))
                : Number.isInteger(out.values[i]) && Math.abs(out.values[i]) <= 2 ** 53 && BigInt(out.values[i]) === want.v;
            } else {
              ok = Object.is(out.values[i], want.v) && out.big[i] === undefined;
            }
            if (!ok) problems.push(`${where}: ${s.name} = ${out.big[i] ?? out.values[i]}, expected ${want.v}`);
            checked++;
          });
        }
      }
      expect(problems.slice(0, 10)).toEqual([]);
      expect(checked).toBeGreaterThan(0);
    });
  }
});
