/**
 * The device identity produced by fleet provisioning, and the crash-safe steps that produce it.
 *
 * Files in `dir` (next to the config):
 *   device.key, device.crt, identity.json   the committed identity; identity.json is written last
 *                                           (tmp + fsync + rename), so it exists only when the
 *                                           key and certificate it names are complete;
 *   provision/pending.key                   key generated on the device (0600), not yet committed;
 *   provision/pending.crt, pending.json     certificate + ownership token after CreateCertificate*.
 *
 * A restart after a crash at any step: identity.json present -> done; a pending certificate whose
 * ownership token is younger than its one-hour lifetime -> RegisterThing again with it; anything
 * else -> start over with a new key. There is never a half-written identity.
 *
 * The CSR is made with `openssl req` (a child process, key passed by file path): node:crypto cannot
 * build CSRs, openssl is on every Debian/Yocto image this agent targets and already creates the
 * development PKI, and it keeps an ASN.1/X.509 library out of the agent's resident memory.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { EdgewiseError } from '../errors.js';
import { atomicWriteFile } from '../files.js';
import type { ClaimSession } from './fleet.js';

export type KeyType = 'ec-p256' | 'rsa-2048';

export interface Identity {
  thingName: string;
  certificateId: string;
  certFile: string;
  keyFile: string;
  deviceConfiguration: Record<string, string>;
  provisionedAt: string;
}

export function identityFiles(dir: string) {
  const p = path.join(dir, 'provision');
  return {
    identity: path.join(dir, 'identity.json'),
    cert: path.join(dir, 'device.crt'),
    key: path.join(dir, 'device.key'),
    pendingDir: p,
    pendingKey: path.join(p, 'pending.key'),
    pendingCert: path.join(p, 'pending.crt'),
    pendingState: path.join(p, 'pending.json'),
  };
}

/** The committed identity in `dir`, or undefined. */
export function readIdentity(dir: string): Identity | undefined {
  const f = identityFiles(dir);
  if (!existsSync(f.identity)) return undefined;
  const id = JSON.parse(readFileSync(f.identity, 'utf8')) as Identity;
  return id;
}

export function generateKeyPem(type: KeyType): string {
  const kp =
    type === 'rsa-2048'
      ? generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } })
      : generateKeyPairSync('ec', { namedCurve: 'prime256v1', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  return kp.privateKey;
}

/** A PKCS#10 CSR for the key file (subject CN only; AWS IoT ignores the subject). */
export function makeCsr(keyFile: string, commonName: string): string {
  try {
    return execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', `/CN=${commonName.replace(/[/\\=+,]/g, '_')}`, '-sha256'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new EdgewiseError('IO', 'provisioning needs openssl to build the CSR (Debian: apt-get install openssl)', {}, { cause: err });
    throw new EdgewiseError('IO', `openssl req failed: ${e.stderr?.toString().trim() || e.message}`, { keyFile }, { cause: err });
  }
}

interface PendingState {
  certificateId: string;
  certificateOwnershipToken: string;
  issuedAt: number;
}

/** The ownership token expires after one hour (developer guide); stay well inside it. */
const TOKEN_LIFETIME_MS = 50 * 60_000;

export interface ProvisionOptions {
  dir: string;
  template: string;
  parameters: Record<string, string>;
  keyType?: KeyType;
  /** Use CreateKeysAndCertificate (key made by AWS) instead of a CSR. Default false. */
  createKeys?: boolean;
  /** Test hook: called after each durable step with its name (the crash tests kill -9 there). */
  onStep?: (step: 'key' | 'certificate' | 'registered' | 'committed') => void;
}

/**
 * Run (or resume) provisioning over an open claim session. Returns the committed identity.
 */
export async function provision(session: ClaimSession, o: ProvisionOptions): Promise<Identity> {
  const f = identityFiles(o.dir);
  const done = readIdentity(o.dir);
  if (done) return done;
  mkdirSync(f.pendingDir, { recursive: true, mode: 0o700 });

  let pending: PendingState | undefined;
  if (existsSync(f.pendingState) && existsSync(f.pendingCert) && existsSync(f.pendingKey)) {
    const s = JSON.parse(readFileSync(f.pendingState, 'utf8')) as PendingState;
    if (Date.now() - s.issuedAt < TOKEN_LIFETIME_MS) pending = s;
  }
  if (!pending) {
    rmSync(f.pendingState, { force: true });
    rmSync(f.pendingCert, { force: true });
    let r;
    if (o.createKeys) {
      rmSync(f.pendingKey, { force: true });
      r = await session.createKeysAndCertificate();
      atomicWriteFile(f.pendingKey, r.privateKey!, 0o600);
    } else {
      if (!existsSync(f.pendingKey)) {
        atomicWriteFile(f.pendingKey, generateKeyPem(o.keyType ?? 'ec-p256'), 0o600);
        o.onStep?.('key');
      }
      r = await session.createCertificateFromCsr(makeCsr(f.pendingKey, o.parameters.SerialNumber ?? 'edgewise'));
    }
    checkCertMatchesKey(r.certificatePem, f.pendingKey);
    atomicWriteFile(f.pendingCert, r.certificatePem);
    pending = { certificateId: r.certificateId, certificateOwnershipToken: r.certificateOwnershipToken, issuedAt: Date.now() };
    atomicWriteFile(f.pendingState, JSON.stringify(pending));
    o.onStep?.('certificate');
  }

  const reg = await session.registerThing(o.template, pending.certificateOwnershipToken, o.parameters);
  o.onStep?.('registered');
  // commit: key and certificate first, identity.json last
  atomicWriteFile(f.key, readFileSync(f.pendingKey), 0o600);
  atomicWriteFile(f.cert, readFileSync(f.pendingCert));
  const id: Identity = {
    thingName: reg.thingName,
    certificateId: pending.certificateId,
    certFile: f.cert,
    keyFile: f.key,
    deviceConfiguration: reg.deviceConfiguration,
    provisionedAt: new Date().toISOString(),
  };
  atomicWriteFile(f.identity, JSON.stringify(id, null, 2) + '\n');
  rmSync(f.pendingDir, { recursive: true, force: true });
  o.onStep?.('committed');
  return id;
}

function checkCertMatchesKey(certPem: string, keyFile: string): void {
  let ok = false;
  try {
    ok = new X509Certificate(certPem).checkPrivateKey(createPrivateKey(readFileSync(keyFile)));
  } catch (e) {
    throw new EdgewiseError('IO', `provisioning: the certificate from the cloud cannot be read: ${(e as Error).message}`, {}, { cause: e });
  }
  if (!ok) throw new EdgewiseError('IO', 'provisioning: the certificate from the cloud is not for the key generated on this device', {});
}
