#!/usr/bin/env node
// Write IoT Jobs documents for edgewise: ota (signed release), campaign.deploy, upload.
import { createHash, createPrivateKey, createSign } from 'node:crypto';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const HELP = `usage:
  node scripts/release/job.mjs ota --artifact <file.tar.gz> --version <x.y.z> (--url <https-url> | --s3 <bucket>/<key> --region <r>)
                               --key <private.key> [--key-id <id>] [--allow-downgrade] [--out job.json]
  node scripts/release/job.mjs deploy [--campaign <file.json>]... [--remove <name>]... [--out job.json]
  node scripts/release/job.mjs upload [--from <ISO>] [--to <ISO>] [--partition <id>] [--campaign-name <name>] [--out job.json]

Writes the job document (JSON) to stdout or --out, ready for
  aws iot create-job --job-id <id> --targets <thing-arn> --document file://job.json ...
For ota, --s3 writes the \${aws:iot:s3-presigned-url:...} placeholder that IoT Jobs replaces with a
presigned URL at delivery (create the job with --presigned-url-config roleArn=...,expiresInSec=3600).
The signature is ECDSA P-256 / SHA-256 over the artifact bytes (DER, base64); size and sha256 are
computed from --artifact. The version must match release.json inside the artifact.

  -h, --help   this text`;

const fail = (msg, code = 2) => {
  console.error(`job: ${msg}`);
  process.exit(code);
};
const kind = process.argv[2];
if (!kind || kind === '-h' || kind === '--help') {
  console.log(HELP);
  process.exit(kind ? 0 : 2);
}
let v;
try {
  v = parseArgs({
    args: process.argv.slice(3),
    options: {
      artifact: { type: 'string' },
      version: { type: 'string' },
      url: { type: 'string' },
      s3: { type: 'string' },
      region: { type: 'string' },
      key: { type: 'string' },
      'key-id': { type: 'string' },
      'allow-downgrade': { type: 'boolean' },
      campaign: { type: 'string', multiple: true },
      remove: { type: 'string', multiple: true },
      from: { type: 'string' },
      to: { type: 'string' },
      partition: { type: 'string' },
      'campaign-name': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (e) {
  fail(`${e.message}\n\n${HELP}`);
}
if (v.help) {
  console.log(HELP);
  process.exit(0);
}

let doc;
if (kind === 'ota') {
  if (!v.artifact || !v.version || !v.key) fail('ota needs --artifact, --version and --key');
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(v.version)) fail('--version must be x.y.z[-pre]');
  let url = v.url;
  if (v.s3) {
    if (!v.region) fail('--s3 needs --region');
    url = `\${aws:iot:s3-presigned-url:https://s3.${v.region}.amazonaws.com/${v.s3}}`;
  }
  if (!url) fail('ota needs --url or --s3');
  if (v.url && !v.url.startsWith('https://')) fail('--url must be https://');
  const key = createPrivateKey(readFileSync(v.key));
  const hash = createHash('sha256');
  const signer = createSign('sha256');
  let size = 0;
  for await (const chunk of createReadStream(v.artifact)) {
    hash.update(chunk);
    signer.update(chunk);
    size += chunk.length;
  }
  doc = {
    operation: 'ota',
    version: v.version,
    url,
    size,
    sha256: hash.digest('hex'),
    signature: signer.sign(key).toString('base64'),
    ...(v['key-id'] ? { keyId: v['key-id'] } : {}),
    ...(v['allow-downgrade'] ? { allowDowngrade: true } : {}),
  };
} else if (kind === 'deploy') {
  const changes = [];
  for (const f of v.campaign ?? []) {
    let campaign;
    try {
      campaign = JSON.parse(readFileSync(f, 'utf8'));
    } catch (e) {
      fail(`${f}: ${e.message} (campaign files must be JSON here; convert YAML first)`, 1);
    }
    changes.push({ op: 'put', campaign });
  }
  for (const name of v.remove ?? []) changes.push({ op: 'remove', name });
  if (!changes.length) fail('deploy needs at least one --campaign or --remove');
  doc = { operation: 'campaign.deploy', changes };
} else if (kind === 'upload') {
  for (const k of ['from', 'to']) if (v[k] !== undefined && Number.isNaN(Date.parse(v[k]))) fail(`--${k} must be an ISO 8601 time`);
  doc = {
    operation: 'upload',
    ...(v.from ? { from: v.from } : {}),
    ...(v.to ? { to: v.to } : {}),
    ...(v.partition ? { partition: v.partition } : {}),
    ...(v['campaign-name'] ? { campaign: v['campaign-name'] } : {}),
  };
} else {
  fail(`unknown job kind ${JSON.stringify(kind)} (ota, deploy, upload)\n\n${HELP}`);
}
const text = JSON.stringify(doc, null, 2) + '\n';
if (Buffer.byteLength(text) > 32 * 1024) fail(`the document is ${Buffer.byteLength(text)} bytes; IoT Jobs allows 32 KB (deploy large campaigns by url + sha256)`, 1);
if (v.out) {
  writeFileSync(v.out, text);
  console.error(`job: wrote ${path.resolve(v.out)}`);
} else process.stdout.write(text);
