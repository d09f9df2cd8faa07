#!/usr/bin/env node
// Build edgewise release artifacts for one or more Linux architectures from one machine.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, cpSync, createReadStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ARCHES, elfMachine, hostArch } from './arch.mjs';
import { buildDeb } from './deb.mjs';
import { loadSigningKey, signArtifact } from './signing.mjs';

const HELP = `usage: node scripts/release/build.mjs [--arch arm64,x64] [--out <dir>] [--repo <dir>] [--deb] [--key <private.key>]
                                       [--node <version> | --system-node] [--no-build] [--no-install]
                                       [--file-hashes]

Builds, for each architecture, <out>/edgewise-<version>-linux-<arch>.tar.gz (version from
package.json), the artifact an OTA job installs as <root>/releases/<version>/, and with --deb
<out>/edgewise_<version>_<debarch>.deb from the same staging:
  1. npm run build                       (once; skip with --no-build)
  2. stage package.json, package-lock.json and the package.json "files" (dist/, dbc/, ...)
  3. npm ci --omit=dev --ignore-scripts --cpu=<arch> --os=linux --libc=glibc: the target's prebuilt
     aws-crt and classic-level binaries; other platforms' binaries are removed (skip with --no-install)
  4. the SocketCAN helper (native/) compiled for the target (aarch64-linux-gnu-gcc for arm64 on x64)
  5. the Node.js runtime for the target (npm package node-linux-<arch>, version from package.json
     "edgewise.node" or --node) as runtime/bin/node; --system-node leaves it out and the release
     runs on the system's /usr/bin/node (>= the engines.node minimum)
  6. release.json {version, arch, platform, libc, node, runtime, created[, files]}
  7. tar -czf with sorted names, owner 0, no hard links
Every binary in the staging is checked to be an ELF file for the target machine before packing.
Prints one JSON line per artifact: {"artifact", "kind", "arch", "version", "size", "sha256"}; with
--key (an EC P-256 private key from keygen.mjs) each tarball is signed as sign.mjs does: the line
gets "signature" and <artifact>.sig holds it (job.mjs ota --artifact then writes the job). Cross builds need: npm registry access, and for arm64
on x64 Debian's gcc-aarch64-linux-gnu.

  --arch <list>  comma-separated: arm64, x64 (default: this machine's, ${hostArch()})
  --out <dir>    output directory (default: <repo>/release)
  --repo <dir>   repository root (default: this checkout)
  -h, --help     this text`;

let v;
try {
  v = parseArgs({
    options: {
      arch: { type: 'string' },
      out: { type: 'string' },
      repo: { type: 'string' },
      deb: { type: 'boolean' },
      key: { type: 'string' },
      node: { type: 'string' },
      'system-node': { type: 'boolean' },
      'no-build': { type: 'boolean' },
      'no-install': { type: 'boolean' },
      'ignore-scripts': { type: 'boolean' }, // kept for old callers: dependencies' scripts never run now
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
const die = (msg, code = 1) => {
  console.error(`build: ${msg}`);
  process.exit(code);
};
const repo = path.resolve(v.repo ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../..'));
const out = path.resolve(v.out ?? path.join(repo, 'release'));
const arches = (v.arch ?? hostArch()).split(',').map((a) => a.trim()).filter(Boolean);
for (const a of arches) if (!ARCHES[a]) die(`unknown --arch ${a}: one of ${Object.keys(ARCHES).join(', ')} (32-bit ARM: see docs/hardware.md)`, 2);

const run = (cmd, args, cwd, env) => {
  console.error(`build: ${cmd} ${args.join(' ')}  (in ${cwd})`);
  execFileSync(cmd, args, { cwd, stdio: ['ignore', process.stderr, 'inherit'], env: { ...process.env, ...env } });
};

const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
const version = pkg.version;
if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version ?? '')) die(`package.json version ${JSON.stringify(version)} is not x.y.z[-pre]`);
const runtimeVersion = v['system-node'] ? undefined : (v.node ?? pkg.edgewise?.node);
if (!v['system-node'] && !v['no-install'] && !/^\d+\.\d+\.\d+$/.test(runtimeVersion ?? '')) die('no Node.js runtime version: set package.json "edgewise": {"node": "x.y.z"} or pass --node / --system-node');
if (!v['no-build']) run('npm', ['run', 'build'], repo);
if (!existsSync(path.join(repo, 'dist', 'cli', 'main.js'))) die('dist/cli/main.js is missing (run npm run build)');
mkdirSync(out, { recursive: true });

async function sha256(file) {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c);
  return h.digest('hex');
}
function walk(dir, onFile) {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, onFile);
    else if (e.isFile()) onFile(p);
  }
}

