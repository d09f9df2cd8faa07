/**
 * What the OBD poller needs from a transport, and the two transports: an ELM327 adapter
 * (serial or TCP) and ISO-TP on a raw CAN port (SocketCAN or a virtual bus).
 */
import type { Duplex } from 'node:stream';
import { EdgewiseError } from '../errors.js';
import { Elm327, openElmStream, type ElmOptions } from './elm327.js';
import type { EcuMessage, ElmErrorCode } from './elm-response.js';
import { ObdIsoTpClient, type CanPort, type IsoTpOptions, type ObdAddressing } from './isotp.js';

/** Every ECU's answer to one request, or an adapter error word. */
export interface ObdAnswer {
  messages: EcuMessage[];
  error?: ElmErrorCode | 'TIMEOUT';
}

export interface ObdTransport {
  readonly kind: 'elm327' | 'isotp';
  /** Most service 01 PIDs one request may carry (1 for ELM327 by default: clones mishandle more). */
  readonly maxPidsPerRequest: number;
  /** Opens and initialises; resolves with facts for the status (adapter version, protocol, ...). */
  open(): Promise<Record<string, unknown>>;
  /** One request; `ecus` = the ECUs known to answer (lets ISO-TP return before P2 expires). */
  request(req: Uint8Array, ecus?: ReadonlySet<string>): Promise<ObdAnswer>;
  /** Called when the link is lost (adapter unplugged, interface down). */
  onDown(cb: (e: Error) => void): void;
  close(): Promise<void>;
}

export interface ElmTransportOptions extends ElmOptions {
  /** Serial device or `tcp://host:port`. */
  address: string;
  baudRate?: number;
  maxPidsPerRequest?: number;
  /** Opens the stream (default: `openElmStream(address, baudRate)`). */
  open?: () => Promise<Duplex>;
}

export class ElmTransport implements ObdTransport {
  readonly kind = 'elm327' as const;
  readonly maxPidsPerRequest: number;
  private elm: Elm327 | undefined;
  private downCb: ((e: Error) => void) | undefined;

  constructor(private readonly o: ElmTransportOptions) {
    this.maxPidsPerRequest = o.maxPidsPerRequest ?? 1;
  }

  async open(): Promise<Record<string, unknown>> {
    const stream = await (this.o.open ? this.o.open() : openElmStream(this.o.address, this.o.baudRate));
    const elm = new Elm327(stream, this.o);
    this.elm = elm;
    try {
      const { info } = await elm.init();
      elm.onClose((e) => {
        if (this.elm === elm) this.downCb?.(e);
      });
      return { address: this.o.address, adapter: info.version, protocol: info.protocol, protocolAuto: info.protocolAuto, voltage: info.voltage };
    } catch (e) {
      this.elm = undefined;
      await elm.close();
      throw e;
    }
  }

  async request(req: Uint8Array, ecus?: ReadonlySet<string>): Promise<ObdAnswer> {
    const elm = this.elm;
    if (!elm) throw new EdgewiseError('IO', 'ELM327 not open');
    // A single-PID service 01 answer is one CAN frame per ECU: tell the adapter how many to wait
    // for (`010C1`) so it returns at once instead of after its own timeout.
    const responses = req[0] === 0x01 && req.length === 2 && ecus && ecus.size >= 1 && ecus.size <= 9 && elm.framing.startsWith('can') ? ecus.size : undefined;
    try {
      return await elm.request(req, undefined, responses);
    } catch (e) {
      if ((e as EdgewiseError).context?.timeout === true) return { messages: [], error: 'TIMEOUT' };
      throw e;
    }
  }

  onDown(cb: (e: Error) => void): void {
    this.downCb = cb;
  }

  async close(): Promise<void> {
    const elm = this.elm;
    this.elm = undefined;
    await elm?.close();
  }
}

export interface IsoTpTransportOptions extends IsoTpOptions {
  /** Name for the status (`can0`). */
  iface: string;
  /** Opens the raw CAN port; `close` releases it. */
  openPort: () => Promise<CanPort & { close(): void | Promise<void>; onDown?(cb: (e: Error) => void): void }>;
  /** `auto`: functional 0100 on 11-bit, then on 29-bit. Default auto. */
  addressing?: ObdAddressing | 'auto';
  /** Functional requests (all ECUs at once, FleetWise `broadcastRequests`) or physical per ECU. Default true. */
  broadcast?: boolean;
  p2Ms?: number;
  maxPidsPerRequest?: number;
}

export class IsoTpTransport implements ObdTransport {
  readonly kind = 'isotp' as const;
  readonly maxPidsPerRequest: number;
  private port: (CanPort & { close(): void | Promise<void> }) | undefined;
  private client: ObdIsoTpClient | undefined;
  private downCb: ((e: Error) => void) | undefined;
  private ecuIds = new Map<string, number>();

  constructor(private readonly o: IsoTpTransportOptions) {
    this.maxPidsPerRequest = o.maxPidsPerRequest ?? 6;
  }

  async open(): Promise<Record<string, unknown>> {
    const port = await this.o.openPort();
    this.port = port;
    port.onDown?.((e) => {
      if (this.port === port) this.downCb?.(e);
    });
    const tries: ObdAddressing[] = this.o.addressing === '11bit' || this.o.addressing === '29bit' ? [this.o.addressing] : ['11bit', '29bit'];
    for (const addressing of tries) {
      const client = new ObdIsoTpClient(port, { ...this.o, addressing });
      const answers = await client.request(Uint8Array.of(0x01, 0x00));
      if (answers.length > 0) {
        this.client = client;
        this.ecuIds = new Map(answers.map((a) => [a.ecu, a.rxId]));
        return { iface: this.o.iface, addressing, ecus: [...this.ecuIds.keys()] };
      }
      client.close();
    }
    this.port = undefined;
    await port.close();
    throw new EdgewiseError('IO', `OBD: no ECU answered 0100 on ${this.o.iface} (${tries.join(', then ')} addressing); ignition off?`);
  }

  async request(req: Uint8Array, ecus?: ReadonlySet<string>): Promise<ObdAnswer> {
    const client = this.client;
    if (!client) throw new EdgewiseError('IO', 'ISO-TP transport not open');
    let answers;
    if (this.o.broadcast === false && ecus && ecus.size > 0) {
      answers = [];
      for (const e of ecus) {
        const rx = this.ecuIds.get(e);
        if (rx !== undefined) answers.push(...(await client.request(req, { ecuRxId: rx })));
      }
    } else {
      const expect = ecus ? new Set([...ecus].map((e) => this.ecuIds.get(e)).filter((x): x is number => x !== undefined)) : undefined;
      answers = await client.request(req, { expect });
    }
    for (const a of answers) this.ecuIds.set(a.ecu, a.rxId);
    if (answers.length === 0) return { messages: [], error: 'NO_DATA' };
    return { messages: answers.map((a) => ({ ecu: a.ecu, data: a.data })) };
  }

  onDown(cb: (e: Error) => void): void {
    this.downCb = cb;
  }

  async close(): Promise<void> {
    this.client?.close();
    this.client = undefined;
    const p = this.port;
    this.port = undefined;
    await p?.close();
  }
}
