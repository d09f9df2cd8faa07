/**
 * Reads the text an ELM327 prints for one OBD request into per-ECU messages.
 *
 * Handles every setting an adapter may be in: headers on/off (`ATH`), spaces on/off (`ATS`),
 * 11-bit (`7E8 03 41 0D 32`) and 29-bit (`18 DA F1 10 03 41 0D 32`) CAN headers with their ISO-TP
 * PCI bytes (single, first and consecutive frames are reassembled per CAN id), the numbered
 * multi-line form of headers-off CAN (`014` / `0: 49 02 01 ...` / `1: ...`), legacy K-line/J1850
 * headers with checksum (`48 6B 10 41 0D 32 43`), the echo of the command, `SEARCHING...`, the
 * trailing `>` prompt and the adapter's status words (`NO DATA`, `?`, `CAN ERROR`, ...).
 */

/** One complete response message of one ECU; `data` starts with the response service id (0x41, 0x43, 0x7F, ...). */
export interface EcuMessage {
  /** `7E8`, `18DAF110`, the legacy source address (`10`), or null when the adapter printed no headers. */
  ecu: string | null;
  data: Uint8Array;
}

/** Status words an adapter prints instead of (or after) data, as stable codes. */
export type ElmErrorCode =
  | 'NO_DATA'
  | 'UNKNOWN_COMMAND'
  | 'CAN_ERROR'
  | 'UNABLE_TO_CONNECT'
  | 'BUS_INIT_ERROR'
  | 'BUS_BUSY'
  | 'BUS_ERROR'
  | 'DATA_ERROR'
  | 'BUFFER_FULL'
  | 'FB_ERROR'
  | 'LV_RESET'
  | 'STOPPED'
  | 'ERROR'
  | 'RX_ERROR'
  | 'ACT_ALERT';

export interface ParsedElmResponse {
  messages: EcuMessage[];
  /** The first adapter error word seen (a response can carry data of one ECU and an error). */
  error?: ElmErrorCode;
  /** Lines that were neither data nor a known status word. */
  unparsed: string[];
}

/** How the adapter frames replies; `auto` guesses per line (the `obd decode` case). */
export type ElmFraming = 'auto' | 'can11' | 'can29' | 'legacy' | 'none';

export interface ParseElmOptions {
  /** The request as sent (`010C`, `01 0C`): its echo line is dropped and its service tells data from headers. */
  request?: string;
  framing?: ElmFraming;
}

const ERROR_WORDS: [RegExp, ElmErrorCode][] = [
  [/^NO DATA$/, 'NO_DATA'],
  [/^\?$/, 'UNKNOWN_COMMAND'],
  [/CAN ERROR$/, 'CAN_ERROR'],
  [/^UNABLE TO CONNECT$/, 'UNABLE_TO_CONNECT'],
  [/^BUS INIT:.*ERROR$/, 'BUS_INIT_ERROR'],
  [/^BUS BUSY$/, 'BUS_BUSY'],
  [/^BUS ERROR$/, 'BUS_ERROR'],
  [/DATA ERROR$/, 'DATA_ERROR'],
  [/^BUFFER FULL$/, 'BUFFER_FULL'],
  [/^FB ERROR$/, 'FB_ERROR'],
  [/^LV RESET$/, 'LV_RESET'],
  [/^STOPPED$/, 'STOPPED'],
  [/RX ERROR$/, 'RX_ERROR'],
  [/^ACT ALERT$/, 'ACT_ALERT'],
  [/^ERROR$/, 'ERROR'],
];

/** Lines that carry no information for the response. */
const NOISE = /^(SEARCHING\.*|BUS INIT:.*\.\.\.\s*(OK)?|OK)$/;

const HEX_LINE = /^[0-9A-F]+( [0-9A-F]+)*$/;
const NUMBERED = /^([0-9A-F]):\s*([0-9A-F ]*)$/;

export function compactHex(s: string): string {
  return s.replace(/\s+/g, '').toUpperCase();
}

function hexBytes(s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) {
    const v = parseInt(s.substr(i * 2, 2), 16);
    if (Number.isNaN(v)) return undefined;
    out[i] = v;
  }
  return out;
}

