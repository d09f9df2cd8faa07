/**
 * SocketCAN: live frames from one or more CAN / CAN FD interfaces (can0, vcan0, ...) through
 * edgewise's native helper (recvmmsg batches, kernel timestamps, a large SO_RCVBUF and kernel
 * drop counting with SO_RXQ_OVFL / SO_MEMINFO). Frame loss is never silent: every frame the
 * kernel dropped because the socket's queue was full is counted in `status().detail.dropped`.
 *
 * Interface down / bus-off / removal put the interface (and the source) into state `down`; the
 * source keeps checking and re-opens the interface when it is back, the daemon keeps running.
 */
import { newCanFrame } from './frame.js';
import { readFileSync } from 'node:fs';
import type { CanFrame, FrameHandler, FrameSource, SourceStatus } from '../types.js';
import { EdgewiseError } from '../errors.js';
import {
  CAN_EFF_FLAG,
  CAN_EFF_MASK,
  CAN_ERR_BUSOFF,
  CAN_ERR_FLAG,
  CAN_ERR_RESTARTED,
  CAN_RTR_FLAG,
  CAN_SFF_MASK,
  ERRNO,
  MAX_BATCH,
  RECORD_SIZE,
  errnoName,
  loadNativeCan,
  type NativeCan,
  type NativeChannel,
} from './native.js';
import { type Logger } from '../log.js';

export interface SocketCanOptions {
  /** Interfaces to read (`can0`, `vcan0`, ...). */
  interfaces: string[];
  /** Rename interfaces in the frames (`{ vcan0: 'can0' }`), so a bench bus binds the manifest's DBC of `can0`. */
  map?: Record<string, string>;
  /** Receive CAN FD frames too. Default true. */
  fd?: boolean;
  /**
   * Requested socket receive buffer per interface, bytes. Default 8 MiB (the kernel doubles it:
   * ~21,000 queued frames, ~5 s at 4,000 frames/s). 0 = kernel default (~280 frames). Without
   * CAP_NET_ADMIN the kernel caps it at net.core.rmem_max (see docs/can.md, scripts/setup-vcan.sh).
   */
  receiveBufferBytes?: number;
  /** Receive and count error frames. Default true. */
  errorFrames?: boolean;
  /** How often a down interface is checked for recovery (and an open one for being down), ms. Default 1000. */
  checkIntervalMs?: number;
  /** State changes and new drops, for logging. */
  onEvent?: (event: SocketCanEvent) => void;
}

export type SocketCanEvent =
  | { type: 'open'; iface: string; rcvbufBytes: number; requestedBytes: number }
  | { type: 'down'; iface: string; reason: string }
  | { type: 'recovered'; iface: string; downMs: number }
  | { type: 'dropped'; iface: string; dropped: number; total: number }
  | { type: 'bus-error'; iface: string; classBits: number };

export interface SocketCanInterfaceStatus {
  state: 'idle' | 'open' | 'down' | 'stopped';
  frames: number;
  /** Frames the kernel dropped because the receive queue was full. */
  dropped: number;
  errorFrames: number;
  /** Receive buffer the kernel granted (bytes, as the kernel accounts it) and what is queued now. */
  rcvbufBytes: number;
  queuedBytes: number;
  /** Times the interface went down. */
  downs: number;
  lastError?: string;
}

const DEFAULT_RCVBUF = 8 * 1024 * 1024;
const IFF_UP = 0x1;

/** Reads /sys/class/net/<iface>: undefined when the interface does not exist. */
function linkState(iface: string): { up: boolean; reason: string } | undefined {
  let flags: number;
  try {
    flags = Number.parseInt(readFileSync(`/sys/class/net/${iface}/flags`, 'latin1'), 16);
  } catch {
    return undefined;
  }
  if ((flags & IFF_UP) === 0) return { up: false, reason: 'interface down' };
  let oper = 'unknown';
  try {
    oper = readFileSync(`/sys/class/net/${iface}/operstate`, 'latin1').trim();
  } catch {
    // keep unknown
  }
  // vcan reports "unknown"; a real controller in bus-off has no carrier ("down").
  if (oper !== 'up' && oper !== 'unknown') return { up: false, reason: `no carrier (operstate ${oper}; bus-off?)` };
  return { up: true, reason: '' };
}

