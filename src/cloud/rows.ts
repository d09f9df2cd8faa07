/**
 * The lake's row: one row per sample (and one per active DTC code), the same shape in the Firehose
 * transform's JSON output, the Glue table the Parquet conversion writes with, and `edgewise lake`'s
 * local Parquet files. Exactly one of value_double / value_string / value_bool is set, by the
 * signal's type (integers up to 2^53 and floats in value_double; 64-bit integers beyond that and
 * strings in value_string). Partitions are the UTC hour of the batch's trigger time, so one batch
 * (one Firehose record) lands in one partition.
 */
import type { DecodedBatch } from '../batches/index.js';
import { batchToRows } from '../batches/index.js';

export interface LakeRow {
  vehicle: string;
  campaign: string;
  campaign_version: number;
  seq: number;
  part: number;
  signal: string;
  /** Sample time, ms since the epoch (Parquet TIMESTAMP_MILLIS, Glue `timestamp`). */
  time: number;
  /** Sample time, µs since the epoch (keeps the batch's microsecond resolution). */
  time_us: number;
  value_double: number | null;
  value_string: string | null;
  value_bool: boolean | null;
  /** When IoT Core received the batch (the rule's timestamp()), ms since the epoch. */
  received_at: number;
}

export interface Partition {
  year: string;
  month: string;
  day: string;
  hour: string;
}

/** Glue/Hive column types of the table (Athena DDL and Firehose's schema configuration). */
export const LAKE_COLUMNS: readonly { name: keyof LakeRow; glue: string }[] = [
  { name: 'vehicle', glue: 'string' },
  { name: 'campaign', glue: 'string' },
  { name: 'campaign_version', glue: 'int' },
  { name: 'seq', glue: 'bigint' },
  { name: 'part', glue: 'int' },
  { name: 'signal', glue: 'string' },
  { name: 'time', glue: 'timestamp' },
  { name: 'time_us', glue: 'bigint' },
  { name: 'value_double', glue: 'double' },
  { name: 'value_string', glue: 'string' },
  { name: 'value_bool', glue: 'boolean' },
  { name: 'received_at', glue: 'timestamp' },
];

export const PARTITION_KEYS: readonly (keyof Partition)[] = ['year', 'month', 'day', 'hour'];

export function partitionOf(timeMs: number): Partition {
  const d = new Date(timeMs);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return { year: String(d.getUTCFullYear()), month: p2(d.getUTCMonth() + 1), day: p2(d.getUTCDate()), hour: p2(d.getUTCHours()) };
}

/** `year=YYYY/month=MM/day=DD/hour=HH` (Hive-style, what Glue/Athena/DuckDB discover). */
export function partitionPath(p: Partition): string {
  return PARTITION_KEYS.map((k) => `${k}=${p[k]}`).join('/');
}

/** Rows of one decoded part. `vehicle` is the authenticated thing name (from the topic), not the header's. */
export function toLakeRows(decoded: DecodedBatch, vehicle: string, receivedAt: number): LakeRow[] {
  const out: LakeRow[] = [];
  for (const r of batchToRows(decoded)) {
    const v = r.value;
    out.push({
      vehicle,
      campaign: r.campaign,
      campaign_version: decoded.campaignVersion,
      seq: r.seq,
      part: decoded.partIndex,
      signal: r.signal,
      time: Math.floor(r.time),
      time_us: Math.round(r.time * 1000),
      value_double: typeof v === 'number' ? v : typeof v === 'bigint' && BigInt(Number(v)) === v ? Number(v) : null,
      value_string: typeof v === 'string' ? v : typeof v === 'bigint' && BigInt(Number(v)) !== v ? v.toString() : null,
      value_bool: typeof v === 'boolean' ? v : null,
      received_at: receivedAt,
    });
  }
  return out;
}
