/**
 * ISO-TP (ISO 15765-2) over raw CAN frames, in TypeScript: single / first / consecutive frames,
 * flow control (clear to send, wait, overflow; block size; STmin), padding, and the N_Bs / N_Cr
 * timeouts. It runs over any `CanPort` (a SocketCAN raw socket, an in-process virtual bus), so
 * the tester and the ECU simulator are two real protocol peers.
 */
import { EdgewiseError } from '../errors.js';

/** A frame to send. */
export interface CanTxFrame {
  id: number;
  extended: boolean;
  data: Uint8Array;
}

/** A received frame (a `CanFrame` from a source fits). */
export interface CanRxFrame {
  id: number;
  extended: boolean;
  data: Uint8Array;
  error?: boolean;
  remote?: boolean;
}

/** The raw CAN access ISO-TP needs: send a frame, be told about received frames. */
export interface CanPort {
  send(frame: CanTxFrame): void | Promise<void>;
  /** Registers a receiver; returns the function that unregisters it. */
  onFrame(cb: (frame: CanRxFrame) => void): () => void;
}

export interface IsoTpOptions {
  /** Pad every frame to 8 bytes with this byte (null: send minimal DLC). Default 0xAA. */
  padding?: number | null;
  /** Block size we ask of a sender in our flow control frames (0 = no further FC). Default 0. */
  blockSize?: number;
  /** STmin we ask of a sender (ms 0..127). Default 0. */
  stMin?: number;
  /** Time to wait for a flow control frame after FF / a block (N_Bs). Default 1000 ms. */
  nBsMs?: number;
  /** Time to wait for the next consecutive frame (N_Cr). Default 1000 ms. */
  nCrMs?: number;
  /** Flow control WAIT frames accepted in a row before giving up. Default 10. */
  maxWait?: number;
}

interface Resolved {
  padding: number | null;
  blockSize: number;
  stMin: number;
  nBsMs: number;
  nCrMs: number;
  maxWait: number;
}

function resolve(o: IsoTpOptions): Resolved {
  return {
    padding: o.padding === undefined ? 0xaa : o.padding,
    blockSize: o.blockSize ?? 0,
    stMin: o.stMin ?? 0,
    nBsMs: o.nBsMs ?? 1000,
    nCrMs: o.nCrMs ?? 1000,
    maxWait: o.maxWait ?? 10,
  };
}

/** STmin byte -> milliseconds (0xF1..0xF9 = 100..900 µs; reserved values = 127 ms as the standard says). */
export function stMinMs(b: number): number {
  if (b <= 0x7f) return b;
  if (b >= 0xf1 && b <= 0xf9) return (b - 0xf0) / 10;
  return 127;
}

/** Largest payload ISO-TP classic addressing carries (12-bit FF length). */
export const ISOTP_MAX = 4095;

type FcWaiter = (fs: number, bs: number, st: number) => void;

interface RxState {
  buf: Uint8Array;
  got: number;
  next: number;
  blockLeft: number;
  timer: NodeJS.Timeout | undefined;
}

export interface IsoTpChannelOptions extends IsoTpOptions {
  /** Id we send on (data frames, and FC for messages we receive). */
  txId: number;
  /** Id we receive on (data frames, and FC for messages we send). */
  rxId: number;
  extended: boolean;
}

export interface IsoTpEvents {
  /** A complete message arrived. `data` is owned by the receiver. */
  message(data: Uint8Array): void;
  /** A reception broke (sequence error, N_Cr timeout, overflow): counted, never thrown. */
  error?(reason: string): void;
}

/**
 * One ISO-TP connection between two ids: receives (with reassembly and flow control) and
 * sends (with segmentation, obeying the peer's flow control). One send at a time.
 */
export class IsoTpChannel {
  private readonly o: Resolved;
  private rx: RxState | undefined;
  private fcWaiter: FcWaiter | undefined;
  private sending = false;
  private unsubscribe: (() => void) | undefined;
  private readonly frame = new Uint8Array(8);
  readonly txId: number;
  readonly rxId: number;
  readonly extended: boolean;
  /** Receptions that broke. */
  errors = 0;

  /** A multi-frame message is being received. */
  get receiving(): boolean {
    return this.rx !== undefined;
  }

