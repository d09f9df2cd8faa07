/**
 * SAE J1979 service 01 PIDs: lengths, names, units and formulas.
 *
 * Letters in the comments follow J1979: A, B, C, D are the data bytes after the PID in the
 * positive response `41 PP A B C D`. Linear PIDs are described by (bytes, scale, offset) so the
 * same entry both decodes (poller, `obd decode`) and encodes (the simulators).
 */

export type PidValue = number | string | boolean | string[] | PidStatus;

/** PID 01: monitor status since DTCs cleared. */
export interface PidStatus {
  mil: boolean;
  dtc_count: number;
  ignition_type: 'spark' | 'compression';
}

export interface PidDef {
  /** PID number (0x00..0xFF). */
  pid: number;
  /** Two upper-case hex digits. */
  hex: string;
  name: string;
  /** Data bytes after the PID. */
  bytes: number;
  /** SI-style unit text (`rpm`, `km/h`, `degC`, ...); '' for bitmaps, enums and structs. */
  unit: string;
  kind: 'linear' | 'bitmap' | 'status' | 'enum';
  /** value = uint(bytes, big-endian) * scale + offset (linear PIDs). */
  scale: number;
  offset: number;
  /** Decodes `bytes` data bytes at `data[off]`. */
  decode(data: Uint8Array, off: number): PidValue;
  /** Numeric value for a manifest signal (struct / enum PIDs reduce to one number or boolean). */
  signal(data: Uint8Array, off: number): number | boolean;
}

function uint(data: Uint8Array, off: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + data[off + i];
  return v;
}

/** Rounds away float noise (e.g. 0.1 * 3 = 0.30000000000000004) without losing real precision. */
function clean(v: number): number {
  return Math.round(v * 1e9) / 1e9;
}

function linear(pid: number, name: string, bytes: number, scale: number, offset: number, unit: string): PidDef {
  const decode = (data: Uint8Array, off: number): number => clean(uint(data, off, bytes) * scale + offset);
  return { pid, hex: hex2(pid), name, bytes, unit, kind: 'linear', scale, offset, decode, signal: decode };
}

export function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}

/** J1979 fuel type codes (PID 51). */
export const FUEL_TYPES: readonly string[] = [
  'Not available',
  'Gasoline',
  'Methanol',
  'Ethanol',
  'Diesel',
  'LPG',
  'CNG',
  'Propane',
  'Electric',
  'Bifuel running Gasoline',
  'Bifuel running Methanol',
  'Bifuel running Ethanol',
  'Bifuel running LPG',
  'Bifuel running CNG',
  'Bifuel running Propane',
  'Bifuel running Electricity',
  'Bifuel running electric and combustion engine',
  'Hybrid gasoline',
  'Hybrid Ethanol',
  'Hybrid Diesel',
  'Hybrid Electric',
  'Hybrid running electric and combustion engine',
  'Hybrid Regenerative',
  'Bifuel running diesel',
];

const PCT = 100 / 255;

