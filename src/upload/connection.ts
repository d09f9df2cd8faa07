/**
 * The agent's one MQTT connection to AWS IoT Core (or a local broker): X.509 mutual TLS, client id =
 * thing name, a retained online/offline status with a last-will, QoS1 publish that resolves on
 * PUBACK, subscriptions that survive reconnects, and reconnects that resume quickly.
 *
 * Built on aws-iot-device-sdk-v2 (aws-crt). MQTT 5 by default; `protocol: 'mqtt311'` exists for
 * brokers without MQTT 5 (the embedded aedes dev broker). The control plane reuses this connection:
 * `connection.mqtt5Client` can be handed to `IotShadowClientv2.newFromMqtt5` / `IotJobsClientv2.newFromMqtt5`
 * (or `connection.mqtt311Connection` to the `newFromMqtt311` variants).
 *
 * Reconnect policy:
 *  - network failures (refused, unreachable, timeouts, hang-ups): the CRT client retries with
 *    exponential backoff and jitter between `minReconnectDelayMs` and `maxReconnectDelayMs`
 *    (default 250 ms .. 1000 ms), so a broker that comes back is used again within ~1 s;
 *  - credential failures (TLS session refused, CONNACK not authorized): reported as
 *    `connectionFailure` with a plain reason, then retried forever with a longer exponential backoff
 *    (full jitter, up to `credentialRetryMaxMs`, default 60 s) so a wrong certificate does not hammer the broker.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
// aws-crt directly (the SDK's index also loads Greengrass IPC, identity and eventstream modules:
// ~1 MB of heap the agent never uses).
import { iot, mqtt, mqtt5 } from 'aws-crt';
import { EdgewiseError } from '../errors.js';
import { VERSION } from '../version.js';
import { DEFAULT_STATUS_TOPIC, topicMatches, topicProblem } from './topic.js';
import { silentLogger, type Logger } from '../log.js';

export interface ConnectionOptions {
  /** IoT Core data endpoint (`xxxx-ats.iot.<region>.amazonaws.com`) or `localhost`. */
  host: string;
  /** Default 8883. */
  port?: number;
  /** Thing name; used as MQTT client id and in the status topic. */
  thingName: string;
  /** PEM files: device certificate, private key, CA (Amazon Root CA 1 for IoT Core). */
  certFile: string;
  keyFile: string;
  caFile?: string;
  /** 'mqtt5' (default) or 'mqtt311' (brokers without MQTT 5, e.g. aedes). */
  protocol?: 'mqtt5' | 'mqtt311';
  /** Keep-alive in seconds (IoT Core clamps to 30..1200). Default 30. */
  keepAliveSeconds?: number;
  /** Time to wait for PINGRESP before the connection is considered lost. Default 5000. */
  pingTimeoutMs?: number;
  /** 0 (default) = clean session; > 0 = persistent session that the broker keeps this long while offline. */
  sessionExpirySeconds?: number;
  /** Backoff between reconnect attempts after network failures. Defaults 250 / 1000 ms. */
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** Upper bound of the backoff after certificate/authorization failures. Default 60 000 ms. */
  credentialRetryMaxMs?: number;
  /**
   * Let the CRT enforce AWS IoT Core's per-connection limits (packet validation, 100 publishes/s,
   * 512 KiB/s) on all traffic of the connection. Default: on for `*.amazonaws.com` hosts, off otherwise.
   */
  iotCoreFlowControl?: boolean;
  /** Time to wait for a PUBACK/SUBACK. Default 30 s. */
  ackTimeoutSeconds?: number;
  /** Retained status topic (`{thing}` is replaced); `false` disables the status/will. Default `edgewise/{thing}/status`. */
  statusTopic?: string | false;
  /** Reported in the online status. Default: the package version. */
  version?: string;
  logger?: Logger;
}

export type FailureKind = 'network' | 'tls' | 'auth' | 'protocol';

export interface ConnectionFailure {
  kind: FailureKind;
  /** A sentence saying what went wrong and what usually causes it. */
  reason: string;
  /** CRT error name (e.g. `AWS_IO_TLS_ERROR_READ_FAILURE`) or CONNACK reason code name. */
  code: string;
  /** Consecutive failed attempts, starting at 1. */
  attempt: number;
  /** Delay before the next attempt when edgewise (not the CRT) schedules it. */
  retryInMs?: number;
}

