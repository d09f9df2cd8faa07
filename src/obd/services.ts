/**
 * Decoders of OBD-II response messages (bytes from the response service id on), independent of
 * the transport: service 01 PIDs (one or several per response), supported-PID bitmaps,
 * DTCs of services 03/07/0A, service 09 strings (VIN).
 */
import { EdgewiseError } from '../errors.js';
import { hex2, isBitmapPid, pidDef, supportedFromBitmap, type PidDef, type PidValue } from './pids.js';

/** A parsed OBD request: service and (for 01/02/09) the PIDs. */
export interface ObdRequest {
  service: number;
  pids: number[];
  /** The request bytes as sent. */
  bytes: Uint8Array;
}

export const SERVICE_CURRENT_DATA = 0x01;
export const SERVICE_STORED_DTCS = 0x03;
export const SERVICE_PENDING_DTCS = 0x07;
export const SERVICE_PERMANENT_DTCS = 0x0a;
export const SERVICE_VEHICLE_INFO = 0x09;
export const DTC_SERVICES = [SERVICE_STORED_DTCS, SERVICE_PENDING_DTCS, SERVICE_PERMANENT_DTCS] as const;

/** Parses request text like `010C`, `01 0C 0D`, `03`, `0902`; throws USAGE otherwise. */
export function parseRequest(text: string): ObdRequest {
  const c = text.replace(/\s+/g, '').toUpperCase();
  if (!/^([0-9A-F]{2})+$/.test(c)) {
    throw new EdgewiseError('USAGE', `"${text}" is not an OBD request (hex bytes like 010C, 0902, 03)`);
  }
  const bytes = new Uint8Array(c.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(c.substr(i * 2, 2), 16);
  const service = bytes[0];
  if (service < 0x01 || service > 0x0a) {
    throw new EdgewiseError('USAGE', `service ${hex2(service)} is not an OBD-II service (01..0A)`);
  }
  const pids = Array.from(bytes.subarray(1));
  if ((service === 0x01 || service === 0x09) && pids.length === 0) {
    throw new EdgewiseError('USAGE', `service ${hex2(service)} needs a PID (e.g. ${hex2(service)}0C)`);
  }
  if (service === 0x01 && pids.length > 6) throw new EdgewiseError('USAGE', 'at most 6 PIDs per service 01 request');
  return { service, pids, bytes };
}

/** One decoded service 01 PID of a response. */
export interface PidReading {
  pid: number;
  def?: PidDef;
  /** Raw data bytes (a view into the response). */
  raw: Uint8Array;
  value?: PidValue;
}

/**
 * Splits a service 01 (or 02) response `41 PP data [PP data ...]` into PID readings, using the
 * PID table for lengths. An unknown PID ends the walk unless it is the only one (then its
 * bytes are the rest of the message).
 */
export function decodeCurrentData(data: Uint8Array): PidReading[] {
  const out: PidReading[] = [];
  let i = 1;
  // Service 02 carries a frame number after each PID.
  const frameByte = data[0] === 0x42 ? 1 : 0;
  while (i < data.length) {
    const pid = data[i];
    const def = pidDef(pid);
    const start = i + 1 + frameByte;
    if (!def) {
      if (out.length === 0) out.push({ pid, raw: data.subarray(start) });
      break;
    }
    if (start + def.bytes > data.length) break;
    const raw = data.subarray(start, start + def.bytes);
    out.push({ pid, def, raw, value: def.decode(data, start) });
    i = start + def.bytes;
  }
  return out;
}

/** PIDs announced by bitmap PID `base` in a 4-byte bitmap (services 01 and 09). */
export function supportedPids(base: number, raw: Uint8Array): number[] {
  return supportedFromBitmap(base, raw, 0);
}

export { isBitmapPid };

/** A 2-byte J1979 DTC as text: `01 33` -> `P0133`. */
export function dtcText(b0: number, b1: number): string {
  const letter = 'PCBU'[b0 >> 6];
  const hex = '0123456789ABCDEF';
  return letter + ((b0 >> 4) & 3) + hex[b0 & 0x0f] + hex[b1 >> 4] + hex[b1 & 0x0f];
}

/**
 * DTCs of a 43/47/4A response. CAN responses carry a count byte (`43 02 01 33 01 71`, even
 * length); legacy ones do not (`43 01 33 01 71 00 00`, always 7 bytes, 00 00 = empty slot).
 */
export function decodeDtcs(data: Uint8Array): string[] {
  const out: string[] = [];
  let start = 1;
  let end = data.length;
  if (data.length % 2 === 0) {
    start = 2;
    end = Math.min(data.length, 2 + 2 * data[1]);
  }
  for (let i = start; i + 1 < end; i += 2) {
    if (data[i] === 0 && data[i + 1] === 0) continue;
    out.push(dtcText(data[i], data[i + 1]));
  }
  return out;
}

/** The printable ASCII text of service 09 string data (VIN, calibration id, ECU name): leading NUL padding dropped. */
export function asciiField(bytes: Uint8Array, max?: number): string {
  let s = 0;
  while (s < bytes.length && bytes[s] < 0x20) s++;
  let out = '';
  for (let i = s; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0) break;
    if (b < 0x20 || b > 0x7e) continue;
    out += String.fromCharCode(b);
    if (max !== undefined && out.length === max) break;
  }
  return out;
}

/**
 * Payload of service 09 info type `pid` from the messages of one ECU: CAN sends one message
 * `49 PP NN data...`; legacy protocols send several `49 PP seq d1 d2 d3 d4` messages.
 */
export function vehicleInfoPayload(messages: Uint8Array[], pid: number): Uint8Array | undefined {
  const mine = messages.filter((m) => m.length >= 3 && m[0] === 0x49 && m[1] === pid);
  if (mine.length === 0) return undefined;
  if (mine.length === 1) {
    const m = mine[0];
    // `49 02 01 + 17` (J1979 CAN); some ECUs omit the item count (`49 02 + 17`).
    return pid === 0x02 && m.length === 19 ? m.subarray(2) : m.subarray(3);
  }
  const sorted = mine.slice().sort((a, b) => a[2] - b[2]);
  const parts = sorted.map((m) => m.subarray(3));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The VIN of service 09 PID 02 messages, or undefined. */
export function decodeVin(messages: Uint8Array[]): string | undefined {
  const p = vehicleInfoPayload(messages, 0x02);
  if (!p) return undefined;
  const vin = asciiField(p, 17);
  return vin === '' ? undefined : vin;
}

/** Negative response `7F SID NRC`: the NRC, or undefined for a positive response. */
export function negativeResponse(data: Uint8Array): number | undefined {
  return data.length >= 3 && data[0] === 0x7f ? data[2] : undefined;
}

/** J1979 / ISO 14229 negative response codes an OBD tester meets. */
export const NRC_NAMES: Record<number, string> = {
  0x10: 'generalReject',
  0x11: 'serviceNotSupported',
  0x12: 'subFunctionNotSupported',
  0x13: 'incorrectMessageLength',
  0x21: 'busyRepeatRequest',
  0x22: 'conditionsNotCorrect',
  0x31: 'requestOutOfRange',
  0x78: 'responsePending',
};
