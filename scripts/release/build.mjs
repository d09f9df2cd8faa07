#!/usr/bin/env node
// Build an edgewise release tarball: the built app + production node_modules + release.json.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HELP = `usage: node scripts/release/build.mjs [--out <dir>] [--repo <dir>] [--no-build] [--no-install]
                                       [--ignore-scripts] [--file-hashes]

Builds <out>/edgewise-<version>.tar.gz (version from package.json), the artifact an OTA job
installs as <root>/releases/<version>/:
  1. npm run build                       (skip with --no-build)
  2. stage package.json, package-lock.json and the package.json "files" (dist/, dbc/, ...)
  3. npm ci --omit=dev in the staging dir (skip with --no-install; --ignore-scripts passes it on)
     — run this on the target architecture (or one with the same aws-crt binary: linux x64/arm64)
  4. release.json {version, node, created[, files: {path: sha256}] with --file-hashes}
  5. tar -czf with sorted names, owner 0, no hard links
Prints {"artifact", "version", "size", "sha256"} as JSON. Sign it with sign.mjs or job.mjs.

  --out <dir>    output directory (default: <repo>/release)
  --repo <dir>   repository root (default: this checkout)
  -h, --help     this text`;

let v;
try {
  v = parseArgs({
    options: {
      out: { type: 'string' },
      repo: { type: 'string' },
      'no-build': { type: 'boolean' },
      'no-install': { type: 'boolean' },
      'ignore-scripts': { type: 'boolean' },
      'file-hashes': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
} catch (e) {
  console.error(`build: ${e.message}\n\n${HELP}`);
  process.exit(2);
}
if (v.help) {
  console.log(HELP);
  process.exit(0);
}
const repo = path.resolve(v.repo ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../..'));
const out = path.resolve(v.out ?? path.join(repo, 'release'));
const run = (cmd, args, cwd) => {
  console.error(`build: ${cmd} ${args.join(' ')}  (in ${cwd})`);
  execFileSync(cmd, args, { cwd, stdio: ['ignore', process.stderr, 'inherit'] });
};

const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
const version = pkg.version;
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version ?? '')) {
  console.error(`build: package.json version ${JSON.stringify(version)} is not x.y.z[-pre]`);
  process.exit(1);
}
if (!v['no-build']) run('npm', ['run', 'build'], repo);
if (!existsSync(path.join(repo, 'dist', 'cli', 'main.js'))) {
  console.error('build: dist/cli/main.js is missing (run npm run build)');
  process.exit(1);
}

mkdirSync(out, { recursive: true });
const staging = path.join(out, `.staging-${version}`);
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
for (const f of ['package.json', 'package-lock.json', ...(pkg.files ?? ['dist'])]) {
  const src = path.join(repo, f);
  if (!existsSync(src)) continue;
  cpSync(src, path.join(staging, f), { recursive: true, filter: (p) => !p.includes(`${path.sep}.staging-`) && !p.endsWith('.map') });
}
if (!v['no-install']) {
  if (!existsSync(path.join(staging, 'package-lock.json'))) {
    console.error('build: package-lock.json is required for npm ci');
    process.exit(1);
  }
  run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', ...(v['ignore-scripts'] ? ['--ignore-scripts'] : [])], staging);
}

async function sha256(file) {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c);
  return h.digest('hex');
}
const manifest = { version, node: pkg.engines?.node ?? process.version, created: new Date().toISOString() };
if (v['file-hashes']) {
  const files = {};
  const walk = async (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) files[path.relative(staging, p).split(path.sep).join('/')] = await sha256(p);
    }
  };
  await walk(staging);
  manifest.files = files;
}
writeFileSync(path.join(staging, 'release.json'), JSON.stringify(manifest, null, 2) + '\n');

const artifact = path.join(out, `edgewise-${version}.tar.gz`);
const mtime = process.env.SOURCE_DATE_EPOCH ? `@${process.env.SOURCE_DATE_EPOCH}` : `@${Math.floor(Date.now() / 1000)}`;
run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--hard-dereference', `--mtime=${mtime}`, '-czf', artifact, '-C', staging, '.'], out);
rmSync(staging, { recursive: true, force: true });
console.log(JSON.stringify({ artifact, version, size: statSync(artifact).size, sha256: await sha256(artifact) }));
