#!/usr/bin/env node
// Generate an ECDSA P-256 key pair for signing edgewise OTA releases.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const HELP = `usage: node scripts/release/keygen.mjs --out <dir> [--name <keyId>] [--force]

Writes <dir>/<keyId>.key (private, PKCS#8 PEM, mode 0600 — keep it OFF the build host, ideally
offline) and <dir>/<keyId>.pem (public, SPKI PEM). Install the .pem on devices in the OTA trusted
key directory (several keys may be installed for rotation); the file name without .pem is the
keyId a job may name.

  --out <dir>     output directory (created)
  --name <keyId>  key id / file name stem (default: edgewise-release-<year>)
  --force         overwrite existing files
  -h, --help      this text`;

let a;
try {
  a = parseArgs({ options: { out: { type: 'string' }, name: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }).values;
} catch (e) {
  console.error(`keygen: ${e.message}\n\n${HELP}`);
  process.exit(2);
}
if (a.help) {
  console.log(HELP);
  process.exit(0);
}
if (!a.out) {
  console.error(`keygen: --out is required\n\n${HELP}`);
  process.exit(2);
}
const name = a.name ?? `edgewise-release-${new Date().getUTCFullYear()}`;
if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
  console.error('keygen: --name may only contain letters, digits, _ . - (1..64)');
  process.exit(2);
}
mkdirSync(a.out, { recursive: true, mode: 0o700 });
const priv = path.join(a.out, `${name}.key`);
const pub = path.join(a.out, `${name}.pem`);
if (!a.force && (existsSync(priv) || existsSync(pub))) {
  console.error(`keygen: ${priv} or ${pub} exists (use --force to overwrite)`);
  process.exit(1);
}
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
console.log(JSON.stringify({ keyId: name, privateKey: priv, publicKey: pub }));
