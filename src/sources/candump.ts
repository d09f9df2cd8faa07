/**
 * candump log reader (can-utils `candump -L` / `-l` files, and the `candump -ta` screen format).
 *
 *   (1700000000.000100) can0 123#DEADBEEF          classic, 3 hex digits = standard id
 *   (1700000000.000100) can0 12345678#00           8 hex digits = extended id
 *   (1700000000.000100) can0 123##1DEADBEEF...      CAN FD: flags digit (bit0 BRS, bit1 ESI), up to 64 bytes
 *   (1700000000.000100) can0 123#R  /  123#R5       remote frame (optionally with its DLC)
 *   (1700000000.000100) can0 20000080#0000000000000000   error frame (CAN_ERR_FLAG in the id)
 *   (1700000000.000100)  can0  123   [8]  DE AD BE EF 00 00 00 00     screen format (-ta, -x)
 *
 * Plain text or gzip (detected by the magic bytes), from a file or a stream (`-` = stdin).
 * The reader works on bytes: it splits lines itself, parses hex through a lookup table and
 * fills ONE reused `CanFrame` whose `data` is a view into one reused 64-byte buffer, so the hot
 * path allocates nothing per frame. Bad lines are counted and skipped, never fatal.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip, type ZlibOptions } from 'node:zlib';
import { ownedFileChunks } from './gunzip.js';
import type { CanFrame } from '../types.js';
import { copyCanFrame, newCanFrame } from '../can/index.js';
import { EdgewiseError } from '../errors.js';

export interface CandumpBadLine {
  line: number;
  text: string;
  reason: string;
}

export interface CandumpStats {
  /** Lines read (including empty and bad ones). */
  lines: number;
  /** Frames delivered. */
  frames: number;
  badLines: number;
  /** The first bad lines (up to `maxBadSamples`, default 20). */
  firstBadLines: CandumpBadLine[];
  /** Stopped early because the abort signal fired. */
  aborted: boolean;
  /** Set when the compressed input ended early or was corrupt (everything before it was delivered). */
  inputError?: string;
}

export interface CandumpOptions {
  onBadLine?(line: number, text: string, reason: string): void;
  signal?: AbortSignal;
  /** How many bad lines to keep in `firstBadLines` (default 20). */
  maxBadSamples?: number;
  /**
   * Called (and awaited) after each block of input has been handed to `onFrame`: the place
   * for a consumer to flush its output and wait for back-pressure, so memory stays bounded.
   */
  afterChunk?(): void | Promise<void>;
  /**
   * Small read-ahead (64 KiB reads, 128 KiB inflated ahead) for paced consumers such as a log
   * replayed in real time next to other sources; the default favours throughput (MiBs ahead).
   */
  lowMemory?: boolean;
}

export type CandumpInput = string | NodeJS.ReadableStream;

// ---------------------------------------------------------------------------------------------
// Byte-level line parser

/** Hex digit value by byte, -1 when not a hex digit. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

/** Byte value of two hex digit bytes (hi << 8 | lo), -1 when either is not a hex digit. */
const HEX_PAIR = new Int16Array(65536).fill(-1);
for (let hi = 0; hi < 256; hi++) {
  if (HEX[hi] < 0) continue;
  for (let lo = 0; lo < 256; lo++) if (HEX[lo] >= 0) HEX_PAIR[(hi << 8) | lo] = (HEX[hi] << 4) | HEX[lo];
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18];

/** Valid CAN FD payload lengths, by length: 1 = valid. */
const FD_LENGTH_OK = new Uint8Array(65);
for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]) FD_LENGTH_OK[n] = 1;

const CAN_ERR_FLAG = 0x20000000;
const CAN_EFF_MASK = 0x1fffffff;

const SP = 32;
const TAB = 9;
const CR = 13;
const LF = 10;

/** Returned by the line parser for a line with nothing on it (not a bad line, not a frame). */
const EMPTY = '';

