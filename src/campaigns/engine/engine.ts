/**
 * The campaign engine: keeps per-signal sample history, evaluates campaign conditions and emits
 * a `CollectedBatch` per collection event, with FleetWise's semantics (see the notes on each rule).
 *
 * Time comes only from sample timestamps (`ingest` / `advance` / `flush` arguments), so replaying
 * a log gives exactly the batches the live run gave.
 *
 * Hot path: `ingest` is O(number of ring buffers of the signal) and allocates nothing; `advance`
 * does nothing unless a deadline passed or a condition input changed. Conditions are evaluated in
 * `advance`, only for campaigns whose inputs changed since the last call.
 *
 * Differences from FleetWise worth knowing:
 * - "each sample at most once per campaign" is a per-signal watermark: a collection takes the
 *   newest `maxSampleCount` samples newer than the campaign's previous collection of that signal
 *   (FleetWise keeps a consumed bit per slot and may later send older, skipped samples);
 * - a campaign only uploads samples ingested after it became active;
 * - condition-only signals keep their latest value (and window aggregates), no ring buffer;
 * - buffers survive campaign changes as long as some campaign still uses them (FleetWise drops
 *   all history on every change);
 * - removing, replacing, disabling or expiring a campaign completes its pending post-trigger
 *   collection at once instead of discarding it.
 */
import { EdgewiseError } from '../../errors.js';
import type { BatchHandler, CollectedBatch, CollectedSignal, DtcSnapshot, SignalType, SignalValue } from '../../types.js';
import {
  compileCondition,
  isTrue,
  type CompiledExpression,
  type EvalContext,
  type ExprValue,
  type FunctionRegistry,
  type WindowFn,
} from '../expression/index.js';
import { DEFAULT_MAX_SAMPLE_COUNT, DEFAULT_PARTITION_ID, expandSignalPattern, type Campaign } from '../model.js';
import { closestNames } from '../../documents/index.js';
import { SampleRing, WindowState } from './buffers.js';

export interface EngineSignal {
  name: string;
  type: SignalType;
}

export interface TriggerEvent {
  campaign: string;
  timeMs: number;
  /** Names of the conditions that fired (MULTI_RISING_EDGE_TRIGGER); empty otherwise. */
  triggeredBy: string[];
}

export interface EngineOptions {
  /** Every signal of the decoder manifest; a signal's id is its index here. */
  signals: readonly EngineSignal[];
  onBatch: BatchHandler;
  onTrigger?: (e: TriggerEvent) => void;
  /** Custom functions available to conditions (default: the built-ins). */
  functions?: FunctionRegistry;
  /** Length of the tumbling windows of `last_window_*` (default 1000 ms, as FleetWise's compiler). */
  windowMs?: number;
  /** Seeds the event-id counter so ids of two runs of one vehicle differ. */
  vehicleRunId?: number;
}

export type CampaignState = 'waiting' | 'active' | 'expired' | 'disabled';

export interface CampaignStatus {
  name: string;
  version: number;
  state: CampaignState;
}

export interface EngineStats {
  campaigns: number;
  activeCampaigns: number;
  /** Signals some active campaign needs (`isWanted`). */
  wantedSignals: number;
  ringBuffers: number;
  bufferedSamples: number;
  samplesIngested: number;
  /** Samples of signals no active campaign needs (not stored). */
  samplesIgnored: number;
  /** Samples a ring buffer dropped because of `minimumSamplingIntervalMs`. */
  samplesDecimated: number;
  evaluations: number;
  triggers: number;
  /** Condition true but blocked by the cooldown or a pending post-trigger collection. */
  triggersBlocked: number;
  batches: number;
  /** Collections with nothing to send (not emitted). */
  emptyCollections: number;
  samplesCollected: number;
}

/** Values stored as numbers (Float64) vs as they came (strings, 64-bit integers). */
const K_NUM = 0;
const K_BOOL = 1;
const K_STRING = 2;
const K_INT64 = 3;

const DEFAULT_WINDOW_MS = 1000;

interface CollectSpec {
  signalId: number;
  name: string;
  type: SignalType;
  partitionId: string;
  maxSamples: number;
  intervalMs: number;
  ring: SampleRing | null;
}

interface Inherited {
  watermarks: Map<number, number>;
  dtcWatermark: number;
  lastTriggerMs: number;
  wasTrue: boolean;
  activeSinceMs: number;
  nextTickMs: number;
}

