/**
 * Upload bytes per sample: the edgewise batch format (columnar, native types, µs delta times) with
 * OFF / SNAPPY / BROTLI, against a FleetWise-style encoding in the same run: one VehicleData
 * message per batch with a CapturedSignal {relative_time_ms, signal_id, double_value} per sample
 * (FleetWise's vehicle_data.proto shape, built here only for the comparison), OFF and raw Snappy.
 *
 * Datasets:
 *   - drive / campaigns: examples/drive.log.gz through the real campaign engine with every
 *     campaign in campaigns/ (the batches a vehicle would really upload);
 *   - drive / all 10 s: every manifest signal, one batch per 10 s window;
 *   - the shared logs (../shared/logs, skipped when absent): every DBC signal, one batch per 10 s
 *     window, first FRAMES frames of each log.
 * Sizes are whole batches (the edgewise encoder splits at 128 KiB; the FleetWise-style one is
 * not split, which can only favour it).
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import * as snappy from 'snappyjs';
import { encodeBatch } from '../src/batches/index.js';
import { CampaignEngine, loadCampaignFile } from '../src/campaigns/index.js';
import { bindManifest, loadManifest, manifestDecoders, manifestFromDbc, parseManifest, type Manifest } from '../src/manifest/index.js';
import { loadDbcFile } from '../src/dbc/index.js';
import { compileDatabase, signalType } from '../src/decode/index.js';
import { readCandump } from '../src/sources/index.js';
import type { CollectedBatch, CollectedSignal, CompressionMode, SignalValue } from '../src/types.js';

const ROOT = process.env.BENCH_ROOT ?? process.cwd();
const SHARED = path.resolve(ROOT, '../shared');
const FRAMES = 300_000;
const WINDOW_MS = 10_000;
const VEHICLE = 'bench-vehicle-0001';

// ---------------------------------------------------------------------------------------------
// FleetWise-style peer encoding (bench only)

const FW = protobuf
  .parse(
    `syntax = "proto3";
     message CapturedSignal { sint64 relative_time_ms = 1; uint32 signal_id = 2; oneof value { double double_value = 3; string string_value = 4; } }
     message DtcData { sint64 relative_time_ms = 1; repeated string active_dtc_codes = 2; }
     message VehicleData { string campaign_sync_id = 1; string decoder_sync_id = 2; uint32 collection_event_id = 3;
       uint64 collection_event_time_ms_epoch = 4; repeated CapturedSignal captured_signals = 5; DtcData dtc_data = 6; }`,
    { keepCase: true },
  )
  .root.lookupType('VehicleData');

function fleetwiseEncode(b: CollectedBatch, ids: ReadonlyMap<string, number>): Uint8Array {
  const captured: object[] = [];
  const t0 = Math.floor(b.triggerTimeMs);
  for (const s of b.signals) {
    const id = ids.get(s.name) ?? 0;
    for (let i = 0; i < s.timesMs.length; i++) {
      const v = s.values[i];
      const rel = Math.round(s.timesMs[i] - t0);
      captured.push(
        typeof v === 'string'
          ? { relative_time_ms: rel, signal_id: id, string_value: v }
          : { relative_time_ms: rel, signal_id: id, double_value: typeof v === 'boolean' ? (v ? 1 : 0) : Number(v) },
      );
    }
  }
  const dtc = b.dtcs.length > 0 ? { relative_time_ms: Math.round(b.dtcs[0].timeMs - t0), active_dtc_codes: b.dtcs[0].codes } : undefined;
  return FW.encode({
    campaign_sync_id: b.campaign,
    decoder_sync_id: 'example-manifest',
    collection_event_id: b.eventId >>> 0,
    collection_event_time_ms_epoch: t0,
    captured_signals: captured,
    dtc_data: dtc,
  }).finish();
}

// ---------------------------------------------------------------------------------------------
// Batch sources

/** One batch per WINDOW_MS with every signal that had samples in it. */
async function windowBatches(manifest: Manifest, log: string, maxFrames: number): Promise<CollectedBatch[]> {
  const n = manifest.signals.length;
  const times: number[][] = Array.from({ length: n }, () => []);
  const values: SignalValue[][] = Array.from({ length: n }, () => []);
  const batches: CollectedBatch[] = [];
  let windowEnd = NaN;
  const flush = (end: number) => {
    const signals: CollectedSignal[] = [];
    for (let i = 0; i < n; i++) {
      if (times[i].length === 0) continue;
      const s = manifest.signals[i];
      signals.push({ name: s.name, type: s.type, partitionId: 'default', timesMs: times[i], values: values[i] });
      times[i] = [];
      values[i] = [];
    }
    if (signals.length === 0) return;
    batches.push({
      campaign: 'all-signals-10s',
      campaignVersion: 1,
      priority: 5,
      eventId: batches.length,
      triggerTimeMs: end,
      compression: 'OFF',
      spooling: 'TO_DISK',
      triggeredBy: [],
      signals,
      dtcs: [],
    });
  };
  const binding = bindManifest(manifest, { dbcFor: manifestDecoders(manifest) });
  const sink = (id: number, t: number, v: SignalValue) => {
    times[id].push(t);
    values[id].push(v);
  };
  const ac = new AbortController();
  let frames = 0;
  await readCandump(
    log,
    (frame) => {
      if (++frames > maxFrames) {
        ac.abort();
        return;
      }
      if (windowEnd !== windowEnd) windowEnd = frame.timeMs + WINDOW_MS;
      while (frame.timeMs >= windowEnd) {
        flush(windowEnd);
        windowEnd += WINDOW_MS;
      }
      binding.dispatch(frame, sink);
    },
    { signal: ac.signal },
  );
  flush(windowEnd);
  return batches;
}

