/**
 * Drains the store's upload queue over the MQTT connection: most important then oldest batch first
 * (the queue orders), QoS1, a bounded number of batches in flight, paced to AWS IoT Core's
 * per-connection limits (100 publishes/s, 512 KiB/s). A batch is removed from the queue only after
 * the broker acknowledged every one of its parts, so a crash or disconnect loses nothing (at least
 * once: a batch that was partly acknowledged is sent again in full).
 *
 * Idle costs nothing: without a connection the uploader waits for `connected`; with an empty queue
 * it waits for the queue's `onAppend`.
 */
import { isEdgewiseError } from '../errors.js';
import type { StoredBatch, UploadQueue } from '../types.js';
import type { MqttConnection } from './connection.js';
import { silentLogger, type Logger } from '../log.js';
import { compileTopicTemplate, DEFAULT_BATCH_TOPIC } from './topic.js';

export interface UploaderOptions {
  queue: UploadQueue;
  connection: MqttConnection;
  /**
   * Topic per batch: a function, or a template with {thing} {campaign} {partition} {priority} {seq}.
   * Default `edgewise/{thing}/batches/{campaign}`. For IoT Core Basic Ingest (no broker fan-out, no
   * messaging cost) use `$aws/rules/<rule name>/{thing}/{campaign}`.
   */
  topic?: string | ((b: StoredBatch) => string);
  /** Default 100 (AWS IoT Core per-connection limit, inbound + outbound). 0 or Infinity = unpaced. */
  maxPublishesPerSecond?: number;
  /** Default 512 KiB/s (AWS IoT Core per-connection limit). 0 or Infinity = unpaced. */
  maxBytesPerSecond?: number;
  /** Batches in flight at once (config `upload.maxInFlight`; its default lives in daemon/config.ts). */
  maxInFlight: number;
  /**
   * MQTT messages awaiting PUBACK at once (all batches together). Default 50; AWS IoT Core allows
   * 100 unacknowledged outbound QoS1 messages per client. With a 150 ms cellular round trip,
   * 100 publishes/s need at least 15 in flight.
   */
  maxInFlightPublishes?: number;
  /** Partition upload conditions: only batches this accepts are uploaded (others wait in the store). */
  accept?: Parameters<UploadQueue['next']>[1];
  /** First delay before a batch the broker refused is tried again (doubles up to 60 s). Default 1000 ms. */
  retryDelayMs?: number;
  logger?: Logger;
}

export interface UploaderStats {
  /** MQTT messages (batch parts) handed to the broker. */
  published: number;
  /** MQTT messages acknowledged (PUBACK). */
  acked: number;
  /** Batches uploaded completely and removed from the queue. */
  batches: number;
  /** Batch attempts that failed (the batch stayed queued). */
  failed: number;
  /** Batches in flight now. */
  inFlight: number;
  /** Payload bytes acknowledged. */
  bytes: number;
  /** Epoch ms of the last PUBACK (0 = none yet). */
  lastAckMs: number;
}

/**
 * Token bucket with reservations: `reserve(n)` takes n tokens now (going negative if needed) and
 * returns how long the caller must wait, so concurrent callers are served in order without polling.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    readonly ratePerSecond: number,
    readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = capacity;
    this.last = now();
  }

  get unlimited(): boolean {
    return !(this.ratePerSecond > 0 && Number.isFinite(this.ratePerSecond));
  }

  /** Milliseconds to wait before the n tokens may be used. */
  reserve(n: number): number {
    if (this.unlimited) return 0;
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.ratePerSecond) * 1000;
  }
}

