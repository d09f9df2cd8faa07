/**
 * The daemon: wires the pipeline
 *
 *   sources -> decode (manifest routes) -> engine -> batches -> store -> uploader
 *
 * and implements `AgentControl` for the control plane and `edgewise status`. Nothing that arrives
 * from a bus or the cloud may throw out of here: bad frames are counted, bad campaigns are
 * reported and skipped, a broken broker only delays uploads (everything is in the store first).
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { EdgewiseError } from '../errors.js';
import type { CollectedBatch } from '../types.js';
import { VERSION } from '../version.js';
import { campaignSignalNames, CampaignEngine, type Campaign } from '../campaigns/index.js';
import { bindManifest, loadManifest, manifestDecoders, type Manifest } from '../manifest/index.js';
import type { DecoderTable } from '../decode/index.js';
import { encodeBatch } from '../batches/index.js';
import { PartitionGates, partitionLimits, splitByPartition } from '../partitions/index.js';
import { BatchStore } from '../store/index.js';
import { MqttConnection, startDevBroker, Uploader, type DevBroker } from '../upload/index.js';
import type { FrameSource, SignalSource } from '../sources/index.js';
import { createSource } from './sources.js';
import { ControlPlane, SettingsPatchSchema, type AgentControl, type AgentStatus, type CampaignChange, type DeepPartial, type RuntimeSettings } from '../control/index.js';
import { startCommands, type CanWriter, type CommandsStage } from '../control/index.js';
import { CampaignSet } from './campaign-set.js';
import type { DaemonConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { Pipeline } from './pipeline.js';
import { SdNotifier } from './sdnotify.js';
import { StatusServer } from './status-server.js';
import type { MetricsServer } from './metrics.js';

export interface DaemonOptions {
  logger?: Logger;
  /**
   * A full, compacting garbage collection, run after start-up and every `memory.gcIntervalSeconds`.
   * `edgewise run` passes one that exposes V8's `gc` (a process-wide flag, so the library never
   * sets it); without it the daemon uses `globalThis.gc` when the process was started with
   * `--expose-gc`, and otherwise leaves collection to V8.
   */
  gc?: () => void;
  /**
   * Called with the exit code after the clean stop an installed OTA update needs (systemd then
   * starts the new release). `edgewise run` passes `process.exit`; without it the daemon just stops.
   */
  exit?: (code: number) => void;
  /** Called for every batch part that reaches the local development broker (demo output). */
  onLocalMessage?: (topic: string, payload: Uint8Array) => void;
}

interface SourceCounters {
  frames: number;
  lastFrames: number;
  fps: number;
}

export class Daemon implements AgentControl {
  readonly log: Logger;
  readonly config: DaemonConfig;
  private readonly startedAt = Date.now();
  private readonly configHash: string;
  private manifest!: Manifest;
  private decoders!: (iface: string) => DecoderTable;
  private engine!: CampaignEngine;
  private campaignSet!: CampaignSet;
  private gates!: PartitionGates;
  store!: BatchStore;
  private connection: MqttConnection | undefined;
  private uploader: Uploader | undefined;
  private localBroker: DevBroker | undefined;
  private readonly sources: (FrameSource | SignalSource)[] = [];
  private readonly sourceCounters = new Map<FrameSource | SignalSource, SourceCounters>();
  private readonly pendingPuts = new Set<Promise<unknown>>();
  /** Seqs a forced upload (IoT Job) lets past their partition's upload condition. */
  private readonly forced = new Set<number>();
  /** Manifest signal ids some campaign uses (decoded / polled); recomputed when campaigns change. */
  private wantedSignals = new Set<number>();
  private readonly campaignCounters = new Map<string, { triggers: number; batches: number }>();
  private settings: RuntimeSettings;
  private pipeline!: Pipeline;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  /** Full GCs run by the `memory.gcIntervalSeconds` timer. */
  private periodicGcs = 0;
  private reconnects = 0;
  private lastConnect: string | null = null;
  private lastUploadError: string | null = null;
  private controlSubscribed = false;
  private lastOta: AgentStatus['lastOta'] = null;
  private readonly notifier = new SdNotifier({ onError: (e) => this.log.warn({ err: e }, 'sd_notify failed') });
  private statusServer: StatusServer | undefined;
  private control: ControlPlane | undefined;
  /** AWS IoT commands (config `commands`); the actuator sees frames of `commands.interface`. */
  private commands: CommandsStage | undefined;
  private commandsIface: string | undefined;
  private commandsWriter: { close(): void } | undefined;
  private metricsServer: MetricsServer | undefined;
  private readonly gc: (() => void) | undefined;

