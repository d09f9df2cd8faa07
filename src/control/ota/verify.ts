/**
 * Artifact verification: SHA-256 of the file and an ECDSA P-256 / SHA-256 signature over the
 * artifact bytes (DER, base64) checked against public keys kept ON THE DEVICE (a directory of PEM
 * files; several keys allow rotation). A key in the job document is never trusted.
 *
 * The signature is what `openssl dgst -sha256 -sign key.pem -out sig.der artifact.tar.gz`
 * produces (and `scripts/release/sign.mjs`): ECDSA over SHA-256(artifact).
 */
import { createHash, createPublicKey, createVerify, type KeyObject } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EdgewiseError } from '../../errors.js';

export interface TrustedKey {
  id: string;
  key: KeyObject;
}

/** Load `*.pem` public keys (EC P-256) from `dir`; the key id is the file name without `.pem`. */
export function loadTrustedKeys(dir: string): TrustedKey[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pem')).sort();
  } catch (err) {
    throw new EdgewiseError('CONFIG_INVALID', `cannot read the OTA trusted key directory ${dir}: ${(err as Error).message}`, { dir });
  }
  const keys: TrustedKey[] = [];
  for (const n of names) {
    const file = path.join(dir, n);
    try {
      const key = createPublicKey(readFileSync(file));
      if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new Error(`not an EC P-256 key (${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''})`);
      }
      keys.push({ id: n.slice(0, -4), key });
    } catch (err) {
      throw new EdgewiseError('CONFIG_INVALID', `OTA trusted key ${file} is unusable: ${(err as Error).message}`, { file });
    }
  }
  return keys;
}

export type VerifyResult = { ok: true; keyId: string; sha256: string } | { ok: false; reason: string; sha256?: string };

/** Stream the file once, checking its SHA-256 and the signature against the trusted keys. */
export async function verifyArtifact(
  file: string,
  expect: { sha256: string; signature: string; keyId?: string },
  keys: TrustedKey[],
): Promise<VerifyResult> {
  const candidates = expect.keyId !== undefined ? keys.filter((k) => k.id === expect.keyId) : keys;
  if (keys.length === 0) return { ok: false, reason: 'no trusted OTA signing keys are installed on the device' };
  if (candidates.length === 0) return { ok: false, reason: `signing key ${JSON.stringify(expect.keyId)} is not trusted by this device` };
  const sig = Buffer.from(expect.signature, 'base64');
  if (sig.length < 8) return { ok: false, reason: 'signature is empty or not base64' };
  const hash = createHash('sha256');
  const verifiers = candidates.map((k) => ({ id: k.id, key: k.key, v: createVerify('sha256') }));
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    for (const x of verifiers) x.v.update(chunk as Buffer);
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== expect.sha256.toLowerCase()) {
    return { ok: false, sha256, reason: `sha256 mismatch: the job says ${expect.sha256.toLowerCase()}, the download is ${sha256}` };
  }
  for (const x of verifiers) {
    let good = false;
    try {
      good = x.v.verify(x.key, sig);
    } catch {
      good = false; // malformed DER
    }
    if (good) return { ok: true, keyId: x.id, sha256 };
  }
  return {
    ok: false,
    sha256,
    reason: `signature does not verify with ${expect.keyId !== undefined ? `key ${expect.keyId}` : `any of the ${candidates.length} trusted key(s)`}`,
  };
}
