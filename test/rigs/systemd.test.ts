/**
 * The shipped unit under a real systemd: a Debian root (scripts/rigs/debian-root.sh) booted with
 * systemd as PID 1 by systemd-nspawn, the x64 .deb installed with dpkg, `systemctl start edgewise`
 * with the unit unchanged (full hardening: Type=notify, seccomp, read-only system, dedicated user).
 * Checked: READY, `edgewise status` over the runtime socket, batches reaching a broker on the host
 * (the container shares the host's network), JSON logs in the journal, the watchdog killing a
 * stopped (SIGSTOP) agent and systemd restarting it, the OnFailure= backstop rolling back a release
 * that cannot start, and a clean `systemctl stop` within TimeoutStopSec.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { startBroker, type Collector, type TestBroker } from '../helpers/broker.js';
import { amd64Rig, type Rig } from './rig.js';

const ROOT = path.resolve(__dirname, '../..');
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
const HAVE_NSPAWN = spawnSync('systemd-nspawn', ['--version'], { stdio: 'ignore' }).status === 0;
const rig: Rig | undefined = HAVE_NSPAWN && process.arch === 'x64' ? amd64Rig() : undefined;
const skip = !HAVE_NSPAWN ? 'systemd-nspawn is not installed (Debian systemd-container)' : process.arch !== 'x64' ? 'the systemd guest test builds the x64 release' : rig?.skip;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)(`edgewise.service under systemd as PID 1 (nspawn)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let tmp: string;
  let root: string;
  let guest: ChildProcess | undefined;
  let guestOut = '';
  let leader = 0;
  let broker: TestBroker;
  let batches: Collector;
  let deb = '';
  const thing = 'nspawn-vehicle';

  /** Run a command inside the booted guest (its mount, pid, ipc and uts namespaces). */
  const inGuest = (args: string[], timeout = 60_000) =>
    spawnSync('nsenter', ['--target', String(leader), '--mount', '--uts', '--ipc', '--pid', '--', ...args], { encoding: 'utf8', timeout, env: rig!.env });
  const unitProp = (p: string): string => inGuest(['systemctl', 'show', '-p', p, '--value', 'edgewise.service']).stdout.trim();
  async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs: number): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > end) {
        const status = inGuest(['systemctl', 'status', '--no-pager', '-l', 'edgewise.service']).stdout;
        const journal = inGuest(['journalctl', '--no-pager', '-n', '40', '-u', 'edgewise.service', '-u', 'edgewise-rollback.service']).stdout;
        throw new Error(`timed out waiting for ${what}\n${status}\n${journal}\n${guestOut.slice(-2000)}`);
      }
      await sleep(500);
    }
  }

  beforeAll(async () => {
    tmp = path.join(rig!.work, `systemd-${process.pid}`);
    mkdirSync(tmp, { recursive: true });
    const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts/release/build.mjs'), '--arch', 'x64', '--deb', '--no-build', '--out', path.join(tmp, 'out')], { encoding: 'utf8', timeout: 600_000 });
    if (b.status !== 0) throw new Error(`release build failed:\n${b.stderr.slice(-3000)}`);
    deb = b.stdout.trim().split('\n').map((l) => JSON.parse(l) as { artifact: string; kind: string }).find((r) => r.kind === 'deb')!.artifact;
    root = rig!.root(path.join(tmp, 'root'));

    // The operator's config and credentials, in place before the package is installed (kept by it).
    broker = await startBroker();
    batches = await broker.subscribe(`edgewise/${thing}/batches/#`);
    const pair = broker.certFor(thing);
    const etc = path.join(root, 'etc/edgewise');
    mkdirSync(path.join(etc, 'certs'), { recursive: true });
    copyFileSync(broker.caFile, path.join(etc, 'certs/ca.pem'));
    copyFileSync(pair.cert, path.join(etc, 'certs/device.pem.crt'));
    copyFileSync(pair.key, path.join(etc, 'certs/private.pem.key'));
    writeFileSync(
      path.join(etc, 'config.yaml'),
      stringify({
        vehicle: { name: thing },
        manifest: '/opt/edgewise/current/examples/manifest.yaml',
        campaigns: { dir: '/var/lib/edgewise/campaigns' },
        sources: [{ type: 'log', path: '/opt/edgewise/current/examples/drive.log.gz', speed: 20, loop: true }],
        store: { dir: '/var/lib/edgewise/store' },
        upload: { endpoint: 'localhost', port: broker.port, caFile: 'certs/ca.pem', certFile: 'certs/device.pem.crt', keyFile: 'certs/private.pem.key' },
        log: { level: 'info' },
        statusSocket: '/run/edgewise/status.sock',
      }),
    );
    mkdirSync(path.join(root, 'var/lib/edgewise/campaigns'), { recursive: true });
    copyFileSync(path.join(ROOT, 'campaigns/heartbeat.json'), path.join(root, 'var/lib/edgewise/campaigns/heartbeat.json'));
    copyFileSync(deb, path.join(root, 'tmp/edgewise.deb'));
    const inst = spawnSync('chroot', [root, 'dpkg', '-i', '/tmp/edgewise.deb'], { encoding: 'utf8', env: rig!.env, timeout: 300_000 });
    if (inst.status !== 0) throw new Error(`dpkg -i failed: ${inst.stdout}\n${inst.stderr}`);
    // Enabled offline, as an image build would; postinst starts it itself when systemd runs.
    spawnSync('chroot', [root, 'systemctl', 'enable', 'edgewise.service'], { env: rig!.env });

    guest = spawn('systemd-nspawn', ['-b', '--register=no', '--keep-unit', '--console=passive', '-D', root], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_NSPAWN_TMPFS_TMP: '0' } });
    guest.stdout!.on('data', (c: Buffer) => (guestOut += c.toString()));
    guest.stderr!.on('data', (c: Buffer) => (guestOut += c.toString()));
    // The container's PID 1 is nspawn's child.
    leader = await until(
      'the guest to boot',
      () => {
        const kids = spawnSync('pgrep', ['-P', String(guest!.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
        for (const k of kids) {
          try {
            if (readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'systemd') return Number(k);
          } catch {
            /* an intermediate process of nspawn's, gone already */
          }
        }
        return undefined;
      },
      120_000,
    );
  }, 900_000);

  afterAll(async () => {
    if (guest && guest.exitCode === null) {
      guest.kill('SIGTERM'); // nspawn: poweroff of the guest
      await Promise.race([new Promise((r) => guest!.on('exit', r)), sleep(30_000)]);
      if (guest.exitCode === null) guest.kill('SIGKILL');
    }
    await broker?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it.skipIf(spawnSync('lintian', ['--version'], { stdio: 'ignore' }).status !== 0)('the .deb is lintian clean, each override justified in the package', () => {
    const r = spawnSync('lintian', ['--fail-on', 'error,warning', '--no-tag-display-limit', deb], { encoding: 'utf8', timeout: 300_000 });
    expect(r.stdout.split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
    expect(r.status).toBe(0);
    const overrides = spawnSync('dpkg-deb', ['--fsys-tarfile', deb], { encoding: 'buffer', maxBuffer: 1 << 30 });
    const text = spawnSync('tar', ['-xO', './usr/share/lintian/overrides/edgewise'], { input: overrides.stdout, encoding: 'utf8' }).stdout;
    // Every override line follows a comment that says why.
    const lines = text.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^#/);
    expect(lines.filter((l) => !l.startsWith('#')).length).toBeGreaterThan(0);
  }, 300_000);

  it('reaches READY (active/running) with the shipped unit unchanged', async () => {
    expect(readFileSync(path.join(root, 'lib/systemd/system/edgewise.service'), 'utf8')).toBe(readFileSync(path.join(ROOT, 'systemd/edgewise.service'), 'utf8'));
    await until('edgewise.service active', () => unitProp('ActiveState') === 'active' && unitProp('SubState') === 'running', 180_000);
    expect(unitProp('User')).toBe('edgewise');
    expect(unitProp('Type')).toBe('notify');
  }, 200_000);

  it('answers `edgewise status` over the runtime socket and uploads to the host broker', async () => {
    const got = await batches.waitFor(1, { timeoutMs: 120_000 });
    expect(got[0].topic).toMatch(new RegExp(`^edgewise/${thing}/batches/`));
    const st = inGuest(['/usr/bin/edgewise', 'status', '--socket', '/run/edgewise/status.sock', '--json']);
    expect(st.stderr).toBe('');
    const status = JSON.parse(st.stdout) as { agent: { version: string; vehicle: string; pid: number } };
    expect(status.agent.version).toBe(PKG.version);
    expect(status.agent.vehicle).toBe(thing);
    expect(String(status.agent.pid)).toBe(unitProp('MainPID'));
  }, 150_000);

  it('logs JSON lines to the journal', () => {
    const j = inGuest(['journalctl', '--no-pager', '-o', 'cat', '-u', 'edgewise.service']);
    const json = j.stdout.split('\n').filter((l) => l.startsWith('{'));
    expect(json.length).toBeGreaterThan(0);
    const first = JSON.parse(json[0]) as { level: number; msg: string };
    expect(typeof first.msg).toBe('string');
  });

  it('the watchdog kills a stopped event loop (SIGSTOP) and systemd restarts the agent', async () => {
    const pid = unitProp('MainPID');
    const restarts = Number(unitProp('NRestarts'));
    // (no `kill` binary in a minimal image: procps is absent; systemd sends it to the main process)
    expect(inGuest(['systemctl', 'kill', '--kill-whom=main', '--signal=SIGSTOP', 'edgewise.service']).status).toBe(0);
    await until('a watchdog restart', () => Number(unitProp('NRestarts')) > restarts && unitProp('MainPID') !== pid && unitProp('SubState') === 'running', 150_000);
    const j = inGuest(['journalctl', '--no-pager', '-u', 'edgewise.service']).stdout;
    expect(j).toMatch(/[Ww]atchdog timeout/);
  }, 180_000);

  it('rolls back a release that cannot start (OnFailure= backstop)', async () => {
    // Release N+1 whose agent exits at once, switched to as an OTA update on trial would be.
    const opt = path.join(root, 'opt/edgewise');
    const bad = path.join(opt, 'releases/99.0.0');
    mkdirSync(path.join(bad, 'dist/cli'), { recursive: true });
    mkdirSync(path.join(bad, 'runtime/bin'), { recursive: true });
    writeFileSync(path.join(bad, 'dist/cli/main.js'), 'process.exit(1);\n');
    writeFileSync(path.join(bad, 'release.json'), JSON.stringify({ version: '99.0.0', arch: 'x64' }, null, 2));
    symlinkSync(`/opt/edgewise/releases/${PKG.version}/runtime/bin/node`, path.join(bad, 'runtime/bin/node'));
    mkdirSync(path.join(opt, 'ota'), { recursive: true });
    const now = new Date().toISOString();
    writeFileSync(path.join(opt, 'ota/state.json'), JSON.stringify({ jobId: 'ota-1', phase: 'confirming', from: PKG.version, to: '99.0.0', bootAttempts: 0, startedAt: now, updatedAt: now }, null, 2) + '\n');
    inGuest(['chown', '-R', 'edgewise:edgewise', '/opt/edgewise/releases/99.0.0', '/opt/edgewise/ota']);
    inGuest(['ln', '-sfn', 'releases/99.0.0', '/opt/edgewise/.current.tmp']);
    inGuest(['mv', '-T', '/opt/edgewise/.current.tmp', '/opt/edgewise/current']);
    inGuest(['systemctl', 'restart', '--no-block', 'edgewise.service']);
    await until('current back at the old release', () => readlinkSync(path.join(opt, 'current')) === `releases/${PKG.version}`, 240_000);
    await until('the old release running again', () => unitProp('ActiveState') === 'active' && unitProp('SubState') === 'running', 180_000);
    const rb = inGuest(['journalctl', '--no-pager', '-o', 'cat', '-u', 'edgewise-rollback.service']).stdout;
    expect(rb).toContain(`release 99.0.0 failed to start repeatedly; current -> releases/${PKG.version}`);
  }, 480_000);

  it('stops cleanly within TimeoutStopSec', async () => {
    const r = inGuest(['systemctl', 'stop', 'edgewise.service'], 60_000);
    expect(r.status).toBe(0);
    expect(unitProp('ActiveState')).toBe('inactive');
    // Past TimeoutStopSec systemd would SIGKILL and record Result=timeout: success means it stopped in time.
    expect(unitProp('Result')).toBe('success');
    expect(readdirSync(path.join(root, 'var/lib/edgewise/store')).length).toBeGreaterThan(0);
    expect(existsSync(path.join(root, 'opt/edgewise/current/runtime/bin/node'))).toBe(true);
  }, 90_000);
});