  constructor(
    private readonly port: CanPort,
    opts: IsoTpChannelOptions,
    private readonly events: IsoTpEvents,
    /** Subscribe to the port (false when a dispatcher feeds `handle`). */
    subscribe = true,
  ) {
    this.o = resolve(opts);
    this.txId = opts.txId;
    this.rxId = opts.rxId;
    this.extended = opts.extended;
    if (subscribe) {
      this.unsubscribe = port.onFrame((f) => {
        if (f.id === this.rxId && f.extended === this.extended && !f.error && !f.remote) this.handle(f.data);
      });
    }
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.abortRx();
    this.fcWaiter = undefined;
  }

  private async out(bytes: ArrayLike<number>, len: number): Promise<void> {
    const pad = this.o.padding;
    const n = pad === null ? len : 8;
    const data = new Uint8Array(n);
    for (let i = 0; i < len; i++) data[i] = bytes[i];
    if (pad !== null) data.fill(pad, len);
    await this.port.send({ id: this.txId, extended: this.extended, data });
  }

  private abortRx(): void {
    if (this.rx?.timer) clearTimeout(this.rx.timer);
    this.rx = undefined;
  }

  private fail(reason: string): void {
    this.abortRx();
    this.errors++;
    this.events.error?.(reason);
  }

  private armCr(): void {
    const rx = this.rx!;
    if (rx.timer) clearTimeout(rx.timer);
    rx.timer = setTimeout(() => this.fail('N_Cr timeout waiting for a consecutive frame'), this.o.nCrMs);
    rx.timer.unref?.();
  }

  private sendFc(status: number): void {
    const f = this.frame;
    f[0] = 0x30 | status;
    f[1] = this.o.blockSize;
    f[2] = this.o.stMin;
    void Promise.resolve(this.out(f, 3)).catch((e: Error) => this.events.error?.(`flow control send failed: ${e.message}`));
  }

  /** Feeds one received data frame of `rxId`. */
  handle(d: Uint8Array): void {
    if (d.length === 0) return;
    const type = d[0] >> 4;
    switch (type) {
      case 0: {
        let len = d[0] & 0x0f;
        let off = 1;
        if (len === 0 && d.length > 8) {
          len = d[1]; // CAN FD escape
          off = 2;
        }
        if (len === 0 || len > d.length - off) return;
        if (this.rx) this.fail('single frame interrupted a multi-frame reception');
        this.events.message(d.slice(off, off + len));
        return;
      }
      case 1: {
        if (d.length < 8) return; // a first frame always has DLC 8
        const len = ((d[0] & 0x0f) << 8) | d[1];
        if (len < 8) return;
        if (this.rx) this.fail('first frame interrupted a multi-frame reception');
        const buf = new Uint8Array(len);
        buf.set(d.subarray(2, 8), 0);
        this.rx = { buf, got: 6, next: 1, blockLeft: this.o.blockSize, timer: undefined };
        this.armCr();
        this.sendFc(0);
        return;
      }
      case 2: {
        const rx = this.rx;
        if (!rx) return;
        if ((d[0] & 0x0f) !== (rx.next & 0x0f)) {
          this.fail(`consecutive frame out of sequence (got ${d[0] & 0x0f}, expected ${rx.next & 0x0f})`);
          return;
        }
        rx.next++;
        const n = Math.min(d.length - 1, rx.buf.length - rx.got);
        rx.buf.set(d.subarray(1, 1 + n), rx.got);
        rx.got += n;
        if (rx.got >= rx.buf.length) {
          const buf = rx.buf;
          this.abortRx();
          this.events.message(buf);
          return;
        }
        this.armCr();
        if (this.o.blockSize > 0 && --rx.blockLeft === 0) {
          rx.blockLeft = this.o.blockSize;
          this.sendFc(0);
        }
        return;
      }
      case 3: {
        const w = this.fcWaiter;
        if (w && d.length >= 3) w(d[0] & 0x0f, d[1], d[2]);
        return;
      }
      default:
    }
  }

  private waitFc(): Promise<{ fs: number; bs: number; st: number }> {
    return new Promise((res, rej) => {
      const t = setTimeout(() => {
        this.fcWaiter = undefined;
        rej(new EdgewiseError('IO', `ISO-TP: N_Bs timeout, no flow control from 0x${this.rxId.toString(16)} within ${this.o.nBsMs} ms`));
      }, this.o.nBsMs);
      this.fcWaiter = (fs, bs, st) => {
        clearTimeout(t);
        this.fcWaiter = undefined;
        res({ fs, bs, st });
      };
    });
  }