class Runtime implements EvalContext {
  enabled = true;
  state: 'waiting' | 'active' | 'expired' = 'waiting';
  /** Engine time when added / re-enabled (NaN until the engine has seen a time). */
  addedMs: number;
  activeSinceMs = NaN;
  nextTickMs = Infinity;
  lastTriggerMs = -Infinity;
  wasTrue = false;
  pending = false;
  pendingDeadlineMs = Infinity;
  pendingTriggerMs = 0;
  pendingNames: string[] = [];
  dirty = false;
  /** Per collected spec: seq of the newest sample already handled by a collection. */
  readonly watermarks: Float64Array;
  readonly watermarkIndex = new Map<number, number>();
  dtcWatermark = 0;
  /** Names reported during the current evaluation. */
  readonly names: string[] = [];
  timeMs = 0;
  inherited: Inherited | null = null;

  readonly isTime: boolean;
  readonly periodMs: number;
  readonly rising: boolean;
  readonly minIntervalMs: number;
  readonly durationMs: number;

  constructor(
    readonly campaign: Campaign,
    readonly expr: CompiledExpression | null,
    readonly collect: CollectSpec[],
    private readonly engine: CampaignEngine,
    nowMs: number,
  ) {
    this.addedMs = nowMs;
    const tb = campaign.collectionScheme.timeBasedCollectionScheme;
    const cb = campaign.collectionScheme.conditionBasedCollectionScheme;
    this.isTime = tb !== undefined;
    this.periodMs = tb?.periodMs ?? 0;
    this.rising = cb?.triggerMode === 'RISING_EDGE';
    this.minIntervalMs = cb?.minimumTriggerIntervalMs ?? 0;
    this.durationMs = campaign.postTriggerCollectionDuration ?? 0;
    this.watermarks = new Float64Array(collect.length);
    collect.forEach((c, i) => this.watermarkIndex.set(c.signalId, i));
  }

  get name(): string {
    return this.campaign.name;
  }

  status(): CampaignState {
    if (this.state === 'expired') return 'expired';
    if (!this.enabled) return 'disabled';
    return this.state;
  }

  // --- EvalContext (reads the engine's arrays; no allocation) ---
  signalValue(id: number): ExprValue {
    return this.engine.latestValue(id);
  }
  isNull(id: number): boolean {
    const seq = this.engine.seqOf(id);
    if (seq === 0) return true;
    const i = this.watermarkIndex.get(id);
    return i !== undefined && seq <= this.watermarks[i];
  }
  windowValue(id: number, fn: WindowFn): number | undefined {
    return this.engine.windowValue(id, fn);
  }
  reportTrigger(name: string): void {
    this.names.push(name);
  }
}

export class CampaignEngine {
  private readonly signals: readonly EngineSignal[];
  private readonly byName = new Map<string, number>();
  private readonly onBatch: BatchHandler;
  private readonly onTrigger?: (e: TriggerEvent) => void;
  private readonly functions?: FunctionRegistry;
  private readonly windowMs: number;

  // Per signal (index = id)
  private readonly kind: Uint8Array;
  private readonly seq: Float64Array;
  private readonly latest: Float64Array;
  private readonly latestRaw: SignalValue[];
  private readonly wanted: Uint8Array;
  private readonly conditionInput: Uint8Array;
  private readonly sigDirty: Uint8Array;
  private readonly dirtyList: Int32Array;
  private nDirty = 0;
  private ringsBySignal: SampleRing[][];
  private windowBySignal: (WindowState | undefined)[];
  /** Campaigns reading the latest value / freshness of a signal (evaluated when it gets a sample). */
  private conditionUsers: Runtime[][];
  /** Campaigns reading window aggregates of a signal (evaluated when a window completes). */
  private windowUsers: Runtime[][];

  private readonly rings = new Map<string, SampleRing>();
  private readonly windows = new Map<number, WindowState>();
  private readonly runtimes = new Map<string, Runtime>();
  private volatile: Runtime[] = [];
  private readonly evalQueue: Runtime[] = [];

  private nowMs = -Infinity;
  private nextTimedMs = -Infinity;
  private nextWindowMs = Infinity;
  private eventCounter: number;
  private latestDtcs: DtcSnapshot | null = null;
  private handlerError: unknown = undefined;
  private dtcSeq = 0;

  private counters = {
    samplesIngested: 0,
    samplesIgnored: 0,
    evaluations: 0,
    triggers: 0,
    triggersBlocked: 0,
    batches: 0,
    emptyCollections: 0,
    samplesCollected: 0,
    decimatedGone: 0,
  };