/** One interface of a SocketCanSource. */
class Channel {
  state: SocketCanInterfaceStatus['state'] = 'idle';
  frames = 0;
  errorFrames = 0;
  /** Drops of sockets closed earlier (re-opens start a new kernel counter). */
  private droppedBefore = 0;
  private socketDrops = 0;
  private rcvbuf = -1;
  downs = 0;
  lastError: string | undefined;
  private downSince = 0;
  private ch: NativeChannel | undefined;
  private readonly buffer = new ArrayBuffer(RECORD_SIZE * MAX_BATCH);
  private readonly u8 = new Uint8Array(this.buffer);
  private readonly u32 = new Uint32Array(this.buffer);
  private readonly f64 = new Float64Array(this.buffer);
  private readonly data = new Uint8Array(64);
  private readonly views: Uint8Array[] = [];
  private readonly frame: CanFrame;
  private onFrame: FrameHandler = () => undefined;

  constructor(
    private readonly native: NativeCan,
    readonly iface: string,
    outName: string,
    private readonly opts: { fd: boolean; rcvbuf: number; errorFrames: boolean; onEvent?: (e: SocketCanEvent) => void },
  ) {
    for (let n = 0; n <= 64; n++) this.views.push(this.data.subarray(0, n));
    this.frame = { ...newCanFrame(), iface: outName, data: this.views[0] };
  }

  get dropped(): number {
    return this.droppedBefore + this.socketDrops;
  }

