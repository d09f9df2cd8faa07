/**
 * Real-broker test harness: mosquitto with mutual TLS (client certificate CN = thing name, per-thing
 * ACLs like an IoT policy), certificates from openssl in a temp dir, plus an observer client (mqtt.js)
 * that may read every topic.
 *
 *   const broker = await startBroker();
 *   const { cert, key } = broker.certFor('car-1');
 *   const seen = await broker.subscribe('edgewise/car-1/#');
 *   ... await seen.waitFor(3); seen.messages ...
 *   await broker.restart(); await broker.close();
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { createDevPki, type CertPair } from '../../src/upload/certs.js';
import { startMosquitto, type MosquittoBroker } from '../../src/upload/mosquitto.js';

export type { CertPair };

export interface ReceivedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  /** performance.now() when the observer received it. */
  at: number;
}

export interface Collector {
  readonly messages: ReceivedMessage[];
  /** Resolves when at least `n` messages (matching `pred` if given) arrived; rejects after `timeoutMs` (default 20 s). */
  waitFor(n: number, opts?: { timeoutMs?: number; pred?: (m: ReceivedMessage) => boolean }): Promise<ReceivedMessage[]>;
  close(): Promise<void>;
}

export interface TestBroker {
  host: 'localhost';
  port: number;
  caFile: string;
  dir: string;
  /** Client certificate for `thing` signed by the broker's CA. */
  certFor(thing: string): CertPair;
  /** Client certificate for `thing` signed by a CA the broker does NOT trust. */
  rogueCertFor(thing: string): CertPair;
  start(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
  running(): boolean;
  log(): string;
  /** Observer subscription (identity `observer`, may read everything incl. `$aws/...`). */
  subscribe(topic: string): Promise<Collector>;
  /** Stop the broker, close observers, remove the temp dir. */
  close(): Promise<void>;
}

export const OBSERVER = 'observer';

export interface StartBrokerOptions {
  port?: number;
  /** Largest MQTT packet mosquitto accepts (advertised in CONNACK). */
  maxPacketSize?: number;
  /** Keep sessions and queued messages across stop/start (the observer then keeps its subscription). */
  persistence?: boolean;
}

export async function startBroker(opts: StartBrokerOptions = {}): Promise<TestBroker> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-broker-'));
  const pki = createDevPki(path.join(dir, 'pki'));
  const rogue = createDevPki(path.join(dir, 'rogue'), { caName: 'rogue CA' });
  const mq: MosquittoBroker = await startMosquitto({
    dir,
    pki,
    port: opts.port,
    superUsers: [OBSERVER],
    maxPacketSize: opts.maxPacketSize,
    persistence: opts.persistence,
  });
  const observer = pki.certFor(OBSERVER);
  const collectors = new Set<Collector>();
  let n = 0;

  const subscribe = async (topic: string): Promise<Collector> => {
    const client = mqtt.connect({
      protocol: 'mqtts',
      host: 'localhost',
      port: mq.port,
      ca: readFileSync(pki.caFile),
      cert: readFileSync(observer.cert),
      key: readFileSync(observer.key),
      clientId: `${OBSERVER}-${path.basename(dir)}-${++n}`,
      protocolVersion: 5,
      reconnectPeriod: 200,
      // with broker persistence the observer keeps its subscription and queued messages over restarts
      clean: !opts.persistence,
      properties: opts.persistence ? { sessionExpiryInterval: 3600 } : undefined,
      connectTimeout: 5000,
    });
    // The observer's own connection history, reported when a wait times out.
    const t0 = performance.now();
    const events: string[] = [];
    const note = (e: string): void => {
      events.push(`${((performance.now() - t0) / 1000).toFixed(3)} s ${e}`);
    };
    client.on('error', (e) => note(`error ${e.message}`));
    client.on('close', () => note('closed'));
    const messages: ReceivedMessage[] = [];
    const waiters = new Set<() => void>();
    client.on('message', (t, payload, packet) => {
      messages.push({ topic: t, payload, retain: packet.retain, at: performance.now() });
      for (const w of [...waiters]) w();
    });
    // Subscribe on every (re)connect (without broker persistence the session is gone after a restart).
    // Only the first SUBACK resolves subscribe(): mqtt.js answers a repeated subscribe() for a topic it
    // already has at once, before the broker has it, and a test that stops the broker right after
    // would then restart it without the subscription.
    let subscribed!: (err?: Error) => void;
    const firstSuback = new Promise<void>((resolve, reject) => {
      subscribed = (err) => (err ? reject(err) : resolve());
    });
    client.on('connect', (ack) => {
      note(`connected, sessionPresent ${ack.sessionPresent}, ${messages.length} messages so far`);
      client.subscribe(topic, { qos: 1 }, (err, granted) => {
        const refused = granted?.find((g) => g.qos >= 0x80);
        const problem = err ?? (refused ? new Error(`broker refused the subscription to ${topic} (reason ${refused.qos})`) : undefined);
        note(problem ? `subscribe failed: ${problem.message}` : `subscribed (${granted?.length ?? 0} granted)`);
        subscribed(problem);
      });
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      firstSuback,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`observer could not subscribe to ${topic}: ${events.join('; ')}\n${mq.log()}`)), 10_000);
      }),
    ])
      .catch(async (e: unknown) => {
        await client.endAsync(true).catch(() => undefined);
        throw e;
      })
      .finally(() => clearTimeout(timer));
    const collector: Collector = {
      messages,
      waitFor(count, o = {}) {
        const matching = (): ReceivedMessage[] => (o.pred ? messages.filter(o.pred) : messages);
        if (matching().length >= count) return Promise.resolve(matching());
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`timed out waiting for ${count} messages on ${topic}; got ${matching().length}\nobserver:\n${events.join('\n')}`));
          }, o.timeoutMs ?? 20_000);
          const check = (): void => {
            if (matching().length < count) return;
            clearTimeout(timer);
            waiters.delete(check);
            resolve(matching());
          };
          waiters.add(check);
        });
      },
      close: async () => {
        collectors.delete(collector);
        await client.endAsync(true).catch(() => undefined);
      },
    };
    collectors.add(collector);
    return collector;
  };

  return {
    host: 'localhost',
    port: mq.port,
    caFile: pki.caFile,
    dir,
    certFor: (thing) => pki.certFor(thing),
    rogueCertFor: (thing) => rogue.certFor(thing),
    start: () => mq.start(),
    stop: () => mq.stop(),
    kill: () => mq.kill(),
    restart: () => mq.restart(),
    running: () => mq.running(),
    log: () => mq.log(),
    subscribe,
    close: async () => {
      await Promise.all([...collectors].map((c) => c.close()));
      await mq.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
