/**
 * The `edgewise` process as systemd sees it: a daemon whose start fails exits promptly with one
 * line, even with an MQTT connection to a live broker open (systemd restarts, and rolls back, on
 * exit only). A closed stdout: test/cli/epipe.test.ts.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { REPO } from '../helpers/cli.js';

const BIN = path.join(REPO, 'dist/cli/main.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ew-exit-'));
let broker: TestBroker | undefined;
afterAll(async () => {
  await broker?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('a failed start exits promptly with one line', () => {
  it('OBD signal without a formula, upload connected to a live broker: exit 1 on its own', async () => {
    broker = await startBroker();
    const pair = broker.certFor('exit-test');
    const manifest = path.join(tmp, 'manifest.yaml');
    const example = readFileSync(path.join(REPO, 'examples/manifest.yaml'), 'utf8').replaceAll('../dbc/', `${REPO}/dbc/`);
    // J1979 defines no PID 0xFE (the "PIDs supported" blocks are 00, 20, ..., E0): edgewise has no formula for it.
    writeFileSync(manifest, `${example}\n  - { name: Vehicle.OBD.Unknown, type: float64, obd: { service: 1, pid: 'FE' } }\n`);
    const config = path.join(tmp, 'config.yaml');
    writeFileSync(
      config,
      stringify({
        vehicle: { name: 'exit-test' },
        manifest,
        campaigns: { dir: path.join(REPO, 'campaigns') },
        sources: [
          { type: 'log', path: path.join(REPO, 'examples/drive.log.gz'), loop: true },
          { type: 'obd', port: 'tcp://127.0.0.1:9' },
        ],
        store: { dir: path.join(tmp, 'store') },
        upload: { endpoint: 'localhost', port: broker.port, caFile: broker.caFile, certFile: pair.cert, keyFile: pair.key },
        statusSocket: path.join(tmp, 'edgewise.sock'),
      }),
    );
    const child = spawn(process.execPath, [BIN, 'run', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout.resume();
    // No timing claim: the test's own timeout (60 s) is the bound; a hang never exits at all.
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    const lines = err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^edgewise: .*Vehicle\.OBD\.Unknown.*PID FE has no formula/);
    expect(lines[0].length).toBeLessThan(700);
  });
});
