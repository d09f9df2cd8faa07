/**
 * A recorded candump log played back as a live source: original timing (or scaled, or as fast as
 * possible), optional looping, optional interface renaming, and timestamps rebased to "now" so
 * campaign start/expiry times keep their meaning. The daemon reads it like any bus.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CanFrame, FrameHandler } from '../types.js';
import { candumpPacked, newCanFrame, type CandumpStats } from './candump.js';
import type { FrameSource, SourceStatus } from './source.js';

export interface LogSourceOptions {
  path: string;
  /** Interface rename (`{ can0: 'vcan0' }`). */
  map?: Record<string, string>;
  /** 1 = original timing, N = N× faster, 'max' = no pacing. */
  speed?: number | 'max';
  loop?: boolean;
  /** Shift timestamps so the first frame is "now". */
  rebaseTime?: boolean;
  /** Wall clock (tests). */
  now?: () => number;
  /** Called once per bad log line (counted in status().errors). */
  onBadLine?: (line: number, text: string, reason: string) => void;
}

/** Frames due within this many ms are delivered together instead of sleeping for each. */
const PACING_SLACK_MS = 4;

export class LogSource implements FrameSource {
  readonly name: string;
  private readonly opts: Required<Omit<LogSourceOptions, 'onBadLine' | 'map'>> & Pick<LogSourceOptions, 'onBadLine' | 'map'>;
  private abort = new AbortController();
  private state: SourceStatus['state'] = 'idle';
  private frames = 0;
  private errors = 0;
  private passes = 0;
  private lastError: string | undefined;
  private running: Promise<void> | undefined;
  /** The one frame object handed to the consumer (reused: copy what you keep). */
  private readonly frame = newCanFrame();

  constructor(opts: LogSourceOptions) {
    this.opts = { map: {}, speed: 1, loop: false, rebaseTime: true, now: Date.now, ...opts };
    this.name = `log:${opts.path}`;
  }

  async start(onFrame: FrameHandler): Promise<void> {
    if (this.running) throw new Error('LogSource already started');
    this.abort = new AbortController();
    this.state = 'open';
    this.running = this.run(onFrame).then(
      () => {
        if (this.state === 'open') this.state = 'done';
      },
      (e: unknown) => {
        if (this.abort.signal.aborted) return;
        this.state = 'down';
        this.lastError = (e as Error).message;
        this.errors++;
      },
    );
  }

  /** Resolves when playback ended (end of a non-looping log, stop(), or a read error). */
  get finished(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.state = 'stopped';
    await this.running;
  }

  status(): SourceStatus {
    return {
      name: this.name,
      kind: 'log',
      state: this.state,
      frames: this.frames,
      errors: this.errors,
      detail: { passes: this.passes, ...(this.lastError ? { lastError: this.lastError } : {}) },
    };
  }

  private async run(onFrame: FrameHandler): Promise<void> {
    const { speed, loop, rebaseTime, now, map } = this.opts;
    const signal = this.abort.signal;
    const wallStart = now();
    let logStart: number | undefined;
    // Output time of the first frame: elapsed log time is measured from here.
    let base = 0;
    // Time offset added to every frame: rebasing plus the accumulated length of earlier passes.
    let offset = 0;
    let lastOut = -Infinity;
    do {
      const stats: CandumpStats = { lines: 0, frames: 0, badLines: 0, firstBadLines: [], aborted: false };
      let passFirst: number | undefined;
      for await (const chunk of candumpPacked(this.opts.path, {
        signal,
        stats,
        lowMemory: speed !== 'max',
        onBadLine: (line, text, reason) => {
          this.errors++;
          this.opts.onBadLine?.(line, text, reason);
        },
      })) {
        for (let i = 0; i < chunk.n; i++) {
          if (signal.aborted) return;
          const frame = chunk.read(i, this.frame);
          if (logStart === undefined) {
            logStart = frame.timeMs;
            offset = rebaseTime ? wallStart - logStart : 0;
            base = logStart + offset;
          }
          if (passFirst === undefined) {
            passFirst = frame.timeMs;
            if (this.passes > 0) offset = lastOut - passFirst + 1; // continue 1 ms after the previous pass
          }
          const t = frame.timeMs + offset;
          if (speed !== 'max') {
            const due = wallStart + (t - base) / speed;
            const wait = due - now();
            if (wait > PACING_SLACK_MS) {
              await sleep(wait, undefined, { signal }).catch(() => undefined);
              if (signal.aborted) return;
            }
          }
          lastOut = t;
          this.deliver(frame, t, map, onFrame);
        }
        if (speed === 'max') await new Promise((r) => setImmediate(r)); // let timers and I/O run between chunks
      }
      this.passes++;
      if (passFirst === undefined) break; // empty log: do not spin
    } while (loop && !signal.aborted);
  }

  private deliver(frame: CanFrame, t: number, map: Record<string, string> | undefined, onFrame: FrameHandler): void {
    frame.timeMs = t;
    const renamed = map?.[frame.iface];
    if (renamed !== undefined) frame.iface = renamed;
    this.frames++;
    onFrame(frame);
  }
}
