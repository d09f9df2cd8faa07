/**
 * The running daemon steered from the cloud: the real `edgewise run` child, a real mosquitto
 * (mTLS), and the test playing AWS IoT's Shadow and Jobs services over MQTT (fake-cloud).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { decodeBatch } from '../../src/batches/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { startFakeCloud, type FakeCloud } from '../helpers/fake-cloud.js';
import { BIN, pulseCampaign, startDaemon, writeSetup, type RunningDaemon, type TestSetup } from './harness.js';
import { execFileSync } from 'node:child_process';

const THING = 'veh-ctl';
let broker: TestBroker;
let cloud: FakeCloud;
let setup: TestSetup;
let d: RunningDaemon;

beforeAll(async () => {
  broker = await startBroker();
  cloud = await startFakeCloud(broker);
  setup = writeSetup({ broker, thing: THING, campaigns: [pulseCampaign('pulse', 2000)], speed: 10, loop: true });
  // this test also exercises the shadow/jobs control plane (on by default) with short state paths
  const cfg = parse(readFileSync(setup.configFile, 'utf8')) as Record<string, unknown>;
  cfg.control = { stateDir: path.join(setup.dir, 'control') };
  cfg.metrics = { enabled: true, host: '127.0.0.1', port: 0 };
  writeFileSync(setup.configFile, stringify(cfg));
  d = startDaemon(setup.configFile);
  await d.waitForLog('edgewise ready');
});

afterAll(async () => {
  if (d && d.child.exitCode === null) {
    d.child.kill('SIGTERM');
    await d.exited;
  }
  await cloud?.close();
  await broker?.close();
  if (setup) rmSync(setup.dir, { recursive: true, force: true });
});

describe('daemon observability', () => {
  it('serves Prometheus metrics from the running daemon', async () => {
    const served = await d.waitForLog('metrics served');
    const res = await fetch(String(served.listen));
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^edgewise_source_frames_total\{source="log:[^"]+",kind="log"\} [1-9]\d*$/m);
    expect(text).toMatch(/^edgewise_campaign_triggers_total\{campaign="pulse"\} \d+$/m);
    expect(text).toMatch(/^edgewise_decode_frames_total [1-9]\d*$/m);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(text).toContain('process_resident_memory_bytes');
  });
});

describe('daemon control plane', () => {
  it('reports its state to the device shadow', async () => {
    const s = await cloud.waitForShadow(THING, (sh) => {
      const r = sh.state.reported as { agent?: { vehicle?: string }; campaigns?: unknown[] } | undefined;
      return r?.agent?.vehicle === THING && Array.isArray(r.campaigns) && r.campaigns.length === 1;
    }, { timeoutMs: 20_000 });
    expect(JSON.stringify(s.state.reported)).toContain('pulse');
  });

  it('applies a desired setting live, and rejects an invalid one without applying anything', async () => {
    cloud.setDesired(THING, { settings: { logLevel: 'debug', upload: { maxPublishesPerSecond: 50 } } });
    await d.waitForLog('settings applied', 20_000);
    await d.waitForLog('batch stored', 20_000); // a debug line: the new level is live
    const status = JSON.parse(execFileSync(process.execPath, [BIN, 'status', '--socket', path.join(setup.dir, 'edgewise.sock'), '--json'], { encoding: 'utf8' }));
    expect(status.settings.logLevel).toBe('debug');
    expect(status.settings.upload.maxPublishesPerSecond).toBe(50);

    const v = cloud.setDesired(THING, { settings: { logLevel: 'loud', store: { maxBytes: 4096 } } });
    const sh = await cloud.waitForShadow(
      THING,
      (x) => ((x.state.reported as { settingsError?: { version?: number } } | undefined)?.settingsError?.version ?? -1) >= v,
      { timeoutMs: 20_000 },
    );
    expect(JSON.stringify((sh.state.reported as { settingsError: unknown }).settingsError)).toMatch(/logLevel/);
    const after = JSON.parse(execFileSync(process.execPath, [BIN, 'status', '--socket', path.join(setup.dir, 'edgewise.sock'), '--json'], { encoding: 'utf8' }));
    expect(after.settings.logLevel).toBe('debug');
    expect(after.settings.store.maxBytes).not.toBe(4096);
  });

  it('deploys a campaign from a job: validated, persisted, running; a bad one is REJECTED', async () => {
    const obs = await broker.subscribe(`edgewise/${THING}/batches/deployed`);
    cloud.createJob(THING, 'deploy-1', { operation: 'campaign.deploy', changes: [{ op: 'put', campaign: pulseCampaign('deployed', 1000, 2) }] });
    const job = await cloud.waitForJob(THING, 'deploy-1', (j) => j.status === 'SUCCEEDED' || j.status === 'REJECTED' || j.status === 'FAILED', 30_000);
    expect(job.status).toBe('SUCCEEDED');
    expect(existsSync(path.join(setup.dir, 'campaigns', 'deployed.json'))).toBe(true);
    const msgs = await obs.waitFor(1, { timeoutMs: 20_000 });
    expect(decodeBatch(msgs[0].payload).campaign).toBe('deployed');
    await obs.close();

    cloud.createJob(THING, 'deploy-2', {
      operation: 'campaign.deploy',
      changes: [{ op: 'put', campaign: { ...pulseCampaign('broken', 1000), signalsToCollect: [{ name: 'Vehicle.NoSuchSignal' }] } }],
    });
    const bad = await cloud.waitForJob(THING, 'deploy-2', (j) => ['SUCCEEDED', 'REJECTED', 'FAILED'].includes(j.status), 30_000);
    expect(bad.status).toBe('REJECTED');
    expect(JSON.stringify(bad.statusDetails)).toMatch(/NoSuchSignal/);
    expect(existsSync(path.join(setup.dir, 'campaigns', 'broken.json'))).toBe(false);
  });

  it('runs an upload job to completion', async () => {
    cloud.createJob(THING, 'upload-1', { operation: 'upload' });
    const job = await cloud.waitForJob(THING, 'upload-1', (j) => ['SUCCEEDED', 'REJECTED', 'FAILED'].includes(j.status), 30_000);
    expect(job.status).toBe('SUCCEEDED');
  });
});
