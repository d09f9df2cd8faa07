/**
 * The vehicle a simulator plays: ECUs with their PIDs, DTCs and VIN. Used by the ELM327
 * simulator and the ISO-TP ECU simulator alike, so tests and the bench demo speak about the
 * same car.
 */
import * as z from 'zod';
import { EdgewiseError } from '../../errors.js';
import { encodePid, pidDef } from '../pids.js';

const pidValue = z.union([
  z.string().regex(/^([0-9A-Fa-f]{2}\s*)+$/, 'must be hex data bytes like "1AF8"'),
  z.strictObject({ value: z.union([z.number(), z.boolean(), z.array(z.number()).min(1)]) }),
  z.array(z.string().regex(/^([0-9A-Fa-f]{2}\s*)+$/)).min(1),
]);

const simEcu = z.strictObject({
  /** Response CAN id: `7E8`..`7EF` (11-bit) or `18DAF1xx` (29-bit). Default by position: 7E8, 7E9, ... / 18DAF110, 18DAF111, ... */
  id: z.string().regex(/^([0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})$/, 'must be a CAN id like 7E8 or 18DAF110').optional(),
  /** Service 01 PIDs (hex, "0C") -> data. */
  pids: z.record(z.string().regex(/^[0-9A-Fa-f]{2}$/, 'must be a two-digit hex PID'), pidValue).default({}),
  dtcs: z
    .strictObject({
      stored: z.array(z.string()).default([]),
      pending: z.array(z.string()).default([]),
      permanent: z.array(z.string()).default([]),
    })
    .optional(),
  vin: z.string().length(17, 'a VIN has 17 characters').optional(),
  /** Service 09 PID 0A ECU name. */
  name: z.string().max(20).optional(),
});

export const simTableSchema = z.strictObject({
  /** ELM protocol number the car speaks: 6 = CAN 11-bit 500k, 7 = CAN 29-bit 500k, 8/9 = 250k. Default 6. */
  protocol: z.union([z.literal(6), z.literal(7), z.literal(8), z.literal(9)]).default(6),
  /** `ATRV` answer. */
  voltage: z.string().default('12.6V'),
  /** Pad CAN frames to 8 bytes with 0xAA when headers are shown (like most real ECUs). */
  pad: z.boolean().default(false),
  /** Milliseconds `SEARCHING...` takes on the first request after ATSP0. */
  searchMs: z.number().int().min(0).default(20),
  /** Request (compact hex, e.g. "0105") -> what the adapter prints instead: "CAN ERROR", "NO DATA", "BUS BUSY", ... or "SILENT" (never answers). */
  faults: z.record(z.string(), z.string()).default({}),
  /** The automatic protocol search (ATSP0) fails with UNABLE TO CONNECT; only ATSPn/ATTPn of the right protocol work. */
  searchFails: z.boolean().default(false),
  /** AT commands this adapter (a clone) answers with `?`, e.g. ["ATS0", "ATH1"]. */
  refuse: z.array(z.string()).default([]),
  ecus: z.array(simEcu).min(1),
});

export type SimTableInput = z.input<typeof simTableSchema>;
export type SimTable = z.output<typeof simTableSchema>;
export type SimEcuConfig = SimTable['ecus'][number];

/** A simulated ECU resolved from the table. */
export interface SimEcu {
  /** Response id (7E8 / 18DAF110). */
  rxId: number;
  /** Physical request id (7E0 / 18DA10F1). */
  txId: number;
  extended: boolean;
  config: SimEcuConfig;
  /** Per-PID request counter (cycles lists). */
  turns: Map<number, number>;
}

export function parseSimTable(input: string | unknown, file = '<table>'): SimTable {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (e) {
      throw new EdgewiseError('CONFIG_INVALID', `${file}: not valid JSON: ${(e as Error).message}`, { file });
    }
  }
  const r = simTableSchema.safeParse(value);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new EdgewiseError('CONFIG_INVALID', `${file}: ${msg}`, { file });
  }
  for (const e of r.data.ecus) {
    for (const [pid, v] of Object.entries(e.pids)) {
      if (typeof v === 'object' && !Array.isArray(v) && !pidDef(parseInt(pid, 16))) {
        throw new EdgewiseError('CONFIG_INVALID', `${file}: PID ${pid} has no formula; give its data as hex bytes`, { file });
      }
    }
  }
  return r.data;
}

