import { describe, it, expect, beforeAll } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { loadCampaignFile, parseCampaign, type Campaign } from '../../src/campaigns/index.js';
import { loadManifest, type Manifest } from '../../src/manifest/index.js';
import { simulateCampaigns, simulationToJson, thinSeries, type SimulationResult } from '../../src/simulate/index.js';
import { generateDriveLog, type DriveSummary } from '../../scripts/generate-drive.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOG = path.join(REPO, 'examples/drive.log.gz');

let manifest: Manifest;
let campaigns: Record<string, Campaign>;
let result: SimulationResult;
let drive: DriveSummary;
let logText: string;

const byName = (name: string) => result.campaigns.find((c) => c.name === name)!;

beforeAll(async () => {
  manifest = await loadManifest(path.join(REPO, 'examples/manifest.yaml'));
  campaigns = {};
  for (const f of ['heartbeat.json', 'harsh-braking.yaml', 'overspeed.yaml', 'dtc-snapshot.yaml']) {
    const { campaign } = await loadCampaignFile(path.join(REPO, 'campaigns', f));
    campaigns[campaign.name] = campaign;
  }
  result = await simulateCampaigns({ campaigns: Object.values(campaigns), manifest, log: LOG });
  const generated = generateDriveLog({});
  drive = generated.summary;
  logText = gunzipSync(readFileSync(LOG)).toString();
  // Kept for the reproducibility test below.
  (globalThis as { __generated?: string }).__generated = generated.data.toString();
});

describe('the example drive', () => {
  it('is reproducible from the seeded generator (examples/drive.log.gz = generate-drive defaults)', () => {
    const generated = (globalThis as { __generated?: string }).__generated!;
    expect(generated.length).toBe(logText.length);
    expect(generated === logText).toBe(true);
    expect(drive.frames).toBe(result.log.frames);
    expect(readFileSync(LOG).length).toBeLessThan(2 * 1024 * 1024);
  });

  it('is a 10-minute drive with three overspeed episodes and three hard-braking events', () => {
    expect(result.log.durationMs).toBeGreaterThan(599_000);
    expect(result.log.durationMs).toBeLessThanOrEqual(600_000);
    expect(result.log.badLines).toBe(0);
    expect(drive.overspeedStartsMs).toHaveLength(3);
    expect(drive.hardBrakeStartsMs).toHaveLength(3);
    expect(drive.maxSpeedKmh).toBeGreaterThan(130);
  });
});

