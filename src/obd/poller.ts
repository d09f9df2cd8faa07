/**
 * The OBD-II poller: opens a transport, discovers which PIDs each ECU supports, then polls the
 * manifest's PIDs each at its own interval (below 1 s allowed), batching up to the transport's
 * limit per request, polls DTCs (03 / 07 / 0A) and service 09 strings (VIN), and survives
 * adapters being unplugged (state down, reopen with backoff).
 */
import { EdgewiseError } from '../errors.js';
import type { SignalSink, SignalType, SignalValue } from '../types.js';
import { hex2, isBitmapPid, pidDef, supportedFromBitmap, type PidDef } from './pids.js';
import { decodeCurrentData, decodeDtcs, decodeVin, asciiField, vehicleInfoPayload } from './services.js';
import type { ObdAnswer, ObdTransport } from './transport.js';
import { silentLogger, type Logger } from '../log.js';

/** A manifest signal served by OBD. */
export interface PollSignal {
  id: number;
  name: string;
  type: SignalType;
  service: number;
  pid: number;
}

export interface PollerOptions {
  transport: ObdTransport;
  signals: readonly PollSignal[];
  /** Interval of PIDs without their own. Default 1000 ms. */
  intervalMs?: number;
  /** Per-PID interval (ms) and preferred ECU (`7E8`). */
  pids?: ReadonlyMap<number, { intervalMs?: number; ecu?: string }>;
  dtcs?: { enabled: boolean; intervalMs: number; services: readonly number[] };
  reconnect?: { minMs: number; maxMs: number };
  /** Poll a PID only while one of its signals is wanted (e.g. `engine.isWanted`); checked when it is due. Default: always. */
  wanted?: (signalId: number) => boolean;
  /** Poll DTCs only while this is true (a campaign with `diagnosticsMode: SEND_ACTIVE_DTCS` is active). Default: always. */
  dtcsWanted?: () => boolean;
  /** Consecutive requests without any answer before the link is reopened. Default 5. */
  maxFailures?: number;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

export type PollerState = 'idle' | 'connecting' | 'open' | 'down' | 'stopped';

interface PidJob {
  pid: number;
  def: PidDef;
  intervalMs: number;
  next: number;
  /** Preferred ECU from the config, else the first (lowest id) ECU supporting the PID. */
  ecu?: string;
  /** The ECU whose answers feed the signals (after discovery). */
  ecuChosen?: string;
  signals: PollSignal[];
  supported: boolean;
}

function toSignalValue(type: SignalType, v: number | boolean | string): SignalValue {
  if (type === 'bool') return typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0 : v !== '';
  if (type === 'string') return String(v);
  const n = typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
  if (type === 'float32' || type === 'float64') return n;
  return Math.round(n);
}

export class ObdPoller {
  private readonly o: PollerOptions;
  private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
  private readonly jobs: PidJob[] = [];
  private readonly infoSignals: PollSignal[] = [];
  private state: PollerState = 'idle';
  private stopping = false;
  private wake: (() => void) | undefined;
  private linkLost: Error | undefined;
  private loop: Promise<void> | undefined;
  private sink: SignalSink | undefined;
  /** Scheduling runs on the monotonic clock (`performance.now()`); sample times are wall clock. */
  private dtcNext = 0;
  private failures = 0;
  private link: Record<string, unknown> = {};
  /** ECU -> supported service 01 PIDs. */
  private readonly supported = new Map<string, Set<number>>();
  /** ECU -> PID -> last value. */
  private readonly values = new Map<string, Map<string, unknown>>();
  private lastDtcs: { timeMs: number; codes: string[] } | undefined;
  readonly stats = { requests: 0, answers: 0, samples: 0, noData: 0, timeouts: 0, errors: 0, overruns: 0, reconnects: 0 };
  lastError: string | undefined;
  /** The last 10 link errors, oldest first, with their time. */
  readonly recentErrors: string[] = [];