/** Splits adapter output into trimmed non-empty lines (CR/LF, NULs and the `>` prompt removed). */
export function elmLines(text: string): string[] {
  return text
    .replace(/\0/g, '')
    .replace(/>\s*$/, '')
    .split(/[\r\n]+/)
    .map((l) => l.trim().replace(/>$/, '').trim())
    .filter((l) => l !== '');
}

export function elmErrorCode(line: string): ElmErrorCode | undefined {
  const u = line.trim().toUpperCase();
  for (const [re, code] of ERROR_WORDS) if (re.test(u)) return code;
  return undefined;
}

interface Frame {
  header: string | null;
  bytes: Uint8Array;
  /** Bytes after the header include an ISO-TP PCI byte (CAN with headers). */
  pci: boolean;
}

function isResponseSid(b: number, sid: number | undefined): boolean {
  if (sid !== undefined) return b === sid || b === 0x7f;
  return b >= 0x41 && b <= 0x7f;
}

/** Splits one hex line into header and payload bytes. */
function splitLine(line: string, framing: ElmFraming, sid: number | undefined): Frame | undefined {
  const spaced = line.includes(' ');
  const tokens = spaced ? line.split(' ') : undefined;
  const compact = spaced ? line.replace(/ /g, '') : line;
  // 11-bit CAN header: 3 hex digits (a token of 3 with spaces, odd length without).
  const can11 = spaced ? tokens![0].length === 3 : compact.length % 2 === 1;
  if (framing === 'can11' || (framing === 'auto' && can11)) {
    if (!can11) return undefined;
    const bytes = hexBytes(compact.slice(3));
    return bytes && bytes.length > 0 ? { header: compact.slice(0, 3), bytes, pci: true } : undefined;
  }
  if (spaced && tokens!.some((t) => t.length !== 2)) return undefined;
  const all = hexBytes(compact);
  if (!all || all.length === 0) return undefined;
  const looks29 = all.length >= 5 && all[0] <= 0x1f && (all[1] === 0xda || all[1] === 0xdb);
  if (framing === 'can29' || (framing === 'auto' && looks29 && !isResponseSid(all[0], sid))) {
    if (all.length < 5) return undefined;
    return { header: compact.slice(0, 8), bytes: all.subarray(4), pci: true };
  }
  const looksLegacy = all.length >= 5 && isResponseSid(all[3], sid) && !isResponseSid(all[0], sid);
  if (framing === 'legacy' || (framing === 'auto' && looksLegacy)) {
    if (all.length < 5) return undefined;
    // 3 header bytes, data, checksum (sum of the preceding bytes mod 256); drop the checksum when it matches.
    let sum = 0;
    for (let i = 0; i < all.length - 1; i++) sum = (sum + all[i]) & 0xff;
    const end = sum === all[all.length - 1] ? all.length - 1 : all.length;
    return { header: hexByte(all[2]), bytes: all.subarray(3, end), pci: false };
  }
  // Headers off. With CAN auto-formatting off the PCI byte is still shown: `03 41 0D 32`.
  if (all.length >= 2 && all[0] >= 1 && all[0] <= 7 && isResponseSid(all[1], sid) && !isResponseSid(all[0], sid)) {
    return { header: null, bytes: all.subarray(1, 1 + Math.min(all[0], all.length - 1)), pci: false };
  }
  return { header: null, bytes: all, pci: false };
}

function hexByte(b: number): string {
  return b.toString(16).toUpperCase().padStart(2, '0');
}

interface Assembly {
  total: number;
  got: number;
  next: number;
  buf: Uint8Array;
}

/** Expected response service id for a request text, when it is a hex OBD request. */
function responseSid(request: string | undefined): number | undefined {
  if (request === undefined) return undefined;
  const c = compactHex(request);
  if (!/^[0-9A-F]{2,}$/.test(c)) return undefined;
  return (parseInt(c.slice(0, 2), 16) + 0x40) & 0xff;
}

/**
 * Parses everything an adapter printed for one request. Never throws: lines it cannot place
 * end up in `unparsed`.
 */
