#!/usr/bin/env node
// Sign a release artifact: ECDSA P-256 over SHA-256 of the file bytes, DER, base64.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadSigningKey, signArtifact } from './signing.mjs';

const HELP = `usage: node scripts/release/sign.mjs --key <private.key> [--out <file.sig>] <artifact>

Prints {"sha256", "size", "signature"} as JSON: the signature is ECDSA P-256 / SHA-256 over the
artifact bytes, DER encoded, base64 — the same as
  openssl dgst -sha256 -sign <private.key> <artifact> | base64 -w0
--out also writes the base64 signature to a file.

  --key <file>   PEM private key (EC P-256), from keygen.mjs
  --out <file>   write the base64 signature here too
  -h, --help     this text`;

let r;
try {
  r = parseArgs({ allowPositionals: true, options: { key: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
} catch (e) {
  console.error(`sign: ${e.message}\n\n${HELP}`);
  process.exit(2);
}
if (r.values.help) {
  console.log(HELP);
  process.exit(0);
}
const artifact = r.positionals[0];
if (!artifact || !r.values.key) {
  console.error(`sign: an artifact and --key are required\n\n${HELP}`);
  process.exit(2);
}
let key;
try {
  key = loadSigningKey(r.values.key);
} catch (e) {
  console.error(`sign: ${e.message}`);
  process.exit(1);
}
const { size, sha256, signature } = await signArtifact(artifact, key);
if (r.values.out) writeFileSync(r.values.out, signature + '\n');
console.log(JSON.stringify({ artifact, size, sha256, signature }));
