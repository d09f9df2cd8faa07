import { X509Certificate, createPrivateKey } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { cli, REPO } from '../helpers/cli.js';
import { startProvisioningService, type ProvisioningService } from '../helpers/provisioning-service.js';
import { MqttConnection } from '../../src/upload/connection.js';
import { createDevPki } from '../../src/upload/certs.js';

let svc: ProvisioningService;
beforeAll(async () => {
  svc = await startProvisioningService();
}, 60_000);
afterAll(async () => {
  await svc?.close();
});

const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'edgewise-dev-'));
const args = (dir: string, ...extra: string[]): string[] => [
  'provision',
  '--claim-cert', svc.claim.cert,
  '--claim-key', svc.claim.key,
  '--template', 'EdgewiseFleet',
  '--endpoint', svc.endpoint,
  '--ca', svc.caFile,
  '--dir', dir,
  '--timeout', '5',
  ...extra,
];

describe('edgewise provision', () => {
  it('makes a key on the device, gets a certificate for its CSR, registers the thing and can connect with it', async () => {
    const dir = tmp();
    const r = await cli(...args(dir, '--param', 'SerialNumber=VIN0001'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const id = JSON.parse(readFileSync(path.join(dir, 'identity.json'), 'utf8'));
    expect(id.thingName).toBe('vehicle-VIN0001');
    expect(svc.things.get('vehicle-VIN0001')).toBe(id.certificateId);
    expect(statSync(path.join(dir, 'device.key')).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(path.join(dir, 'device.crt')));
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(path.join(dir, 'device.key'))))).toBe(true);
    // the private key never left the device: the request carried only a CSR
    const csrReq = svc.requests.find((q) => q.op === 'csr')!;
    expect(csrReq.payload.certificateSigningRequest).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    expect(JSON.stringify(svc.requests)).not.toContain('PRIVATE KEY');
    expect(existsSync(path.join(dir, 'provision'))).toBe(false);
    // the new identity connects to the broker as the thing
    const conn = new MqttConnection({ host: 'localhost', port: svc.broker.port, thingName: id.thingName, certFile: id.certFile, keyFile: id.keyFile, caFile: svc.caFile, statusTopic: false });
    conn.start();
    await conn.waitConnected();
    await conn.publish(`edgewise/${id.thingName}/test`, 'hello');
    await conn.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('rsa-2048 keys work too, and a second run keeps the identity', async () => {
    const dir = tmp();
    expect((await cli(...args(dir, '--param', 'SerialNumber=VIN0002', '--key-type', 'rsa-2048'))).code).toBe(0);
    const key = createPrivateKey(readFileSync(path.join(dir, 'device.key')));
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const before = readFileSync(path.join(dir, 'identity.json'), 'utf8');
    const n = svc.requests.length;
    const again = await cli(...args(dir, '--param', 'SerialNumber=VIN0002'));
    expect(again.code).toBe(0);
    expect(readFileSync(path.join(dir, 'identity.json'), 'utf8')).toBe(before);
    expect(svc.requests.length).toBe(n);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('CreateKeysAndCertificate only when asked', async () => {
    const dir = tmp();
    const r = await cli(...args(dir, '--param', 'SerialNumber=VIN0003', '--create-keys'));
    expect(r.err).toBe('');
    expect(svc.requests.at(-2)?.op).toBe('keys');
    expect(JSON.parse(readFileSync(path.join(dir, 'identity.json'), 'utf8')).thingName).toBe('vehicle-VIN0003');
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a /rejected payload is one error line with statusCode, errorCode and errorMessage, exit 1, no identity', async () => {
    const dir = tmp();
    svc.rejectNext('csr', { statusCode: 400, errorCode: 'InvalidCsr', errorMessage: 'CSR signature is invalid' });
    const r = await cli(...args(dir, '--param', 'SerialNumber=VIN0004'));
    expect(r.code).toBe(1);
    expect(r.err).toBe('edgewise: provisioning: CreateCertificateFromCsr rejected (400 InvalidCsr): CSR signature is invalid\n');
    expect(existsSync(path.join(dir, 'identity.json'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a template refusal (missing parameter, unknown template) is one line and exit 1', async () => {
    const dir = tmp();
    const r = await cli(...args(dir));
    expect(r.code).toBe(1);
    expect(r.err).toBe('edgewise: provisioning: RegisterThing (template EdgewiseFleet) rejected (400 InvalidParameters): SerialNumber is required\n');
    const u = await cli(...args(dir, '--param', 'SerialNumber=X').map((a) => (a === 'EdgewiseFleet' ? 'Other' : a)));
    expect(u.code).toBe(1);
    expect(u.err.split('\n').length).toBe(2);
    expect(existsSync(path.join(dir, 'identity.json'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a service that does not answer is a timeout line, exit 1', async () => {
    const dir = tmp();
    svc.silence('register');
    try {
      const r = await cli(...args(dir, '--param', 'SerialNumber=VIN0005'));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^edgewise: provisioning: no answer to RegisterThing \(template EdgewiseFleet\) from localhost:\d+ within 5 s\n$/);
    } finally {
      svc.silence(undefined);
    }
    // the next run resumes with the pending certificate (no new CSR) and completes
    const csrs = svc.requests.filter((q) => q.op === 'csr').length;
    const r2 = await cli(...args(dir, '--param', 'SerialNumber=VIN0005'));
    expect(r2.code).toBe(0);
    expect(svc.requests.filter((q) => q.op === 'csr').length).toBe(csrs);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('a claim certificate the broker does not trust is one line and exit 1', async () => {
    const dir = tmp();
    const rogue = createDevPki(path.join(dir, 'rogue'), { caName: 'rogue CA' }).certFor('claim');
    const r = await cli(...args(dir, '--param', 'SerialNumber=R1').map((a) => (a === svc.claim.cert ? rogue.cert : a === svc.claim.key ? rogue.key : a)));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^edgewise: provisioning: localhost:\d+ refused the claim certificate: [^\n]+\n$/);
    expect(existsSync(path.join(dir, 'identity.json'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('the claim certificate may use only the provisioning topics (mosquitto ACL = documented claim policy)', async () => {
    const c = await mqtt.connectAsync({
      protocol: 'mqtts', host: 'localhost', port: svc.broker.port, protocolVersion: 5, reconnectPeriod: 0,
      ca: readFileSync(svc.caFile), cert: readFileSync(svc.claim.cert), key: readFileSync(svc.claim.key), clientId: 'claim-probe',
    });
    try {
      // mosquitto grants any SUBSCRIBE and applies read ACLs at delivery: check what is delivered
      const got: string[] = [];
      c.on('message', (t) => got.push(t));
      await c.subscribeAsync(['#', '$aws/#'], { qos: 1 });
      const obs = await svc.observer();
      await obs.publishAsync('$aws/things/vehicle-VIN0001/jobs/notify-next', '{}', { qos: 1 });
      await obs.publishAsync('edgewise/vehicle-VIN0001/status', '{}', { qos: 1 });
      await obs.publishAsync('$aws/certificates/create-from-csr/json/accepted', '{"probe":1}', { qos: 1 });
      await obs.endAsync();
      for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      expect(got).toEqual(['$aws/certificates/create-from-csr/json/accepted']);
    } finally {
      await c.endAsync(true);
    }
  }, 30_000);
});

describe('kill -9 during provisioning (real child processes)', () => {
  const BIN = path.join(REPO, 'dist/cli/main.js');
  // asynchronous: the provisioning service runs in this process and must keep answering
  const run = (dir: string, serial: string, killAt?: string): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }> =>
    new Promise((resolve) => {
      const c = spawn(process.execPath, [BIN, ...args(dir, '--param', `SerialNumber=${serial}`)], {
        env: { ...process.env, EDGEWISE_PROVISION_KILL_AT: killAt ?? '' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      c.on('exit', (status, signal) => resolve({ status, signal, stderr }));
    });

  for (const step of ['key', 'certificate', 'registered', 'committed']) {
    it(`killed after "${step}", the next start ends with one valid identity`, async () => {
      const dir = tmp();
      const serial = `KILL-${step}`;
      const killed = await run(dir, serial, step);
      expect(killed.signal).toBe('SIGKILL');
      const again = await run(dir, serial);
      expect(again.stderr).toBe('');
      expect(again.status).toBe(0);
      const id = JSON.parse(readFileSync(path.join(dir, 'identity.json'), 'utf8'));
      expect(id.thingName).toBe(`vehicle-${serial}`);
      // the committed key and certificate belong together and are the ones the cloud registered
      const cert = new X509Certificate(readFileSync(id.certFile));
      expect(cert.checkPrivateKey(createPrivateKey(readFileSync(id.keyFile)))).toBe(true);
      expect(cert.fingerprint256.replace(/:/g, '').toLowerCase()).toBe(id.certificateId);
      expect(svc.things.get(id.thingName)).toBe(id.certificateId);
      expect(existsSync(path.join(dir, 'provision'))).toBe(false);
      expect(readdirSync(dir).sort()).toEqual(['device.crt', 'device.key', 'identity.json']);
      rmSync(dir, { recursive: true, force: true });
    }, 90_000);
  }
});
