/**
 * Resource budget soak: the real daemon (dist/cli/main.js) with 4 buses replaying the Toyota log
 * at real time (~4 × 4,100 frames/s), 20 condition campaigns plus a heartbeat, storing to LevelDB
 * and uploading to a local mosquitto over MQTT5 mTLS, for SOAK_SECONDS (default 600).
 * Samples the child's RSS and CPU time from /proc every 10 s and prints them, the RSS trend
 * (MB per 10 minutes, least squares over the second half) and the average CPU % of one core.
 * Budget: RSS < 80 MB and flat.
 *
 * The peer in the same run is the idle daemon (same config, no sources replaying): the ratio shows
 * what the data path itself costs.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startMosquitto } from '../src/upload/index.js';

const ROOT = process.env.BENCH_ROOT ?? process.cwd();
const SHARED = path.resolve(ROOT, '../shared');
const LOG = path.join(SHARED, 'logs/toyota_nodsu_pt_generated.1M.log.gz');
const DBC = path.join(SHARED, 'dbc/toyota_nodsu_pt_generated.dbc');
const BIN = path.join(ROOT, 'dist/cli/main.js');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 600);
const IDLE_SECONDS = Math.min(60, SECONDS);
/** Start-up (manifest and DBC parsing, JIT warm-up) is reported apart from the steady state. */
const WARMUP_SECONDS = 30;
const BUSES = 4;
const SPEED = 1.2; // the log runs at ~3,425 frames/s; 1.2x is ~4,100 frames/s per bus
const CLK_TCK = 100;
const PAGE = 4096;

function proc(pid: number): { rssMB: number; cpuSec: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  const rssPages = Number(f[21]);
  return { rssMB: (rssPages * PAGE) / 1e6, cpuSec: (utime + stime) / CLK_TCK };
}

/**
 * The environment systemd gives the service: not this shell's, only PATH, LANG and the unit's
 * Environment= lines (systemd.exec(5)). A developer shell carries variables a vehicle does not have;
 * NODE_EXTRA_CA_CERTS alone makes Node parse a CA bundle at start-up (~1.8 MB RSS).
 */
function serviceEnvironment(unitEnv: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:${path.dirname(process.execPath)}` };
  if (process.env.LANG) env.LANG = process.env.LANG;
  return { ...env, ...unitEnv };
}

/**
 * The node flags and environment of systemd/edgewise.service, so the soak measures the daemon as
 * it is deployed: the flags between `node` and the script in ExecStart=, and every Environment=.
 */
function unitSettings(): { flags: string[]; env: Record<string, string> } {
  const unit = readFileSync(path.join(ROOT, 'systemd/edgewise.service'), 'utf8');
  const exec = /^ExecStart=(\S+)\s+(.*)$/m.exec(unit);
  const flags = exec ? exec[2].split(/\s+/).filter((t, i, all) => t.startsWith('--') && all.slice(0, i).every((u) => u.startsWith('--'))) : [];
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=(?:"([^"]*)"|(.*))$/gm)) {
    const kv = m[1] ?? m[2];
    const eq = kv.indexOf('=');
    const key = kv.slice(0, eq);
    if (eq > 0) env[key] = kv.slice(eq + 1).replace(/^"|"$/g, '');
  }
  return { flags, env };
}

/** Anonymous (private heap) and file-backed (code of node, aws-crt, libc...) parts of the RSS. */
/** The kernel's RSS high-water mark (VmHWM): peaks between two samples are in it. */
function hwmMB(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? (Number(m[1]) * 1024) / 1e6 : NaN;
}

/** Restarts VmHWM from the current RSS (proc(5): clear_refs, value 5). */
function resetHwm(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function rssParts(pid: number): { anonMB: number; fileMB: number } {
  try {
    const r = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(r)?.[1] ?? 0);
    return { anonMB: kb('Anonymous') / 1000, fileMB: (kb('Rss') - kb('Anonymous')) / 1000 };
  } catch {
    return { anonMB: 0, fileMB: 0 };
  }
}

function slopePer10Min(points: { t: number; v: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const mv = points.reduce((a, p) => a + p.v, 0) / n;
  const num = points.reduce((a, p) => a + (p.t - mt) * (p.v - mv), 0);
  const den = points.reduce((a, p) => a + (p.t - mt) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 600;
}

function campaigns(): object[] {
  const v = (m: string, s: string, bus: number): string => `$variable.\`Vehicle.Bus${bus}.${m}.${s}\``;
  const out: object[] = [];
  for (let i = 0; i < 20; i++) {
    const bus = i % BUSES;
    const exprs = [
      `${v('SPEED', 'SPEED', bus)} > ${60 + i}`,
      `${v('ENGINE_RPM', 'RPM', bus)} > ${2500 + 50 * i}`,
      `last_window_avg(${v('KINEMATICS', 'ACCEL_X', bus)}) < -${1 + (i % 3)}`,
      `custom_function('abs', ${v('STEER_ANGLE_SENSOR', 'STEER_ANGLE', bus)}) > ${45 + i}`,
    ];
    out.push({
      name: `cond-${i}`,
      priority: i % 5,
      collectionScheme: { conditionBasedCollectionScheme: { expression: exprs[i % 4], minimumTriggerIntervalMs: 5000, triggerMode: 'RISING_EDGE' } },
      postTriggerCollectionDuration: 1000,
      signalsToCollect: [
        { name: `Vehicle.Bus${bus}.SPEED.SPEED`, maxSampleCount: 100 },
        { name: `Vehicle.Bus${bus}.ENGINE_RPM.RPM`, maxSampleCount: 100 },
        { name: `Vehicle.Bus${bus}.KINEMATICS.ACCEL_X`, maxSampleCount: 100 },
      ],
    });
  }
  out.push({
    name: 'heartbeat',
    collectionScheme: { timeBasedCollectionScheme: { periodMs: 10000 } },
    signalsToCollect: [{ name: 'Vehicle.Bus0.SPEED.SPEED', maxSampleCount: 20 }],
  });
  return out;
}