  private constructor(config: DaemonConfig, private readonly opts: DaemonOptions) {
    this.config = config;
    this.log = opts.logger ?? createLogger(config.log.level);
    this.gc = opts.gc ?? (globalThis as { gc?: () => void }).gc;
    this.configHash = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
    this.settings = {
      logLevel: config.log.level,
      upload: {
        maxPublishesPerSecond: config.upload.maxPublishesPerSecond,
        maxBytesPerSecond: config.upload.maxBytesPerSecond,
        enabled: config.upload.enabled,
      },
      store: { maxBytes: config.store.maxBytes },
      campaigns: {},
    };
  }

  /** Build and start everything; resolves when sources are open and the store is loaded (ready). */
  static async start(config: DaemonConfig, opts: DaemonOptions = {}): Promise<Daemon> {
    const d = new Daemon(config, opts);
    try {
      await d.init();
    } catch (e) {
      await d.stop('startup failed').catch(() => undefined);
      throw e;
    }
    return d;
  }

  private async init(): Promise<void> {
    const cfg = this.config;
    this.log.info({ version: VERSION, vehicle: cfg.vehicle.name, configHash: this.configHash }, 'edgewise starting');

    // Manifest + DBCs
    this.manifest = await loadManifest(cfg.manifest);
    this.decoders = manifestDecoders(this.manifest, (w) => this.log.warn({ manifest: cfg.manifest }, w));

    // Engine + campaigns
    this.engine = new CampaignEngine({
      signals: this.manifest.signals.map((s) => ({ name: s.name, type: s.type })),
      onBatch: (b) => this.onBatch(b),
      onTrigger: (e) => {
        this.counters(e.campaign).triggers++;
        this.log.info({ campaign: e.campaign, time: new Date(e.timeMs).toISOString(), triggeredBy: e.triggeredBy }, 'trigger');
      },
      vehicleRunId: Math.floor(Date.now() / 1000) & 0xffff,
    });
    this.gates = new PartitionGates(this.engine, () => this.uploader?.wake());
    this.pipeline = new Pipeline({ engine: this.engine, gates: this.gates, manifest: this.manifest, decoders: this.decoders, log: this.log });
    this.campaignSet = new CampaignSet(cfg.campaigns.dir, this.manifest);
    for (const c of this.campaignSet.load()) {
      for (const w of c.warnings) this.log.warn({ file: c.file, path: w.path }, w.message);
      this.engine.setCampaign(c.campaign);
    }
    for (const e of this.campaignSet.loadErrors) {
      this.log.error({ file: e.file, problems: e.problems.map((p) => `${p.path}: ${p.message}`) }, 'campaign file rejected');
    }
    this.log.info({ campaigns: this.campaignSet.all().map((c) => c.campaign.name), dir: cfg.campaigns.dir }, 'campaigns loaded');
    this.campaignsChanged();
    // Parsing the manifest, DBCs and campaigns leaves megabytes of garbage that V8 would only
    // collect later: collect it before the store, TLS and the sources add their own memory, so the
    // two do not add up to the start-up peak (bench/soak reports VmHWM).
    this.fullGc();

    // Store
    mkdirSync(path.dirname(cfg.store.dir), { recursive: true });
    this.store = await BatchStore.open(cfg.store.dir, {
      maxBytes: cfg.store.maxBytes,
      partitions: partitionLimits(this.campaignSet.all().map((c) => c.campaign)),
      logger: this.log.child({ stage: 'store' }),
    });
    this.timers.push(setInterval(() => void this.store.expire(Date.now()).catch(() => undefined), 60_000).unref());

    // Upload
    if (cfg.upload.enabled) await this.startUpload();

    // Sources
    for (const sc of cfg.sources) {
      const built = createSource(sc, {
        manifest: this.manifest,
        log: this.log.child({ stage: 'source' }),
        // OBD polls only what campaigns need (re-read on every poll: campaigns change live).
        wanted: (id) => this.wantedSignals.has(id),
        dtcsWanted: () =>
          this.campaignSet.all().some(
            (c) => c.campaign.diagnosticsMode === 'SEND_ACTIVE_DTCS' && this.settings.campaigns[c.campaign.name]?.enabled !== false,
          ),
      });
      const src = built.source;
      this.sources.push(src);
      const counters: SourceCounters = { frames: 0, lastFrames: 0, fps: 0 };
      this.sourceCounters.set(src, counters);
      if (built.kind === 'frames') {
        await built.source.start((frame) => {
          counters.frames++;
          this.pipeline.onFrame(frame);
        });
      } else {
        await built.source.start({
          sample: (id, timeMs, value) => {
            counters.frames++;
            this.pipeline.onSample(id, timeMs, value);
          },
          dtcs: this.pipeline.onDtcs,
        });
      }
      this.log.info({ source: src.name }, 'source open');
    }
    // Rates per second + idle time advance for live buses
    this.timers.push(
      setInterval(() => {
        for (const c of this.sourceCounters.values()) {
          c.fps = c.frames - c.lastFrames;
          c.lastFrames = c.frames;
        }
        this.idleAdvance();
      }, 1000).unref(),
    );
    for (const s of this.sources) {
      void s.finished.then(() => {
        if (!this.stopping) this.log.info({ source: s.name, ...s.status() }, 'source finished');
      });
    }
    void Promise.all(this.sources.map((s) => s.finished)).then(() => {
      if (!this.stopping) this.log.info('sources finished');
    });
    // Observability, then tell systemd we are ready (sources open, store loaded) and start the watchdog.
    this.statusServer = new StatusServer({ path: cfg.statusSocket, collect: () => this.status() });
    await this.statusServer.start().catch((e) => this.log.error({ err: e, path: cfg.statusSocket }, 'status socket unavailable'));
    if (cfg.metrics.enabled) {
      const { MetricsServer } = await import('./metrics.js'); // prom-client only when metrics are on
      this.metricsServer = new MetricsServer({ host: cfg.metrics.host, port: cfg.metrics.port, collect: () => this.status() });
      await this.metricsServer.start();
      this.log.info({ listen: this.metricsServer.url }, 'metrics served');
    }
    // Start-up leaves garbage and code that never runs again: collect it so the heap (and RSS) the
    // agent runs with for years starts small. Three collections, because code is flushed once it
    // has aged through two (--bytecode-old-age=1); otherwise V8's memory reducer does this ~8 s
    // later (3 MB less RSS in between, bench/soak).
    for (let i = 0; i < 3; i++) this.fullGc();
    const gcEvery = cfg.memory.gcIntervalSeconds;
    if (gcEvery > 0 && this.gc) {
      this.timers.push(
        setInterval(() => {
          this.fullGc();
          this.periodicGcs++;
        }, gcEvery * 1000).unref(),
      );
    }
    await this.notifier.notifyReady(`${this.sources.length} source(s), ${this.campaignSet.all().length} campaign(s)`);
    this.notifier.startWatchdog();
    this.log.info({ sources: this.sources.map((s) => s.name) }, 'edgewise ready');
  }

