import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MqttConnection, Uploader, type ConnectionFailure, type LocalBrokerMessage } from '../../src/upload/index.js';
import { startLocalBroker } from '../../src/upload/local-broker.js';
import { MemoryQueue } from './fixtures/memory-queue.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-local-broker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('embedded dev broker (aedes, mTLS, MQTT 3.1.1)', () => {
  it('creates dev certificates on first run, reuses them, and receives an upload over mTLS', async () => {
    const broker = await startLocalBroker({ dir, port: 0, thingName: 'dev-car' });
    const caBefore = readFileSync(broker.caFile, 'utf8');
    const conn = new MqttConnection({
      host: broker.host,
      port: broker.port,
      thingName: broker.thingName,
      certFile: broker.certFile,
      keyFile: broker.keyFile,
      caFile: broker.caFile,
      protocol: 'mqtt311',
    });
    const q = new MemoryQueue();
    const u = new Uploader({ queue: q, connection: conn, maxInFlight: 8 });
    const got: LocalBrokerMessage[] = [];
    const twoBatches = new Promise<void>((resolve) =>
      broker.on('message', (m) => {
        if (m.topic.startsWith('edgewise/dev-car/batches/')) got.push(m);
        if (got.length === 2) resolve();
      }),
    );
    try {
      conn.start();
      u.start();
      q.add({ priority: 2 });
      q.add({ priority: 1 });
      await twoBatches;
      // queued before the connection was up: priority 1 (seq 2) goes first
      expect(got.map((m) => JSON.parse(m.payload.toString()).seq)).toEqual([2, 1]);
      expect(got.every((m) => m.clientId === 'dev-car' && m.qos === 1)).toBe(true);
      await expect.poll(() => q.batches.size).toBe(0);
      // the subscription path works on 3.1.1 too
      const received: string[] = [];
      await conn.subscribe('edgewise/dev-car/cmd', (_t, p) => received.push(Buffer.from(p).toString()));
      await conn.publish('edgewise/dev-car/cmd', 'hello');
      await expect.poll(() => received).toEqual(['hello']);
      // MQTT 3.1.1 cannot refuse a publish: the broker drops the connection (as IoT Core does); we fail and reconnect
      await expect(conn.publish('edgewise/other-car/x', 'x')).rejects.toMatchObject({ code: 'UPLOAD_FAILED' });
      await conn.waitConnected();
      await conn.publish('edgewise/dev-car/cmd', 'again');
      await expect.poll(() => received).toEqual(['hello', 'again']);
    } finally {
      await u.stop();
      await conn.close();
      await broker.close();
    }
    const again = await startLocalBroker({ dir, port: 0, thingName: 'dev-car' });
    expect(readFileSync(again.caFile, 'utf8')).toBe(caBefore);
    await again.close();
  });

  it('refuses a client whose id is not its certificate CN and reports it', async () => {
    const broker = await startLocalBroker({ dir, port: 0, thingName: 'dev-car' });
    const conn = new MqttConnection({
      host: broker.host,
      port: broker.port,
      thingName: 'impostor',
      certFile: broker.certFile,
      keyFile: broker.keyFile,
      caFile: broker.caFile,
      protocol: 'mqtt311',
      credentialRetryMaxMs: 1000,
    });
    try {
      const failures: ConnectionFailure[] = [];
      const two = new Promise<void>((r) => conn.on('connectionFailure', (f) => failures.push(f) === 2 && r()));
      conn.start();
      await two; // retried after a backoff
      const f = failures[0];
      expect(conn.connected).toBe(false);
      expect(failures[1].attempt).toBe(2);
      expect(f.kind).not.toBe('network');
      console.log(`[upload] local broker refusal: ${f.kind} ${f.code}: ${f.reason}`);
    } finally {
      await conn.close();
      await broker.close();
    }
  });
});
