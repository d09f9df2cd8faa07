/**
 * An ELM327 v1.5 simulator: the AT command set an OBD client uses, protocol search, every reply
 * format (echo, linefeeds, headers, spaces, numbered multi-line, padding), status words and
 * faults, driven by a `SimTable`. It serves TCP on 127.0.0.1 (like Wi-Fi adapters); `--pty`
 * bridges a pty to it with `socat`, so clients exercise the real serial path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { EdgewiseError } from '../../errors.js';
import { ecuResponse } from './ecu.js';
import { simEcus, type SimEcu, type SimTable } from './table.js';

const PROTOCOL_NAMES: Record<number, string> = {
  6: 'ISO 15765-4 (CAN 11/500)',
  7: 'ISO 15765-4 (CAN 29/500)',
  8: 'ISO 15765-4 (CAN 11/250)',
  9: 'ISO 15765-4 (CAN 29/250)',
};

const VERSION = 'ELM327 v1.5';

function h2(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

/** One adapter session (state is per connection, like a power cycle per plug-in). */
export class Elm327Session {
  echo = true;
  linefeeds = false;
  spaces = true;
  headers = false;
  /** 0 = automatic. */
  protocol = 0;
  /** The bus protocol was found (after SEARCHING...). */
  connected = false;
  private readonly ecus: SimEcu[];

  constructor(private readonly table: SimTable) {
    this.ecus = simEcus(table);
  }

  private reset(): void {
    this.echo = true;
    this.linefeeds = false;
    this.spaces = true;
    this.headers = false;
    this.protocol = 0;
    this.connected = false;
  }

  private get eol(): string {
    return this.linefeeds ? '\r\n' : '\r';
  }

  /** Output for one command line (without its CR), ending with the `>` prompt; undefined = never answer. */
  async command(line: string): Promise<string | undefined> {
    const eol = this.eol;
    const echo = this.echo ? line + eol : '';
    const cmd = line.replace(/\s+/g, '').toUpperCase();
    let body: string[] | undefined;
    if (cmd.startsWith('AT')) body = this.table.refuse.some((r) => r.replace(/\s+/g, '').toUpperCase() === cmd) ? ['?'] : this.at(cmd.slice(2));
    else if (cmd === '') body = [];
    else body = await this.obd(cmd);
    if (body === undefined) return undefined;
    const e = this.eol; // ATL may have changed it
    return echo + body.map((l) => l + e).join('') + e + '>';
  }

  private at(a: string): string[] {
    let m: RegExpExecArray | null;
    if (a === 'Z' || a === 'WS') {
      this.reset();
      return [VERSION];
    }
    if (a === 'D') {
      this.reset();
      return ['OK'];
    }
    if (a === 'I') return [VERSION];
    if (a === '@1') return ['OBDII to RS232 Interpreter'];
    if (a === 'RV') return [this.table.voltage];
    if ((m = /^E([01])$/.exec(a))) this.echo = m[1] === '1';
    else if ((m = /^L([01])$/.exec(a))) this.linefeeds = m[1] === '1';
    else if ((m = /^S([01])$/.exec(a))) this.spaces = m[1] === '1';
    else if ((m = /^H([01])$/.exec(a))) this.headers = m[1] === '1';
    else if ((m = /^(?:SP|TP)A?([0-9A-C])$/.exec(a))) {
      this.protocol = parseInt(m[1], 16);
      this.connected = false;
    } else if (a === 'DPN') return [this.protocol === 0 ? `A${this.connected ? this.table.protocol : 0}` : this.protocol.toString(16).toUpperCase()];
    else if (a === 'DP') {
      const p = this.protocol === 0 ? this.table.protocol : this.protocol;
      return [this.protocol === 0 ? (this.connected ? `AUTO, ${PROTOCOL_NAMES[p]}` : 'AUTO') : (PROTOCOL_NAMES[p] ?? 'UNKNOWN')];
    } else if (a === 'PC') this.connected = false;
    else if (/^(CAF[01]|AT[012]|ST[0-9A-F]{2}|M[01]|CFC[01]|AL|NL|R[01]|IB(10|48|96)|SH[0-9A-F]{3,8}|CRA[0-9A-F]*|AR|FC.*|V[01]|D[01]|JE|JS|KW[01]?|MA|BD|BI|LP|SS|IIA[0-9A-F]{2}|SW[0-9A-F]{2}|WM[0-9A-F ]+)$/.test(a)) {
      // accepted, no effect on the simulation
    } else return ['?'];
    return ['OK'];
  }

