/**
 * CollectedBatch <-> edgewise.v1.Batch messages (columnar, natively typed, split to fit MQTT).
 */
import protobuf from 'protobufjs';
import type { CollectedBatch, CompressionMode, DtcSnapshot, SignalType, SignalValue } from '../types.js';
import { EdgewiseError } from '../errors.js';
import { BatchType, SCHEMA_VERSION } from './schema.js';
import { ENVELOPE_BYTES, unwrap, wrap } from './envelope.js';

/** AWS IoT Core's MQTT payload limit (128 KiB). */
export const IOT_MAX_PAYLOAD_BYTES = 131072;

/** The `long` package's Long as protobufjs hands it out for 64-bit fields. */
interface Long {
  low: number;
  high: number;
  unsigned: boolean;
  toNumber(): number;
  toString(): string;
}
const LongCtor = protobuf.util.Long as unknown as {
  fromString(s: string, unsigned?: boolean): Long;
};

export interface EncodeOptions {
  /** Sequence number assigned by the store; written into every part. */
  seq: number;
  /** IoT thing name. */
  vehicle: string;
  /** Upper bound for every returned payload (default 131072). */
  maxPayloadBytes?: number;
}

export interface DecodedSignal {
  name: string;
  /** Declared type (values may still be carried as double/string when they did not fit it exactly). */
  type: SignalType;
  partitionId: string;
  timesMs: number[];
  values: SignalValue[];
}

/** One decoded MQTT message (one part of a batch). */
export interface DecodedBatch {
  schemaVersion: number;
  compression: CompressionMode;
  vehicle: string;
  campaign: string;
  campaignVersion: number;
  eventId: number;
  triggerTimeMs: number;
  seq: number;
  partIndex: number;
  partCount: number;
  triggeredBy: string[];
  priority: number;
  signals: DecodedSignal[];
  dtcs: DtcSnapshot[];
}

/** One sample as a flat row (what a cloud sink such as Firehose/Timestream wants). */
export interface BatchRow {
  /** Sample time, ms since the epoch (fraction = µs). */
  time: number;
  /** Signal name; DTC snapshots become rows with signal `@dtc` and the code as value. */
  signal: string;
  value: number | string | boolean | bigint;
  campaign: string;
  vehicle: string;
  seq: number;
}

export const DTC_SIGNAL = '@dtc';

// ---------------------------------------------------------------------------------------------
// Types and value fields

const TYPE_IDS: Record<SignalType, number> = {
  bool: 1,
  uint8: 2,
  uint16: 3,
  uint32: 4,
  uint64: 5,
  int8: 6,
  int16: 7,
  int32: 8,
  int64: 9,
  float32: 10,
  float64: 11,
  string: 12,
};
const TYPE_NAMES: SignalType[] = [];
for (const [k, v] of Object.entries(TYPE_IDS)) TYPE_NAMES[v] = k as SignalType;

type ValueField = 'sint64_values' | 'uint64_values' | 'float_values' | 'double_values' | 'bool_values' | 'string_values';
const VALUE_FIELDS: ValueField[] = [
  'sint64_values',
  'uint64_values',
  'float_values',
  'double_values',
  'bool_values',
  'string_values',
];

