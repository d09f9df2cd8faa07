/**
 * The device side of AWS IoT Jobs over MQTT (request/response through the SDK's IotJobsClientv2 on
 * the shared MQTT 5 client):
 *
 * - StartNextPendingJobExecution on every (re)connect and on every NextJobExecutionChanged
 *   (notify-next); one job at a time, duplicates of the running job are ignored.
 * - Document validated with zod: invalid -> REJECTED with the reason.
 * - Progress as IN_PROGRESS + statusDetails (+ stepTimeoutInMinutes for long phases); every update
 *   carries expectedVersion; VersionMismatch adopts the service's versionNumber (from the rejection
 *   or a DescribeJobExecution) and retries.
 * - InvalidStateTransition / TerminalStateReached / ResourceNotFound, or the job vanishing from
 *   JobExecutionsChanged (notify), mean the job was canceled/removed/timed out: the handler is
 *   aborted and cleans up.
 * - The running job (and a decided but unreported outcome) is persisted in `<stateDir>/jobs.json`
 *   (atomic write) so a restart resumes or finishes it: start-next returns the IN_PROGRESS execution first.
 * - Terminal updates are retried (throttling, timeouts, disconnects) until accepted or the job is gone.
 */
import path from 'node:path';
// The SDK's Jobs module alone (its index loads every service client; see upload/connection.ts).
import * as iotjobs from 'aws-iot-device-sdk-v2/dist/iotjobs/iotjobs.js';
import * as z from 'zod';
import { isEdgewiseError } from '../../errors.js';
import { VERSION } from '../../version.js';
import type { AgentControl, CampaignChange } from '../agent.js';
import { DownloadError, fetchVerified, type HttpsOptions } from '../download.js';
import { atomicWriteJson, readJsonFile } from '../../files.js';
import { ConnectionWatch, sleep } from '../link.js';
import { errorMessage } from '../log.js';
import { silentLogger, type Logger } from '../../log.js';
import type { OtaUpdater } from '../ota/updater.js';
import { parseJobDocument, type CampaignDeployDoc, type JobDocument, type UploadDoc } from './documents.js';

export type TerminalStatus = 'SUCCEEDED' | 'FAILED' | 'REJECTED';

export interface JobOutcome {
  status: TerminalStatus | 'CANCELED' | 'RESTARTING';
  reason: string;
  details?: Record<string, string>;
}

export interface JobsRunnerOptions {
  thing: string;
  watch: ConnectionWatch;
  agent: AgentControl;
  /** Directory for jobs.json. */
  stateDir: string;
  ota?: OtaUpdater;
  /** Extra CA for campaign documents fetched by URL. */
  httpsCa?: HttpsOptions['ca'];
  /** Request timeout for the SDK request/response client (default 30 s). */
  operationTimeoutSeconds?: number;
  /** First retry delay for throttled/failed updates (default 1 s, doubling up to 60 s). */
  retryBaseMs?: number;
  logger?: Logger;
  /** Called after a job reached a terminal state (the control plane refreshes the shadow). */
  onJobFinished?: (jobId: string, outcome: JobOutcome) => void;
}

const PersistedSchema = z.object({
  current: z
    .object({
      jobId: z.string(),
      executionNumber: z.number().optional(),
      versionNumber: z.number().optional(),
      operation: z.string().optional(),
      startedAt: z.string(),
      outcome: z.object({ status: z.enum(['SUCCEEDED', 'FAILED', 'REJECTED']), reason: z.string(), details: z.record(z.string(), z.string()).optional() }).optional(),
    })
    .nullable()
    .default(null),
  done: z.array(z.object({ jobId: z.string(), executionNumber: z.number().optional(), status: z.string(), reason: z.string() })).default([]),
});
type Persisted = z.infer<typeof PersistedSchema>;

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'REJECTED', 'CANCELED', 'TIMED_OUT', 'REMOVED']);
const GONE_CODES = new Set(['InvalidStateTransition', 'TerminalStateReached', 'ResourceNotFound']);

/** statusDetails limits: ≤10 pairs, keys and values 1..128 characters. */
export function sanitizeDetails(d: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(d).slice(0, 10)) {
    const key = k.slice(0, 128);
    const val = String(v);
    if (!key || !val) continue;
    out[key] = val.length > 128 ? `${val.slice(0, 125)}...` : val;
  }
  return out;
}