  /** A full GC if one is available (see `DaemonOptions.gc`); an optimisation only, never fatal. */
  private fullGc(): void {
    try {
      this.gc?.();
    } catch {
      /* an optimisation only */
    }
  }

  private async startUpload(): Promise<void> {
    const cfg = this.config.upload;
    let host = cfg.endpoint;
    let port = cfg.port;
    let caFile = cfg.caFile;
    let certFile = cfg.certFile;
    let keyFile = cfg.keyFile;
    let protocol: 'mqtt5' | 'mqtt311' = 'mqtt5';
    if (cfg.endpoint === 'local') {
      const b = await startDevBroker({ dir: cfg.localBrokerDir, thing: this.config.vehicle.name, onMessage: this.opts.onLocalMessage });
      this.localBroker = b;
      ({ host, port, caFile, certFile, keyFile, protocol } = b);
      this.log.info(
        { port, broker: b.kind, dir: cfg.localBrokerDir },
        b.kind === 'mosquitto'
          ? 'local development broker started (MQTT 5, mTLS)'
          : 'local development broker started (embedded, MQTT 3.1.1, mTLS; install mosquitto for MQTT 5)',
      );
    }
    const connection = new MqttConnection({
      host,
      port,
      thingName: this.config.vehicle.name,
      caFile,
      certFile: certFile!,
      keyFile: keyFile!,
      protocol,
      keepAliveSeconds: cfg.keepAliveSeconds,
      statusTopic: cfg.statusTopic,
      version: VERSION,
      logger: this.log.child({ stage: 'mqtt' }),
    });
    connection.on('connected', () => {
      if (this.lastConnect !== null) this.reconnects++;
      this.lastConnect = new Date().toISOString();
      this.lastUploadError = null;
      this.log.info({ endpoint: `${host}:${port}` }, 'connected');
    });
    connection.on('disconnected', (d) => this.log.warn({ reason: (d as { reason?: string }).reason }, 'disconnected'));
    connection.on('connectionFailure', (f) => {
      this.lastUploadError = f.reason;
      // Log the first failure and then at attempts 2, 4, 8, ... so a long outage does not flood the journal.
      if ((f.attempt & (f.attempt - 1)) === 0) {
        this.log.error({ kind: f.kind, code: f.code, attempt: f.attempt, endpoint: `${host}:${port}` }, `connection failed: ${f.reason}`);
      }
    });
    this.connection = connection;
    this.uploader = new Uploader({
      queue: this.store,
      connection,
      topic: cfg.topic,
      maxPublishesPerSecond: this.settings.upload.maxPublishesPerSecond,
      maxBytesPerSecond: this.settings.upload.maxBytesPerSecond,
      maxInFlight: cfg.maxInFlight,
      accept: (b) => this.forced.has(b.seq) || this.gates.accepts(b.campaign, b.partitionId),
      logger: this.log.child({ stage: 'upload' }),
    });
    connection.start();
    this.uploader.start();
    this.startControl(connection, protocol);
    if (this.opts.onLocalMessage && this.localBroker && !this.localBroker.deliversMessages) {
      const cb = this.opts.onLocalMessage;
      const filter = cfg.topic.replaceAll('{thing}', this.config.vehicle.name).replace(/\{[a-z]+\}/g, '+');
      connection.subscribe(filter, (topic, payload) => cb(topic, payload)).catch((e) => this.log.warn({ err: e }, 'demo subscribe failed'));
    }
  }

