/**
 * A small but real AgentControl for control-plane tests: settings validated and applied atomically,
 * campaigns validated with the real campaign model (parseCampaign) and persisted as files, a
 * list of "stored batches" that forceUpload filters and removes. It is the seam the daemon fills in;
 * the cloud side of the tests is the real protocol over a real broker.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseCampaign } from '../../../src/campaigns/index.js';
import type { AgentControl, AgentStatus, CampaignChange, DeepPartial, RuntimeSettings } from '../../../src/control/agent.js';
import { atomicWriteJson } from '../../../src/files.js';
import { EdgewiseError } from '../../../src/errors.js';

export interface TestBatch {
  timeMs: number;
  partition: string;
  campaign: string;
}

export class TestAgent implements AgentControl {
  settings: RuntimeSettings = {
    logLevel: 'info',
    upload: { maxPublishesPerSecond: 50, maxBytesPerSecond: 256 * 1024, enabled: true },
    store: { maxBytes: 64 * 1024 * 1024 },
    campaigns: {},
  };
  readonly applied: DeepPartial<RuntimeSettings>[] = [];
  readonly deployCalls: CampaignChange[][] = [];
  readonly uploadCalls: Parameters<AgentControl['forceUpload']>[0][] = [];
  batches: TestBatch[] = [];
  uploaded: TestBatch[] = [];
  /** When set, forceUpload waits for it (tests of long or interrupted jobs). */
  uploadGate: Promise<void> | undefined;
  connected = () => true;
  subscribed = () => true;
  version = '1.0.0';

  constructor(readonly campaignsDir: string) {}

  campaigns(): string[] {
    try {
      return readdirSync(this.campaignsDir)
        .filter((n) => n.endsWith('.json'))
        .map((n) => n.slice(0, -5))
        .sort();
    } catch {
      return [];
    }
  }

  status(): AgentStatus {
    return {
      agent: { version: this.version, configHash: 'abcdef0123456789', startedAt: '2026-01-01T00:00:00.000Z', uptimeSeconds: 1, pid: process.pid, vehicle: 'car-1' },
      memory: { rssBytes: 0, heapUsedBytes: 0, externalBytes: 0, periodicGcs: 0 },
      campaigns: this.campaigns().map((name) => ({
        name,
        version: 1,
        state: this.settings.campaigns[name]?.enabled === false ? 'disabled' : 'active',
        triggers: 0,
        batches: 0,
      })),
      sources: [{ name: 'can0', kind: 'socketcan', state: 'running', frames: 100, framesPerSecond: 12.34, errors: 0 }],
      decode: { frames: 100, unknown: 0, errors: 0 },
      store: { bytes: 1000, maxBytes: this.settings.store.maxBytes, batches: this.batches.length, oldestAgeSeconds: null, evictions: 0, movedAside: 0 },
      upload: { enabled: true, state: 'connected', endpoint: 'localhost', lastConnect: null, reconnects: 0, published: 0, acked: 0, failed: 0, inFlight: 0, lastError: null },
      settings: structuredClone(this.settings),
      lastOta: null,
    };
  }

  applySettings(patch: DeepPartial<RuntimeSettings>): RuntimeSettings {
    const next = structuredClone(this.settings);
    if (patch.logLevel) next.logLevel = patch.logLevel;
    Object.assign(next.upload, patch.upload ?? {});
    Object.assign(next.store, patch.store ?? {});
    for (const [name, c] of Object.entries(patch.campaigns ?? {})) {
      if (!this.campaigns().includes(name)) throw new EdgewiseError('CONFIG_INVALID', `unknown campaign ${JSON.stringify(name)}`, { path: ['campaigns', name] });
      next.campaigns[name] = { enabled: c?.enabled ?? true };
    }
    if (next.store.maxBytes < 1024 * 1024) throw new EdgewiseError('CONFIG_INVALID', 'store.maxBytes below 1 MiB');
    this.settings = next;
    this.applied.push(patch);
    return structuredClone(next);
  }

  async deployCampaigns(changes: CampaignChange[]): Promise<{ applied: string[] }> {
    this.deployCalls.push(changes);
    // validate everything first: nothing changes when one fails
    const puts = changes.map((c) => (c.op === 'put' ? parseCampaign(c.document).campaign : undefined));
    const applied: string[] = [];
    changes.forEach((c, i) => {
      if (c.op === 'put') {
        atomicWriteJson(path.join(this.campaignsDir, `${puts[i]!.name}.json`), c.document);
        applied.push(`put:${puts[i]!.name}`);
      } else {
        rmSync(path.join(this.campaignsDir, `${c.name}.json`), { force: true });
        applied.push(`remove:${c.name}`);
      }
    });
    return { applied };
  }

  async forceUpload(opts: { fromMs?: number; toMs?: number; partitionId?: string; campaign?: string }): Promise<{ batches: number }> {
    this.uploadCalls.push(opts);
    if (this.uploadGate) await this.uploadGate;
    const match = (b: TestBatch): boolean =>
      (opts.fromMs === undefined || b.timeMs >= opts.fromMs) &&
      (opts.toMs === undefined || b.timeMs <= opts.toMs) &&
      (opts.partitionId === undefined || b.partition === opts.partitionId) &&
      (opts.campaign === undefined || b.campaign === opts.campaign);
    const picked = this.batches.filter(match);
    this.batches = this.batches.filter((b) => !match(b));
    this.uploaded.push(...picked);
    return { batches: picked.length };
  }

  health(): ReturnType<AgentControl['health']> {
    return { running: true, connected: this.connected(), controlSubscribed: this.subscribed(), dataFlowing: true };
  }

  campaignDocument(name: string): unknown {
    return JSON.parse(readFileSync(path.join(this.campaignsDir, `${name}.json`), 'utf8'));
  }
}
