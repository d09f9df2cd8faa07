import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { SdNotifier } from '../../src/daemon/sdnotify.js';

const have = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const HAVE_NOTIFY = have('systemd-notify', ['--version']);
const HAVE_PYTHON = have('python3', ['-c', 'import socket']);
if (!HAVE_NOTIFY || !HAVE_PYTHON) {
  console.warn(`skipping sd_notify delivery tests: needs systemd-notify (${HAVE_NOTIFY}) and python3 (${HAVE_PYTHON}) for a datagram receiver`);
}

/**
 * Stands in for the service manager: a real AF_UNIX datagram socket (python3, since Node cannot
 * receive unix datagrams either) printing each message as one JSON line.
 */
const RECEIVER = `
import socket, sys, json
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("listening"), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

class Manager {
  readonly messages: string[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly socket: string, private readonly proc: ChildProcess) {}

  static async start(socket: string): Promise<Manager> {
    const proc = spawn('python3', ['-c', RECEIVER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    const m = new Manager(socket, proc);
    const lines = createInterface({ input: proc.stdout! });
    await new Promise<void>((resolve) => {
      lines.on('line', (l) => {
        const msg = JSON.parse(l) as string;
        if (msg === 'listening') return resolve();
        if (msg === 'BARRIER=1') return; // systemd-notify's synchronisation message
        m.messages.push(msg);
        m.waiters.splice(0).forEach((w) => w());
      });
    });
    return m;
  }

  /** Resolves when `pred` holds over the received messages (test timeout bounds it). */
  async until(pred: (msgs: string[]) => boolean): Promise<void> {
    while (!pred(this.messages)) await new Promise<void>((r) => this.waiters.push(r));
  }

  stop(): void {
    this.proc.kill('SIGKILL');
  }
}

describe('sd_notify without systemd', () => {
  it('is a no-op when NOTIFY_SOCKET is unset', async () => {
    const n = new SdNotifier({ env: {} });
    expect(n.enabled).toBe(false);
    expect(await n.notifyReady()).toBe(false);
    expect(n.startWatchdog()).toBeNull();
    await n.stop();
  });

  it('runs no watchdog when systemd did not ask for one or asked another process', () => {
    expect(new SdNotifier({ env: { NOTIFY_SOCKET: '/run/x' } }).watchdogIntervalMs()).toBeNull();
    expect(new SdNotifier({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000' }, pid: 10 }).watchdogIntervalMs()).toBe(30_000);
    expect(new SdNotifier({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '11' }, pid: 10 }).watchdogIntervalMs()).toBeNull();
    expect(new SdNotifier({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '10' }, pid: 10 }).watchdogIntervalMs()).toBe(30_000);
  });
});

describe.skipIf(!HAVE_NOTIFY || !HAVE_PYTHON)('sd_notify through systemd-notify', () => {
  let dir: string;
  let manager: Manager;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ew-notify-'));
    manager = await Manager.start(path.join(dir, 'notify'));
  });
  afterEach(() => {
    manager.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends READY=1 with our MAINPID, status text and STOPPING=1', async () => {
    const n = new SdNotifier({ env: { NOTIFY_SOCKET: manager.socket } });
    expect(await n.notifyReady('3 sources open')).toBe(true);
    expect(await n.status('uploading')).toBe(true);
    expect(await n.notifyStopping()).toBe(true);
    expect(manager.messages).toEqual([`MAINPID=${process.pid}\nREADY=1\nSTATUS=3 sources open`, 'STATUS=uploading', 'STOPPING=1']);
  });

  it('feeds the watchdog from a timer at half of WatchdogSec until stopped', async () => {
    const n = new SdNotifier({ env: { NOTIFY_SOCKET: manager.socket, WATCHDOG_USEC: '400000', WATCHDOG_PID: String(process.pid) } });
    expect(n.startWatchdog()).toBe(200);
    await manager.until((m) => m.filter((x) => x === 'WATCHDOG=1').length >= 3);
    await n.stopWatchdog(); // resolves after a ping already on its way has been taken
    await n.status('marker'); // messages arrive in order: everything before it is in
    await manager.until((m) => m.includes('STATUS=marker'));
    await new Promise((r) => setTimeout(r, 600)); // three more intervals
    expect(manager.messages[manager.messages.length - 1]).toBe('STATUS=marker');
    expect(new Set(manager.messages)).toEqual(new Set(['WATCHDOG=1', 'STATUS=marker']));
    expect(n.watchdogPings).toBe(manager.messages.length - 1);
  });

  it('reports a socket nobody listens on through onError and resolves false', async () => {
    const errors: Error[] = [];
    const n = new SdNotifier({ env: { NOTIFY_SOCKET: path.join(dir, 'missing') }, onError: (e) => errors.push(e) });
    expect(await n.notifyReady()).toBe(false);
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toContain('systemd-notify');
  });

  it('reports a missing helper binary instead of throwing', async () => {
    const errors: Error[] = [];
    const n = new SdNotifier({ env: { NOTIFY_SOCKET: manager.socket }, binary: path.join(dir, 'no-such-binary'), onError: (e) => errors.push(e) });
    expect(await n.notifyReady()).toBe(false);
    expect(errors[0].message).toMatch(/cannot run .*no-such-binary/);
  });
});
