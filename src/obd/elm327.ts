/**
 * ELM327 adapter client over a byte stream: a serial device (`serialport`: USB, Bluetooth
 * `/dev/rfcomm0`) or TCP (Wi-Fi adapters, `tcp://192.168.0.10:35000`). Runs the init sequence,
 * finds the vehicle protocol, sends one command at a time (waiting for the `>` prompt) and
 * reads every reply format into per-ECU messages.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { EdgewiseError } from '../errors.js';
import { elmLines, elmErrorCode, parseElmResponse, type EcuMessage, type ElmErrorCode, type ElmFraming } from './elm-response.js';

export interface ElmOptions {
  /** Protocol: `auto` (ATSP0, then ATTP fallbacks) or an ELM protocol number 1..C. Default auto. */
  protocol?: 'auto' | number;
  /** Per-command timeout (no `>` prompt) in ms. Default 2000. */
  commandTimeoutMs?: number;
  /** Timeout of ATZ and of the first request (protocol search). Default 10000. */
  searchTimeoutMs?: number;
}

export interface ElmInfo {
  version: string;
  /** ELM protocol number (6 = CAN 11-bit 500k, ...). */
  protocol: number;
  protocolAuto: boolean;
  /** `ATRV`, volts (adapter supply = vehicle battery), when the adapter answered. */
  voltage?: number;
}

export interface ElmAnswer {
  messages: EcuMessage[];
  error?: ElmErrorCode;
}

/** Protocols tried in order when automatic search fails (python-OBD's order, CAN first). */
const TRY_ORDER = [6, 8, 1, 7, 9, 2, 3, 4, 5];

export function framingOf(protocol: number): ElmFraming {
  if (protocol === 6 || protocol === 8 || protocol === 0xb) return 'can11';
  if (protocol === 7 || protocol === 9 || protocol === 0xc) return 'can29';
  if (protocol >= 1 && protocol <= 5) return 'legacy';
  return 'auto';
}

/** Opens `tcp://host:port` or a serial device (needs the `serialport` package). */
export async function openElmStream(address: string, baudRate = 38400): Promise<Duplex> {
  const m = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(address);
  if (m) {
    const host = m[1];
    const port = Number(m[2]);
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.setNoDelay(true);
      const onErr = (e: Error): void => reject(new EdgewiseError('IO', `cannot connect to ELM327 at ${address}: ${e.message}`, {}, { cause: e }));
      s.once('error', onErr);
      s.once('connect', () => {
        s.off('error', onErr);
        resolve(s);
      });
    });
  }
  type SerialPortCtor = new (o: { path: string; baudRate: number; autoOpen: boolean; hupcl: boolean }) => Duplex & {
    open(cb: (err: Error | null) => void): void;
  };
  let mod: { SerialPort: SerialPortCtor };
  const pkg = 'serialport';
  try {
    mod = (await import(pkg)) as { SerialPort: SerialPortCtor };
  } catch (e) {
    throw new EdgewiseError('IO', `serial ELM327 adapters need the "serialport" package (npm install serialport): ${(e as Error).message}`, {}, { cause: e });
  }
  return new Promise((resolve, reject) => {
    const port = new mod.SerialPort({ path: address, baudRate, autoOpen: false, hupcl: false });
    port.open((err) => {
      if (err) {
        const why = err.message.replace(/^Error: /, '').replace(/, cannot open .*$/, '');
        reject(new EdgewiseError('IO', `cannot open ${address}: ${why}`, { path: address }, { cause: err }));
      }
      else resolve(port);
    });
  });
}

/** One ELM327 connection. Commands are serialised; a lost stream rejects the pending command. */
export class Elm327 {
  private buf = '';
  private waiter: { resolve(text: string): void; reject(e: Error): void; timer: NodeJS.Timeout } | undefined;
  private closedError: Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly closeListeners: ((e: Error) => void)[] = [];
  private readonly o: Required<ElmOptions>;
  framing: ElmFraming = 'auto';
  info: ElmInfo | undefined;
  /** Bytes written / read (status). */
  bytesOut = 0;
  bytesIn = 0;

  constructor(
    private readonly stream: Duplex,
    opts: ElmOptions = {},
  ) {
    this.o = { protocol: opts.protocol ?? 'auto', commandTimeoutMs: opts.commandTimeoutMs ?? 2000, searchTimeoutMs: opts.searchTimeoutMs ?? 10000 };
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    const lost = (e?: Error): void => {
      if (this.closedError) return;
      this.closedError = new EdgewiseError('IO', `ELM327 connection lost${e ? `: ${e.message}` : ''}`, {}, { cause: e });
      const w = this.waiter;
      this.waiter = undefined;
      if (w) {
        clearTimeout(w.timer);
        w.reject(this.closedError);
      }
      for (const l of this.closeListeners) l(this.closedError);
    };
    stream.on('error', (e: Error) => lost(e));
    stream.on('close', () => lost());
    stream.on('end', () => lost());
  }

  /** Called once when the stream closes or fails (adapter unplugged, TCP reset). */
  onClose(cb: (e: Error) => void): void {
    if (this.closedError) cb(this.closedError);
    else this.closeListeners.push(cb);
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    if (!this.waiter) return; // late or unsolicited output
    this.buf += chunk.toString('latin1');
    const i = this.buf.indexOf('>');
    if (i < 0) return;
    const text = this.buf.slice(0, i);
    this.buf = '';
    const w = this.waiter;
    this.waiter = undefined;
    clearTimeout(w.timer);
    w.resolve(text);
  }

