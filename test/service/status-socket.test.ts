import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { StatusServer, readStatus } from '../../src/daemon/status-server.js';
import { isEdgewiseError } from '../../src/errors.js';
import { cli, sampleStatus } from './helpers.js';

let dir: string;
let servers: StatusServer[];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ew-status-'));
  servers = [];
});
afterEach(async () => {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(sock: string, collect = sampleStatus): Promise<StatusServer> {
  const s = new StatusServer({ path: sock, collect });
  servers.push(s);
  await s.start();
  return s;
}

describe('status socket', () => {
  it('serves the live AgentStatus as JSON and `edgewise status --json` prints it unchanged', async () => {
    const sock = path.join(dir, 'run', 'status.sock'); // parent created on start
    let calls = 0;
    await serve(sock, () => {
      calls++;
      const s = sampleStatus();
      s.decode.frames += calls; // each connection gets a fresh snapshot
      return s;
    });
    expect(statSync(sock).mode & 0o777).toBe(0o660);

    const r = await cli('status', '--socket', sock, '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const expected = sampleStatus();
    expected.decode.frames += 1;
    expect(JSON.parse(r.out)).toEqual(expected);

    const again = await readStatus(sock);
    expect(again.decode.frames).toBe(sampleStatus().decode.frames + 2);
  });

  it('prints a one-screen summary a field engineer can read', async () => {
    const sock = path.join(dir, 'status.sock');
    await serve(sock);
    const r = await cli('status', '--socket', sock);
    expect(r.code).toBe(0);
    const out = r.out;
    expect(out).toMatch(/^edgewise 0\.1\.0 {2}vehicle van-0042 {2}pid 4242 {2}up 3h 12m/);
    expect(out).toMatch(/can0\s+socketcan\s+open\s+1,234 frames\/s\s+5,432,100 frames\s+2 errors\s+7 dropped/);
    expect(out).toMatch(/can1\s+socketcan\s+down\s+0 frames\/s/);
    expect(out).toContain('54,321 unknown id (1.0%)');
    expect(out).toContain('memory     RSS 77.7 MiB  heap 17.4 MiB  external 3.3 MiB');
    expect(out).toContain('64.0 MiB / 256 MiB (25.0% full)');
    expect(out).toContain('oldest 5m 3s');
    expect(out).toContain('CONNECTING  a1b2c3-ats.iot.eu-west-1.amazonaws.com');
    expect(out).toContain('last error: TLS handshake failed: certificate expired');
    expect(out).toMatch(/harsh-braking\s+v3\s+active\s+17 triggers\s+15 batches/);
    expect(out).toMatch(/battery-health\s+v1\s+waiting\s+0 triggers/);
    expect(out.split('\n').length).toBeLessThan(25);
  });

  it('says clearly when the daemon is not running', async () => {
    const sock = path.join(dir, 'nope.sock');
    const r = await cli('status', '--socket', sock);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain(`is edgewise running? socket ${sock} not found`);
  });

  it('takes the socket path from --config', async () => {
    const sock = path.join(dir, 'from-config.sock');
    const cfg = path.join(dir, 'config.yaml');
    writeFileSync(cfg, `vehicle: { name: van-0042 }\nmanifest: m.json\nsources: [{ type: log, path: d.log }]\nstatusSocket: from-config.sock\n`);
    await serve(sock);
    const r = await cli('status', '--config', cfg, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).agent.vehicle).toBe('van-0042');
  });

  it('removes a stale socket left by a killed daemon', async () => {
    const sock = path.join(dir, 'stale.sock');
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(statSync(sock).isSocket()).toBe(true); // left behind
    await expect(readStatus(sock)).rejects.toThrow(/nothing is listening/);

    await serve(sock);
    expect((await readStatus(sock)).agent.pid).toBe(4242);
  });

  it('refuses to take over a socket another daemon is serving, and never deletes a non-socket', async () => {
    const sock = path.join(dir, 'busy.sock');
    await serve(sock);
    const second = new StatusServer({ path: sock, collect: sampleStatus });
    const err = await second.start().then(() => undefined, (e: unknown) => e);
    expect(isEdgewiseError(err, 'IO')).toBe(true);
    expect((err as Error).message).toContain('already serving');
    expect((await readStatus(sock)).agent.vehicle).toBe('van-0042'); // first one unharmed

    const file = path.join(dir, 'important.txt');
    writeFileSync(file, 'keep me');
    const third = new StatusServer({ path: file, collect: sampleStatus });
    await expect(third.start()).rejects.toThrow(/not a socket/);
    expect(existsSync(file)).toBe(true);
  });

  it('removes its socket on stop', async () => {
    const sock = path.join(dir, 'gone.sock');
    const s = await serve(sock);
    await s.stop();
    expect(existsSync(sock)).toBe(false);
    await expect(readStatus(sock)).rejects.toThrow(/not found/);
  });

  it('reports a failing snapshot as an error instead of crashing', async () => {
    const sock = path.join(dir, 'err.sock');
    await serve(sock, () => {
      throw new Error('store is closing');
    });
    const r = await cli('status', '--socket', sock);
    expect(r.code).toBe(1);
    expect(r.err).toContain('status unavailable: store is closing');
  });
});
