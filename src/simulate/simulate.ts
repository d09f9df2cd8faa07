/**
 * Campaign simulation: runs the real campaign engine over a recorded candump log as fast as it
 * can and reports, per campaign, what a vehicle would have uploaded: triggers, batches, samples
 * per signal and the upload volume after encoding and compression (the real batch codec).
 *
 * Only messages carrying a signal some campaign reads are decoded (manifest routes), exactly
 * as in the daemon. Time comes from the log's timestamps, so results are reproducible.
 */
import { createReadStream, statSync } from 'node:fs';
import { Transform } from 'node:stream';
import { EdgewiseError } from '../errors.js';
import type { CollectedBatch, SignalValue } from '../types.js';
import type { DecoderTable } from '../decode/index.js';
import { readCandump, type CandumpInput, type CandumpStats } from '../sources/index.js';
import { encodeBatch } from '../batches/index.js';
import { CampaignEngine } from '../campaigns/index.js';
import { campaignSignalNames, type Campaign } from '../campaigns/index.js';
import { bindManifest, manifestDecoders, type Manifest } from '../manifest/index.js';

export interface SimulationProgress {
  /** Input bytes read so far (compressed bytes for a .gz file). */
  bytesRead: number;
  /** Size of the input file; undefined for a stream. */
  totalBytes?: number;
  frames: number;
}

export interface SimulateOptions {
  campaigns: readonly Campaign[];
  manifest: Manifest;
  /** candump log: path (plain or .gz), `-` for stdin, or a stream. */
  log: CandumpInput;
  /** Compiled DBC per manifest interface (default: load the manifest's DBC files). */
  dbcFor?: (iface: string) => DecoderTable;
  onProgress?: (p: SimulationProgress) => void;
  /** Keep the time series of these signals (for plotting): name -> samples. Default none. */
  traceSignals?: readonly string[];
  /** Vehicle (thing) name written into encoded batches; affects the byte count slightly. */
  vehicle?: string;
  /** Tumbling window length of `last_window_*` functions (default: the engine's, 1000 ms). */
  windowMs?: number;
  /** Receives DBC parser warnings. */
  onWarning?: (text: string) => void;
}

export interface SimulatedTrigger {
  /** Time of the sample that fired (time-based: the scheduled tick), ms since the epoch. */
  timeMs: number;
  /** Condition names that fired (MULTI_RISING_EDGE_TRIGGER); empty otherwise. */
  triggeredBy: string[];
}

export interface SimulatedBatch {
  triggerTimeMs: number;
  /** Oldest and newest sample time in the batch (the collected window). */
  fromMs: number;
  toMs: number;
  samples: number;
  bytes: number;
  parts: number;
  dtcs: number;
}

export interface CampaignSimulation {
  name: string;
  triggers: SimulatedTrigger[];
  batches: SimulatedBatch[];
  /** Uploaded samples per collected signal (every collected signal listed, 0 when none). */
  samples: Record<string, number>;
  /** Encoded + compressed payload bytes over all batches. */
  bytes: number;
  /** `bytes` scaled to one hour of the log's duration. */
  bytesPerHour: number;
  /** Signals the condition reads (empty for time-based campaigns). */
  conditionSignals: string[];
  collectedSignals: string[];
}

export interface SignalTrace {
  timesMs: number[];
  values: number[];
}

export interface SimulationResult {
  campaigns: CampaignSimulation[];
  log: {
    frames: number;
    badLines: number;
    firstMs: number;
    lastMs: number;
    durationMs: number;
    /** Frames that carried a wanted signal and were decoded. */
    decodedFrames: number;
    decodeErrors: number;
  };
  /** Samples handed to the engine. */
  samples: number;
  /** Name -> series, for the names in `traceSignals` that exist in the manifest. */
  traces: Record<string, SignalTrace>;
}

/** Bytes a batch takes on the wire: the real codec (protobuf + the campaign's compression). */
function encodedSize(batch: CollectedBatch, seq: number, vehicle: string): { bytes: number; parts: number } {
  const parts = encodeBatch(batch, { seq, vehicle });
  let bytes = 0;
  for (const p of parts) bytes += p.length;
  return { bytes, parts: parts.length };
}

/**
 * Replays `log` through a `CampaignEngine` holding all `campaigns` and reports what each would
 * have collected. Throws CAMPAIGN_INVALID / EXPRESSION_* for a campaign the engine rejects,
 * MANIFEST_INVALID when the manifest does not match its DBC files, IO when the log is unreadable.
 */
