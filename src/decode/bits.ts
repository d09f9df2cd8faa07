import type { DbcSignal } from '../dbc/index.js';

/**
 * Where a signal's bits are: value bit `pos + j` (0 = LSB of the raw value) is bit `lo + j`
 * (0 = LSB of the byte) of `data[byte]`, for j in 0..n-1.
 */
export interface BitSpan {
  byte: number;
  lo: number;
  n: number;
  pos: number;
}

/** Byte/bit location of value bit `k` (0 = LSB) of a signal. */
function locate(sig: Pick<DbcSignal, 'startBit' | 'length' | 'byteOrder'>, k: number): [number, number] {
  if (sig.byteOrder === 'little_endian') {
    const b = sig.startBit + k;
    return [b >> 3, b & 7];
  }
  // Motorola: the start bit is the MSB; stream position p counts MSB-first through the bytes.
  const msb = 8 * (sig.startBit >> 3) + (7 - (sig.startBit & 7));
  const p = msb + sig.length - 1 - k;
  return [p >> 3, 7 - (p & 7)];
}

/** The byte spans holding value bits [from, to) of a signal, LSB first. */
export function bitSpans(sig: Pick<DbcSignal, 'startBit' | 'length' | 'byteOrder'>, from = 0, to = sig.length): BitSpan[] {
  const spans: BitSpan[] = [];
  let cur: BitSpan | undefined;
  for (let k = from; k < to; k++) {
    const [byte, bit] = locate(sig, k);
    if (cur && cur.byte === byte && cur.lo + cur.n === bit) cur.n++;
    else {
      cur = { byte, lo: bit, n: 1, pos: k - from };
      spans.push(cur);
    }
  }
  return spans;
}

/** Reads the raw value of an integer signal exactly (bigint arithmetic; reference, not the hot path). */
export function extractRawBig(sig: Pick<DbcSignal, 'startBit' | 'length' | 'byteOrder' | 'signed'>, data: Uint8Array): bigint {
  let v = 0n;
  for (const s of bitSpans(sig)) {
    v |= BigInt((data[s.byte] >> s.lo) & ((1 << s.n) - 1)) << BigInt(s.pos);
  }
  if (sig.signed && sig.length > 0 && (v >> BigInt(sig.length - 1)) & 1n) v -= 1n << BigInt(sig.length);
  return v;
}

/** Writes the low `length` bits of `raw` (two's complement) into `data` at the signal's position. */
export function insertRawBig(sig: Pick<DbcSignal, 'startBit' | 'length' | 'byteOrder'>, data: Uint8Array, raw: bigint): void {
  const u = BigInt.asUintN(sig.length, raw);
  for (const s of bitSpans(sig)) {
    const mask = ((1 << s.n) - 1) << s.lo;
    const bits = Number((u >> BigInt(s.pos)) & ((1n << BigInt(s.n)) - 1n)) << s.lo;
    data[s.byte] = (data[s.byte] & ~mask) | bits;
  }
}

/** A raw value as a choice-table key: number when exact, bigint beyond 2^53. */
export function rawKey(raw: bigint): number | bigint {
  return raw >= -9007199254740991n && raw <= 9007199254740991n ? Number(raw) : raw;
}