async function run(label: string, seconds: number, replay: boolean, dir: string, broker: { port: number; caFile: string; cert: string; key: string }) {
  const campaignsDir = path.join(dir, 'campaigns');
  const manifestFile = path.join(dir, 'manifest.yaml');
  // A manifest naming the same DBC on 4 interfaces: Vehicle.Bus<n>.<Message>.<Signal>.
  const { execFileSync } = await import('node:child_process');
  const parts: string[] = [];
  for (let b = 0; b < BUSES; b++) {
    const y = execFileSync(process.execPath, [BIN, 'manifest', 'init', '--dbc', `can${b}=${DBC}`, '--prefix', `Vehicle.Bus${b}`], { encoding: 'utf8' });
    parts.push(y);
  }
  const { parse } = await import('yaml');
  const merged = { dbc: {} as Record<string, string>, signals: [] as unknown[] };
  for (const p of parts) {
    const m = parse(p) as { dbc: Record<string, string>; signals: unknown[] };
    Object.assign(merged.dbc, m.dbc);
    merged.signals.push(...m.signals);
  }
  writeFileSync(manifestFile, stringify(merged));
  rmSync(campaignsDir, { recursive: true, force: true });
  execFileSync('mkdir', ['-p', campaignsDir]);
  for (const c of campaigns()) writeFileSync(path.join(campaignsDir, `${(c as { name: string }).name}.json`), JSON.stringify(c));
  const sources = replay
    ? [...Array(BUSES).keys()].map((b) => ({ type: 'log', path: LOG, speed: SPEED, loop: true, map: { can0: `can${b}` } }))
    : [{ type: 'log', path: LOG, speed: 0.0001 }];
  const config = {
    vehicle: { name: 'soak' },
    manifest: manifestFile,
    campaigns: { dir: campaignsDir },
    sources,
    store: { dir: path.join(dir, `store-${label}`) },
    upload: { endpoint: 'localhost', port: broker.port, caFile: broker.caFile, certFile: broker.cert, keyFile: broker.key },
    log: { level: 'warn' },
    statusSocket: path.join(dir, `${label}.sock`),
  };
  const cfg = path.join(dir, `${label}.yaml`);
  writeFileSync(cfg, stringify(config));
  const unit = unitSettings();
  const child = spawn(process.execPath, [...unit.flags, BIN, 'run', '--config', cfg], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: serviceEnvironment(unit.env),
  });
  await new Promise((r) => setTimeout(r, 5000));
  const samples: { t: number; rssMB: number; cpuSec: number; anonMB: number; fileMB: number }[] = [];
  const t0 = Date.now();
  let startPeak = NaN;
  let hwmReset = false;
  for (;;) {
    const t = (Date.now() - t0) / 1000;
    samples.push({ t, ...proc(child.pid!), ...rssParts(child.pid!) });
    if (t >= WARMUP_SECONDS && Number.isNaN(startPeak)) {
      // The peak of start-up, then a fresh high-water mark for the rest of the run.
      startPeak = hwmMB(child.pid!);
      hwmReset = resetHwm(child.pid!);
    }
    if (t >= seconds) break;
    await new Promise((r) => setTimeout(r, Math.min(10_000, (seconds - t) * 1000 + 10)));
  }
  const peakAfter = hwmReset ? hwmMB(child.pid!) : NaN;
  let status = '';
  try {
    status = execFileSync(process.execPath, [BIN, 'status', '--socket', config.statusSocket, '--json'], { encoding: 'utf8' });
  } catch {
    /* best effort */
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const first = samples[0];
  const last = samples[samples.length - 1];
  const cpu = ((last.cpuSec - first.cpuSec) / (last.t - first.t)) * 100;
  const second = samples.filter((s) => s.t >= seconds / 2).map((s) => ({ t: s.t, v: s.rssMB }));
  let frames = 0;
  try {
    const st = JSON.parse(status) as { decode: { frames: number }; store: { batches: number }; upload: { acked: number } };
    frames = st.decode.frames;
  } catch {
    /* keep 0 */
  }
  const steady = samples.filter((s) => s.t >= WARMUP_SECONDS);
  const top = steady.reduce((a, b) => (b.rssMB > a.rssMB ? b : a), steady[0] ?? last);
  return {
    label,
    seconds: last.t,
    flags: [...unit.flags, ...Object.entries(unit.env).map(([k, v]) => `${k}=${v}`)].join(' '),
    startPeak,
    peakAfter,
    rssMax: top.rssMB,
    anonAtMax: top.anonMB,
    fileAtMax: top.fileMB,
    rssLast: last.rssMB,
    slope: slopePer10Min(second),
    cpu,
    fps: frames / (last.t + 5),
    samples,
  };
}