const R_NO_TIMESTAMP = 'missing "(timestamp)" at the start of the line';
const R_TIMESTAMP = 'malformed timestamp';
const R_NO_IFACE = 'missing interface name';
const R_NO_FRAME = 'missing frame after the interface name';
const R_ID_DIGITS = 'CAN id must be 3 (standard) or 8 (extended) hex digits';
const R_STD_RANGE = 'standard CAN id above 7FF';
const R_EXT_RANGE = 'extended CAN id above 1FFFFFFF';
const R_ODD_HEX = 'odd number of hex digits in the data';
const R_TOO_LONG_CLASSIC = 'more than 8 data bytes in a classic CAN frame';
const R_TOO_LONG_FD = 'more than 64 data bytes in a CAN FD frame';
const R_FD_LENGTH = 'not a valid CAN FD data length';
const R_FD_FLAGS = 'missing CAN FD flags digit after "##"';
const R_REMOTE_DLC = 'remote frame DLC must be 0..8';
const R_TRAILING = 'unexpected text after the frame';
const R_SEPARATOR = 'expected "#" after the CAN id';
const R_SCREEN_LEN = 'expected "[length]" after the CAN id';
const R_SCREEN_BYTES = 'fewer data bytes than the [length] says';
const R_TOO_LONG_LINE = 'line longer than 64 KiB';
const MAX_LINE = 64 * 1024;

/** Parser state kept between lines: the reused data buffer and the interface-name cache. */
class LineParser {
  /** Results of `classifyId` (fields, so the hot path allocates nothing). */
  private idExtended = false;
  private idError = false;
  private idBare = 0;

  /**
   * candump's id rules: 3 hex digits = standard (≤ 7FF), 8 = extended (≤ 1FFFFFFF) or an error
   * frame (CAN_ERR_FLAG set). Sets idExtended/idError/idBare; returns the reason when invalid.
   */
  private classifyId(id: number, digits: number): string | null {
    this.idExtended = false;
    this.idError = false;
    this.idBare = id;
    if (digits === 3) return id > 0x7ff ? R_STD_RANGE : null;
    if (digits !== 8) return R_ID_DIGITS;
    if (id >= CAN_ERR_FLAG && id < 2 * CAN_ERR_FLAG) {
      this.idError = true;
      this.idBare = id - CAN_ERR_FLAG;
      return null;
    }
    if (id > CAN_EFF_MASK) return R_EXT_RANGE;
    this.idExtended = true;
    return null;
  }

  readonly buf = new Uint8Array(64);
  /** views[n] = buf.subarray(0, n): handed out as `frame.data` without allocating. */
  readonly views: Uint8Array[] = [];
  private ifaceBytes: Uint8Array[] = [];
  private ifaceNames: string[] = [];

  constructor() {
    for (let n = 0; n <= 64; n++) this.views.push(this.buf.subarray(0, n));
  }

  private iface(b: Buffer, s: number, e: number): string {
    const len = e - s;
    const cache = this.ifaceBytes;
    outer: for (let k = 0; k < cache.length; k++) {
      const c = cache[k];
      if (c.length !== len) continue;
      for (let i = 0; i < len; i++) if (c[i] !== b[s + i]) continue outer;
      return this.ifaceNames[k];
    }
    const name = b.toString('latin1', s, e);
    if (cache.length < 64) {
      cache.push(Uint8Array.prototype.slice.call(b, s, e));
      this.ifaceNames.push(name);
    }
    return name;
  }

