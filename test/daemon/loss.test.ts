/**
 * No data acknowledged as stored is ever lost: a real `edgewise run` child is killed with SIGKILL
 * at random moments, 22 times in a row, while data flows and the broker is stopped and started
 * under it. A subscriber collects everything; at the end every sequence number the store ever
 * assigned has arrived, and duplicates are only batches that were in flight at a kill.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { decodeBatch } from '../../src/batches/index.js';
import { BatchStore } from '../../src/store/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { pulseCampaign, startDaemon, writeSetup, type TestSetup } from './harness.js';

const KILLS = 22;
const MAX_IN_FLIGHT = 8; // the config default

let broker: TestBroker;
let setup: TestSetup;

/** Deterministic "random" kill moments (a seeded LCG) so a failure can be reproduced. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

beforeAll(async () => {
  broker = await startBroker({ persistence: true });
});
afterAll(async () => {
  await broker?.close();
  if (setup) rmSync(setup.dir, { recursive: true, force: true });
});

describe('store and forward under kill -9 and broker outages', () => {
  it(`loses no acknowledged batch across ${KILLS} SIGKILLs with the broker going down and up`, async () => {
    const thing = 'veh-loss';
    // Two campaigns of different priority, a batch every 500 ms of log time; 20x real time.
    setup = writeSetup({
      broker,
      thing,
      campaigns: [pulseCampaign('fast', 500, 1), pulseCampaign('slow', 1500, 3)],
      speed: 20,
      loop: true,
    });
    const obs = await broker.subscribe(`edgewise/${thing}/batches/#`);
    const random = rng(0xed6e);
    let storedAcknowledged = 0;
    for (let i = 0; i < KILLS; i++) {
      // Broker outages: down for kills 3-4, 9-11 and 16-17, so batches pile up and are replayed.
      if ([3, 9, 16].includes(i)) await broker.stop();
      if ([5, 12, 18].includes(i)) await broker.start();
      const d = startDaemon(setup.configFile, ['--log-level', 'debug']);
      await d.waitForLog('edgewise ready', 30_000);
      await new Promise((r) => setTimeout(r, 200 + Math.floor(random() * 1800)));
      d.child.kill('SIGKILL');
      const { signal } = await d.exited;
      expect(signal).toBe('SIGKILL');
      storedAcknowledged += d.logs.filter((l) => l.msg === 'batch stored').length;
    }
    if (!broker.running()) await broker.start();
    expect(storedAcknowledged).toBeGreaterThan(100);

    // A last run without a kill drains the store: its own log plays once and it exits when uploaded.
    const final = writeSetup({ broker, thing, campaigns: [pulseCampaign('fast', 500, 1)], speed: 'max', dir: setup.dir });
    const d = startDaemon(final.configFile, ['--exit-when-done', '--drain-timeout', '60']);
    expect((await d.exited).code, d.stderr()).toBe(0);

    const store = await BatchStore.open(setup.storeDir, { maxBytes: 1 << 30 });
    const { batches, nextSeq } = store.stats();
    await store.close();
    expect(batches).toBe(0);

    // Every seq 0..nextSeq-1 arrived complete (all parts); extra copies only from in-flight batches.
    await obs.waitFor(nextSeq, { timeoutMs: 30_000, pred: (m) => !m.retain });
    const copies = new Map<number, number>();
    for (const m of obs.messages) {
      if (m.retain) continue;
      const b = decodeBatch(m.payload);
      if (b.partIndex === 0) copies.set(b.seq, (copies.get(b.seq) ?? 0) + 1);
    }
    const missing = [...Array(nextSeq).keys()].filter((s) => !copies.has(s));
    expect(missing).toEqual([]);
    const duplicates = [...copies.values()].reduce((n, c) => n + (c - 1), 0);
    console.log(`loss test: ${KILLS} kills, ${nextSeq} batches stored and delivered, ${duplicates} duplicate deliveries`);
    expect(duplicates).toBeLessThanOrEqual(KILLS * MAX_IN_FLIGHT);
    await obs.close();
  }, 300_000);
});