  /** Shadow + Jobs (+ OTA) over the same MQTT 5 connection. */
  private startControl(connection: MqttConnection, protocol: 'mqtt5' | 'mqtt311'): void {
    const c = this.config.control;
    if (!c.enabled) return;
    if (protocol !== 'mqtt5') {
      this.log.warn('device shadow and jobs need MQTT 5: disabled with the embedded broker (install mosquitto)');
      return;
    }
    this.control = new ControlPlane({
      thing: this.config.vehicle.name,
      connection,
      agent: this,
      stateDir: c.stateDir,
      shadowName: c.shadowName,
      ota: c.ota.enabled
        ? {
            root: c.ota.root,
            trustedKeysDir: c.ota.trustedKeysDir,
            runningVersion: VERSION,
            maxBootAttempts: c.ota.maxBootAttempts,
            healthDeadlineMs: c.ota.healthDeadlineSeconds * 1000,
            // Restart into the new release through a clean stop (store flushed), then systemd restarts us.
            exit: (code) => void this.stop('restarting for an update').finally(() => this.opts.exit?.(code)),
            logger: this.log.child({ stage: 'ota' }),
          }
        : false,
      onSubscribedChange: (v) => {
        this.controlSubscribed = v;
      },
      onOtaResult: (r) => {
        this.lastOta = r;
      },
      logger: this.log.child({ stage: 'control' }),
    });
    this.control.start();
    if (this.config.commands.enabled) this.startCommandsStage(connection);
  }

