/**
 * The small typed interfaces where the pipeline stages meet:
 *
 *   sources -> decode -> signal samples -> campaigns (engine) -> batches -> store -> upload
 *
 * No stage imports another stage's internals; they share only these shapes.
 * All times inside edgewise are milliseconds since the Unix epoch as a float (µs resolution
 * survives: a double keeps ~0.25 µs at today's epoch).
 */

/** One CAN / CAN FD frame as read from a bus or a log. */
export interface CanFrame {
  /** Receive time, ms since the epoch (candump's `(1700000000.000100)` is 1700000000000.1). */
  timeMs: number;
  /** Interface name as the source knows it (`can0`, `vcan1`, ...). */
  iface: string;
  /** Arbitration id without flag bits (11 or 29 bits; for error frames the error class bits). */
  id: number;
  /** 29-bit id. `0x123` standard and `0x00000123` extended are different messages. */
  extended: boolean;
  /** CAN FD frame (`##` in candump). */
  fd: boolean;
  /** CAN FD bit-rate switch / error state indicator flags. */
  brs: boolean;
  esi: boolean;
  /** Remote transmission request. */
  remote: boolean;
  /** Error frame (CAN_ERR_FLAG). */
  error: boolean;
  /**
   * Payload. Sources may hand out a view into a reused buffer: a consumer that keeps the
   * bytes beyond the callback must copy them.
   */
  data: Uint8Array;
}

/** Receives frames. Returning nothing keeps the hot path allocation-free. */
export type FrameHandler = (frame: CanFrame) => void;

/** Primitive types a signal can have (FleetWise's primitive types). */
export type SignalType =
  | 'bool'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float32'
  | 'float64'
  | 'string';

/** A signal value: numbers for almost everything, bigint only where an integer exceeds 2^53. */
export type SignalValue = number | bigint | string | boolean;

/** Compression a campaign asks for on its uploaded batches. `OFF` and `SNAPPY` as FleetWise; `BROTLI` is stronger. */
export type CompressionMode = 'OFF' | 'SNAPPY' | 'BROTLI';

/** The samples of one signal collected into a batch, oldest first. */
export interface CollectedSignal {
  /** Fully qualified name from the manifest, e.g. `Vehicle.Powertrain.Speed`. */
  name: string;
  type: SignalType;
  /** Data partition id from the campaign (`default` when none). */
  partitionId: string;
  timesMs: number[];
  values: SignalValue[];
}

/** Active DTCs read at one moment (OBD mode 03), e.g. `P0133`. */
export interface DtcSnapshot {
  timeMs: number;
  codes: string[];
}

/** What the campaign engine hands to the next stage when a collection event completes. */
export interface CollectedBatch {
  campaign: string;
  /** The campaign's edgewise `version` field (0 when absent). */
  campaignVersion: number;
  /** FleetWise priority: lower number = more important. */
  priority: number;
  /** Unique per campaign and vehicle run: FleetWise style counter | (ms << 8), MSB cleared. */
  eventId: number;
  /** Time of the sample that fired the trigger (time-based: the scheduled tick). */
  triggerTimeMs: number;
  compression: CompressionMode;
  /** `TO_DISK` in FleetWise; edgewise always stores, this only marks the campaign's wish. */
  spooling: 'OFF' | 'TO_DISK';
  /** Names of the conditions that fired (MULTI_RISING_EDGE_TRIGGER); empty otherwise. */
  triggeredBy: string[];
  signals: CollectedSignal[];
  dtcs: DtcSnapshot[];
}

/** Receives completed batches from the engine. */
export type BatchHandler = (batch: CollectedBatch) => void;

/** Storage limits of one data partition (campaign `dataPartitions[].storageOptions`), enforced by the store. */
export interface PartitionLimits {
  /** Cap on the bytes this partition may hold; its oldest batches are evicted beyond it. */
  maxBytes?: number;
  /** Batches older than this (by createdMs) are deleted by `expire`. */
  ttlMs?: number;
}

/** The key a data partition is known by in the store's limits and the upload gates. */
export function partitionKey(campaign: string, partitionId: string): string {
  return `${campaign}/${partitionId}`;
}

/** A batch as the store keeps it: encoded (and compressed) parts, each ≤ the MQTT payload limit. */
export interface StoredBatch {
  /** Per-vehicle monotonically increasing sequence number (survives restarts); also in every part's header. */
  seq: number;
  priority: number;
  createdMs: number;
  campaign: string;
  partitionId: string;
  /** Encoded payloads, each published as one MQTT message. */
  parts: Uint8Array[];
  /** Sum of the parts' sizes. */
  bytes: number;
}

/** What the uploader needs from the store. */
export interface UploadQueue {
  /**
   * The most important (lowest priority number), then oldest stored batch whose seq is not in
   * `exclude` (in flight) and that `accept` allows (partition upload conditions); undefined when none.
   */
  next(
    exclude: ReadonlySet<number>,
    accept?: (batch: { seq: number; partitionId: string; campaign: string; priority: number; createdMs: number }) => boolean,
  ): Promise<StoredBatch | undefined>;
  /** Delete a batch after the broker acknowledged every one of its parts. */
  remove(seq: number): Promise<void>;
  /** Listener called whenever a batch is stored, so an idle uploader wakes up. Returns an unsubscribe function. */
  onAppend(listener: () => void): () => void;
}

// ---------------------------------------------------------------- sources (hand-over to the daemon)

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
  /** One value of manifest signal `signalId` (the one `SampleSink`). */
  sample: SampleSink;
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

/**
 * The one sample sink: receives one decoded value of manifest signal `signalId` (the campaign
 * engine's `ingest`). Decoders (`ManifestBinding.dispatch`) and signal sources deliver to it.
 */
export type SampleSink = (signalId: number, timeMs: number, value: SignalValue) => void;