  /** Opens the socket and starts reading; false (state down, lastError set) when it cannot now. */
  open(onFrame: FrameHandler): boolean {
    this.onFrame = onFrame;
    const link = linkState(this.iface);
    if (link === undefined || !link.up) {
      this.markDown(link === undefined ? 'no such interface' : link.reason);
      return false;
    }
    let ch: NativeChannel;
    try {
      ch = this.native.open(this.iface, { fd: this.opts.fd, rcvbuf: this.opts.rcvbuf, errFrames: this.opts.errorFrames });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAFNOSUPPORT' || code === 'EPROTONOSUPPORT') {
        throw new EdgewiseError('IO', `${this.iface}: this kernel has no SocketCAN (CAN_RAW): ${(e as Error).message}`, { iface: this.iface });
      }
      this.markDown((e as Error).message);
      return false;
    }
    this.ch = ch;
    this.socketDrops = 0;
    this.native.startReading(ch, this.buffer, this.onBatch);
    this.rcvbuf = this.native.stats(ch).rcvbuf;
    const wasDown = this.state === 'down';
    this.state = 'open';
    this.lastError = undefined;
    if (wasDown) this.opts.onEvent?.({ type: 'recovered', iface: this.iface, downMs: Date.now() - this.downSince });
    this.opts.onEvent?.({ type: 'open', iface: this.iface, rcvbufBytes: this.rcvbuf, requestedBytes: this.opts.rcvbuf });
    return true;
  }

  close(): void {
    if (!this.ch) return;
    const ch = this.ch;
    this.ch = undefined;
    try {
      const st = this.native.stats(ch);
      if (st.drops > this.socketDrops) this.socketDrops = st.drops;
    } catch {
      // closed already
    }
    this.droppedBefore += this.socketDrops;
    this.socketDrops = 0;
    this.native.close(ch);
  }

  stop(): void {
    this.close();
    this.state = 'stopped';
  }

  private markDown(reason: string): void {
    this.lastError = reason;
    if (this.state === 'down') return;
    this.state = 'down';
    this.downs++;
    this.downSince = Date.now();
    this.opts.onEvent?.({ type: 'down', iface: this.iface, reason });
  }

  /** Periodic check: notices links that went down without telling the socket, re-opens recovered ones. */
  check(): void {
    if (this.state === 'stopped' || this.state === 'idle') return;
    this.refreshDrops();
    const link = linkState(this.iface);
    if (this.state === 'open') {
      if (link === undefined) {
        this.close();
        this.markDown('interface removed');
      } else if (!link.up) this.markDown(link.reason);
      return;
    }
    // down
    if (link === undefined || !link.up) {
      if (link === undefined && this.ch) this.close();
      this.lastError = link === undefined ? 'no such interface' : link.reason;
      return;
    }
    if (this.ch) {
      // Same socket, link back (down/up or bus-off restart): the socket stays bound and reads again.
      this.state = 'open';
      this.lastError = undefined;
      this.opts.onEvent?.({ type: 'recovered', iface: this.iface, downMs: Date.now() - this.downSince });
    } else this.open(this.onFrame);
  }

  private refreshDrops(): void {
    if (!this.ch) return;
    const st = this.native.stats(this.ch);
    if (st.drops > this.socketDrops) this.noteDrops(st.drops);
  }

  private noteDrops(total: number): void {
    const added = total - this.socketDrops;
    this.socketDrops = total;
    this.opts.onEvent?.({ type: 'dropped', iface: this.iface, dropped: added, total: this.dropped });
  }

  status(): SocketCanInterfaceStatus {
    let queued = 0;
    if (this.ch) {
      const st = this.native.stats(this.ch);
      if (st.drops > this.socketDrops) this.noteDrops(st.drops);
      queued = Math.max(0, st.rmemAlloc);
    }
    return {
      state: this.state,
      frames: this.frames,
      dropped: this.dropped,
      errorFrames: this.errorFrames,
      rcvbufBytes: this.rcvbuf,
      queuedBytes: queued,
      downs: this.downs,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** Called by the native helper with `count` records in the shared buffer. */
  private readonly onBatch = (count: number, drops: number, errno: number): void => {
    if (drops > this.socketDrops) this.noteDrops(drops);
    const u8 = this.u8;
    const u32 = this.u32;
    const f64 = this.f64;
    const data = this.data;
    const f = this.frame;
    for (let i = 0; i < count; i++) {
      const base = i * RECORD_SIZE;
      const raw = u32[base >>> 2];
      const len = u8[base + 4];
      for (let k = 0; k < len; k++) data[k] = u8[base + 16 + k];
      f.timeMs = f64[(base >>> 3) + 1];
      f.data = this.views[len];
      f.fd = u8[base + 6] !== 0;
      const flags = u8[base + 5];
      f.brs = (flags & 1) !== 0;
      f.esi = (flags & 2) !== 0;
      if ((raw & CAN_ERR_FLAG) !== 0) {
        f.error = true;
        f.extended = false;
        f.remote = false;
        f.id = raw & CAN_EFF_MASK & ~CAN_ERR_FLAG;
        this.errorFrames++;
        this.onErrorFrame(f.id);
      } else {
        f.error = false;
        f.extended = (raw & CAN_EFF_FLAG) !== 0;
        f.remote = (raw & CAN_RTR_FLAG) !== 0;
        f.id = f.extended ? raw & CAN_EFF_MASK : raw & CAN_SFF_MASK;
        this.frames++;
      }
      try {
        this.onFrame(f);
      } catch {
        // A consumer error must not stop the bus; the daemon logs its own failures.
      }
    }
    if (errno !== 0) this.onError(errno);
  };

  private onErrorFrame(classBits: number): void {
    if ((classBits & CAN_ERR_BUSOFF) !== 0) this.markDown('bus-off');
    else if ((classBits & CAN_ERR_RESTARTED) !== 0 && this.state === 'down') this.check();
    this.opts.onEvent?.({ type: 'bus-error', iface: this.iface, classBits });
  }

  private onError(errno: number): void {
    if (errno === ERRNO.ENETDOWN) this.markDown('interface down');
    else if (errno === ERRNO.ENODEV) {
      this.close();
      this.markDown('interface removed');
    } else {
      // Anything else: start over with a fresh socket once the link looks fine.
      this.close();
      this.markDown(`read error: ${errnoName(errno)}`);
    }
  }
}

export class SocketCanSource implements FrameSource {
  readonly name: string;
  private readonly channels: Channel[];
  private readonly checkIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private state: SourceStatus['state'] = 'idle';
  private resolveFinished: () => void = () => undefined;
  readonly finished: Promise<void>;

  constructor(opts: SocketCanOptions) {
    if (opts.interfaces.length === 0) throw new EdgewiseError('CONFIG_INVALID', 'socketcan source needs at least one interface');
    const seen = new Set<string>();
    for (const i of opts.interfaces) {
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(i)) throw new EdgewiseError('CONFIG_INVALID', `not a network interface name: "${i}"`);
      if (seen.has(i)) throw new EdgewiseError('CONFIG_INVALID', `interface "${i}" listed twice`);
      seen.add(i);
    }
    const rcvbuf = opts.receiveBufferBytes ?? DEFAULT_RCVBUF;
    const native = loadNativeCan();
    this.channels = opts.interfaces.map(
      (i) =>
        new Channel(native, i, opts.map?.[i] ?? i, {
          fd: opts.fd ?? true,
          rcvbuf,
          errorFrames: opts.errorFrames ?? true,
          onEvent: opts.onEvent,
        }),
    );
    this.checkIntervalMs = opts.checkIntervalMs ?? 1000;
    this.name = `socketcan:${opts.interfaces.join(',')}`;
    // A live bus never finishes on its own; stop() resolves this.
    this.finished = new Promise((r) => (this.resolveFinished = r));
  }

  /**
   * Opens every interface. Resolves once each is open or known to be down (missing, link down):
   * those are retried every `checkIntervalMs` and reported as `down` meanwhile, so a USB adapter
   * plugged in later or a bus that comes up after the agent still works. Throws when the
   * kernel has no SocketCAN or the native helper is missing.
   */
  async start(onFrame: FrameHandler): Promise<void> {
    if (this.state !== 'idle') throw new Error('SocketCanSource already started');
    for (const c of this.channels) c.open(onFrame);
    this.state = 'open';
    this.timer = setInterval(() => {
      for (const c of this.channels) c.check();
    }, this.checkIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.channels) c.stop();
    this.state = 'stopped';
    this.resolveFinished();
  }

  status(): SourceStatus {
    const interfaces: Record<string, SocketCanInterfaceStatus> = {};
    let frames = 0;
    let dropped = 0;
    let errorFrames = 0;
    let anyDown = false;
    let downs = 0;
    for (const c of this.channels) {
      const s = c.status();
      interfaces[c.iface] = s;
      frames += s.frames;
      dropped += s.dropped;
      errorFrames += s.errorFrames;
      downs += s.downs;
      if (s.state === 'down') anyDown = true;
    }
    const state = this.state === 'open' && anyDown ? 'down' : this.state;
    return {
      name: this.name,
      kind: 'socketcan',
      state,
      frames,
      errors: errorFrames,
      detail: { dropped, errorFrames, downs, interfaces },
    };
  }
}