export async function simulateCampaigns(opts: SimulateOptions): Promise<SimulationResult> {
  const { manifest } = opts;
  const vehicle = opts.vehicle ?? 'simulated-vehicle';
  const names = manifest.signals.map((s) => s.name);
  const seen = new Set<string>();
  for (const c of opts.campaigns) {
    if (seen.has(c.name)) throw new EdgewiseError('USAGE', `two campaigns are named "${c.name}"`, { campaign: c.name });
    seen.add(c.name);
  }

  const results = new Map<string, CampaignSimulation>();
  let seq = 0;
  const engine = new CampaignEngine({
    signals: manifest.signals,
    windowMs: opts.windowMs,
    onTrigger: (e) => results.get(e.campaign)?.triggers.push({ timeMs: e.timeMs, triggeredBy: e.triggeredBy }),
    onBatch: (b) => {
      const r = results.get(b.campaign);
      if (!r) return;
      let from = Infinity;
      let to = -Infinity;
      let n = 0;
      for (const s of b.signals) {
        r.samples[s.name] = (r.samples[s.name] ?? 0) + s.timesMs.length;
        n += s.timesMs.length;
        if (s.timesMs.length > 0) {
          from = Math.min(from, s.timesMs[0]);
          to = Math.max(to, s.timesMs[s.timesMs.length - 1]);
        }
      }
      const { bytes, parts } = encodedSize(b, seq++, vehicle);
      r.bytes += bytes;
      r.batches.push({
        triggerTimeMs: b.triggerTimeMs,
        fromMs: from === Infinity ? b.triggerTimeMs : from,
        toMs: to === -Infinity ? b.triggerTimeMs : to,
        samples: n,
        bytes,
        parts,
        dtcs: b.dtcs.length,
      });
    },
  });

  // Which signals anything reads: decode only the messages carrying them.
  const wanted = new Uint8Array(names.length);
  for (const c of opts.campaigns) {
    const refs = campaignSignalNames(c, names);
    results.set(c.name, {
      name: c.name,
      triggers: [],
      batches: [],
      samples: Object.fromEntries(refs.collected.map((n) => [n, 0])),
      bytes: 0,
      bytesPerHour: 0,
      conditionSignals: refs.condition,
      collectedSignals: refs.collected,
    });
    for (const n of [...refs.collected, ...refs.condition]) wanted[manifest.byName.get(n)!] = 1;
    engine.setCampaign(c);
  }

  const traces: Record<string, SignalTrace> = {};
  const traced = new Array<SignalTrace | undefined>(names.length).fill(undefined);
  for (const n of opts.traceSignals ?? []) {
    const id = manifest.byName.get(n);
    if (id === undefined || traced[id]) continue;
    traced[id] = traces[n] = { timesMs: [], values: [] };
    wanted[id] = 1;
  }

  const binding = bindManifest(manifest, {
    dbcFor: opts.dbcFor ?? manifestDecoders(manifest, opts.onWarning),
    wanted: (id) => wanted[id] === 1,
  });

  let samples = 0;
  const anyTrace = traced.some((t) => t !== undefined);
  const ingest = anyTrace
    ? (id: number, t: number, v: SignalValue): void => {
        engine.ingest(id, t, v);
        const tr = traced[id];
        if (tr !== undefined) {
          tr.timesMs.push(t);
          tr.values.push(typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : Number(v));
        }
      }
    : (id: number, t: number, v: SignalValue): void => engine.ingest(id, t, v);

  let first = NaN;
  let last = NaN;
  let decodedFrames = 0;
  let frames = 0;

  // Count input bytes for the progress report.
  let input: CandumpInput = opts.log;
  let totalBytes: number | undefined;
  let bytesRead = 0;
  if (typeof opts.log === 'string' && opts.log !== '-') {
    try {
      totalBytes = statSync(opts.log).size;
    } catch (e) {
      throw new EdgewiseError('IO', `cannot read log ${opts.log}: ${(e as Error).message}`, { path: opts.log }, { cause: e });
    }
    if (opts.onProgress) {
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytesRead += chunk.length;
          cb(null, chunk);
        },
      });
      const src = createReadStream(opts.log);
      src.on('error', (e) => counter.destroy(e));
      input = src.pipe(counter);
    }
  }

  const stats: CandumpStats = await readCandump(
    input,
    (frame) => {
      frames++;
      const t = frame.timeMs;
      if (first !== first) first = t;
      last = t;
      const n = binding.dispatch(frame, ingest);
      if (n > 0) {
        decodedFrames++;
        samples += n;
      }
      engine.advance(t);
    },
    {
      afterChunk: opts.onProgress ? () => opts.onProgress!({ bytesRead, totalBytes, frames }) : undefined,
    },
  );
  if (stats.inputError) throw new EdgewiseError('IO', `log ${typeof opts.log === 'string' ? opts.log : '<stream>'}: ${stats.inputError}`);
  if (frames > 0) engine.flush(last);

  const durationMs = frames > 0 ? last - first : 0;
  const out = [...results.values()];
  for (const r of out) r.bytesPerHour = durationMs > 0 ? (r.bytes * 3_600_000) / durationMs : 0;
  return {
    campaigns: out,
    log: {
      frames,
      badLines: stats.badLines,
      firstMs: frames > 0 ? first : 0,
      lastMs: frames > 0 ? last : 0,
      durationMs,
      decodedFrames,
      decodeErrors: binding.stats.decodeErrors,
    },
    samples,
    traces,
  };
}

/** The `--format json` contract of `edgewise campaign simulate`. */
export interface SimulationJson {
  campaigns: {
    name: string;
    triggers: { time: number; triggeredBy: string[] }[];
    batches: number;
    samples: Record<string, number>;
    bytes: number;
    bytesPerHour: number;
  }[];
  log: { frames: number; badLines: number; start: number; end: number; durationS: number };
}

/** ms -> epoch seconds rounded to the microsecond (candump's resolution). */
function epochSeconds(ms: number): number {
  return Math.round(ms * 1000) / 1e6;
}

/** Result -> the JSON contract (times as epoch seconds). */
export function simulationToJson(r: SimulationResult): SimulationJson {
  return {
    campaigns: r.campaigns.map((c) => ({
      name: c.name,
      triggers: c.triggers.map((t) => ({ time: epochSeconds(t.timeMs), triggeredBy: t.triggeredBy })),
      batches: c.batches.length,
      samples: c.samples,
      bytes: c.bytes,
      bytesPerHour: Math.round(c.bytesPerHour),
    })),
    log: {
      frames: r.log.frames,
      badLines: r.log.badLines,
      start: epochSeconds(r.log.firstMs),
      end: epochSeconds(r.log.lastMs),
      durationS: Math.round(r.log.durationMs) / 1000,
    },
  };
}
