/**
 * The contract between the daemon (which owns the pipeline) and everything that observes or
 * steers it: the device shadow, IoT Jobs, OTA, `edgewise status`, Prometheus metrics.
 * The daemon implements `AgentControl`; the control plane only talks to this interface.
 */

/** A snapshot of the running agent: what the shadow reports and `edgewise status` prints. */
export interface AgentStatus {
  agent: {
    version: string;
    /** sha256 (hex, first 16 chars) of the effective configuration. */
    configHash: string;
    startedAt: string; // ISO 8601
    uptimeSeconds: number;
    pid: number;
    vehicle: string;
  };
  /** Process memory (bytes) and the periodic full GCs run so far (`memory.gcIntervalSeconds`). */
  memory: { rssBytes: number; heapUsedBytes: number; externalBytes: number; periodicGcs: number };
  campaigns: { name: string; version: number; state: 'waiting' | 'active' | 'expired' | 'disabled'; triggers: number; batches: number }[];
  sources: {
    name: string;
    kind: string;
    state: string;
    frames: number;
    framesPerSecond: number;
    errors: number;
    /** Frames lost where the source can tell (kernel drops, queue overflow). */
    dropped?: number;
  }[];
  decode: { frames: number; unknown: number; errors: number };
  store: {
    bytes: number;
    maxBytes: number;
    batches: number;
    /** Age in seconds of the oldest stored batch; null when empty. */
    oldestAgeSeconds: number | null;
    evictions: number;
    movedAside: number;
  };
  upload: {
    enabled: boolean;
    state: 'connected' | 'connecting' | 'disconnected' | 'disabled';
    endpoint: string;
    lastConnect: string | null;
    reconnects: number;
    published: number;
    acked: number;
    failed: number;
    inFlight: number;
    lastError: string | null;
  };
  settings: RuntimeSettings;
  /** AWS IoT command executions handled since start (absent when `commands.enabled` is false). */
  commands?: { received: number; succeeded: number; failed: number; rejected: number; timedOut: number; duplicates: number };
  lastOta: { jobId: string; version: string; result: 'SUCCEEDED' | 'FAILED' | 'ROLLED_BACK'; reason?: string; at: string } | null;
}

/** Settings that can change while running (device shadow `desired`). Absent = unchanged. */
export interface RuntimeSettings {
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  upload: { maxPublishesPerSecond: number; maxBytesPerSecond: number; enabled: boolean };
  store: { maxBytes: number };
  /** Per-campaign enable switch; campaigns not listed are enabled. */
  campaigns: Record<string, { enabled: boolean }>;
}

/** One change to the campaign set, as a `campaign.deploy` job asks for it. */
export type CampaignChange =
  | { op: 'put'; /** The campaign document (JSON object, FleetWise/edgewise format). */ document: unknown }
  | { op: 'remove'; name: string };

export interface AgentControl {
  status(): AgentStatus;
  /**
   * Apply settings atomically: validated first (throws EdgewiseError CONFIG_INVALID naming the
   * problem, nothing applied), then applied live.
   */
  applySettings(patch: DeepPartial<RuntimeSettings>): RuntimeSettings;
  /**
   * Validate every change against the manifest first (throws CAMPAIGN_INVALID, nothing changed),
   * then persist atomically to the campaigns directory and apply live.
   */
  deployCampaigns(changes: CampaignChange[]): Promise<{ applied: string[] }>;
  /** Upload stored data now, optionally only a time range / partition. Resolves when the matching batches were acknowledged. */
  forceUpload(opts: { fromMs?: number; toMs?: number; partitionId?: string; campaign?: string }): Promise<{ batches: number }>;
  /** Health for OTA: running, connected, shadow + jobs subscribed, data flowing. */
  health(): { running: boolean; connected: boolean; controlSubscribed: boolean; dataFlowing: boolean };
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