  constructor(opts: EngineOptions) {
    this.signals = opts.signals;
    this.onBatch = opts.onBatch;
    this.onTrigger = opts.onTrigger;
    this.functions = opts.functions;
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    if (!(this.windowMs > 0)) throw new EdgewiseError('USAGE', `windowMs must be > 0 (got ${opts.windowMs})`);
    this.eventCounter = (opts.vehicleRunId ?? 0) & 0xff;
    const n = this.signals.length;
    this.kind = new Uint8Array(n);
    this.signals.forEach((s, i) => {
      if (this.byName.has(s.name)) throw new EdgewiseError('MANIFEST_INVALID', `duplicate signal name '${s.name}'`, { name: s.name });
      this.byName.set(s.name, i);
      this.kind[i] = s.type === 'bool' ? K_BOOL : s.type === 'string' ? K_STRING : s.type === 'int64' || s.type === 'uint64' ? K_INT64 : K_NUM;
    });
    this.seq = new Float64Array(n);
    this.latest = new Float64Array(n);
    this.latestRaw = new Array<SignalValue>(n).fill(0);
    this.wanted = new Uint8Array(n);
    this.conditionInput = new Uint8Array(n);
    this.sigDirty = new Uint8Array(n);
    this.dirtyList = new Int32Array(n);
    this.ringsBySignal = Array.from({ length: n }, () => []);
    this.windowBySignal = new Array<WindowState | undefined>(n).fill(undefined);
    this.conditionUsers = Array.from({ length: n }, () => []);
    this.windowUsers = Array.from({ length: n }, () => []);
  }

  // ---------------------------------------------------------------- campaign management

  /**
   * Adds a campaign, or replaces the one with the same name. Throws EdgewiseError
   * `EXPRESSION_SYNTAX` / `EXPRESSION_TYPE` for a bad condition and `CAMPAIGN_INVALID` for a
   * signal name the manifest does not have; the engine is unchanged then.
   */
  setCampaign(c: Campaign): void {
    const old = this.runtimes.get(c.name);
    // The same document again (a re-sync): keep everything, including custom-function state.
    if (old && old.state !== 'expired' && JSON.stringify(old.campaign) === JSON.stringify(c)) return;
    const rt = this.build(c);
    if (old) {
      if (old.state === 'active' && old.enabled) rt.inherited = this.inheritFrom(old, rt);
      rt.enabled = old.enabled;
      this.finish(old);
    }
    this.runtimes.set(c.name, rt); // a replacement keeps its place in the order
    this.rebuild();
    this.settle();
    // Inheritance only bridges an immediate hand-over from the old version.
    rt.inherited = null;
  }

  /** Removes a campaign (its pending collection is completed now). Unknown names are ignored. */
  removeCampaign(name: string): void {
    const rt = this.runtimes.get(name);
    if (!rt) return;
    this.finish(rt);
    this.runtimes.delete(name);
    this.rebuild();
    this.settle();
  }

  /** Suspends (false) or resumes (true) a campaign; resuming counts as a fresh activation. */
  setCampaignEnabled(name: string, enabled: boolean): void {
    const rt = this.runtimes.get(name);
    if (!rt) throw new EdgewiseError('USAGE', `no campaign named '${name}'`, { name });
    if (rt.enabled === enabled) return;
    if (!enabled) {
      this.completePending(rt, this.nowMs);
      rt.enabled = false;
      if (rt.state === 'active') rt.state = 'waiting';
    } else {
      rt.enabled = true;
      rt.addedMs = Number.isFinite(this.nowMs) ? this.nowMs : NaN;
      rt.inherited = null;
    }
    this.rebuild();
    this.settle();
  }

  /** After a campaign change: apply start/expiry at the current time so `isWanted` is right at once. */
  private settle(): void {
    this.nextTimedMs = -Infinity;
    if (Number.isFinite(this.nowMs)) this.processTimed();
    this.rethrowHandlerError();
  }

  campaigns(): CampaignStatus[] {
    return [...this.runtimes.values()].map((r) => ({ name: r.name, version: r.campaign.version ?? 0, state: r.status() }));
  }

  /** Does any active campaign need this signal? Samples of other signals can be skipped. */
  isWanted(signalId: number): boolean {
    return this.wanted[signalId] === 1;
  }

  /** Signal id of a manifest name. */
  signalId(name: string): number | undefined {
    return this.byName.get(name);
  }

  // ---------------------------------------------------------------- hot path

