/**
 * The per-frame hot path of the daemon: frames (and samples from signal sources) through the
 * manifest binding into the campaign engine, advancing engine time and the partition upload
 * gates. Compiled once per campaign change (`bind`); nothing here allocates per frame. Nothing
 * that arrives from a bus may throw out of here: a failing frame is logged and counted.
 */
import type { CanFrame, SampleSink, SignalValue } from '../types.js';
import type { Logger } from '../log.js';
import type { CampaignEngine } from '../campaigns/index.js';
import type { PartitionGates } from '../partitions/index.js';
import type { DecoderTable } from '../decode/index.js';
import type { Manifest, ManifestBinding } from '../manifest/index.js';
import { J1939ActiveDtcs } from '../j1939/index.js';

export interface PipelineOptions {
  engine: CampaignEngine;
  gates: PartitionGates;
  manifest: Manifest;
  /** The compiled DBC of an interface (manifestDecoders). */
  decoders: (iface: string) => DecoderTable;
  log: Pick<Logger, 'error'>;
}

export class Pipeline {
  /** Frames seen, and frames no DBC of their interface knows. */
  readonly stats = { frames: 0, unknown: 0 };
  /** Latest bus time seen (ms); the engine's clock. */
  lastTimeMs = 0;
  /** Wall time of the latest frame (health: data flowing). */
  lastFrameWall = 0;
  private binding: ManifestBinding | undefined;
  private readonly tables = new Map<string, DecoderTable | null>();
  private readonly j1939Dtcs = new J1939ActiveDtcs();
  private observer: ((frame: CanFrame) => void) | undefined;
  private observerIface: string | undefined;
  private readonly sink: SampleSink;
  private readonly engine: CampaignEngine;
  private readonly gates: PartitionGates;

  constructor(private readonly o: PipelineOptions) {
    const engine = (this.engine = o.engine);
    this.gates = o.gates;
    this.sink = (signalId, timeMs, value) => engine.ingest(signalId, timeMs, value);
  }

  /** Route (decode) through this binding from now on (rebuilt when campaigns change). */
  bind(binding: ManifestBinding): void {
    this.binding = binding;
  }

  /** Also show every (non-error) frame of `iface` to `fn` (the commands stage's latest-state view). */
  observeFrames(iface: string, fn: (frame: CanFrame) => void): void {
    this.observerIface = iface;
    this.observer = fn;
  }

  /** Decode errors counted by the current binding. */
  get decodeErrors(): number {
    return this.binding?.stats.decodeErrors ?? 0;
  }

  readonly onFrame = (frame: CanFrame): void => {
    this.stats.frames++;
    if (this.observer !== undefined && frame.iface === this.observerIface && !frame.error) this.observer(frame);
    this.lastFrameWall = Date.now();
    try {
      const b = this.binding!;
      if (b.dispatch(frame, this.sink) === 0 && b.route(frame.iface, frame.id, frame.extended) === undefined) {
        // Not routed: either no campaign needs it (fine) or its DBC does not know it (counted).
        const table = this.tableFor(frame.iface);
        if (!frame.error && (!table || !table.lookup(frame.id, frame.extended))) this.stats.unknown++;
      }
      // J1939 DM1 (any ECU): its active DTCs feed SEND_ACTIVE_DTCS campaigns like OBD-II's.
      if (J1939ActiveDtcs.isDm1(frame) && !frame.error) {
        const codes = this.j1939Dtcs.onDm1(frame);
        if (codes !== undefined) this.onDtcs(frame.timeMs, codes);
      }
      if (frame.timeMs > this.lastTimeMs) this.lastTimeMs = frame.timeMs;
      this.engine.advance(this.lastTimeMs);
      this.gates.tick(this.lastTimeMs);
    } catch (e) {
      // Never crash on data from the bus.
      this.o.log.error({ err: e, iface: frame.iface, id: frame.id }, 'frame processing failed');
    }
  };

  readonly onSample = (signalId: number, timeMs: number, value: SignalValue): void => {
    try {
      if (timeMs > this.lastTimeMs) this.lastTimeMs = timeMs;
      this.engine.ingest(signalId, timeMs, value);
      this.engine.advance(this.lastTimeMs);
    } catch (e) {
      this.o.log.error({ err: e, signalId }, 'sample processing failed');
    }
  };

  readonly onDtcs = (timeMs: number, codes: string[]): void => {
    try {
      this.engine.ingestDtcs(timeMs, codes);
    } catch (e) {
      this.o.log.error({ err: e }, 'DTC processing failed');
    }
  };

  /** Live buses can go quiet: keep time-based campaigns and post-trigger windows moving. */
  idleAdvance(now: number): void {
    if (now - this.lastFrameWall >= 1000 && now > this.lastTimeMs) {
      this.lastTimeMs = now;
      this.engine.advance(now);
      this.gates.tick(now);
    }
  }

  /** The DBC bound to an interface in the manifest (null when none). */
  tableFor(iface: string): DecoderTable | null {
    let t = this.tables.get(iface);
    if (t === undefined) {
      t = this.o.manifest.dbc[iface] !== undefined ? this.o.decoders(iface) : null;
      this.tables.set(iface, t);
    }
    return t;
  }
}