export interface ConnectedInfo {
  sessionPresent: boolean;
  /** How long the connection was down before this connect (undefined for the first one). */
  downMs?: number;
  /** Failed attempts before this success. */
  failedAttempts: number;
}

export interface DisconnectedInfo {
  reason: string;
  code: string;
}

export interface ConnectionEvents {
  connected: [ConnectedInfo];
  disconnected: [DisconnectedInfo];
  connectionFailure: [ConnectionFailure];
  /** Something went wrong that is not fatal (a handler threw, a resubscribe failed). */
  warning: [{ message: string; cause?: unknown }];
  stopped: [];
}

export type MessageHandler = (topic: string, payload: Uint8Array, info: { retain: boolean }) => void;

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

interface CrtErrorLike {
  error_name?: string;
  error_code?: number;
  message?: string;
}

const NETWORK_HINT =
  /SOCKET|DNS|TIMEOUT|TIMED_OUT|HANGUP|REFUSED|NETWORK|UNREACHABLE|NO_ROUTE|CONNECTION_RESET|CLOSED|BROKEN_PIPE|HOST/;

/** Turn a CRT error / CONNACK into a failure kind and a sentence a user can act on. */
export function classifyFailure(err: unknown, connackReason?: number): Omit<ConnectionFailure, 'attempt'> {
  if (connackReason !== undefined && connackReason !== 0) {
    const name = mqtt5.ConnectReasonCode[connackReason] ?? `reason ${connackReason}`;
    const auth = [4, 5, 134, 135, 138, 2, 133].includes(connackReason);
    return {
      kind: auth ? 'auth' : 'protocol',
      code: `CONNACK_${name}`,
      reason: auth
        ? `the broker refused the connection (${name}): the certificate is valid but not allowed to connect with this client id — check the IoT policy (iot:Connect on client/<thing name>) and that the certificate is attached to the thing`
        : `the broker refused the connection (${name})`,
    };
  }
  const code = crtErrorName(err);
  if (/NOT_AUTHORIZED|BAD_USERNAME|IDENTIFIER_REJECTED/.test(code)) {
    return {
      kind: 'auth',
      code,
      reason: `the broker refused the connection (${code}): check that the certificate is attached to the thing and the IoT policy allows iot:Connect with this client id`,
    };
  }
  if (/TLS|SSL|CERT|X509|PKI/.test(code)) {
    const negotiation = /NEGOTIATION|CERT|X509|PKI/.test(code);
    return {
      kind: 'tls',
      code,
      reason: negotiation
        ? `TLS handshake failed (${code}): the server certificate is not trusted by the configured CA file or its name does not match the host, or the broker refused the client certificate`
        : `the broker closed the TLS session during the handshake (${code}): the client certificate was rejected — not signed by a CA the broker trusts, not registered/active in AWS IoT, or revoked`,
    };
  }
  if (NETWORK_HINT.test(code)) {
    return { kind: 'network', code, reason: `cannot reach the broker (${code})` };
  }
  return { kind: 'protocol', code, reason: `connection failed (${code})` };
}

function crtErrorName(err: unknown): string {
  const e = (err ?? {}) as CrtErrorLike;
  if (e.error_name) return e.error_name;
  const text = err instanceof Error ? err.message : String(err);
  return /AWS_[A-Z0-9_]+/.exec(text)?.[0] ?? text;
}

/** Full-jitter exponential backoff: random in [min, min(max, min * 2^attempt)]. */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(minMs + random() * Math.max(0, ceiling - minMs));
}

function toBytes(p: unknown): Uint8Array {
  if (p instanceof Uint8Array) return p;
  if (p instanceof ArrayBuffer) return new Uint8Array(p);
  if (ArrayBuffer.isView(p)) return new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
  if (typeof p === 'string') return new TextEncoder().encode(p);
  return new Uint8Array(0);
}

interface Pending {
  reject: (e: Error) => void;
}