  /**
   * Stores one sample. Call `advance` after the samples of one time step: conditions are
   * evaluated there. Time-driven events due at or before `timeMs` (start, expiry, ticks,
   * post-trigger deadlines, window ends) are handled first.
   */
  ingest(signalId: number, timeMs: number, value: SignalValue): void {
    // Deadlines up to this sample's time happen before it is stored (so a campaign starting at
    // this time sees it and a collection due at this time does not).
    if (timeMs >= this.nextTimedMs) {
      if (timeMs > this.nowMs) this.nowMs = timeMs;
      this.processTimed();
    }
    if (this.wanted[signalId] !== 1) {
      this.counters.samplesIgnored++;
      if (this.handlerError !== undefined) this.rethrowHandlerError();
      return;
    }
    this.counters.samplesIngested++;
    const k = this.kind[signalId];
    let num: number;
    if (typeof value === 'number') num = value;
    else if (typeof value === 'boolean') num = value ? 1 : 0;
    else if (typeof value === 'bigint') num = Number(value);
    else num = k === K_STRING ? NaN : Number(value);
    if (k === K_BOOL) num = num !== 0 && num === num ? 1 : 0;
    const seq = this.seq[signalId] + 1;
    this.seq[signalId] = seq;
    this.latest[signalId] = num;
    if (k >= K_STRING) {
      if (k === K_STRING && typeof value !== 'string') value = String(value);
      this.latestRaw[signalId] = value;
    }
    const w = this.windowBySignal[signalId];
    if (w !== undefined) {
      const fresh = w.endMs !== w.endMs;
      if (w.add(timeMs, num)) this.queueWindowUsers(signalId);
      if (fresh && w.endMs < this.nextWindowMs) {
        this.nextWindowMs = w.endMs;
        if (w.endMs < this.nextTimedMs) this.nextTimedMs = w.endMs;
      }
    }
    const rings = this.ringsBySignal[signalId];
    for (let i = 0; i < rings.length; i++) rings[i].push(timeMs, num, value, seq);
    if (this.conditionInput[signalId] === 1 && this.sigDirty[signalId] === 0) {
      this.sigDirty[signalId] = 1;
      this.dirtyList[this.nDirty++] = signalId;
    }
    if (this.handlerError !== undefined) this.rethrowHandlerError();
  }

  /** Active DTCs read at `timeMs` (sent by campaigns with diagnosticsMode SEND_ACTIVE_DTCS). */
  ingestDtcs(timeMs: number, codes: readonly string[]): void {
    this.latestDtcs = { timeMs, codes: [...codes] };
    this.dtcSeq++;
  }

  /**
   * Moves engine time to `timeMs` (never backwards): starts / expires campaigns, fires
   * time-based ticks, completes post-trigger collections that are due, rolls windows and
   * evaluates the conditions whose inputs changed.
   */
  advance(timeMs: number): void {
    if (timeMs > this.nowMs) this.nowMs = timeMs;
    if (this.nowMs >= this.nextTimedMs) this.processTimed();
    if (this.nDirty > 0 || this.volatile.length > 0 || this.evalQueue.length > 0) this.evaluateDirty();
    if (this.handlerError !== undefined) this.rethrowHandlerError();
  }

  /** Shutdown: advances to `timeMs` and completes every pending post-trigger collection now. */
  flush(timeMs: number): void {
    this.advance(timeMs);
    for (const rt of this.runtimes.values()) this.completePending(rt, this.nowMs);
    this.nextTimedMs = -Infinity;
    this.rethrowHandlerError();
  }

  stats(): EngineStats {
    let active = 0;
    for (const r of this.runtimes.values()) if (r.status() === 'active') active++;
    let wanted = 0;
    for (let i = 0; i < this.wanted.length; i++) wanted += this.wanted[i];
    let buffered = 0;
    let decimated = this.counters.decimatedGone;
    for (const r of this.rings.values()) {
      buffered += r.count;
      decimated += r.decimated;
    }
    const c = this.counters;
    return {
      campaigns: this.runtimes.size,
      activeCampaigns: active,
      wantedSignals: wanted,
      ringBuffers: this.rings.size,
      bufferedSamples: buffered,
      samplesIngested: c.samplesIngested,
      samplesIgnored: c.samplesIgnored,
      samplesDecimated: decimated,
      evaluations: c.evaluations,
      triggers: c.triggers,
      triggersBlocked: c.triggersBlocked,
      batches: c.batches,
      emptyCollections: c.emptyCollections,
      samplesCollected: c.samplesCollected,
    };
  }

  // ---------------------------------------------------------------- EvalContext backing

