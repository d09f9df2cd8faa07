/**
 * `npm start` = `edgewise run --demo`: the bundled drive through the bundled campaigns to a local
 * broker. A new user's first command, so it is run for real: batches are printed, `status` answers
 * on the socket the banner names, SIGTERM ends it cleanly.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { BIN } from './harness.js';

describe('the demo (npm start)', () => {
  it('prints batches as they reach the local broker, answers status, and stops on SIGTERM', async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'edgewise-demo-'));
    const child = spawn(process.execPath, [BIN, 'run', '--demo'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const deadline = Date.now() + 30_000;
      while (!/^batch #\d+ \S+ v\d+ part 1\/1: \d+ samples of \d+ signals/m.test(out) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(out).toMatch(/^edgewise demo: replaying .*drive\.log\.gz through the campaigns in /m);
      expect(out).toMatch(/-> edgewise\/edgewise-demo\/batches\//);
      const sock = /status --socket (\S+)/.exec(out)?.[1];
      expect(sock).toBe(path.join(cwd, 'var/demo/edgewise.sock'));
      const st = await cli('status', '--socket', sock!, '--json');
      expect(st.code).toBe(0);
      const status = JSON.parse(st.out) as { sources: { state: string }[]; upload: { state: string; acked: number }; campaigns: unknown[] };
      expect(status.sources[0].state).toBe('open');
      expect(status.campaigns.length).toBeGreaterThanOrEqual(4);
      expect(status.upload.state).toBe('connected');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
