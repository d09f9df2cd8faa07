import type { DbcSignal } from '../dbc/index.js';
import type { SignalType } from '../types.js';

const INT_TYPES: readonly [SignalType, bigint, bigint][] = [
  ['uint8', 0n, 255n],
  ['int8', -128n, 127n],
  ['uint16', 0n, 65535n],
  ['int16', -32768n, 32767n],
  ['uint32', 0n, 4294967295n],
  ['int32', -2147483648n, 2147483647n],
  ['uint64', 0n, 18446744073709551615n],
  ['int64', -9223372036854775808n, 9223372036854775807n],
];

/** Smallest and largest physical value of an integer-scaled signal, exactly. */
export function physicalRange(sig: DbcSignal): [bigint, bigint] {
  const L = BigInt(sig.length);
  const rawMin = sig.signed ? -(1n << (L - 1n)) : 0n;
  const rawMax = sig.signed ? (1n << (L - 1n)) - 1n : (1n << L) - 1n;
  const f = BigInt(sig.factor);
  const o = BigInt(sig.offset);
  const a = rawMin * f + o;
  const b = rawMax * f + o;
  return a <= b ? [a, b] : [b, a];
}

/**
 * The primitive type a signal decodes to: float32/float64 for IEEE float signals; for integer
 * signals with whole-number factor and offset the smallest unsigned type (when the physical range
 * is not negative) or signed type holding the range; float64 otherwise.
 */
export function signalType(sig: DbcSignal): SignalType {
  if (sig.valueType === 'float32') return sig.factor === 1 && sig.offset === 0 ? 'float32' : 'float64';
  if (sig.valueType === 'float64') return 'float64';
  if (!sig.integerScale || !Number.isFinite(sig.factor) || !Number.isFinite(sig.offset)) return 'float64';
  const [lo, hi] = physicalRange(sig);
  for (const [t, min, max] of INT_TYPES) {
    if (lo >= 0n && t.startsWith('int')) continue;
    if (lo < 0n && t.startsWith('uint')) continue;
    if (lo >= min && hi <= max) return t;
  }
  return 'float64';
}