function modeled(err: unknown): { code?: string; message?: string; executionState?: { status?: string; versionNumber?: number } } {
  const m = (err as { modeledError?: unknown })?.modeledError;
  return m && typeof m === 'object' ? (m as never) : {};
}

class JobGone extends Error {}

export class JobsRunner {
  private readonly o: JobsRunnerOptions;
  private readonly log: Logger;
  private readonly file: string;
  private client: iotjobs.IotJobsClientv2 | undefined;
  private streams: { close(): void }[] = [];
  private persisted: Persisted;
  private busy = false;
  private again = false;
  private stopped = true;
  private active: { jobId: string; controller: AbortController } | undefined;
  private version: number | undefined;
  private executionNumber: number | undefined;
  private restarting = false;
  private subscribedNext = false;
  private subscribedChanged = false;
  private readonly life = new AbortController();
  private onConnected = (): void => {
    this.pump('connected');
    if (this.active) void this.checkActiveStillThere();
  };
  /** Jobs this process ran (for tests and status): jobId -> number of handler executions. */
  readonly executions = new Map<string, number>();

  constructor(opts: JobsRunnerOptions) {
    this.o = opts;
    this.log = opts.logger ?? silentLogger;
    this.file = path.join(opts.stateDir, 'jobs.json');
    const r = PersistedSchema.safeParse(readJsonFile(this.file) ?? {});
    this.persisted = r.success ? r.data : { current: null, done: [] };
  }

  /** True once the notify-next and notify subscriptions are established. */
  get subscribed(): boolean {
    return this.subscribedNext && this.subscribedChanged;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.client = iotjobs.IotJobsClientv2.newFromMqtt5(this.o.watch.client, {
      maxRequestResponseSubscriptions: 6,
      maxStreamingSubscriptions: 2,
      operationTimeoutInSeconds: this.o.operationTimeoutSeconds ?? 30,
    });
    const next = this.client.createNextJobExecutionChangedStream({ thingName: this.o.thing });
    next.on('subscriptionStatus', (e) => {
      this.subscribedNext = e.type === 0;
      if (e.type === 0) this.pump('notify-next subscribed');
    });
    next.on('incomingPublish', (e) => {
      const ex = e.message.execution;
      this.log.debug({ jobId: ex?.jobId }, 'notify-next');
      if (ex && this.active?.jobId === ex.jobId) return; // duplicate of what we are running
      this.pump('notify-next');
    });
    next.on('incomingPublishError', (e) => this.log.warn({ err: errorMessage(e.error) }, 'unreadable notify-next'));
    const changed = this.client.createJobExecutionsChangedStream({ thingName: this.o.thing });
    changed.on('subscriptionStatus', (e) => {
      this.subscribedChanged = e.type === 0;
    });
    changed.on('incomingPublish', (e) => {
      const a = this.active;
      if (!a) return;
      const jobs = e.message.jobs ?? {};
      const listed = Object.values(jobs).some((list) => (list ?? []).some((j) => j.jobId === a.jobId));
      if (!listed) {
        this.log.warn({ jobId: a.jobId }, 'job no longer pending (canceled or removed): aborting it');
        a.controller.abort();
      }
    });
    next.open();
    changed.open();
    this.streams = [next, changed];
    this.o.watch.on('connected', this.onConnected);
    if (this.o.watch.connected) this.pump('start');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.life.abort();
    this.active?.controller.abort();
    this.o.watch.removeListener('connected', this.onConnected);
    for (const s of this.streams) s.close();
    this.streams = [];
    // let an in-flight request settle before freeing the native client
    for (let i = 0; i < 50 && this.busy; i++) await new Promise((r) => setTimeout(r, 20));
    this.client?.close();
    this.client = undefined;
    this.subscribedNext = this.subscribedChanged = false;
  }

  private save(): void {
    atomicWriteJson(this.file, this.persisted);
  }

  /** Ask for the next job (coalesced: at most one round in flight, one queued). */
  pump(why: string): void {
    if (this.stopped || this.restarting) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    void this.loop(why).finally(() => {
      this.busy = false;
      if (this.again && !this.stopped) {
        this.again = false;
        this.pump('again');
      }
    });
  }