  /**
   * Parses bytes b[p..end) (no line terminator) into `f`. Returns null when a frame was
   * parsed, EMPTY for a blank line, else the reason the line is bad.
   */
  parse(b: Buffer, p: number, end: number, f: CanFrame): string | null {
    while (p < end && (b[p] === SP || b[p] === TAB)) p++;
    while (end > p && (b[end - 1] === SP || b[end - 1] === TAB || b[end - 1] === CR)) end--;
    if (p >= end) return EMPTY;
    if (b[p] !== 40 /* ( */) return R_NO_TIMESTAMP;
    p++;

    // Timestamp: seconds '.' fraction. Kept exact to the µs: (sec * 1e6 + µs) / 1e3 is one rounding.
    let sec = 0;
    let nd = 0;
    let c = 0;
    while (p < end) {
      c = b[p] - 48;
      if (c < 0 || c > 9) break;
      sec = sec * 10 + c;
      p++;
      nd++;
    }
    if (nd === 0 || nd > 15) return R_TIMESTAMP;
    let frac = 0;
    let fd = 0;
    if (b[p] === 46 /* . */) {
      p++;
      while (p < end) {
        c = b[p] - 48;
        if (c < 0 || c > 9) break;
        if (fd < 18) {
          frac = frac * 10 + c;
          fd++;
        }
        p++;
      }
    }
    if (p >= end || b[p] !== 41 /* ) */) return R_TIMESTAMP;
    p++;
    let timeMs: number;
    if (fd <= 3) timeMs = sec * 1000 + frac * POW10[3 - fd];
    else {
      const whole = sec * POW10[fd] + frac;
      timeMs = whole <= Number.MAX_SAFE_INTEGER ? whole / POW10[fd - 3] : sec * 1000 + frac / POW10[fd - 3];
    }

    // Interface
    const ws0 = p;
    while (p < end && (b[p] === SP || b[p] === TAB)) p++;
    if (p === ws0) return R_NO_IFACE;
    const is = p;
    while (p < end && b[p] !== SP && b[p] !== TAB) p++;
    if (p === is) return R_NO_IFACE;
    const iface = this.iface(b, is, p);
    while (p < end && (b[p] === SP || b[p] === TAB)) p++;
    if (p >= end) return R_NO_FRAME;

    // Id
    const idStart = p;
    let id = 0;
    let h = 0;
    while (p < end) {
      h = HEX[b[p]];
      if (h < 0) break;
      id = id * 16 + h;
      p++;
    }
    const idDigits = p - idStart;
    if (p < end && b[p] === 35 /* # */) {
      p++;
    } else {
      return this.parseScreen(b, idStart, end, f, timeMs, iface);
    }

    const idProblem = this.classifyId(id, idDigits);
    if (idProblem !== null) return idProblem;
    const extended = this.idExtended;
    const error = this.idError;
    id = this.idBare;

    const buf = this.buf;
    let n = 0;
    let isFd = false;
    let flags = 0;
    let remote = false;
    if (p < end && b[p] === 35 /* ## : CAN FD */) {
      p++;
      flags = p < end ? HEX[b[p]] : -1;
      if (flags < 0) return R_FD_FLAGS;
      p++;
      isFd = true;
    } else if (p < end && (b[p] === 82 || b[p] === 114) /* R */) {
      p++;
      remote = true;
      if (p < end && b[p] !== SP && b[p] !== TAB) {
        const d = HEX[b[p]];
        if (d < 0 || d > 8) return R_REMOTE_DLC;
        n = d;
        buf.fill(0, 0, n);
        p++;
      }
    }
    if (!remote) {
      const max = isFd ? 64 : 8;
      // Fast path: two hex digits at a time through a 64 K-entry table.
      while (p + 1 < end) {
        const v = HEX_PAIR[(b[p] << 8) | b[p + 1]];
        if (v < 0) break;
        if (n === max) return isFd ? R_TOO_LONG_FD : R_TOO_LONG_CLASSIC;
        buf[n++] = v;
        p += 2;
      }
      // Dots between bytes, odd digits, errors.
      while (p < end) {
        c = b[p];
        if (c === 46 /* . */) {
          p++;
          continue;
        }
        const hi = HEX[c];
        if (hi < 0) break;
        const lo = p + 1 < end ? HEX[b[p + 1]] : -1;
        if (lo < 0) return R_ODD_HEX;
        if (n === max) return isFd ? R_TOO_LONG_FD : R_TOO_LONG_CLASSIC;
        buf[n++] = (hi << 4) | lo;
        p += 2;
      }
      if (isFd) {
        if (FD_LENGTH_OK[n] === 0) return R_FD_LENGTH;
      } else if (n === 8 && p + 1 < end && b[p] === 95 /* _ len8_dlc */ && HEX[b[p + 1]] > 8) {
        p += 2;
      }
    }
    // Optional direction marker written by newer candump (` R` / ` T`), then nothing.
    if (p < end) {
      if (b[p] !== SP && b[p] !== TAB) return R_TRAILING;
      while (p < end && (b[p] === SP || b[p] === TAB)) p++;
      if (p < end && (b[p] === 82 || b[p] === 84) && p + 1 === end) p++;
      if (p < end) return R_TRAILING;
    }

    f.timeMs = timeMs;
    f.iface = iface;
    f.id = id;
    f.extended = extended;
    f.fd = isFd;
    f.brs = (flags & 1) !== 0;
    f.esi = (flags & 2) !== 0;
    f.remote = remote;
    f.error = error;
    f.data = this.views[n];
    return null;
  }

