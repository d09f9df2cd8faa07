/**
 * The daemon end to end, as a real child process: log replay -> decode -> campaigns -> LevelDB ->
 * MQTT5 mTLS upload to a real mosquitto, observed by a subscriber.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { decodeBatch } from '../../src/batches/index.js';
import { BatchStore } from '../../src/store/index.js';
import { startBroker, type TestBroker, type Collector } from '../helpers/broker.js';
import { pulseCampaign, startDaemon, writeSetup } from './harness.js';

function seqsOf(c: Collector): Map<number, Set<number>> {
  const m = new Map<number, Set<number>>();
  for (const msg of c.messages) {
    if (msg.retain) continue;
    const b = decodeBatch(msg.payload);
    let parts = m.get(b.seq);
    if (!parts) m.set(b.seq, (parts = new Set()));
    parts.add(b.partIndex);
  }
  return m;
}

/** `seq/part` of every batch part delivered more than once (a Set would hide them). */
function duplicateParts(c: Collector): string[] {
  const seen = new Map<string, number>();
  for (const msg of c.messages) {
    if (msg.retain) continue;
    const b = decodeBatch(msg.payload);
    const k = `${b.seq}/${b.partIndex}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
}

let broker: TestBroker;
const dirs: string[] = [];

beforeAll(async () => {
  // Persistence: the observer's session (and the messages queued for it) survive the broker
  // restart in the outage test, so what the daemon publishes before the observer is back is kept.
  broker = await startBroker({ persistence: true });
});
afterAll(async () => {
  await broker?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('edgewise run', () => {
  it('replays a log and uploads every batch once, with contiguous sequence numbers', async () => {
    const thing = 'veh-e2e';
    const setup = writeSetup({ broker, thing, campaigns: [pulseCampaign('pulse', 5000)] });
    dirs.push(setup.dir);
    const obs = await broker.subscribe(`edgewise/${thing}/batches/#`);
    const d = startDaemon(setup.configFile, ['--exit-when-done', '--drain-timeout', '30']);
    const { code } = await d.exited;
    expect(code, d.stderr()).toBe(0);
    // 600 s of log, a batch every 5 s of log time: the first tick is one period after the start.
    const triggers = d.logs.filter((l) => l.msg === 'trigger').length;
    expect(triggers).toBeGreaterThanOrEqual(118);
    expect(triggers).toBeLessThanOrEqual(120);
    await obs.waitFor(triggers, { pred: (m) => !m.retain });
    const seqs = seqsOf(obs);
    expect([...seqs.keys()].sort((a, b) => a - b)).toEqual([...Array(triggers).keys()]);
    expect(duplicateParts(obs)).toEqual([]); // once: no batch part delivered twice
    const first = decodeBatch(obs.messages.find((m) => !m.retain)!.payload);
    expect(first.campaign).toBe('pulse');
    expect(first.vehicle).toBe(thing);
    expect(first.signals.map((s) => s.name).sort()).toEqual(['Vehicle.Powertrain.EngineSpeed', 'Vehicle.Speed']);
    // Everything acknowledged was deleted from the store.
    const store = await BatchStore.open(setup.storeDir, { maxBytes: 1 << 30 });
    expect(store.stats().batches).toBe(0);
    expect(store.stats().nextSeq).toBe(triggers);
    await store.close();
    await obs.close();
  });

  it('on SIGTERM stops intake, makes every collected batch durable and exits 0 within seconds', async () => {
    const setup = writeSetup({ thing: 'veh-term', campaigns: [pulseCampaign('pulse', 1000)], speed: 20, loop: true });
    dirs.push(setup.dir);
    const d = startDaemon(setup.configFile, ['--log-level', 'debug']);
    await d.waitForLog('edgewise ready');
    await new Promise((r) => setTimeout(r, 1500));
    d.child.kill('SIGTERM');
    const { code } = await d.exited;
    expect(code, d.stderr()).toBe(0);
    // a graceful stop, not the 10 s hard deadline of `edgewise run` (behaviour, not a timing bound)
    expect(d.logs.filter((l) => l.msg === 'graceful stop took too long; exiting')).toEqual([]);
    const stored = d.logs.filter((l) => l.msg === 'batch stored').length;
    expect(stored).toBeGreaterThan(5);
    expect(d.logs.filter((l) => l.msg === 'batch could not be stored')).toEqual([]);
    expect(d.logs.at(-1)?.msg).toBe('edgewise stopped');
    const store = await BatchStore.open(setup.storeDir, { maxBytes: 1 << 30 });
    expect(store.stats().batches).toBe(stored);
    await store.close();
  });

  it('keeps storing while the broker is down and delivers everything when it returns', async () => {
    const thing = 'veh-outage';
    const setup = writeSetup({ broker, thing, campaigns: [pulseCampaign('pulse', 2000)] });
    dirs.push(setup.dir);
    const obs = await broker.subscribe(`edgewise/${thing}/batches/#`);
    await broker.stop();
    try {
      const d = startDaemon(setup.configFile, ['--log-level', 'debug']);
      await d.waitForLog('sources finished', 30_000);
      // every trigger's batch becomes durable (LevelDB sync writes) while the broker is still down
      const triggers = d.logs.filter((l) => l.msg === 'trigger').length;
      const count = (): number => d.logs.filter((l) => l.msg === 'batch stored').length;
      for (let i = 0; i < 200 && count() < triggers; i++) await new Promise((r) => setTimeout(r, 100));
      const stored = count();
      expect(stored).toBe(triggers);
      expect(stored).toBeGreaterThanOrEqual(298);
      expect(obs.messages.filter((m) => !m.retain)).toHaveLength(0);
      await broker.start();
      try {
        await obs.waitFor(stored, { timeoutMs: 30_000, pred: (m) => !m.retain });
      } catch (e) {
        // Say which side did not come back: the daemon's connection log and the broker's log.
        const conn = d.logs
          .filter((l) => /connect|upload|publish/i.test(String(l.msg)))
          .slice(-15)
          .map((l) => JSON.stringify(l))
          .join('\n');
        throw new Error(`${(e as Error).message}\ndaemon:\n${conn}\nbroker:\n${broker.log().slice(-3000)}`);
      }
      expect(seqsOf(obs).size).toBe(stored);
      d.child.kill('SIGTERM');
      expect((await d.exited).code).toBe(0);
    } finally {
      if (!broker.running()) await broker.start();
      await obs.close();
    }
  });

  it('reports a rejected certificate clearly, keeps retrying and keeps storing', async () => {
    const thing = 'veh-rogue';
    const setup = writeSetup({ broker, thing, campaigns: [pulseCampaign('pulse', 1000)], speed: 20, loop: true, rogueCert: true });
    dirs.push(setup.dir);
    const d = startDaemon(setup.configFile, ['--log-level', 'debug']);
    const failed = await d.waitForLog(/^connection failed/, 20_000);
    expect(String(failed.msg)).toMatch(/certificate|TLS|handshake/i);
    await new Promise((r) => setTimeout(r, 1500));
    expect(d.child.exitCode).toBeNull();
    expect(d.logs.filter((l) => l.msg === 'batch stored').length).toBeGreaterThan(5);
    d.child.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
  });

  it('evicts the least important, then oldest batches when the store is full, and logs each', async () => {
    const setup = writeSetup({
      thing: 'veh-cap',
      campaigns: [pulseCampaign('important', 2000, 0), pulseCampaign('chatty', 1000, 9)],
      storeMaxBytes: 40_000,
    });
    dirs.push(setup.dir);
    const d = startDaemon(setup.configFile, ['--exit-when-done', '--drain-timeout', '1', '--log-level', 'debug']);
    expect((await d.exited).code, d.stderr()).toBe(0);
    const priority: Record<string, number> = { important: 0, chatty: 9 };
    // Replay the log: at every eviction, the victim must be the least important (highest priority
    // number), then oldest (lowest seq) batch stored at that moment.
    const stored = new Map<number, string>();
    let evictions = 0;
    for (const l of d.logs) {
      if (l.msg === 'batch stored') stored.set(l.seq as number, l.campaign as string);
      if (l.msg !== 'batch evicted') continue;
      evictions++;
      const victim = l.seq as number;
      expect(stored.has(victim)).toBe(true);
      const worst = [...stored].sort(([sa, ca], [sb, cb]) => priority[cb] - priority[ca] || sa - sb)[0];
      expect(worst[0]).toBe(victim);
      stored.delete(victim);
    }
    expect(evictions).toBeGreaterThan(10);
    const store = await BatchStore.open(setup.storeDir, { maxBytes: 40_000 });
    const st = store.stats();
    expect(st.bytes).toBeLessThanOrEqual(40_000);
    expect(st.batches).toBe(stored.size);
    await store.close();
  });
});
