/**
 * Connection state as the control plane sees it, from the shared SDK MQTT 5 client's own events
 * (the uploader's `MqttConnection` owns connecting; we only listen).
 */
import { EventEmitter } from 'node:events';
import type { mqtt5 } from 'aws-crt';

export class ConnectionWatch extends EventEmitter<{ connected: []; disconnected: [] }> {
  private up: boolean;
  private readonly offs: (() => void)[] = [];

  constructor(
    readonly client: mqtt5.Mqtt5Client,
    initiallyConnected: boolean,
  ) {
    super();
    this.up = initiallyConnected;
    const onUp = (): void => {
      this.up = true;
      this.emit('connected');
    };
    const onDown = (): void => {
      if (!this.up) return;
      this.up = false;
      this.emit('disconnected');
    };
    client.on('connectionSuccess', onUp);
    client.on('disconnection', onDown);
    client.on('stopped', onDown);
    this.offs.push(
      () => client.removeListener('connectionSuccess', onUp),
      () => client.removeListener('disconnection', onDown),
      () => client.removeListener('stopped', onDown),
    );
  }

  get connected(): boolean {
    return this.up;
  }

  /** Resolves once connected (at once when already); rejects when `signal` aborts. */
  waitConnected(signal?: AbortSignal): Promise<void> {
    if (this.up) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        signal?.removeEventListener('abort', abort);
        resolve();
      };
      const abort = (): void => {
        this.removeListener('connected', done);
        reject(new Error('aborted'));
      };
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      this.once('connected', done);
    });
  }

  close(): void {
    for (const off of this.offs) off();
    this.offs.length = 0;
    this.removeAllListeners();
  }
}

/** Sleep that ends early (resolving) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