/** Remove prebuilt binaries for other platforms (aws-crt dist/bin/<platform>, prebuilds/<platform>). */
function pruneForeignBinaries(staging, arch) {
  const keep = new Set([`linux-${arch}`, `linux-${arch}-glibc`]);
  const nm = path.join(staging, 'node_modules');
  const visit = (dir, depth) => {
    if (depth > 6 || !existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === 'prebuilds' || (e.name === 'bin' && path.basename(dir) === 'dist')) {
        for (const plat of readdirSync(p)) if (!keep.has(plat)) rmSync(path.join(p, plat), { recursive: true, force: true });
      } else visit(p, depth + 1);
    }
  };
  visit(nm, 0);
}

/**
 * What a vehicle does not need and a package must not carry: musl builds (the release is glibc),
 * npm/git housekeeping files; modes normalised (a file is executable only when it is an ELF
 * program or a script: some packages ship 0744 text files); our own addon stripped.
 */
function startsWithShebang(file) {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(2);
    return readSync(fd, b, 0, 2, 0) === 2 && b.toString('latin1') === '#!';
  } finally {
    closeSync(fd);
  }
}

function tidy(staging, arch) {
  walk(path.join(staging, 'node_modules'), (p) => {
    const base = path.basename(p);
    if (base.endsWith('.musl.node') || base === '.npmignore' || base === '.gitattributes') return rmSync(p);
    const executable = elfMachine(p) !== undefined || startsWithShebang(p);
    chmodSync(p, executable && !base.endsWith('.node') ? 0o755 : 0o644);
  });
  run('chmod', ['-R', 'u+rwX,go+rX,go-w', staging], staging);
  const addon = path.join(staging, 'native', 'build', 'Release', 'edgewise_can.node');
  if (existsSync(addon)) {
    run(arch === hostArch() ? 'strip' : `${ARCHES[arch].cross}-strip`, ['--strip-unneeded', addon], staging);
    chmodSync(addon, 0o644);
  }
}

/** node-linux-<arch>@<version> from the npm registry: bin/node, headers (for node-gyp), LICENSE. */
function fetchRuntime(arch, ver, work) {
  const dir = path.join(work, `node-${arch}-${ver}`);
  if (existsSync(path.join(dir, 'package', 'bin', 'node'))) return path.join(dir, 'package');
  mkdirSync(dir, { recursive: true });
  run('npm', ['pack', `node-linux-${arch}@${ver}`, '--silent', '--pack-destination', dir], dir);
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tgz) die(`npm pack node-linux-${arch}@${ver} wrote nothing`);
  run('tar', ['-xzf', tgz], dir);
  return path.join(dir, 'package');
}