  /**
   * The screen format of `candump -ta` (optionally `-x`):
   *   `can0  123   [8]  DE AD BE EF 00 00 00 00`, FD `can0  123  [12]  ...` (2-digit length),
   *   `can0  TX B -  123  [12]  ...`, remote `can0  123   [4]  remote request`.
   * Text after the data bytes (ASCII column, ERRORFRAME) is ignored.
   */
  private parseScreen(b: Buffer, p: number, end: number, f: CanFrame, timeMs: number, iface: string): string | null {
    let brs = false;
    let esi = false;
    let sawDirection = false;
    // -x: direction and flag columns
    if (p + 1 < end && (b[p] === 84 || b[p] === 82) && b[p + 1] === 88 /* TX / RX */) {
      sawDirection = true;
      p += 2;
      for (let k = 0; k < 3; k++) {
        while (p < end && (b[p] === SP || b[p] === TAB)) p++;
        if (p + 1 < end && (b[p + 1] === SP || b[p + 1] === TAB)) {
          const ch = b[p];
          if (ch === 66 /* B */) brs = true;
          else if (ch === 69 /* E */) esi = true;
          else if (ch !== 45 /* - */) break;
          p++;
        } else break;
      }
      while (p < end && (b[p] === SP || b[p] === TAB)) p++;
    }
    const idStart = p;
    let id = 0;
    while (p < end && HEX[b[p]] >= 0) id = id * 16 + HEX[b[p++]];
    const idDigits = p - idStart;
    if (idDigits === 0 || (p < end && b[p] !== SP && b[p] !== TAB)) return sawDirection ? R_ID_DIGITS : R_SEPARATOR;
    const idProblem = this.classifyId(id, idDigits);
    if (idProblem !== null) return idProblem;
    const extended = this.idExtended;
    const error = this.idError;
    id = this.idBare;
    while (p < end && (b[p] === SP || b[p] === TAB)) p++;
    if (p >= end || b[p] !== 91 /* [ */) return R_SCREEN_LEN;
    p++;
    const ls = p;
    let len = 0;
    while (p < end && b[p] >= 48 && b[p] <= 57) len = len * 10 + (b[p++] - 48);
    const lenDigits = p - ls;
    if (lenDigits === 0 || lenDigits > 2 || p >= end || b[p] !== 93 /* ] */) return R_SCREEN_LEN;
    p++;
    const isFd = lenDigits === 2 || brs || esi;
    if (isFd ? len > 64 || FD_LENGTH_OK[len] === 0 : len > 8) return isFd ? R_FD_LENGTH : R_TOO_LONG_CLASSIC;
    while (p < end && (b[p] === SP || b[p] === TAB)) p++;
    const buf = this.buf;
    let remote = false;
    if (end - p >= 6 && b.toString('latin1', p, p + 6) === 'remote') {
      remote = true;
      buf.fill(0, 0, len);
    } else {
      for (let n = 0; n < len; n++) {
        while (p < end && (b[p] === SP || b[p] === TAB)) p++;
        const hi = p < end ? HEX[b[p]] : -1;
        const lo = p + 1 < end ? HEX[b[p + 1]] : -1;
        if (hi < 0 || lo < 0) return R_SCREEN_BYTES;
        buf[n] = (hi << 4) | lo;
        p += 2;
      }
    }
    f.timeMs = timeMs;
    f.iface = iface;
    f.id = id;
    f.extended = extended;
    f.fd = isFd;
    f.brs = brs;
    f.esi = esi;
    f.remote = remote;
    f.error = error;
    f.data = this.views[len];
    return null;
  }
}

let sharedParser: LineParser | undefined;

/**
 * Parses one candump line into `frame`. Returns null when it is a frame, else the reason it is
 * not (an empty line gives 'empty line'). `frame.data` is a view into a buffer reused by the
 * next call: copy it to keep it.
 */
export function parseCandumpLine(text: string, frame: CanFrame): string | null {
  sharedParser ??= new LineParser();
  const b = Buffer.from(text, 'latin1');
  let end = b.length;
  if (end > 0 && b[end - 1] === LF) end--;
  const r = sharedParser.parse(b, 0, end, frame);
  return r === EMPTY ? 'empty line' : r;
}

// ---------------------------------------------------------------------------------------------
// Formatting (the inverse)

const HEX2: string[] = [];
for (let i = 0; i < 256; i++) HEX2.push(i.toString(16).toUpperCase().padStart(2, '0'));

