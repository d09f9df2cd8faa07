/**
 * Decode throughput on the three shared candump logs, edgewise vs the npm package `candied`
 * (a JavaScript DBC parser/decoder) in the same run:
 *
 *   (a) decode only: frames already parsed into memory; per frame: message lookup + decode.
 *   (b) end to end: gzip candump text -> decoded values (gunzip, split lines, parse, decode).
 *
 * candied has no candump reader, so its end-to-end pipeline is the idiomatic Node one:
 * zlib gunzip -> readline -> split/parseInt -> `Can.decode`. candied keeps bit 31 in extended
 * ids, so its frames get that bit; it only decodes a frame whose length equals the DBC length.
 * The "decoded" columns show how many frames each produced values for.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { Can, Dbc } from 'candied';
import { loadDbcFile } from '../src/dbc/index.js';
import { compileDatabase, DECODE_OK } from '../src/decode/index.js';
import type { CompiledMessage, DecodeOutput, DecoderTable } from '../src/decode/index.js';
import { readCandump } from '../src/sources/index.js';

const ROOT = process.env.BENCH_ROOT ?? process.cwd();
const SHARED = path.resolve(ROOT, '../shared');
const CASES = [
  { log: 'toyota_nodsu_pt_generated.1M.log.gz', dbc: 'toyota_nodsu_pt_generated.dbc', label: 'toyota (1M, classic)' },
  { log: 'hyundai_canfd_generated.500k.log.gz', dbc: 'hyundai_canfd_generated.dbc', label: 'hyundai (500k, CAN FD)' },
  { log: 'vw_mqb.1M.log.gz', dbc: 'vw_mqb.dbc', label: 'vw_mqb (1M, ext ids, mux)' },
];
const EDGEWISE_RUNS = 5;
const E2E_RUNS = 3;

interface InMemory {
  n: number;
  ids: Uint32Array;
  ext: Uint8Array;
  data: Uint8Array[];
}

async function loadFrames(file: string): Promise<InMemory> {
  const ids: number[] = [];
  const ext: number[] = [];
  const chunks: Uint8Array[] = [];
  const offsets: number[] = [];
  const lengths: number[] = [];
  let cur = new Uint8Array(1 << 22);
  let pos = 0;
  await readCandump(file, (f) => {
    if (pos + f.data.length > cur.length) {
      chunks.push(cur);
      cur = new Uint8Array(1 << 22);
      pos = 0;
    }
    cur.set(f.data, pos);
    ids.push(f.id);
    ext.push(f.extended ? 1 : 0);
    offsets.push(chunks.length * 2 ** 24 + pos);
    lengths.push(f.data.length);
    pos += f.data.length;
  });
  chunks.push(cur);
  const data = offsets.map((o, k) => {
    const c = chunks[Math.floor(o / 2 ** 24)];
    const p = o % 2 ** 24;
    return c.subarray(p, p + lengths[k]);
  });
  return { n: ids.length, ids: Uint32Array.from(ids), ext: Uint8Array.from(ext), data };
}

function outputsFor(table: DecoderTable): Map<CompiledMessage, DecodeOutput> {
  return new Map(table.messages.map((m) => [m, m.createOutput()]));
}

let sink = 0;

function edgewiseDecodeOnly(table: DecoderTable, f: InMemory): { seconds: number; decoded: number } {
  const outs = outputsFor(table);
  const { n, ids, ext, data } = f;
  let decoded = 0;
  let acc = 0;
  const t0 = performance.now();
  for (let k = 0; k < n; k++) {
    const cm = table.lookup(ids[k], ext[k] === 1);
    if (cm === undefined) continue;
    const out = outs.get(cm)!;
    if (cm.decode(data[k], out) === DECODE_OK) {
      decoded++;
      acc += out.values[0];
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  sink += acc;
  return { seconds, decoded };
}

async function edgewiseEndToEnd(dbcFile: string, logFile: string): Promise<{ seconds: number; decoded: number; frames: number }> {
  const t0 = performance.now();
  const table = compileDatabase(loadDbcFile(dbcFile));
  const outs = outputsFor(table);
  let decoded = 0;
  let acc = 0;
  const stats = await readCandump(logFile, (f) => {
    const cm = table.lookup(f.id, f.extended);
    if (cm === undefined) return;
    const out = outs.get(cm)!;
    if (cm.decode(f.data, out) === DECODE_OK) {
      decoded++;
      acc += out.values[0];
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  sink += acc;
  return { seconds, decoded, frames: stats.frames };
}

interface CandiedFrame {
  id: number;
  dlc: number;
  isExtended: boolean;
  payload: number[];
}

function candiedFor(dbcFile: string): Can {
  const can = new Can();
  can.database = new Dbc().load(readFileSync(dbcFile, 'latin1'));
  return can;
}

function candiedDecodeOnly(can: Can, f: InMemory): { seconds: number; decoded: number } {
  const frames: CandiedFrame[] = [];
  for (let k = 0; k < f.n; k++) {
    const isExtended = f.ext[k] === 1;
    frames.push({ id: isExtended ? (f.ids[k] | 0x80000000) >>> 0 : f.ids[k], dlc: f.data[k].length, isExtended, payload: Array.from(f.data[k]) });
  }
  let decoded = 0;
  const t0 = performance.now();
  for (let k = 0; k < frames.length; k++) {
    if (can.decode(frames[k] as never) !== undefined) decoded++;
  }
  return { seconds: (performance.now() - t0) / 1000, decoded };
}

async function candiedEndToEnd(dbcFile: string, logFile: string): Promise<{ seconds: number; decoded: number; frames: number }> {
  const t0 = performance.now();
  const can = candiedFor(dbcFile);
  const rl = createInterface({ input: createReadStream(logFile).pipe(createGunzip()), crlfDelay: Infinity });
  let decoded = 0;
  let frames = 0;
  for await (const line of rl) {
    const parts = line.split(' ');
    if (parts.length < 3) continue;
    const hash = parts[2].indexOf('#');
    const idText = parts[2].slice(0, hash);
    const fd = parts[2][hash + 1] === '#';
    const hex = parts[2].slice(hash + (fd ? 3 : 1));
    const payload: number[] = [];
    for (let i = 0; i + 1 < hex.length; i += 2) payload.push(parseInt(hex.slice(i, i + 2), 16));
    const isExtended = idText.length === 8;
    const id = parseInt(idText, 16);
    frames++;
    if (can.decode({ id: isExtended ? (id | 0x80000000) >>> 0 : id, dlc: payload.length, isExtended, payload } as never) !== undefined) decoded++;
  }
  return { seconds: (performance.now() - t0) / 1000, decoded, frames };
}

const mfps = (frames: number, s: number): string => (frames / s / 1e6).toFixed(2);
const ratio = (a: number, b: number): string => `${(a / b).toFixed(1)}×`;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function main(): Promise<void> {
  if (!existsSync(path.join(SHARED, 'logs'))) {
    console.log(`decode bench: skipped, ${path.join(SHARED, 'logs')} is absent (the shared benchmark logs sit beside the checkout)`);
    return;
  }
  console.log('frames/s in millions (M/s); edgewise best of', EDGEWISE_RUNS, 'decode-only runs and', E2E_RUNS, 'end-to-end runs; candied one run each.\n');
  const rows: string[] = [];
  const notes: string[] = [];
  let toyota: { dec: number; e2e: number } | undefined;
  for (const c of CASES) {
    const logFile = path.join(SHARED, 'logs', c.log);
    const dbcFile = path.join(SHARED, 'dbc', c.dbc);
    if (!existsSync(logFile) || !existsSync(dbcFile)) {
      console.log(`decode bench: ${c.label}: skipped, ${!existsSync(logFile) ? logFile : dbcFile} is absent`);
      continue;
    }
    // End to end first, on a clean heap (the in-memory frames of (a) would slow its GC).
    let ewE2e = Infinity;
    for (let r = 0; r < E2E_RUNS; r++) {
      const x = await edgewiseEndToEnd(dbcFile, logFile);
      ewE2e = Math.min(ewE2e, x.seconds);
      gc();
    }
    const cdE2e = await candiedEndToEnd(dbcFile, logFile);
    gc();
    const frames = await loadFrames(logFile);
    const table = compileDatabase(loadDbcFile(dbcFile));
    let ewDec = Infinity;
    let ewDecoded = 0;
    for (let r = 0; r < EDGEWISE_RUNS; r++) {
      const x = edgewiseDecodeOnly(table, frames);
      ewDec = Math.min(ewDec, x.seconds);
      ewDecoded = x.decoded;
    }
    const can = candiedFor(dbcFile);
    const cdDec = candiedDecodeOnly(can, frames);
    const n = frames.n;
    rows.push(
      `| ${c.label} | ${n.toLocaleString('en-US')} | ${mfps(n, ewDec)} | ${mfps(n, cdDec.seconds)} | ${ratio(cdDec.seconds, ewDec)} | ` +
        `${mfps(n, ewE2e)} | ${mfps(n, cdE2e.seconds)} | ${ratio(cdE2e.seconds, ewE2e)} | ${ewDecoded.toLocaleString('en-US')} / ${cdDec.decoded.toLocaleString('en-US')} |`,
    );
    if (c.log.startsWith('toyota')) toyota = { dec: n / ewDec, e2e: n / ewE2e };
    console.log(`  ${c.label}: done`);
  }
  if (rows.length === 0) return;
  console.log('');
  console.log('| log | frames | edgewise decode-only M/s | candied decode-only M/s | ratio | edgewise end-to-end M/s | candied end-to-end M/s | ratio | frames decoded (edgewise / candied) |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
  if (toyota) {
    notes.push(`targets on toyota: decode-only ≥ 4 M/s: ${toyota.dec >= 4e6 ? 'met' : 'NOT met'} (${(toyota.dec / 1e6).toFixed(2)}); ` +
      `end to end ≥ 1.5 M/s: ${toyota.e2e >= 1.5e6 ? 'met' : 'NOT met'} (${(toyota.e2e / 1e6).toFixed(2)})`);
  }
  console.log('');
  for (const x of notes) console.log(x);
  if (sink === 42) console.log('');
}

await main();