  /** Commands over the same connection; actuator frames go out through a SocketCAN writer opened on first use. */
  private startCommandsStage(connection: MqttConnection): void {
    const c = this.config.commands;
    const log = this.log.child({ stage: 'commands' });
    this.commandsIface = c.interface;
    let writer: CanWriter | undefined;
    const openWriter = async (): Promise<CanWriter | undefined> => {
      if (writer || !c.interface) return writer;
      const { SocketCanWriter } = await import('../can/index.js');
      const iface = c.interface;
      let w: InstanceType<typeof SocketCanWriter>;
      try {
        w = new SocketCanWriter(iface, { fd: true });
      } catch (err) {
        log.warn({ err }, `commands: cannot open ${iface} for writing`);
        return undefined;
      }
      this.commandsWriter = w;
      writer = {
        get up() {
          return true;
        },
        write(id, extended, data, fd) {
          const dropped = w.dropped;
          w.add({ timeMs: Date.now(), iface, id, extended, fd, brs: fd, esi: false, remote: false, error: false, data });
          const errno = w.flush();
          if (errno !== 0) {
            w.discard('busy');
            throw new Error(`the kernel's send queue is full (errno ${errno})`);
          }
          if (w.dropped !== dropped) throw new Error(`the kernel refused the frame (${w.lastDropReason ?? 'unknown'})`);
        },
      };
      return writer;
    };
    void (async () => {
      await openWriter();
      this.commands = await startCommands({
        config: c,
        thing: this.config.vehicle.name,
        connection,
        stateDir: this.config.control.stateDir,
        table: c.interface ? this.pipeline.tableFor(c.interface) : null,
        writer: () => writer,
        logger: log,
      });
      const actuator = this.commands.actuator;
      if (actuator && c.interface) this.pipeline.observeFrames(c.interface, (f) => actuator.observe(f.id, f.extended, f.data));
      connection.on('connected', () => void this.commands?.runner.redeliver());
      log.info({ interface: c.interface, actuators: Object.keys(c.actuators) }, 'commands: subscribed');
    })().catch((err) => {
      log.error({ err }, 'commands: cannot start');
      void this.stop('commands configuration is invalid').finally(() => this.opts.exit?.(1));
    });
  }

  /** Live buses can go quiet: keep engine time moving (not for log replays, whose time is the log's). */
  private idleAdvance(): void {
    if (this.stopping || !this.pipeline) return;
    if (!this.sources.some((s) => s.status().kind !== 'log')) return;
    this.pipeline.idleAdvance(Date.now());
  }

  // ------------------------------------------------------------------ batches -> store

  private counters(campaign: string): { triggers: number; batches: number } {
    let c = this.campaignCounters.get(campaign);
    if (!c) {
      c = { triggers: 0, batches: 0 };
      this.campaignCounters.set(campaign, c);
    }
    return c;
  }

  private onBatch(batch: CollectedBatch): void {
    this.counters(batch.campaign).batches++;
    // One stored record per data partition (each has its own cap, TTL and upload condition).
    for (const { partitionId, batch: part, samples } of splitByPartition(batch)) {
      const p = this.store
        .put({ priority: batch.priority, campaign: batch.campaign, partitionId, createdMs: Date.now() }, (seq) =>
          encodeBatch(part, { seq, vehicle: this.config.vehicle.name, maxPayloadBytes: this.config.upload.maxPayloadBytes }),
        )
        .then(
          (seq) => this.log.debug({ seq, campaign: batch.campaign, partitionId, samples }, 'batch stored'),
          (e: unknown) => this.log.error({ err: e, campaign: batch.campaign, partitionId }, 'batch could not be stored'),
        );
      this.pendingPuts.add(p);
      void p.finally(() => this.pendingPuts.delete(p));
    }
  }

  // ------------------------------------------------------------------ campaign set changes

  /**
   * Route (decode) only the signals some campaign needs — waiting campaigns included, since they
   * become active by time without another change here.
   */
  private rebind(): void {
    const names = this.manifest.signals.map((s) => s.name);
    const wanted = new Set<number>();
    for (const { campaign } of this.campaignSet.all()) {
      if (this.settings.campaigns[campaign.name]?.enabled === false) continue;
      const refs = campaignSignalNames(campaign, names);
      for (const n of [...refs.collected, ...refs.condition]) {
        const id = this.manifest.byName.get(n);
        if (id !== undefined) wanted.add(id);
      }
    }
    this.wantedSignals = wanted;
    this.pipeline.bind(bindManifest(this.manifest, { dbcFor: this.decoders, wanted: (id) => wanted.has(id) }));
  }

  private campaignsChanged(): void {
    const campaigns = this.campaignSet.all().map((c) => c.campaign);
    this.rebind();
    this.gates.set(campaigns);
    this.store?.setLimits(this.settings.store.maxBytes, partitionLimits(campaigns));
  }

  async deployCampaigns(changes: CampaignChange[]): Promise<{ applied: string[] }> {
    const { put, removed } = this.campaignSet.apply(changes);
    for (const name of removed) this.engine.removeCampaign(name);
    for (const c of put) {
      this.engine.setCampaign(c);
      const s = this.settings.campaigns[c.name];
      if (s && !s.enabled) this.engine.setCampaignEnabled(c.name, false);
    }
    this.campaignsChanged();
    const applied = [...put.map((c: Campaign) => `${c.name}@${c.version}`), ...removed.map((n) => `-${n}`)];
    this.log.info({ applied }, 'campaigns deployed');
    return { applied };
  }

