/**
 * The parts of pako's low-level zlib port that `gunzip.ts` uses. pako exports `lib/zlib/*` as
 * public entry points (its package.json "exports") but ships no types for them.
 */
declare module 'pako/lib/zlib/zstream.js' {
  class ZStream {
    input: Uint8Array | null;
    next_in: number;
    avail_in: number;
    total_in: number;
    output: Uint8Array | null;
    next_out: number;
    avail_out: number;
    total_out: number;
    msg: string;
  }
  export default ZStream;
}

declare module 'pako/lib/zlib/inflate.js' {
  import type ZStream from 'pako/lib/zlib/zstream.js';
  const inflate: {
    inflateInit2(strm: ZStream, windowBits: number): number;
    inflateReset(strm: ZStream): number;
    inflate(strm: ZStream, flush: number): number;
    inflateEnd(strm: ZStream): number;
  };
  export default inflate;
}
