import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const HAVE_ANALYZE = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;
const tmp = mkdtempSync(path.join(tmpdir(), 'ew-can-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function setup(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('bash', [path.join(REPO, 'scripts/setup-can.sh'), ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('scripts/setup-can.sh', () => {
  it('writes per-interface settings and a hotplug-aware unit ordered before edgewise', () => {
    const root = path.join(tmp, 'fd');
    const r = setup('--prefix', root, '--bitrate', '500000', '--dbitrate', '2000000', 'can0', 'can3');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(root, 'etc/edgewise/can/can3.env'), 'utf8')).toContain(
      'CAN_ARGS=bitrate 500000 dbitrate 2000000 fd on restart-ms 100 listen-only off\nTXQUEUELEN=1000\n',
    );
    const unit = readFileSync(path.join(root, 'etc/systemd/system/edgewise-can@.service'), 'utf8');
    expect(unit).toContain('Before=edgewise.service');
    expect(unit).toContain('BindsTo=sys-subsystem-net-devices-%i.device');
    expect(r.out).toContain('skipped (prefix): systemctl enable edgewise-can@can0.service');
  });

  it('classic CAN in listen-only mode for a vehicle bus', () => {
    const root = path.join(tmp, 'lo');
    expect(setup('--prefix', root, '--bitrate', '250000', '--listen-only', 'can0').code).toBe(0);
    expect(readFileSync(path.join(root, 'etc/edgewise/can/can0.env'), 'utf8')).toContain('CAN_ARGS=bitrate 250000 fd off restart-ms 100 listen-only on\n');
  });

  it('refuses bad bitrates and names with a reason', () => {
    const root = path.join(tmp, 'bad');
    expect(setup('--prefix', root, '--bitrate', '2000000', 'can0').err).toContain('--bitrate must be 1..1000000');
    expect(setup('--prefix', root, '--bitrate', '500000', '--dbitrate', '100000', 'can0').err).toContain('--dbitrate must be between');
    expect(setup('--prefix', root, '--bitrate', '500000', 'can0;reboot').err).toContain('not an interface name');
    const none = setup('--prefix', root, '--bitrate', '500000');
    expect(none.code).toBe(1);
    expect(none.err).toContain('name at least one interface');
  });

  it.skipIf(!HAVE_ANALYZE)('the generated unit passes systemd-analyze verify', () => {
    const root = path.join(tmp, 'fd');
    const units = path.join(root, 'etc/systemd/system');
    const r = spawnSync('systemd-analyze', ['verify', path.join(units, 'edgewise-can@can0.service')], {
      encoding: 'utf8',
      env: { ...process.env, SYSTEMD_UNIT_PATH: `${units}:` },
    });
    expect(r.stderr.split('\n').filter((l) => l.includes('edgewise-can'))).toEqual([]);
    expect(r.status).toBe(0);
  });
});