  private async loop(why: string): Promise<void> {
    let failures = 0;
    while (!this.stopped && !this.restarting) {
      try {
        await this.o.watch.waitConnected(this.life.signal);
        const cur = this.persisted.current;
        if (cur?.outcome) {
          // decided before a restart/disconnect but not yet accepted by the service
          this.version = cur.versionNumber;
          this.executionNumber = cur.executionNumber;
          await this.finish(cur.jobId, cur.outcome);
          continue;
        }
        const res = await this.client!.startNextPendingJobExecution({ thingName: this.o.thing });
        const ex = res.execution;
        if (!ex || !ex.jobId) {
          if (cur) {
            // our job is no longer pending: canceled/removed while we were away
            this.log.warn({ jobId: cur.jobId }, 'persisted job is no longer pending; forgetting it');
            this.persisted.current = null;
            this.save();
          }
          return;
        }
        failures = 0;
        const prior = this.persisted.done.find((d) => d.jobId === ex.jobId && d.executionNumber === ex.executionNumber);
        if (prior) {
          // we finished it but the service still has it in progress: repeat the terminal status
          this.version = ex.versionNumber;
          this.executionNumber = ex.executionNumber;
          await this.finish(ex.jobId, { status: prior.status as TerminalStatus, reason: prior.reason }, false);
          continue;
        }
        await this.execute(ex);
      } catch (err) {
        if (this.stopped) return;
        failures++;
        const m = modeled(err);
        this.log.warn({ err: m.code ?? errorMessage(err), why }, 'jobs: start-next failed; retrying');
        await sleep(Math.min(60_000, (this.o.retryBaseMs ?? 1000) * 2 ** Math.min(failures, 6)), this.life.signal);
      }
    }
  }

  private async execute(ex: iotjobs.model.JobExecutionData): Promise<void> {
    const jobId = ex.jobId!;
    const parsed = parseJobDocument(ex.jobDocument);
    const resumed = this.persisted.current?.jobId === jobId;
    this.version = ex.versionNumber;
    this.executionNumber = ex.executionNumber;
    if (!resumed && this.persisted.current) {
      this.log.warn({ jobId: this.persisted.current.jobId }, 'dropping persisted job: the service offers a different one');
    }
    this.persisted.current = {
      jobId,
      executionNumber: ex.executionNumber,
      versionNumber: ex.versionNumber,
      operation: parsed.ok ? parsed.doc.operation : undefined,
      startedAt: resumed ? this.persisted.current!.startedAt : new Date().toISOString(),
    };
    this.save();
    this.executions.set(jobId, (this.executions.get(jobId) ?? 0) + 1);
    this.log.info({ jobId, operation: parsed.ok ? parsed.doc.operation : undefined, resumed }, resumed ? 'resuming job' : 'starting job');

    let outcome: JobOutcome;
    if (!parsed.ok) {
      outcome = { status: 'REJECTED', reason: parsed.reason };
    } else {
      const controller = new AbortController();
      const onLife = (): void => controller.abort();
      this.life.signal.addEventListener('abort', onLife, { once: true });
      this.active = { jobId, controller };
      try {
        outcome = await this.runHandler(jobId, parsed.doc, controller.signal, resumed);
      } catch (err) {
        outcome = controller.signal.aborted ? { status: 'CANCELED', reason: 'job canceled' } : { status: 'FAILED', reason: errorMessage(err) };
      } finally {
        this.active = undefined;
        this.life.signal.removeEventListener('abort', onLife);
      }
      if (this.stopped) return; // shutting down: the job resumes on the next start
      if (controller.signal.aborted && outcome.status !== 'RESTARTING') outcome = { status: 'CANCELED', reason: 'job canceled' };
    }
    if (outcome.status === 'RESTARTING') {
      // the process is being replaced (OTA switch or rollback): take no further jobs
      this.restarting = true;
      return;
    }
    if (outcome.status === 'CANCELED') {
      this.log.warn({ jobId }, 'job canceled or removed by the service; cleaned up');
      this.persisted.current = null;
      this.save();
      this.o.onJobFinished?.(jobId, outcome);
      return;
    }
    this.persisted.current = { ...this.persisted.current!, outcome: { status: outcome.status, reason: outcome.reason, details: outcome.details } };
    this.save();
    await this.finish(jobId, outcome as JobOutcome & { status: TerminalStatus });
  }