function nativeField(type: SignalType): ValueField {
  switch (type) {
    case 'bool':
      return 'bool_values';
    case 'uint8':
    case 'uint16':
    case 'uint32':
    case 'uint64':
      return 'uint64_values';
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64':
      return 'sint64_values';
    case 'float32':
      return 'float_values';
    case 'float64':
      return 'double_values';
    case 'string':
      return 'string_values';
  }
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const U64_MAX = 2n ** 64n - 1n;
const TWO63 = 2 ** 63;
const TWO64 = 2 ** 64;

/** Values converted for protobufjs (number | Long | boolean | string) plus their size estimates. */
function convertValues(type: SignalType, values: readonly SignalValue[]): { field: ValueField; wire: unknown[]; sizes: number[] } {
  let field = nativeField(type);
  const fits = (v: SignalValue): boolean => {
    switch (field) {
      case 'sint64_values':
        return typeof v === 'bigint'
          ? v >= I64_MIN && v <= I64_MAX
          : typeof v === 'number' && Number.isInteger(v) && v >= -TWO63 && v < TWO63;
      case 'uint64_values':
        return typeof v === 'bigint' ? v >= 0n && v <= U64_MAX : typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < TWO64;
      case 'float_values':
        return typeof v === 'number' && (Object.is(Math.fround(v), v) || Number.isNaN(v));
      case 'double_values':
        return typeof v === 'number';
      case 'bool_values':
        return typeof v === 'boolean';
      case 'string_values':
        return true;
    }
  };
  if (!values.every(fits)) {
    field = 'double_values';
    if (!values.every(fits)) field = 'string_values';
  }
  const wire = new Array<unknown>(values.length);
  const sizes = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    switch (field) {
      case 'sint64_values':
        if (typeof v === 'bigint' || !Number.isSafeInteger(v)) {
          wire[i] = LongCtor.fromString(BigInt(v as number | bigint).toString(), false);
          sizes[i] = 10;
        } else {
          wire[i] = v;
          sizes[i] = varintSize(zigzag(v as number));
        }
        break;
      case 'uint64_values':
        if (typeof v === 'bigint' || !Number.isSafeInteger(v)) {
          wire[i] = LongCtor.fromString(BigInt(v as number | bigint).toString(), true);
          sizes[i] = 10;
        } else {
          wire[i] = v;
          sizes[i] = varintSize(v as number);
        }
        break;
      case 'float_values':
        wire[i] = v;
        sizes[i] = 4;
        break;
      case 'double_values':
        wire[i] = v;
        sizes[i] = 8;
        break;
      case 'bool_values':
        wire[i] = v;
        sizes[i] = 1;
        break;
      case 'string_values': {
        const s = typeof v === 'string' ? v : String(v);
        wire[i] = s;
        const n = Buffer.byteLength(s, 'utf8');
        sizes[i] = 1 + varintSize(n) + n;
        break;
      }
    }
  }
  return { field, wire, sizes };
}

