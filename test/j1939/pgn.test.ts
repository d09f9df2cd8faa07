import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDbc } from '../../src/dbc/index.js';
import {
  compileDatabase,
  decodeToObject,
  destinationOf,
  isPdu1,
  j1939Id,
  pgnOf,
  priorityOf,
  sourceAddressOf,
} from '../../src/decode/index.js';
import { bindManifest, parseManifest } from '../../src/manifest/index.js';
import type { CanFrame, SignalValue } from '../../src/types.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED_DBC = path.resolve(REPO, '../shared/dbc/j1939.dbc');

/*
 * Expected values from SAE J1939-21 (identifier layout, PGN formula, PDU1/PDU2) and the PGNs
 * J1939-71/-73/-21/-81 assign (EEC1 61444 = 0xF004, CCVS 65265 = 0xFEF1, DM1 65226 = 0xFECA,
 * TP.CM 60416 = 0xEC00, TP.DT 60160 = 0xEB00, Request 59904 = 0xEA00, Address Claimed 60928 = 0xEE00,
 * TSC1 0). Not from edgewise output.
 */
const IDS: { id: number; pgn: number; priority: number; sa: number; pdu1: boolean; da: number; what: string }[] = [
  { id: 0x0cf00400, pgn: 61444, priority: 3, sa: 0x00, pdu1: false, da: 0xff, what: 'EEC1 from the engine' },
  { id: 0x18f00417, pgn: 61444, priority: 6, sa: 0x17, pdu1: false, da: 0xff, what: 'EEC1, other SA and priority' },
  { id: 0x18fef100, pgn: 65265, priority: 6, sa: 0x00, pdu1: false, da: 0xff, what: 'CCVS' },
  { id: 0x18feca03, pgn: 65226, priority: 6, sa: 0x03, pdu1: false, da: 0xff, what: 'DM1 from the transmission' },
  { id: 0x1cecff00, pgn: 60416, priority: 7, sa: 0x00, pdu1: true, da: 0xff, what: 'TP.CM BAM to global' },
  { id: 0x1cebff00, pgn: 60160, priority: 7, sa: 0x00, pdu1: true, da: 0xff, what: 'TP.DT' },
  { id: 0x1cec00f9, pgn: 60416, priority: 7, sa: 0xf9, pdu1: true, da: 0x00, what: 'TP.CM RTS to the engine' },
  { id: 0x18ea00f9, pgn: 59904, priority: 6, sa: 0xf9, pdu1: true, da: 0x00, what: 'Request to the engine' },
  { id: 0x18eeff00, pgn: 60928, priority: 6, sa: 0x00, pdu1: true, da: 0xff, what: 'Address Claimed' },
  { id: 0x0c000003, pgn: 0, priority: 3, sa: 0x03, pdu1: true, da: 0x00, what: 'TSC1 to the engine' },
  { id: 0x0cef0021, pgn: 61184, priority: 3, sa: 0x21, pdu1: true, da: 0x00, what: 'Proprietary A (PF 239, last PDU1)' },
  { id: 0x18f00000, pgn: 61440, priority: 6, sa: 0x00, pdu1: false, da: 0xff, what: 'PF 240, first PDU2' },
  { id: 0x19fef100, pgn: 0x1fef1, priority: 6, sa: 0x00, pdu1: false, da: 0xff, what: 'data page 1' },
  { id: 0x1bfef100, pgn: 0x3fef1, priority: 6, sa: 0x00, pdu1: false, da: 0xff, what: 'extended data page + data page' },
];

describe('J1939-21 identifier fields', () => {
  it.each(IDS)('$what: 0x$id', ({ id, pgn, priority, sa, pdu1, da }) => {
    expect(pgnOf(id)).toBe(pgn);
    expect(priorityOf(id)).toBe(priority);
    expect(sourceAddressOf(id)).toBe(sa);
    expect(isPdu1(id)).toBe(pdu1);
    expect(destinationOf(id)).toBe(da);
    expect(j1939Id(pgn, priority, sa, da)).toBe(id);
  });
});

const TRUCK = readFileSync(path.join(REPO, 'examples/j1939/truck.dbc'), 'latin1');
const truck = compileDatabase(parseDbc(TRUCK, 'truck.dbc'));

function bytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

