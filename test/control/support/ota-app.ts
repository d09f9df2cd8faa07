/**
 * The "app" inside test releases (bundled with esbuild into dist/cli/main.js of each release): a
 * tiny agent that runs the real OTA boot check and the real control plane (jobs + shadow + OTA)
 * over a real MQTT connection. Its behaviour comes from the `behaviour` file of its release:
 *   good  - healthy once connected and subscribed
 *   crash - throws during start-up (after the boot check counted the boot)
 *   hang  - runs but never reports data flowing (never healthy)
 * Fault injection for tests: config.killAt lists points where the process SIGKILLs itself once
 * (`download-mid`, OTA phase names, `trial` = right after a trial boot check).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlPlane, otaBootCheck, type AgentControl, type AgentStatus } from '../../../src/control/index.js';
import { MqttConnection } from '../../../src/upload/index.js';

interface AppConfig {
  thing: string;
  host: string;
  port: number;
  caFile: string;
  certFile: string;
  keyFile: string;
  root: string;
  keysDir: string;
  stateDir: string;
  artifactCaFile: string;
  eventsFile: string;
  healthDeadlineMs: number;
  maxBootAttempts: number;
  killAt?: string[];
}

const cfgPath = process.argv[process.argv.indexOf('--config') + 1];
const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as AppConfig;
const releaseDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const version = (JSON.parse(readFileSync(path.join(releaseDir, 'release.json'), 'utf8')) as { version: string }).version;
const behaviour = readFileSync(path.join(releaseDir, 'behaviour'), 'utf8').trim();

const event = (e: Record<string, unknown>): void => appendFileSync(cfg.eventsFile, JSON.stringify({ pid: process.pid, version, ...e }) + '\n');

function maybeKill(point: string): void {
  if (!cfg.killAt?.includes(point)) return;
  const marker = path.join(cfg.stateDir, `killed-${point}`);
  if (existsSync(marker)) return;
  writeFileSync(marker, String(process.pid));
  event({ event: 'kill', point });
  process.kill(process.pid, 'SIGKILL');
}

const logger = {
  debug() {},
  info(o: object, m?: string) {
    event({ event: 'log', level: 'info', msg: m, ...o });
  },
  warn(o: object, m?: string) {
    event({ event: 'log', level: 'warn', msg: m, ...o });
  },
  error(o: object, m?: string) {
    event({ event: 'log', level: 'error', msg: m, ...o });
  },
};

event({ event: 'start', behaviour });
const boot = otaBootCheck({ root: cfg.root, runningVersion: version, maxBootAttempts: cfg.maxBootAttempts, healthDeadlineMs: cfg.healthDeadlineMs, logger });
event({ event: 'boot-check', result: boot });
if (boot.action === 'exit') process.exit(boot.code);
if (boot.trial) maybeKill('trial');
if (behaviour === 'crash') throw new Error(`release ${version} crashes on start`);

const connection = new MqttConnection({
  host: cfg.host,
  port: cfg.port,
  thingName: cfg.thing,
  certFile: cfg.certFile,
  keyFile: cfg.keyFile,
  caFile: cfg.caFile,
  statusTopic: false,
});
connection.start();

let plane: ControlPlane; // eslint-disable-line prefer-const -- assigned after `agent`, which reads it
const agent: AgentControl = {
  status: (): AgentStatus => ({
    agent: { version, configHash: '0', startedAt: new Date().toISOString(), uptimeSeconds: 0, pid: process.pid, vehicle: cfg.thing },
    memory: { rssBytes: 0, heapUsedBytes: 0, externalBytes: 0, periodicGcs: 0 },
    campaigns: [],
    sources: [],
    decode: { frames: 0, unknown: 0, errors: 0 },
    store: { bytes: 0, maxBytes: 1, batches: 0, oldestAgeSeconds: null, evictions: 0, movedAside: 0 },
    upload: { enabled: true, state: connection.connected ? 'connected' : 'connecting', endpoint: cfg.host, lastConnect: null, reconnects: 0, published: 0, acked: 0, failed: 0, inFlight: 0, lastError: null },
    settings: { logLevel: 'info', upload: { maxPublishesPerSecond: 1, maxBytesPerSecond: 1, enabled: true }, store: { maxBytes: 1 }, campaigns: {} },
    lastOta: plane?.ota?.lastResult() ?? null,
  }),
  applySettings: () => agent.status().settings,
  deployCampaigns: async () => ({ applied: [] }),
  forceUpload: async () => ({ batches: 0 }),
  health: () => ({ running: true, connected: connection.connected, controlSubscribed: plane?.subscribed ?? false, dataFlowing: behaviour !== 'hang' }),
};

let exiting = false;
plane = new ControlPlane({
  thing: cfg.thing,
  connection,
  agent,
  stateDir: cfg.stateDir,
  ota: {
    root: cfg.root,
    trustedKeysDir: cfg.keysDir,
    runningVersion: version,
    healthDeadlineMs: cfg.healthDeadlineMs,
    healthStableMs: 300,
    healthPollMs: 50,
    maxBootAttempts: cfg.maxBootAttempts,
    httpsCa: readFileSync(cfg.artifactCaFile),
    onPhase: (phase) => {
      event({ event: 'phase', phase });
      maybeKill(phase);
    },
    onDownloadProgress: (got, total) => {
      if (got > total / 3 && got < total) maybeKill('download-mid');
    },
    exit: (code) => {
      if (exiting) return;
      exiting = true;
      event({ event: 'exit', code });
      void Promise.race([Promise.all([plane.stop(), connection.close()]), new Promise((r) => setTimeout(r, 2000))]).finally(() => process.exit(code));
    },
  },
  shadow: { checkMs: 500, minIntervalMs: 100, operationTimeoutSeconds: 4 },
  jobs: { retryBaseMs: 100, operationTimeoutSeconds: 4 },
  logger,
});
plane.start();

process.on('SIGTERM', () => {
  void Promise.race([Promise.all([plane.stop(), connection.close()]), new Promise((r) => setTimeout(r, 2000))]).finally(() => process.exit(0));
});