/** Hex of a byte array, upper case, no separators. */
export function hexBytes(data: Uint8Array, sep = ''): string {
  let s = '';
  for (let i = 0; i < data.length; i++) s += (i > 0 ? sep : '') + HEX2[data[i]];
  return s;
}

/** The candump `-L` timestamp text of a time in ms, `1700000000.000100` (µs resolution). */
export function formatCandumpTime(timeMs: number): string {
  const us = Math.round(timeMs * 1000);
  const sec = Math.floor(us / 1e6);
  const frac = us - sec * 1e6;
  return `${sec}.${String(frac).padStart(6, '0')}`;
}

/** The CAN id as candump writes it: 3 hex digits standard, 8 extended (error frames with the error flag). */
export function formatCandumpId(frame: Pick<CanFrame, 'id' | 'extended' | 'error'>): string {
  if (frame.error) return (frame.id + CAN_ERR_FLAG).toString(16).toUpperCase().padStart(8, '0');
  return frame.id.toString(16).toUpperCase().padStart(frame.extended ? 8 : 3, '0');
}

/**
 * One candump `-L` line (no newline) for a frame: `(1700000000.000100) can0 123#DEADBEEF`.
 * A remote frame's `data.length` is written as its DLC (`123#R4`).
 */
export function formatCandumpLine(frame: CanFrame): string {
  const head = `(${formatCandumpTime(frame.timeMs)}) ${frame.iface} ${formatCandumpId(frame)}#`;
  if (frame.remote) return head + 'R' + (frame.data.length > 0 ? String(frame.data.length) : '');
  if (frame.fd) return head + '#' + ((frame.brs ? 1 : 0) | (frame.esi ? 2 : 0)).toString(16).toUpperCase() + hexBytes(frame.data);
  return head + hexBytes(frame.data);
}

// ---------------------------------------------------------------------------------------------
// Streaming

const CHUNK = 1 << 20;
/** candumpChunks yields after at most this much text (~1,000 frames). */
const YIELD_BYTES = 32 * 1024;
/** How much inflated text zlib may prepare (on the thread pool) while the previous block is parsed. */
const GUNZIP_AHEAD = 4 << 20;

/** Read-ahead sizes: large for throughput (decode, simulate), small for paced replay (daemon). */
interface Buffering {
  read: number;
  inflateChunk: number;
  inflateAhead: number;
}
const FAST: Buffering = { read: CHUNK, inflateChunk: 256 * 1024, inflateAhead: GUNZIP_AHEAD };
/** Streams (stdin) in low-memory mode; files use `ownedFileChunks` (no buffer per chunk). */
const LEAN: Buffering = { read: 64 * 1024, inflateChunk: 64 * 1024, inflateAhead: 128 * 1024 };

function openInput(input: CandumpInput, buf: Buffering): { stream: NodeJS.ReadableStream; name: string } {
  if (typeof input !== 'string') return { stream: input, name: '<stream>' };
  if (input === '-') return { stream: process.stdin, name: '<stdin>' };
  return { stream: createReadStream(input, { highWaterMark: buf.read }), name: input };
}

function ioError(name: string, e: unknown): EdgewiseError {
  const err = e as NodeJS.ErrnoException;
  const why = err?.code === 'ENOENT' ? 'no such file' : err?.code === 'EISDIR' ? 'is a directory' : (err?.message ?? String(e));
  return new EdgewiseError('IO', `cannot read ${name}: ${why}`, { file: name }, { cause: e });
}

/**
 * Yields the decompressed bytes of the input. The gzip decision is made on the first bytes
 * (0x1f 0x8b), whatever the file is called. Inflation runs on the libuv thread pool, so it
 * overlaps with parsing. A corrupt/truncated gzip ends the stream with `onInputError`.
 */
async function* inputBytes(input: CandumpInput, onInputError: (msg: string) => void, buf: Buffering = FAST): AsyncGenerator<Buffer> {
  if (buf === LEAN && typeof input === 'string' && input !== '-') {
    // Paced replay: read and inflate into two reused buffers (see gunzip.ts).
    try {
      yield* ownedFileChunks(input, { chunkBytes: YIELD_BYTES, onInputError });
    } catch (e) {
      throw e instanceof EdgewiseError ? e : ioError(input, e);
    }
    return;
  }
  const { stream, name } = openInput(input, buf);
  const owned = typeof input === 'string' && input !== '-';
  try {
    yield* decompressed(stream, name, onInputError, buf);
  } finally {
    // Close a file we opened (also when the consumer stops early); never close a caller's stream.
    if (owned) (stream as unknown as { destroy(): void }).destroy();
  }
}

