/**
 * A failed start exits promptly, non-zero, with one line on stderr (issue 13 item 1): the real
 * bin as a child process with a config whose manifest file is missing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

describe('edgewise run: start-up failure', () => {
  it('exits 1 within seconds with one "startup failed" line', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgewise-startfail-'));
    try {
      const cfg = readFileSync(path.join(REPO, 'examples/config/bench.yaml'), 'utf8')
        .replace('../manifest.yaml', path.join(dir, 'missing-manifest.yaml'))
        .replace('../../campaigns', path.join(REPO, 'campaigns'))
        .replace('../drive.log.gz', path.join(REPO, 'examples/drive.log.gz'))
        .replaceAll('../../var/bench', dir);
      writeFileSync(path.join(dir, 'c.yaml'), cfg);
      const r = spawnSync(process.execPath, [path.join(REPO, 'dist/cli/main.js'), 'run', '--config', path.join(dir, 'c.yaml')], {
        encoding: 'utf8',
        timeout: 15_000,
      });
      expect(r.signal, 'the process had to be killed: it hung after the failed start').toBeNull();
      expect(r.status).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^edgewise: startup failed: cannot read manifest .*missing-manifest\.yaml/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