describe('PGN matching (example truck DBC, J1939-71 definitions)', () => {
  it('every message of the example is a J1939 PG with the PGN J1939-71 assigns', () => {
    expect(Object.fromEntries(truck.messages.map((m) => [m.message.name, m.pgn]))).toEqual({
      EEC1: 61444,
      CCVS: 65265,
      ET1: 65262,
      LFE: 65266,
      DM1: 65226,
    });
  });

  // SPN 190 engine speed: bytes 4-5, 0.125 rpm/bit; SPN 84 wheel speed: bytes 2-3, 1/256 km/h per bit;
  // SPN 110 coolant: byte 1, 1 degC/bit, -40 offset.
  const CASES = [
    { id: 0x0cf00400, data: 'ff7d7d201c00f07d', msg: 'EEC1', sig: 'EngSpeed', value: 900 },
    { id: 0x18f00400, data: 'ff7d7d201c00f07d', msg: 'EEC1', sig: 'EngSpeed', value: 900 },
    { id: 0x0cf00417, data: 'ff7d7d401f00f07d', msg: 'EEC1', sig: 'EngSpeed', value: 1000 },
    { id: 0x18fef121, data: '000019000000 00ff'.replace(' ', ''), msg: 'CCVS', sig: 'WheelBasedVehicleSpeed', value: 25 },
    { id: 0x18feee00, data: '7dffffffffffffff', msg: 'ET1', sig: 'EngCoolantTemp', value: 85 },
  ];
  it.each(CASES)('0x$id -> $msg.$sig = $value', ({ id, data, msg, sig, value }) => {
    const cm = truck.lookup(id, true);
    expect(cm?.message.name).toBe(msg);
    expect(decodeToObject(cm!, bytes(data)).signals?.[sig]).toBe(value);
  });

  it('a PGN the DBC does not define stays unknown, and 11-bit ids never match by PGN', () => {
    expect(truck.lookup(0x18fef200 + 0x100, true)).toBeUndefined(); // PGN 65267
    expect(truck.lookup(0x18ea00f9, true)).toBeUndefined(); // Request
    expect(truck.lookup(0x400, false)).toBeUndefined();
  });
});

describe.skipIf(!existsSync(SHARED_DBC))('PGN matching in ../shared/dbc/j1939.dbc', () => {
  // Message1: BO_ 2503213569 = 0x15340201 (priority 5, DP 1, PF 0x34 (PDU1), DA 0x02, SA 0x01), VFrameFormat J1939PG.
  // Message2: 0x15F01002 (PF 0xF0: PDU2, group extension 0x10, SA 0x02) has no VFrameFormat of its own; the
  // database's defaults are VFrameFormat J1939PG and ProtocolType J1939, so it is a PG too.
  const t = existsSync(SHARED_DBC) ? compileDatabase(parseDbc(readFileSync(SHARED_DBC, 'latin1'), 'j1939.dbc')) : undefined;
  it.each([
    { id: 0x15340201, what: 'as defined' },
    { id: 0x15340217, what: 'source address 0x17' },
    { id: 0x19340201, what: 'priority 6' },
    { id: 0x19340517, what: 'priority 6, destination 0x05, source 0x17 (PDU1 destination is not part of the PGN)' },
  ])('Message1 $what', ({ id }) => {
    const cm = t!.lookup(id, true);
    expect(cm?.message.name).toBe('Message1');
    expect(decodeToObject(cm!, bytes('ff00000000000000')).signals).toEqual({ Signal1: -1 });
  });
  it('another PGN does not match: data page 0, or (PDU2) another group extension', () => {
    expect(t!.lookup(0x14340201, true)).toBeUndefined();
    expect(t!.lookup(0x15f01002, true)?.message.name).toBe('Message2');
    expect(t!.lookup(0x19f010fe, true)?.message.name).toBe('Message2');
    expect(t!.lookup(0x15f01102, true)).toBeUndefined();
    expect(t!.lookup(0x0340201, false)).toBeUndefined();
  });
});

describe('campaign routes match J1939 PGs from any source address', () => {
  it('EEC1 from SA 0x00 and 0x17 both feed the manifest signal', () => {
    const m = parseManifest(
      `dbc:\n  can0: truck.dbc\nsignals:\n  - { name: Vehicle.Powertrain.CombustionEngine.Speed, type: float64, can: { interface: can0, message: EEC1, signal: EngSpeed } }\n`,
      'manifest.yaml',
    );
    const b = bindManifest(m, { dbcFor: () => truck });
    const got: [number, number, SignalValue][] = [];
    const frame = (id: number, hex: string, timeMs: number): CanFrame =>
      ({ iface: 'can0', id, extended: true, data: bytes(hex), timeMs, fd: false, remote: false, error: false }) as CanFrame;
    expect(b.dispatch(frame(0x0cf00400, 'ff7d7d201c00f07d', 1), (id, t, v) => got.push([id, t, v]))).toBe(1);
    expect(b.dispatch(frame(0x18f00417, 'ff7d7d401f00f07d', 2), (id, t, v) => got.push([id, t, v]))).toBe(1);
    expect(b.dispatch(frame(0x18fef100, '00001900000000ff', 3), (id, t, v) => got.push([id, t, v]))).toBe(0);
    expect(got).toEqual([
      [0, 1, 900],
      [0, 2, 1000],
    ]);
  });
});