  /** Sends one message (1..4095 bytes), segmenting and obeying the receiver's flow control. */
  async send(payload: Uint8Array): Promise<void> {
    if (payload.length === 0 || payload.length > ISOTP_MAX) {
      throw new EdgewiseError('IO', `ISO-TP: cannot send ${payload.length} bytes (1..${ISOTP_MAX})`);
    }
    if (this.sending) throw new EdgewiseError('IO', 'ISO-TP: a send is already in progress on this channel');
    this.sending = true;
    try {
      const f = new Uint8Array(8);
      if (payload.length <= 7) {
        f[0] = payload.length;
        f.set(payload, 1);
        await this.out(f, 1 + payload.length);
        return;
      }
      f[0] = 0x10 | (payload.length >> 8);
      f[1] = payload.length & 0xff;
      f.set(payload.subarray(0, 6), 2);
      const fcPromise = this.waitFc();
      await this.out(f, 8);
      let off = 6;
      let seq = 1;
      let fc = await fcPromise;
      for (;;) {
        let waits = 0;
        while (fc.fs === 1) {
          if (++waits > this.o.maxWait) throw new EdgewiseError('IO', 'ISO-TP: receiver kept asking to wait');
          fc = await this.waitFc();
        }
        if (fc.fs === 2) throw new EdgewiseError('IO', 'ISO-TP: receiver reported overflow');
        if (fc.fs !== 0) throw new EdgewiseError('IO', `ISO-TP: invalid flow status ${fc.fs}`);
        const gap = stMinMs(fc.st);
        let block = 0;
        while (off < payload.length) {
          if (gap > 0 && (off > 6 || block > 0)) await new Promise((r) => setTimeout(r, Math.max(1, gap)));
          const n = Math.min(7, payload.length - off);
          f[0] = 0x20 | (seq & 0x0f);
          f.set(payload.subarray(off, off + n), 1);
          // Wait for the next FC only when this block is full (register before sending so a fast peer is not missed).
          const lastOfBlock = fc.bs > 0 && ++block === fc.bs && off + n < payload.length;
          const next = lastOfBlock ? this.waitFc() : undefined;
          await this.out(f, 1 + n);
          off += n;
          seq++;
          if (next) {
            fc = await next;
            break;
          }
        }
        if (off >= payload.length) return;
      }
    } finally {
      this.sending = false;
      this.fcWaiter = undefined;
    }
  }
}

/** Addressing of OBD on CAN (ISO 15765-4). */
export type ObdAddressing = '11bit' | '29bit';

export const OBD_FUNCTIONAL_11 = 0x7df;
export const OBD_FUNCTIONAL_29 = 0x18db33f1;

/** Is `id` an ECU response id of this addressing (0x7E8..0x7EF / 0x18DAF1xx)? */
export function isObdResponseId(id: number, extended: boolean, addressing: ObdAddressing): boolean {
  if (addressing === '11bit') return !extended && id >= 0x7e8 && id <= 0x7ef;
  return extended && (id & 0xffffff00) >>> 0 === 0x18daf100;
}

/** Physical request id of the ECU answering on `rxId` (FleetWise `getTxIDByRxID`). */
export function physicalRequestId(rxId: number, addressing: ObdAddressing): number {
  return addressing === '11bit' ? rxId - 8 : (((rxId & 0xff) << 8) | 0x18da00f1) >>> 0;
}

export function formatCanId(id: number, extended: boolean): string {
  return id.toString(16).toUpperCase().padStart(extended ? 8 : 3, '0');
}

/** One ECU's answer to an OBD request over ISO-TP. */
export interface IsoTpResponse {
  /** `7E8` / `18DAF110`. */
  ecu: string;
  rxId: number;
  data: Uint8Array;
}

export interface ObdIsoTpOptions extends IsoTpOptions {
  addressing: ObdAddressing;
  /** Time to wait for answers (J1979 P2CAN is 50 ms; default 150 ms). */
  p2Ms?: number;
  /** Time to wait after a "response pending" (NRC 0x78), P2*CAN. Default 5000 ms. */
  p2StarMs?: number;
}

