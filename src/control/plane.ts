/**
 * The control plane: device shadow + IoT Jobs (campaign deploy, forced upload, OTA) + OTA
 * confirmation, over the agent's one MQTT 5 connection. The daemon constructs it after starting
 * the connection and implements `AgentControl`; its `health()` should include `controlPlane.subscribed`.
 *
 *   const cp = new ControlPlane({ thing, connection, agent, stateDir, ota: { root, trustedKeysDir }, logger });
 *   cp.start();  ...  await cp.stop();
 */
import type { mqtt5 } from 'aws-crt';
import { EdgewiseError } from '../errors.js';
import type { AgentControl } from './agent.js';
import type { HttpsOptions } from './download.js';
import { JobsRunner, type JobsRunnerOptions } from './jobs/runner.js';
import { ConnectionWatch } from './link.js';
import { silentLogger, type Logger } from '../log.js';
import { OtaUpdater, type OtaOptions } from './ota/updater.js';
import { ShadowSync, type ShadowSyncOptions } from './shadow/sync.js';

/** What the control plane needs from the connection (`MqttConnection` from src/upload fits). */
export interface ControlConnection {
  readonly mqtt5Client: mqtt5.Mqtt5Client | undefined;
  readonly connected: boolean;
}

export interface ControlPlaneOptions {
  thing: string;
  connection: ControlConnection;
  agent: AgentControl;
  /** Directory for jobs.json (the running job, for resume after restart). */
  stateDir: string;
  /** Named shadow; the classic shadow when absent. */
  shadowName?: string;
  /** OTA settings; `false` disables OTA (ota jobs are REJECTED). */
  ota: OtaOptions | false;
  /** Extra CA for HTTPS downloads (campaign URLs; OTA uses ota.httpsCa). */
  httpsCa?: HttpsOptions['ca'];
  /** Shadow timing knobs (tests use short ones). */
  shadow?: Pick<ShadowSyncOptions, 'checkMs' | 'minIntervalMs' | 'periodicMs' | 'maxReportedBytes' | 'operationTimeoutSeconds'>;
  jobs?: Pick<JobsRunnerOptions, 'operationTimeoutSeconds' | 'retryBaseMs'>;
  /** Called when `subscribed` changes (the daemon feeds it into health()). */
  onSubscribedChange?: (subscribed: boolean) => void;
  /** Called at start and after every job with the recorded OTA result (the daemon's status().lastOta). */
  onOtaResult?: (result: ReturnType<OtaUpdater['lastResult']>) => void;
  logger?: Logger;
}

export class ControlPlane {
  readonly ota: OtaUpdater | undefined;
  private readonly o: ControlPlaneOptions;
  private readonly log: Logger;
  private watch: ConnectionWatch | undefined;
  private _shadow: ShadowSync | undefined;
  private _jobs: JobsRunner | undefined;
  private subTimer: NodeJS.Timeout | undefined;

  constructor(opts: ControlPlaneOptions) {
    this.o = opts;
    this.log = opts.logger ?? silentLogger;
    this.ota = opts.ota ? new OtaUpdater({ logger: this.log, ...opts.ota }, opts.agent) : undefined;
  }

  get shadow(): ShadowSync | undefined {
    return this._shadow;
  }

  get jobs(): JobsRunner | undefined {
    return this._jobs;
  }

  /** Shadow delta + jobs notifications subscribed and the shadow reconciled (for agent.health()). */
  get subscribed(): boolean {
    return (this._shadow?.subscribed ?? false) && (this._jobs?.subscribed ?? false);
  }

  /** Start after `connection.start()` (the SDK client must exist; it need not be connected yet). */
  start(): void {
    if (this.watch) return;
    const client = this.o.connection.mqtt5Client;
    if (!client) throw new EdgewiseError('CONFIG_INVALID', 'the control plane needs an MQTT 5 connection (start the connection first)');
    const watch = new ConnectionWatch(client, this.o.connection.connected);
    this.watch = watch;
    const log = this.log;
    this._shadow = new ShadowSync({
      thing: this.o.thing,
      shadowName: this.o.shadowName,
      watch,
      agent: this.o.agent,
      lastOta: () => this.ota?.lastResult() ?? null,
      logger: log,
      ...this.o.shadow,
    });
    this._jobs = new JobsRunner({
      thing: this.o.thing,
      watch,
      agent: this.o.agent,
      stateDir: this.o.stateDir,
      ota: this.ota,
      httpsCa: this.o.httpsCa,
      logger: log,
      onJobFinished: () => {
        if (this.ota) this.o.onOtaResult?.(this.ota.lastResult());
        this._shadow?.reportSoon();
      },
      ...this.o.jobs,
    });
    this.ota?.start(this.o.agent);
    if (this.ota) this.o.onOtaResult?.(this.ota.lastResult());
    this._shadow.start();
    this._jobs.start();
    if (this.o.onSubscribedChange) {
      let last = false;
      this.subTimer = setInterval(() => {
        const now = this.subscribed;
        if (now !== last) {
          last = now;
          this.o.onSubscribedChange!(now);
        }
      }, 250);
      this.subTimer.unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.subTimer);
    this.subTimer = undefined;
    this.ota?.stop();
    await Promise.all([this._jobs?.stop(), this._shadow?.stop()]);
    this.watch?.close();
    this.watch = undefined;
    this._jobs = undefined;
    this._shadow = undefined;
  }
}
