import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MqttConnection, Uploader, type ConnectionFailure, type ConnectionOptions } from '../../src/upload/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { MemoryQueue } from './fixtures/memory-queue.js';

let broker: TestBroker;
const cleanups: (() => Promise<void>)[] = [];

function connection(thing: string, extra: Partial<ConnectionOptions> = {}, b: TestBroker = broker): MqttConnection {
  const { cert, key } = b.certFor(thing);
  const c = new MqttConnection({ host: b.host, port: b.port, thingName: thing, certFile: cert, keyFile: key, caFile: b.caFile, ...extra });
  cleanups.push(() => c.close());
  return c;
}

/** The daemon's configured default (`upload.maxInFlight`) unless a test sets its own. */
function uploader(opts: Omit<ConstructorParameters<typeof Uploader>[0], 'maxInFlight'> & { maxInFlight?: number }): Uploader {
  const u = new Uploader({ ...opts, maxInFlight: opts.maxInFlight ?? 8 });
  cleanups.unshift(() => u.stop());
  return u;
}

const seqOf = (payload: Buffer): number => JSON.parse(payload.toString()).seq as number;

beforeAll(async () => {
  // 140 000 bytes ≈ IoT Core's 128 KiB payload limit plus headers
  broker = await startBroker({ maxPacketSize: 140_000 });
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

afterAll(async () => {
  await broker?.close();
});

describe('Uploader with a real mosquitto', () => {
  it('drains the queue most important first, then oldest, and removes every batch', async () => {
    const q = new MemoryQueue();
    const t0 = 1_700_000_000_000;
    // seq, priority, createdMs: expected order by (priority, createdMs)
    const spec: [number, number, number][] = [
      [1, 5, t0 + 1],
      [2, 1, t0 + 9],
      [3, 1, t0 + 2],
      [4, 0, t0 + 50],
      [5, 5, t0 + 0],
      [6, 3, t0 + 3],
      [7, 0, t0 + 40],
      [8, 9, t0 + 1],
    ];
    for (const [seq, priority, createdMs] of spec) q.add({ seq, priority, createdMs });
    const expected = [...spec].sort((a, b) => a[1] - b[1] || a[2] - b[2]).map(([s]) => s);
    const seen = await broker.subscribe('edgewise/car-order/batches/#');
    const conn = connection('car-order');
    const u = uploader({ queue: q, connection: conn, maxInFlight: 1 });
    u.start(); // before connecting: must wait for `connected`, not spin
    conn.start();
    const msgs = await seen.waitFor(spec.length);
    expect(msgs.map((m) => seqOf(m.payload))).toEqual(expected);
    expect(msgs[0].topic).toBe('edgewise/car-order/batches/campaign-a');
    await expect.poll(() => q.batches.size).toBe(0);
    expect(q.removed).toEqual(expected);
    expect(u.stats()).toMatchObject({ batches: spec.length, acked: spec.length, published: spec.length, failed: 0, inFlight: 0 });
  });

  it('wakes up on append after going idle and uses the topic template (Basic Ingest form)', async () => {
    const q = new MemoryQueue();
    const seen = await broker.subscribe('$aws/rules/ingest/#');
    const conn = connection('car-ingest');
    const u = uploader({ queue: q, connection: conn, topic: '$aws/rules/ingest/{thing}/{campaign}/{partition}' });
    conn.start();
    u.start();
    await conn.waitConnected();
    await new Promise((r) => setTimeout(r, 100));
    q.add({ campaign: 'brakes/v2', partitionId: 'hot' });
    const [m] = await seen.waitFor(1);
    expect(m.topic).toBe('$aws/rules/ingest/car-ingest/brakes_v2/hot');
    await expect.poll(() => q.batches.size).toBe(0);
  });

  it('uploads only partitions that `accept` allows; the others stay stored', async () => {
    const q = new MemoryQueue();
    for (let i = 0; i < 4; i++) q.add({ partitionId: i % 2 ? 'cold' : 'hot' });
    const seen = await broker.subscribe('edgewise/car-accept/#');
    const conn = connection('car-accept', { statusTopic: false });
    let coldAllowed = false;
    const u = uploader({ queue: q, connection: conn, accept: (b) => b.partitionId === 'hot' || coldAllowed });
    conn.start();
    u.start();
    await seen.waitFor(2);
    await expect.poll(() => q.batches.size).toBe(2);
    expect([...q.batches.values()].every((b) => b.partitionId === 'cold')).toBe(true);
    coldAllowed = true;
    u.wake();
    await seen.waitFor(4);
    await expect.poll(() => q.batches.size).toBe(0);
  });

  it('paces publishes to maxPublishesPerSecond and still delivers everything', async () => {
    const q = new MemoryQueue();
    const n = 30;
    const rate = 20;
    for (let i = 0; i < n; i++) q.add({});
    const seen = await broker.subscribe('edgewise/car-pace/batches/#');
    const conn = connection('car-pace', { statusTopic: false });
    conn.start();
    await conn.waitConnected();
    const u = uploader({ queue: q, connection: conn, maxPublishesPerSecond: 10_000, maxInFlight: 8 });
    u.setPacing(rate, 0); // live change (the shadow's settings use this)
    const t0 = performance.now();
    u.start();
    const msgs = await seen.waitFor(n);
    const elapsed = performance.now() - t0;
    expect(new Set(msgs.map((m) => seqOf(m.payload))).size).toBe(n);
    // a token bucket cannot go faster than (n - burst) / rate; burst = rate / 10
    expect(elapsed).toBeGreaterThanOrEqual(((n - rate / 10) / rate) * 1000 - 50);
    const perWindow = new Map<number, number>();
    for (const m of msgs) {
      const w = Math.floor((m.at - t0) / 1000);
      perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
    }
    console.log(`[upload] ${n} publishes at max ${rate}/s took ${elapsed.toFixed(0)} ms; per 1 s window: ${[...perWindow.values()].join(', ')}`);
  });

  it('paces bytes to maxBytesPerSecond', async () => {
    const q = new MemoryQueue();
    const part = 64 * 1024;
    const n = 8;
    for (let i = 0; i < n; i++) q.add({ parts: [new Uint8Array(part).fill(i)] });
    const seen = await broker.subscribe('edgewise/car-bytes/batches/#');
    const conn = connection('car-bytes', { statusTopic: false });
    conn.start();
    await conn.waitConnected();
    const bps = 256 * 1024;
    const u = uploader({ queue: q, connection: conn, maxBytesPerSecond: bps });
    const t0 = performance.now();
    u.start();
    await seen.waitFor(n);
    const elapsed = performance.now() - t0;
    // bucket capacity is max(128 KiB, rate / 10) = 128 KiB
    expect(elapsed).toBeGreaterThanOrEqual(((n * part - 128 * 1024) / bps) * 1000 - 50);
    await expect.poll(() => q.batches.size).toBe(0);
    expect(u.stats().bytes).toBe(n * part);
  });

  it('removes a 3-part batch only after all 3 PUBACKs; a batch with a refused part stays queued', async () => {
    const q = new MemoryQueue();
    const enc = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o));
    const good = q.add({ priority: 1, parts: [enc({ seq: 1, part: 0 }), enc({ seq: 1, part: 1 }), enc({ seq: 1, part: 2 })] });
    // the middle part exceeds the broker's maximum packet size: the client refuses to send it
    const bad = q.add({ priority: 2, parts: [enc({ seq: 2, part: 0 }), new Uint8Array(200_000), enc({ seq: 2, part: 2 })] });
    const seen = await broker.subscribe('edgewise/car-parts/batches/#');
    const conn = connection('car-parts', { statusTopic: false });
    let ackedAtRemove = -1;
    let u: Uploader | undefined; // eslint-disable-line prefer-const -- the onRemove closure above the assignment reads it
    q.onRemove = (seq) => {
      if (seq === good.seq) ackedAtRemove = u!.stats().acked;
    };
    u = uploader({ queue: q, connection: conn, maxInFlight: 1, retryDelayMs: 60_000 });
    conn.start();
    u.start();
    await expect.poll(() => q.removed.includes(good.seq)).toBe(true);
    expect(ackedAtRemove).toBeGreaterThanOrEqual(3);
    await expect.poll(() => u!.stats().failed).toBeGreaterThanOrEqual(1);
    expect(q.batches.has(bad.seq)).toBe(true);
    expect(q.removed).not.toContain(bad.seq);
    expect(conn.connected).toBe(true);
    const msgs = await seen.waitFor(5); // 3 good parts + the two small parts of the bad batch
    expect(msgs.filter((m) => m.payload.length < 100 && JSON.parse(m.payload.toString()).seq === 1)).toHaveLength(3);
  });

  it('keeps batches while the broker is down and uploads all of them after it is back', async () => {
    const b = await startBroker({ persistence: true });
    cleanups.push(() => b.close());
    const q = new MemoryQueue();
    const seen = await b.subscribe('edgewise/car-outage/batches/#');
    const conn = connection('car-outage', { statusTopic: false }, b);
    const u = uploader({ queue: q, connection: conn });
    conn.start();
    u.start();
    await conn.waitConnected();
    for (let i = 0; i < 5; i++) q.add({});
    await seen.waitFor(5);
    await expect.poll(() => q.batches.size).toBe(0);

    await b.stop();
    await expect.poll(() => conn.connected).toBe(false);
    for (let i = 0; i < 20; i++) q.add({});
    await new Promise((r) => setTimeout(r, 1500));
    expect(q.batches.size).toBe(20);
    const publishedWhileDown = u.stats().published;
    expect(publishedWhileDown).toBe(5); // no attempts without a connection

    const reconnected = new Promise<number>((r) => conn.once('connected', () => r(performance.now())));
    await b.start();
    const up = performance.now();
    const at = await reconnected;
    console.log(`[upload] uploader connection resumed ${(at - up).toFixed(0)} ms after the broker was reachable`);
    const msgs = await seen.waitFor(25);
    await expect.poll(() => q.batches.size).toBe(0);
    expect(new Set(msgs.map((m) => seqOf(m.payload)))).toEqual(new Set(Array.from({ length: 25 }, (_, i) => i + 1)));
  });

  it('with a certificate from an untrusted CA: clear failure, keeps retrying, queue untouched', async () => {
    const q = new MemoryQueue();
    for (let i = 0; i < 3; i++) q.add({});
    const { cert, key } = broker.rogueCertFor('car-rogue-up');
    const conn = new MqttConnection({
      host: broker.host,
      port: broker.port,
      thingName: 'car-rogue-up',
      certFile: cert,
      keyFile: key,
      caFile: broker.caFile,
      credentialRetryMaxMs: 1200,
    });
    cleanups.push(() => conn.close());
    const failures: ConnectionFailure[] = [];
    const two = new Promise<void>((r) => conn.on('connectionFailure', (f) => failures.push(f) === 2 && r()));
    const u = uploader({ queue: q, connection: conn });
    u.start();
    conn.start();
    await two;
    expect(failures.map((f) => f.kind)).toEqual(['tls', 'tls']);
    expect(q.batches.size).toBe(3);
    expect(q.removed).toEqual([]);
    expect(u.stats()).toMatchObject({ published: 0, failed: 0 });
  });

  it('stop() waits for the batches in flight', async () => {
    const q = new MemoryQueue();
    for (let i = 0; i < 10; i++) q.add({});
    const conn = connection('car-stop', { statusTopic: false });
    conn.start();
    await conn.waitConnected();
    const u = new Uploader({ queue: q, connection: conn, maxPublishesPerSecond: 50, maxInFlight: 8 });
    u.start();
    await expect.poll(() => u.stats().published).toBeGreaterThan(0);
    await u.stop();
    const s = u.stats();
    expect(s.inFlight).toBe(0);
    expect(s.batches + q.batches.size).toBe(10);
    expect(s.batches).toBe(q.removed.length);
    const after = s.published;
    q.add({});
    await new Promise((r) => setTimeout(r, 200));
    expect(u.stats().published).toBe(after); // stopped: no new work
  });
});