  constructor(opts: PollerOptions) {
    this.o = opts;
    this.log = opts.log ?? silentLogger;
    const byPid = new Map<number, PidJob>();
    const problems: string[] = [];
    for (const s of opts.signals) {
      if (s.service === 0x09) {
        if (s.pid !== 0x02 && s.pid !== 0x04 && s.pid !== 0x0a) problems.push(`${s.name}: service 09 PID ${hex2(s.pid)} is not supported (02 VIN, 04 calibration id, 0A ECU name)`);
        else this.infoSignals.push(s);
        continue;
      }
      if (s.service !== 0x01) {
        problems.push(`${s.name}: OBD service ${hex2(s.service)} cannot be polled (01 current data, 09 vehicle information)`);
        continue;
      }
      const def = pidDef(s.pid);
      if (!def || s.pid > 0xff) {
        problems.push(`${s.name}: service 01 PID ${s.pid.toString(16).toUpperCase()} has no formula in edgewise (see \`edgewise obd pids\`)`);
        continue;
      }
      let job = byPid.get(s.pid);
      if (!job) {
        const cfg = opts.pids?.get(s.pid);
        job = { pid: s.pid, def, intervalMs: cfg?.intervalMs ?? opts.intervalMs ?? 1000, next: 0, ecu: cfg?.ecu?.toUpperCase(), signals: [], supported: true };
        byPid.set(s.pid, job);
        this.jobs.push(job);
      }
      job.signals.push(s);
    }
    if (problems.length) throw new EdgewiseError('MANIFEST_INVALID', `OBD signals: ${problems.join('; ')}`, { problems });
  }

  start(sink: SignalSink): void {
    if (this.loop) return;
    this.sink = sink;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    // Abort a pending open/request (an adapter that does not answer) instead of waiting for its timeout.
    void this.o.transport.close().catch(() => undefined);
    await this.loop;
    this.state = 'stopped';
  }

  get currentState(): PollerState {
    return this.state;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    const min = this.o.reconnect?.minMs ?? 1000;
    const max = this.o.reconnect?.maxMs ?? 30000;
    let backoff = min;
    let attempt = 0;
    const t = this.o.transport;
    t.onDown((e) => {
      this.linkLost = e;
      this.wake?.();
    });
    while (!this.stopping) {
      this.state = 'connecting';
      this.linkLost = undefined;
      try {
        this.link = await t.open();
        attempt++;
        if (attempt > 1) this.stats.reconnects++;
        this.state = 'open';
        this.failures = 0;
        this.log.info({ ...this.link }, 'OBD link open');
        await this.discover();
        backoff = min;
        await this.pollLoop();
      } catch (e) {
        if (!this.stopping) {
          this.lastError = (e as Error).message;
          this.recentErrors.push(`${new Date().toISOString()} ${this.lastError}`);
          if (this.recentErrors.length > 10) this.recentErrors.shift();
          this.log.warn({ err: this.lastError, retryInMs: backoff }, 'OBD link down');
        }
      }
      await t.close().catch(() => undefined);
      if (this.stopping) break;
      this.state = 'down';
      await this.sleep(backoff);
      backoff = Math.min(max, backoff * 2);
    }
  }

  private async ask(req: Uint8Array, ecus?: ReadonlySet<string>): Promise<ObdAnswer> {
    if (this.linkLost) throw this.linkLost;
    this.stats.requests++;
    const a = await this.o.transport.request(req, ecus);
    if (a.messages.length > 0) {
      this.stats.answers++;
      this.failures = 0;
    } else {
      if (a.error === 'TIMEOUT') this.stats.timeouts++;
      else if (a.error === 'NO_DATA') this.stats.noData++;
      else this.stats.errors++;
      if (++this.failures >= (this.o.maxFailures ?? 5)) {
        throw new EdgewiseError('IO', `OBD: ${this.failures} requests in a row without an answer (last: ${a.error ?? 'nothing'})`);
      }
    }
    return a;
  }

  private get knownEcus(): ReadonlySet<string> {
    return new Set(this.supported.keys());
  }

