import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchStore } from '../../src/store/index.js';
import { MqttConnection, Uploader } from '../../src/upload/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';

let broker: TestBroker;
const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-upload-store-'));

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

const enc = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o));

describe('Uploader + LevelDB BatchStore + mosquitto', () => {
  it('uploads stored batches (survive a store reopen while offline) by priority then age and empties the store', async () => {
    const storeDir = path.join(dir, 'store');
    // stored while the agent had no connection, then the process "restarts"
    let store = await BatchStore.open(storeDir, { maxBytes: 10_000_000 });
    const t0 = 1_700_000_000_000;
    // batches are stored in time order (createdMs grows with seq), priorities mixed
    const plan = [
      { priority: 3, createdMs: t0 + 1, parts: 1 },
      { priority: 1, createdMs: t0 + 2, parts: 3 },
      { priority: 1, createdMs: t0 + 3, parts: 2 },
      { priority: 0, createdMs: t0 + 4, parts: 1 },
      { priority: 3, createdMs: t0 + 5, parts: 2 },
    ];
    const seqs: number[] = [];
    for (const p of plan) {
      seqs.push(
        await store.put({ priority: p.priority, createdMs: p.createdMs, campaign: 'brakes', partitionId: 'default' }, (seq) =>
          Array.from({ length: p.parts }, (_, i) => enc({ seq, part: i, of: p.parts })),
        ),
      );
    }
    await store.close();
    store = await BatchStore.open(storeDir, { maxBytes: 10_000_000 });
    expect(store.stats().batches).toBe(plan.length);

    const seen = await broker.subscribe('edgewise/car-store/batches/#');
    const { cert, key } = broker.certFor('car-store');
    const conn = new MqttConnection({ host: broker.host, port: broker.port, thingName: 'car-store', certFile: cert, keyFile: key, caFile: broker.caFile });
    const u = new Uploader({ queue: store, connection: conn, maxInFlight: 1 });
    try {
      u.start();
      conn.start();
      const totalParts = plan.reduce((n, p) => n + p.parts, 0);
      const msgs = await seen.waitFor(totalParts);
      await expect.poll(() => store.stats().batches).toBe(0);
      const order = msgs.map((m) => JSON.parse(m.payload.toString()).seq as number).filter((s, i, a) => a.indexOf(s) === i);
      const expected = plan
        .map((p, i) => ({ ...p, seq: seqs[i] }))
        .sort((a, b) => a.priority - b.priority || a.createdMs - b.createdMs)
        .map((p) => p.seq);
      expect(order).toEqual(expected);
      expect(u.stats()).toMatchObject({ batches: plan.length, acked: totalParts });
    } finally {
      await u.stop();
      await conn.close();
      await store.close();
    }
  });
});