  private async finish(jobId: string, outcome: { status: TerminalStatus; reason: string; details?: Record<string, string> }, record = true): Promise<void> {
    try {
      await this.update(jobId, outcome.status, { reason: outcome.reason, ...(outcome.details ?? {}) }, undefined, true);
      this.log.info({ jobId, status: outcome.status, reason: outcome.reason }, 'job finished');
    } catch (err) {
      if (!(err instanceof JobGone)) throw err;
      this.log.warn({ jobId }, 'job was already terminal at the service (canceled/removed/timed out)');
    }
    if (record) {
      this.persisted.done = [...this.persisted.done.filter((d) => d.jobId !== jobId), { jobId, executionNumber: this.executionNumber, status: outcome.status, reason: outcome.reason }].slice(-20);
    }
    this.persisted.current = null;
    this.save();
    this.o.onJobFinished?.(jobId, { status: outcome.status, reason: outcome.reason, details: outcome.details });
  }

  /**
   * UpdateJobExecution with expectedVersion. Terminal updates retry until accepted (or the job is
   * gone -> JobGone); progress updates give up after a few attempts (returns false).
   */
  async update(jobId: string, status: 'IN_PROGRESS' | TerminalStatus, details: Record<string, string>, stepTimeoutInMinutes?: number, terminal = false): Promise<boolean> {
    let mismatches = 0;
    for (let attempt = 1; ; attempt++) {
      if (this.stopped && !terminal) return false;
      if (this.stopped) throw new Error('stopped');
      try {
        await this.o.watch.waitConnected(this.life.signal);
        const res = await this.client!.updateJobExecution({
          thingName: this.o.thing,
          jobId,
          status: status as iotjobs.model.JobStatus,
          statusDetails: sanitizeDetails(details),
          expectedVersion: this.version,
          executionNumber: this.executionNumber,
          includeJobExecutionState: true,
          stepTimeoutInMinutes,
        });
        this.version = res.executionState?.versionNumber ?? (this.version !== undefined ? this.version + 1 : undefined);
        if (this.persisted.current?.jobId === jobId) this.persisted.current.versionNumber = this.version;
        return true;
      } catch (err) {
        if (this.stopped && !terminal) return false;
        const m = modeled(err);
        if (m.code === 'VersionMismatch' && mismatches++ < 5) {
          let state = m.executionState;
          if (state?.versionNumber === undefined) state = await this.describe(jobId);
          this.log.info({ jobId, expected: this.version, actual: state?.versionNumber }, 'VersionMismatch: adopting the service version');
          if (state?.status && TERMINAL.has(state.status)) throw new JobGone();
          this.version = state?.versionNumber;
          continue;
        }
        if (m.code && GONE_CODES.has(m.code)) throw new JobGone();
        if (m.code && ['InvalidRequest', 'InvalidJson', 'InvalidTopic'].includes(m.code)) {
          this.log.error({ jobId, code: m.code, message: m.message }, 'job update refused by the service');
          if (terminal) throw new JobGone();
          return false;
        }
        if (!terminal && attempt >= 3) {
          this.log.warn({ jobId, err: m.code ?? errorMessage(err) }, 'progress update failed; continuing');
          return false;
        }
        await sleep(Math.min(60_000, (this.o.retryBaseMs ?? 1000) * 2 ** Math.min(attempt - 1, 6)), this.life.signal);
      }
    }
  }

  private async describe(jobId: string): Promise<{ status?: string; versionNumber?: number } | undefined> {
    try {
      const r = await this.client!.describeJobExecution({ thingName: this.o.thing, jobId, includeJobDocument: false });
      return { status: r.execution?.status, versionNumber: r.execution?.versionNumber };
    } catch (err) {
      const m = modeled(err);
      if (m.code && GONE_CODES.has(m.code)) return { status: 'REMOVED' };
      return undefined;
    }
  }

  /** After a reconnect: abort the running job when the service no longer has it in progress. */
  private async checkActiveStillThere(): Promise<void> {
    const a = this.active;
    if (!a) return;
    const st = await this.describe(a.jobId);
    if (st?.status && TERMINAL.has(st.status) && this.active === a) {
      this.log.warn({ jobId: a.jobId, status: st.status }, 'running job ended at the service; aborting it');
      a.controller.abort();
    }
  }

