import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevice, startEnv, until, type Env } from './support/harness.js';
import { startArtifactServer, type ArtifactServer } from './support/https-server.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const heartbeat = JSON.parse(readFileSync(path.join(REPO, 'campaigns/heartbeat.json'), 'utf8')) as Record<string, unknown>;

describe('IoT Jobs over a real broker', () => {
  let env: Env;
  let http: ArtifactServer;
  beforeAll(async () => {
    env = await startEnv();
    http = await startArtifactServer(path.join(env.dir, 'http-pki'));
  });
  afterAll(async () => {
    await http?.close();
    await env?.close();
  });

  it('deploys campaigns inline and by URL (sha256 checked), then removes one', async () => {
    const dev = await startDevice(env, 'jobs-deploy', { httpsCa: readFileSync(http.caFile) });
    try {
      const other = { ...heartbeat, name: 'heartbeat-2' };
      const body = Buffer.from(JSON.stringify(other));
      const url = http.put('/campaigns/heartbeat-2.json', body);
      env.cloud.createJob('jobs-deploy', 'deploy-1', {
        operation: 'campaign.deploy',
        changes: [
          { op: 'put', campaign: heartbeat },
          { op: 'put', url, sha256: createHash('sha256').update(body).digest('hex') },
        ],
      });
      const j = await env.cloud.waitForJob('jobs-deploy', 'deploy-1', (x) => x.status === 'SUCCEEDED');
      expect(j.statusDetails.applied).toBe('put:heartbeat,put:heartbeat-2');
      expect(dev.agent.campaigns()).toEqual(['heartbeat', 'heartbeat-2']);

      env.cloud.createJob('jobs-deploy', 'deploy-2', { operation: 'campaign.deploy', changes: [{ op: 'remove', name: 'heartbeat' }] });
      await env.cloud.waitForJob('jobs-deploy', 'deploy-2', (x) => x.status === 'SUCCEEDED');
      expect(dev.agent.campaigns()).toEqual(['heartbeat-2']);
      // the shadow follows the campaign set
      await env.cloud.waitForShadow('jobs-deploy', (s) => JSON.stringify(s.state.reported?.campaigns) === JSON.stringify([{ name: 'heartbeat-2', version: 1, state: 'active' }]));
    } finally {
      await dev.stop();
    }
  });

  it('REJECTS invalid documents with the reason and changes nothing', async () => {
    const dev = await startDevice(env, 'jobs-reject', { httpsCa: readFileSync(http.caFile) });
    try {
      env.cloud.createJob('jobs-reject', 'bad-schema', { operation: 'campaign.deploy', changes: [{ op: 'put', url: 'http://insecure/x', sha256: 'abc' }] });
      const a = await env.cloud.waitForJob('jobs-reject', 'bad-schema', (x) => x.status === 'REJECTED');
      expect(a.statusDetails.reason).toMatch(/changes\[0\]/);
      expect(a.statusDetails.reason).toMatch(/https|SHA-256/);

      env.cloud.createJob('jobs-reject', 'bad-op', { operation: 'reboot' });
      const b = await env.cloud.waitForJob('jobs-reject', 'bad-op', (x) => x.status === 'REJECTED');
      expect(b.statusDetails.reason).toMatch(/unknown operation "reboot"/);

      // valid job document, but the campaign fails the real campaign model: nothing is deployed
      const broken = { ...heartbeat, name: 'broken', collectionScheme: { timeBasedCollectionScheme: { periodMs: -5 } } };
      env.cloud.createJob('jobs-reject', 'bad-campaign', {
        operation: 'campaign.deploy',
        changes: [
          { op: 'put', campaign: heartbeat },
          { op: 'put', campaign: broken },
        ],
      });
      const c = await env.cloud.waitForJob('jobs-reject', 'bad-campaign', (x) => x.status === 'REJECTED');
      expect(c.statusDetails.reason).toMatch(/periodMs/);
      expect(dev.agent.campaigns()).toEqual([]);

      // sha256 of a URL document that does not match
      const url = http.put('/campaigns/tampered.json', Buffer.from(JSON.stringify(heartbeat)));
      env.cloud.createJob('jobs-reject', 'bad-hash', { operation: 'campaign.deploy', changes: [{ op: 'put', url, sha256: '0'.repeat(64) }] });
      const d = await env.cloud.waitForJob('jobs-reject', 'bad-hash', (x) => x.status === 'REJECTED');
      expect(d.statusDetails.reason).toMatch(/sha256 mismatch/);
      expect(d.statusDetails.reason).not.toMatch(/secret/); // presigned query never leaks
      expect(dev.agent.campaigns()).toEqual([]);
    } finally {
      await dev.stop();
    }
  });

  it('runs an upload job with a time range and partition', async () => {
    const dev = await startDevice(env, 'jobs-upload');
    try {
      const t0 = Date.parse('2026-03-01T10:00:00Z');
      dev.agent.batches = [
        { timeMs: t0 - 60_000, partition: 'default', campaign: 'heartbeat' },
        { timeMs: t0 + 60_000, partition: 'default', campaign: 'heartbeat' },
        { timeMs: t0 + 120_000, partition: 'default', campaign: 'heartbeat' },
        { timeMs: t0 + 60_000, partition: 'cold', campaign: 'heartbeat' },
      ];
      env.cloud.createJob('jobs-upload', 'up-1', { operation: 'upload', from: '2026-03-01T10:00:00Z', to: '2026-03-01T11:00:00Z', partition: 'default' });
      const j = await env.cloud.waitForJob('jobs-upload', 'up-1', (x) => x.status === 'SUCCEEDED');
      expect(j.statusDetails.batches).toBe('2');
      expect(dev.agent.uploadCalls).toEqual([{ fromMs: t0, toMs: t0 + 3_600_000, partitionId: 'default', campaign: undefined }]);
      expect(dev.agent.batches).toHaveLength(2);
      // IN_PROGRESS with a step timer came before the terminal status
      expect(j.history.map((h) => h.status)).toEqual(['QUEUED', 'IN_PROGRESS', 'IN_PROGRESS', 'SUCCEEDED']);
      expect(j.history[2].stepTimeoutInMinutes).toBe(60);
    } finally {
      await dev.stop();
    }
  });

  it('ignores duplicate notify-next deliveries and runs a job once', async () => {
    const dev = await startDevice(env, 'jobs-dup');
    let release!: () => void;
    dev.agent.uploadGate = new Promise((r) => (release = r));
    try {
      await until(() => dev.plane.subscribed, 10_000, 'subscribed');
      env.cloud.createJob('jobs-dup', 'dup-1', { operation: 'upload' });
      await env.cloud.waitForJob('jobs-dup', 'dup-1', (x) => x.status === 'IN_PROGRESS');
      await until(() => dev.agent.uploadCalls.length === 1, 10_000, 'upload started');
      for (let i = 0; i < 3; i++) env.cloud.renotifyNext('jobs-dup');
      await new Promise((r) => setTimeout(r, 300)); // let the duplicates arrive while the job runs
      release();
      await env.cloud.waitForJob('jobs-dup', 'dup-1', (x) => x.status === 'SUCCEEDED');
      // later duplicates of the finished job change nothing either
      env.cloud.renotifyNext('jobs-dup');
      env.cloud.createJob('jobs-dup', 'dup-2', { operation: 'upload' });
      await env.cloud.waitForJob('jobs-dup', 'dup-2', (x) => x.status === 'SUCCEEDED');
      expect(dev.agent.uploadCalls).toHaveLength(2);
      expect(dev.plane.jobs!.executions.get('dup-1')).toBe(1);
    } finally {
      release();
      await dev.stop();
    }
  });

  it('recovers from VersionMismatch by adopting the service version', async () => {
    const dev = await startDevice(env, 'jobs-version');
    let release!: () => void;
    dev.agent.uploadGate = new Promise((r) => (release = r));
    try {
      env.cloud.createJob('jobs-version', 'ver-1', { operation: 'upload' });
      await until(() => dev.agent.uploadCalls.length === 1, 20_000, 'upload started');
      await env.cloud.waitForJob('jobs-version', 'ver-1', (x) => x.history.length >= 3); // start-next + IN_PROGRESS update
      env.cloud.bumpJobVersion('jobs-version', 'ver-1'); // someone else touched the execution
      release();
      const j = await env.cloud.waitForJob('jobs-version', 'ver-1', (x) => x.status === 'SUCCEEDED');
      expect(env.cloud.requests.some((r) => r.topic.endsWith('/ver-1/update') && r.code === 'VersionMismatch')).toBe(true);
      expect(j.history.at(-1)!.status).toBe('SUCCEEDED');
    } finally {
      release();
      await dev.stop();
    }
  });

  it('resumes a job after a restart in the middle of it (state persisted in stateDir)', async () => {
    const first = await startDevice(env, 'jobs-resume');
    first.agent.uploadGate = new Promise(() => undefined); // never finishes: the process "dies" mid-job
    env.cloud.createJob('jobs-resume', 'res-1', { operation: 'upload' });
    await until(() => first.agent.uploadCalls.length === 1, 20_000, 'upload started');
    await first.stop();
    const persisted = JSON.parse(readFileSync(path.join(first.stateDir, 'jobs.json'), 'utf8')) as { current: { jobId: string } };
    expect(persisted.current.jobId).toBe('res-1');
    expect(env.cloud.job('jobs-resume', 'res-1')!.status).toBe('IN_PROGRESS');

    const second = await startDevice(env, 'jobs-resume', { stateDir: first.stateDir });
    try {
      const j = await env.cloud.waitForJob('jobs-resume', 'res-1', (x) => x.status === 'SUCCEEDED');
      expect(j.statusDetails.resumed).toBe('true');
      expect(second.agent.uploadCalls).toHaveLength(1);
      const read = (): { current: unknown; done: { jobId: string }[] } => JSON.parse(readFileSync(path.join(first.stateDir, 'jobs.json'), 'utf8'));
      await until(() => read().current === null, 10_000, 'job state cleared');
      const after = read();
      expect(after.done.map((d) => d.jobId)).toEqual(['res-1']);
    } finally {
      await second.stop();
    }
  });

  it('aborts a job canceled by the service and starts the next one', async () => {
    const dev = await startDevice(env, 'jobs-cancel');
    dev.agent.uploadGate = new Promise(() => undefined);
    try {
      env.cloud.createJob('jobs-cancel', 'can-1', { operation: 'upload' });
      await until(() => dev.agent.uploadCalls.length === 1, 20_000, 'upload started');
      env.cloud.cancelJob('jobs-cancel', 'can-1');
      env.cloud.createJob('jobs-cancel', 'can-2', { operation: 'campaign.deploy', changes: [{ op: 'put', campaign: heartbeat }] });
      await env.cloud.waitForJob('jobs-cancel', 'can-2', (x) => x.status === 'SUCCEEDED');
      expect(env.cloud.job('jobs-cancel', 'can-1')!.status).toBe('CANCELED');
      const read = (): { done: { jobId: string }[] } => JSON.parse(readFileSync(path.join(dev.stateDir, 'jobs.json'), 'utf8'));
      await until(() => read().done.length > 0, 10_000, 'job recorded');
      expect(read().done.map((d) => d.jobId)).toEqual(['can-2']);
    } finally {
      await dev.stop();
    }
  });
});
