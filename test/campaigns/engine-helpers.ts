/** Shared fixtures of the engine tests: a small manifest, campaign builder, scenario runner. */
import type { Campaign } from '../../src/campaigns/model.js';
import { CampaignEngine, type EngineOptions, type EngineSignal } from '../../src/campaigns/engine/index.js';
import type { CollectedBatch, SignalValue } from '../../src/types.js';

export const SIGNALS: EngineSignal[] = [
  { name: 'Vehicle.Speed', type: 'float64' },
  { name: 'Vehicle.Rpm', type: 'uint16' },
  { name: 'Vehicle.Brake', type: 'bool' },
  { name: 'Vehicle.Temp', type: 'int16' },
  { name: 'Vehicle.Vin', type: 'string' },
  { name: 'Vehicle.Odo', type: 'uint64' },
  { name: 'Vehicle.Wheel.FL', type: 'float32' },
  { name: 'Vehicle.Wheel.FR', type: 'float32' },
];
export const SHORT: Record<string, number> = Object.fromEntries(SIGNALS.map((s, i) => [s.name.replace(/^Vehicle\./, ''), i]));

export const v = (short: string): string => `$variable.\`Vehicle.${short}\``;

export interface CampaignSpec {
  name?: string;
  version?: number;
  start?: number;
  expiry?: number;
  duration?: number;
  dtcs?: boolean;
  priority?: number;
  collect?: (string | { name: string; max?: number; interval?: number; partition?: string })[];
  period?: number;
  expr?: string;
  mode?: 'ALWAYS' | 'RISING_EDGE';
  minInterval?: number;
}

/** A normalised campaign (what the zod model outputs). */
export function campaign(spec: CampaignSpec): Campaign {
  return {
    name: spec.name ?? 'c1',
    version: spec.version ?? 0,
    startTime: spec.start ?? 0,
    expiryTime: spec.expiry ?? 253402214400000,
    postTriggerCollectionDuration: spec.duration ?? 0,
    diagnosticsMode: spec.dtcs ? 'SEND_ACTIVE_DTCS' : 'OFF',
    spoolingMode: 'OFF',
    compression: 'SNAPPY',
    priority: spec.priority ?? 0,
    signalsToCollect: (spec.collect ?? ['Speed']).map((c) => {
      const o = typeof c === 'string' ? { name: c } : c;
      return {
        name: `Vehicle.${o.name}`,
        maxSampleCount: o.max ?? 1000,
        minimumSamplingIntervalMs: o.interval ?? 0,
        dataPartitionId: o.partition ?? 'default',
      };
    }),
    collectionScheme:
      spec.period !== undefined
        ? { timeBasedCollectionScheme: { periodMs: spec.period } }
        : {
            conditionBasedCollectionScheme: {
              expression: spec.expr ?? 'true',
              minimumTriggerIntervalMs: spec.minInterval ?? 0,
              triggerMode: spec.mode ?? 'ALWAYS',
              conditionLanguageVersion: 1,
            },
          },
    dataPartitions: [],
  } as Campaign;
}

/** One time step: ingest the samples (short name -> value), then advance to `t`. */
export type Step = [t: number, samples?: Record<string, SignalValue>];

/** A batch reduced to what tests compare: trigger time and per signal [time, value] pairs. */
export interface BatchView {
  campaign: string;
  at: number;
  data: Record<string, [number, SignalValue][]>;
  by?: string[];
}

export function view(b: CollectedBatch): BatchView {
  const data: Record<string, [number, SignalValue][]> = {};
  for (const s of b.signals) data[s.name.replace(/^Vehicle\./, '')] = s.timesMs.map((t, i) => [t, s.values[i]]);
  const out: BatchView = { campaign: b.campaign, at: b.triggerTimeMs, data };
  if (b.triggeredBy.length > 0) out.by = b.triggeredBy;
  return out;
}

export class Harness {
  readonly batches: CollectedBatch[] = [];
  readonly triggers: { campaign: string; timeMs: number; triggeredBy: string[] }[] = [];
  readonly engine: CampaignEngine;

  constructor(campaigns: Campaign[], opts: Partial<EngineOptions> = {}) {
    this.engine = new CampaignEngine({
      signals: SIGNALS,
      onBatch: (b) => this.batches.push(b),
      onTrigger: (e) => this.triggers.push(e),
      ...opts,
    });
    for (const c of campaigns) this.engine.setCampaign(c);
  }

  step(t: number, samples: Record<string, SignalValue> = {}): this {
    for (const [k, val] of Object.entries(samples)) this.engine.ingest(SHORT[k], t, val);
    this.engine.advance(t);
    return this;
  }

  run(steps: Step[]): this {
    for (const [t, s] of steps) this.step(t, s);
    return this;
  }

  views(): BatchView[] {
    return this.batches.map(view);
  }
}

/** Steps with one signal sampled at the given times/values. */
export function series(short: string, pairs: [number, SignalValue][]): Step[] {
  return pairs.map(([t, val]) => [t, { [short]: val }]);
}