export class MqttConnection extends EventEmitter<ConnectionEvents> {
  readonly thingName: string;
  readonly statusTopic: string | undefined;
  readonly protocol: 'mqtt5' | 'mqtt311';
  private readonly opts: Required<
    Pick<
      ConnectionOptions,
      | 'port'
      | 'keepAliveSeconds'
      | 'pingTimeoutMs'
      | 'sessionExpirySeconds'
      | 'minReconnectDelayMs'
      | 'maxReconnectDelayMs'
      | 'credentialRetryMaxMs'
      | 'ackTimeoutSeconds'
      | 'version'
    >
  > &
    ConnectionOptions;
  private readonly log: Logger;
  private client5?: mqtt5.Mqtt5Client;
  private conn311?: mqtt.MqttClientConnection;
  private _state: ConnectionState = 'idle';
  private readonly handlers = new Map<string, Set<MessageHandler>>();
  /** Filters the broker confirmed (SUBACK) in the current session. */
  private readonly subscribed = new Set<string>();
  private readonly pending = new Set<Pending>();
  private failures = 0;
  private credentialFailures = 0;
  private downSince: number | undefined;
  private everConnected = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private waiters = new Set<() => void>();

  constructor(options: ConnectionOptions) {
    super();
    this.opts = {
      port: 8883,
      keepAliveSeconds: 30,
      pingTimeoutMs: 5000,
      sessionExpirySeconds: 0,
      minReconnectDelayMs: 250,
      maxReconnectDelayMs: 1000,
      credentialRetryMaxMs: 60_000,
      ackTimeoutSeconds: 30,
      version: VERSION,
      ...options,
    };
    this.log = options.logger ?? silentLogger;
    this.thingName = options.thingName;
    this.protocol = options.protocol ?? 'mqtt5';
    this.statusTopic =
      options.statusTopic === false ? undefined : (options.statusTopic ?? DEFAULT_STATUS_TOPIC).replaceAll('{thing}', options.thingName);
    if (!options.thingName || Buffer.byteLength(options.thingName) > 128 || options.thingName.startsWith('$')) {
      throw new EdgewiseError('CONFIG_INVALID', 'thing name must be 1..128 bytes and may not start with $', { thingName: options.thingName });
    }
    for (const [what, file] of [
      ['certificate', options.certFile],
      ['private key', options.keyFile],
      ['CA', options.caFile],
    ] as const) {
      if (file !== undefined && !existsSync(file)) {
        throw new EdgewiseError('CONFIG_INVALID', `${what} file ${file} does not exist`, { file });
      }
    }
    if (this.opts.minReconnectDelayMs <= 0 || this.opts.maxReconnectDelayMs < this.opts.minReconnectDelayMs) {
      throw new EdgewiseError('CONFIG_INVALID', 'reconnect delays must satisfy 0 < min <= max', {
        min: this.opts.minReconnectDelayMs,
        max: this.opts.maxReconnectDelayMs,
      });
    }
    // Never let an unhandled 'error'-style event crash the process: warnings are optional to listen to.
    this.on('warning', (w) => this.log.warn({ err: w.cause }, w.message));
  }

  get state(): ConnectionState {
    return this._state;
  }

  get connected(): boolean {
    return this._state === 'connected';
  }

  /** The underlying MQTT 5 client (for IotShadowClientv2/IotJobsClientv2.newFromMqtt5); available after start(). */
  get mqtt5Client(): mqtt5.Mqtt5Client | undefined {
    return this.client5;
  }

  /** The underlying MQTT 3.1.1 connection when `protocol: 'mqtt311'`. */
  get mqtt311Connection(): mqtt.MqttClientConnection | undefined {
    return this.conn311;
  }

