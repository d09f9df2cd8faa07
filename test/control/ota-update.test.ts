/**
 * OTA end to end: releases laid out in a temp dir, the app run by a supervisor process (playing
 * systemd Restart=always), the real control plane in the app talking to the fake Jobs service
 * over real mosquitto (mTLS), artifacts from a local HTTPS server, signatures checked against keys
 * on "the device". The app in each release is a small bundle of the real control plane.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, sign, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnv, until, type Env } from './support/harness.js';
import { startArtifactServer, type ArtifactServer } from './support/https-server.js';
import { tarGz, type TarEntry } from './support/tar-writer.js';

const SUPPORT = path.join(import.meta.dirname, 'support');
const require = createRequire(import.meta.url);

let env: Env;
let http: ArtifactServer;
let bundle: string;
let trusted: { publicKey: KeyObject; privateKey: KeyObject };
let rogue: { publicKey: KeyObject; privateKey: KeyObject };
const padding = randomBytes(600 * 1024); // incompressible: makes downloads long enough to interrupt

async function buildApp(out: string): Promise<string> {
  const { build } = (await import('esbuild')) as typeof import('esbuild');
  const file = path.join(out, 'main.js');
  await build({
    entryPoints: [path.join(SUPPORT, 'ota-app.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: file,
    logLevel: 'warning',
    // the native SDK stays outside the bundle, imported from this checkout by absolute path
    plugins: [
      {
        name: 'sdk-external',
        setup(b) {
          b.onResolve({ filter: /^(aws-iot-device-sdk-v2|aws-crt)(\/.*)?$/ }, (a) => ({ path: require.resolve(a.path), external: true }));
        },
      },
    ],
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return readFileSync(file, 'utf8');
}

const OTHER_ARCH = process.arch === 'arm64' ? 'x64' : 'arm64';
/** EM_AARCH64 = 183, EM_X86_64 = 62 (System V gABI). */
const OTHER_MACHINE = OTHER_ARCH === 'arm64' ? 183 : 62;
/** The first 64 bytes of a 64-bit little-endian ELF executable for `machine`. */
function elfHeader(machine: number): Buffer {
  const h = Buffer.alloc(64);
  h.write('\x7fELF', 0, 'latin1');
  h[4] = 2; // ELFCLASS64
  h[5] = 1; // ELFDATA2LSB
  h[6] = 1; // EV_CURRENT
  h.writeUInt16LE(2, 16); // ET_EXEC
  h.writeUInt16LE(machine, 18);
  return h;
}

function releaseEntries(version: string, behaviour: 'good' | 'crash' | 'hang', withPadding = false, extra: Record<string, unknown> = {}): TarEntry[] {
  return [
    { type: 'file', name: 'release.json', data: JSON.stringify({ version, node: process.version, created: new Date().toISOString(), ...extra }) },
    { type: 'file', name: 'package.json', data: JSON.stringify({ name: 'edgewise', version, type: 'module' }) },
    { type: 'dir', name: 'dist/cli/' },
    { type: 'file', name: 'dist/cli/main.js', data: bundle },
    { type: 'file', name: 'behaviour', data: behaviour },
    ...(withPadding ? [{ type: 'file' as const, name: 'padding.bin', data: padding }] : []),
  ];
}

function installRelease(root: string, version: string): void {
  const dir = path.join(root, 'releases', version);
  for (const e of releaseEntries(version, 'good')) {
    if (e.type === 'dir') mkdirSync(path.join(dir, e.name), { recursive: true });
    else if (e.type === 'file') {
      mkdirSync(path.dirname(path.join(dir, e.name)), { recursive: true });
      writeFileSync(path.join(dir, e.name), e.data);
    }
  }
}

interface Supervised {
  thing: string;
  root: string;
  stateDir: string;
  events(): Record<string, any>[];
  exits(): Record<string, any>[];
  stop(): Promise<void>;
}

const running = new Set<Supervised>();

