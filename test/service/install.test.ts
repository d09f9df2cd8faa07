import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { loadConfig } from '../../src/daemon/config.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HAVE_ANALYZE = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;
const IS_ROOT = process.getuid?.() === 0;
// As root the prefix install chowns to the ids the service user would have; otherwise to ourselves.
const SVC = IS_ROOT ? { uid: 4242, gid: 4243 } : { uid: process.getuid!(), gid: process.getgid!() };
const ROOT = IS_ROOT ? { uid: 0, gid: 0 } : SVC;

function run(script: string, ...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('bash', [path.join(REPO, 'scripts', script), ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** Every entry under `root`: type, mode, owner and link target (no times), sorted by path. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const p = path.join(root, rel);
    const st = lstatSync(p);
    const kind = st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : 'f';
    out.push(`${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${rel}${kind === 'l' ? ` -> ${readlinkSync(p)}` : ''}${kind === 'f' ? ` ${st.size}` : ''}`);
    if (kind === 'd') for (const e of readdirSync(p).sort()) walk(path.join(rel, e));
  };
  walk('.');
  return out;
}

function mode(p: string): string {
  return (lstatSync(p).mode & 0o7777).toString(8);
}
function owner(p: string): { uid: number; gid: number } {
  const st = lstatSync(p);
  return { uid: st.uid, gid: st.gid };
}

/** A built release as CI produces it: package.json, dist/, units, examples, DBC (node_modules left out). */
function makeRelease(dir: string, version: string): void {
  mkdirSync(path.join(dir, 'dist/cli'), { recursive: true });
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  pkg.version = version;
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  const built = path.join(REPO, 'dist/cli/main.js');
  if (existsSync(built)) cpSync(built, path.join(dir, 'dist/cli/main.js'));
  else writeFileSync(path.join(dir, 'dist/cli/main.js'), '#!/usr/bin/env node\n');
  for (const d of ['systemd', 'examples', 'dbc', 'scripts', 'campaigns']) cpSync(path.join(REPO, d), path.join(dir, d), { recursive: true });
}

describe('scripts/install.sh and uninstall.sh in a prefix', () => {
  let tmp: string;
  let prefix: string;
  let first: ReturnType<typeof run>;
  let second: ReturnType<typeof run>;
  let tree1: string[];
  let tree2: string[];
  const P = (p: string): string => path.join(prefix, p);
  const ownerArgs = ['--owner', `${SVC.uid}:${SVC.gid}`];

  beforeAll(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'ew-install-'));
    prefix = path.join(tmp, 'root');
    const rel = path.join(tmp, 'rel-0.1.0');
    makeRelease(rel, '0.1.0');
    first = run('install.sh', '--prefix', prefix, '--from', rel, ...ownerArgs);
    tree1 = first.code === 0 ? snapshot(prefix) : [];
    // The operator edits the config and drops in credentials with careless modes; install again.
    writeFileSync(P('etc/edgewise/config.yaml'), readFileSync(P('etc/edgewise/config.yaml'), 'utf8').replace('my-vehicle-001', 'van-0042'));
    second = run('install.sh', '--prefix', prefix, '--from', rel, ...ownerArgs);
    tree2 = second.code === 0 ? snapshot(prefix) : [];
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('installs, and installing again gives the same tree', () => {
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    expect(tree1.length).toBeGreaterThan(30);
    // The edited config differs in size only; everything else is identical.
    const strip = (t: string[]): string[] => t.map((l) => (l.endsWith('etc/edgewise/config.yaml') || / etc\/edgewise\/config\.yaml \d+$/.test(l) ? l.replace(/ \d+$/, '') : l));
    expect(strip(tree2)).toEqual(strip(tree1));
    expect(readFileSync(P('etc/edgewise/config.yaml'), 'utf8')).toContain('van-0042'); // never overwritten
    expect(second.out).toContain('kept existing /etc/edgewise/config.yaml');
  });

  it('lays out releases the way OTA expects: releases/<version> + current symlink', () => {
    expect(readlinkSync(P('opt/edgewise/current'))).toBe('releases/0.1.0');
    expect(existsSync(P('opt/edgewise/current/dist/cli/main.js'))).toBe(true);
    expect(JSON.parse(readFileSync(P('opt/edgewise/releases/0.1.0/release.json'), 'utf8'))).toEqual({ version: '0.1.0' });
    expect(owner(P('opt/edgewise'))).toEqual(SVC); // the agent swaps `current` itself
    expect(owner(P('opt/edgewise/releases/0.1.0/dist/cli/main.js'))).toEqual(SVC);
    expect(readdirSync(P('opt/edgewise/releases'))).toEqual(['0.1.0']); // no staging leftovers
  });

  it('sets owners and modes: config readable by the group, credentials and state private to the service', () => {
    expect([mode(P('etc/edgewise')), owner(P('etc/edgewise'))]).toEqual(['750', { uid: ROOT.uid, gid: SVC.gid }]);
    expect([mode(P('etc/edgewise/config.yaml')), owner(P('etc/edgewise/config.yaml'))]).toEqual(['640', { uid: ROOT.uid, gid: SVC.gid }]);
    expect([mode(P('etc/edgewise/certs')), owner(P('etc/edgewise/certs'))]).toEqual(['700', SVC]);
    expect([mode(P('etc/edgewise/ota-keys')), owner(P('etc/edgewise/ota-keys'))]).toEqual(['750', { uid: ROOT.uid, gid: SVC.gid }]);
    for (const d of ['var/lib/edgewise', 'var/lib/edgewise/store', 'var/lib/edgewise/campaigns']) expect([d, mode(P(d)), owner(P(d))]).toEqual([d, '700', SVC]);
    expect(mode(P('var/log/edgewise'))).toBe('750');
    expect([mode(P('etc/systemd/system/edgewise.service')), owner(P('etc/systemd/system/edgewise.service'))]).toEqual(['644', ROOT]);
    // The rollback helper runs from a root-owned place, not from /opt/edgewise (which the agent can write).
    expect([mode(P('usr/lib/edgewise/edgewise-rollback')), owner(P('usr/lib/edgewise/edgewise-rollback'))]).toEqual(['755', ROOT]);
    expect(readFileSync(P('usr/local/bin/edgewise'), 'utf8')).toContain('exec /opt/edgewise/current/runtime/bin/node /opt/edgewise/current/dist/cli/main.js "$@"');
    // A release without its own Node runs the system's through the same path the unit uses.
    expect(readlinkSync(P('opt/edgewise/releases/0.1.0/runtime/bin/node'))).toBe('/usr/bin/node');
  });

  it('fixes private key permissions on every run', () => {
    writeFileSync(P('etc/edgewise/certs/private.pem.key'), '-----BEGIN PRIVATE KEY-----\n');
    chmodSync(P('etc/edgewise/certs/private.pem.key'), 0o644);
    writeFileSync(P('etc/edgewise/ota-keys/release-2026.pem'), '-----BEGIN PUBLIC KEY-----\n');
    const r = run('install.sh', '--prefix', prefix, '--from', path.join(tmp, 'rel-0.1.0'), ...ownerArgs);
    expect(r.code).toBe(0);
    expect([mode(P('etc/edgewise/certs/private.pem.key')), owner(P('etc/edgewise/certs/private.pem.key'))]).toEqual(['600', SVC]);
    expect([mode(P('etc/edgewise/ota-keys/release-2026.pem')), owner(P('etc/edgewise/ota-keys/release-2026.pem'))]).toEqual(['640', { uid: ROOT.uid, gid: SVC.gid }]);
  });

  it('installs a config the daemon accepts, with the manifest and DBC beside it', () => {
    const cfg = loadConfig(P('etc/edgewise/config.yaml'));
    expect(cfg.vehicle.name).toBe('van-0042');
    expect(cfg.manifest).toBe(P('etc/edgewise/manifest.yaml'));
    expect(cfg.store.dir).toBe('/var/lib/edgewise/store');
    expect(cfg.statusSocket).toBe('/run/edgewise/status.sock');
    const manifest = readFileSync(P('etc/edgewise/manifest.yaml'), 'utf8');
    const dbc = /can0: (\S+)/.exec(manifest)![1];
    expect(existsSync(path.resolve(P('etc/edgewise'), dbc))).toBe(true);
  });

  it('--example bench installs a config whose paths all resolve on the installed system', () => {
    const pre = path.join(tmp, 'bench-root');
    const r = run('install.sh', '--prefix', pre, '--from', path.join(tmp, 'rel-0.1.0'), '--example', 'bench', ...ownerArgs);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const Q = (p: string): string => path.join(pre, p);
    const cfg = loadConfig(Q('etc/edgewise/config.yaml'));
    // Every path the daemon opens is either inside /etc/edgewise (resolved by loadConfig) or an
    // absolute path of the installed layout; each must exist in the installed tree (or be a
    // directory the unit creates: the store and the runtime directory).
    expect(cfg.manifest).toBe(Q('etc/edgewise/manifest.yaml'));
    expect(existsSync(cfg.manifest!)).toBe(true);
    expect(cfg.campaigns.dir).toBe('/var/lib/edgewise/campaigns');
    expect(readdirSync(Q('var/lib/edgewise/campaigns')).sort()).toEqual(readdirSync(path.join(REPO, 'campaigns')).sort());
    const log = cfg.sources[0] as { type: string; path: string };
    expect(log.type).toBe('log');
    expect(log.path).toBe('/opt/edgewise/current/examples/drive.log.gz');
    expect(existsSync(Q(log.path))).toBe(true);
    expect(cfg.store.dir).toBe('/var/lib/edgewise/store');
    expect(cfg.statusSocket).toBe('/run/edgewise/status.sock');
    expect(readFileSync(Q('etc/edgewise/config.yaml'), 'utf8')).not.toMatch(/^[^#]*: *\.\.\//m);
  });

  it('records what it did not do in a prefix (users, systemctl)', () => {
    expect(first.out).toContain('skipped (prefix): useradd --system --gid edgewise --groups dialout');
    expect(first.out).toContain('skipped (prefix): systemctl daemon-reload && systemctl enable --now edgewise.service');
  });

  it.skipIf(!HAVE_ANALYZE)('installed units pass systemd-analyze verify', () => {
    const units = P('etc/systemd/system');
    const env = { ...process.env, SYSTEMD_UNIT_PATH: `${units}:` };
    // The unit runs the release's runtime/bin/node, here a link to /usr/bin/node outside the prefix:
    // verify a copy that names this test's node instead (everything else as installed).
    const dir = path.join(tmp, 'verify');
    mkdirSync(dir, { recursive: true });
    const unitText = readFileSync(path.join(units, 'edgewise.service'), 'utf8');
    expect(unitText).toContain('ExecStart=/opt/edgewise/current/runtime/bin/node ');
    writeFileSync(path.join(dir, 'edgewise.service'), unitText.split('/opt/edgewise/current/runtime/bin/node').join(process.execPath));
    const main = spawnSync('systemd-analyze', ['verify', path.join(dir, 'edgewise.service')], { encoding: 'utf8', env });
    expect(main.stderr).toBe('');
    expect(main.status).toBe(0);
    // The rollback unit, with its helper resolved inside the prefix.
    const text = readFileSync(path.join(units, 'edgewise-rollback.service'), 'utf8').replace('/usr/lib/edgewise/', P('usr/lib/edgewise') + '/');
    writeFileSync(path.join(dir, 'edgewise-rollback.service'), text);
    const rb = spawnSync('systemd-analyze', ['verify', path.join(dir, 'edgewise-rollback.service')], { encoding: 'utf8', env });
    expect(rb.stderr.split('\n').filter((l) => l.includes('edgewise-rollback'))).toEqual([]);
  });

  it('upgrades from a release tarball: current moves, the old release, config and state stay', () => {
    const rel = path.join(tmp, 'pack', 'edgewise-0.2.0');
    makeRelease(rel, '0.2.0');
    const tarball = path.join(tmp, 'edgewise-0.2.0.tar.gz');
    expect(spawnSync('tar', ['-czf', tarball, '-C', path.join(tmp, 'pack'), 'edgewise-0.2.0']).status).toBe(0);
    writeFileSync(P('var/lib/edgewise/store/000001.log'), 'unsent batches');
    const r = run('install.sh', '--prefix', prefix, '--from', tarball, ...ownerArgs);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('current -> releases/0.2.0 (was releases/0.1.0)');
    expect(readlinkSync(P('opt/edgewise/current'))).toBe('releases/0.2.0');
    expect(readdirSync(P('opt/edgewise/releases')).sort()).toEqual(['0.1.0', '0.2.0']);
    expect(readFileSync(P('etc/edgewise/config.yaml'), 'utf8')).toContain('van-0042');
    expect(readFileSync(P('var/lib/edgewise/store/000001.log'), 'utf8')).toBe('unsent batches');
  });

  it('rejects what it cannot install, with a reason', () => {
    const missing = run('install.sh', '--prefix', prefix, '--from', path.join(tmp, 'nope'));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no such file or directory');
    const notBuilt = path.join(tmp, 'unbuilt');
    mkdirSync(notBuilt);
    writeFileSync(path.join(notBuilt, 'package.json'), '{"version":"0.3.0"}');
    const r = run('install.sh', '--prefix', prefix, '--from', notBuilt);
    expect(r.code).toBe(1);
    expect(r.err).toContain('not a built edgewise release (no dist/cli/main.js)');
    expect(run('install.sh', '--bogus').code).not.toBe(0);
    expect(readlinkSync(P('opt/edgewise/current'))).toBe('releases/0.2.0'); // untouched
  });

  it('uninstalls the app but keeps config and data; --purge removes them too', () => {
    const r = run('uninstall.sh', '--prefix', prefix);
    expect(r.code).toBe(0);
    for (const gone of ['opt/edgewise', 'etc/systemd/system/edgewise.service', 'etc/systemd/system/edgewise-rollback.service', 'usr/lib/edgewise', 'usr/local/bin/edgewise'])
      expect([gone, existsSync(P(gone))]).toEqual([gone, false]);
    expect(readFileSync(P('etc/edgewise/config.yaml'), 'utf8')).toContain('van-0042');
    expect(existsSync(P('var/lib/edgewise/store/000001.log'))).toBe(true);
    expect(r.out).toContain('kept /var/lib/edgewise (use --purge to delete it)');

    const p = run('uninstall.sh', '--prefix', prefix, '--purge');
    expect(p.code).toBe(0);
    for (const gone of ['etc/edgewise', 'var/lib/edgewise', 'var/log/edgewise']) expect([gone, existsSync(P(gone))]).toEqual([gone, false]);
    expect(p.out).toContain('skipped (prefix): userdel edgewise');
  });
});
