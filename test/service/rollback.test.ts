import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = path.join(REPO, 'systemd/edgewise-rollback.sh');

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'ew-rollback-'));
  for (const v of ['0.1.0', '0.2.0']) mkdirSync(path.join(root, 'releases', v), { recursive: true });
  mkdirSync(path.join(root, 'ota'));
  symlinkSync('releases/0.2.0', path.join(root, 'current'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function state(s: Record<string, unknown>): void {
  writeFileSync(path.join(root, 'ota/state.json'), JSON.stringify({ jobId: 'j1', startedAt: 'x', updatedAt: 'x', bootAttempts: 2, ...s }, null, 2) + '\n');
}
function rollback(): { code: number; out: string } {
  const r = spawnSync('sh', [SCRIPT, root], { encoding: 'utf8', env: { ...process.env, EDGEWISE_RETRY_SEC: '0' } });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

describe('edgewise-rollback (OnFailure= of edgewise.service)', () => {
  it('points current back at the release an update on trial came from', () => {
    state({ phase: 'confirming', from: '0.1.0', to: '0.2.0' });
    const before = readFileSync(path.join(root, 'ota/state.json'), 'utf8');
    const r = rollback();
    expect(r.code).toBe(0);
    expect(r.out).toContain('release 0.2.0 failed to start repeatedly; current -> releases/0.1.0');
    expect(readlinkSync(path.join(root, 'current'))).toBe('releases/0.1.0');
    expect(readFileSync(path.join(root, 'ota/state.json'), 'utf8')).toBe(before); // the agent records the outcome
    expect(readdirSync(root).sort()).toEqual(['current', 'ota', 'releases']); // no temp links left
  });

  it('also during the switch itself', () => {
    state({ phase: 'switching', from: '0.1.0', to: '0.2.0' });
    rollback();
    expect(readlinkSync(path.join(root, 'current'))).toBe('releases/0.1.0');
  });

  it.each([
    ['no update on trial', { phase: 'committed', from: '0.1.0', to: '0.2.0' }],
    ['current is not the new release', { phase: 'confirming', from: '0.0.9', to: '0.3.0' }],
    ['the old release is gone', { phase: 'confirming', from: '0.0.9', to: '0.2.0' }],
    ['a path instead of a version', { phase: 'confirming', from: '../ota', to: '0.2.0' }],
  ])('leaves current alone when %s, and still exits 0 (restart after the cool-down)', (_why, s) => {
    state(s);
    const r = rollback();
    expect(r.code).toBe(0);
    expect(r.out).toContain('Retrying in 0s');
    expect(readlinkSync(path.join(root, 'current'))).toBe('releases/0.2.0');
  });

  it('copes with no state file and unreadable state', () => {
    expect(rollback().code).toBe(0);
    writeFileSync(path.join(root, 'ota/state.json'), '{ not json');
    expect(rollback().code).toBe(0);
    expect(readlinkSync(path.join(root, 'current'))).toBe('releases/0.2.0');
  });
});