  /** Supported-PID discovery: 0100, then 0120, 0140, ... while any ECU announces the next bitmap. */
  private async discover(): Promise<void> {
    this.supported.clear();
    for (let base = 0; base <= 0xe0; base += 0x20) {
      if (base > 0 && ![...this.supported.values()].some((s) => s.has(base))) break;
      const a = await this.ask(Uint8Array.of(0x01, base));
      for (const m of a.messages) {
        if (m.data[0] !== 0x41 || m.data[1] !== base || m.data.length < 6) continue;
        const ecu = m.ecu ?? 'ECU';
        let set = this.supported.get(ecu);
        if (!set) this.supported.set(ecu, (set = new Set()));
        for (const p of supportedFromBitmap(base, m.data, 2)) set.add(p);
      }
    }
    if (this.supported.size === 0) throw new EdgewiseError('IO', 'OBD: no ECU answered the supported-PID request 0100');
    const ecus = [...this.supported.keys()].sort();
    const unsupported: string[] = [];
    const now = performance.now();
    for (const job of this.jobs) {
      const holders = ecus.filter((e) => this.supported.get(e)!.has(job.pid) || isBitmapPid(job.pid));
      job.supported = holders.length > 0;
      if (!job.supported) unsupported.push(`${hex2(job.pid)} (${job.signals.map((s) => s.name).join(', ')})`);
      else if (job.ecu === undefined || !holders.includes(job.ecu)) job.ecuChosen = holders[0];
      else job.ecuChosen = job.ecu;
      job.next = now;
    }
    this.dtcNext = now;
    this.log.info(
      { ecus: Object.fromEntries(ecus.map((e) => [e, [...this.supported.get(e)!].sort((a, b) => a - b).map(hex2)])) },
      'OBD supported PIDs',
    );
    if (unsupported.length) this.log.warn({ pids: unsupported }, 'OBD PIDs not supported by any ECU: not polled');
    // Service 09 strings once per connection.
    for (const s of this.infoSignals) {
      const a = await this.ask(Uint8Array.of(0x09, s.pid), this.knownEcus);
      const byEcu = new Map<string, Uint8Array[]>();
      for (const m of a.messages) {
        const k = m.ecu ?? 'ECU';
        if (!byEcu.has(k)) byEcu.set(k, []);
        byEcu.get(k)!.push(m.data);
      }
      for (const [ecu, msgs] of [...byEcu].sort((x, y) => x[0].localeCompare(y[0]))) {
        const text = s.pid === 0x02 ? decodeVin(msgs) : asciiField(vehicleInfoPayload(msgs, s.pid) ?? new Uint8Array());
        if (!text) continue;
        this.remember(ecu, `09${hex2(s.pid)}`, text);
        this.deliver(s, Date.now(), text);
        break;
      }
    }
  }

  private remember(ecu: string, key: string, value: unknown): void {
    let m = this.values.get(ecu);
    if (!m) this.values.set(ecu, (m = new Map()));
    m.set(key, value);
  }

  private deliver(s: PollSignal, timeMs: number, v: number | boolean | string): void {
    this.stats.samples++;
    try {
      this.sink!.sample(s.id, timeMs, toSignalValue(s.type, v));
    } catch (e) {
      // A consumer failure must not look like a lost adapter.
      this.log.error({ err: (e as Error).message, signal: s.name }, 'OBD sample delivery failed');
    }
  }