async function main(): Promise<void> {
  if (!existsSync(LOG) || !existsSync(DBC)) {
    console.log(`soak bench: skipped, ${LOG} is absent (the shared benchmark logs sit beside the checkout)`);
    return;
  }
  if (!existsSync(BIN)) {
    console.log('soak bench: skipped, dist/ is not built (npm run build)');
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-soak-'));
  const mq = await startMosquitto({ dir: path.join(dir, 'broker') });
  const pair = mq.pki.certFor('soak');
  const broker = { port: mq.port, caFile: mq.caFile, cert: pair.cert, key: pair.key };
  try {
    console.log(`soak bench: ${BUSES} buses × ${SPEED}× real time, 21 campaigns, ${SECONDS} s (SOAK_SECONDS to change); idle peer ${IDLE_SECONDS} s\n`);
    const idle = await run('idle', IDLE_SECONDS, false, dir, broker);
    const busy = await run('busy', SECONDS, true, dir, broker);
    console.log(`node settings (from systemd/edgewise.service): ${busy.flags}\n`);
    console.log('| t (s) | RSS (MB) | anonymous | file-backed | CPU s |');
    console.log('|---:|---:|---:|---:|---:|');
    for (const s of busy.samples) console.log(`| ${s.t.toFixed(0)} | ${s.rssMB.toFixed(1)} | ${s.anonMB.toFixed(1)} | ${s.fileMB.toFixed(1)} | ${s.cpuSec.toFixed(1)} |`);
    console.log(
      `\n| run | duration s | frames/s | start-up peak MB (VmHWM, first ${WARMUP_SECONDS + 5} s) | peak MB after start-up (VmHWM) | RSS max MB (10 s samples) | of which anonymous / file-backed | RSS end MB | RSS trend MB/10 min | CPU % of one core |`,
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of [idle, busy]) {
      console.log(
        `| ${r.label} | ${r.seconds.toFixed(0)} | ${r.fps.toFixed(0)} | ${r.startPeak.toFixed(1)} | ${r.peakAfter.toFixed(1)} | ${r.rssMax.toFixed(1)} | ${r.anonAtMax.toFixed(1)} / ${r.fileAtMax.toFixed(1)} | ${r.rssLast.toFixed(1)} | ${r.slope.toFixed(2)} | ${r.cpu.toFixed(1)} |`,
      );
    }
    console.log(`\nbusy/idle: RSS ${(busy.rssMax / idle.rssMax).toFixed(2)}×, CPU ${(busy.cpu / Math.max(0.1, idle.cpu)).toFixed(1)}×`);
    console.log(
      `budget: RSS < 80 MB after start-up -> ${Math.max(busy.rssMax, busy.peakAfter || 0) < 80 ? 'met' : 'NOT met'} (peak ${(busy.peakAfter || busy.rssMax).toFixed(1)} MB); ` +
        `trend ${Math.abs(busy.slope) < 2 ? 'flat' : 'NOT flat'} (${busy.slope.toFixed(2)} MB/10 min); start-up peak ${busy.startPeak.toFixed(1)} MB`,
    );
  } finally {
    await mq.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
