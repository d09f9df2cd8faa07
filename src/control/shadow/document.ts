/**
 * Shadow document shapes: the `desired.settings` patch (validated with zod) and the compact
 * `reported` document built from `AgentStatus`, plus JSON merge-patch helpers.
 */
import * as z from 'zod';
import type { AgentStatus, DeepPartial, RuntimeSettings } from '../agent.js';

/** desired.settings: any subset of RuntimeSettings; unknown keys are errors (typos must not be silently ignored). */
export const SettingsPatchSchema = z.strictObject({
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).optional(),
  upload: z
    .strictObject({
      maxPublishesPerSecond: z.number().positive().max(100).optional(),
      maxBytesPerSecond: z.number().int().positive().max(512 * 1024).optional(),
      enabled: z.boolean().optional(),
    })
    .optional(),
  store: z.strictObject({ maxBytes: z.number().int().min(1024 * 1024).max(1024 ** 4).optional() }).optional(),
  campaigns: z
    .record(z.string().min(1).max(128), z.strictObject({ enabled: z.boolean().optional() }))
    .refine((r) => Object.keys(r).length <= 100, 'at most 100 campaigns')
    .optional(),
});

export type SettingsPatch = DeepPartial<RuntimeSettings>;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** True when every leaf of `patch` equals the same leaf in `full` (the patch would change nothing). */
export function isSubset(patch: unknown, full: unknown): boolean {
  if (isPlainObject(patch)) {
    if (!isPlainObject(full)) return false;
    return Object.entries(patch).every(([k, v]) => v === undefined || isSubset(v, full[k]));
  }
  return deepEqual(patch, full);
}

/**
 * The shadow update that turns `prev` into `next` under shadow merge rules: objects merge (removed
 * keys are sent as null), arrays and values are replaced whole. Undefined when nothing changed.
 */
export function mergePatch(prev: unknown, next: unknown): Json | undefined {
  if (isPlainObject(next) && isPlainObject(prev)) {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(next)) {
      if (v === undefined) continue;
      const p = mergePatch(prev[k], v);
      if (p !== undefined) out[k] = p;
    }
    for (const k of Object.keys(prev)) if ((!(k in next) || next[k] === undefined) && prev[k] !== null) out[k] = null;
    return Object.keys(out).length ? out : undefined;
  }
  // the shadow deletes keys set to null, so null and absent are the same state
  if (deepEqual(prev, next) || (next === null && prev === undefined)) return undefined;
  return JSON.parse(JSON.stringify(next ?? null)) as Json;
}

export interface ReportedDocument {
  agent: { version: string; configHash: string; startedAt: string; vehicle: string; pid: number };
  campaigns: { name: string; version: number; state: string }[];
  sources: { name: string; kind: string; state: string; fps: number; errors: number; dropped?: number }[];
  store: { bytes: number; maxBytes: number; batches: number; oldestAgeSeconds: number | null; evictions: number };
  connectivity: { state: string; lastConnect: string | null; reconnects: number };
  settings: RuntimeSettings;
  lastOta: AgentStatus['lastOta'];
  truncated?: { campaigns: number; sources: number };
}

/** Compact reported state from a status snapshot, shrunk (list entries dropped) to fit `maxBytes`. */
export function buildReported(st: AgentStatus, lastOta: AgentStatus['lastOta'], maxBytes = 7000): ReportedDocument {
  const doc: ReportedDocument = {
    agent: { version: st.agent.version, configHash: st.agent.configHash, startedAt: st.agent.startedAt, vehicle: st.agent.vehicle, pid: st.agent.pid },
    campaigns: st.campaigns.map((c) => ({ name: c.name, version: c.version, state: c.state })),
    sources: st.sources.map((s) => ({
      name: s.name,
      kind: s.kind,
      state: s.state,
      fps: Math.round(s.framesPerSecond * 10) / 10,
      errors: s.errors,
      ...(s.dropped !== undefined ? { dropped: s.dropped } : {}),
    })),
    store: { bytes: st.store.bytes, maxBytes: st.store.maxBytes, batches: st.store.batches, oldestAgeSeconds: st.store.oldestAgeSeconds, evictions: st.store.evictions },
    connectivity: { state: st.upload.state, lastConnect: st.upload.lastConnect, reconnects: st.upload.reconnects },
    settings: st.settings,
    lastOta: st.lastOta ?? lastOta ?? null,
  };
  let dropped = { campaigns: 0, sources: 0 };
  while (Buffer.byteLength(JSON.stringify(doc)) > maxBytes && (doc.campaigns.length || doc.sources.length)) {
    if (doc.campaigns.length >= doc.sources.length) {
      doc.campaigns.pop();
      dropped.campaigns++;
    } else {
      doc.sources.pop();
      dropped.sources++;
    }
    doc.truncated = dropped;
  }
  dropped = doc.truncated ?? dropped;
  return doc;
}

/** The parts whose change triggers an immediate update (rates and counters wait for the periodic one). */
export function significant(doc: ReportedDocument): unknown {
  return {
    agent: doc.agent,
    campaigns: doc.campaigns,
    sources: doc.sources.map((s) => [s.name, s.state]),
    settings: doc.settings,
    lastOta: doc.lastOta,
    connectivity: doc.connectivity.state,
  };
}