  /**
   * The latest value of a manifest signal (undefined before its first sample). Public: upload
   * conditions of data partitions (batches/partitions.ts) evaluate against it. No allocation.
   */
  latestValue(id: number): ExprValue {
    if (this.seq[id] === 0) return undefined;
    const k = this.kind[id];
    if (k === K_NUM || k === K_INT64) return this.latest[id];
    if (k === K_BOOL) return this.latest[id] !== 0;
    return this.latestRaw[id] as string;
  }

  /** @internal */
  seqOf(id: number): number {
    return this.seq[id];
  }

  /**
   * A fixed-window statistic of a signal some campaign declared a window for (undefined when no
   * window is kept or it has not closed yet). Public, for partition upload conditions.
   */
  windowValue(id: number, fn: WindowFn): number | undefined {
    const w = this.windowBySignal[id];
    return w === undefined ? undefined : w.get(fn);
  }

  // ---------------------------------------------------------------- internals

  private build(c: Campaign): Runtime {
    const names = this.signals.map((s) => s.name);
    const collect: CollectSpec[] = [];
    const seen = new Set<number>();
    c.signalsToCollect.forEach((s, i) => {
      const matched = expandSignalPattern(s.name, names);
      if (matched.length === 0) {
        const alt = s.name.includes('*') ? [] : closestNames(s.name, names);
        const hint = alt.length > 0 ? ` (did you mean ${alt.map((a) => `'${a}'`).join(', ')}?)` : '';
        throw new EdgewiseError(
          'CAMPAIGN_INVALID',
          `campaign '${c.name}': signalsToCollect[${i}].name '${s.name}' matches no signal of the decoder manifest${hint}`,
          { path: `signalsToCollect[${i}].name`, reason: 'unknown signal', campaign: c.name },
        );
      }
      for (const m of matched) {
        const id = this.byName.get(m)!;
        if (seen.has(id)) continue;
        seen.add(id);
        collect.push({
          signalId: id,
          name: m,
          type: this.signals[id].type,
          partitionId: s.dataPartitionId ?? DEFAULT_PARTITION_ID,
          maxSamples: s.maxSampleCount ?? DEFAULT_MAX_SAMPLE_COUNT,
          intervalMs: s.minimumSamplingIntervalMs ?? 0,
          ring: null,
        });
      }
    });
    const cb = c.collectionScheme.conditionBasedCollectionScheme;
    let expr: CompiledExpression | null = null;
    if (cb) {
      expr = compileCondition(cb.expression, {
        resolveSignal: (n) => this.byName.get(n),
        suggestSignals: (n) => closestNames(n, names),
        functions: this.functions,
      });
    }
    return new Runtime(c, expr, collect, this, Number.isFinite(this.nowMs) ? this.nowMs : NaN);
  }

  private inheritFrom(old: Runtime, rt: Runtime): Inherited {
    const watermarks = new Map<number, number>();
    old.collect.forEach((s, i) => watermarks.set(s.signalId, old.watermarks[i]));
    const oldCb = old.campaign.collectionScheme.conditionBasedCollectionScheme;
    const newCb = rt.campaign.collectionScheme.conditionBasedCollectionScheme;
    return {
      watermarks,
      dtcWatermark: old.dtcWatermark,
      lastTriggerMs: old.lastTriggerMs,
      wasTrue: oldCb !== undefined && newCb !== undefined && oldCb.expression === newCb.expression && old.wasTrue,
      activeSinceMs: old.activeSinceMs,
      nextTickMs: old.isTime && rt.isTime && old.periodMs === rt.periodMs ? old.nextTickMs : Infinity,
    };
  }

  /** A campaign leaves (removed / replaced): complete its pending collection, free its state. */
  private finish(rt: Runtime): void {
    this.completePending(rt, this.nowMs);
    rt.expr?.dispose();
  }

  private completePending(rt: Runtime, atMs: number): void {
    if (!rt.pending) return;
    rt.pending = false;
    const at = Math.min(rt.pendingDeadlineMs, Number.isFinite(atMs) ? atMs : rt.pendingDeadlineMs);
    this.collect(rt, rt.pendingTriggerMs, at, rt.pendingNames);
  }