  private async obd(cmd: string): Promise<string[] | undefined> {
    if (!/^([0-9A-F]{2})+$/.test(cmd) && !/^([0-9A-F]{2})+[0-9A-F]$/.test(cmd)) return ['?'];
    // A trailing single digit is the ELM "number of responses" hint (`010C1`): stop after that many ECUs.
    const hex = cmd.length % 2 === 1 ? cmd.slice(0, -1) : cmd;
    const maxResponses = cmd.length % 2 === 1 ? parseInt(cmd.slice(-1), 16) : Infinity;
    const lines: string[] = [];
    if (this.protocol !== 0 && this.protocol !== this.table.protocol) {
      return ['UNABLE TO CONNECT'];
    }
    if (this.protocol === 0 && this.table.searchFails) return ['SEARCHING...', 'UNABLE TO CONNECT'];
    if (!this.connected) {
      if (this.protocol === 0) {
        lines.push('SEARCHING...');
        if (this.table.searchMs > 0) await new Promise((r) => setTimeout(r, this.table.searchMs));
      }
      this.connected = true;
    }
    const fault = this.table.faults[hex];
    if (fault !== undefined) {
      if (fault === 'SILENT') return undefined;
      lines.push(fault);
      return lines;
    }
    const req = Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16));
    let any = 0;
    for (const ecu of this.ecus) {
      if (any >= maxResponses) break;
      const resp = ecuResponse(ecu, req);
      if (!resp) continue;
      any++;
      lines.push(...this.format(ecu, resp));
    }
    if (!any) lines.push('NO DATA');
    return lines;
  }

  private bytes(b: ArrayLike<number>): string {
    return Array.from(b, h2).join(this.spaces ? ' ' : '');
  }

  /** Prints one ECU's response the way an ELM327 does for the current settings. */
  private format(ecu: SimEcu, payload: Uint8Array): string[] {
    const sp = this.spaces ? ' ' : '';
    if (!this.headers) {
      if (payload.length <= 7) return [this.bytes(payload)];
      const out = [payload.length.toString(16).toUpperCase().padStart(3, '0')];
      let seq = 0;
      for (let off = 0; off < payload.length; off += off === 0 ? 6 : 7) {
        const n = off === 0 ? 6 : 7;
        out.push(`${(seq & 0xf).toString(16).toUpperCase()}:${sp}${this.bytes(payload.subarray(off, off + n))}`);
        seq++;
      }
      return out;
    }
    const header = ecu.extended
      ? this.bytes([(ecu.rxId >>> 24) & 0xff, (ecu.rxId >>> 16) & 0xff, (ecu.rxId >>> 8) & 0xff, ecu.rxId & 0xff])
      : ecu.rxId.toString(16).toUpperCase().padStart(3, '0');
    const frames: number[][] = [];
    if (payload.length <= 7) frames.push([payload.length, ...payload]);
    else {
      frames.push([0x10 | (payload.length >> 8), payload.length & 0xff, ...payload.subarray(0, 6)]);
      let seq = 1;
      for (let off = 6; off < payload.length; off += 7) {
        frames.push([0x20 | (seq & 0xf), ...payload.subarray(off, off + 7)]);
        seq++;
      }
    }
    return frames.map((f) => {
      if (this.table.pad) while (f.length < 8) f.push(0xaa);
      return `${header}${sp}${this.bytes(f)}`;
    });
  }
}