function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function varintSize(n: number): number {
  if (n < 0) return 10;
  let s = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    s++;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Encoding

interface PreparedSignal {
  name: string;
  typeId: number;
  partitionId: string;
  /** Sample times in µs relative to the trigger time. */
  relUs: number[];
  field: ValueField;
  wire: unknown[];
  /** prefix[i] = estimated bytes of samples [0, i). */
  prefix: number[];
  /** Bytes of the signal's name, type, partition, tags and length prefixes. */
  overhead: number;
}

interface Slice {
  sig: number;
  start: number;
  end: number;
}

interface PartPlan {
  slices: Slice[];
  dtcStart: number;
  dtcEnd: number;
  bytes: number;
}

/** Slack for the first delta of a slice (relative to the trigger instead of the previous sample). */
const SLICE_SLACK = 10;

function prepareSignal(s: CollectedBatch['signals'][number], triggerTimeMs: number): PreparedSignal {
  const n = Math.min(s.timesMs.length, s.values.length);
  if (s.timesMs.length !== s.values.length) {
    throw new EdgewiseError('BATCH_FORMAT', `signal ${s.name}: ${s.timesMs.length} times but ${s.values.length} values`, {
      signal: s.name,
    });
  }
  const typeId = TYPE_IDS[s.type];
  if (typeId === undefined) throw new EdgewiseError('BATCH_FORMAT', `signal ${s.name}: unknown type ${String(s.type)}`);
  const relUs = new Array<number>(n);
  for (let i = 0; i < n; i++) relUs[i] = Math.round((s.timesMs[i] - triggerTimeMs) * 1000);
  const { field, wire, sizes } = convertValues(s.type, s.values);
  const prefix = new Array<number>(n + 1);
  prefix[0] = 0;
  for (let i = 0; i < n; i++) {
    const d = i === 0 ? relUs[0] : relUs[i] - relUs[i - 1];
    prefix[i + 1] = prefix[i] + varintSize(zigzag(d)) + sizes[i];
  }
  const partition = s.partitionId === 'default' ? '' : s.partitionId;
  const overhead = 2 * 6 + 2 + Buffer.byteLength(s.name) + Buffer.byteLength(partition) + 2 * 6 + 6;
  return { name: s.name, typeId, partitionId: partition, relUs, field, wire, prefix, overhead };
}

function dtcSize(d: DtcSnapshot): number {
  let n = 6 + 11;
  for (const c of d.codes) n += 1 + 5 + Buffer.byteLength(c);
  return n;
}

/** Greedy packing: DTCs first, then signals in order, a signal split by samples where it does not fit. */
function pack(signals: PreparedSignal[], dtcSizes: number[], budget: number): PartPlan[] {
  const parts: PartPlan[] = [];
  let cur: PartPlan = { slices: [], dtcStart: 0, dtcEnd: 0, bytes: 0 };
  const empty = (p: PartPlan): boolean => p.slices.length === 0 && p.dtcEnd === p.dtcStart;
  const flush = (dtcAt: number): void => {
    parts.push(cur);
    cur = { slices: [], dtcStart: dtcAt, dtcEnd: dtcAt, bytes: 0 };
  };
  for (let d = 0; d < dtcSizes.length; d++) {
    if (cur.bytes + dtcSizes[d] > budget && !empty(cur)) flush(d);
    cur.dtcEnd = d + 1;
    cur.bytes += dtcSizes[d];
  }
  const dtcEnd = dtcSizes.length;
  for (let s = 0; s < signals.length; s++) {
    const sig = signals[s];
    const n = sig.relUs.length;
    if (n === 0) {
      if (cur.bytes + sig.overhead > budget && !empty(cur)) flush(dtcEnd);
      cur.slices.push({ sig: s, start: 0, end: 0 });
      cur.bytes += sig.overhead;
      continue;
    }
    let i = 0;
    while (i < n) {
      const room = budget - cur.bytes - sig.overhead - SLICE_SLACK;
      // largest j with prefix[j] - prefix[i] <= room
      let lo = i;
      let hi = n;
      const limit = sig.prefix[i] + room;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (sig.prefix[mid] <= limit) lo = mid;
        else hi = mid - 1;
      }
      let j = lo;
      if (j === i) {
        if (!empty(cur)) {
          flush(dtcEnd);
          continue;
        }
        j = i + 1; // a single sample larger than the budget: try it alone, checked after encoding
      }
      cur.slices.push({ sig: s, start: i, end: j });
      cur.bytes += sig.overhead + SLICE_SLACK + sig.prefix[j] - sig.prefix[i];
      i = j;
    }
  }
  if (!empty(cur) || parts.length === 0) parts.push(cur);
  return parts;
}