  // ------------------------------------------------------------------ AgentControl

  applySettings(patch: DeepPartial<RuntimeSettings>): RuntimeSettings {
    const r = SettingsPatchSchema.safeParse(patch);
    if (!r.success) {
      const msg = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      throw new EdgewiseError('CONFIG_INVALID', `settings rejected: ${msg}`, { issues: r.error.issues });
    }
    const p = r.data;
    const unknown = Object.keys(p.campaigns ?? {}).filter((n) => !this.campaignSet.get(n));
    if (unknown.length) throw new EdgewiseError('CONFIG_INVALID', `settings rejected: unknown campaign(s) ${unknown.join(', ')}`);
    // Validated: apply everything.
    const next: RuntimeSettings = {
      logLevel: p.logLevel ?? this.settings.logLevel,
      upload: { ...this.settings.upload, ...p.upload },
      store: { ...this.settings.store, ...p.store },
      campaigns: { ...this.settings.campaigns },
    };
    // A campaign entry without `enabled` keeps its current switch (campaigns not listed are enabled).
    for (const [name, c] of Object.entries(p.campaigns ?? {})) {
      next.campaigns[name] = { enabled: c.enabled ?? this.settings.campaigns[name]?.enabled ?? true };
    }
    this.settings = next;
    this.log.level = next.logLevel;
    this.uploader?.setPacing?.(next.upload.maxPublishesPerSecond, next.upload.maxBytesPerSecond);
    if (this.uploader) {
      if (next.upload.enabled) this.uploader.start();
      else void this.uploader.stop();
    }
    this.store.setLimits(next.store.maxBytes, partitionLimits(this.campaignSet.all().map((c) => c.campaign)));
    for (const [name, s] of Object.entries(next.campaigns)) this.engine.setCampaignEnabled(name, s.enabled);
    this.rebind();
    this.log.info({ settings: next }, 'settings applied');
    return next;
  }

  /**
   * Upload stored batches now (IoT Job `upload`): matching batches bypass their partition's upload
   * condition. Resolves when they were all acknowledged (or evicted), or after `timeoutMs`.
   */
  async forceUpload(
    opts: { fromMs?: number; toMs?: number; partitionId?: string; campaign?: string },
    timeoutMs = 10 * 60_000,
  ): Promise<{ batches: number }> {
    if (!this.uploader || !this.connection) throw new EdgewiseError('UPLOAD_FAILED', 'upload is disabled in the configuration');
    const selected = this.store.select(opts);
    for (const seq of selected) this.forced.add(seq);
    this.log.info({ ...opts, batches: selected.length }, 'forced upload');
    this.uploader.wake();
    const deadline = Date.now() + timeoutMs;
    try {
      while (selected.some((seq) => this.store.has(seq))) {
        if (Date.now() > deadline) {
          const left = selected.filter((seq) => this.store.has(seq)).length;
          throw new EdgewiseError('UPLOAD_FAILED', `${left} of ${selected.length} batches not acknowledged within ${Math.round(timeoutMs / 1000)} s`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      for (const seq of selected) this.forced.delete(seq);
    }
    return { batches: selected.length };
  }

  health(): { running: boolean; connected: boolean; controlSubscribed: boolean; dataFlowing: boolean } {
    return {
      running: !this.stopping,
      connected: this.connection?.connected ?? false,
      controlSubscribed: this.controlSubscribed,
      dataFlowing: Date.now() - (this.pipeline?.lastFrameWall ?? 0) < 5000,
    };
  }

  private memoryStatus(): AgentStatus['memory'] {
    const m = process.memoryUsage();
    return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, periodicGcs: this.periodicGcs };
  }

  status(): AgentStatus {
    const st = this.store.stats();
    const up = this.uploader?.stats();
    const engineCampaigns = this.engine.campaigns();
    return {
      agent: {
        version: VERSION,
        configHash: this.configHash,
        startedAt: new Date(this.startedAt).toISOString(),
        uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
        pid: process.pid,
        vehicle: this.config.vehicle.name,
      },
      memory: this.memoryStatus(),
      campaigns: engineCampaigns.map((c) => ({
        name: c.name,
        version: c.version,
        state: c.state,
        triggers: this.campaignCounters.get(c.name)?.triggers ?? 0,
        batches: this.campaignCounters.get(c.name)?.batches ?? 0,
      })),
      sources: this.sources.map((s) => {
        const ss = s.status();
        const c = this.sourceCounters.get(s);
        return { name: ss.name, kind: ss.kind, state: ss.state, frames: ss.frames, framesPerSecond: c?.fps ?? 0, errors: ss.errors, dropped: (ss.detail?.dropped as number | undefined) ?? undefined };
      }),
      decode: { frames: this.pipeline.stats.frames, unknown: this.pipeline.stats.unknown, errors: this.pipeline.decodeErrors },
      store: {
        bytes: st.bytes,
        maxBytes: this.settings.store.maxBytes,
        batches: st.batches,
        oldestAgeSeconds: st.oldestMs === null ? null : Math.max(0, Math.round((Date.now() - st.oldestMs) / 1000)),
        evictions: st.evictions,
        movedAside: st.movedAside,
      },
      upload: {
        enabled: this.settings.upload.enabled && this.config.upload.enabled,
        state: !this.connection ? 'disabled' : this.connection.connected ? 'connected' : this.connection.state === 'connecting' ? 'connecting' : 'disconnected',
        endpoint: this.config.upload.endpoint === 'local' ? 'local' : `${this.config.upload.endpoint}:${this.config.upload.port}`,
        lastConnect: this.lastConnect,
        reconnects: this.reconnects,
        published: up?.published ?? 0,
        acked: up?.acked ?? 0,
        failed: up?.failed ?? 0,
        inFlight: up?.inFlight ?? 0,
        lastError: this.lastUploadError,
      },
      settings: this.settings,
      ...(this.commands ? { commands: this.commands.runner.stats() } : {}),
      lastOta: this.lastOta,
    };
  }

  /** Resolves when every finite source (log replay without loop) has ended. */
  async sourcesFinished(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.finished));
  }

