/**
 * Device shadow sync (classic shadow, or a named one when `shadowName` is set) over the shared
 * MQTT 5 client with the SDK's IotShadowClientv2.
 *
 * reported: a compact status (agent, campaigns, sources, store, connectivity, settings, lastOta,
 *           settingsError) — sent as a merge patch against what the cloud holds, immediately on a
 *           significant change (min spacing `minIntervalMs`) and in full every `periodicMs`.
 * desired:  only `desired.settings` (a subset of RuntimeSettings). Each delta (and the desired state
 *           read by the GET after every (re)connect) is validated as a whole: invalid -> nothing is
 *           applied and `reported.settingsError = {version, reason, at}`; valid -> agent.applySettings,
 *           then the applied values are reported (which clears the delta) and settingsError = null.
 *           Documents with version <= the last one processed are ignored (out-of-order delivery).
 */
// The SDK's Shadow module alone (its index loads every service client; see upload/connection.ts).
import * as iotshadow from 'aws-iot-device-sdk-v2/dist/iotshadow/iotshadow.js';
import type { AgentControl, AgentStatus } from '../agent.js';
import { ConnectionWatch } from '../link.js';
import { errorMessage } from '../log.js';
import { silentLogger, type Logger } from '../../log.js';
import { describeZodError } from '../jobs/documents.js';
import { buildReported, deepEqual, isPlainObject, isSubset, mergePatch, SettingsPatchSchema, significant, type ReportedDocument } from './document.js';

export interface ShadowSyncOptions {
  thing: string;
  /** Named shadow; the classic (unnamed) shadow when absent. */
  shadowName?: string;
  watch: ConnectionWatch;
  agent: AgentControl;
  /** Source of lastOta when the agent status has none (the OTA updater's record). */
  lastOta?: () => AgentStatus['lastOta'];
  /** How often the status is sampled for changes (default 5 s). */
  checkMs?: number;
  /** Minimum spacing between shadow updates (default 1 s; IoT allows 20 req/s per thing). */
  minIntervalMs?: number;
  /** Full refresh period (counters, rates) (default 300 s). */
  periodicMs?: number;
  /** Limit for the reported document (default 7000 bytes; the shadow state limit is 8 KB). */
  maxReportedBytes?: number;
  operationTimeoutSeconds?: number;
  logger?: Logger;
}

export interface SettingsError {
  version: number;
  reason: string;
  at: string;
}