/** Serves the ELM327 protocol on one byte stream until it closes. */
export function serveElm327(stream: Duplex, table: SimTable, log?: string[]): void {
  const session = new Elm327Session(table);
  let buf = '';
  let busy = Promise.resolve();
  stream.on('error', () => undefined);
  stream.on('data', (chunk: Buffer) => {
    buf += chunk.toString('latin1');
    let i: number;
    while ((i = buf.indexOf('\r')) >= 0) {
      const line = buf.slice(0, i).replace(/\n/g, '');
      buf = buf.slice(i + 1);
      if (log) {
        log.push(line);
        if (log.length > 10000) log.splice(0, 5000);
      }
      busy = busy.then(async () => {
        const out = await session.command(line);
        if (out !== undefined && !stream.destroyed) stream.write(out);
      });
    }
  });
}

export interface ElmSimulatorOptions {
  table: SimTable;
  /** Create a pty pair with socat and link the adapter side here (e.g. /tmp/elm327). */
  pty?: string;
  /** TCP port on `host` (0 = any free port). With `pty` the TCP server is internal. */
  tcpPort?: number;
  host?: string;
}

export interface ElmSimulator {
  /** `tcp://127.0.0.1:35000` or the pty link path. */
  readonly address: string;
  readonly tcpPort: number;
  /** The table being served (tests may change it; every request reads it). */
  readonly table: SimTable;
  /** Command lines received (all sessions, oldest first; the last 5000-10000 are kept). */
  readonly commands: string[];
  /** "Unplug": closes the pty (socat exits) or every TCP connection, keeps the server listening. */
  unplug(): Promise<void>;
  /** "Plug in" again after `unplug` (pty mode: a new pty at the same path). */
  replug(): Promise<void>;
  stop(): Promise<void>;
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new EdgewiseError('IO', `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Starts an ELM327 simulator on TCP (and optionally a pty via socat). */
export async function startElmSimulator(opts: ElmSimulatorOptions): Promise<ElmSimulator> {
  const sockets = new Set<net.Socket>();
  const commands: string[] = [];
  let plugged = true;
  const server = net.createServer((s) => {
    if (!plugged) {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.setNoDelay(true);
    s.on('close', () => sockets.delete(s));
    serveElm327(s, opts.table, commands);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new EdgewiseError('IO', `cannot listen on ${host}:${opts.tcpPort ?? 0}: ${e.message}`, {}, { cause: e })));
    server.listen(opts.pty !== undefined ? 0 : (opts.tcpPort ?? 0), opts.pty !== undefined ? '127.0.0.1' : host, () => resolve());
  });
  const tcpPort = (server.address() as net.AddressInfo).port;
  let socat: ChildProcess | undefined;
  const startPty = async (): Promise<void> => {
    const link = opts.pty!;
    const child = spawn('socat', [`pty,raw,echo=0,link=${link}`, `tcp:127.0.0.1:${tcpPort},nodelay`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let failed: Error | undefined;
    child.once('error', (e) => (failed = e));
    child.stderr!.resume();
    socat = child;
    await waitFor(() => failed !== undefined || existsSync(link) || child.exitCode !== null, 5000, `socat to create ${link}`);
    if (failed) throw new EdgewiseError('IO', `cannot run socat (install it: apt-get install socat): ${failed.message}`, {}, { cause: failed });
    if (child.exitCode !== null) throw new EdgewiseError('IO', `socat exited with code ${child.exitCode} creating ${link}`);
  };
  const stopPty = async (): Promise<void> => {
    const child = socat;
    socat = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    await gone;
  };
  if (opts.pty !== undefined) {
    try {
      await startPty();
    } catch (e) {
      server.close();
      throw e;
    }
  }
  const dropAll = (): void => {
    for (const s of sockets) s.destroy();
  };
  return {
    address: opts.pty ?? `tcp://${host}:${tcpPort}`,
    tcpPort,
    table: opts.table,
    commands,
    async unplug() {
      plugged = false;
      if (opts.pty !== undefined) await stopPty();
      dropAll();
    },
    async replug() {
      plugged = true;
      if (opts.pty !== undefined && !socat) await startPty();
    },
    async stop() {
      await stopPty();
      dropAll();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