  /**
   * Complete pending collections, make them durable and wait until the uploader has emptied the
   * store (or `timeoutMs` passed). Returns the batches still stored.
   */
  async drain(timeoutMs: number): Promise<number> {
    if (this.pipeline.lastTimeMs > 0) this.engine.flush(this.pipeline.lastTimeMs);
    await this.drainPuts();
    const deadline = Date.now() + timeoutMs;
    while (this.uploader && this.settings.upload.enabled && this.store.stats().batches > 0 && Date.now() < deadline) {
      this.uploader.wake();
      await new Promise((r) => setTimeout(r, 100));
    }
    return this.store.stats().batches;
  }

  /** Batches handed to the store but not yet durable. */
  async drainPuts(): Promise<void> {
    while (this.pendingPuts.size > 0) await Promise.allSettled([...this.pendingPuts]);
  }

  // ------------------------------------------------------------------ shutdown

  /**
   * Graceful stop: stop intake, complete pending collections, make every batch durable, let
   * in-flight uploads finish (bounded), close the connection and the store.
   */
  stop(reason = 'stop requested', graceMs = 4000): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopping = true;
    this.stopped = (async () => {
      this.log.info({ reason }, 'edgewise stopping');
      await this.notifier.notifyStopping().catch(() => undefined);
      for (const t of this.timers) clearInterval(t);
      await this.metricsServer?.stop().catch(() => undefined);
      await this.statusServer?.stop().catch(() => undefined);
      await Promise.allSettled(this.sources.map((s) => s.stop()));
      try {
        if (this.engine && this.pipeline && this.pipeline.lastTimeMs > 0) this.engine.flush(this.pipeline.lastTimeMs);
      } catch (e) {
        this.log.error({ err: e }, 'flush failed');
      }
      await this.drainPuts();
      await this.control?.stop().catch((e) => this.log.warn({ err: e }, 'control plane stop failed'));
      this.commandsWriter?.close();
      this.commandsWriter = undefined;
      if (this.uploader) {
        await Promise.race([this.uploader.stop(), new Promise((r) => setTimeout(r, graceMs).unref())]);
      }
      if (this.connection) await Promise.race([this.connection.stop(), new Promise((r) => setTimeout(r, 1500).unref())]).catch(() => undefined);
      const broker = this.localBroker;
      if (broker) await broker.close().catch(() => undefined);
      if (this.store) await this.store.close().catch((e) => this.log.error({ err: e }, 'store close failed'));
      await this.notifier.stop().catch(() => undefined);
      this.log.info({ reason }, 'edgewise stopped');
    })();
    return this.stopped;
  }
}