/**
 * Writes frames to one interface in batches (sendmmsg). Frames the kernel rejects (e.g. a CAN FD
 * frame on a classic interface, EINVAL) are dropped and counted; a full transmit queue
 * (ENOBUFS/EAGAIN) leaves the frames queued here for the caller to retry after a short wait.
 */
export class SocketCanWriter {
  sent = 0;
  dropped = 0;
  lastDropReason: string | undefined;
  private readonly native: NativeCan;
  private readonly ch: NativeChannel;
  private readonly buffer = new ArrayBuffer(RECORD_SIZE * MAX_BATCH);
  private readonly u8 = new Uint8Array(this.buffer);
  private readonly u32 = new Uint32Array(this.buffer);
  private head = 0;
  private tail = 0;

  constructor(readonly iface: string, opts: { fd?: boolean } = {}) {
    this.native = loadNativeCan();
    try {
      this.ch = this.native.open(iface, { fd: opts.fd ?? true, receive: false });
    } catch (e) {
      throw new EdgewiseError('IO', `cannot open ${iface}: ${(e as Error).message}`, { iface });
    }
  }

  /** Frames queued and not yet sent. */
  get pending(): number {
    return this.tail - this.head;
  }

  /** True when the batch is full: call flush() before adding more. */
  get full(): boolean {
    return this.tail === MAX_BATCH;
  }

