/**
 * The arm64 release on arm64 code: cross-built on this (x86_64) machine by scripts/release/build.mjs,
 * installed into a Debian arm64 root (scripts/rigs/debian-root.sh) the way a Pi owner would (the
 * .deb with dpkg, and install.sh --from the tarball), then run there through qemu-user: --version,
 * `decode --stats` compared with this machine's x64 output, the SocketCAN helper loading, and the
 * agent decoding, storing and uploading to a broker on this machine. Emulated timings mean nothing
 * here; only behaviour is checked.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { startFakeCloud, type FakeCloud } from '../helpers/fake-cloud.js';
import { startArtifactServer, type ArtifactServer } from '../control/support/https-server.js';
import { SHARED_SKIP, arm64Rig, type Rig } from './rig.js';

const ROOT = path.resolve(__dirname, '../..');
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
const SHARED_LOG = path.resolve(ROOT, '../shared/logs/toyota_nodsu_pt_generated.1M.log.gz');
const SHARED_DBC = path.resolve(ROOT, '../shared/dbc/toyota_nodsu_pt_generated.dbc');

/** ELF e_machine (System V gABI): EM_AARCH64 = 183. */
function elfMachine(file: string): number {
  const fd = openSync(file, 'r');
  try {
    const h = Buffer.alloc(20);
    readSync(fd, h, 0, 20, 0);
    expect(h.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    return h.readUInt16LE(18);
  } finally {
    closeSync(fd);
  }
}

const rig: Rig = arm64Rig();

describe.skipIf(rig.skip)(`arm64 release in an emulated Debian arm64 root${rig.skip ? ` (skipped: ${rig.skip})` : ''}`, () => {
  let tmp: string;
  let built: { artifact: string; kind: string; arch: string }[] = [];
  let deb: string;
  let tarball: string;
  let root: string;
  let broker: TestBroker | undefined;
  let cloud: FakeCloud | undefined;
  let http: ArtifactServer | undefined;
  const inRoot = (args: string[], opts: { timeout?: number; input?: string } = {}): SpawnSyncReturns<string> =>
    spawnSync('chroot', [root, ...args], { encoding: 'utf8', timeout: opts.timeout ?? 120_000, env: rig.env, input: opts.input });

  beforeAll(() => {
    tmp = path.join(rig.work, `arm64-${process.pid}`);
    mkdirSync(tmp, { recursive: true });
    const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts/release/build.mjs'), '--arch', 'arm64', '--deb', '--no-build', '--out', path.join(tmp, 'out')], {
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (b.status !== 0) throw new Error(`release build failed:\n${b.stderr.slice(-3000)}`);
    built = b.stdout.trim().split('\n').map((l) => JSON.parse(l) as { artifact: string; kind: string; arch: string });
    deb = built.find((r) => r.kind === 'deb')!.artifact;
    tarball = built.find((r) => r.kind === 'tarball')!.artifact;
    root = rig.root(path.join(tmp, 'root'));
    copyFileSync(deb, path.join(root, 'tmp', path.basename(deb)));
  }, 900_000);
  afterAll(async () => {
    await cloud?.close();
    await http?.close();
    await broker?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('builds a tarball and a .deb for arm64 from this x86_64 machine', () => {
    expect(built.map((r) => [r.kind, r.arch, path.basename(r.artifact)])).toEqual([
      ['tarball', 'arm64', `edgewise-${PKG.version}-linux-arm64.tar.gz`],
      ['deb', 'arm64', `edgewise_${PKG.version}_arm64.deb`],
    ]);
    const info = spawnSync('dpkg-deb', ['--field', deb, 'Package', 'Version', 'Architecture', 'Depends'], { encoding: 'utf8' });
    expect(info.stdout).toContain('Architecture: arm64');
    expect(info.stdout).toContain(`Version: ${PKG.version}`);
  });

  it('installs with dpkg -i on a minimal image: user, layout, config, runtime', () => {
    const r = inRoot(['dpkg', '-i', `/tmp/${path.basename(deb)}`]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`current -> releases/${PKG.version}`);
    expect(r.stdout).toContain('skipped (systemd is not PID 1)'); // a chroot, and no `ps` was needed to tell
    expect(inRoot(['id', '-u', 'edgewise']).status).toBe(0);
    const rel = JSON.parse(readFileSync(path.join(root, 'opt/edgewise/current/release.json'), 'utf8')) as Record<string, unknown>;
    expect(rel).toMatchObject({ version: PKG.version, arch: 'arm64', platform: 'linux', runtime: { bundled: true } });
    for (const f of ['opt/edgewise/current/runtime/bin/node', 'opt/edgewise/current/native/build/Release/edgewise_can.node'])
      expect([f, elfMachine(path.join(root, f))]).toEqual([f, 183]);
    // aws-crt's and classic-level's prebuilt binaries: only arm64 ones are shipped.
    const find = spawnSync('find', [path.join(root, 'opt/edgewise/current/node_modules'), '-name', '*.node', '-type', 'f'], { encoding: 'utf8' });
    const addons = find.stdout.trim().split('\n').filter(Boolean);
    expect(addons.length).toBeGreaterThanOrEqual(2);
    for (const a of addons) expect([path.relative(root, a), elfMachine(a)]).toEqual([path.relative(root, a), 183]);
    expect(existsSync(path.join(root, 'etc/edgewise/config.yaml'))).toBe(true);
    expect(existsSync(path.join(root, 'lib/systemd/system/edgewise.service'))).toBe(true);
  });

  it('runs arm64 code: --version, the SocketCAN helper loads', () => {
    const v = inRoot(['/usr/bin/edgewise', '--version']);
    expect(v.stderr).toBe('');
    expect(v.stdout.trim()).toBe(PKG.version);
    const arch = inRoot(['/opt/edgewise/current/runtime/bin/node', '-p', 'process.arch + " " + process.versions.node']);
    expect(arch.stdout.trim()).toMatch(/^arm64 20\.\d+\.\d+$/);
    const helper = inRoot([
      '/opt/edgewise/current/runtime/bin/node',
      '-e',
      'const m = require("/opt/edgewise/current/native/build/Release/edgewise_can.node"); console.log(typeof m.RECORD_SIZE, m.RECORD_SIZE > 0)',
    ]);
    expect(helper.stderr).toBe('');
    expect(helper.stdout.trim()).toBe('number true');
  });

  it.skipIf(!existsSync(SHARED_LOG))(`decode --stats gives the same JSON on arm64 as on x64${existsSync(SHARED_LOG) ? '' : ` (skipped: ${SHARED_SKIP})`}`, () => {
    mkdirSync(path.join(root, 'data'), { recursive: true });
    copyFileSync(SHARED_LOG, path.join(root, 'data/drive.log.gz'));
    copyFileSync(SHARED_DBC, path.join(root, 'data/car.dbc'));
    const arm = inRoot(['/usr/bin/edgewise', 'decode', '--stats', '--format', 'json', '--dbc', '/data/car.dbc', '/data/drive.log.gz'], { timeout: 300_000 });
    expect(arm.stderr).toBe('');
    expect(arm.status).toBe(0);
    const x64 = spawnSync(process.execPath, [path.join(ROOT, 'dist/cli/main.js'), 'decode', '--stats', '--format', 'json', '--dbc', SHARED_DBC, SHARED_LOG], { encoding: 'utf8' });
    expect(x64.status).toBe(0);
    expect(JSON.parse(arm.stdout).frames).toBe(1_000_000);
    expect(arm.stdout).toBe(x64.stdout);
  }, 400_000);

  it('the agent decodes, stores and uploads to a broker on the host, then stops cleanly', async () => {
    broker = await startBroker();
    const thing = 'arm64-vehicle';
    const pair = broker.certFor(thing);
    const d = path.join(root, 'data/agent');
    mkdirSync(path.join(d, 'campaigns'), { recursive: true });
    for (const [from, to] of [
      [broker.caFile, 'ca.pem'],
      [pair.cert, 'cert.pem'],
      [pair.key, 'key.pem'],
    ])
      copyFileSync(from, path.join(d, to));
    copyFileSync(path.join(ROOT, 'campaigns/heartbeat.json'), path.join(d, 'campaigns/heartbeat.json'));
    writeFileSync(
      path.join(d, 'config.yaml'),
      stringify({
        vehicle: { name: thing },
        manifest: '/opt/edgewise/current/examples/manifest.yaml',
        campaigns: { dir: '/data/agent/campaigns' },
        sources: [{ type: 'log', path: '/opt/edgewise/current/examples/drive.log.gz', speed: 'max', loop: false }],
        store: { dir: '/data/agent/store' },
        upload: { endpoint: 'localhost', port: broker.port, caFile: '/data/agent/ca.pem', certFile: '/data/agent/cert.pem', keyFile: '/data/agent/key.pem' },
        log: { level: 'info' },
        statusSocket: '/data/agent/edgewise.sock',
      }),
    );
    const obs = await broker.subscribe(`edgewise/${thing}/batches/#`);
    const child = spawn('chroot', [root, '/usr/bin/edgewise', 'run', '--config', '/data/agent/config.yaml', '--exit-when-done', '--drain-timeout', '120'], { env: rig.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect([code, out.slice(-2000)]).toEqual([0, expect.any(String)]);
    expect(out).not.toMatch(/"level":(50|60)/); // no error or fatal lines
    const got = await obs.waitFor(1, { timeoutMs: 5_000 });
    expect(got.length).toBeGreaterThanOrEqual(1);
    expect(got[0].payload.length).toBeGreaterThan(0);
    // The store it used is LevelDB written by arm64 code.
    expect(existsSync(path.join(d, 'store'))).toBe(true);
  }, 400_000);

  it('updates itself over the air on arm64 (SUCCEEDED), and a release that cannot start is rolled back (FAILED)', async () => {
    broker ??= await startBroker();
    cloud = await startFakeCloud(broker);
    http = await startArtifactServer(path.join(tmp, 'http-pki'));
    const thing = 'arm64-ota';
    const bump = (v: string): string => v.replace(/(\d+)$/, (n) => String(Number(n) + 1));
    const next = bump(PKG.version);
    const broken = bump(next);
    /** The arm64 artifact with another version (and optionally damaged), as the fleet's CI would publish it. */
    const repack = (version: string, damage?: (dir: string) => void): Buffer => {
      const x = path.join(tmp, `rel-${version}`);
      mkdirSync(x, { recursive: true });
      expect(spawnSync('tar', ['-xzf', tarball, '-C', x]).status).toBe(0);
      for (const f of ['release.json', 'package.json']) {
        const j = JSON.parse(readFileSync(path.join(x, f), 'utf8')) as { version: string };
        j.version = version;
        writeFileSync(path.join(x, f), JSON.stringify(j, null, 2) + '\n');
      }
      damage?.(x);
      const out = path.join(tmp, `edgewise-${version}-linux-arm64.tar.gz`);
      expect(spawnSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', out, '-C', x, '.']).status).toBe(0);
      rmSync(x, { recursive: true, force: true });
      return readFileSync(out);
    };
    const artifact = repack(next);
    const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const d = path.join(root, 'data/ota');
    mkdirSync(path.join(d, 'keys'), { recursive: true });
    mkdirSync(path.join(d, 'campaigns'), { recursive: true });
    writeFileSync(path.join(d, 'keys/release-2026.pem'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
    const pair = broker.certFor(thing);
    for (const [from, to] of [
      [broker.caFile, 'ca.pem'],
      [pair.cert, 'cert.pem'],
      [pair.key, 'key.pem'],
      [http.caFile, 'artifact-ca.pem'],
    ])
      copyFileSync(from, path.join(d, to));
    copyFileSync(path.join(ROOT, 'campaigns/heartbeat.json'), path.join(d, 'campaigns/heartbeat.json'));
    writeFileSync(
      path.join(d, 'config.yaml'),
      stringify({
        vehicle: { name: thing },
        manifest: '/opt/edgewise/current/examples/manifest.yaml',
        campaigns: { dir: '/data/ota/campaigns' },
        sources: [{ type: 'log', path: '/opt/edgewise/current/examples/drive.log.gz', speed: 1, loop: true }],
        store: { dir: '/data/ota/store' },
        upload: { endpoint: 'localhost', port: broker.port, caFile: '/data/ota/ca.pem', certFile: '/data/ota/cert.pem', keyFile: '/data/ota/key.pem' },
        control: { stateDir: '/data/ota/control', ota: { enabled: true, root: '/opt/edgewise', trustedKeysDir: '/data/ota/keys', healthDeadlineSeconds: 120 } },
        log: { level: 'info' },
        statusSocket: '/data/ota/edgewise.sock',
      }),
    );
    // Play systemd: Restart=always, and after StartLimitBurst=5 failed starts the OnFailure= unit
    // (the shipped rollback helper, run inside the root) — as systemd/edgewise.service says.
    let stopping = false;
    let failures = 0;
    let rollbacks = 0;
    let current: ReturnType<typeof spawn> | undefined;
    const versions: string[] = [];
    const supervise = async (): Promise<void> => {
      while (!stopping) {
        const child = spawn('chroot', [root, '/usr/bin/edgewise', 'run', '--config', '/data/ota/config.yaml'], {
          env: { ...rig.env, NODE_EXTRA_CA_CERTS: '/data/ota/artifact-ca.pem' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        current = child;
        child.stdout!.on('data', (c: Buffer) => {
          for (const m of c.toString().matchAll(/"version":"([^"]+)"/g)) if (!versions.includes(m[1])) versions.push(m[1]);
        });
        child.stderr!.resume();
        const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
        failures = code === 0 || code === 75 || stopping ? 0 : failures + 1;
        if (failures >= 5) {
          failures = 0;
          rollbacks++;
          spawnSync('chroot', [root, '/usr/lib/edgewise/edgewise-rollback', '/opt/edgewise'], { env: { ...rig.env, EDGEWISE_RETRY_SEC: '0' } });
        }
        if (!stopping) await new Promise((r) => setTimeout(r, 1000));
      }
    };
    const loop = supervise();
    try {
      await cloud.waitForShadow(thing, (sh) => sh.state.reported?.agent !== undefined, { timeoutMs: 120_000 });
      const url = http.put(`/releases/${next}.tar.gz`, artifact);
      cloud.createJob(thing, 'ota-arm64', {
        operation: 'ota',
        version: next,
        url,
        size: artifact.length,
        sha256: createHash('sha256').update(artifact).digest('hex'),
        signature: sign('sha256', artifact, keys.privateKey).toString('base64'),
      });
      const job = await cloud.waitForJob(thing, 'ota-arm64', (j) => ['SUCCEEDED', 'FAILED', 'REJECTED'].includes(j.status), 500_000);
      expect([job.status, JSON.stringify(job.statusDetails)]).toEqual(['SUCCEEDED', expect.any(String)]);
      expect(spawnSync('readlink', [path.join(root, 'opt/edgewise/current')], { encoding: 'utf8' }).stdout.trim()).toBe(`releases/${next}`);
      expect(elfMachine(path.join(root, `opt/edgewise/releases/${next}/runtime/bin/node`))).toBe(183);
      expect(inRoot(['/usr/bin/edgewise', '--version']).stdout.trim()).toBe(next);

      // N+2 cannot even load (its MQTT/TLS addon is damaged): the agent crashes before it can count
      // boots, so the unit's start limit and OnFailure= backstop roll it back; the agent, back on
      // N+1, finds `current` moved and reports the job FAILED.
      const bad = repack(broken, (dir) => {
        const addon = spawnSync('find', [path.join(dir, 'node_modules/aws-crt'), '-name', '*.node'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
        writeFileSync(addon, 'not an ELF file');
      });
      cloud.createJob(thing, 'ota-arm64-broken', {
        operation: 'ota',
        version: broken,
        url: http.put(`/releases/${broken}.tar.gz`, bad),
        size: bad.length,
        sha256: createHash('sha256').update(bad).digest('hex'),
        signature: sign('sha256', bad, keys.privateKey).toString('base64'),
      });
      const failed = await cloud.waitForJob(thing, 'ota-arm64-broken', (j) => ['SUCCEEDED', 'FAILED', 'REJECTED'].includes(j.status), 500_000);
      expect([failed.status, failed.statusDetails.reason]).toEqual(['FAILED', expect.stringMatching(new RegExp(`${broken.replace(/\./g, '\\.')} was rolled back`))]);
      expect(rollbacks).toBe(1);
      expect(spawnSync('readlink', [path.join(root, 'opt/edgewise/current')], { encoding: 'utf8' }).stdout.trim()).toBe(`releases/${next}`);
      expect(inRoot(['/usr/bin/edgewise', '--version']).stdout.trim()).toBe(next);
    } finally {
      stopping = true;
      current?.kill('SIGTERM');
      await loop;
    }
  }, 600_000);

  it('installs from the tarball with install.sh --from into a second minimal root', () => {
    const root2 = rig.root(path.join(tmp, 'root2'));
    const copy = path.join(root2, 'tmp', path.basename(tarball));
    copyFileSync(tarball, copy);
    // install.sh is inside the release: unpack it, then run it against the tarball, as docs/hardware.md says.
    mkdirSync(path.join(root2, 'tmp/x'));
    expect(spawnSync('tar', ['-xzf', copy, '-C', path.join(root2, 'tmp/x'), './scripts/install.sh']).status).toBe(0);
    const r = spawnSync('chroot', [root2, 'bash', '/tmp/x/scripts/install.sh', '--from', `/tmp/${path.basename(tarball)}`], { encoding: 'utf8', env: rig.env, timeout: 300_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const v = spawnSync('chroot', [root2, '/usr/local/bin/edgewise', '--version'], { encoding: 'utf8', env: rig.env });
    expect(v.stdout.trim()).toBe(PKG.version);
    // The x64 tarball is refused on this arm64 system with a reason, before anything is changed.
    writeFileSync(path.join(root2, 'tmp/x/release.json'), JSON.stringify({ version: '9.9.9', arch: 'x64' }, null, 2));
    mkdirSync(path.join(root2, 'tmp/x/dist/cli'), { recursive: true });
    writeFileSync(path.join(root2, 'tmp/x/dist/cli/main.js'), '');
    writeFileSync(path.join(root2, 'tmp/x/package.json'), '{"version":"9.9.9"}');
    const wrong = spawnSync('chroot', [root2, 'bash', '/tmp/x/scripts/install.sh', '--from', '/tmp/x'], { encoding: 'utf8', env: rig.env });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('is the linux-x64 release; this machine is linux-arm64');
    expect(readFileSync(path.join(root2, 'opt/edgewise/current/release.json'), 'utf8')).toContain(`"version": "${PKG.version}"`);
    // 32-bit ARM (a Pi on a 32-bit OS): refused before anything is changed, saying what to do.
    writeFileSync(path.join(root2, 'tmp/x/uname'), '#!/bin/sh\n[ "$1" = -m ] && echo armv7l || exec /bin/uname "$@"\n', { mode: 0o755 });
    const arm32 = spawnSync('chroot', [root2, 'bash', '/tmp/x/scripts/install.sh', '--from', `/tmp/${path.basename(tarball)}`], {
      encoding: 'utf8',
      env: { ...rig.env, PATH: `/tmp/x:${rig.env.PATH}` },
    });
    expect(arm32.status).toBe(1);
    expect(arm32.stderr).toContain('32-bit ARM (armv7l) is not supported: aws-crt');
    expect(arm32.stderr).toContain('64-bit Raspberry Pi OS');
    rmSync(root2, { recursive: true, force: true });
  }, 400_000);
});

void os;