const defs: PidDef[] = [];
// Supported-PID bitmaps [01-20], [21-40], ... [E1-FF]
for (let base = 0; base <= 0xe0; base += 0x20) {
  const d: PidDef = {
    pid: base,
    hex: hex2(base),
    name: `PIDs supported [${hex2(base + 1)}-${hex2(base + 0x20 === 0x100 ? 0xff : base + 0x20)}]`,
    bytes: 4,
    unit: '',
    kind: 'bitmap',
    scale: 1,
    offset: 0,
    decode: (data, off) => supportedFromBitmap(base, data, off).map(hex2),
    signal: (data, off) => uint(data, off, 4),
  };
  defs.push(d);
}
defs.push({
  pid: 0x01,
  hex: '01',
  name: 'Monitor status since DTCs cleared',
  bytes: 4,
  unit: '',
  kind: 'status',
  scale: 1,
  offset: 0,
  decode: (data, off): PidStatus => ({
    mil: (data[off] & 0x80) !== 0,
    dtc_count: data[off] & 0x7f,
    ignition_type: (data[off + 1] & 0x08) !== 0 ? 'compression' : 'spark',
  }),
  // As a manifest signal PID 01 is the MIL (check engine lamp) state.
  signal: (data, off) => (data[off] & 0x80) !== 0,
});
defs.push(
  linear(0x04, 'Calculated engine load', 1, PCT, 0, '%'),
  linear(0x05, 'Engine coolant temperature', 1, 1, -40, 'degC'),
  linear(0x06, 'Short term fuel trim - Bank 1', 1, 100 / 128, -100, '%'),
  linear(0x07, 'Long term fuel trim - Bank 1', 1, 100 / 128, -100, '%'),
  linear(0x08, 'Short term fuel trim - Bank 2', 1, 100 / 128, -100, '%'),
  linear(0x09, 'Long term fuel trim - Bank 2', 1, 100 / 128, -100, '%'),
  linear(0x0a, 'Fuel pressure', 1, 3, 0, 'kPa'),
  linear(0x0b, 'Intake manifold absolute pressure', 1, 1, 0, 'kPa'),
  linear(0x0c, 'Engine speed', 2, 0.25, 0, 'rpm'),
  linear(0x0d, 'Vehicle speed', 1, 1, 0, 'km/h'),
  linear(0x0e, 'Timing advance', 1, 0.5, -64, 'deg'),
  linear(0x0f, 'Intake air temperature', 1, 1, -40, 'degC'),
  linear(0x10, 'MAF air flow rate', 2, 0.01, 0, 'g/s'),
  linear(0x11, 'Throttle position', 1, PCT, 0, '%'),
  linear(0x1f, 'Run time since engine start', 2, 1, 0, 's'),
  linear(0x21, 'Distance traveled with MIL on', 2, 1, 0, 'km'),
  linear(0x2f, 'Fuel tank level input', 1, PCT, 0, '%'),
  linear(0x31, 'Distance traveled since codes cleared', 2, 1, 0, 'km'),
  linear(0x33, 'Absolute barometric pressure', 1, 1, 0, 'kPa'),
  linear(0x42, 'Control module voltage', 2, 0.001, 0, 'V'),
  linear(0x43, 'Absolute load value', 2, PCT, 0, '%'),
  linear(0x45, 'Relative throttle position', 1, PCT, 0, '%'),
  linear(0x46, 'Ambient air temperature', 1, 1, -40, 'degC'),
  linear(0x49, 'Accelerator pedal position D', 1, PCT, 0, '%'),
  linear(0x4a, 'Accelerator pedal position E', 1, PCT, 0, '%'),
  linear(0x4b, 'Accelerator pedal position F', 1, PCT, 0, '%'),
  linear(0x4d, 'Time run with MIL on', 2, 1, 0, 'min'),
  linear(0x4e, 'Time since trouble codes cleared', 2, 1, 0, 'min'),
  {
    pid: 0x51,
    hex: '51',
    name: 'Fuel type',
    bytes: 1,
    unit: '',
    kind: 'enum',
    scale: 1,
    offset: 0,
    decode: (data, off) => FUEL_TYPES[data[off]] ?? `Unknown (${data[off]})`,
    signal: (data, off) => data[off],
  },
  linear(0x5a, 'Relative accelerator pedal position', 1, PCT, 0, '%'),
  linear(0x5b, 'Hybrid battery pack remaining life', 1, PCT, 0, '%'),
  linear(0x5c, 'Engine oil temperature', 1, 1, -40, 'degC'),
  linear(0x5e, 'Engine fuel rate', 2, 0.05, 0, 'L/h'),
  linear(0xa6, 'Odometer', 4, 0.1, 0, 'km'),
);

const table: (PidDef | undefined)[] = new Array(256);
for (const d of defs) table[d.pid] = d;

/** Every service 01 PID edgewise decodes, by number. */
export const PIDS: readonly PidDef[] = defs.slice().sort((a, b) => a.pid - b.pid);

/** The definition of service 01 PID `pid`, or undefined when edgewise does not know it. */
export function pidDef(pid: number): PidDef | undefined {
  return table[pid & 0xff];
}

export function isBitmapPid(pid: number): boolean {
  return (pid & 0x1f) === 0 && pid <= 0xe0;
}

/** PIDs named by a supported-PIDs bitmap at `data[off..off+4)` for bitmap PID `base` (0x00, 0x20, ...). */
export function supportedFromBitmap(base: number, data: Uint8Array, off: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 32; i++) {
    if ((data[off + (i >> 3)] & (0x80 >> (i & 7))) !== 0) out.push(base + i + 1);
  }
  return out;
}

/** The 4 bitmap bytes for PID `base` given the full set of supported PIDs (sets the "next bitmap" bit when needed). */
export function bitmapFor(base: number, supported: ReadonlySet<number>): Uint8Array {
  const out = new Uint8Array(4);
  for (let i = 0; i < 32; i++) {
    const pid = base + i + 1;
    let on = supported.has(pid);
    if (i === 31 && pid <= 0xe0) {
      // The last bit announces the next bitmap: set when anything above is supported.
      for (const p of supported) if (p > pid) on = true;
    }
    if (on) out[i >> 3] |= 0x80 >> (i & 7);
  }
  return out;
}

/** Raw data bytes for a physical value of a linear PID (inverse of the formula, clamped to range). */
export function encodePid(def: PidDef, value: number | boolean): Uint8Array {
  const out = new Uint8Array(def.bytes);
  let raw: number;
  if (def.kind === 'linear') raw = Math.round((Number(value) - def.offset) / def.scale);
  else if (def.kind === 'status') raw = value === true ? 0x80 * 2 ** 24 : Number(value);
  else raw = Math.round(Number(value));
  const max = 2 ** (8 * def.bytes) - 1;
  raw = Math.min(max, Math.max(0, raw));
  for (let i = def.bytes - 1; i >= 0; i--) {
    out[i] = raw % 256;
    raw = Math.floor(raw / 256);
  }
  return out;
}