export class ShadowSync {
  private readonly o: ShadowSyncOptions;
  private readonly log: Logger;
  private client: iotshadow.IotShadowClientv2 | undefined;
  private stream: { close(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private deltaSubscribed = false;
  private reconciled = false;
  /** What we believe the cloud holds as reported (from GET, then our accepted updates). */
  private cloudReported: Record<string, unknown> | undefined;
  private lastVersion = -1;
  private lastFull = 0;
  private lastUpdateAt = 0;
  private lastSignificant: unknown;
  private settingsError: SettingsError | null = null;
  private chain: Promise<void> = Promise.resolve();
  private pendingReport = false;
  private onConnected = (): void => {
    this.reconciled = false;
    void this.enqueue(() => this.reconcile());
  };
  private onDisconnected = (): void => {
    this.reconciled = false;
  };
  /** Counters for tests and metrics. */
  readonly stats = { updates: 0, rejected: 0, applied: 0, staleIgnored: 0, errors: 0 };

  constructor(opts: ShadowSyncOptions) {
    this.o = opts;
    this.log = opts.logger ?? silentLogger;
  }

  /** Delta subscription established and the post-connect reconcile done. */
  get subscribed(): boolean {
    return this.deltaSubscribed && this.reconciled;
  }

  get lastSettingsError(): SettingsError | null {
    return this.settingsError;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const o = this.o;
    this.client = iotshadow.IotShadowClientv2.newFromMqtt5(o.watch.client, {
      maxRequestResponseSubscriptions: 4,
      maxStreamingSubscriptions: 1,
      operationTimeoutInSeconds: o.operationTimeoutSeconds ?? 30,
    });
    const stream = o.shadowName
      ? this.client.createNamedShadowDeltaUpdatedStream({ thingName: o.thing, shadowName: o.shadowName })
      : this.client.createShadowDeltaUpdatedStream({ thingName: o.thing });
    stream.on('subscriptionStatus', (e) => {
      this.deltaSubscribed = e.type === 0;
      if (e.type === 0 && o.watch.connected && !this.reconciled) void this.enqueue(() => this.reconcile());
    });
    stream.on('incomingPublish', (e) => {
      const ev = e.message;
      void this.enqueue(() => this.onDesired(ev.state, ev.version, 'delta'));
    });
    stream.on('incomingPublishError', (e) => this.log.warn({ err: errorMessage(e.error) }, 'unreadable shadow delta'));
    stream.open();
    this.stream = stream;
    o.watch.on('connected', this.onConnected);
    o.watch.on('disconnected', this.onDisconnected);
    // the tick also retries a failed reconcile (e.g. a GET that timed out right after a reconnect)
    this.timer = setInterval(() => void this.enqueue(() => (this.reconciled ? this.report(false) : this.reconcile())), o.checkMs ?? 5000);
    this.timer.unref();
    if (o.watch.connected) void this.enqueue(() => this.reconcile());
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.o.watch.removeListener('connected', this.onConnected);
    this.o.watch.removeListener('disconnected', this.onDisconnected);
    this.stream?.close();
    this.stream = undefined;
    await Promise.race([this.chain, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.client?.close();
    this.client = undefined;
    this.deltaSubscribed = false;
    this.reconciled = false;
  }

  /** Ask for a prompt report (e.g. after a campaign deploy); rate limits still apply. */
  reportSoon(): void {
    if (this.pendingReport) return;
    this.pendingReport = true;
    void this.enqueue(async () => {
      this.pendingReport = false;
      await this.report(false);
    });
  }

  /** Serialize all shadow work: one request in flight, in order. */
  private enqueue(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.stopped) return;
      try {
        await fn();
      } catch (err) {
        this.stats.errors++;
        this.log.warn({ err: errorMessage(err) }, 'shadow operation failed');
      }
    });
    this.chain = next;
    return next;
  }

  private async get(): Promise<iotshadow.model.GetShadowResponse | undefined> {
    const { thing, shadowName } = this.o;
    try {
      return shadowName
        ? await this.client!.getNamedShadow({ thingName: thing, shadowName })
        : await this.client!.getShadow({ thingName: thing });
    } catch (err) {
      const m = (err as { modeledError?: { code?: number } }).modeledError;
      if (m?.code === 404) return undefined; // no shadow yet: our first report creates it
      throw err;
    }
  }

  private async update(state: { reported?: unknown; desired?: unknown }): Promise<iotshadow.model.UpdateShadowResponse> {
    const { thing, shadowName } = this.o;
    this.lastUpdateAt = Date.now();
    this.stats.updates++;
    const s = state as iotshadow.model.ShadowState;
    return shadowName
      ? this.client!.updateNamedShadow({ thingName: thing, shadowName, state: s })
      : this.client!.updateShadow({ thingName: thing, state: s });
  }

  /** After every (re)connect: read the shadow, apply desired, report what differs. */
  private async reconcile(): Promise<void> {
    if (!this.o.watch.connected) return;
    const doc = await this.get();
    this.cloudReported = isPlainObject(doc?.state?.reported) ? (doc!.state!.reported as Record<string, unknown>) : {};
    const desired = doc?.state?.desired;
    if (isPlainObject(desired) && Object.keys(desired).length > 0 && doc?.version !== undefined) {
      await this.onDesired(desired, doc.version, 'get');
    }
    await this.report(true);
    this.reconciled = true;
  }

  private async onDesired(state: unknown, version: number | undefined, source: 'delta' | 'get'): Promise<void> {
    if (version === undefined || !isPlainObject(state)) return;
    if (version <= this.lastVersion) {
      this.stats.staleIgnored++;
      this.log.debug({ version, last: this.lastVersion, source }, 'ignoring stale shadow desired state');
      return;
    }
    this.lastVersion = version;
    const unknownKeys = Object.keys(state).filter((k) => k !== 'settings');
    let reason: string | undefined;
    let patch: unknown;
    if (unknownKeys.length) {
      reason = `unsupported desired key(s) ${unknownKeys.map((k) => JSON.stringify(k)).join(', ')} (only "settings" can be set)`;
    } else if (state.settings !== undefined) {
      const r = SettingsPatchSchema.safeParse(state.settings);
      if (!r.success) reason = `desired.settings invalid: ${describeZodError(r.error)}`.replace(': (document)', '');
      else patch = r.data;
    }
    if (reason === undefined && patch !== undefined && !isSubset(patch, this.o.agent.status().settings)) {
      try {
        this.o.agent.applySettings(patch as never);
        this.stats.applied++;
        this.log.info({ version, source }, 'applied desired settings');
      } catch (err) {
        reason = `settings not applied: ${errorMessage(err)}`;
      }
    }
    if (reason !== undefined) {
      this.stats.rejected++;
      // the same problem seen again (e.g. re-read after a reconnect) keeps its first record
      if (this.settingsError?.reason !== reason) this.settingsError = { version, reason, at: new Date().toISOString() };
      this.log.warn({ version, reason }, 'rejected desired shadow state');
    } else {
      this.settingsError = null;
    }
    await this.report(true);
  }

  private current(): ReportedDocument & { settingsError: SettingsError | null } {
    const st = this.o.agent.status();
    return { ...buildReported(st, this.o.lastOta?.() ?? null, this.o.maxReportedBytes ?? 7000), settingsError: this.settingsError };
  }

  /** Send what changed (forced after desired handling / reconnect, else when significant or periodic). */
  private async report(force: boolean): Promise<void> {
    if (!this.o.watch.connected || !this.client || this.cloudReported === undefined) return;
    const now = Date.now();
    const doc = this.current();
    const sig = significant(doc);
    const periodic = now - this.lastFull >= (this.o.periodicMs ?? 300_000);
    const changed = !deepEqual(sig, this.lastSignificant) || !deepEqual(doc.settingsError, this.cloudReported.settingsError ?? null);
    if (!force && !periodic && !changed) return;
    const wait = this.lastUpdateAt + (this.o.minIntervalMs ?? 1000) - now;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const patch = mergePatch(this.cloudReported, doc);
    if (patch === undefined) {
      this.lastSignificant = sig;
      if (periodic) this.lastFull = now;
      return;
    }
    this.log.debug({ keys: Object.keys(patch as object), force, periodic }, 'shadow report');
    await this.update({ reported: patch });
    this.cloudReported = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
    this.lastSignificant = sig;
    if (periodic) this.lastFull = now;
  }
}