async function startSupervised(thing: string, opts: { killAt?: string[]; healthDeadlineMs?: number; maxBootAttempts?: number; older?: string[] } = {}): Promise<Supervised> {
  const base = path.join(env.dir, thing);
  const root = path.join(base, 'opt');
  const stateDir = path.join(base, 'state');
  const keysDir = path.join(base, 'keys');
  mkdirSync(stateDir, { recursive: true });
  mkdirSync(keysDir, { recursive: true });
  writeFileSync(path.join(keysDir, 'release-2026.pem'), trusted.publicKey.export({ type: 'spki', format: 'pem' }));
  for (const v of [...(opts.older ?? []), '1.0.0']) installRelease(root, v);
  symlinkSync('releases/1.0.0', path.join(root, 'current'));
  const { cert, key } = env.broker.certFor(thing);
  const eventsFile = path.join(base, 'events.jsonl');
  writeFileSync(eventsFile, '');
  const config = path.join(base, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      thing,
      host: 'localhost',
      port: env.broker.port,
      caFile: env.broker.caFile,
      certFile: cert,
      keyFile: key,
      root,
      keysDir,
      stateDir,
      artifactCaFile: http.caFile,
      eventsFile,
      healthDeadlineMs: opts.healthDeadlineMs ?? 8000,
      maxBootAttempts: opts.maxBootAttempts ?? 3,
      killAt: opts.killAt,
    }),
  );
  const child: ChildProcess = spawn(process.execPath, [path.join(SUPPORT, 'supervisor.mjs'), '--root', root, '--config', config, '--events', eventsFile, '--max-restarts', '30'], {
    stdio: 'ignore',
  });
  const events = (): Record<string, any>[] =>
    readFileSync(eventsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>);
  const s: Supervised = {
    thing,
    root,
    stateDir,
    events,
    exits: () => events().filter((e) => e.supervisor === 'exit'),
    stop: async () => {
      running.delete(s);
      writeFileSync(path.join(root, 'supervisor.stop'), '');
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
    },
  };
  running.add(s);
  // the app is up once its control plane reported into the shadow
  await env.cloud.waitForShadow(thing, (sh) => sh.state.reported?.agent !== undefined, { timeoutMs: 30_000 });
  return s;
}

function otaDoc(version: string, artifact: Buffer, o: { url?: string; signer?: KeyObject; sha256?: string; allowDowngrade?: boolean } = {}): Record<string, unknown> {
  const url = o.url ?? http.put(`/releases/${version}-${createHash('sha256').update(artifact).digest('hex').slice(0, 8)}.tar.gz`, artifact);
  return {
    operation: 'ota',
    version,
    url,
    size: artifact.length,
    sha256: o.sha256 ?? createHash('sha256').update(artifact).digest('hex'),
    signature: sign('sha256', artifact, o.signer ?? trusted.privateKey).toString('base64'),
    ...(o.allowDowngrade !== undefined ? { allowDowngrade: o.allowDowngrade } : {}),
  };
}

const current = (root: string): string => readlinkSync(path.join(root, 'current'));
const otaState = (root: string): Record<string, any> | undefined =>
  existsSync(path.join(root, 'ota/state.json')) ? (JSON.parse(readFileSync(path.join(root, 'ota/state.json'), 'utf8')) as Record<string, any>) : undefined;
const terminal = (s: string): boolean => ['SUCCEEDED', 'FAILED', 'REJECTED', 'CANCELED'].includes(s);