/**
 * The tester side of OBD on CAN: functional requests (0x7DF / 0x18DB33F1) and physical ones,
 * collecting every ECU's answer (multi-frame answers get flow control on the ECU's physical id).
 */
export class ObdIsoTpClient {
  private readonly channels = new Map<number, IsoTpChannel>();
  private collector: ((r: IsoTpResponse) => void) | undefined;
  private readonly unsubscribe: () => void;
  private readonly opts: ObdIsoTpOptions;
  /** Broken receptions on all channels. */
  get errors(): number {
    let n = 0;
    for (const c of this.channels.values()) n += c.errors;
    return n;
  }

  constructor(
    private readonly port: CanPort,
    opts: ObdIsoTpOptions,
  ) {
    this.opts = opts;
    this.unsubscribe = port.onFrame((f) => {
      if (f.error || f.remote || !isObdResponseId(f.id, f.extended, this.opts.addressing)) return;
      this.channel(f.id).handle(f.data);
    });
  }

  get addressing(): ObdAddressing {
    return this.opts.addressing;
  }

  private channel(rxId: number): IsoTpChannel {
    let c = this.channels.get(rxId);
    if (!c) {
      const extended = this.opts.addressing === '29bit';
      c = new IsoTpChannel(
        this.port,
        { ...this.opts, rxId, txId: physicalRequestId(rxId, this.opts.addressing), extended },
        { message: (data) => this.collector?.({ ecu: formatCanId(rxId, extended), rxId, data }) },
        false,
      );
      this.channels.set(rxId, c);
    }
    return c;
  }

  close(): void {
    this.unsubscribe();
    for (const c of this.channels.values()) c.close();
    this.channels.clear();
  }

  /**
   * Sends `payload` functionally (to all ECUs, single frame only) or physically to the ECU
   * answering on `ecuRxId`, and resolves with the answers received within P2. Returns early
   * once every ECU in `expect` answered.
   */
  async request(payload: Uint8Array, target: { ecuRxId?: number; expect?: ReadonlySet<number> } = {}): Promise<IsoTpResponse[]> {
    if (this.collector) throw new EdgewiseError('IO', 'OBD: a request is already in progress');
    const out: IsoTpResponse[] = [];
    const p2 = this.opts.p2Ms ?? 150;
    const p2Star = this.opts.p2StarMs ?? 5000;
    const pending = new Set<number>();
    let finish: () => void = () => undefined;
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        // An answer still arriving frame by frame keeps the request open (bounded by N_Cr per frame).
        if ([...this.channels.values()].some((c) => c.receiving)) arm(this.opts.nCrMs ?? 1000);
        else finish();
      }, ms);
    };
    const done = new Promise<void>((r) => (finish = r));
    const sid = payload[0];
    this.collector = (r) => {
      if (target.ecuRxId !== undefined && r.rxId !== target.ecuRxId) return;
      if (r.data.length >= 3 && r.data[0] === 0x7f && r.data[1] === sid && r.data[2] === 0x78) {
        pending.add(r.rxId);
        arm(p2Star);
        return;
      }
      pending.delete(r.rxId);
      out.push(r);
      const answered = new Set(out.map((x) => x.rxId));
      const allIn =
        target.ecuRxId !== undefined || (target.expect !== undefined && target.expect.size > 0 && [...target.expect].every((id) => answered.has(id)));
      if (allIn && pending.size === 0) finish();
    };
    try {
      arm(p2);
      if (target.ecuRxId !== undefined) {
        await this.channel(target.ecuRxId).send(payload);
      } else {
        if (payload.length > 7) throw new EdgewiseError('IO', 'OBD: functional requests must fit a single frame (7 bytes)');
        const extended = this.opts.addressing === '29bit';
        const pad = this.opts.padding === undefined ? 0xaa : this.opts.padding;
        const data = new Uint8Array(pad === null ? payload.length + 1 : 8);
        if (pad !== null) data.fill(pad);
        data[0] = payload.length;
        data.set(payload, 1);
        await this.port.send({ id: extended ? OBD_FUNCTIONAL_29 : OBD_FUNCTIONAL_11, extended, data });
      }
      await done;
      return out.sort((a, b) => a.rxId - b.rxId);
    } finally {
      if (timer) clearTimeout(timer);
      this.collector = undefined;
    }
  }
}