  /** Resolves when connected (immediately if already). */
  waitConnected(signal?: AbortSignal): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.waiters.delete(done);
        reject(new EdgewiseError('UPLOAD_FAILED', 'aborted while waiting for the connection'));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(done);
    });
  }

  /** Start connecting (returns at once; listen to `connected` or use waitConnected()). */
  start(): void {
    if (this._state !== 'idle' && this._state !== 'stopped') return;
    this.stopping = false;
    this._state = 'connecting';
    if (this.protocol === 'mqtt5') {
      if (!this.client5) this.client5 = this.build5();
      this.client5.start();
    } else {
      if (!this.conn311) this.conn311 = this.build311();
      this.connect311();
    }
  }

  /** Publish the offline status, disconnect cleanly and release nothing else (start() may be called again). */
  async stop(): Promise<void> {
    if (this._state === 'idle' || this._state === 'stopped') return;
    this.stopping = true;
    clearTimeout(this.retryTimer);
    if (this.connected && this.statusTopic) {
      // A clean DISCONNECT suppresses the will, so say "offline" ourselves (bounded wait).
      await Promise.race([
        this.publish(this.statusTopic, JSON.stringify({ state: 'offline', reason: 'stopped' }), 1, true).catch(() => undefined),
        new Promise((r) => setTimeout(r, 2000).unref()),
      ]);
    }
    this.failPending('connection stopped');
    if (this.client5 && this._state !== 'waiting') {
      const c = this.client5;
      const stopped = new Promise<void>((r) => c.once('stopped', () => r()));
      c.stop({ reasonCode: mqtt5.DisconnectReasonCode.NormalDisconnection });
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 3000).unref())]);
    }
    if (this.conn311) {
      const c = this.conn311;
      await Promise.race([c.disconnect().catch(() => undefined), new Promise((r) => setTimeout(r, 3000).unref())]);
      this.conn311 = undefined; // disconnect() frees the native connection
    }
    this.markDown('stopped', 'STOPPED', false);
    this._state = 'stopped';
    this.emit('stopped');
  }

  /** stop() and free native resources. */
  async close(): Promise<void> {
    await this.stop();
    this.client5?.close();
    this.client5 = undefined;
  }

  /**
   * Publish and resolve when the broker acknowledged (PUBACK for QoS1; when written for QoS0).
   * Rejects with UPLOAD_FAILED when not connected or when the connection drops before the PUBACK
   * (`context.disconnected === true`: worth retrying after the next connect), or when the broker or
   * the client refuses the message (reason code such as NotAuthorized, packet too large).
   */
  publish(topic: string, payload: Uint8Array | string, qos: 0 | 1 = 1, retain = false): Promise<void> {
    const problem = topicProblem(topic);
    if (problem) return Promise.reject(new EdgewiseError('UPLOAD_FAILED', `cannot publish to ${JSON.stringify(topic)}: ${problem}`, { topic }));
    if (!this.connected) {
      return Promise.reject(new EdgewiseError('UPLOAD_FAILED', 'not connected', { topic, state: this._state, disconnected: true }));
    }
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = { reject };
      this.pending.add(entry);
      const settle = (err?: Error): void => {
        if (!this.pending.delete(entry)) return; // already failed by a disconnect
        if (err) reject(err);
        else resolve();
      };
      try {
        if (this.client5) {
          this.client5
            .publish({ topicName: topic, payload, qos: qos as number as mqtt5.QoS, retain })
            .then((res) => {
              const code = res?.reasonCode ?? 0;
              if (mqtt5.isSuccessfulPubackReasonCode(code)) settle();
              else
                settle(
                  new EdgewiseError('UPLOAD_FAILED', `broker refused the publish to ${topic}: ${mqtt5.PubackReasonCode[code] ?? code}`, {
                    topic,
                    reasonCode: code,
                    reasonString: res?.reasonString,
                  }),
                );
            })
            .catch((e: unknown) =>
              settle(new EdgewiseError('UPLOAD_FAILED', `publish to ${topic} failed: ${crtErrorName(e)}`, { topic }, { cause: e })),
            );
        } else if (this.conn311) {
          this.conn311
            .publish(topic, payload, qos as number as mqtt.QoS, retain)
            .then(() => settle())
            .catch((e: unknown) =>
              settle(new EdgewiseError('UPLOAD_FAILED', `publish to ${topic} failed: ${crtErrorName(e)}`, { topic }, { cause: e })),
            );
        } else {
          settle(new EdgewiseError('UPLOAD_FAILED', 'not started', { topic }));
        }
      } catch (e) {
        settle(new EdgewiseError('UPLOAD_FAILED', `publish to ${topic} failed: ${crtErrorName(e)}`, { topic }, { cause: e }));
      }
    });
  }

  /**
   * Register `handler` for `topicFilter`. The filter is subscribed now when connected (resolves on
   * SUBACK, rejects when the broker refuses it) and again after every reconnect without a session.
   */
  async subscribe(topicFilter: string, handler: MessageHandler): Promise<void> {
    let set = this.handlers.get(topicFilter);
    const isNew = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(topicFilter, set);
    }
    set.add(handler);
    if (isNew && this.connected) {
      try {
        await this.sendSubscribe([topicFilter]);
      } catch (e) {
        if (isEdgewiseRefusal(e)) {
          this.handlers.delete(topicFilter);
          throw e;
        }
        // dropped connection: it is resubscribed on the next connect
      }
    }
  }

  /** Remove `handler` (or every handler) for `topicFilter`; unsubscribes when none is left. */
  async unsubscribe(topicFilter: string, handler?: MessageHandler): Promise<void> {
    const set = this.handlers.get(topicFilter);
    if (!set) return;
    if (handler) set.delete(handler);
    else set.clear();
    if (set.size > 0) return;
    this.handlers.delete(topicFilter);
    this.subscribed.delete(topicFilter);
    if (!this.connected) return;
    try {
      if (this.client5) await this.client5.unsubscribe({ topicFilters: [topicFilter] });
      else if (this.conn311) await this.conn311.unsubscribe(topicFilter);
    } catch (e) {
      this.emit('warning', { message: `unsubscribe ${topicFilter} failed`, cause: e });
    }
  }

  // ----------------------------------------------------------------------------------------------

  private async sendSubscribe(filters: string[]): Promise<void> {
    // IoT Core accepts at most 8 filters per SUBSCRIBE
    for (let i = 0; i < filters.length; i += 8) {
      const chunk = filters.slice(i, i + 8);
      if (this.client5) {
        const suback = await this.client5.subscribe({
          subscriptions: chunk.map((topicFilter) => ({ topicFilter, qos: mqtt5.QoS.AtLeastOnce })),
        });
        const bad = suback.reasonCodes
          .map((c, j) => [c, chunk[j]] as const)
          .filter(([c]) => !mqtt5.isSuccessfulSubackReasonCode(c));
        chunk.forEach((f, j) => {
          if (mqtt5.isSuccessfulSubackReasonCode(suback.reasonCodes[j])) this.subscribed.add(f);
        });
        if (bad.length > 0) {
          throw new EdgewiseError(
            'UPLOAD_FAILED',
            `broker refused subscription ${bad.map(([c, f]) => `${f} (${mqtt5.SubackReasonCode[c] ?? c})`).join(', ')}`,
            { filters: bad.map(([, f]) => f), refused: true },
          );
        }
      } else if (this.conn311) {
        for (const f of chunk) {
          const r = await this.conn311.subscribe(f, mqtt.QoS.AtLeastOnce);
          if ((r.qos as number) === 128) {
            throw new EdgewiseError('UPLOAD_FAILED', `broker refused subscription ${f}`, { filters: [f], refused: true });
          }
          this.subscribed.add(f);
        }
      }
    }
  }

  private dispatch(topic: string, payload: unknown, retain: boolean): void {
    let bytes: Uint8Array | undefined;
    for (const [filter, set] of this.handlers) {
      if (!topicMatches(filter, topic)) continue;
      bytes ??= toBytes(payload);
      for (const h of set) {
        try {
          h(topic, bytes, { retain });
        } catch (e) {
          this.emit('warning', { message: `message handler for ${filter} threw`, cause: e });
        }
      }
    }
  }

  private onConnected(sessionPresent: boolean): void {
    const downMs = this.everConnected && this.downSince !== undefined ? Date.now() - this.downSince : undefined;
    const failedAttempts = this.failures;
    this.failures = 0;
    this.credentialFailures = 0;
    this.downSince = undefined;
    this.everConnected = true;
    this._state = 'connected';
    this.log.info({ thing: this.thingName, sessionPresent, downMs, failedAttempts }, 'mqtt connected');
    if (this.statusTopic) {
      const status = JSON.stringify({ state: 'online', version: this.opts.version, protocol: this.protocol, connectedAt: new Date().toISOString() });
      this.publish(this.statusTopic, status, 1, true).catch((e) => this.emit('warning', { message: 'publishing the online status failed', cause: e }));
    }
    // without a session every filter is subscribed again; with one, only those never confirmed in it
    if (!sessionPresent) this.subscribed.clear();
    const missing = [...this.handlers.keys()].filter((f) => !this.subscribed.has(f));
    if (missing.length > 0) {
      this.sendSubscribe(missing).catch((e) =>
        this.emit('warning', { message: `resubscribe after reconnect failed: ${(e as Error).message}`, cause: e }),
      );
    }
    for (const w of [...this.waiters]) w();
    this.emit('connected', { sessionPresent, downMs, failedAttempts });
  }

  private markDown(reason: string, code: string, emit = true): void {
    const wasConnected = this._state === 'connected';
    if (this.downSince === undefined) this.downSince = Date.now();
    if (this._state !== 'stopped') this._state = this.stopping ? 'stopped' : 'connecting';
    this.failPending(`connection lost (${code})`);
    if (wasConnected) {
      this.log.warn({ thing: this.thingName, code }, `mqtt disconnected: ${reason}`);
      if (emit) this.emit('disconnected', { reason, code });
    }
  }

  private failPending(why: string): void {
    const err = new EdgewiseError('UPLOAD_FAILED', `publish not acknowledged: ${why}`, { disconnected: true });
    const all = [...this.pending];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }

  private onFailure(err: unknown, connackReason: number | undefined, scheduleOwnRetry: (delay: number) => void): void {
    this.failures++;
    const c = classifyFailure(err, connackReason);
    const failure: ConnectionFailure = { ...c, attempt: this.failures };
    if (c.kind === 'network' || this.stopping) {
      this.credentialFailures = 0;
      this.log.debug({ code: c.code, attempt: this.failures }, c.reason);
      this.emit('connectionFailure', failure);
      return;
    }
    // Credential / protocol trouble: back off harder so a bad certificate does not hammer the broker.
    this.credentialFailures++;
    const delay = backoffDelay(this.credentialFailures, Math.max(1000, this.opts.minReconnectDelayMs), this.opts.credentialRetryMaxMs);
    failure.retryInMs = delay;
    this.log.error({ code: c.code, attempt: this.failures, retryInMs: delay }, c.reason);
    this.emit('connectionFailure', failure);
    scheduleOwnRetry(delay);
  }

  // ---- MQTT 5 ----------------------------------------------------------------------------------

  private build5(): mqtt5.Mqtt5Client {
    const o = this.opts;
    const b = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath(o.host, o.certFile, o.keyFile);
    b.withPort(o.port);
    if (o.caFile) b.withCertificateAuthorityFromPath(undefined, o.caFile);
    const connect: mqtt5.ConnectPacket = {
      clientId: o.thingName,
      keepAliveIntervalSeconds: o.keepAliveSeconds,
      sessionExpiryIntervalSeconds: o.sessionExpirySeconds,
    };
    if (this.statusTopic) {
      connect.will = {
        topicName: this.statusTopic,
        qos: mqtt5.QoS.AtLeastOnce,
        retain: true,
        payload: JSON.stringify({ state: 'offline', reason: 'connection lost' }),
      };
    }
    b.withConnectProperties(connect)
      .withSessionBehavior(o.sessionExpirySeconds > 0 ? mqtt5.ClientSessionBehavior.RejoinAlways : mqtt5.ClientSessionBehavior.Clean)
      .withRetryJitterMode(mqtt5.RetryJitterType.Full)
      .withMinReconnectDelayMs(o.minReconnectDelayMs)
      .withMaxReconnectDelayMs(o.maxReconnectDelayMs)
      .withMinConnectedTimeToResetReconnectDelayMs(10_000)
      .withPingTimeoutMs(o.pingTimeoutMs)
      .withConnackTimeoutMs(10_000)
      .withAckTimeoutSeconds(o.ackTimeoutSeconds)
      .withOfflineQueueBehavior(mqtt5.ClientOperationQueueBehavior.FailAllOnDisconnect)
      .withExtendedValidationAndFlowControlOptions(
        (o.iotCoreFlowControl ?? /\.amazonaws\.com(\.cn)?$/i.test(o.host))
          ? mqtt5.ClientExtendedValidationAndFlowControl.AwsIotCoreDefaults
          : mqtt5.ClientExtendedValidationAndFlowControl.None,
      );
    let client: mqtt5.Mqtt5Client;
    try {
      client = new mqtt5.Mqtt5Client(b.build());
    } catch (e) {
      throw new EdgewiseError('CONFIG_INVALID', `cannot create the MQTT client: ${crtErrorName(e)} (check certificate/key/CA files)`, {}, { cause: e });
    }
    client.on('attemptingConnect', () => {
      if (this._state !== 'connected') this._state = 'connecting';
    });
    client.on('connectionSuccess', (ev) => {
      this.onConnected(ev.connack.sessionPresent || ev.settings.rejoinedSession);
    });
    client.on('connectionFailure', (ev) => {
      // a failure caused by our own stop() (credential backoff or shutdown) is not news
      if (this._state === 'waiting' || this.stopping || /USER_REQUESTED_STOP/.test(crtErrorName(ev.error))) return;
      this.onFailure(ev.error, ev.connack?.reasonCode, (delay) => {
        // pause the CRT's own (fast) retry loop and restart it after our longer delay
        this._state = 'waiting';
        client.stop();
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => {
          if (this.stopping || this._state !== 'waiting') return;
          this._state = 'connecting';
          client.start();
        }, delay);
      });
    });
    client.on('disconnection', (ev) => {
      const code = ev.disconnect ? `DISCONNECT_${mqtt5.DisconnectReasonCode[ev.disconnect.reasonCode] ?? ev.disconnect.reasonCode}` : crtErrorName(ev.error);
      this.markDown(ev.disconnect?.reasonString ?? code, code);
    });
    client.on('messageReceived', (ev) => {
      this.dispatch(ev.message.topicName, ev.message.payload, ev.message.retain === true);
    });
    client.on('error', (e) => this.emit('warning', { message: `mqtt client error: ${crtErrorName(e)}`, cause: e }));
    return client;
  }

  // ---- MQTT 3.1.1 ------------------------------------------------------------------------------

  private build311(): mqtt.MqttClientConnection {
    const o = this.opts;
    const b = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(o.certFile, o.keyFile)
      .with_endpoint(o.host)
      .with_port(o.port)
      .with_client_id(o.thingName)
      .with_clean_session(o.sessionExpirySeconds <= 0)
      .with_keep_alive_seconds(o.keepAliveSeconds)
      .with_ping_timeout_ms(o.pingTimeoutMs)
      .with_protocol_operation_timeout_ms(o.ackTimeoutSeconds * 1000)
      .with_reconnect_min_sec(Math.max(1, Math.round(o.minReconnectDelayMs / 1000)))
      .with_reconnect_max_sec(Math.max(1, Math.round(o.maxReconnectDelayMs / 1000)));
    if (o.caFile) b.with_certificate_authority_from_path(undefined, o.caFile);
    if (this.statusTopic) {
      b.with_will(new mqtt.MqttWill(this.statusTopic, mqtt.QoS.AtLeastOnce, JSON.stringify({ state: 'offline', reason: 'connection lost' }), true));
    }
    let conn: mqtt.MqttClientConnection;
    try {
      conn = new mqtt.MqttClient().new_connection(b.build());
    } catch (e) {
      throw new EdgewiseError('CONFIG_INVALID', `cannot create the MQTT client: ${crtErrorName(e)} (check certificate/key/CA files)`, {}, { cause: e });
    }
    // after the first success the CRT reconnects by itself; 'resume' / 'interrupt' report it
    conn.on('resume', (_rc, sessionPresent) => this.onConnected(sessionPresent));
    conn.on('interrupt', (e) => this.markDown(crtErrorName(e), crtErrorName(e)));
    conn.on('message', (topic, payload, _dup, _qos, retain) => this.dispatch(topic, payload, retain));
    conn.on('error', (e) => this.emit('warning', { message: `mqtt connection error: ${crtErrorName(e)}`, cause: e }));
    return conn;
  }

  private connect311(): void {
    const conn = this.conn311;
    if (!conn || this.stopping) return;
    this._state = 'connecting';
    conn.connect().then(
      (sessionPresent) => this.onConnected(sessionPresent),
      (e: unknown) => {
        if (this.stopping) return;
        // the 3.1.1 CRT connection does not retry a failed first connect: schedule it ourselves
        let scheduled = false;
        this.onFailure(e, undefined, (delay) => {
          scheduled = true;
          this.retryLater311(delay);
        });
        if (!scheduled) {
          this.retryLater311(backoffDelay(this.failures, this.opts.minReconnectDelayMs, this.opts.maxReconnectDelayMs));
        }
      },
    );
  }

  private retryLater311(delay: number): void {
    this._state = 'waiting';
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect311(), delay);
  }
}

function isEdgewiseRefusal(e: unknown): boolean {
  return e instanceof EdgewiseError && e.context.refused === true;
}