  private async pollLoop(): Promise<void> {
    const max = Math.max(1, Math.min(6, this.o.transport.maxPidsPerRequest));
    const dtc = this.o.dtcs;
    const dtcOn = dtc !== undefined && dtc.enabled && dtc.services.length > 0;
    const active = this.jobs.filter((j) => j.supported);
    if (active.length === 0 && !dtcOn) {
      // Nothing to poll: stay connected and idle until stopped or unplugged.
      while (!this.stopping && !this.linkLost) await this.sleep(60_000);
      if (this.linkLost) throw this.linkLost;
      return;
    }
    while (!this.stopping) {
      if (this.linkLost) throw this.linkLost;
      const now = performance.now();
      let soonest = dtcOn ? this.dtcNext : Infinity;
      for (const j of active) if (j.next < soonest) soonest = j.next;
      if (soonest > now) {
        await this.sleep(soonest - now);
        continue;
      }
      if (dtcOn && this.dtcNext <= now && this.dtcNext <= Math.min(...active.map((j) => j.next))) {
        if (this.o.dtcsWanted && !this.o.dtcsWanted()) {
          this.dtcNext = now + dtc.intervalMs;
          continue;
        }
        await this.pollDtcs(dtc.services);
        this.dtcNext = Math.max(this.dtcNext + dtc.intervalMs, performance.now());
        continue;
      }
      const wanted = this.o.wanted;
      const due: PidJob[] = [];
      for (const j of active) {
        if (j.next > now) continue;
        // Nobody collects this PID right now: look again one interval later.
        if (wanted && !j.signals.some((sig) => wanted(sig.id))) j.next = now + j.intervalMs;
        else due.push(j);
      }
      if (due.length === 0) continue;
      due.sort((a, b) => a.next - b.next);
      const batch = due.slice(0, max);
      await this.pollPids(batch);
      const after = performance.now();
      for (const j of batch) {
        if (after - j.next > j.intervalMs) this.stats.overruns++;
        j.next += j.intervalMs;
        if (j.next < after) j.next = after;
      }
    }
  }

  private async pollPids(batch: PidJob[]): Promise<void> {
    const req = Uint8Array.of(0x01, ...batch.map((j) => j.pid));
    // The ECUs that will answer: those supporting at least one PID of the batch (lets transports return early).
    const ecus = new Set<string>();
    for (const [ecu, set] of this.supported) if (batch.some((j) => set.has(j.pid))) ecus.add(ecu);
    const a = await this.ask(req, ecus.size ? ecus : undefined);
    const timeMs = Date.now();
    for (const m of a.messages) {
      if (m.data[0] !== 0x41) continue;
      const ecu = m.ecu ?? 'ECU';
      for (const r of decodeCurrentData(m.data)) {
        if (!r.def) continue;
        const v = r.def.signal(r.raw, 0);
        this.remember(ecu, r.def.hex, r.def.decode(r.raw, 0));
        const job = batch.find((j) => j.pid === r.pid);
        if (!job || (job.ecuChosen !== undefined && m.ecu !== null && job.ecuChosen !== ecu)) continue;
        for (const s of job.signals) this.deliver(s, timeMs, v);
      }
    }
  }

  private async pollDtcs(services: readonly number[]): Promise<void> {
    const codes: string[] = [];
    let ok = false;
    for (const svc of services) {
      const a = await this.ask(Uint8Array.of(svc), this.knownEcus);
      if (a.error === 'NO_DATA') ok = true; // nobody has codes of this kind
      for (const m of a.messages) {
        if (m.data[0] !== svc + 0x40) continue;
        ok = true;
        const list = decodeDtcs(m.data);
        this.remember(m.ecu ?? 'ECU', `dtc${hex2(svc)}`, list);
        for (const c of list) if (!codes.includes(c)) codes.push(c);
      }
    }
    if (!ok) return;
    const timeMs = Date.now();
    this.lastDtcs = { timeMs, codes };
    try {
      this.sink!.dtcs(timeMs, codes);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'OBD DTC delivery failed');
    }
  }

  /** For `SourceStatus.detail`. */
  detail(): Record<string, unknown> {
    const ecus: Record<string, unknown> = {};
    for (const [ecu, set] of this.supported) {
      ecus[ecu] = {
        supported: [...set].sort((a, b) => a - b).map(hex2),
        values: Object.fromEntries(this.values.get(ecu) ?? []),
      };
    }
    return {
      transport: this.o.transport.kind,
      link: this.link,
      ecus,
      pids: this.jobs.map((j) => ({
        pid: j.def.hex,
        name: j.def.name,
        intervalMs: j.intervalMs,
        ecu: j.ecuChosen ?? null,
        supported: j.supported,
        signals: j.signals.map((s) => s.name),
      })),
      dtcs: this.lastDtcs ?? null,
      ...this.stats,
      lastError: this.lastError ?? null,
      recentErrors: this.recentErrors,
    };
  }
}