  /**
   * Recomputes the derived tables after any campaign change: ring buffers (kept when their key
   * is still used), windows, wanted signals, condition users.
   */
  private rebuild(): void {
    const n = this.signals.length;
    const ringCap = new Map<string, { signalId: number; intervalMs: number; cap: number }>();
    const windowSignals = new Set<number>();
    for (const rt of this.runtimes.values()) {
      if (rt.state === 'expired') continue;
      for (const s of rt.collect) {
        const key = `${s.signalId}:${s.intervalMs}`;
        const e = ringCap.get(key);
        if (e) e.cap = Math.max(e.cap, s.maxSamples);
        else ringCap.set(key, { signalId: s.signalId, intervalMs: s.intervalMs, cap: s.maxSamples });
      }
      if (rt.expr) for (const id of rt.expr.windowSignals) windowSignals.add(id);
    }
    for (const [key, ring] of this.rings) {
      if (!ringCap.has(key)) {
        this.counters.decimatedGone += ring.decimated;
        this.rings.delete(key);
      }
    }
    for (const [key, e] of ringCap) {
      const ring = this.rings.get(key);
      if (ring) ring.setCapacity(e.cap);
      else this.rings.set(key, new SampleRing(e.signalId, e.intervalMs, e.cap, this.kind[e.signalId] >= K_STRING));
    }
    for (const id of [...this.windows.keys()]) if (!windowSignals.has(id)) this.windows.delete(id);
    for (const id of windowSignals) if (!this.windows.has(id)) this.windows.set(id, new WindowState(id, this.windowMs));

    this.ringsBySignal = Array.from({ length: n }, () => []);
    for (const ring of this.rings.values()) this.ringsBySignal[ring.signalId].push(ring);
    this.windowBySignal = new Array<WindowState | undefined>(n).fill(undefined);
    for (const w of this.windows.values()) this.windowBySignal[w.signalId] = w;

    this.wanted.fill(0);
    this.conditionInput.fill(0);
    this.conditionUsers = Array.from({ length: n }, () => []);
    this.windowUsers = Array.from({ length: n }, () => []);
    this.volatile = [];
    for (const rt of this.runtimes.values()) {
      for (const s of rt.collect) s.ring = this.rings.get(`${s.signalId}:${s.intervalMs}`) ?? null;
      if (rt.status() !== 'active') continue;
      for (const s of rt.collect) this.wanted[s.signalId] = 1;
      for (const id of rt.expr?.referencedSignals ?? []) {
        this.wanted[id] = 1;
        this.conditionInput[id] = 1;
        this.conditionUsers[id].push(rt);
      }
      for (const id of rt.expr?.windowSignals ?? []) {
        this.wanted[id] = 1;
        this.windowUsers[id].push(rt);
      }
      if (rt.expr?.volatile) this.volatile.push(rt);
    }
    // Signals that stopped being inputs must not stay queued.
    let k = 0;
    for (let i = 0; i < this.nDirty; i++) {
      const id = this.dirtyList[i];
      if (this.conditionInput[id] === 1) this.dirtyList[k++] = id;
      else this.sigDirty[id] = 0;
    }
    this.nDirty = k;
    let nextWindow = Infinity;
    for (const w of this.windows.values()) if (w.endMs < nextWindow) nextWindow = w.endMs;
    this.nextWindowMs = nextWindow;
    if (nextWindow < this.nextTimedMs) this.nextTimedMs = nextWindow;
  }

  /** Handles everything due at `nowMs`: windows, start/expiry, ticks, post-trigger deadlines. */
  private processTimed(): void {
    const now = this.nowMs;
    let changed = false;

    let nextWindow = Infinity;
    for (const w of this.windows.values()) {
      if (w.roll(now)) this.queueWindowUsers(w.signalId);
      if (w.endMs < nextWindow) nextWindow = w.endMs;
    }
    this.nextWindowMs = nextWindow;

    for (const rt of this.runtimes.values()) {
      if (rt.state === 'expired') continue;
      if (rt.addedMs !== rt.addedMs) rt.addedMs = now;
      const c = rt.campaign;
      // Post-trigger collections due (before expiry and ticks, so a due batch frees the campaign).
      if (rt.pending && now >= rt.pendingDeadlineMs) this.completePending(rt, rt.pendingDeadlineMs);
      if (now >= c.expiryTime) {
        this.completePending(rt, c.expiryTime);
        rt.state = 'expired';
        rt.expr?.dispose();
        changed = true;
        continue;
      }
      if (!rt.enabled) continue;
      if (rt.state === 'waiting' && now >= c.startTime) {
        this.activate(rt);
        changed = true;
      }
      if (rt.state === 'active' && rt.isTime) {
        if (now >= rt.nextTickMs) {
          const tick = rt.nextTickMs;
          rt.nextTickMs = tick + rt.periodMs * (Math.floor((now - tick) / rt.periodMs) + 1);
          if (rt.pending) this.counters.triggersBlocked++;
          else this.trigger(rt, tick);
        }
      }
    }
    if (changed) this.rebuild();

    let next = this.nextWindowMs;
    for (const rt of this.runtimes.values()) {
      if (rt.state === 'expired') continue;
      const c = rt.campaign;
      if (rt.pending && rt.pendingDeadlineMs < next) next = rt.pendingDeadlineMs;
      if (c.expiryTime < next) next = c.expiryTime;
      if (!rt.enabled) continue;
      if (rt.state === 'waiting' && c.startTime < next) next = c.startTime;
      if (rt.state === 'active' && rt.isTime && rt.nextTickMs < next) next = rt.nextTickMs;
    }
    this.nextTimedMs = next;
  }