/** The ECUs of a table with their CAN ids. */
export function simEcus(table: SimTable): SimEcu[] {
  const extended = table.protocol === 7 || table.protocol === 9;
  return table.ecus.map((config, i) => {
    let rxId: number;
    if (config.id !== undefined) rxId = parseInt(config.id, 16);
    else rxId = extended ? 0x18daf110 + i : 0x7e8 + i;
    const txId = extended ? (((rxId & 0xff) << 8) | 0x18da00f1) >>> 0 : rxId - 8;
    return { rxId, txId, extended, config, turns: new Map() };
  });
}

function hexData(s: string): Uint8Array {
  const c = s.replace(/\s+/g, '');
  return Uint8Array.from(c.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** Data bytes of PID `pid` for this request (lists cycle), or undefined when the ECU does not support it. */
export function simPidData(ecu: SimEcu, pid: number): Uint8Array | undefined {
  const key = Object.keys(ecu.config.pids).find((k) => parseInt(k, 16) === pid);
  if (key === undefined) return undefined;
  const v = ecu.config.pids[key];
  const turn = ecu.turns.get(pid) ?? 0;
  ecu.turns.set(pid, turn + 1);
  if (typeof v === 'string') return hexData(v);
  if (Array.isArray(v)) return hexData(v[turn % v.length]);
  const def = pidDef(pid)!;
  const value = Array.isArray(v.value) ? v.value[turn % v.value.length] : v.value;
  return encodePid(def, value);
}

/** Service 01 PIDs an ECU supports (bitmap PIDs excluded). */
export function simSupported(ecu: SimEcu): Set<number> {
  return new Set(Object.keys(ecu.config.pids).map((k) => parseInt(k, 16)));
}

/** 2-byte encoding of a DTC text (`P0133` -> 01 33). */
export function dtcBytes(code: string): [number, number] {
  const m = /^([PCBU])([0-3])([0-9A-F])([0-9A-F]{2})$/i.exec(code);
  if (!m) throw new EdgewiseError('CONFIG_INVALID', `"${code}" is not a DTC like P0133`);
  const b0 = ('PCBU'.indexOf(m[1].toUpperCase()) << 6) | (Number(m[2]) << 4) | parseInt(m[3], 16);
  return [b0, parseInt(m[4], 16)];
}

/** A small petrol car with an engine and a transmission ECU (the `obd simulate` default). */
export const DEMO_SIM_TABLE: SimTable = parseSimTable({
  protocol: 6,
  ecus: [
    {
      id: '7E8',
      pids: {
        '01': '81076504',
        '04': { value: [35, 42, 51, 38] },
        '05': { value: [88, 89, 90] },
        '0B': { value: 45 },
        '0C': { value: [820, 1726, 2450, 3100, 2200, 1400] },
        '0D': { value: [0, 32, 58, 77, 64, 40] },
        '0F': { value: 24 },
        '10': { value: [4.5, 12.8, 21.3] },
        '11': { value: [14.9, 22.4, 35.7] },
        '1F': { value: [600, 601, 602] },
        '2F': { value: 62.7 },
        '33': { value: 101 },
        '42': { value: 14.2 },
        '46': { value: 19 },
        '51': { value: 1 },
        '5C': { value: 95 },
        '5E': { value: 6.4 },
        A6: { value: 123456.7 },
      },
      dtcs: { stored: ['P0133'], pending: ['P0171'], permanent: [] },
      vin: 'WP0ZZZ99ZTS390000',
      name: 'ECM-EngineControl',
    },
    {
      id: '7E9',
      pids: { '0D': { value: [0, 32, 58, 77, 64, 40] }, '49': { value: 18.4 } },
      dtcs: { stored: [], pending: [], permanent: [] },
    },
  ],
});