/** The batches the real campaign engine produces for every campaign in campaigns/. */
async function campaignBatches(manifest: Manifest, log: string): Promise<CollectedBatch[]> {
  const dir = path.join(ROOT, 'campaigns');
  const batches: CollectedBatch[] = [];
  const engine = new CampaignEngine({ signals: manifest.signals, onBatch: (b) => batches.push(b) });
  for (const f of readdirSync(dir).filter((x) => /\.(json|ya?ml)$/.test(x)).sort()) {
    engine.setCampaign((await loadCampaignFile(path.join(dir, f))).campaign);
  }
  const binding = bindManifest(manifest, { dbcFor: manifestDecoders(manifest) });
  const ingest = (id: number, t: number, v: SignalValue) => engine.ingest(id, t, v);
  let last = 0;
  await readCandump(log, (frame) => {
    binding.dispatch(frame, ingest);
    last = frame.timeMs;
    engine.advance(last);
  });
  engine.flush(last);
  return batches;
}

function dbcManifest(dbcFile: string): Manifest {
  const table = compileDatabase(loadDbcFile(dbcFile));
  const input = manifestFromDbc([{ iface: 'can0', path: dbcFile, messages: table.messages }], (s) => signalType(s));
  return parseManifest(input);
}

// ---------------------------------------------------------------------------------------------
// Measurement

interface Row {
  label: string;
  batches: number;
  samples: number;
  bytes: Record<string, number>;
  encodeMs: Record<string, number>;
}