/** Split a part plan in two halves by estimated bytes; undefined when it holds a single item. */
function halve(plan: PartPlan, signals: PreparedSignal[], dtcSizes: number[]): [PartPlan, PartPlan] | undefined {
  const sliceBytes = (sl: Slice, from: number, to: number): number => {
    const sig = signals[sl.sig];
    return sig.overhead + SLICE_SLACK + sig.prefix[to] - sig.prefix[from];
  };
  const nd = plan.dtcEnd - plan.dtcStart;
  const items = nd + plan.slices.reduce((a, sl) => a + Math.max(1, sl.end - sl.start), 0);
  if (items <= 1) return undefined;
  let total = 0;
  for (let d = plan.dtcStart; d < plan.dtcEnd; d++) total += dtcSizes[d];
  for (const sl of plan.slices) total += sliceBytes(sl, sl.start, sl.end);
  const half = total / 2;
  const a: PartPlan = { slices: [], dtcStart: plan.dtcStart, dtcEnd: plan.dtcStart, bytes: 0 };
  const b: PartPlan = { slices: [], dtcStart: plan.dtcEnd, dtcEnd: plan.dtcEnd, bytes: 0 };
  let taken = 0; // items put into a
  let d = plan.dtcStart;
  while (d < plan.dtcEnd && taken < items - 1 && (taken === 0 || a.bytes + dtcSizes[d] <= half)) {
    a.bytes += dtcSizes[d++];
    taken++;
  }
  a.dtcEnd = d;
  b.dtcStart = d;
  let full = d < plan.dtcEnd;
  for (const sl of plan.slices) {
    if (full) {
      b.slices.push(sl);
      continue;
    }
    const n = Math.max(1, sl.end - sl.start);
    if (taken + n <= items - 1 && (taken === 0 || a.bytes + sliceBytes(sl, sl.start, sl.end) <= half)) {
      a.slices.push(sl);
      a.bytes += sliceBytes(sl, sl.start, sl.end);
      taken += n;
      continue;
    }
    // cut inside this slice: as many samples as fit below `half`, at least one if a is empty,
    // and never all of the remaining items
    let cut = sl.start;
    while (cut < sl.end && taken + (cut - sl.start) < items - 1 && (taken + (cut - sl.start) === 0 || a.bytes + sliceBytes(sl, sl.start, cut + 1) <= half)) cut++;
    if (cut > sl.start) {
      a.slices.push({ sig: sl.sig, start: sl.start, end: cut });
      a.bytes += sliceBytes(sl, sl.start, cut);
      taken += cut - sl.start;
    }
    if (cut < sl.end || sl.end === sl.start) b.slices.push({ sig: sl.sig, start: cut, end: sl.end });
    full = true;
  }
  b.bytes = total - a.bytes;
  return [a, b];
}

interface HeaderWire {
  vehicle: string;
  campaign: string;
  campaign_version: number;
  event_id: number;
  trigger_time_ms: number;
  seq: number;
  part_index: number;
  part_count: number;
  triggered_by: string[];
  priority: number;
}

function encodePart(
  header: HeaderWire,
  plan: PartPlan | undefined,
  signals: PreparedSignal[],
  dtcs: readonly DtcSnapshot[],
  triggerTimeMs: number,
  index: number,
  count: number,
): Uint8Array {
  const sigs: Record<string, unknown>[] = [];
  const dts: { time_us: number; codes: string[] }[] = [];
  if (plan) {
    for (const sl of plan.slices) {
      const sig = signals[sl.sig];
      const deltas = new Array<number>(sl.end - sl.start);
      for (let i = sl.start; i < sl.end; i++) deltas[i - sl.start] = i === sl.start ? sig.relUs[i] : sig.relUs[i] - sig.relUs[i - 1];
      sigs.push({
        name: sig.name,
        type: sig.typeId,
        partition_id: sig.partitionId,
        time_deltas_us: deltas,
        [sig.field]: sl.start === 0 && sl.end === sig.wire.length ? sig.wire : sig.wire.slice(sl.start, sl.end),
      });
    }
    for (let d = plan.dtcStart; d < plan.dtcEnd; d++) {
      dts.push({ time_us: Math.round((dtcs[d].timeMs - triggerTimeMs) * 1000), codes: dtcs[d].codes });
    }
  }
  const msg = {
    schema_version: SCHEMA_VERSION,
    header: { ...header, part_index: index, part_count: count },
    signals: sigs,
    dtcs: dts,
  };
  return BatchType.encode(msg).finish();
}

/**
 * Encode a collected batch into one or more MQTT payloads, each ≤ `maxPayloadBytes`, each a
 * complete message with the same header (seq, event id, ...) and its own part index.
 * Throws EdgewiseError BATCH_FORMAT when the batch is malformed (times/values length mismatch,
 * unknown type) or a single sample cannot fit one payload on its own.
 */
