/**
 * Loader for edgewise's native SocketCAN helper (`native/edgewise_can.c`, built by node-gyp at
 * `npm ci`). Frames cross the boundary as fixed-size records in a shared ArrayBuffer:
 *
 *   0  u32  can_id with CAN_EFF_FLAG / CAN_RTR_FLAG / CAN_ERR_FLAG
 *   4  u8   data length      5  u8  CAN FD flags (BRS 1, ESI 2)      6  u8  1 = CAN FD
 *   8  f64  kernel receive time, ms since the epoch
 *   16 u8[64] data
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EdgewiseError } from '../errors.js';

export const RECORD_SIZE = 80;
export const MAX_BATCH = 64;
export const CAN_EFF_FLAG = 0x80000000;
export const CAN_RTR_FLAG = 0x40000000;
export const CAN_ERR_FLAG = 0x20000000;
export const CAN_EFF_MASK = 0x1fffffff;
export const CAN_SFF_MASK = 0x7ff;
/** Error class bits (linux/can/error.h) edgewise reacts to. */
export const CAN_ERR_BUSOFF = 0x40;
export const CAN_ERR_RESTARTED = 0x100;

/** An open raw CAN socket (opaque). */
export type NativeChannel = { readonly __brand: 'edgewise_can' };

export interface NativeOpenOptions {
  /** Receive (and allow sending) CAN FD frames. */
  fd?: boolean;
  /** Requested SO_RCVBUF in bytes (0 = kernel default). The kernel doubles it for bookkeeping. */
  rcvbuf?: number;
  /** Deliver error frames (CAN_RAW_ERR_FILTER = all classes). */
  errFrames?: boolean;
  /** false: a send-only socket (no filters, receives nothing). */
  receive?: boolean;
}

export interface NativeStats {
  /** Frames the kernel dropped on this socket because its receive queue was full (total). */
  drops: number;
  /** Bytes queued in the socket now (-1 when unknown). */
  rmemAlloc: number;
  /** Receive buffer the kernel granted, in bytes (-1 when unknown). */
  rcvbuf: number;
}

export interface NativeCan {
  open(iface: string, opts?: NativeOpenOptions): NativeChannel;
  /** `cb(count, dropsTotal, errno)`: `count` records were written at the start of `buffer`. */
  startReading(ch: NativeChannel, buffer: ArrayBuffer, cb: (count: number, drops: number, errno: number) => void): void;
  stopReading(ch: NativeChannel): void;
  close(ch: NativeChannel): void;
  /** Sends up to MAX_BATCH records from `buffer[offset..]`; returns how many were sent, or -errno. */
  send(ch: NativeChannel, buffer: ArrayBuffer, offset: number, count: number): number;
  stats(ch: NativeChannel): NativeStats;
}

let loaded: NativeCan | undefined;
let loadError: string | undefined;

function candidates(): string[] {
  const out: string[] = [];
  if (process.env.EDGEWISE_CAN_ADDON) out.push(process.env.EDGEWISE_CAN_ADDON);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    out.push(path.join(dir, 'native', 'build', 'Release', 'edgewise_can.node'));
    dir = path.dirname(dir);
  }
  return out;
}

/** The native helper, or an IO EdgewiseError that says how to build it. */
export function loadNativeCan(): NativeCan {
  if (loaded) return loaded;
  if (loadError === undefined) {
    if (process.platform !== 'linux') loadError = 'SocketCAN exists only on Linux';
    else {
      const file = candidates().find((p) => existsSync(p));
      if (!file) loadError = 'the native SocketCAN helper is not built (native/build/Release/edgewise_can.node)';
      else {
        try {
          loaded = createRequire(import.meta.url)(file) as NativeCan;
          return loaded;
        } catch (e) {
          loadError = `cannot load ${file}: ${(e as Error).message}`;
        }
      }
    }
  }
  throw new EdgewiseError(
    'IO',
    `${loadError}; build it with \`npm rebuild edgewise\` or \`npx node-gyp rebuild -C native\` (needs python3, make, a C compiler and Node headers; see docs/can.md)`,
  );
}

/** Errno numbers the sources branch on (Linux values). */
export const ERRNO = { ENODEV: 19, ENETDOWN: 100, ENOBUFS: 105, EAGAIN: 11, EINVAL: 22, EMSGSIZE: 90 } as const;

export function errnoName(n: number): string {
  for (const [k, v] of Object.entries(ERRNO)) if (v === n) return k;
  return `errno ${n}`;
}
