import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevice, startEnv, until, type Env } from './support/harness.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const heartbeat = JSON.parse(readFileSync(path.join(REPO, 'campaigns/heartbeat.json'), 'utf8')) as Record<string, unknown>;

type Obj = Record<string, any>;

describe('device shadow over a real broker', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('reports the agent status into a new classic shadow and stays under 8 KB', async () => {
    const dev = await startDevice(env, 'shadow-report');
    try {
      const s = await env.cloud.waitForShadow('shadow-report', (x) => x.state.reported?.agent !== undefined);
      const r = s.state.reported as Obj;
      expect(r.agent.version).toBe('1.0.0');
      expect(r.settings.logLevel).toBe('info');
      expect(r.sources[0]).toMatchObject({ name: 'can0', state: 'running', fps: 12.3 });
      expect(r.store).toMatchObject({ batches: 0, maxBytes: 64 * 1024 * 1024 });
      expect(r.settingsError).toBeUndefined(); // null deletes a shadow key: absent = no error
      expect(Buffer.byteLength(JSON.stringify(s.state))).toBeLessThan(8192);
      await until(() => dev.plane.subscribed, 10_000, 'subscribed');
    } finally {
      await dev.stop();
    }
  });

  it('applies a desired settings change and reports the applied values (delta cleared)', async () => {
    const dev = await startDevice(env, 'shadow-apply');
    try {
      await until(() => dev.plane.subscribed, 10_000, 'subscribed');
      env.cloud.setDesired('shadow-apply', { settings: { logLevel: 'debug', upload: { maxPublishesPerSecond: 5 } } });
      const s = await env.cloud.waitForShadow('shadow-apply', (x) => (x.state.reported as Obj | undefined)?.settings?.logLevel === 'debug');
      const r = s.state.reported as Obj;
      expect(r.settings.upload.maxPublishesPerSecond).toBe(5);
      expect(r.settings.upload.enabled).toBe(true); // untouched values stay
      expect(dev.agent.settings.logLevel).toBe('debug');
      expect(dev.agent.applied).toEqual([{ logLevel: 'debug', upload: { maxPublishesPerSecond: 5 } }]);
      expect(r.settingsError).toBeUndefined();
    } finally {
      await dev.stop();
    }
  });

  it('rejects invalid desired state with a reason and applies nothing of it', async () => {
    const dev = await startDevice(env, 'shadow-invalid');
    try {
      await until(() => dev.plane.subscribed, 10_000, 'subscribed');
      // one valid key and one invalid: nothing may be applied
      const v = env.cloud.setDesired('shadow-invalid', { settings: { logLevel: 'trace', store: { maxBytes: 'lots' } } });
      const s = await env.cloud.waitForShadow('shadow-invalid', (x) => (x.state.reported as Obj | undefined)?.settingsError != null);
      const err = (s.state.reported as Obj).settingsError;
      expect(err.version).toBeGreaterThanOrEqual(v);
      expect(err.reason).toMatch(/store\.maxBytes/);
      expect(dev.agent.settings.logLevel).toBe('info');
      expect(dev.agent.applied).toEqual([]);

      // an unknown key is refused too
      env.cloud.setDesired('shadow-invalid', { settings: null, reboot: true });
      const s2 = await env.cloud.waitForShadow('shadow-invalid', (x) => /reboot/.test((x.state.reported as Obj | undefined)?.settingsError?.reason ?? ''));
      expect((s2.state.reported as Obj).settingsError.reason).toMatch(/unsupported desired key/);

      // the agent refusing the values (unknown campaign) is also reported, nothing applied
      env.cloud.setDesired('shadow-invalid', { reboot: null, settings: { campaigns: { nope: { enabled: false } } } });
      const s3 = await env.cloud.waitForShadow('shadow-invalid', (x) => /nope/.test((x.state.reported as Obj | undefined)?.settingsError?.reason ?? ''));
      expect((s3.state.reported as Obj).settingsError.reason).toMatch(/settings not applied: unknown campaign "nope"/);
      expect(dev.agent.applied).toEqual([]);

      // a valid change afterwards clears the error
      env.cloud.setDesired('shadow-invalid', { settings: null });
      env.cloud.setDesired('shadow-invalid', { settings: { logLevel: 'warn' } });
      const s4 = await env.cloud.waitForShadow('shadow-invalid', (x) => (x.state.reported as Obj | undefined)?.settings?.logLevel === 'warn');
      expect((s4.state.reported as Obj).settingsError).toBeUndefined();
    } finally {
      await dev.stop();
    }
  });

  it('ignores a stale (re-ordered) delta', async () => {
    const dev = await startDevice(env, 'shadow-stale');
    try {
      await until(() => dev.plane.subscribed, 10_000, 'subscribed');
      env.cloud.setDesired('shadow-stale', { settings: { logLevel: 'error' } });
      await env.cloud.waitForShadow('shadow-stale', (x) => (x.state.reported as Obj | undefined)?.settings?.logLevel === 'error');
      const applied = dev.agent.applied.length;
      // an old delta arrives late: version 1 is older than everything processed
      env.cloud.publishDelta('shadow-stale', { settings: { logLevel: 'trace' } }, 1);
      await until(() => dev.plane.shadow!.stats.staleIgnored > 0, 10_000, 'stale delta seen');
      expect(dev.agent.settings.logLevel).toBe('error');
      expect(dev.agent.applied.length).toBe(applied);
    } finally {
      await dev.stop();
    }
  });

  it('reconciles after the broker restarts: desired set while offline is applied on reconnect (named shadow)', async () => {
    const dev = await startDevice(env, 'shadow-reconnect', { shadowName: 'edgewise' });
    try {
      // seed the campaign so per-campaign switches validate
      await dev.agent.deployCampaigns([{ op: 'put', document: heartbeat }]);
      await until(() => dev.plane.subscribed, 10_000, 'subscribed');
      await env.cloud.waitForShadow('shadow-reconnect', (x) => x.state.reported !== undefined, { name: 'edgewise' });
      expect(env.cloud.shadow('shadow-reconnect')).toBeUndefined(); // the classic shadow is untouched
      await env.broker.stop();
      await until(() => !dev.connection.connected, 10_000, 'disconnect');
      // the application changes desired while the device is offline (no delta reaches it)
      env.cloud.setDesired('shadow-reconnect', { settings: { campaigns: { heartbeat: { enabled: false } } } }, 'edgewise');
      await env.broker.start();
      const s = await env.cloud.waitForShadow(
        'shadow-reconnect',
        (x) => (x.state.reported as Obj | undefined)?.settings?.campaigns?.heartbeat?.enabled === false,
        { name: 'edgewise', timeoutMs: 30_000 },
      );
      expect((s.state.reported as Obj).campaigns).toEqual([{ name: 'heartbeat', version: 1, state: 'disabled' }]);
      expect(dev.agent.settings.campaigns.heartbeat).toEqual({ enabled: false });
      await until(() => dev.plane.subscribed, 10_000, 'subscribed again');
    } finally {
      await dev.stop();
    }
  });
});