export function encodeBatch(batch: CollectedBatch, opts: EncodeOptions): Uint8Array[] {
  const max = opts.maxPayloadBytes ?? IOT_MAX_PAYLOAD_BYTES;
  if (!Number.isSafeInteger(opts.seq) || opts.seq < 0) throw new EdgewiseError('USAGE', `invalid seq ${opts.seq}`);
  const mode = batch.compression ?? 'OFF';
  const header: HeaderWire = {
    vehicle: opts.vehicle,
    campaign: batch.campaign,
    campaign_version: batch.campaignVersion >>> 0,
    event_id: batch.eventId >>> 0,
    trigger_time_ms: batch.triggerTimeMs,
    seq: opts.seq,
    part_index: 0,
    part_count: 1,
    triggered_by: batch.triggeredBy,
    priority: Math.max(0, Math.trunc(batch.priority)) >>> 0,
  };
  const signals = batch.signals.map((s) => prepareSignal(s, batch.triggerTimeMs));
  const dtcSizes = batch.dtcs.map(dtcSize);
  const whole: PartPlan = {
    slices: signals.map((s, i) => ({ sig: i, start: 0, end: s.relUs.length })),
    dtcStart: 0,
    dtcEnd: batch.dtcs.length,
    bytes: 0,
  };
  const raw = encodePart(header, whole, signals, batch.dtcs, batch.triggerTimeMs, 0, 1);
  const single = wrap(raw, mode);
  if (single.length <= max) return [single];

  // Header + framing with the largest part numbers we could write.
  const fixed = ENVELOPE_BYTES + encodePart(header, undefined, signals, batch.dtcs, batch.triggerTimeMs, 0xffffffff, 0xffffffff).length + 16;
  if (fixed >= max) {
    throw new EdgewiseError('BATCH_FORMAT', `batch header alone (${fixed} bytes) exceeds the ${max}-byte payload limit`, {
      campaign: batch.campaign,
    });
  }
  const ratio = mode === 'OFF' ? 1 : Math.max(0.02, (single.length - ENVELOPE_BYTES) / Math.max(1, raw.length));
  const budget = Math.max(64, Math.floor(((max - fixed) / ratio) * (mode === 'OFF' ? 1 : 0.85)));
  let plans = pack(signals, dtcSizes, budget);
  for (;;) {
    const out = plans.map((p, i) => wrap(encodePart(header, p, signals, batch.dtcs, batch.triggerTimeMs, i, plans.length), mode));
    const next: PartPlan[] = [];
    let changed = false;
    for (let i = 0; i < plans.length; i++) {
      if (out[i].length <= max) {
        next.push(plans[i]);
        continue;
      }
      const halves = halve(plans[i], signals, dtcSizes);
      if (!halves) {
        throw new EdgewiseError('BATCH_FORMAT', `a single sample of campaign ${batch.campaign} does not fit a ${max}-byte payload`, {
          campaign: batch.campaign,
          bytes: out[i].length,
        });
      }
      next.push(...halves);
      changed = true;
    }
    if (!changed) return out;
    plans = next;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface BatchMsg {
  schema_version: number;
  header?: {
    vehicle: string;
    campaign: string;
    campaign_version: number;
    event_id: number;
    trigger_time_ms: number;
    seq: number | Long;
    part_index: number;
    part_count: number;
    triggered_by: string[];
    priority: number;
  } | null;
  signals: ({ name: string; type: number; partition_id: string; time_deltas_us: (number | Long)[] } & Record<ValueField, unknown[]>)[];
  dtcs: { time_us: number | Long; codes: string[] }[];
}

function fail(msg: string, context: Record<string, unknown> = {}): never {
  throw new EdgewiseError('BATCH_FORMAT', msg, context);
}

function longToNumber(v: number | Long): number {
  return typeof v === 'number' ? v : v.toNumber();
}

/** A 64-bit integer as a number when exactly representable, else as bigint. */
function exactInt(v: number | Long): number | bigint {
  if (typeof v === 'number') return v;
  const n = v.toNumber();
  if (Number.isSafeInteger(n)) return n;
  return BigInt(v.toString());
}

/**
 * Decode one MQTT payload. Throws EdgewiseError BATCH_FORMAT (and nothing else) when the bytes
 * are not a valid edgewise batch part.
 */
export function decodeBatch(payload: Uint8Array): DecodedBatch {
  try {
    return decodeUnchecked(payload);
  } catch (e) {
    if (e instanceof EdgewiseError && e.code === 'BATCH_FORMAT') throw e;
    throw new EdgewiseError('BATCH_FORMAT', `invalid batch: ${(e as Error)?.message ?? String(e)}`, {}, { cause: e });
  }
}

function decodeUnchecked(payload: Uint8Array): DecodedBatch {
  const { body, compression } = unwrap(payload);
  const m = BatchType.decode(body) as unknown as BatchMsg;
  if (m.schema_version !== SCHEMA_VERSION) {
    fail(`unsupported batch schema_version ${m.schema_version} (this decoder reads ${SCHEMA_VERSION})`);
  }
  const h = m.header;
  if (!h) fail('batch has no header');
  const seq = exactInt(h.seq);
  if (typeof seq !== 'number') fail(`batch seq ${seq} out of range`);
  if (h.part_count < 1 || h.part_index >= h.part_count) fail(`invalid part ${h.part_index} of ${h.part_count}`);
  const trigger = h.trigger_time_ms;
  if (!Number.isFinite(trigger)) fail('batch trigger time is not finite');
  const signals: DecodedSignal[] = m.signals.map((s, si) => {
    const type = TYPE_NAMES[s.type];
    if (type === undefined) fail(`signal ${si} (${s.name}) has unknown type ${s.type}`, { signal: s.name });
    const n = s.time_deltas_us.length;
    let field: ValueField | undefined;
    for (const f of VALUE_FIELDS) {
      if (s[f].length > 0) {
        if (field !== undefined) fail(`signal ${s.name} carries values in both ${field} and ${f}`, { signal: s.name });
        field = f;
      }
    }
    const vals = field ? s[field] : [];
    if (vals.length !== n) fail(`signal ${s.name}: ${n} timestamps but ${vals.length} values`, { signal: s.name });
    const timesMs = new Array<number>(n);
    let rel = 0;
    for (let i = 0; i < n; i++) {
      rel += longToNumber(s.time_deltas_us[i]);
      timesMs[i] = trigger + rel / 1000;
    }
    let values: SignalValue[];
    if (field === 'sint64_values' || field === 'uint64_values') values = (vals as (number | Long)[]).map(exactInt);
    else values = vals as SignalValue[];
    return { name: s.name, type, partitionId: s.partition_id === '' ? 'default' : s.partition_id, timesMs, values };
  });
  const dtcs: DtcSnapshot[] = m.dtcs.map((d) => ({ timeMs: trigger + longToNumber(d.time_us) / 1000, codes: d.codes }));
  return {
    schemaVersion: m.schema_version,
    compression,
    vehicle: h.vehicle,
    campaign: h.campaign,
    campaignVersion: h.campaign_version,
    eventId: h.event_id,
    triggerTimeMs: trigger,
    seq,
    partIndex: h.part_index,
    partCount: h.part_count,
    triggeredBy: h.triggered_by,
    priority: h.priority,
    signals,
    dtcs,
  };
}

/** Flatten a decoded part into one row per sample (and one per active DTC code), signal by signal. */
export function batchToRows(decoded: DecodedBatch): BatchRow[] {
  const rows: BatchRow[] = [];
  const { campaign, vehicle, seq } = decoded;
  for (const s of decoded.signals) {
    for (let i = 0; i < s.timesMs.length; i++) {
      rows.push({ time: s.timesMs[i], signal: s.name, value: s.values[i], campaign, vehicle, seq });
    }
  }
  for (const d of decoded.dtcs) {
    for (const code of d.codes) rows.push({ time: d.timeMs, signal: DTC_SIGNAL, value: code, campaign, vehicle, seq });
  }
  return rows;
}
