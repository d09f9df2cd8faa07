// The release signature (one definition for sign.mjs, build.mjs --key and what the device checks in
// src/control/ota/verify.ts): ECDSA P-256 over SHA-256 of the artifact bytes, DER, base64 — the
// same as `openssl dgst -sha256 -sign <key> <artifact> | base64 -w0`.
import { createHash, createPrivateKey, createSign } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';

/** The EC P-256 private key in `file` (PEM), or an Error saying what is wrong with it. */
export function loadSigningKey(file) {
  const key = createPrivateKey(readFileSync(file));
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('the key must be an EC P-256 private key');
  return key;
}

/** {size, sha256, signature} of `artifact`, read once. */
export async function signArtifact(artifact, key) {
  const hash = createHash('sha256');
  const signer = createSign('sha256');
  let size = 0;
  for await (const chunk of createReadStream(artifact)) {
    hash.update(chunk);
    signer.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex'), signature: signer.sign(key).toString('base64') };
}
