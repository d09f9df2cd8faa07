import type { DbcSignal } from '../dbc/index.js';
import { EdgewiseError } from '../errors.js';
import { insertRawBig } from './bits.js';
import type { CompiledMessage } from './types.js';

const scratch = new DataView(new ArrayBuffer(8));

/** Python's round(): to the nearest integer, halves to even. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function fail(msg: CompiledMessage, sig: string, value: unknown, why: string): never {
  throw new EdgewiseError('USAGE', `cannot encode ${msg.message.name}.${sig} = ${String(value)}: ${why}`, {
    message: msg.message.name,
    signal: sig,
    value: typeof value === 'bigint' ? value.toString() : value,
  });
}

/** Raw integer bits (two's complement in the signal's length) for a physical value or choice text. */
function toRawBits(msg: CompiledMessage, sig: DbcSignal, value: number | bigint | string): bigint {
  if (typeof value === 'string') {
    if (sig.choices) {
      for (const [k, text] of sig.choices) {
        if (text === value) return checkRange(msg, sig, BigInt(k), value);
      }
    }
    return fail(msg, sig.name, value, 'not one of the signal\'s value descriptions');
  }
  const identity = sig.factor === 1 && sig.offset === 0;
  if (sig.factor === 0) {
    // Every raw value gives the offset: accept exactly that value.
    if (Number(value) === sig.offset) return 0n;
    return fail(msg, sig.name, value, `the signal has factor 0 and always reads ${sig.offset}`);
  }
  if (sig.valueType === 'float32' || sig.valueType === 'float64') {
    const v = Number(value);
    const raw = identity ? v : (v - sig.offset) / sig.factor;
    if (sig.valueType === 'float32') {
      if (Number.isFinite(raw) && !Number.isFinite(Math.fround(raw))) fail(msg, sig.name, value, 'out of float32 range');
      scratch.setFloat32(0, raw);
      return BigInt(scratch.getUint32(0));
    }
    scratch.setFloat64(0, raw);
    return scratch.getBigUint64(0);
  }
  let raw: bigint;
  if (typeof value === 'bigint' || (sig.integerScale && Number.isInteger(value))) {
    const v = BigInt(value);
    if (sig.integerScale) {
      const f = BigInt(sig.factor);
      const o = BigInt(sig.offset);
      const d = v - o;
      if (d % f === 0n) return checkRange(msg, sig, d / f, value);
    }
    const q = (Number(v) - sig.offset) / sig.factor;
    if (!Number.isFinite(q)) fail(msg, sig.name, value, 'cannot be scaled to a raw value');
    raw = BigInt(roundHalfEven(q));
  } else {
    if (!Number.isFinite(value)) fail(msg, sig.name, value, 'not a finite number');
    const q = (value - sig.offset) / sig.factor;
    if (!Number.isFinite(q)) fail(msg, sig.name, value, 'cannot be scaled to a raw value');
    raw = BigInt(roundHalfEven(q));
  }
  return checkRange(msg, sig, raw, value);
}

function checkRange(msg: CompiledMessage, sig: DbcSignal, raw: bigint, value: unknown): bigint {
  const L = BigInt(sig.length);
  const min = sig.signed ? -(1n << (L - 1n)) : 0n;
  const max = sig.signed ? (1n << (L - 1n)) - 1n : (1n << L) - 1n;
  if (raw < min || raw > max) {
    fail(msg, sig.name, value, `raw value ${raw} does not fit ${sig.length} ${sig.signed ? 'signed' : 'unsigned'} bits`);
  }
  return raw;
}

/** Raw bits of a signal's initial value (GenSigStartValue, else 0). */
function initialBits(msg: CompiledMessage, sig: DbcSignal): bigint {
  const init = sig.initial;
  if (init === undefined) return 0n;
  if (sig.valueType !== 'integer') {
    const v = Number(init);
    if (sig.valueType === 'float32') {
      scratch.setFloat32(0, v);
      return BigInt(scratch.getUint32(0));
    }
    scratch.setFloat64(0, v);
    return scratch.getBigUint64(0);
  }
  const raw = typeof init === 'bigint' ? init : BigInt(Math.trunc(init));
  const L = BigInt(sig.length);
  const min = sig.signed ? -(1n << (L - 1n)) : 0n;
  const max = sig.signed ? (1n << (L - 1n)) - 1n : (1n << L) - 1n;
  return raw < min || raw > max ? 0n : raw;
}

/** Physical value of raw bits, for deciding multiplexer values while encoding. */
function physicalOf(sig: DbcSignal, raw: bigint): number {
  if (sig.valueType === 'float32') {
    scratch.setUint32(0, Number(BigInt.asUintN(32, raw)));
    return scratch.getFloat32(0) * sig.factor + sig.offset;
  }
  if (sig.valueType === 'float64') {
    scratch.setBigUint64(0, BigInt.asUintN(64, raw));
    return scratch.getFloat64(0) * sig.factor + sig.offset;
  }
  return Number(raw) * sig.factor + sig.offset;
}

/**
 * Builds a payload of `message.length` bytes from physical values (or value-table texts).
 * Signals not given take their initial value (GenSigStartValue) or 0; signals not selected by
 * the multiplexer values are not written. Throws EdgewiseError (USAGE) for an unknown signal, a
 * signal the multiplexers do not select, an unknown text, or a value that does not fit the bits.
 */
export function encodeMessage(msg: CompiledMessage, values: Record<string, number | bigint | string>): Uint8Array {
  const sigs = msg.signals;
  const byName = new Map<string, DbcSignal>();
  for (const s of sigs) byName.set(s.name, s);
  for (const name of Object.keys(values)) {
    if (!byName.has(name)) fail(msg, name, values[name], `${msg.message.name} has no signal ${name}`);
  }
  const raws = new Map<string, bigint>();
  const present = new Map<string, boolean>();
  const isPresent = (s: DbcSignal, depth = 0): boolean => {
    const known = present.get(s.name);
    if (known !== undefined) return known;
    let p = true;
    if (s.multiplexerSignal !== undefined && depth <= sigs.length) {
      const m = byName.get(s.multiplexerSignal);
      if (!m || !isPresent(m, depth + 1)) p = false;
      else {
        const mv = Math.trunc(physicalOf(m, rawOf(m)));
        p = (s.multiplexerValues ?? []).some((r) => mv >= r.min && mv <= r.max);
      }
    }
    present.set(s.name, p);
    return p;
  };
  const rawOf = (s: DbcSignal): bigint => {
    let r = raws.get(s.name);
    if (r === undefined) {
      const given = Object.prototype.hasOwnProperty.call(values, s.name) ? values[s.name] : undefined;
      r = given === undefined ? initialBits(msg, s) : toRawBits(msg, s, given);
      raws.set(s.name, r);
    }
    return r;
  };
  if (msg.message.length > 64) fail(msg, msg.message.name, msg.message.length, 'a CAN FD payload has at most 64 bytes');
  const data = new Uint8Array(msg.message.length);
  for (const s of sigs) {
    const given = Object.prototype.hasOwnProperty.call(values, s.name);
    if (!isPresent(s)) {
      if (given) fail(msg, s.name, values[s.name], `not selected by multiplexer ${s.multiplexerSignal}`);
      continue;
    }
    insertRawBig(s, data, rawOf(s));
  }
  return data;
}
