import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MqttConnection, type ConnectionFailure, type ConnectionOptions } from '../../src/upload/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let broker: TestBroker;
const open: MqttConnection[] = [];

function connect(thing: string, extra: Partial<ConnectionOptions> = {}): MqttConnection {
  const { cert, key } = broker.certFor(thing);
  const c = new MqttConnection({ host: broker.host, port: broker.port, thingName: thing, certFile: cert, keyFile: key, caFile: broker.caFile, ...extra });
  open.push(c);
  return c;
}

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await broker?.close();
});

describe('MqttConnection against mosquitto with mTLS', () => {
  it('publishes QoS1 and resolves on PUBACK; the broker sees the payload', async () => {
    const seen = await broker.subscribe('edgewise/car-pub/data');
    const c = connect('car-pub');
    c.start();
    await c.waitConnected();
    const payload = new Uint8Array([1, 2, 3, 250]);
    await c.publish('edgewise/car-pub/data', payload);
    const [m] = await seen.waitFor(1);
    expect([...m.payload]).toEqual([1, 2, 3, 250]);
  });

  it('rejects a publish the broker refuses (topic of another thing) with UPLOAD_FAILED and stays connected', async () => {
    const c = connect('car-acl');
    c.start();
    await c.waitConnected();
    await expect(c.publish('edgewise/someone-else/data', 'x')).rejects.toMatchObject({ code: 'UPLOAD_FAILED', context: { reasonCode: 135 } });
    expect(c.connected).toBe(true);
    await expect(c.publish('edgewise/car-acl/data', 'x')).resolves.toBeUndefined();
  });

  it('rejects publishing while not connected instead of queueing silently', async () => {
    const c = connect('car-offline');
    await expect(c.publish('edgewise/car-offline/x', 'x')).rejects.toMatchObject({ code: 'UPLOAD_FAILED' });
  });

  it('publishes a retained online status with the version on connect', async () => {
    const c = connect('car-status', { version: '9.9.9' });
    c.start();
    await c.waitConnected();
    const seen = await broker.subscribe('edgewise/car-status/status');
    const [m] = await seen.waitFor(1, { pred: (x) => JSON.parse(x.payload.toString()).state === 'online' });
    expect(m.retain).toBe(true);
    expect(JSON.parse(m.payload.toString())).toMatchObject({ state: 'online', version: '9.9.9' });
  });

  it('delivers subscribed messages and resubscribes after the broker is killed and restarted; measures reconnect time', async () => {
    const c = connect('car-sub');
    const got: string[] = [];
    c.start();
    await c.waitConnected();
    await c.subscribe('edgewise/car-sub/cmd/+', (topic, payload) => got.push(`${topic}=${Buffer.from(payload).toString()}`));

    const disconnected = new Promise<void>((r) => c.once('disconnected', () => r()));
    await broker.kill(); // abrupt: SIGKILL, no DISCONNECT from the broker
    await disconnected;
    expect(c.connected).toBe(false);
    await new Promise((r) => setTimeout(r, 2500)); // let the backoff grow to its cap
    const reconnected = new Promise<number>((r) => c.once('connected', () => r(performance.now())));
    await broker.start();
    const listeningAt = performance.now();
    const connectedAt = await reconnected;
    console.log(`[upload] reconnect after broker became reachable: ${(connectedAt - listeningAt).toFixed(0)} ms`);

    // the subscription was renewed without a session: a message published now reaches the handler
    const obs = broker.certFor('observer');
    const pub = await mqtt.connectAsync({
      protocol: 'mqtts',
      host: 'localhost',
      port: broker.port,
      ca: readFileSync(broker.caFile),
      cert: readFileSync(obs.cert),
      key: readFileSync(obs.key),
      protocolVersion: 5,
    });
    for (let i = 0; i < 50 && got.length === 0; i++) {
      await pub.publishAsync('edgewise/car-sub/cmd/reboot', 'now', { qos: 1 });
      await new Promise((r) => setTimeout(r, 100));
    }
    await pub.endAsync();
    expect(got[0]).toBe('edgewise/car-sub/cmd/reboot=now');
  });

  it('publishes a retained offline status itself on a clean stop (a clean DISCONNECT suppresses the will)', async () => {
    const c = connect('car-clean-stop');
    c.start();
    await c.waitConnected();
    await c.stop();
    const seen = await broker.subscribe('edgewise/car-clean-stop/status');
    const [m] = await seen.waitFor(1);
    expect(m.retain).toBe(true);
    expect(JSON.parse(m.payload.toString())).toMatchObject({ state: 'offline', reason: 'stopped' });
  });

  it('with a persistent session: rejoins it and still subscribes filters added while offline', async () => {
    const c = connect('car-session', { sessionExpirySeconds: 300, statusTopic: false });
    const got: string[] = [];
    c.start();
    await c.waitConnected();
    await c.subscribe('edgewise/car-session/a', (_t, p) => got.push(`a:${Buffer.from(p).toString()}`));
    await c.stop();
    await c.subscribe('edgewise/car-session/b', (_t, p) => got.push(`b:${Buffer.from(p).toString()}`)); // while offline
    const rejoined = new Promise<boolean>((r) => c.once('connected', (i) => r(i.sessionPresent)));
    c.start();
    expect(await rejoined).toBe(true);
    // the SUBSCRIBE for b is sent right after CONNACK; retry the publish until it is in place
    for (let i = 0; i < 50 && !got.includes('b:2'); i++) {
      await c.publish('edgewise/car-session/b', '2');
      await new Promise((r) => setTimeout(r, 50));
    }
    await c.publish('edgewise/car-session/a', '1');
    await expect.poll(() => got.includes('a:1') && got.includes('b:2')).toBe(true);
  });

  it('survives a message handler that throws: reports a warning and keeps delivering', async () => {
    const c = connect('car-throw', { statusTopic: false });
    c.start();
    await c.waitConnected();
    const warnings: string[] = [];
    c.on('warning', (w) => warnings.push(w.message));
    const got: string[] = [];
    await c.subscribe('edgewise/car-throw/in', (_t, p) => {
      const text = Buffer.from(p).toString();
      if (text === 'bad') throw new Error('handler bug');
      got.push(text);
    });
    await c.publish('edgewise/car-throw/in', 'bad');
    await c.publish('edgewise/car-throw/in', 'good');
    await expect.poll(() => got).toEqual(['good']);
    expect(warnings.some((w) => w.includes('edgewise/car-throw/in'))).toBe(true);
    expect(c.connected).toBe(true);
    // unsubscribe: nothing more arrives (a wildcard sibling proves the broker still delivers)
    const rest: string[] = [];
    await c.subscribe('edgewise/car-throw/+', (t) => rest.push(t));
    await c.unsubscribe('edgewise/car-throw/in');
    await c.publish('edgewise/car-throw/in', 'late');
    await expect.poll(() => rest.length).toBe(1);
    expect(got).toEqual(['good']);
  });

  it('reports a certificate from an untrusted CA as a clear connectionFailure and keeps retrying', async () => {
    const { cert, key } = broker.rogueCertFor('car-rogue');
    const c = new MqttConnection({
      host: broker.host,
      port: broker.port,
      thingName: 'car-rogue',
      certFile: cert,
      keyFile: key,
      caFile: broker.caFile,
      credentialRetryMaxMs: 1200,
    });
    open.push(c);
    const failures: ConnectionFailure[] = [];
    const twoFailures = new Promise<void>((resolve) =>
      c.on('connectionFailure', (f) => {
        failures.push(f);
        if (failures.length === 2) resolve();
      }),
    );
    c.start();
    await twoFailures;
    expect(c.connected).toBe(false);
    expect(failures[0].kind).toBe('tls');
    expect(failures[0].reason).toMatch(/certificate/);
    expect(failures[1].attempt).toBe(2);
    expect(failures[0].retryInMs).toBeGreaterThanOrEqual(1000);
    console.log(`[upload] rogue certificate failure: ${failures[0].code}: ${failures[0].reason}`);
  });

  it('refuses a missing certificate file with CONFIG_INVALID', () => {
    expect(
      () => new MqttConnection({ host: 'localhost', thingName: 't', certFile: '/nonexistent/cert.pem', keyFile: '/nonexistent/key.pem' }),
    ).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('makes the broker publish the retained offline will when the agent process is killed', async () => {
    const outDir = path.join(ROOT, 'node_modules/.cache/edgewise-test');
    mkdirSync(outDir, { recursive: true });
    const outfile = path.join(outDir, `will-child-${process.pid}.mjs`);
    await build({
      entryPoints: [path.join(ROOT, 'test/upload/fixtures/will-child.ts')],
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      outfile,
      logLevel: 'silent',
    });
    const { cert, key } = broker.certFor('car-will');
    const child = spawn(process.execPath, [outfile, broker.host, String(broker.port), 'car-will', cert, key, broker.caFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('child did not connect')), 15_000);
        child.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('CONNECTED')) {
            clearTimeout(t);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
      });
      const status = await broker.subscribe('edgewise/car-will/status');
      await status.waitFor(1, { pred: (m) => JSON.parse(m.payload.toString()).state === 'online' });
      child.kill('SIGKILL');
      const [off] = await status.waitFor(1, { pred: (m) => JSON.parse(m.payload.toString()).state === 'offline' });
      expect(JSON.parse(off.payload.toString())).toMatchObject({ state: 'offline' });
      // retained: a newcomer sees "offline" too
      const later = await broker.subscribe('edgewise/car-will/status');
      const [r] = await later.waitFor(1);
      expect(r.retain).toBe(true);
      expect(JSON.parse(r.payload.toString()).state).toBe('offline');
    } finally {
      child.kill('SIGKILL');
      rmSync(outfile, { force: true });
    }
  });
});
