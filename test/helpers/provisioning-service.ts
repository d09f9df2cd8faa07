/**
 * Scripted AWS IoT fleet provisioning service on the real mosquitto broker, for tests.
 *
 * mosquitto with mTLS (CN = identity, use_identity_as_username) and an ACL file in which the claim
 * identity may use only the provisioning topics (the claim policy documented in docs/provisioning.md);
 * the service connects as a super user, signs CSRs with the broker's test CA (so the new device
 * certificate is accepted by the same broker), and answers on /accepted and /rejected with the
 * payloads the developer guide documents. RegisterThing hands out thing names from the
 * SerialNumber parameter.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { createDevPki, type CertPair } from '../../src/upload/certs.js';
import { startMosquitto, thingAclLines, type MosquittoBroker } from '../../src/upload/mosquitto.js';
import { provisioningTopics } from '../../src/provision/fleet.js';

export const CLAIM = 'claim';
const SERVICE = 'provisioning-service';

/** ACL lines for the claim identity: exactly the topics the device code says it uses. */
export function claimAclLines(template: string): string[] {
  const t = provisioningTopics(template);
  return [`user ${CLAIM}`, ...t.publish.map((x) => `topic write ${x}`), ...t.subscribe.map((x) => `topic read ${x}`)];
}

export interface ProvisioningService {
  broker: MosquittoBroker;
  claim: CertPair;
  caFile: string;
  endpoint: string;
  /** Every request received: operation and payload. */
  requests: { op: string; payload: any }[];
  /** Registered things: name -> certificate id. */
  things: Map<string, string>;
  /** A connected mqtt.js client with the super-user identity `observer`. */
  observer(): Promise<mqtt.MqttClient>;
  /** Answer the next n requests of `op` with this rejection instead. */
  rejectNext(op: 'csr' | 'keys' | 'register', error: { statusCode: number; errorCode: string; errorMessage: string }): void;
  /** Drop (never answer) requests of `op` while set. */
  silence(op: 'csr' | 'keys' | 'register' | undefined): void;
  close(): Promise<void>;
}