describe('OTA self-update with rollback (supervised processes)', () => {
  beforeAll(async () => {
    env = await startEnv();
    http = await startArtifactServer(path.join(env.dir, 'http-pki'));
    bundle = await buildApp(path.join(env.dir, 'bundle'));
    trusted = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    rogue = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  });
  afterAll(async () => {
    for (const s of [...running]) await s.stop();
    await http?.close();
    await env?.close();
  });

  it('updates, restarts into the new version, proves health, reports SUCCEEDED and keeps two releases', async () => {
    const dev = await startSupervised('ota-good', { older: ['0.9.0'] });
    try {
      const artifact = tarGz(releaseEntries('1.1.0', 'good'));
      env.cloud.createJob(dev.thing, 'ota-good-1', otaDoc('1.1.0', artifact));
      const job = await env.cloud.waitForJob(dev.thing, 'ota-good-1', (j) => terminal(j.status), 60_000);
      expect(job.status).toBe('SUCCEEDED');
      expect(job.statusDetails.reason).toMatch(/running 1\.1\.0 \(previous 1\.0\.0\)/);
      expect(current(dev.root)).toBe('releases/1.1.0');
      // restarted once with the documented code, then 1.1.0 ran
      expect(dev.exits().map((e) => e.code)).toEqual([75]);
      expect(dev.events().some((e) => e.event === 'start' && e.version === '1.1.0')).toBe(true);
      // phases were reported while working
      const phases = job.history.map((h) => h.statusDetails.phase).filter(Boolean);
      expect(phases).toEqual(expect.arrayContaining(['downloading', 'verifying', 'staging', 'restarting', 'confirming']));
      expect(job.history.find((h) => h.statusDetails.phase === 'restarting')!.stepTimeoutInMinutes).toBeGreaterThan(0);
      // last two releases kept, older ones and downloads removed
      await until(() => readdirSync(path.join(dev.root, 'releases')).length === 2, 10_000, 'prune');
      expect(readdirSync(path.join(dev.root, 'releases')).sort()).toEqual(['1.0.0', '1.1.0']);
      expect(existsSync(path.join(dev.root, 'ota/downloads'))).toBe(false);
      expect(otaState(dev.root)).toMatchObject({ phase: 'committed', from: '1.0.0', to: '1.1.0' });
      // the shadow of the new version reports the result
      await env.cloud.waitForShadow(dev.thing, (s) => (s.state.reported as any)?.agent?.version === '1.1.0' && (s.state.reported as any)?.lastOta?.result === 'SUCCEEDED');
    } finally {
      await dev.stop();
    }
  });

  it('refuses bad artifacts and documents with a reason and never touches the running version', async () => {
    const dev = await startSupervised('ota-refuse');
    try {
      const good = tarGz(releaseEntries('1.1.0', 'good'));
      const cases: [string, Record<string, unknown>, string, RegExp][] = [
        ['wrong-hash', otaDoc('1.1.0', good, { sha256: 'ab'.repeat(32) }), 'REJECTED', /sha256 mismatch/],
        ['bad-signature', otaDoc('1.1.0', good, { signer: rogue.privateKey }), 'REJECTED', /signature does not verify/],
        ['dotdot', otaDoc('1.1.0', tarGz([...releaseEntries('1.1.0', 'good'), { type: 'file', name: '../../escape.txt', data: 'x' }])), 'REJECTED', /path with \.\./],
        ['absolute', otaDoc('1.1.0', tarGz([{ type: 'file', name: '/tmp/edgewise-ota-escape.txt', data: 'x' }, ...releaseEntries('1.1.0', 'good')])), 'REJECTED', /absolute path/],
        ['wrong-manifest', otaDoc('1.2.0', good), 'REJECTED', /release\.json says version 1\.1\.0, the job says 1\.2\.0/],
        ['expired-url', otaDoc('1.1.0', good, { url: `${http.url}/expired/r.tgz?X-Amz-Signature=secret` }), 'FAILED', /HTTP 403 \(AccessDenied: Request has expired\).*presigned URL has expired/],
        ['downgrade', otaDoc('0.9.0', good), 'REJECTED', /downgrade from 1\.0\.0 to 0\.9\.0 refused/],
        ['malformed', { operation: 'ota', version: '1.1.0', url: 'https://x/y', size: -1 }, 'REJECTED', /invalid job document: size/],
        // Releases for another machine (release.json from scripts/release/build.mjs; ELF e_machine per the System V gABI).
        ['wrong-arch', otaDoc('1.1.0', tarGz(releaseEntries('1.1.0', 'good', false, { arch: OTHER_ARCH }))), 'REJECTED', new RegExp(`the release is for linux-${OTHER_ARCH}, this vehicle is linux-${process.arch}`)],
        [
          'wrong-runtime',
          otaDoc('1.1.0', tarGz([...releaseEntries('1.1.0', 'good', false, { arch: process.arch, runtime: { bundled: true, node: '20.20.2' } }), { type: 'dir', name: 'runtime/bin/' }, { type: 'file', name: 'runtime/bin/node', data: elfHeader(OTHER_MACHINE) }])),
          'REJECTED',
          new RegExp(`runtime/bin/node is not a ${process.arch} executable \\(ELF machine ${OTHER_MACHINE}\\)`),
        ],
        ['no-runtime', otaDoc('1.1.0', tarGz(releaseEntries('1.1.0', 'good', false, { node: '>=99' }))), 'REJECTED', /needs Node\.js >=99 and brings none|brings no Node\.js runtime/],
      ];
      for (const [id, doc, status, reason] of cases) {
        env.cloud.createJob(dev.thing, id, doc);
        const job = await env.cloud.waitForJob(dev.thing, id, (j) => terminal(j.status), 30_000);
        expect([id, job.status]).toEqual([id, status]);
        expect(job.statusDetails.reason).toMatch(reason);
        expect(job.statusDetails.reason).not.toMatch(/secret/);
        expect(current(dev.root)).toBe('releases/1.0.0');
        expect(readdirSync(path.join(dev.root, 'releases'))).toEqual(['1.0.0']); // no staging leftovers
      }
      expect(existsSync(path.join(dev.root, '../escape.txt'))).toBe(false);
      expect(existsSync('/tmp/edgewise-ota-escape.txt')).toBe(false);
      expect(readdirSync(path.join(dev.root, 'ota/downloads'))).toEqual([]);
      expect(dev.exits()).toEqual([]); // never restarted
    } finally {
      await dev.stop();
    }
  });

  it('rolls back a version that crashes on start after N boots and reports FAILED', async () => {
    const dev = await startSupervised('ota-crash', { maxBootAttempts: 2 });
    try {
      env.cloud.createJob(dev.thing, 'ota-crash-1', otaDoc('1.1.0', tarGz(releaseEntries('1.1.0', 'crash'))));
      const job = await env.cloud.waitForJob(dev.thing, 'ota-crash-1', (j) => terminal(j.status), 60_000);
      expect(job.status).toBe('FAILED');
      expect(job.statusDetails.reason).toMatch(/failed to become healthy in 2 boot\(s\) \(crash loop\); rolled back to 1\.0\.0/);
      expect(current(dev.root)).toBe('releases/1.0.0');
      const starts = dev.events().filter((e) => e.event === 'start' && e.version === '1.1.0');
      expect(starts).toHaveLength(3); // two counted boots, the third rolls back
      expect(otaState(dev.root)).toMatchObject({ phase: 'rolled-back' });
      await env.cloud.waitForShadow(dev.thing, (s) => (s.state.reported as any)?.lastOta?.result === 'ROLLED_BACK');
    } finally {
      await dev.stop();
    }
  });

  it('rolls back a version that runs but never becomes healthy (hang)', async () => {
    const dev = await startSupervised('ota-hang', { healthDeadlineMs: 2000 });
    try {
      env.cloud.createJob(dev.thing, 'ota-hang-1', otaDoc('1.1.0', tarGz(releaseEntries('1.1.0', 'hang'))));
      const job = await env.cloud.waitForJob(dev.thing, 'ota-hang-1', (j) => terminal(j.status), 60_000);
      expect(job.status).toBe('FAILED');
      expect(job.statusDetails.reason).toMatch(/did not become healthy within 2 s \(not dataFlowing\); rolled back to 1\.0\.0/);
      expect(current(dev.root)).toBe('releases/1.0.0');
      expect(dev.exits().map((e) => e.code)).toEqual([75, 75]); // switch, rollback
    } finally {
      await dev.stop();
    }
  });

  it('survives kill -9 at every phase and resumes to a consistent committed state', async () => {
    const points = ['download-mid', 'verifying', 'staging', 'switching', 'confirming', 'trial', 'committed'];
    const dev = await startSupervised('ota-kill', { killAt: points });
    http.throttle = { chunk: 64 * 1024, delayMs: 5 };
    try {
      const artifact = tarGz(releaseEntries('1.1.0', 'good', true));
      env.cloud.createJob(dev.thing, 'ota-kill-1', otaDoc('1.1.0', artifact));
      const job = await env.cloud.waitForJob(dev.thing, 'ota-kill-1', (j) => terminal(j.status), 120_000);
      expect(job.status).toBe('SUCCEEDED');
      const kills = dev.events().filter((e) => e.event === 'kill').map((e) => e.point);
      expect(kills).toEqual(points);
      expect(dev.exits().filter((e) => e.signal === 'SIGKILL')).toHaveLength(points.length);
      // the download resumed where it stopped
      expect(http.requests.some((r) => r.path.startsWith('/releases/1.1.0') && /^bytes=[1-9]\d*-$/.test(r.range ?? ''))).toBe(true);
      expect(current(dev.root)).toBe('releases/1.1.0');
      expect(otaState(dev.root)).toMatchObject({ phase: 'committed' });
      expect(readdirSync(path.join(dev.root, 'releases')).sort()).toEqual(['1.0.0', '1.1.0']);
      expect(readFileSync(path.join(dev.root, 'releases/1.1.0/padding.bin')).equals(padding)).toBe(true);
      expect(existsSync(path.join(dev.root, 'ota/downloads'))).toBe(false);
    } finally {
      http.throttle = undefined;
      await dev.stop();
    }
  });

  it('cancels a running download: partial files removed, version untouched', async () => {
    const dev = await startSupervised('ota-cancel');
    http.throttle = { chunk: 16 * 1024, delayMs: 40 };
    try {
      const artifact = tarGz(releaseEntries('1.1.0', 'good', true));
      env.cloud.createJob(dev.thing, 'ota-cancel-1', otaDoc('1.1.0', artifact));
      const downloads = path.join(dev.root, 'ota/downloads');
      await until(() => existsSync(downloads) && readdirSync(downloads).length === 1, 30_000, 'download started');
      env.cloud.cancelJob(dev.thing, 'ota-cancel-1');
      await until(() => !existsSync(path.join(dev.root, 'ota/state.json')), 30_000, 'state cleaned');
      expect(readdirSync(downloads)).toEqual([]);
      expect(env.cloud.job(dev.thing, 'ota-cancel-1')!.status).toBe('CANCELED');
      expect(current(dev.root)).toBe('releases/1.0.0');
      expect(readdirSync(path.join(dev.root, 'releases'))).toEqual(['1.0.0']);
      expect(dev.exits()).toEqual([]);
    } finally {
      http.throttle = undefined;
      await dev.stop();
    }
  });
});
