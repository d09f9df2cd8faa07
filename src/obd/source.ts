/**
 * The daemon's OBD-II source: polls the manifest's OBD signals through an ELM327 adapter or
 * ISO-TP on SocketCAN and hands their values (by manifest signal id) and the active DTCs to
 * the sink. It never ends on its own: a lost adapter is state `down` and reopened with backoff.
 */
import type { Manifest } from '../manifest/index.js';
import { ElmTransport, IsoTpTransport, type ObdTransport } from './transport.js';
import { ObdPoller, type PollSignal } from './poller.js';
import type { CanPort } from './isotp.js';
import type { Logger } from '../log.js';
import { openSocketCanPort } from './socketcan-port.js';
import type { Duplex } from 'node:stream';
import { DTC_SERVICE_BY_NAME, type ObdSourceConfig } from './config.js';
import type { SignalSink, SignalSource, SourceStatus } from '../types.js';

export interface ObdSourceOptions {
  config: ObdSourceConfig;
  /** The OBD signals come from here (`obd: { service, pid, interface? }`). */
  manifest: Pick<Manifest, 'signals'>;
  log?: Logger;
  /** ISO-TP: opens the raw CAN port (default: SocketCAN via the `socketcan` package). */
  openCanPort?: (iface: string) => Promise<CanPort & { close(): void | Promise<void>; onDown?(cb: (e: Error) => void): void }>;
  /** ELM327: opens the byte stream (default: serial device or TCP from `config.port`). */
  openStream?: () => Promise<Duplex>;
  /** Poll a signal's PID only while this says it is wanted (e.g. the engine's `isWanted`). Default: all. */
  wanted?: (signalId: number) => boolean;
  /** Poll DTCs only while this is true (some campaign has `diagnosticsMode: SEND_ACTIVE_DTCS`). Default: per config. */
  dtcsWanted?: () => boolean;
}

/** The manifest signals an OBD source with this config serves. */
export function obdSignalsFor(manifest: Pick<Manifest, 'signals'>, iface: string | undefined): PollSignal[] {
  const out: PollSignal[] = [];
  for (const s of manifest.signals) {
    if (!s.obd) continue;
    if (iface !== undefined && s.obd.interface !== undefined && s.obd.interface !== iface) continue;
    out.push({ id: s.id, name: s.name, type: s.type, service: s.obd.service, pid: s.obd.pid });
  }
  return out;
}

function makeTransport(o: ObdSourceOptions): ObdTransport {
  const c = o.config;
  if (c.transport === 'isotp') {
    const iface = c.canInterface!;
    return new IsoTpTransport({
      iface,
      openPort: () => (o.openCanPort ?? openSocketCanPort)(iface),
      addressing: c.addressing,
      broadcast: c.broadcast,
      p2Ms: c.p2Ms,
      maxPidsPerRequest: c.maxPidsPerRequest,
    });
  }
  return new ElmTransport({
    address: c.port!,
    baudRate: c.baudRate,
    protocol: c.protocol,
    commandTimeoutMs: c.requestTimeoutMs,
    maxPidsPerRequest: c.maxPidsPerRequest,
    open: o.openStream,
  });
}

export class ObdSource implements SignalSource {
  readonly name: string;
  readonly finished: Promise<void>;
  private readonly poller: ObdPoller;
  private started = false;
  private stopped = false;
  private endFinished!: () => void;
  private readonly config: ObdSourceConfig;

  /** Throws MANIFEST_INVALID when a manifest OBD signal has no formula (unknown PID / service). */
  constructor(opts: ObdSourceOptions) {
    const c = opts.config;
    this.config = c;
    this.name = c.name;
    this.finished = new Promise((r) => (this.endFinished = r));
    const pids = new Map<number, { intervalMs?: number; ecu?: string }>();
    for (const [k, v] of Object.entries(c.pids)) {
      pids.set(parseInt(k.replace(/^0x/i, ''), 16), typeof v === 'number' ? { intervalMs: v } : v);
    }
    this.poller = new ObdPoller({
      transport: makeTransport(opts),
      signals: obdSignalsFor(opts.manifest, c.interface),
      intervalMs: c.intervalMs,
      pids,
      dtcs: { enabled: c.dtcs.enabled, intervalMs: c.dtcs.intervalMs, services: c.dtcs.services.map((s) => DTC_SERVICE_BY_NAME[s]) },
      reconnect: c.reconnect,
      log: opts.log,
      wanted: opts.wanted,
      dtcsWanted: opts.dtcsWanted,
    });
  }

  /** Starts polling and resolves at once: an adapter that is not plugged in yet is state `down`, retried. */
  async start(sink: SignalSink): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.poller.start(sink);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.poller.stop();
    this.endFinished();
  }

  status(): SourceStatus {
    const p = this.poller;
    const st = p.currentState;
    const state: SourceStatus['state'] =
      st === 'open' ? 'open' : st === 'stopped' ? 'stopped' : st === 'idle' ? 'idle' : st === 'connecting' && p.stats.requests === 0 && !p.lastError ? 'idle' : 'down';
    return {
      name: this.name,
      kind: 'obd',
      state,
      frames: p.stats.samples,
      errors: p.stats.timeouts + p.stats.errors,
      detail: { address: this.config.transport === 'isotp' ? this.config.canInterface : this.config.port, ...p.detail() },
    };
  }
}
