import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UNIT = path.join(REPO, 'systemd/edgewise.service');
const ROLLBACK_UNIT = path.join(REPO, 'systemd/edgewise-rollback.service');
const HAVE_ANALYZE = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;
if (!HAVE_ANALYZE) console.warn('skipping systemd unit checks: systemd-analyze not found (Debian: apt-get install systemd)');

/** Directive values of a unit file, `Key` -> every assignment in order (comments and sections dropped). */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    const k = line.slice(0, eq).trim();
    out.set(k, [...(out.get(k) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

/**
 * A copy of a unit with commands that only exist on an installed system pointed at what exists
 * here (verify checks that ExecStart= binaries are executable).
 */
function verifiable(unit: string, dir: string, rewrites: [string, string][]): string {
  let text = readFileSync(unit, 'utf8');
  for (const [from, to] of rewrites) text = text.split(from).join(to);
  const out = path.join(dir, path.basename(unit));
  writeFileSync(out, text);
  return out;
}

function nodeRewrite(): [string, string][] {
  // The unit runs the release's runtime/bin/node, which only exists on an installed vehicle.
  return [['/opt/edgewise/current/runtime/bin/node', process.execPath]];
}

describe('systemd/edgewise.service content', () => {
  const d = directives(readFileSync(UNIT, 'utf8'));
  const one = (k: string): string | undefined => d.get(k)?.at(-1);

  it('is a notify service with a watchdog, restarted always within a start limit', () => {
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('all'); // readiness comes from a systemd-notify child
    expect(Number(one('WatchdogSec'))).toBeGreaterThan(0);
    expect(one('Restart')).toBe('always');
    expect(Number(one('StartLimitBurst'))).toBeGreaterThan(1);
    expect(Number(one('StartLimitIntervalSec'))).toBeGreaterThan(0);
    expect(one('OnFailure')).toBe('edgewise-rollback.service');
    expect(one('ExecStart')).toBe('/opt/edgewise/current/runtime/bin/node --optimize-for-size --bytecode-old-age=1 --flush-baseline-code --max-inlined-bytecode-size-cumulative=300 /opt/edgewise/current/dist/cli/main.js run --config /etc/edgewise/config.yaml');
  });

  it('runs unprivileged with the directories and devices the agent needs, and keeps the JIT working', () => {
    expect(one('User')).toBe('edgewise');
    expect(one('SupplementaryGroups')).toBe('dialout');
    expect(one('StateDirectory')).toBe('edgewise');
    expect(one('ConfigurationDirectory')).toBe('edgewise');
    expect(one('RuntimeDirectory')).toBe('edgewise');
    expect(one('LogsDirectory')).toBe('edgewise');
    expect(one('ProtectSystem')).toBe('strict');
    expect(d.get('ReadWritePaths')).toContain('/opt/edgewise');
    expect(one('CapabilityBoundingSet')).toBe('');
    expect(one('AmbientCapabilities')).toBe('');
    expect(one('UMask')).toBe('0077');
    expect(one('DevicePolicy')).toBe('closed');
    expect(d.get('DeviceAllow')).toEqual(expect.arrayContaining(['char-ttyUSB rw', 'char-ttyACM rw']));
    expect(one('PrivateDevices')).toBeUndefined(); // would hide the serial adapters
    expect(one('RestrictAddressFamilies')!.split(/\s+/).sort()).toEqual(['AF_CAN', 'AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    expect(one('MemoryDenyWriteExecute')).toBeUndefined(); // V8 needs W+X pages
  });
});

describe.skipIf(!HAVE_ANALYZE)('systemd-analyze', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ew-unit-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('verify: both units load cleanly', () => {
    const unit = verifiable(UNIT, dir, nodeRewrite());
    const rollback = verifiable(ROLLBACK_UNIT, dir, [['/usr/lib/edgewise/edgewise-rollback', path.join(REPO, 'systemd/edgewise-rollback.sh')]]);
    for (const u of [unit, rollback]) {
      const r = spawnSync('systemd-analyze', ['verify', u], { encoding: 'utf8', env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
      expect(r.stderr.split('\n').filter((l) => l.includes('edgewise'))).toEqual([]);
      expect(r.status).toBe(0);
    }
  });

  it('security --offline: exposure <= 2.0', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const m = /Overall exposure level for edgewise\.service: (\d+(?:\.\d+)?)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const exposure = Number(m![1]);
    console.log(`systemd-analyze security edgewise.service: exposure ${exposure} (target <= 2.0)`);
    expect(exposure).toBeLessThanOrEqual(2.0);
  });
});
