/**
 * Runs the real `edgewise run` binary (dist/) as a child process against a real broker, with
 * configs written to a temp dir. Used by the daemon end-to-end and loss tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import type { TestBroker } from '../helpers/broker.js';

export const ROOT = path.resolve(__dirname, '../..');
export const BIN = path.join(ROOT, 'dist/cli/main.js');
export const DRIVE_LOG = path.join(ROOT, 'examples/drive.log.gz');
export const MANIFEST = path.join(ROOT, 'examples/manifest.yaml');

/** A time-based campaign that makes a batch every `periodMs` of log time. */
export function pulseCampaign(name: string, periodMs: number, priority = 1): object {
  return {
    name,
    collectionScheme: { timeBasedCollectionScheme: { periodMs } },
    compression: 'SNAPPY',
    priority,
    signalsToCollect: [
      { name: 'Vehicle.Speed', maxSampleCount: 50 },
      { name: 'Vehicle.Powertrain.EngineSpeed', maxSampleCount: 50 },
    ],
  };
}

export interface TestSetup {
  dir: string;
  configFile: string;
  storeDir: string;
  thing: string;
}

export function writeSetup(opts: {
  broker?: TestBroker;
  thing: string;
  campaigns: object[];
  speed?: number | 'max';
  loop?: boolean;
  storeMaxBytes?: number;
  rogueCert?: boolean;
  log?: string;
  dir?: string;
}): TestSetup {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'edgewise-daemon-'));
  const campaignsDir = path.join(dir, 'campaigns');
  mkdirSync(campaignsDir, { recursive: true });
  for (const c of opts.campaigns) writeFileSync(path.join(campaignsDir, `${(c as { name: string }).name}.json`), JSON.stringify(c));
  const b = opts.broker;
  const pair = b ? (opts.rogueCert ? b.rogueCertFor(opts.thing) : b.certFor(opts.thing)) : undefined;
  const config = {
    vehicle: { name: opts.thing },
    manifest: MANIFEST,
    campaigns: { dir: campaignsDir },
    sources: [{ type: 'log', path: opts.log ?? DRIVE_LOG, speed: opts.speed ?? 'max', loop: opts.loop ?? false }],
    store: { dir: path.join(dir, 'store'), ...(opts.storeMaxBytes ? { maxBytes: opts.storeMaxBytes } : {}) },
    upload: b
      ? { endpoint: 'localhost', port: b.port, caFile: b.caFile, certFile: pair!.cert, keyFile: pair!.key, maxPublishesPerSecond: 100 }
      : { enabled: false },
    log: { level: 'info' },
    statusSocket: path.join(dir, 'edgewise.sock'),
  };
  const configFile = path.join(dir, 'config.yaml');
  writeFileSync(configFile, stringify(config));
  return { dir, configFile, storeDir: path.join(dir, 'store'), thing: opts.thing };
}

export interface RunningDaemon {
  child: ChildProcess;
  /** pino JSON log lines parsed so far. */
  logs: Record<string, unknown>[];
  stderr: () => string;
  /** Resolves when a log line with this msg appears. */
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startDaemon(configFile: string, extraArgs: string[] = []): RunningDaemon {
  const child = spawn(process.execPath, [BIN, 'run', '--config', configFile, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NOTIFY_SOCKET: '' },
  });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ msg: line });
      }
      for (const w of [...waiters]) w();
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    logs,
    stderr: () => err,
    exited,
    waitForLog(msg, timeoutMs = 20_000) {
      const find = (): Record<string, unknown> | undefined =>
        logs.find((l) => (typeof msg === 'string' ? l.msg === msg : typeof l.msg === 'string' && msg.test(l.msg)));
      const hit = find();
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no log "${msg}" within ${timeoutMs} ms; stderr: ${err}\nlogs: ${logs.map((l) => l.msg).join(' | ')}`));
        }, timeoutMs);
        const check = (): void => {
          const h = find();
          if (!h) return;
          clearTimeout(t);
          waiters.delete(check);
          resolve(h);
        };
        waiters.add(check);
        void exited.then(() => {
          if (!find()) {
            clearTimeout(t);
            waiters.delete(check);
            reject(new Error(`daemon exited before log "${msg}"; stderr: ${err}\nlogs: ${logs.map((l) => l.msg).join(' | ')}`));
          }
        });
      });
    },
  };
}
