/**
 * The 2-byte envelope in front of every batch message and the three codecs.
 *
 *   byte 0  0xED   magic
 *   byte 1  codec  0 = OFF, 1 = SNAPPY (raw snappy block, FleetWise's format), 2 = BROTLI
 *   byte 2… the (compressed) edgewise.v1.Batch protobuf
 */
import { brotliCompressSync, brotliDecompressSync, constants as zc } from 'node:zlib';
import * as snappy from 'snappyjs';
import type { CompressionMode } from '../types.js';
import { EdgewiseError } from '../errors.js';

export const MAGIC = 0xed;
export const ENVELOPE_BYTES = 2;
const CODEC_ID: Record<CompressionMode, number> = { OFF: 0, SNAPPY: 1, BROTLI: 2 };
const CODEC_NAME: CompressionMode[] = ['OFF', 'SNAPPY', 'BROTLI'];

/**
 * Largest decompressed message a decoder accepts. A part is at most 128 KiB compressed; snappy
 * expands at most ~21x and real batches far less, so 16 MiB only stops garbage from allocating GBs.
 */
export const MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024;

/** Brotli quality 9: close to quality 11's size at a fraction of its CPU time on small inputs. */
const BROTLI_QUALITY = 9;

/** Compress `body` and prepend the envelope. */
export function wrap(body: Uint8Array, mode: CompressionMode): Uint8Array {
  let payload: Uint8Array;
  switch (mode) {
    case 'OFF':
      payload = body;
      break;
    case 'SNAPPY':
      payload = snappy.compress(body);
      break;
    case 'BROTLI':
      payload = brotliCompressSync(body, {
        params: {
          [zc.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
          [zc.BROTLI_PARAM_SIZE_HINT]: body.length,
        },
      });
      break;
    default:
      throw new EdgewiseError('USAGE', `unknown compression ${String(mode)}`);
  }
  const out = new Uint8Array(ENVELOPE_BYTES + payload.length);
  out[0] = MAGIC;
  out[1] = CODEC_ID[mode];
  out.set(payload, ENVELOPE_BYTES);
  return out;
}

/** Check the envelope and decompress. Throws EdgewiseError BATCH_FORMAT on anything unexpected. */
export function unwrap(payload: Uint8Array): { body: Uint8Array; compression: CompressionMode } {
  if (!(payload instanceof Uint8Array)) throw new EdgewiseError('BATCH_FORMAT', 'batch payload is not bytes');
  if (payload.length < ENVELOPE_BYTES) {
    throw new EdgewiseError('BATCH_FORMAT', `batch payload too short (${payload.length} bytes)`, { bytes: payload.length });
  }
  if (payload[0] !== MAGIC) {
    throw new EdgewiseError('BATCH_FORMAT', `not an edgewise batch: first byte 0x${hex(payload[0])}, expected 0xed`, {
      offset: 0,
    });
  }
  const compression = CODEC_NAME[payload[1]];
  if (compression === undefined) {
    throw new EdgewiseError('BATCH_FORMAT', `unknown codec ${payload[1]} in batch envelope`, { offset: 1 });
  }
  const data = payload.subarray(ENVELOPE_BYTES);
  try {
    switch (compression) {
      case 'OFF':
        return { body: data, compression };
      case 'SNAPPY':
        return { body: snappy.uncompress(data, MAX_DECOMPRESSED_BYTES), compression };
      case 'BROTLI':
        return { body: brotliDecompressSync(data, { maxOutputLength: MAX_DECOMPRESSED_BYTES }), compression };
    }
  } catch (e) {
    throw new EdgewiseError('BATCH_FORMAT', `${compression} decompression failed: ${(e as Error)?.message ?? String(e)}`, {}, { cause: e });
  }
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
