/**
 * A closed stdout ends a command quietly (issue 13 item 2): the real bin as a child process whose
 * stdout reader closes after the first line, like `edgewise obd pids | head -1`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

const BIN = path.join(REPO, 'dist/cli/main.js');
const DBC = path.join(REPO, 'dbc/toyota_nodsu_pt.dbc');

/** Runs the bin, destroys its stdout pipe after the first chunk, returns exit status and stderr. */
function headOne(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string; got: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let got = '';
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.stdout.once('data', (c: Buffer) => {
      got = c.toString();
      p.stdout.destroy();
    });
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, err, got }));
  });
}

describe('closed stdout', () => {
  const cases: Array<[string, string[]]> = [
    ['obd pids', ['obd', 'pids']],
    ['dbc show --format json', ['dbc', 'show', '--format', 'json', DBC]],
    ['decode of the example drive', ['decode', '--dbc', DBC, path.join(REPO, 'examples/drive.log.gz')]],
  ];
  for (const [name, args] of cases) {
    it(`${name} | head ends quietly`, async () => {
      if (!existsSync(BIN)) throw new Error(`${BIN} missing: run npm run build`);
      const r = await headOne(args);
      expect(r.got.length).toBeGreaterThan(0);
      expect(r.err).toBe('');
      expect(r.signal).toBeNull();
      // 141 when a write met the closed pipe; 0 when the whole output fitted in the pipe first.
      expect([0, 141]).toContain(r.code);
    });
  }
});