  private activate(rt: Runtime): void {
    rt.state = 'active';
    const inh = rt.inherited;
    rt.inherited = null;
    rt.activeSinceMs = inh ? inh.activeSinceMs : Math.max(rt.campaign.startTime, rt.addedMs);
    rt.collect.forEach((s, i) => {
      const w = inh?.watermarks.get(s.signalId);
      rt.watermarks[i] = w !== undefined ? w : this.seq[s.signalId];
    });
    rt.dtcWatermark = inh ? inh.dtcWatermark : this.dtcSeq;
    rt.lastTriggerMs = inh ? inh.lastTriggerMs : -Infinity;
    rt.wasTrue = inh ? inh.wasTrue : false;
    rt.pending = false;
    if (rt.isTime) {
      rt.nextTickMs = inh && inh.nextTickMs !== Infinity ? inh.nextTickMs : rt.activeSinceMs + rt.periodMs;
    }
    if (rt.expr && !rt.dirty) {
      // Evaluate once at activation (its inputs may already hold values).
      rt.dirty = true;
      this.evalQueue.push(rt);
    }
  }

  /** Completed windows of `id` changed: its window readers evaluate at the next advance. */
  private queueWindowUsers(id: number): void {
    const users = this.windowUsers[id];
    for (let j = 0; j < users.length; j++) {
      const rt = users[j];
      if (!rt.dirty) {
        rt.dirty = true;
        this.evalQueue.push(rt);
      }
    }
  }

  private evaluateDirty(): void {
    const q = this.evalQueue;
    for (let i = 0; i < this.nDirty; i++) {
      const id = this.dirtyList[i];
      this.sigDirty[id] = 0;
      const users = this.conditionUsers[id];
      for (let j = 0; j < users.length; j++) {
        const rt = users[j];
        if (!rt.dirty) {
          rt.dirty = true;
          q.push(rt);
        }
      }
    }
    this.nDirty = 0;
    for (let j = 0; j < this.volatile.length; j++) {
      const rt = this.volatile[j];
      if (!rt.dirty) {
        rt.dirty = true;
        q.push(rt);
      }
    }
    for (let i = 0; i < q.length; i++) {
      const rt = q[i];
      rt.dirty = false;
      if (rt.status() === 'active') this.evaluate(rt);
    }
    q.length = 0;
  }

  /**
   * One evaluation and the trigger decision (FleetWise): the condition must hold, the cooldown
   * `minimumTriggerIntervalMs` must have passed and no collection may be pending; RISING_EDGE
   * also needs the previous observed value to be false. The "was true" flag is cleared whenever
   * the condition is false but only set when a trigger was possible, so a rising edge that happens
   * during the cooldown fires at the first evaluation after it if the condition still holds.
   */
  private evaluate(rt: Runtime): void {
    const now = this.nowMs;
    rt.timeMs = now;
    rt.names.length = 0;
    this.counters.evaluations++;
    const v = isTrue(rt.expr!.evaluate(rt));
    if (!v) {
      rt.wasTrue = false;
      return;
    }
    if (rt.pending || now < rt.lastTriggerMs + rt.minIntervalMs) {
      this.counters.triggersBlocked++;
      return;
    }
    if (rt.rising && rt.wasTrue) return;
    rt.wasTrue = true;
    this.trigger(rt, now);
  }

  private trigger(rt: Runtime, atMs: number): void {
    rt.lastTriggerMs = atMs;
    this.counters.triggers++;
    const names = rt.names.length > 0 ? rt.names.slice() : [];
    if (this.onTrigger) {
      try {
        this.onTrigger({ campaign: rt.name, timeMs: atMs, triggeredBy: names });
      } catch (e) {
        this.handlerError ??= e;
      }
    }
    if (rt.durationMs <= 0) {
      this.collect(rt, atMs, atMs, names);
      return;
    }
    rt.pending = true;
    rt.pendingTriggerMs = atMs;
    rt.pendingDeadlineMs = atMs + rt.durationMs;
    rt.pendingNames = names;
    if (rt.pendingDeadlineMs < this.nextTimedMs) this.nextTimedMs = rt.pendingDeadlineMs;
  }

