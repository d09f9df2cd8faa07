/**
 * `edgewise replay <log> --iface vcan0`: plays a candump log onto SocketCAN interfaces, like
 * can-utils' canplayer: original timing (or scaled, or as fast as possible), interface mapping,
 * looping, a progress bar and a summary of frames sent and dropped. The daemon (or candump)
 * reads the bus like any other.
 */
import { createReadStream, statSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { EdgewiseError } from '../../errors.js';
import type { CanFrame } from '../../types.js';
import { candumpChunks, type CandumpInput, type CandumpStats } from '../../sources/index.js';
import { SocketCanWriter } from '../../can/index.js';

export interface ReplayOptions {
  /** Interface for every frame whose log interface is not in `map`. */
  iface?: string;
  /** Log interface -> output interface. */
  map: Record<string, string>;
  /** 1 = original timing, N = N× faster, 'max' = no pacing. */
  speed: number | 'max';
  loop: boolean;
  /** Stop after this many frames (0 = no limit). */
  limit: number;
  fd: boolean;
  signal?: AbortSignal;
  onProgress?: (p: ReplayProgress) => void;
}

export interface ReplayProgress {
  sent: number;
  dropped: number;
  bytesRead: number;
  totalBytes?: number;
  pass: number;
}

export interface ReplaySummary {
  log: string;
  sent: number;
  /** Frames the kernel refused or that could not be queued (transmit queue full for too long). */
  dropped: number;
  /** Frames of log interfaces that are not mapped (only with --map and no --iface). */
  skipped: number;
  badLines: number;
  passes: number;
  /** Log time covered by the frames sent, seconds (at --speed N the replay takes logSeconds / N). */
  logSeconds: number;
  seconds: number;
  framesPerSecond: number;
  interfaces: Record<string, { sent: number; dropped: number; lastDropReason?: string }>;
  interrupted: boolean;
}

/** Frames due within this many ms are sent together instead of sleeping for each. */
const PACING_SLACK_MS = 2;
/** How long a full transmit queue is waited for before its frames count as dropped. */
const TX_FULL_GIVE_UP_MS = 2000;

export function parseMap(text: string | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  if (text === undefined || text === '') return map;
  for (const part of text.split(',')) {
    const m = /^([A-Za-z0-9_.-]{1,15})=([A-Za-z0-9_.-]{1,15})$/.exec(part.trim());
    if (!m) throw new EdgewiseError('USAGE', `--map: expected logIface=busIface[,...], got "${part}"`);
    map[m[1]] = m[2];
  }
  return map;
}

export function parseSpeed(text: string): number | 'max' {
  if (text === 'max') return 'max';
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new EdgewiseError('USAGE', `--speed must be a positive number or "max", got "${text}"`);
  return n;
}

/** Plays `log` (path, `-` = stdin) onto the interfaces. Resolves with the summary (also when aborted). */
export async function replayLog(log: string, opts: ReplayOptions): Promise<ReplaySummary> {
  const writers = new Map<string, SocketCanWriter>();
  const writerFor = (iface: string): SocketCanWriter => {
    let w = writers.get(iface);
    if (w === undefined) {
      w = new SocketCanWriter(iface, { fd: opts.fd });
      writers.set(iface, w);
    }
    return w;
  };
  // Open the named interfaces up front: a typo fails before anything is sent.
  if (opts.iface !== undefined) writerFor(opts.iface);
  for (const v of Object.values(opts.map)) writerFor(v);
  const hasMap = Object.keys(opts.map).length > 0;

  const signal = opts.signal;
  let started = performance.now();
  // Pacing origin: the moment the first frame is handled (input may arrive late, e.g. from a pipe).
  let wallStart = 0;
  let sent = 0;
  let skipped = 0;
  let badLines = 0;
  let passes = 0;
  let bytesRead = 0;
  let totalBytes: number | undefined;
  let lastProgress = 0;
  const dirty = new Set<SocketCanWriter>();

  const dropped = (): number => {
    let d = 0;
    for (const w of writers.values()) d += w.dropped;
    return d;
  };
  const progress = (force: boolean): void => {
    if (!opts.onProgress) return;
    const now = performance.now();
    if (!force && now - lastProgress < 200) return;
    lastProgress = now;
    opts.onProgress({ sent, dropped: dropped(), bytesRead, totalBytes, pass: passes + 1 });
  };
  /** Sends everything queued; waits while a transmit queue is full. */
  const flushAll = async (): Promise<void> => {
    for (const w of dirty) {
      let waitedFrom = 0;
      for (;;) {
        const before = w.sent;
        const err = w.flush();
        sent += w.sent - before;
        if (err === 0) break;
        const now = performance.now();
        if (w.sent !== before || waitedFrom === 0) waitedFrom = now;
        else if (now - waitedFrom > TX_FULL_GIVE_UP_MS) {
          w.discard('transmit queue full');
          break;
        }
        await sleep(1);
      }
    }
    dirty.clear();
  };

  let limitReached = false;
  // Log time -> output time: the first frame is sent now; later passes continue 1 ms after the last frame.
  let logStart: number | undefined;
  let passOffset = 0;
  let lastT = 0;
  let nowCache = Date.now();
  try {
    do {
      const stats: CandumpStats = { lines: 0, frames: 0, badLines: 0, firstBadLines: [], aborted: false };
      let input: CandumpInput = log;
      if (log !== '-' && opts.onProgress) {
        totalBytes = statSync(log).size;
        const counter = new PassThrough();
        const passBase = bytesRead;
        let n = 0;
        counter.on('data', (b: Buffer) => {
          n += b.length;
          bytesRead = passBase + n;
        });
        // The counter is the reader's input: it sees the raw (maybe gzip) bytes.
        input = createReadStream(log).pipe(counter);
        totalBytes = opts.loop ? undefined : totalBytes;
      }
      let passFirst: number | undefined;
      for await (const chunk of candumpChunks(input, { signal, stats, onBadLine: () => badLines++ })) {
        for (const frame of chunk.frames as CanFrame[]) {
          if (signal?.aborted) break;
          const target = opts.map[frame.iface] ?? opts.iface ?? (hasMap ? undefined : frame.iface);
          if (target === undefined) {
            skipped++;
            continue;
          }
          if (logStart === undefined) {
            logStart = frame.timeMs;
            wallStart = Date.now();
            nowCache = wallStart;
            started = performance.now();
          }
          if (passFirst === undefined) {
            passFirst = frame.timeMs;
            if (passes > 0) passOffset = lastT + 1 - (frame.timeMs - logStart);
          }
          const t = frame.timeMs - logStart + passOffset;
          lastT = t;
          if (opts.speed !== 'max') {
            const due = wallStart + t / opts.speed;
            if (due - nowCache > PACING_SLACK_MS) {
              nowCache = Date.now();
              if (due - nowCache > PACING_SLACK_MS) {
                await flushAll();
                progress(false);
                nowCache = Date.now();
                const wait = due - nowCache;
                if (wait > PACING_SLACK_MS) {
                  await sleep(wait, undefined, { signal }).catch(() => undefined);
                  if (signal?.aborted) break;
                  nowCache = Date.now();
                }
              }
            }
          }
          const w = writerFor(target);
          if (w.full) await flushAll();
          w.add(frame);
          dirty.add(w);
          if (opts.limit > 0 && sent + pendingCount(dirty) >= opts.limit) {
            limitReached = true;
            break;
          }
        }
        await flushAll();
        progress(false);
        if (limitReached || signal?.aborted) break;
        if (opts.speed === 'max') await new Promise((r) => setImmediate(r));
      }
      passes++;
      if (stats.inputError) throw new EdgewiseError('LOG_FORMAT', `${log}: ${stats.inputError}`, { file: log });
      if (passFirst === undefined) break; // nothing playable: do not spin
    } while (opts.loop && !limitReached && !signal?.aborted);
    await flushAll();
  } finally {
    for (const w of writers.values()) w.close();
  }
  progress(true);
  const seconds = (performance.now() - started) / 1000;
  const interfaces: ReplaySummary['interfaces'] = {};
  for (const [name, w] of writers) {
    interfaces[name] = { sent: w.sent, dropped: w.dropped, ...(w.lastDropReason ? { lastDropReason: w.lastDropReason } : {}) };
  }
  return {
    log,
    sent,
    dropped: dropped(),
    skipped,
    badLines,
    passes,
    logSeconds: Math.round(lastT) / 1000,
    seconds: Math.round(seconds * 1000) / 1000,
    framesPerSecond: seconds > 0 ? Math.round(sent / seconds) : 0,
    interfaces,
    interrupted: signal?.aborted === true,
  };
}

function pendingCount(ws: Set<SocketCanWriter>): number {
  let n = 0;
  for (const w of ws) n += w.pending;
  return n;
}

interface ReplayCliOptions {
  iface?: string;
  map?: string;
  speed: string;
  loop?: boolean;
  limit?: string;
  fd: boolean;
  json?: boolean;
  progress: boolean;
}

export function register(program: Command): void {
  program
    .command('replay')
    .description('play a candump log onto SocketCAN interfaces (vcan0, can0) with its original timing, like canplayer')
    .argument('<log>', 'candump -L/-l log, plain or .gz (- = stdin)')
    .option('--iface <name>', 'send every frame on this interface (unless --map names its log interface)')
    .option('--map <log=bus,...>', 'send frames of log interface LOG on BUS, e.g. can0=vcan0,can1=vcan1')
    .option('--speed <1|N|max>', 'timing: 1 = as recorded, N = N times faster, max = as fast as possible', '1')
    .option('--loop', 'start again at the end (until interrupted)')
    .option('--limit <frames>', 'stop after this many frames')
    .option('--no-fd', 'open the interfaces for classic CAN only')
    .option('--json', 'print the summary as JSON')
    .addOption(new Option('--no-progress', 'no progress bar on stderr'))
    .addHelpText(
      'after',
      `
Without --iface and --map, each frame goes to the interface named in the log.
The summary counts frames sent, dropped (refused by the kernel, e.g. CAN FD on a classic
interface, or a transmit queue full for ${TX_FULL_GIVE_UP_MS / 1000} s) and skipped (log interfaces not mapped).
Exit status 3 when frames were dropped.

Examples:
  sudo scripts/setup-vcan.sh vcan0
  edgewise replay examples/drive.log.gz --iface vcan0
  edgewise replay trip.log.gz --map can0=vcan0,can1=vcan1 --speed 2 --loop`,
    )
    .action(async (log: string, o: ReplayCliOptions) => {
      const map = parseMap(o.map);
      const speed = parseSpeed(o.speed);
      let limit = 0;
      if (o.limit !== undefined) {
        limit = Number(o.limit);
        if (!Number.isInteger(limit) || limit <= 0) throw new EdgewiseError('USAGE', `--limit must be a positive whole number, got "${o.limit}"`);
      }
      const ac = new AbortController();
      const onSignal = (): void => ac.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const showBar = o.progress !== false && process.stderr.isTTY === true;
      const cliProgress = showBar ? (await import('cli-progress')).default : undefined;
      const bar = cliProgress
        ? new cliProgress.SingleBar(
            {
              format: 'replay [{bar}] {percentage}% | {sent} sent | {dropped} dropped | pass {pass}',
              hideCursor: true,
              clearOnComplete: true,
              stream: process.stderr,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      let barStarted = false;
      let summary: ReplaySummary;
      try {
        summary = await replayLog(log, {
          iface: o.iface,
          map,
          speed,
          loop: o.loop === true,
          limit,
          fd: o.fd,
          signal: ac.signal,
          onProgress: bar
            ? (p) => {
                const total = p.totalBytes ?? 1;
                const value = p.totalBytes === undefined ? 0 : Math.min(p.bytesRead, total);
                if (!barStarted) {
                  bar.start(total, value, { sent: p.sent, dropped: p.dropped, pass: p.pass });
                  barStarted = true;
                } else bar.update(value, { sent: p.sent, dropped: p.dropped, pass: p.pass });
              }
            : undefined,
        });
      } finally {
        if (barStarted) bar?.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else {
        const per = Object.entries(summary.interfaces)
          .map(([k, v]) => `${k}: ${v.sent} sent${v.dropped ? `, ${v.dropped} dropped (${v.lastDropReason ?? 'refused'})` : ''}`)
          .join('; ');
        process.stdout.write(
          `replayed ${log}: ${summary.sent} frames sent, ${summary.dropped} dropped, ${summary.skipped} skipped` +
            `${summary.badLines ? `, ${summary.badLines} bad lines` : ''} in ${summary.seconds.toFixed(1)} s ` +
            `(${summary.framesPerSecond} frames/s${summary.passes > 1 ? `, ${summary.passes} passes` : ''})${summary.interrupted ? ', interrupted' : ''}\n` +
            (per ? `  ${per}\n` : ''),
        );
      }
      if (summary.dropped > 0) process.exitCode = 3;
    });
}