// bursts of at most 1/10 s worth keep every 1 s window close to the limit; the byte bucket holds
// at least one maximum-size IoT Core payload
const publishBucket = (perSecond: number): TokenBucket => new TokenBucket(perSecond, Math.max(1, perSecond / 10));
const bytesBucket = (perSecond: number): TokenBucket => new TokenBucket(perSecond, Math.max(128 * 1024, perSecond / 10));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Uploader {
  private readonly queue: UploadQueue;
  private readonly conn: MqttConnection;
  private readonly topicOf: (b: StoredBatch) => string;
  private readonly maxInFlight: number;
  private readonly accept?: UploaderOptions['accept'];
  private readonly retryDelayMs: number;
  private readonly log: Logger;
  private publishes: TokenBucket;
  private bytesBucket: TokenBucket;
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly maxInFlightPublishes: number;
  private publishesInFlight = 0;
  private readonly publishSlotWaiters: (() => void)[] = [];
  /** seq -> epoch ms before which a refused batch is not retried */
  private readonly cooldown = new Map<number, { until: number; failures: number }>();
  private readonly exclude = new Set<number>();
  private running = false;
  private pumping = false;
  private again = false;
  private unsubscribeAppend?: () => void;
  private wakeTimer: NodeJS.Timeout | undefined;
  private readonly s: UploaderStats = { published: 0, acked: 0, batches: 0, failed: 0, inFlight: 0, bytes: 0, lastAckMs: 0 };
  private readonly onConnected = (): void => {
    // a new connection: give refused batches another chance at once
    this.cooldown.clear();
    this.wake();
  };

  constructor(opts: UploaderOptions) {
    this.queue = opts.queue;
    this.conn = opts.connection;
    const t = opts.topic ?? DEFAULT_BATCH_TOPIC;
    this.topicOf = typeof t === 'function' ? t : compileTopicTemplate(t, opts.connection.thingName);
    this.maxInFlight = Math.max(1, opts.maxInFlight);
    this.maxInFlightPublishes = Math.max(1, opts.maxInFlightPublishes ?? 50);
    this.accept = opts.accept;
    this.retryDelayMs = opts.retryDelayMs ?? 1000;
    this.log = opts.logger ?? silentLogger;
    this.publishes = publishBucket(opts.maxPublishesPerSecond ?? 100);
    this.bytesBucket = bytesBucket(opts.maxBytesPerSecond ?? 512 * 1024);
  }

  /** Change the pacing live (e.g. from the device shadow). 0 or Infinity = unpaced. */
  setPacing(maxPublishesPerSecond: number, maxBytesPerSecond: number): void {
    this.publishes = publishBucket(maxPublishesPerSecond);
    this.bytesBucket = bytesBucket(maxBytesPerSecond);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribeAppend = this.queue.onAppend(() => this.wake());
    this.conn.on('connected', this.onConnected);
    this.wake();
  }

  /** Stop taking new batches and wait until the ones in flight are acknowledged or failed. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribeAppend?.();
    this.unsubscribeAppend = undefined;
    this.conn.off('connected', this.onConnected);
    clearTimeout(this.wakeTimer);
    while (this.inFlight.size > 0 || this.pumping) {
      await Promise.allSettled([...this.inFlight.values()]);
      if (this.pumping) await sleep(5);
    }
  }

  stats(): UploaderStats {
    return { ...this.s, inFlight: this.inFlight.size };
  }

  /** Ask the uploader to look at the queue again (also called by onAppend / connected / acks). */
  wake(): void {
    if (!this.running) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      do {
        this.again = false;
        while (this.running && this.conn.connected && this.inFlight.size < this.maxInFlight) {
          this.refreshExclude();
          let batch: StoredBatch | undefined;
          try {
            batch = await this.queue.next(this.exclude, this.accept);
          } catch (e) {
            this.log.error({ err: e }, 'reading the upload queue failed; retrying in 1 s');
            this.scheduleWake(1000);
            return;
          }
          if (!batch) break;
          if (this.inFlight.has(batch.seq)) break; // queue ignored `exclude`: never send one batch twice at once
          const seq = batch.seq;
          const task = this.send(batch).finally(() => {
            this.inFlight.delete(seq);
            this.wake();
          });
          this.inFlight.set(seq, task);
        }
      } while (this.again && this.running);
    } finally {
      this.pumping = false;
    }
  }

  private refreshExclude(): void {
    this.exclude.clear();
    for (const seq of this.inFlight.keys()) this.exclude.add(seq);
    if (this.cooldown.size === 0) return;
    const now = Date.now();
    let soonest = Infinity;
    for (const [seq, c] of this.cooldown) {
      if (c.until > now) {
        this.exclude.add(seq);
        soonest = Math.min(soonest, c.until);
      }
    }
    if (soonest < Infinity) this.scheduleWake(soonest - now);
  }

  private scheduleWake(ms: number): void {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => this.wake(), Math.max(1, ms));
  }

  private async send(batch: StoredBatch): Promise<void> {
    let topic: string;
    try {
      topic = this.topicOf(batch);
    } catch (e) {
      this.fail(batch, e, true);
      return;
    }
    const acks: Promise<void>[] = [];
    let failedEarly: unknown;
    for (const part of batch.parts) {
      const wait = Math.max(this.publishes.reserve(1), this.bytesBucket.reserve(part.byteLength));
      if (wait > 0) await sleep(wait);
      if (!this.conn.connected) {
        failedEarly = new Error('connection lost before all parts were sent');
        break;
      }
      await this.publishSlot();
      if (!this.conn.connected) {
        this.releasePublishSlot();
        failedEarly = new Error('connection lost before all parts were sent');
        break;
      }
      this.s.published++;
      const ack = this.conn.publish(topic, part, 1).then(
        () => {
          this.releasePublishSlot();
          this.s.acked++;
          this.s.bytes += part.byteLength;
          this.s.lastAckMs = Date.now();
        },
        (e: unknown) => {
          this.releasePublishSlot();
          throw e;
        },
      );
      // a part may fail while later parts are still being paced: observe it now, judge it below
      ack.catch(() => undefined);
      acks.push(ack);
    }
    const results = await Promise.allSettled(acks);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failedEarly !== undefined || rejected) {
      const err: unknown = rejected ? rejected.reason : failedEarly;
      const lostConnection = failedEarly !== undefined || (isEdgewiseError(err) && err.context.disconnected === true);
      this.fail(batch, err, !lostConnection);
      return;
    }
    try {
      await this.queue.remove(batch.seq);
      this.s.batches++;
      this.cooldown.delete(batch.seq);
    } catch (e) {
      // acknowledged but still stored: it will be sent again (at least once)
      this.log.error({ err: e, seq: batch.seq }, 'removing an uploaded batch from the queue failed');
    }
  }

  private publishSlot(): Promise<void> | void {
    if (this.publishesInFlight < this.maxInFlightPublishes) {
      this.publishesInFlight++;
      return;
    }
    return new Promise((resolve) => this.publishSlotWaiters.push(resolve));
  }

  private releasePublishSlot(): void {
    const next = this.publishSlotWaiters.shift();
    if (next) next(); // hand the slot over directly
    else this.publishesInFlight--;
  }

  private fail(batch: StoredBatch, err: unknown, refusedWhileConnected: boolean): void {
    this.s.failed++;
    const msg = err instanceof Error ? err.message : String(err);
    if (refusedWhileConnected) {
      // the broker refused something while we stay connected (not authorized, too large, ...):
      // back this batch off so it cannot monopolize the uploader; the others keep flowing
      const prev = this.cooldown.get(batch.seq)?.failures ?? 0;
      const delay = Math.min(60_000, this.retryDelayMs * 2 ** prev);
      this.cooldown.set(batch.seq, { until: Date.now() + delay, failures: prev + 1 });
      this.log.warn({ seq: batch.seq, campaign: batch.campaign, retryInMs: delay }, `batch upload refused: ${msg}`);
    } else {
      this.log.info({ seq: batch.seq, campaign: batch.campaign }, `batch upload interrupted, kept for retry: ${msg}`);
    }
  }
}