async function* decompressed(
  stream: NodeJS.ReadableStream,
  name: string,
  onInputError: (msg: string) => void,
  buf: Buffering,
): AsyncGenerator<Buffer> {
  const it = (stream as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const toBuf = (c: Buffer | string): Buffer => (typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  const next = async (): Promise<Buffer | undefined> => {
    try {
      const r = await it.next();
      return r.done ? undefined : toBuf(r.value);
    } catch (e) {
      throw ioError(name, e);
    }
  };
  // Look at the first two bytes (a first chunk may be shorter).
  let head = await next();
  if (head === undefined) return;
  while (head.length < 2) {
    const more = await next();
    if (more === undefined) break;
    head = Buffer.concat([head, more]);
  }
  if (head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) {
    for (let c: Buffer | undefined = head; c !== undefined; c = await next()) yield c;
    return;
  }
  const first = head;
  // (`highWaterMark` reaches the underlying Transform; @types/node does not list it.)
  const gunzipOptions: ZlibOptions & { highWaterMark: number } = { chunkSize: buf.inflateChunk, highWaterMark: buf.inflateAhead };
  const gunzip = createGunzip(gunzipOptions);
  const compressed = Readable.from(
    (async function* () {
      yield first;
      for (let c = await next(); c !== undefined; c = await next()) yield c;
    })(),
  );
  let sourceError: unknown;
  compressed.on('error', (e) => {
    sourceError = e;
    gunzip.destroy(e);
  });
  compressed.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (e) {
    if (sourceError !== undefined) throw sourceError;
    onInputError(`${name}: gzip data is corrupt or truncated (${(e as Error).message})`);
  } finally {
    compressed.destroy();
    gunzip.destroy();
  }
}

/** Splits byte chunks into lines and parses them; shared by `readCandump` and `candumpChunks`. */
class ChunkSplitter {
  readonly parser = new LineParser();
  readonly frame = newCanFrame();
  readonly stats: CandumpStats = { lines: 0, frames: 0, badLines: 0, firstBadLines: [], aborted: false };
  private rest: Buffer | undefined;
  /** The kept rest is the start of a line longer than MAX_LINE. */
  private overlong = false;
  private readonly maxBad: number;

  constructor(private readonly opts: CandumpOptions) {
    this.maxBad = opts.maxBadSamples ?? 20;
  }

  private bad(b: Buffer, s: number, e: number, reason: string): void {
    const st = this.stats;
    st.badLines++;
    let ee = e;
    if (ee > s && b[ee - 1] === CR) ee--;
    const text = b.toString('latin1', s, Math.min(ee, s + 200));
    if (st.firstBadLines.length < this.maxBad) st.firstBadLines.push({ line: st.lines, text, reason });
    this.opts.onBadLine?.(st.lines, text, reason);
  }

  /** One complete line (a line that crossed a chunk boundary). */
  private one(b: Buffer, onFrame: (frame: CanFrame, line: number) => void): void {
    const st = this.stats;
    st.lines++;
    const r = this.parser.parse(b, 0, b.length, this.frame);
    if (r === null) {
      st.frames++;
      onFrame(this.frame, st.lines);
    } else if (r !== EMPTY) this.bad(b, 0, b.length, r);
  }

  /** Parses the complete lines of b from s; returns where the unterminated rest starts. */
  private run(b: Buffer, s: number, onFrame: (frame: CanFrame, line: number) => void): number {
    const st = this.stats;
    const parser = this.parser;
    const f = this.frame;
    for (;;) {
      const nl = b.indexOf(LF, s);
      if (nl === -1) return s;
      st.lines++;
      const r = parser.parse(b, s, nl, f);
      if (r === null) {
        st.frames++;
        onFrame(f, st.lines);
      } else if (r !== EMPTY) this.bad(b, s, nl, r);
      s = nl + 1;
    }
  }

  feed(chunk: Buffer, onFrame: (frame: CanFrame, line: number) => void): void {
    let s = 0;
    if (this.rest !== undefined) {
      // Only the line that crossed the boundary is copied, never the whole chunk.
      const nl = chunk.indexOf(LF);
      if (nl === -1) {
        this.keepRest(Buffer.concat([this.rest, chunk]));
        return;
      }
      const line = Buffer.concat([this.rest, chunk.subarray(0, nl)]);
      this.rest = undefined;
      if (this.overlong) {
        this.overlong = false;
        this.stats.lines++;
        this.bad(line, 0, line.length, R_TOO_LONG_LINE);
      } else this.one(line, onFrame);
      s = nl + 1;
    }
    s = this.run(chunk, s, onFrame);
    if (s < chunk.length) this.keepRest(Buffer.from(chunk.subarray(s)));
  }

  /** Keeps an unterminated line for the next chunk; a line beyond 64 KiB is cut (and reported bad). */
  private keepRest(b: Buffer): void {
    if (b.length > MAX_LINE) {
      this.overlong = true;
      this.rest = Buffer.from(b.subarray(0, 200));
    } else this.rest = b;
  }

  end(onFrame: (frame: CanFrame, line: number) => void): void {
    const b = this.rest;
    this.rest = undefined;
    if (b === undefined || b.length === 0) return;
    if (this.overlong) {
      this.overlong = false;
      this.stats.lines++;
      this.bad(b, 0, b.length, R_TOO_LONG_LINE);
    } else this.one(b, onFrame);
  }
}

/**
 * Reads a candump log (path, `-` for stdin, or a stream; plain or gzip) and calls `onFrame`
 * for every frame with its 1-based line number. The frame object and its data buffer are
 * reused for the next frame. Resolves with the counts when the input ends or `signal` aborts.
 */
export async function readCandump(
  input: CandumpInput,
  onFrame: (frame: CanFrame, line: number) => void,
  opts: CandumpOptions = {},
): Promise<CandumpStats> {
  const sp = new ChunkSplitter(opts);
  const signal = opts.signal;
  if (signal?.aborted) {
    sp.stats.aborted = true;
    return sp.stats;
  }
  const gen = inputBytes(input, (msg) => (sp.stats.inputError = msg));
  const afterChunk = opts.afterChunk;
  for await (const chunk of gen) {
    sp.feed(chunk, onFrame);
    if (afterChunk !== undefined) await afterChunk();
    if (signal?.aborted) {
      sp.stats.aborted = true;
      await gen.return(undefined);
      return sp.stats;
    }
  }
  sp.end(onFrame);
  if (afterChunk !== undefined) await afterChunk();
  return sp.stats;
}


/**
 * A block of frames in flat typed arrays (no object per frame). `candumpPacked` reuses one
 * instance: its content is valid until the consumer asks for the next block.
 */
export class PackedFrames {
  n = 0;
  private cap = 0;
  times = new Float64Array(0);
  ids = new Uint32Array(0);
  /** bit0 extended, bit1 fd, bit2 brs, bit3 esi, bit4 remote, bit5 error */
  flags = new Uint8Array(0);
  lens = new Uint8Array(0);
  lines = new Float64Array(0);
  ifaces: string[] = [];
  data = new Uint8Array(0);
  /** Views of `scratch` of every length 0..64, so `read` hands out data without allocating. */
  private readonly scratch = new Uint8Array(64);
  private readonly views = Array.from({ length: 65 }, (_, k) => this.scratch.subarray(0, k));

  clear(): void {
    this.n = 0;
  }

  push(f: CanFrame, line: number): void {
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    this.times[i] = f.timeMs;
    this.ids[i] = f.id;
    this.flags[i] = (f.extended ? 1 : 0) | (f.fd ? 2 : 0) | (f.brs ? 4 : 0) | (f.esi ? 8 : 0) | (f.remote ? 16 : 0) | (f.error ? 32 : 0);
    const len = Math.min(64, f.data.length);
    this.lens[i] = len;
    this.lines[i] = line;
    this.ifaces[i] = f.iface;
    this.data.set(len === f.data.length ? f.data : f.data.subarray(0, len), i * 64);
  }

  /** Time of frame `i` (ms). */
  timeAt(i: number): number {
    return this.times[i];
  }

  /** Fill `frame` with frame `i`; `frame.data` is a shared view, valid until the next read. */
  read(i: number, frame: CanFrame): CanFrame {
    const fl = this.flags[i];
    const len = this.lens[i];
    frame.timeMs = this.times[i];
    frame.id = this.ids[i];
    frame.iface = this.ifaces[i];
    frame.extended = (fl & 1) !== 0;
    frame.fd = (fl & 2) !== 0;
    frame.brs = (fl & 4) !== 0;
    frame.esi = (fl & 8) !== 0;
    frame.remote = (fl & 16) !== 0;
    frame.error = (fl & 32) !== 0;
    // A byte loop, not scratch.set(data.subarray(...)): no view object per frame.
    const data = this.data;
    const scratch = this.scratch;
    for (let k = 0, b = i * 64; k < len; k++) scratch[k] = data[b + k];
    frame.data = this.views[len];
    return frame;
  }

  private grow(): void {
    const cap = Math.max(256, this.cap * 2);
    const g = <T extends Float64Array | Uint32Array | Uint8Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.times = g(this.times, cap);
    this.ids = g(this.ids, cap);
    this.flags = g(this.flags, cap);
    this.lens = g(this.lens, cap);
    this.lines = g(this.lines, cap);
    this.data = g(this.data, cap * 64);
    this.cap = cap;
  }
}

/**
 * Like `candumpChunks` but without an object per frame: yields one reused `PackedFrames` per
 * block of about 1,000 frames. For paced replay next to other sources (bounded, garbage-free).
 */
export async function* candumpPacked(input: CandumpInput, opts: CandumpOptions & { stats?: CandumpStats } = {}): AsyncGenerator<PackedFrames> {
  const sp = new ChunkSplitter(opts);
  const packed = new PackedFrames();
  const collect = (f: CanFrame, line: number): void => packed.push(f, line);
  const publish = (): void => {
    if (opts.stats) Object.assign(opts.stats, sp.stats, { firstBadLines: sp.stats.firstBadLines.slice() });
  };
  const gen = inputBytes(input, (msg) => (sp.stats.inputError = msg), opts.lowMemory ? LEAN : FAST);
  try {
    for await (const chunk of gen) {
      if (opts.signal?.aborted) {
        sp.stats.aborted = true;
        break;
      }
      for (let off = 0; off < chunk.length; off += YIELD_BYTES) {
        packed.clear();
        sp.feed(off === 0 && chunk.length <= YIELD_BYTES ? chunk : chunk.subarray(off, off + YIELD_BYTES), collect);
        if (packed.n > 0) {
          publish();
          yield packed;
        }
      }
    }
    if (!sp.stats.aborted) {
      packed.clear();
      sp.end(collect);
      publish();
      if (packed.n > 0) yield packed;
    }
  } finally {
    publish();
    await gen.return(undefined);
  }
}

export interface CandumpChunk {
  /** Copied frames (safe to keep). */
  frames: CanFrame[];
  /** 1-based line number of each frame. */
  lines: number[];
}

/**
 * Pull-style reading: yields the frames of the log in order, in chunks of copied frames
 * (one chunk per block of input, never empty). `stats` (when given) is filled as it goes.
 */
export async function* candumpChunks(
  input: CandumpInput,
  opts: CandumpOptions & { stats?: CandumpStats } = {},
): AsyncGenerator<CandumpChunk> {
  const sp = new ChunkSplitter(opts);
  const signal = opts.signal;
  let frames: CanFrame[] = [];
  let lines: number[] = [];
  const collect = (f: CanFrame, line: number): void => {
    frames.push(copyCanFrame(f));
    lines.push(line);
  };
  const publish = (): void => {
    if (opts.stats) Object.assign(opts.stats, sp.stats, { firstBadLines: sp.stats.firstBadLines.slice() });
  };
  const gen = inputBytes(input, (msg) => (sp.stats.inputError = msg), opts.lowMemory ? LEAN : FAST);
  try {
    for await (const chunk of gen) {
      if (signal?.aborted) {
        sp.stats.aborted = true;
        break;
      }
      // Feed the (up to several MiB) input block in slices so a chunk holds a bounded number of
      // copied frames: a paced consumer keeps one slice in memory, not a whole block.
      for (let off = 0; off < chunk.length; off += YIELD_BYTES) {
        sp.feed(off === 0 && chunk.length <= YIELD_BYTES ? chunk : chunk.subarray(off, off + YIELD_BYTES), collect);
        if (frames.length > 0) {
          const out = { frames, lines };
          frames = [];
          lines = [];
          publish();
          yield out;
        }
      }
    }
    if (!sp.stats.aborted) {
      sp.end(collect);
      publish();
      if (frames.length > 0) yield { frames, lines };
    }
  } finally {
    publish();
    await gen.return(undefined);
  }
}