  /** Sends one command line and resolves with everything printed before the `>` prompt. */
  command(cmd: string, timeoutMs = this.o.commandTimeoutMs): Promise<string> {
    const run = (): Promise<string> =>
      new Promise<string>((resolve, reject) => {
        if (this.closedError) {
          reject(this.closedError);
          return;
        }
        this.buf = '';
        const timer = setTimeout(() => {
          this.waiter = undefined;
          reject(new EdgewiseError('IO', `ELM327: no prompt within ${timeoutMs} ms after "${cmd}"`, { command: cmd, timeout: true }));
        }, timeoutMs);
        this.waiter = { resolve, reject, timer };
        const line = `${cmd}\r`;
        this.bytesOut += line.length;
        this.stream.write(line, 'latin1');
      });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async expectOk(cmd: string): Promise<void> {
    const text = await this.command(cmd);
    const lines = elmLines(text).filter((l) => l.toUpperCase() !== cmd.toUpperCase());
    if (!lines.some((l) => l.toUpperCase() === 'OK')) {
      throw new EdgewiseError('IO', `ELM327: "${cmd}" answered ${JSON.stringify(lines.join(' | '))}, expected OK`, { command: cmd });
    }
  }

  /**
   * Reset and configure: ATZ, ATE0 (echo off), ATL0, ATS0 (no spaces), ATH1 (headers: tells
   * ECUs apart, shows ISO-TP frames), ATSPn, then `0100` to find the bus. Returns the adapter
   * info and the `0100` answer (the first supported-PID bitmap).
   */
  async init(): Promise<{ info: ElmInfo; first: ElmAnswer }> {
    let z = await this.command('ATZ', this.o.searchTimeoutMs);
    // A stray partial line from before (a replugged adapter) turns the first ATZ into "?": once more.
    if (elmLines(z).some((l) => l === '?')) z = await this.command('ATZ', this.o.searchTimeoutMs);
    const vm = /(ELM327|OBDLink|STN\d+)[^\r\n]*/i.exec(z);
    const version = vm ? vm[0].trim() : elmLines(z).filter((l) => l.toUpperCase() !== 'ATZ').join(' ') || 'unknown';
    // Echo, linefeeds and spaces are only conveniences (the reader copes with all of them); some
    // clones refuse ATS0. Headers are needed to tell ECUs apart and to see ISO-TP frames.
    for (const c of ['ATE0', 'ATL0', 'ATS0']) await this.expectOk(c).catch(() => undefined);
    const headers = await this.expectOk('ATH1').then(
      () => true,
      () => false,
    );
    const wanted = this.o.protocol;
    const auto = wanted === 'auto';
    await this.expectOk(auto ? 'ATSP0' : `ATSP${wanted.toString(16).toUpperCase()}`);
    let first = await this.probe();
    if (first.error && auto) {
      for (const p of TRY_ORDER) {
        await this.expectOk(`ATTP${p.toString(16).toUpperCase()}`);
        first = await this.probe();
        if (!first.error || first.messages.length > 0) break;
      }
    }
    if (first.messages.length === 0) {
      throw new EdgewiseError('IO', `ELM327: no vehicle answered 0100 (${first.error ?? 'no data'}); ignition off or wrong protocol?`, {
        reason: first.error,
      });
    }
    const dpn = elmLines(await this.command('ATDPN')).join('').toUpperCase();
    const pm = /^(A?)([0-9A-C])$/.exec(dpn);
    const protocol = pm ? parseInt(pm[2], 16) : typeof wanted === 'number' ? wanted : 0;
    this.framing = headers ? framingOf(protocol) : 'auto';
    // Re-read the first answer with the now known framing.
    if (this.framing !== 'auto') first = this.parse('0100', this.lastProbeText);
    let voltage: number | undefined;
    try {
      const rv = elmLines(await this.command('ATRV')).join('');
      const m = /(\d+(?:\.\d+)?)\s*V/i.exec(rv);
      if (m) voltage = Number(m[1]);
    } catch {
      // optional
    }
    this.info = { version, protocol, protocolAuto: auto || pm?.[1] === 'A', voltage };
    return { info: this.info, first };
  }

  private lastProbeText = '';

  private async probe(): Promise<ElmAnswer> {
    const text = await this.command('0100', this.o.searchTimeoutMs);
    this.lastProbeText = text;
    return this.parse('0100', text);
  }

  private parse(cmd: string, text: string): ElmAnswer {
    const p = parseElmResponse(text, { request: cmd, framing: this.framing });
    return { messages: p.messages, error: p.error ?? (p.messages.length === 0 && p.unparsed.length > 0 ? 'ERROR' : undefined) };
  }

  /** Sends one OBD request (bytes from the service id on) and returns every ECU's answer. */
  async request(req: Uint8Array, timeoutMs?: number, responses?: number): Promise<ElmAnswer> {
    let cmd = '';
    for (const b of req) cmd += b.toString(16).toUpperCase().padStart(2, '0');
    const text = await this.command(responses !== undefined ? `${cmd}${responses}` : cmd, timeoutMs);
    return this.parse(cmd, text);
  }

  /** Reads the adapter's supply voltage (ATRV). */
  async voltage(): Promise<number | undefined> {
    const text = elmLines(await this.command('ATRV')).join('');
    if (elmErrorCode(text)) return undefined;
    const m = /(\d+(?:\.\d+)?)\s*V/i.exec(text);
    return m ? Number(m[1]) : undefined;
  }

  async close(): Promise<void> {
    const s = this.stream;
    if (s.destroyed) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 500);
      s.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      s.destroy();
    });
  }
}