function buildNative(staging, arch, nodedir) {
  const env = {};
  if (arch !== hostArch()) {
    const cc = ARCHES[arch].cross;
    try {
      execFileSync(`${cc}-gcc`, ['--version'], { stdio: 'ignore' });
    } catch {
      die(`cross-compiling the SocketCAN helper for ${arch} needs ${cc}-gcc (Debian: apt-get install gcc-${cc.replace(/_/g, '-')})`);
    }
    Object.assign(env, { CC: `${cc}-gcc`, CXX: `${cc}-g++`, LINK: `${cc}-g++`, AR: `${cc}-ar` });
  }
  const npmGyp = path.join(path.dirname(process.execPath), '..', 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
  const gyp = existsSync(npmGyp) ? [process.execPath, npmGyp] : ['node-gyp'];
  run(gyp[0], [...gyp.slice(1), 'rebuild', `--arch=${arch}`, `--nodedir=${nodedir}`, `--directory=${path.join(staging, 'native')}`], staging, env);
  rmSync(path.join(staging, 'native', 'build', 'Release', 'obj.target'), { recursive: true, force: true });
}

let signingKey;
if (v.key) {
  try {
    signingKey = loadSigningKey(v.key);
  } catch (e) {
    die(`--key ${v.key}: ${e.message}`);
  }
}
const work = path.join(os.tmpdir(), 'edgewise-release-cache');
const results = [];
for (const arch of arches) {
  const staging = path.join(out, `.staging-${version}-${arch}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  for (const f of ['package.json', 'package-lock.json', ...(pkg.files ?? ['dist'])]) {
    const src = path.join(repo, f);
    if (!existsSync(src)) continue;
    cpSync(src, path.join(staging, f), {
      recursive: true,
      filter: (p) => !p.includes(`${path.sep}.staging-`) && !p.endsWith('.map') && !p.includes(`${path.sep}native${path.sep}build`),
    });
  }
  let runtime;
  if (!v['no-install']) {
    if (!existsSync(path.join(staging, 'package-lock.json'))) die('package-lock.json is required for npm ci');
    run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts', `--cpu=${arch}`, '--os=linux', '--libc=glibc'], staging);
    pruneForeignBinaries(staging, arch);
    // npm's command links are for developers; the agent runs dist/cli/main.js.
    rmSync(path.join(staging, 'node_modules', '.bin'), { recursive: true, force: true });
    const headersFrom = runtimeVersion ? fetchRuntime(arch, runtimeVersion, work) : fetchRuntime(arch, process.versions.node, work);
    if (existsSync(path.join(staging, 'native', 'binding.gyp'))) buildNative(staging, arch, headersFrom);
    if (runtimeVersion) {
      mkdirSync(path.join(staging, 'runtime', 'bin'), { recursive: true });
      cpSync(path.join(headersFrom, 'bin', 'node'), path.join(staging, 'runtime', 'bin', 'node'));
      chmodSync(path.join(staging, 'runtime', 'bin', 'node'), 0o755);
      for (const f of ['LICENSE']) if (existsSync(path.join(headersFrom, f))) cpSync(path.join(headersFrom, f), path.join(staging, 'runtime', f));
      runtime = { bundled: true, node: runtimeVersion };
    }
    tidy(staging, arch);
    // Every ELF file must be for the target: a wrong binary must fail here, not on a vehicle.
    const want = ARCHES[arch].elf;
    walk(staging, (p) => {
      const m = elfMachine(p);
      if (m !== undefined && m !== want) die(`${path.relative(staging, p)} is an ELF file for machine ${m}, not ${arch} (${want})`);
    });
  }
  const manifest = {
    version,
    arch,
    platform: 'linux',
    libc: 'glibc',
    node: pkg.engines?.node ?? `>=${process.versions.node.split('.')[0]}`,
    runtime: runtime ?? { bundled: false },
    created: new Date().toISOString(),
  };
  if (v['file-hashes']) {
    const files = {};
    const all = [];
    walk(staging, (p) => all.push(p));
    for (const p of all) files[path.relative(staging, p).split(path.sep).join('/')] = await sha256(p);
    manifest.files = files;
  }
  writeFileSync(path.join(staging, 'release.json'), JSON.stringify(manifest, null, 2) + '\n');

  const artifact = path.join(out, `edgewise-${version}-linux-${arch}.tar.gz`);
  const mtime = process.env.SOURCE_DATE_EPOCH ? `@${process.env.SOURCE_DATE_EPOCH}` : `@${Math.floor(Date.now() / 1000)}`;
  run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--hard-dereference', `--mtime=${mtime}`, '-czf', artifact, '-C', staging, '.'], out);
  if (signingKey) {
    const signed = await signArtifact(artifact, signingKey);
    writeFileSync(`${artifact}.sig`, signed.signature + '\n');
    results.push({ artifact, kind: 'tarball', arch, version, size: signed.size, sha256: signed.sha256, signature: signed.signature });
  } else results.push({ artifact, kind: 'tarball', arch, version, size: statSync(artifact).size, sha256: await sha256(artifact) });
  if (v.deb) {
    const deb = buildDeb({ staging, version, arch, out, run });
    results.push({ artifact: deb, kind: 'deb', arch, version, size: statSync(deb).size, sha256: await sha256(deb) });
  }
  rmSync(staging, { recursive: true, force: true });
}
for (const r of results) console.log(JSON.stringify(r));