  /** Queues a copy of `f` (the frame object may be reused by the caller). */
  add(f: CanFrame): void {
    if (this.tail === MAX_BATCH) throw new Error('SocketCanWriter batch full: flush() first');
    const base = this.tail * RECORD_SIZE;
    let raw: number;
    if (f.error) raw = (f.id & CAN_EFF_MASK) | CAN_ERR_FLAG;
    else raw = f.extended ? (f.id & CAN_EFF_MASK) | CAN_EFF_FLAG : f.id & CAN_SFF_MASK;
    if (f.remote) raw |= CAN_RTR_FLAG;
    this.u32[base >>> 2] = raw >>> 0;
    const len = Math.min(f.data.length, f.fd ? 64 : 8);
    this.u8[base + 4] = len;
    this.u8[base + 5] = (f.brs ? 1 : 0) | (f.esi ? 2 : 0);
    this.u8[base + 6] = f.fd ? 1 : 0;
    this.u8.set(f.data.length === len ? f.data : f.data.subarray(0, len), base + 16);
    this.tail++;
  }

  /** Sends what is queued. Returns 0 when everything went out, else the errno that stopped it (frames stay queued). */
  flush(): number {
    while (this.head < this.tail) {
      const n = this.native.send(this.ch, this.buffer, this.head, this.tail - this.head);
      if (n > 0) {
        this.head += n;
        this.sent += n;
        continue;
      }
      const errno = -n;
      if (errno === ERRNO.ENOBUFS || errno === ERRNO.EAGAIN) {
        this.compact();
        return errno;
      }
      // The kernel refuses this frame (EINVAL: CAN FD on a classic interface, ENETDOWN, ...): drop it, go on.
      this.head++;
      this.dropped++;
      this.lastDropReason = errnoName(errno);
    }
    this.head = 0;
    this.tail = 0;
    return 0;
  }

  /** Forgets queued frames, counting them as dropped. */
  discard(reason: string): void {
    this.dropped += this.tail - this.head;
    if (this.tail > this.head) this.lastDropReason = reason;
    this.head = 0;
    this.tail = 0;
  }

  close(): void {
    this.native.close(this.ch);
  }

  private compact(): void {
    if (this.head === 0) return;
    this.u8.copyWithin(0, this.head * RECORD_SIZE, this.tail * RECORD_SIZE);
    this.tail -= this.head;
    this.head = 0;
  }
}

/**
 * An `onEvent` handler that logs state changes and kernel drops; drops are summarised at most
 * once per `dropLogMs` (default 10 s) per interface so a congested bus cannot flood the log.
 */
export function logSocketCanEvents(log: Logger, dropLogMs = 10_000): (e: SocketCanEvent) => void {
  const pending = new Map<string, { n: number; total: number; last: number }>();
  return (e) => {
    switch (e.type) {
      case 'open':
        log.info({ iface: e.iface, rcvbufBytes: e.rcvbufBytes, requestedBytes: e.requestedBytes }, 'CAN interface open');
        if (e.requestedBytes > 0 && e.rcvbufBytes >= 0 && e.rcvbufBytes < e.requestedBytes) {
          log.warn(
            { iface: e.iface, rcvbufBytes: e.rcvbufBytes, requestedBytes: e.requestedBytes },
            'kernel granted a smaller CAN receive buffer than configured: raise net.core.rmem_max (scripts/setup-vcan.sh / docs/can.md)',
          );
        }
        break;
      case 'down':
        log.warn({ iface: e.iface, reason: e.reason }, 'CAN interface down; retrying');
        break;
      case 'recovered':
        log.info({ iface: e.iface, downMs: e.downMs }, 'CAN interface back');
        break;
      case 'dropped': {
        const now = Date.now();
        const p = pending.get(e.iface) ?? { n: 0, total: 0, last: 0 };
        p.n += e.dropped;
        p.total = e.total;
        if (now - p.last >= dropLogMs) {
          log.warn({ iface: e.iface, dropped: p.n, droppedTotal: p.total }, 'kernel dropped CAN frames: receive queue full');
          p.n = 0;
          p.last = now;
        }
        pending.set(e.iface, p);
        break;
      }
      case 'bus-error':
        break;
    }
  };
}