  /**
   * Builds and emits the batch of one collection event: per collected signal the newest samples
   * with time <= `collectMs` not yet sent by this campaign (at most maxSampleCount, oldest first),
   * plus the active DTCs when asked for and not yet sent. Empty batches are not emitted.
   */
  private collect(rt: Runtime, triggerMs: number, collectMs: number, names: string[]): void {
    const signals: CollectedSignal[] = [];
    let total = 0;
    rt.collect.forEach((s, idx) => {
      const ring = s.ring;
      if (ring === null || ring.count === 0) return;
      const wm = rt.watermarks[idx];
      let k = 0;
      // Skip samples newer than the collection time (ingested before this advance).
      while (k < ring.count && ring.times[ring.slot(k)] > collectMs) k++;
      if (k === ring.count) return;
      // Nothing newer than collectMs kept back: samples the ring dropped by decimation count as
      // handled too (so isNull turns true after the collection).
      const newestSeq = k === 0 ? Math.max(this.seq[s.signalId], ring.seqs[ring.slot(0)]) : ring.seqs[ring.slot(k)];
      if (newestSeq <= wm) return;
      rt.watermarks[idx] = newestSeq;
      if (ring.seqs[ring.slot(k)] <= wm) return;
      let n = 0;
      while (k + n < ring.count && n < s.maxSamples && ring.seqs[ring.slot(k + n)] > wm) n++;
      const timesMs = new Array<number>(n);
      const values = new Array<SignalValue>(n);
      const kind = this.kind[s.signalId];
      for (let j = 0; j < n; j++) {
        const slot = ring.slot(k + n - 1 - j);
        timesMs[j] = ring.times[slot];
        values[j] = ring.nums !== null ? (kind === K_BOOL ? ring.nums[slot] !== 0 : ring.nums[slot]) : ring.raws![slot];
      }
      total += n;
      signals.push({ name: s.name, type: s.type, partitionId: s.partitionId, timesMs, values });
    });
    const dtcs: DtcSnapshot[] = [];
    if (
      rt.campaign.diagnosticsMode === 'SEND_ACTIVE_DTCS' &&
      this.latestDtcs !== null &&
      this.dtcSeq > rt.dtcWatermark &&
      this.latestDtcs.timeMs <= collectMs
    ) {
      dtcs.push({ timeMs: this.latestDtcs.timeMs, codes: this.latestDtcs.codes.slice() });
      rt.dtcWatermark = this.dtcSeq;
    }
    if (rt.expr?.usesIsNull && rt.status() === 'active') {
      // isNull changed for the collected signals: let the edge detector see it (never triggers here).
      rt.timeMs = this.nowMs;
      rt.names.length = 0;
      if (!isTrue(rt.expr.evaluate(rt))) rt.wasTrue = false;
    }
    if (signals.length === 0 && dtcs.length === 0) {
      this.counters.emptyCollections++;
      return;
    }
    this.counters.batches++;
    this.counters.samplesCollected += total;
    const c = rt.campaign;
    this.emit({
      campaign: c.name,
      campaignVersion: c.version ?? 0,
      priority: c.priority ?? 0,
      eventId: this.nextEventId(triggerMs),
      triggerTimeMs: triggerMs,
      compression: c.compression ?? 'OFF',
      spooling: c.spoolingMode ?? 'OFF',
      triggeredBy: names,
      signals,
      dtcs,
    });
  }

  /**
   * Hands a batch over. An exception from the handler must not leave the engine half-way
   * through an update: it is kept and rethrown when the public call returns.
   */
  private emit(batch: CollectedBatch): void {
    try {
      this.onBatch(batch);
    } catch (e) {
      this.handlerError ??= e;
    }
  }

  private rethrowHandlerError(): void {
    if (this.handlerError === undefined) return;
    const e = this.handlerError;
    this.handlerError = undefined;
    throw e;
  }

  /** FleetWise style: 8-bit counter | (trigger ms << 8), most significant bit cleared. */
  private nextEventId(triggerMs: number): number {
    const counter = this.eventCounter;
    this.eventCounter = (counter + 1) & 0xff;
    return (((Math.floor(triggerMs) & 0x7fffff) << 8) | counter) >>> 0;
  }
}