export function parseElmResponse(text: string, opts: ParseElmOptions = {}): ParsedElmResponse {
  const framing = opts.framing ?? 'auto';
  const sid = responseSid(opts.request);
  const echo = opts.request !== undefined ? compactHex(opts.request) : undefined;
  const lines = elmLines(text);
  const messages: EcuMessage[] = [];
  const unparsed: string[] = [];
  let error: ElmErrorCode | undefined;
  const assemblies = new Map<string, Assembly>();

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const line = raw.toUpperCase().replace(/\s+/g, ' ');
    // The echo of the command (possibly with the ELM "number of responses" digit, `010C1`).
    if (echo !== undefined && i === 0) {
      const c = compactHex(line);
      if (c === echo || (c.length === echo.length + 1 && c.startsWith(echo) && /^[1-9]$/.test(c.slice(-1)))) continue;
    }
    if (NOISE.test(line)) continue;
    // A data line can end in an error marker (`7E8 03 41 0D <RX ERROR`): keep the error, drop the line.
    const err = elmErrorCode(line);
    if (err !== undefined) {
      error ??= err;
      continue;
    }
    // Headers-off multi-frame: `014` then `0: ...`, `1: ...`.
    if (/^[0-9A-F]{3}$/.test(line) && i + 1 < lines.length && NUMBERED.test(lines[i + 1].toUpperCase())) {
      const total = parseInt(line, 16);
      const buf = new Uint8Array(total);
      let got = 0;
      let expect = 0;
      while (i + 1 < lines.length) {
        const m = NUMBERED.exec(lines[i + 1].toUpperCase().trim());
        if (!m) break;
        i++;
        const seq = parseInt(m[1], 16);
        const bytes = hexBytes(compactHex(m[2]));
        if (seq !== (expect & 0xf) || !bytes) {
          unparsed.push(lines[i]);
          continue;
        }
        expect++;
        const n = Math.min(bytes.length, total - got);
        buf.set(bytes.subarray(0, n), got);
        got += n;
      }
      if (got === total) messages.push({ ecu: null, data: buf });
      else unparsed.push(`${line} (incomplete: ${got}/${total} bytes)`);
      continue;
    }
    if (!HEX_LINE.test(line)) {
      unparsed.push(raw);
      continue;
    }
    const f = splitLine(line, framing, sid);
    if (!f) {
      unparsed.push(raw);
      continue;
    }
    if (!f.pci) {
      messages.push({ ecu: f.header, data: f.bytes });
      continue;
    }
    const key = f.header!;
    const pci = f.bytes[0];
    const type = pci >> 4;
    if (type === 0) {
      const len = pci & 0x0f;
      if (len === 0 || len > f.bytes.length - 1) {
        unparsed.push(raw);
        continue;
      }
      messages.push({ ecu: key, data: f.bytes.slice(1, 1 + len) });
    } else if (type === 1) {
      if (f.bytes.length < 2) {
        unparsed.push(raw);
        continue;
      }
      const total = ((pci & 0x0f) << 8) | f.bytes[1];
      const a: Assembly = { total, got: 0, next: 1, buf: new Uint8Array(total) };
      const first = f.bytes.subarray(2, 2 + Math.min(total, f.bytes.length - 2));
      a.buf.set(first, 0);
      a.got = first.length;
      assemblies.set(key, a);
      if (a.got >= total) {
        messages.push({ ecu: key, data: a.buf });
        assemblies.delete(key);
      }
    } else if (type === 2) {
      const a = assemblies.get(key);
      if (!a || (pci & 0x0f) !== (a.next & 0x0f)) {
        unparsed.push(raw);
        continue;
      }
      a.next++;
      const n = Math.min(f.bytes.length - 1, a.total - a.got);
      a.buf.set(f.bytes.subarray(1, 1 + n), a.got);
      a.got += n;
      if (a.got >= a.total) {
        messages.push({ ecu: key, data: a.buf });
        assemblies.delete(key);
      }
    } else {
      unparsed.push(raw);
    }
  }
  for (const [key, a] of assemblies) unparsed.push(`${key} (incomplete multi-frame: ${a.got}/${a.total} bytes)`);
  return { messages, error, unparsed };
}