describe('simulating the example campaigns on the example drive', () => {
  it('every campaign in campaigns/ triggers and uploads on the example drive', async () => {
    const files = readdirSync(path.join(REPO, 'campaigns')).filter((f) => /\.(json|ya?ml)$/.test(f));
    expect(files.length).toBe(Object.keys(campaigns).length);
    for (const c of result.campaigns) {
      expect(c.triggers.length, c.name).toBeGreaterThan(0);
      expect(c.batches.length, c.name).toBeGreaterThan(0);
      expect(Object.values(c.samples).every((n) => n > 0), c.name).toBe(true);
    }
  });

  it('heartbeat (10 s period over a 600 s log) ticks 59 times, one period after activation, as FleetWise', () => {
    const hb = byName('heartbeat');
    expect(hb.triggers).toHaveLength(59);
    hb.triggers.forEach((t, i) => expect(t.timeMs).toBeCloseTo(result.log.firstMs + (i + 1) * 10_000, 6));
    expect(hb.batches).toHaveLength(59);
    // minimumSamplingIntervalMs 1000 and maxSampleCount 10: at most 10 samples per batch, ~1 per second.
    for (const b of hb.batches) expect(b.samples).toBeLessThanOrEqual(10 + 10 + 1);
    expect(hb.samples['Vehicle.Speed']).toBeGreaterThan(570);
    expect(hb.samples['Vehicle.Speed']).toBeLessThanOrEqual(590);
    expect(hb.samples['Vehicle.Powertrain.Transmission.SelectedGear']).toBe(59);
  });

  it('overspeed (RISING_EDGE > 120 km/h) fires once per episode, at the first speed sample above 120', () => {
    const os = byName('overspeed');
    expect(os.triggers).toHaveLength(3);
    os.triggers.forEach((t, i) => {
      // SPEED is sent every 20 ms: the trigger is the first frame after the crossing.
      expect(t.timeMs - drive.overspeedStartsMs[i]).toBeGreaterThanOrEqual(0);
      expect(t.timeMs - drive.overspeedStartsMs[i]).toBeLessThan(21);
      expect(t.triggeredBy).toEqual([]);
    });
    // Post-trigger 10 s: each batch ends 10 s after its trigger; at 5 Hz with maxSampleCount 100.
    for (const b of os.batches) {
      expect(b.toMs - b.triggerTimeMs).toBeGreaterThan(9_700);
      expect(b.toMs - b.triggerTimeMs).toBeLessThanOrEqual(10_000);
    }
    expect(os.samples['Vehicle.Speed']).toBe(300);
  });

  it('harsh braking fires once per hard-braking event, within 1.5 s of its start, and collects 10 s + 5 s', () => {
    const hb = byName('harsh-braking');
    expect(hb.triggers).toHaveLength(3);
    hb.triggers.forEach((t, i) => {
      expect(t.timeMs).toBeGreaterThanOrEqual(drive.hardBrakeStartsMs[i]);
      expect(t.timeMs - drive.hardBrakeStartsMs[i]).toBeLessThan(1_500);
    });
    for (const b of hb.batches) {
      expect(b.toMs - b.triggerTimeMs).toBeGreaterThan(4_900);
      // 750 speed samples at 50 Hz = 15 s: 10 s before the trigger, 5 s after.
      expect(b.toMs - b.fromMs).toBeGreaterThan(14_900);
    }
    expect(hb.samples['Vehicle.Speed']).toBe(3 * 750);
    // Wildcard Vehicle.Chassis.Axle.*.Speed selected the four wheels.
    expect(Object.keys(hb.samples).filter((n) => n.startsWith('Vehicle.Chassis.Axle.'))).toHaveLength(4);
  });

  it('the DTC snapshot names the condition that fired (MULTI_RISING_EDGE_TRIGGER)', () => {
    const d = byName('dtc-snapshot');
    expect(d.triggers[0].triggeredBy).toEqual(['ENGINE_START']);
    expect(Math.abs(d.triggers[0].timeMs - drive.engineStartMs)).toBeLessThan(41);
    const overRev = d.triggers.slice(1);
    expect(overRev.length).toBeGreaterThanOrEqual(1);
    for (const t of overRev) expect(t.triggeredBy).toEqual(['OVER_REV']);
  });

  it('upload volume is the encoded, compressed size; bytes per hour scales it to the log duration', () => {
    for (const c of result.campaigns) {
      expect(c.bytes).toBe(c.batches.reduce((n, b) => n + b.bytes, 0));
      expect(c.bytesPerHour).toBeCloseTo((c.bytes * 3_600_000) / result.log.durationMs, 6);
    }
    // SNAPPY on 11550 harsh-braking samples: clearly less than 8 bytes a sample.
    const hb = byName('harsh-braking');
    expect(hb.bytes).toBeLessThan(8 * 11_550);
    expect(hb.bytes).toBeGreaterThan(1_000);
  });

  it('compression OFF costs more bytes than SNAPPY for the same campaign', async () => {
    const snappy = campaigns['overspeed'];
    const off = { ...snappy, name: 'overspeed-off', compression: 'OFF' as const };
    const r = await simulateCampaigns({ campaigns: [snappy, off], manifest, log: LOG });
    const [a, b] = r.campaigns;
    expect(b.samples).toEqual(a.samples);
    expect(b.bytes).toBeGreaterThan(a.bytes);
  });

  it('decodes only frames of messages carrying a signal some campaign reads', async () => {
    const r = await simulateCampaigns({ campaigns: [campaigns['overspeed']], manifest, log: LOG });
    // overspeed reads SPEED (0B4), ENGINE_RPM (1C4), GAS_PEDAL (2C1), PCM_CRUISE (1D2).
    const wanted = new Set(['0B4', '1C4', '2C1', '1D2']);
    const expected = logText.split('\n').filter((l) => wanted.has(l.split(' ')[2]?.split('#')[0] ?? '')).length;
    expect(r.log.decodedFrames).toBe(expected);
    expect(r.log.frames).toBe(result.log.frames);
    expect(r.log.decodedFrames).toBeLessThan(r.log.frames / 2);
  });

  it('matches the JSON contract', () => {
    const j = simulationToJson(result);
    const hb = j.campaigns.find((c) => c.name === 'heartbeat')!;
    expect(Object.keys(hb).sort()).toEqual(['batches', 'bytes', 'bytesPerHour', 'name', 'samples', 'triggers']);
    expect(hb.triggers[0]).toEqual({ time: Math.round((result.log.firstMs + 10_000) * 1000) / 1e6, triggeredBy: [] });
    expect(hb.batches).toBe(59);
    expect(typeof hb.samples['Vehicle.Speed']).toBe('number');
  });

  it('reads a log from a stream and reports bad lines without failing', async () => {
    const head = logText.split('\n').slice(0, 5000);
    head.splice(100, 0, 'this is not a candump line');
    const c = parseCampaign({ name: 'hb', collectionScheme: { timeBasedCollectionScheme: { periodMs: 1000 } }, signalsToCollect: [{ name: 'Vehicle.Speed' }] }).campaign;
    const r = await simulateCampaigns({ campaigns: [c], manifest, log: Readable.from([head.join('\n') + '\n']) });
    expect(r.log.badLines).toBe(1);
    expect(r.log.frames).toBe(5000);
    // ~23 s of log at 216 frames/s: ticks at 1, 2, ... s.
    expect(r.campaigns[0].triggers.length).toBe(Math.floor(r.log.durationMs / 1000));
  });

  it('rejects a campaign the engine cannot run, and duplicate campaign names', async () => {
    const bad = parseCampaign({ name: 'x', collectionScheme: { conditionBasedCollectionScheme: { expression: '$variable.`Vehicle.Nope` > 1' } } }).campaign;
    await expect(simulateCampaigns({ campaigns: [bad], manifest, log: LOG })).rejects.toMatchObject({ code: 'EXPRESSION_TYPE' });
    const c = campaigns['overspeed'];
    await expect(simulateCampaigns({ campaigns: [c, c], manifest, log: LOG })).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('traces keep spikes when thinned', () => {
    const times = Array.from({ length: 100_000 }, (_, i) => i);
    const values = times.map((i) => (i === 54_321 ? 999 : Math.sin(i / 1000)));
    const th = thinSeries({ timesMs: times, values }, 0, 100_000, 2000);
    expect(th.t.length).toBeLessThanOrEqual(2000);
    expect(Math.max(...th.v)).toBe(999);
    expect(th.t[0]).toBe(0);
    expect(th.t[th.t.length - 1]).toBe(99_999);
  });
});
