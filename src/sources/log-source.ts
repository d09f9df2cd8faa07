/**
 * A recorded candump log played back as a live source: original timing (or scaled, or as fast as
 * possible), optional looping, optional interface renaming, and timestamps rebased to "now" so
 * campaign start/expiry times keep their meaning. The daemon reads it like any bus.
 */
import type { FrameHandler } from '../types.js';
import { newCanFrame } from '../can/index.js';
import { candumpPacked, type CandumpStats, type PackedFrames } from './candump.js';
import type { FrameSource, SourceStatus } from '../types.js';

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

/**
 * Frames due within this many ms are delivered together instead of sleeping for each: one timer
 * per ~10 ms of log time rather than one per frame (frames carry their own log timestamps, so an
 * early delivery changes nothing downstream).
 */
const PACING_SLACK_MS = 10;

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
  /**
   * Pacing state, in number fields so the per-frame loop stores doubles without boxing them
   * (NaN = not seen yet). `base`: output time of the first frame, elapsed log time counts from
   * here; `offset`: added to every frame time (rebasing plus the length of earlier passes);
   * `lastOut`: output time of the last frame delivered; `waitMs`: the wait `pump` asks for.
   */
  private readonly pace = { wallStart: 0, logStart: NaN, base: 0, offset: 0, lastOut: -Infinity, passFirst: NaN, waitMs: 0, rebase: true };
  /** The pending pacing wait: stop() ends it at once. */
  private waitTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private readonly onWake = (): void => {
    this.waitTimer = undefined;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  };

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
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    this.onWake();
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
    const { speed, loop, rebaseTime, now } = this.opts;
    const signal = this.abort.signal;
    const p = this.pace;
    p.wallStart = now();
    p.logStart = NaN;
    p.base = 0;
    p.offset = 0;
    p.lastOut = -Infinity;
    p.rebase = rebaseTime;
    do {
      const stats: CandumpStats = { lines: 0, frames: 0, badLines: 0, firstBadLines: [], aborted: false };
      p.passFirst = NaN;
      for await (const chunk of candumpPacked(this.opts.path, {
        signal,
        stats,
        lowMemory: speed !== 'max',
        onBadLine: (line, text, reason) => {
          this.errors++;
          this.opts.onBadLine?.(line, text, reason);
        },
      })) {
        for (let i = 0; i < chunk.n; ) {
          if (signal.aborted) return;
          i = this.pump(chunk, i, onFrame);
          if (i < chunk.n) {
            await this.sleep(p.waitMs);
            if (signal.aborted) return;
          }
        }
        if (speed === 'max') await new Promise((r) => setImmediate(r)); // let timers and I/O run between chunks
      }
      this.passes++;
      if (Number.isNaN(p.passFirst)) break; // empty log: do not spin
    } while (loop && !signal.aborted);
  }

  /**
   * Delivers the frames of `chunk` from `i` on that are due (or due within the slack) and returns
   * the index of the first one that is not, with the time to wait for it in `pace.waitMs`.
   * Synchronous, and its state lives in `pace` (double fields): the async loop above only wakes up
   * per wait, so nothing is allocated per frame.
   */
  private pump(chunk: PackedFrames, i: number, onFrame: FrameHandler): number {
    const { speed, now, map } = this.opts;
    const p = this.pace;
    const frame = this.frame;
    for (; i < chunk.n; i++) {
      const logTime = chunk.timeAt(i);
      if (Number.isNaN(p.logStart)) {
        p.logStart = logTime;
        p.offset = p.rebase ? p.wallStart - logTime : 0;
        p.base = logTime + p.offset;
      }
      if (Number.isNaN(p.passFirst)) {
        p.passFirst = logTime;
        if (this.passes > 0) p.offset = p.lastOut - logTime + 1; // continue 1 ms after the previous pass
      }
      const t = logTime + p.offset;
      if (speed !== 'max') {
        const wait = p.wallStart + (t - p.base) / speed - now();
        if (wait > PACING_SLACK_MS) {
          p.waitMs = wait;
          return i;
        }
      }
      p.lastOut = t;
      chunk.read(i, frame);
      frame.timeMs = t;
      if (map !== undefined) {
        const renamed = map[frame.iface];
        if (renamed !== undefined) frame.iface = renamed;
      }
      this.frames++;
      onFrame(frame);
    }
    return i;
  }

  /** A plain timer (no AbortSignal listener or promise chain per wait: this runs ~100×/s). */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.waitTimer = setTimeout(this.onWake, ms);
    });
  }
}
