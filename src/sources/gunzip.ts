/**
 * Streaming gunzip into a buffer the caller owns and reuses, for paced log replay in the daemon.
 *
 * Node's zlib streams hand out a new Buffer per output chunk and keep a read-ahead of them; in a
 * replay paced at real time those buffers live long enough to be promoted to V8's old space, so
 * a replaying daemon carried 10–50 MB of dead ArrayBuffers between major GCs. Here the compressed
 * bytes are read into one buffer and inflated synchronously (pako's zlib port) into another, both
 * reused: nothing is allocated per chunk. At replay rates (~130 KB/s of gzip per bus) inflating on
 * the main thread costs well under 1 % of a core. Fast paths (decode, simulate) keep Node's zlib.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { constants as zc, gzipSync } from 'node:zlib';
import zlib from 'pako/lib/zlib/inflate.js';
import ZStream from 'pako/lib/zlib/zstream.js';

const Z_NO_FLUSH = 0;
const Z_OK = 0;
const Z_STREAM_END = 1;
const Z_BUF_ERROR = -5;
/** 15-bit window, gzip wrapper only. */
const GZIP_WINDOW_BITS = 15 + 16;

/**
 * Runs pako's inflate once over a small gzip file that takes every path a log file takes: stored,
 * fixed and dynamic Huffman blocks, the CRC and length trailer, a second member, and inputs and
 * outputs that run out mid-block. Returns the bytes inflated (the corpus's length when all is well).
 *
 * Why: V8 optimises `inflate` (a 6 KB-bytecode state machine; TurboFan takes ~50 ms and ~6 MB of
 * compiler memory for it) about 10 s into a replay. Code that had not run by then, such as the
 * trailer at the end of the file, has no type feedback; reaching it deoptimises `inflate`, and it is
 * compiled again (bench/soak: a 6 MB RSS spike when a 4-minute log first loops). With feedback
 * for every path from the start, it is compiled once, during start-up.
 */
export function warmInflate(): number {
  let x = 1;
  const next = (): number => (x = (x * 1103515245 + 12345) >>> 0);
  const lines: string[] = [];
  for (let i = 0; i < 100; i++) lines.push(`(1700000000.${String(next() % 1e6).padStart(6, '0')}) can0 ${(next() % 0x7ff).toString(16).toUpperCase()}#${next().toString(16).padStart(8, '0')}`);
  const text = Buffer.from(lines.join('\n') + '\n', 'latin1');
  const noise = Buffer.alloc(2000);
  for (let i = 0; i < noise.length; i++) noise[i] = next() >>> 24;
  const members = [
    gzipSync(text, { level: 9 }), // dynamic Huffman
    gzipSync(text, { level: 1, strategy: zc.Z_FIXED }), // fixed Huffman
    gzipSync(noise, { level: 0 }), // stored
    gzipSync(Buffer.concat([text, noise]), { level: 6 }),
  ];
  const gz = Buffer.concat(members);
  const g = new GunzipInto(false);
  const out = Buffer.allocUnsafe(1024);
  let total = 0;
  for (let off = 0; off < gz.length; off += 700) {
    const piece = gz.subarray(off, Math.min(gz.length, off + 700));
    g.feed(piece, piece.length);
    for (let k = g.drain(out); k > 0; k = g.drain(out)) total += k;
  }
  g.close();
  return g.error === undefined && g.complete ? total : -1;
}
let warmed = false;

/** Inflates one gzip file (several members, as `cat a.gz b.gz` makes, are read in turn). */
export class GunzipInto {
  private readonly strm = new ZStream();
  private open = true;
  /** The current member has ended (another may follow). */
  private memberEnded = false;
  /** A zlib error message once the data proved corrupt. */
  error: string | undefined;

  /** `warm`: the first instance in the process runs `warmInflate` first. */
  constructor(warm = true) {
    if (warm && !warmed) {
      warmed = true;
      warmInflate();
    }
    const r = zlib.inflateInit2(this.strm, GZIP_WINDOW_BITS);
    if (r !== Z_OK) throw new Error(`inflateInit2 failed (${r})`);
  }

  /** True when the data so far ends exactly at the end of a member (a complete file). */
  get complete(): boolean {
    return this.memberEnded;
  }

  /** Hands over `n` compressed bytes of `input`; they are consumed by the following `drain` calls. */
  feed(input: Uint8Array, n: number): void {
    const s = this.strm;
    s.input = input;
    s.next_in = 0;
    s.avail_in = n;
  }

  /**
   * Inflates into `out` from its start and returns how many bytes were written: `out.length` when
   * more may follow from the same input, 0 when all fed input is used (or on error, see `error`).
   */
  drain(out: Uint8Array): number {
    const s = this.strm;
    s.output = out;
    s.next_out = 0;
    s.avail_out = out.length;
    while (s.avail_out > 0 && this.error === undefined) {
      if (this.memberEnded) {
        // More input after a member: the next member (bytes that are not gzip fail its header
        // check, as they do in Node's gunzip).
        if (s.avail_in === 0) break;
        zlib.inflateReset(this.strm);
        this.memberEnded = false;
      }
      const r = zlib.inflate(s, Z_NO_FLUSH);
      if (r === Z_STREAM_END) this.memberEnded = true;
      else if (r === Z_BUF_ERROR) break; // needs more input
      else if (r !== Z_OK) this.error = s.msg || `zlib error ${r}`;
    }
    return s.next_out;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    zlib.inflateEnd(this.strm);
  }
}

export interface OwnedChunkOptions {
  /** Compressed (or plain) bytes read per call: 16 KiB. */
  readBytes?: number;
  /** Size of the reused output buffer, i.e. the largest chunk yielded: 32 KiB. */
  chunkBytes?: number;
  /** Called once with a message when the gzip data is corrupt or truncated (the stream then ends). */
  onInputError?: (msg: string) => void;
}

/**
 * Yields the (decompressed) content of a plain or gzip file as views of one reused buffer: each
 * chunk is valid only until the next one is requested. gzip is recognised by its first bytes.
 */
export async function* ownedFileChunks(file: string, opts: OwnedChunkOptions = {}): AsyncGenerator<Buffer> {
  const input = Buffer.allocUnsafe(opts.readBytes ?? 16 * 1024);
  const output = Buffer.allocUnsafe(opts.chunkBytes ?? 32 * 1024);
  const fh: FileHandle = await open(file, 'r');
  let gz: GunzipInto | undefined;
  try {
    const read = async (): Promise<number> => (await fh.read(input, 0, input.length, null)).bytesRead;
    let n = await read();
    if (n === 0) return;
    if (n < 2 || input[0] !== 0x1f || input[1] !== 0x8b) {
      for (; n > 0; n = await read()) yield input.subarray(0, n);
      return;
    }
    gz = new GunzipInto();
    for (; n > 0; n = await read()) {
      gz.feed(input, n);
      for (let k = gz.drain(output); k > 0; k = gz.drain(output)) yield output.subarray(0, k);
      if (gz.error !== undefined) break;
    }
    if (gz.error !== undefined) opts.onInputError?.(`${file}: gzip data is corrupt or truncated (${gz.error})`);
    else if (!gz.complete) opts.onInputError?.(`${file}: gzip data is corrupt or truncated (unexpected end of file)`);
  } finally {
    gz?.close();
    await fh.close();
  }
}