function measure(label: string, batches: CollectedBatch[], manifest: Manifest): Row {
  const ids = new Map(manifest.signals.map((s, i) => [s.name, i]));
  let samples = 0;
  for (const b of batches) for (const s of b.signals) samples += s.timesMs.length;
  const bytes: Record<string, number> = {};
  const encodeMs: Record<string, number> = {};
  for (const mode of ['OFF', 'SNAPPY', 'BROTLI'] as CompressionMode[]) {
    let total = 0;
    const t = performance.now();
    batches.forEach((b, seq) => {
      for (const p of encodeBatch({ ...b, compression: mode }, { seq, vehicle: VEHICLE })) total += p.length;
    });
    encodeMs[mode] = performance.now() - t;
    bytes[mode] = total;
  }
  let fwOff = 0;
  let fwSnappy = 0;
  let t = performance.now();
  const fw = batches.map((b) => fleetwiseEncode(b, ids));
  encodeMs.fwOFF = performance.now() - t;
  t = performance.now();
  for (const m of fw) {
    fwOff += m.length;
    fwSnappy += snappy.compress(m).length;
  }
  encodeMs.fwSNAPPY = encodeMs.fwOFF + performance.now() - t;
  bytes.fwOFF = fwOff;
  bytes.fwSNAPPY = fwSnappy;
  return { label, batches: batches.length, samples, bytes, encodeMs };
}

const rows: Row[] = [];
const drive = path.join(ROOT, 'examples/drive.log.gz');
const manifestFile = path.join(ROOT, 'examples/manifest.yaml');
if (existsSync(drive) && existsSync(manifestFile)) {
  const m = await loadManifest(manifestFile);
  const warm = await windowBatches(m, drive, 40_000);
  measure('warm-up', warm, m); // JIT warm-up, not reported
  rows.push(measure('drive / campaigns', await campaignBatches(m, drive), m));
  rows.push(measure('drive / all 10 s', await windowBatches(m, drive, Infinity), m));
} else {
  console.log('(examples/drive.log.gz or examples/manifest.yaml missing: drive rows skipped)');
}
const SHARED_CASES = [
  { log: 'toyota_nodsu_pt_generated.1M.log.gz', dbc: 'toyota_nodsu_pt_generated.dbc', label: 'toyota / all 10 s' },
  { log: 'hyundai_canfd_generated.500k.log.gz', dbc: 'hyundai_canfd_generated.dbc', label: 'hyundai FD / all 10 s' },
  { log: 'vw_mqb.1M.log.gz', dbc: 'vw_mqb.dbc', label: 'vw_mqb / all 10 s' },
];
if (existsSync(SHARED)) {
  for (const c of SHARED_CASES) {
    const m = dbcManifest(path.join(SHARED, 'dbc', c.dbc));
    rows.push(measure(`${c.label} (${FRAMES / 1000}k fr)`, await windowBatches(m, path.join(SHARED, 'logs', c.log), FRAMES), m));
  }
} else {
  console.log(`(${SHARED} missing: shared-log rows skipped)`);
}

const f2 = (x: number) => x.toFixed(2);
console.log('Bytes per sample (lower is better); ratio = FleetWise-style / edgewise for the same compression.\n');
console.log('| dataset | batches | samples | edgewise OFF | edgewise SNAPPY | edgewise BROTLI | FW-style OFF | FW-style SNAPPY | ratio OFF | ratio SNAPPY | FW SNAPPY / edgewise BROTLI |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const per = (k: string) => r.bytes[k] / Math.max(1, r.samples);
  console.log(
    `| ${r.label} | ${r.batches} | ${r.samples} | ${f2(per('OFF'))} | ${f2(per('SNAPPY'))} | ${f2(per('BROTLI'))} | ${f2(per('fwOFF'))} | ${f2(per('fwSNAPPY'))} | ${f2(r.bytes.fwOFF / r.bytes.OFF)}x | ${f2(r.bytes.fwSNAPPY / r.bytes.SNAPPY)}x | ${f2(r.bytes.fwSNAPPY / r.bytes.BROTLI)}x |`,
  );
}
console.log('\nEncode time per sample (ns), whole run:\n');
console.log('| dataset | edgewise OFF | edgewise SNAPPY | edgewise BROTLI | FW-style OFF | FW-style SNAPPY |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const ns = (k: string) => ((r.encodeMs[k] * 1e6) / Math.max(1, r.samples)).toFixed(0);
  console.log(`| ${r.label} | ${ns('OFF')} | ${ns('SNAPPY')} | ${ns('BROTLI')} | ${ns('fwOFF')} | ${ns('fwSNAPPY')} |`);
}
