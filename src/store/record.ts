/**
 * On-disk layout of one stored batch in LevelDB.
 *
 * key   `b!<seq, 16 decimal digits>!<JSON [priority, createdMs, bytes, campaign, partitionId]>`
 *       Everything the in-memory index needs is in the key, so opening the store reads keys only.
 * value u8 version (1) | u32 crc32 of the rest | u32 part count | u32 length × count | part bytes…
 *
 * key   `m!seq` → the next sequence number (decimal text), written in the same atomic batch as
 *       every new record, so a seq is never handed out twice, even after the newest batch was removed.
 */
import { crc32 } from 'node:zlib';

export const RECORD_PREFIX = 'b!';
export const RECORD_END = 'b"';
export const SEQ_KEY = 'm!seq';
const SEQ_DIGITS = 16;

export interface RecordMeta {
  seq: number;
  priority: number;
  createdMs: number;
  bytes: number;
  campaign: string;
  partitionId: string;
}

export function recordKey(m: RecordMeta): string {
  return `${RECORD_PREFIX}${String(m.seq).padStart(SEQ_DIGITS, '0')}!${JSON.stringify([m.priority, m.createdMs, m.bytes, m.campaign, m.partitionId])}`;
}

/** Parse a record key; undefined when it is not one we wrote. */
export function parseRecordKey(key: string): RecordMeta | undefined {
  if (!key.startsWith(RECORD_PREFIX) || key.charCodeAt(RECORD_PREFIX.length + SEQ_DIGITS) !== 0x21 /* ! */) return undefined;
  const seqText = key.slice(RECORD_PREFIX.length, RECORD_PREFIX.length + SEQ_DIGITS);
  if (!/^\d+$/.test(seqText)) return undefined;
  const seq = Number(seqText);
  let arr: unknown;
  try {
    arr = JSON.parse(key.slice(RECORD_PREFIX.length + SEQ_DIGITS + 1));
  } catch {
    return undefined;
  }
  if (!Array.isArray(arr) || arr.length !== 5) return undefined;
  const [priority, createdMs, bytes, campaign, partitionId] = arr as unknown[];
  if (typeof priority !== 'number' || typeof createdMs !== 'number' || typeof bytes !== 'number') return undefined;
  if (typeof campaign !== 'string' || typeof partitionId !== 'string' || !Number.isSafeInteger(seq)) return undefined;
  return { seq, priority, createdMs, bytes, campaign, partitionId };
}

const HEAD = 9;

export function encodeRecord(parts: readonly Uint8Array[]): Uint8Array {
  let total = HEAD + 4 * parts.length;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out[0] = 1;
  dv.setUint32(5, parts.length);
  let off = HEAD;
  for (const p of parts) {
    dv.setUint32(off, p.length);
    off += 4;
  }
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  dv.setUint32(1, crc32(out.subarray(5)));
  return out;
}

/** The parts of a record, or a reason why the value is not a valid record. */
export function decodeRecord(v: Uint8Array): Uint8Array[] | string {
  if (v.length < HEAD || v[0] !== 1) return 'bad record header';
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  if (dv.getUint32(1) !== crc32(v.subarray(5))) return 'record checksum mismatch';
  const n = dv.getUint32(5);
  if (HEAD + 4 * n > v.length) return 'bad part count';
  const parts: Uint8Array[] = [];
  let off = HEAD + 4 * n;
  for (let i = 0; i < n; i++) {
    const len = dv.getUint32(HEAD + 4 * i);
    if (off + len > v.length) return 'part beyond record end';
    parts.push(v.slice(off, off + len));
    off += len;
  }
  return off === v.length ? parts : 'trailing bytes in record';
}

export function encodeSeq(n: number): Uint8Array {
  return new TextEncoder().encode(String(n));
}

export function decodeSeq(v: Uint8Array | undefined): number | undefined {
  if (!v) return undefined;
  const s = new TextDecoder().decode(v);
  return /^\d{1,16}$/.test(s) ? Number(s) : undefined;
}
