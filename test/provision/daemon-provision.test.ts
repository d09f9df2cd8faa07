import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DRIVE_LOG, MANIFEST, pulseCampaign, startDaemon } from '../daemon/harness.js';
import { startProvisioningService, type ProvisioningService } from '../helpers/provisioning-service.js';

let svc: ProvisioningService;
beforeAll(async () => {
  svc = await startProvisioningService();
}, 60_000);
afterAll(async () => {
  await svc?.close();
});

it('a device with only a claim certificate provisions itself at start-up and uploads as the new thing', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-prov-daemon-'));
  // the claim is a copy the device may delete (deleteClaim)
  copyFileSync(svc.claim.cert, path.join(dir, 'claim.crt'));
  copyFileSync(svc.claim.key, path.join(dir, 'claim.key'));
  const campaigns = path.join(dir, 'campaigns');
  (await import('node:fs')).mkdirSync(campaigns);
  writeFileSync(path.join(campaigns, 'pulse.json'), JSON.stringify(pulseCampaign('pulse', 200)));
  const configFile = path.join(dir, 'config.yaml');
  writeFileSync(
    configFile,
    stringify({
      manifest: MANIFEST,
      campaigns: { dir: campaigns },
      sources: [{ type: 'log', path: DRIVE_LOG, speed: 'max', loop: true }],
      store: { dir: path.join(dir, 'store') },
      upload: { endpoint: 'localhost', port: svc.broker.port, caFile: svc.caFile },
      provisioning: { claimCertFile: 'claim.crt', claimKeyFile: 'claim.key', template: 'EdgewiseFleet', parameters: { SerialNumber: 'DAEMON1' }, deleteClaim: true },
      statusSocket: path.join(dir, 'edgewise.sock'),
    }),
  );
  const obs = await svc.observer();
  const got: string[] = [];
  obs.on('message', (t) => got.push(t));
  await obs.subscribeAsync('edgewise/vehicle-DAEMON1/batches/#', { qos: 1 });
  const d = startDaemon(configFile);
  try {
    const p = await d.waitForLog('provisioned', 30_000);
    expect(p.thing).toBe('vehicle-DAEMON1');
    for (let i = 0; i < 1000 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 30));
    expect(got[0]).toMatch(/^edgewise\/vehicle-DAEMON1\/batches\/pulse/);
    expect(JSON.parse(readFileSync(path.join(dir, 'identity.json'), 'utf8')).thingName).toBe('vehicle-DAEMON1');
    expect(existsSync(path.join(dir, 'claim.key'))).toBe(false);
    expect(existsSync(path.join(dir, 'claim.crt'))).toBe(false);
  } finally {
    d.child.kill('SIGTERM');
    await d.exited;
    await obs.endAsync(true);
  }
  // the second start uses the committed identity and never talks to the provisioning service
  const n = svc.requests.length;
  const d2 = startDaemon(configFile);
  try {
    await d2.waitForLog(/connected/i, 30_000);
    expect(d2.logs.some((l) => l.msg === 'provisioned')).toBe(false);
    expect(svc.requests.length).toBe(n);
  } finally {
    d2.child.kill('SIGTERM');
    await d2.exited;
  }
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

it('a refused provisioning at start-up is one line on stderr and a prompt non-zero exit', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-prov-daemon-'));
  const configFile = path.join(dir, 'config.yaml');
  writeFileSync(path.join(dir, 'c.json'), JSON.stringify(pulseCampaign('pulse', 200)));
  writeFileSync(
    configFile,
    stringify({
      manifest: MANIFEST,
      campaigns: { dir },
      sources: [{ type: 'log', path: DRIVE_LOG, speed: 'max' }],
      store: { dir: path.join(dir, 'store') },
      upload: { endpoint: 'localhost', port: svc.broker.port, caFile: svc.caFile },
      provisioning: { claimCertFile: svc.claim.cert, claimKeyFile: svc.claim.key, template: 'EdgewiseFleet', parameters: {} },
      statusSocket: path.join(dir, 'edgewise.sock'),
    }),
  );
  const d = startDaemon(configFile);
  const { code } = await d.exited;
  expect(code).toBe(1);
  expect(d.stderr()).toBe('edgewise: provisioning: RegisterThing (template EdgewiseFleet) rejected (400 InvalidParameters): SerialNumber is required\n');
  expect(existsSync(path.join(dir, 'identity.json'))).toBe(false);
  rmSync(dir, { recursive: true, force: true });
}, 60_000);
