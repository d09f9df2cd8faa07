/**
 * Data partitions of campaigns (FleetWise store-and-forward): per-partition storage caps and TTL
 * for the store, and upload conditions that gate the uploader (a partition's stored data is
 * uploaded only while its expression is true).
 */
import {
  compileCondition,
  isTrue,
  type Campaign,
  type CampaignEngine,
  type CompiledExpression,
  type EvalContext,
  type ExprValue,
  type WindowFn,
} from '../campaigns/index.js';
import { partitionKey, type CollectedBatch, type CollectedSignal, type PartitionLimits } from '../types.js';

const MB = 1000 * 1000;
const SIZE_UNIT: Record<string, number> = { MB, GB: 1000 * MB, TB: 1000 * 1000 * MB };
const HOUR = 3600 * 1000;
const TTL_UNIT: Record<string, number> = { HOURS: HOUR, DAYS: 24 * HOUR, WEEKS: 7 * 24 * HOUR };

/** Store limits for every partition of every campaign. */
export function partitionLimits(campaigns: readonly Campaign[]): Record<string, PartitionLimits> {
  const out: Record<string, PartitionLimits> = {};
  for (const c of campaigns) {
    for (const p of c.dataPartitions ?? []) {
      const s = p.storageOptions;
      out[partitionKey(c.name, p.id)] = {
        maxBytes: s.maximumSize.value * (SIZE_UNIT[s.maximumSize.unit] ?? MB),
        ttlMs: s.minimumTimeToLive.value * (TTL_UNIT[s.minimumTimeToLive.unit] ?? HOUR),
      };
    }
  }
  return out;
}

/** An EvalContext that reads the engine's latest values (upload conditions have no "already sent" notion). */
class EngineView implements EvalContext {
  timeMs = 0;
  constructor(private readonly engine: CampaignEngine) {}
  signalValue(id: number): ExprValue {
    return this.engine.latestValue(id);
  }
  isNull(id: number): boolean {
    return this.engine.latestValue(id) === undefined;
  }
  windowValue(id: number, fn: WindowFn): number | undefined {
    return this.engine.windowValue(id, fn);
  }
  reportTrigger(): void {
    /* not meaningful for upload conditions */
  }
}

interface Gate {
  key: string;
  expr: CompiledExpression;
  open: boolean;
}

export class PartitionGates {
  private gates = new Map<string, Gate>();
  private readonly view: EngineView;
  private lastEval = -Infinity;

  constructor(
    private readonly engine: CampaignEngine,
    private readonly onOpen: () => void,
    private readonly intervalMs = 1000,
  ) {
    this.view = new EngineView(engine);
  }

  /** Recompile the gates for the current campaign set (expressions were validated before). */
  set(campaigns: readonly Campaign[]): void {
    for (const g of this.gates.values()) g.expr.dispose();
    this.gates.clear();
    for (const c of campaigns) {
      for (const p of c.dataPartitions ?? []) {
        if (!p.uploadOptions) continue;
        const expr = compileCondition(p.uploadOptions.expression, {
          resolveSignal: (name) => this.engine.signalId(name),
        });
        const key = partitionKey(c.name, p.id);
        this.gates.set(key, { key, expr, open: false });
      }
    }
    this.lastEval = -Infinity;
  }

  /** Re-evaluate at most every `intervalMs` of sample time; wakes the uploader when a gate opens. */
  tick(timeMs: number): void {
    if (this.gates.size === 0 || timeMs - this.lastEval < this.intervalMs) return;
    this.lastEval = timeMs;
    this.view.timeMs = timeMs;
    let opened = false;
    for (const g of this.gates.values()) {
      let open = false;
      try {
        open = isTrue(g.expr.evaluate(this.view));
      } catch {
        open = false;
      }
      if (open && !g.open) opened = true;
      g.open = open;
    }
    if (opened) this.onOpen();
  }

  /** Partitions without an upload condition are always open. */
  accepts(campaign: string, partitionId: string): boolean {
    const g = this.gates.get(partitionKey(campaign, partitionId));
    return g === undefined || g.open;
  }

  state(): Record<string, boolean> {
    return Object.fromEntries([...this.gates.values()].map((g) => [g.key, g.open]));
  }
}

/**
 * The parts of a batch the store keeps: one per data partition its signals belong to (each has
 * its own cap, TTL and upload condition). DTCs travel with the first part; a batch without
 * signals is one part of the `default` partition.
 */
export function splitByPartition(batch: CollectedBatch): { partitionId: string; batch: CollectedBatch; samples: number }[] {
  const byPartition = new Map<string, CollectedSignal[]>();
  for (const s of batch.signals) {
    const list = byPartition.get(s.partitionId);
    if (list) list.push(s);
    else byPartition.set(s.partitionId, [s]);
  }
  if (byPartition.size === 0) byPartition.set('default', []);
  const out: { partitionId: string; batch: CollectedBatch; samples: number }[] = [];
  for (const [partitionId, signals] of byPartition) {
    out.push({
      partitionId,
      batch: { ...batch, signals, dtcs: out.length === 0 ? batch.dtcs : [] },
      samples: signals.reduce((n, s) => n + s.values.length, 0),
    });
  }
  return out;
}
