import type { CollectedBatch, CollectedSignal, SignalValue } from '../../src/types.js';
import { batchToRows, decodeBatch } from '../../src/batches/index.js';

export const T0 = 1_700_000_000_123.25;

export function makeBatch(over: Partial<CollectedBatch> = {}): CollectedBatch {
  return {
    campaign: 'heartbeat',
    campaignVersion: 3,
    priority: 2,
    eventId: 0x1234567,
    triggerTimeMs: T0,
    compression: 'OFF',
    spooling: 'TO_DISK',
    triggeredBy: [],
    signals: [],
    dtcs: [],
    ...over,
  };
}

export function signal(name: string, type: CollectedSignal['type'], timesMs: number[], values: SignalValue[], partitionId = 'default'): CollectedSignal {
  return { name, type, partitionId, timesMs, values };
}

/** bigint only beyond 2^53, as the decoder returns it. */
export function norm(v: SignalValue): SignalValue {
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return v;
}

/** Rows of the original batch in the order batchToRows emits them for one part holding everything. */
export function expectedRows(b: CollectedBatch): { signal: string; time: number; value: SignalValue }[] {
  const rows: { signal: string; time: number; value: SignalValue }[] = [];
  for (const s of b.signals) for (let i = 0; i < s.timesMs.length; i++) rows.push({ signal: s.name, time: s.timesMs[i], value: norm(s.values[i]) });
  for (const d of b.dtcs) for (const c of d.codes) rows.push({ signal: '@dtc', time: d.timeMs, value: c });
  return rows;
}

/** Decode every part and return all rows, grouped so the order matches expectedRows (signals before DTCs, part order within a signal). */
export function rowsOfParts(parts: Uint8Array[]): { signal: string; time: number; value: SignalValue }[] {
  const sig: { signal: string; time: number; value: SignalValue }[] = [];
  const dtc: { signal: string; time: number; value: SignalValue }[] = [];
  for (const p of parts) {
    for (const r of batchToRows(decodeBatch(p))) (r.signal === '@dtc' ? dtc : sig).push({ signal: r.signal, time: r.time, value: r.value });
  }
  return [...sig, ...dtc];
}

/** Time equality at the wire's µs resolution. */
export function sameTime(a: number, b: number): boolean {
  return Math.abs(a - b) <= 0.0006;
}
