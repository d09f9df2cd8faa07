import type { FrameHandler } from '../types.js';

/** What the daemon, `edgewise status` and the shadow report about a source. */
export interface SourceStatus {
  name: string;
  kind: 'log' | 'socketcan' | 'obd';
  /** idle: not started; open: delivering; down: failed/closed (will be retried where possible); done: finite source ended; stopped: by request. */
  state: 'idle' | 'open' | 'down' | 'done' | 'stopped';
  frames: number;
  /** Bad log lines, error frames, read errors. */
  errors: number;
  detail?: Record<string, unknown>;
}

/** A producer of frames: a log being replayed, a SocketCAN interface, ... */
export interface FrameSource {
  readonly name: string;
  /** Resolves once the source is open and delivering. */
  start(onFrame: FrameHandler): Promise<void>;
  stop(): Promise<void>;
  status(): SourceStatus;
  /** Resolves when a finite source has ended (never for live buses). */
  readonly finished: Promise<void>;
}

/** Receives decoded values from sources that produce signals rather than frames (OBD-II polling). */
export interface SignalSink {
  /** One value of manifest signal `signalId`. */
  sample(signalId: number, timeMs: number, value: number | bigint | string | boolean): void;
  /** The active DTCs read at `timeMs` (OBD mode 03), e.g. `P0133`. */
  dtcs(timeMs: number, codes: string[]): void;
}

/** A producer of signal values (OBD-II over ELM327 or ISO-TP). */
export interface SignalSource {
  readonly name: string;
  start(sink: SignalSink): Promise<void>;
  stop(): Promise<void>;
  status(): SourceStatus;
  readonly finished: Promise<void>;
}
