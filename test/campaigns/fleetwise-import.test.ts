import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDbc } from '../../src/dbc/index.js';
import { compileDatabase } from '../../src/decode/index.js';
import { parseManifest, bindManifest } from '../../src/manifest/index.js';
import { dbcStartBit, importFleetwise } from '../../src/campaigns/fleetwise-import.js';
import type { CanFrame, SignalValue } from '../../src/types.js';
import { main } from '../../src/cli/main.js';
import { loadManifest } from '../../src/manifest/index.js';

const FIX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/fleetwise');
const json = (f: string): unknown => JSON.parse(readFileSync(path.join(FIX, f), 'utf8'));

describe('FleetWise start bit (always the LSB) to DBC start bit', () => {
  // Rows: DBC (start, length, big-endian) and the LSB start bit FleetWise's tools/cloud/dbc-to-decoders.py
  // derives from it, worked by hand from that script's formula.
  const rows: [number, number, boolean, number][] = [
    [7, 16, true, 8],
    [3, 4, true, 0],
    [20, 12, true, 25],
    [16, 8, false, 16],
  ];
  it.each(rows)('DBC %i|%i big-endian=%s is FleetWise startBit %i', (dbc, len, be, fw) => {
    expect(dbcStartBit(fw, len, be)).toBe(dbc);
  });
});

describe('manifest import --fleetwise', () => {
  it('decodes canSignals from their own fields (numbers as strings too)', () => {
    const doc = {
      networkInterfaces: [{ interfaceId: '1', type: 'CAN_INTERFACE', canInterface: { name: 'can0', protocolName: 'CAN', protocolVersion: '2.0B' } }],
      signalDecoders: [
        { fullyQualifiedName: 'Vehicle.Rpm', interfaceId: '1', type: 'CAN_SIGNAL', canSignal: { messageId: '256', isBigEndian: 'true', isSigned: false, startBit: 8, offset: 0, factor: 0.25, length: 16, name: 'Rpm' } },
        { fullyQualifiedName: 'Vehicle.Temp', interfaceId: '1', type: 'CAN_SIGNAL', canSignal: { messageId: 256, isBigEndian: false, isSigned: false, startBit: '16', offset: -40, factor: 1, length: 8 } },
      ],
    };
    const r = importFleetwise([doc], (i) => `${i}.dbc`);
    const m = parseManifest(r.manifest, undefined, '/nonexistent-base');
    const table = compileDatabase(parseDbc(r.dbcs.get('can0')!));
    const b = bindManifest(m, { dbcFor: () => table });
    const got: [number, SignalValue][] = [];
    const frame: CanFrame = { timeMs: 1, iface: 'can0', id: 256, extended: false, fd: false, brs: false, esi: false, remote: false, error: false, data: Uint8Array.of(0x12, 0x34, 0x50, 0, 0, 0, 0, 0) };
    b.dispatch(frame, (id, _t, v) => void got.push([id, v]));
    // Motorola 0x1234 * 0.25 = 1165; Intel byte 2 0x50 = 80 - 40 = 40.
    expect(got).toEqual([
      [0, 1165],
      [1, 40],
    ]);
  });

  it('imports FleetWise\'s OBD interface + 275 sample decoders, importing only PIDs whose formula matches', () => {
    const decoders = json('obd-decoders.json') as unknown[];
    expect(decoders).toHaveLength(275);
    const r = importFleetwise([json('network-interface-obd.json'), decoders], (i) => `${i}.dbc`);
    parseManifest(r.manifest);
    const byName = new Map(r.manifest.signals.map((s) => [s.name as string, s.obd]));
    // J1979: 0C engine speed, 0D vehicle speed, A6 odometer.
    expect(byName.get('Vehicle.OBD.EngineSpeed')).toEqual({ service: 1, pid: 0x0c });
    expect(byName.get('Vehicle.OBD.Speed')).toEqual({ service: 1, pid: 0x0d });
    expect(byName.get('Vehicle.OBD.Odometer')).toEqual({ service: 1, pid: 0xa6 });
    // Every decoder is either imported or named in a warning: nothing dropped silently.
    expect(r.manifest.signals.length + r.warnings.length).toBe(275);
    expect(r.warnings.some((w) => w.startsWith('Vehicle.OBD.PidsA:'))).toBe(true);
  });

  it('names the missing interface file when decoders come without interfaces', () => {
    expect(() => importFleetwise([json('obd-decoders.json')], (i) => i)).toThrow(/pass the network interface file/);
  });
});

describe('edgewise manifest import (CLI)', () => {
  it('writes a manifest that loads back, and exits 0', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fw-import-'));
    const stderr = process.stderr.write.bind(process.stderr);
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      const out = path.join(dir, 'm.yaml');
      const code = await main(['manifest', 'import', '--fleetwise', path.join(FIX, 'network-interface-obd.json'), '--fleetwise', path.join(FIX, 'obd-decoders.json'), '-o', out]);
      process.stderr.write = stderr;
      expect(code).toBe(0);
      const m = await loadManifest(out);
      expect(m.signals.some((s) => s.name === 'Vehicle.OBD.CoolantTemperature')).toBe(true);
    } finally {
      process.stderr.write = stderr;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