export async function startProvisioningService(opts: { template?: string } = {}): Promise<ProvisioningService> {
  const template = opts.template ?? 'EdgewiseFleet';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-prov-'));
  const pki = createDevPki(path.join(dir, 'pki'));
  // No per-identity patterns: like IoT Core, a certificate may do only what the policy attached to it
  // allows; the claim gets the claim policy, a registered certificate its thing's topic trees.
  const broker = await startMosquitto({ dir, pki, superUsers: [SERVICE, 'observer'], thingPatterns: false, aclExtra: claimAclLines(template) });
  const attached: string[] = [];
  /** Attach the thing policy to the certificate (CN) as RegisterThing does, and reload the broker's ACLs. */
  const attach = async (cn: string, thing: string): Promise<void> => {
    attached.push(`user ${cn}`, ...thingAclLines().map((l) => l.replace(/^pattern /, 'topic ').replace(/%u/g, thing)));
    await broker.reloadAcl([...claimAclLines(template), ...attached]);
  };
  const svc = pki.certFor(SERVICE);
  const claim = pki.certFor(CLAIM);
  const client = await mqtt.connectAsync({
    protocol: 'mqtts',
    host: 'localhost',
    port: broker.port,
    ca: readFileSync(pki.caFile),
    cert: readFileSync(svc.cert),
    key: readFileSync(svc.key),
    clientId: `${SERVICE}-${randomBytes(4).toString('hex')}`,
    protocolVersion: 5,
    reconnectPeriod: 200,
  });
  const requests: { op: string; payload: any }[] = [];
  const things = new Map<string, string>();
  const tokens = new Map<string, { certificateId: string; cn: string; thing?: string }>();
  const rejections = new Map<string, { statusCode: number; errorCode: string; errorMessage: string }[]>();
  let silenced: string | undefined;
  const csrTopic = '$aws/certificates/create-from-csr/json';
  const keysTopic = '$aws/certificates/create/json';
  const regPrefix = '$aws/provisioning-templates/';
  await client.subscribeAsync([csrTopic, keysTopic, `${regPrefix}+/provision/json`], { qos: 1 });

  const reply = (topic: string, ok: boolean, body: unknown): void => {
    client.publish(`${topic}/${ok ? 'accepted' : 'rejected'}`, JSON.stringify(body), { qos: 1 });
  };
  const sign = (csrPem: string): { certificatePem: string; certificateId: string; cn: string } => {
    // the device's CSR subject is ignored (as IoT Core does); the CN is the broker-side identity
    const cn = `cert-${randomBytes(8).toString('hex')}`;
    const csr = path.join(dir, `${randomUUID()}.csr`);
    writeFileSync(csr, csrPem);
    try {
      const pem = execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', pki.caFile, '-CAkey', pki.caKeyFile, '-set_serial', '0x' + randomBytes(8).toString('hex').replace(/^./, '1'), '-days', '30', '-subj', `/CN=${cn}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }).toString();
      // AWS's certificate id is the SHA-256 of the DER certificate, hex
      const certificateId = new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
      return { certificatePem: pem, certificateId, cn };
    } finally {
      rmSync(csr, { force: true });
    }
  };

  client.on('message', (topic, buf) => {
    void handle(topic, buf);
  });
  const handle = async (topic: string, buf: Buffer): Promise<void> => {
    let payload: any;
    try {
      payload = JSON.parse(buf.toString());
    } catch {
      reply(topic, false, { statusCode: 400, errorCode: 'InvalidPayload', errorMessage: 'payload is not JSON' });
      return;
    }
    const op = topic === csrTopic ? 'csr' : topic === keysTopic ? 'keys' : 'register';
    requests.push({ op, payload });
    if (silenced === op) return;
    const rej = rejections.get(op)?.shift();
    if (rej) return reply(topic, false, rej);
    try {
      if (op === 'csr') {
        if (typeof payload.certificateSigningRequest !== 'string') throw Object.assign(new Error('certificateSigningRequest missing'), { code: 'InvalidPayload' });
        const c = sign(payload.certificateSigningRequest);
        const token = randomBytes(24).toString('base64');
        tokens.set(token, { certificateId: c.certificateId, cn: c.cn });
        return reply(topic, true, { certificateOwnershipToken: token, certificateId: c.certificateId, certificatePem: c.certificatePem });
      }
      if (op === 'keys') {
        const key = execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
        const kf = path.join(dir, `${randomUUID()}.key`);
        writeFileSync(kf, key);
        const csr = execFileSync('openssl', ['req', '-new', '-key', kf, '-subj', '/CN=aws'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
        rmSync(kf);
        const c = sign(csr);
        const token = randomBytes(24).toString('base64');
        tokens.set(token, { certificateId: c.certificateId, cn: c.cn });
        return reply(topic, true, { certificateId: c.certificateId, certificatePem: c.certificatePem, privateKey: key, certificateOwnershipToken: token });
      }
      const name = topic.slice(regPrefix.length).split('/')[0];
      if (name !== template) return reply(topic, false, { statusCode: 404, errorCode: 'ResourceNotFound', errorMessage: `Template ${name} not found` });
      const t = tokens.get(payload.certificateOwnershipToken);
      if (!t) return reply(topic, false, { statusCode: 400, errorCode: 'InvalidCertificateOwnershipToken', errorMessage: 'Certificate ownership token cannot be validated' });
      const serial = payload.parameters?.SerialNumber;
      if (typeof serial !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(serial)) {
        return reply(topic, false, { statusCode: 400, errorCode: 'InvalidParameters', errorMessage: 'SerialNumber is required' });
      }
      const thing = t.thing ?? `vehicle-${serial}`;
      if (!t.thing) await attach(t.cn, thing);
      t.thing = thing;
      things.set(thing, t.certificateId);
      return reply(topic, true, { deviceConfiguration: { fleet: 'test' }, thingName: thing });
    } catch (e) {
      return reply(topic, false, { statusCode: 400, errorCode: (e as any).code === 'InvalidPayload' ? 'InvalidPayload' : 'InvalidCsr', errorMessage: (e as Error).message.split('\n')[0] });
    }
  };

  return {
    broker,
    claim,
    caFile: pki.caFile,
    endpoint: `localhost:${broker.port}`,
    requests,
    things,
    observer() {
      const o = pki.certFor('observer');
      return mqtt.connectAsync({
        protocol: 'mqtts', host: 'localhost', port: broker.port, protocolVersion: 5, reconnectPeriod: 0,
        ca: readFileSync(pki.caFile), cert: readFileSync(o.cert), key: readFileSync(o.key), clientId: `observer-${randomBytes(4).toString('hex')}`,
      });
    },
    rejectNext(op, error) {
      rejections.set(op, [...(rejections.get(op) ?? []), error]);
    },
    silence(op) {
      silenced = op;
    },
    async close() {
      await client.endAsync(true).catch(() => undefined);
      await broker.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