  private async runHandler(jobId: string, doc: JobDocument, signal: AbortSignal, resumed: boolean): Promise<JobOutcome> {
    const progress = async (details: Record<string, string>, step?: number): Promise<void> => {
      try {
        await this.update(jobId, 'IN_PROGRESS', details, step);
      } catch (err) {
        if (err instanceof JobGone) {
          this.active?.controller.abort();
          return;
        }
        throw err;
      }
    };
    const extra: Record<string, string> = resumed ? { resumed: 'true' } : {};
    switch (doc.operation) {
      case 'campaign.deploy':
        return this.deploy(doc, signal, extra);
      case 'upload':
        return this.upload(doc, signal, progress, extra);
      case 'ota':
        if (!this.o.ota) return { status: 'REJECTED', reason: 'OTA is not enabled on this device' };
        return this.o.ota.run(jobId, doc, { signal, progress });
    }
  }

  private async deploy(doc: CampaignDeployDoc, signal: AbortSignal, extra: Record<string, string>): Promise<JobOutcome> {
    const changes: CampaignChange[] = [];
    for (const [i, c] of doc.changes.entries()) {
      if (c.op === 'remove') changes.push({ op: 'remove', name: c.name });
      else if (c.campaign !== undefined) changes.push({ op: 'put', document: c.campaign });
      else {
        let body: Buffer;
        try {
          body = await fetchVerified(c.url!, c.sha256!, 1024 * 1024, { ca: this.o.httpsCa, signal });
        } catch (err) {
          if (signal.aborted) return { status: 'CANCELED', reason: 'job canceled' };
          const permanent = err instanceof DownloadError && err.permanent;
          return { status: permanent ? 'REJECTED' : 'FAILED', reason: `changes[${i}]: ${errorMessage(err)}` };
        }
        let document: unknown;
        try {
          document = JSON.parse(body.toString('utf8'));
        } catch {
          return { status: 'REJECTED', reason: `changes[${i}]: the document at the URL is not JSON` };
        }
        changes.push({ op: 'put', document });
      }
    }
    if (signal.aborted) return { status: 'CANCELED', reason: 'job canceled' };
    try {
      const r = await this.o.agent.deployCampaigns(changes);
      return { status: 'SUCCEEDED', reason: `applied ${r.applied.length} change(s)`, details: { applied: r.applied.join(',') || '-', ...extra } };
    } catch (err) {
      if (isEdgewiseError(err, 'CAMPAIGN_INVALID') || isEdgewiseError(err, 'MANIFEST_INVALID') || isEdgewiseError(err, 'EXPRESSION_SYNTAX') || isEdgewiseError(err, 'EXPRESSION_TYPE')) {
        const p = err.context.path;
        return { status: 'REJECTED', reason: `${p !== undefined ? `${String(p)}: ` : ''}${err.detail}` };
      }
      return { status: 'FAILED', reason: errorMessage(err) };
    }
  }

  private async upload(
    doc: UploadDoc,
    signal: AbortSignal,
    progress: (d: Record<string, string>, step?: number) => Promise<void>,
    extra: Record<string, string>,
  ): Promise<JobOutcome> {
    await progress({ phase: 'uploading', agent: VERSION, ...extra }, 60);
    const work = this.o.agent.forceUpload({
      fromMs: doc.from !== undefined ? Date.parse(doc.from) : undefined,
      toMs: doc.to !== undefined ? Date.parse(doc.to) : undefined,
      partitionId: doc.partition,
      campaign: doc.campaign,
    });
    const aborted = new Promise<'aborted'>((resolve) => {
      if (signal.aborted) resolve('aborted');
      signal.addEventListener('abort', () => resolve('aborted'), { once: true });
    });
    try {
      const r = await Promise.race([work, aborted]);
      if (r === 'aborted') {
        work.catch(() => undefined);
        return { status: 'CANCELED', reason: 'job canceled' };
      }
      return { status: 'SUCCEEDED', reason: `uploaded ${r.batches} batch(es)`, details: { batches: String(r.batches), ...extra } };
    } catch (err) {
      return { status: 'FAILED', reason: errorMessage(err) };
    }
  }
}
