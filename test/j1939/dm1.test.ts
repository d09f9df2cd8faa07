import { describe, it, expect } from 'vitest';
import { decodeDm, formatJ1939Dtc } from '../../src/j1939/dm.js';

// Byte layouts written from SAE J1939-73 (DM1: lamps, flash, then SPN LSB, SPN, SPN MSBs|FMI, CM|OC).
const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));

describe('DM1 (J1939-73)', () => {
  it.each([
    {
      what: 'no active DTC (SPN 0 FMI 0), lamps off, unused bytes 0xFF',
      hex: '00 ff 00 00 00 00 ff ff',
      lamps: { mil: 0, redStop: 0, amberWarning: 0, protect: 0 },
      dtcs: [],
    },
    {
      what: 'amber lamp on, SPN 110 (coolant temp) FMI 0 (above normal), OC 1',
      hex: '04 ff 6e 00 00 01 ff ff',
      lamps: { mil: 0, redStop: 0, amberWarning: 1, protect: 0 },
      dtcs: [{ spn: 110, fmi: 0, oc: 1, cm: 0 }],
    },
    {
      what: 'MIL and red stop lamp on, SPN 520192 (0x7F000, needs the 3 MSBs in byte 5) FMI 31, OC 126',
      hex: '50 ff 00 f0 ff 7e ff ff',
      lamps: { mil: 1, redStop: 1, amberWarning: 0, protect: 0 },
      dtcs: [{ spn: 0x7f000, fmi: 31, oc: 126, cm: 0 }],
    },
    {
      what: 'protect lamp, SPN 100 (oil pressure) FMI 1, OC 127 (not available)',
      hex: '01 ff 64 00 01 7f ff ff',
      lamps: { mil: 0, redStop: 0, amberWarning: 0, protect: 1 },
      dtcs: [{ spn: 100, fmi: 1, oc: 127, cm: 0 }],
    },
    {
      what: 'three DTCs (multi-packet DM1, 14 bytes): SPN 190 FMI 2, SPN 91 FMI 3, SPN 3216 FMI 4',
      hex: '04 00 be 00 02 05 5b 00 03 01 90 0c 04 02',
      lamps: { mil: 0, redStop: 0, amberWarning: 1, protect: 0 },
      dtcs: [
        { spn: 190, fmi: 2, oc: 5, cm: 0 },
        { spn: 91, fmi: 3, oc: 1, cm: 0 },
        { spn: 3216, fmi: 4, oc: 2, cm: 0 },
      ],
    },
    {
      what: 'conversion method 1: SPN 110 sent most significant first (0x00 0x0D 0xC0 | FMI 0), OC 3',
      hex: '04 ff 00 0d c0 83 ff ff',
      lamps: { mil: 0, redStop: 0, amberWarning: 1, protect: 0 },
      dtcs: [{ spn: 110, fmi: 0, oc: 3, cm: 1 }],
    },
  ])('$what', ({ hex, lamps, dtcs }) => {
    const r = decodeDm(bytes(hex))!;
    expect(r.lamps).toEqual(lamps);
    expect(r.dtcs).toEqual(dtcs);
  });

  it('flash status comes from byte 2 in the same bit positions', () => {
    expect(decodeDm(bytes('ff 44 00 00 00 00 ff ff'))!.flash).toEqual({ mil: 1, redStop: 0, amberWarning: 1, protect: 0 });
  });

  it('a payload shorter than the two lamp bytes is not a DM1; DTC text is SPN-FMI', () => {
    expect(decodeDm(bytes('04'))).toBeUndefined();
    expect(formatJ1939Dtc({ spn: 110, fmi: 0, oc: 1, cm: 0 })).toBe('SPN110-FMI0');
  });
});

import { J1939ActiveDtcs } from '../../src/j1939/dtcs.js';
import type { CanFrame } from '../../src/types.js';

describe('active DTCs from the DM1s of several ECUs', () => {
  const frame = (id: number, hex: string): CanFrame => ({ iface: 'can0', id, extended: true, data: bytes(hex), timeMs: 0, fd: false, remote: false, error: false }) as CanFrame;
  it('recognises DM1 (PGN 65226) at any priority and source, and nothing else', () => {
    expect(J1939ActiveDtcs.isDm1(frame(0x18feca00, '00'))).toBe(true);
    expect(J1939ActiveDtcs.isDm1(frame(0x0cfeca03, '00'))).toBe(true);
    expect(J1939ActiveDtcs.isDm1(frame(0x18fecb00, '00'))).toBe(false); // DM2
    expect(J1939ActiveDtcs.isDm1({ ...frame(0x18feca00, '00'), extended: false })).toBe(false);
  });
  it('reports the union per source when it changes, and clears a source that reports none', () => {
    const t = new J1939ActiveDtcs();
    expect(t.onDm1(frame(0x18feca00, '04ff6e000001ffff'))).toEqual(['SPN110-FMI0']);
    expect(t.onDm1(frame(0x18feca00, '04ff6e000001ffff'))).toBeUndefined();
    expect(t.onDm1(frame(0x18feca03, '04ff64000101ffff'))).toEqual(['SPN100-FMI1', 'SPN110-FMI0']);
    expect(t.onDm1(frame(0x18feca00, '00ff00000000ffff'))).toEqual(['SPN100-FMI1']);
  });
});
