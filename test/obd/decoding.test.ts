import { describe, it, expect } from 'vitest';
import {
  PIDS,
  pidDef,
  encodePid,
  bitmapFor,
  supportedFromBitmap,
  decodeCurrentData,
  decodeDtcs,
  dtcText,
  decodeVin,
  parseElmResponse,
  decodeAdapterResponse,
  hex2,
} from '../../src/obd/index.js';

function bytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.replace(/\s+/g, '').match(/../g)!, (b) => parseInt(b, 16));
}

/** PID -> [data bytes, value computed by hand from the J1979 formula]. */
const VECTORS: Record<string, [string, number | string]> = {
  '04': ['80', (128 * 100) / 255], // 50.196 %
  '05': ['7B', 83], // 123 - 40
  '06': ['90', 12.5], // (144 - 128) * 100 / 128
  '07': ['70', -12.5],
  '08': ['80', 0],
  '09': ['00', -100],
  '0A': ['64', 300], // 3 * 100 kPa
  '0B': ['21', 33],
  '0C': ['1AF8', 1726], // (26 * 256 + 248) / 4
  '0D': ['32', 50],
  '0E': ['8C', 6], // (140 - 128) / 2
  '0F': ['46', 30],
  '10': ['01F4', 5], // 500 / 100 g/s
  '11': ['FF', 100],
  '1F': ['0258', 600],
  '21': ['000A', 10],
  '2F': ['33', 20], // 51 * 100 / 255
  '31': ['1234', 4660],
  '33': ['65', 101],
  '42': ['36B0', 14], // 14000 / 1000 V
  '43': ['01FE', 200], // 510 * 100 / 255
  '45': ['66', 40],
  '46': ['3C', 20],
  '49': ['99', 60],
  '4A': ['CC', 80],
  '4B': ['00', 0],
  '4D': ['003C', 60],
  '4E': ['0100', 256],
  '51': ['04', 'Diesel'],
  '5A': ['19', (25 * 100) / 255],
  '5B': ['E6', (230 * 100) / 255],
  '5C': ['82', 90],
  '5E': ['00C8', 10], // 200 * 0.05 L/h
  A6: ['0012D687', 123456.7], // 1234567 / 10 km
};

const UNITS: Record<string, string> = {
  '04': '%', '05': 'degC', '0A': 'kPa', '0C': 'rpm', '0D': 'km/h', '0E': 'deg', '10': 'g/s', '1F': 's',
  '21': 'km', '42': 'V', '4D': 'min', '5E': 'L/h', A6: 'km',
};

describe('service 01 PID formulas', () => {
  const values = PIDS.filter((d) => d.kind === 'linear' || d.kind === 'enum');

  it('has a hand-computed vector for every value PID in the table', () => {
    expect(values.map((d) => d.hex).sort()).toEqual(Object.keys(VECTORS).sort());
  });

  for (const [pid, [data, want]] of Object.entries(VECTORS)) {
    it(`decodes PID ${pid} (${data}) to ${String(want)}`, () => {
      const msg = bytes(`41${pid}${data}`);
      const r = decodeCurrentData(msg);
      expect(r).toHaveLength(1);
      expect(r[0].pid).toBe(parseInt(pid, 16));
      if (typeof want === 'number') expect(r[0].value as number).toBeCloseTo(want, 6);
      else expect(r[0].value).toBe(want);
    });
  }

  it('uses SI-style unit text', () => {
    for (const [pid, unit] of Object.entries(UNITS)) expect(pidDef(parseInt(pid, 16))!.unit, pid).toBe(unit);
  });

  it('round-trips every linear PID through its encoder at the ends of its range', () => {
    for (const d of PIDS.filter((x) => x.kind === 'linear')) {
      for (const raw of [0, 2 ** (8 * d.bytes) - 1]) {
        const v = raw * d.scale + d.offset;
        const enc = encodePid(d, v);
        expect(d.decode(enc, 0) as number, d.hex).toBeCloseTo(v, 6);
      }
    }
  });

  it('decodes PID 01 monitor status: MIL, DTC count, ignition type', () => {
    expect(decodeCurrentData(bytes('41 01 81 07 65 04'))[0].value).toEqual({ mil: true, dtc_count: 1, ignition_type: 'spark' });
    expect(decodeCurrentData(bytes('41 01 05 08 00 00'))[0].value).toEqual({ mil: false, dtc_count: 5, ignition_type: 'compression' });
  });

  it('splits a multi-PID response (up to 6 PIDs after one 41)', () => {
    const r = decodeCurrentData(bytes('41 0C 1A F8 0D 32 05 7B'));
    expect(r.map((x) => [hex2(x.pid), x.value])).toEqual([
      ['0C', 1726],
      ['0D', 50],
      ['05', 83],
    ]);
  });

  it('keeps an unknown single PID as raw bytes', () => {
    const r = decodeCurrentData(bytes('41 FE 01 02'));
    expect(r).toHaveLength(1);
    expect(r[0].def).toBeUndefined();
    expect(Array.from(r[0].raw)).toEqual([1, 2]);
  });
});

describe('supported-PID bitmaps', () => {
  it('reads the bitmap with A bit 7 as the first PID', () => {
    // BE 1F A8 13: the classic python-OBD example
    expect(supportedFromBitmap(0, bytes('BE1FA813'), 0).map(hex2)).toEqual(
      ['01', '03', '04', '05', '06', '07', '0C', '0D', '0E', '0F', '10', '11', '13', '15', '1C', '1F', '20'],
    );
    expect(supportedFromBitmap(0x20, bytes('80000001'), 0).map(hex2)).toEqual(['21', '40']);
  });

  it('builds bitmaps that announce the next one only when higher PIDs exist', () => {
    const s = new Set([0x0c, 0x0d, 0x42]);
    expect(Array.from(bitmapFor(0, s), hex2).join('')).toBe('00180001');
    expect(Array.from(bitmapFor(0x20, s), hex2).join('')).toBe('00000001');
    expect(Array.from(bitmapFor(0x40, s), hex2).join('')).toBe('40000000');
  });
});

describe('DTCs', () => {
  it('decodes the four letters and the digits', () => {
    expect(dtcText(0x01, 0x04)).toBe('P0104');
    expect(dtcText(0x41, 0x23)).toBe('C0123');
    expect(dtcText(0x80, 0x03)).toBe('B0003');
    expect(dtcText(0xc1, 0x23)).toBe('U0123');
    expect(dtcText(0x01, 0x33)).toBe('P0133');
    expect(dtcText(0x3f, 0xff)).toBe('P3FFF');
    expect(dtcText(0xd2, 0x34)).toBe('U1234');
  });

  it('reads CAN responses with a count byte and ignores padding after the count', () => {
    expect(decodeDtcs(bytes('43 02 01 33 01 71'))).toEqual(['P0133', 'P0171']);
    expect(decodeDtcs(bytes('43 01 01 33 00 00'))).toEqual(['P0133']);
    expect(decodeDtcs(bytes('47 00'))).toEqual([]);
    expect(decodeDtcs(bytes('4A 01 C1 23'))).toEqual(['U0123']);
  });

  it('reads legacy responses (no count, three slots, 00 00 empty)', () => {
    expect(decodeDtcs(bytes('43 01 33 41 23 00 00'))).toEqual(['P0133', 'C0123']);
    expect(decodeDtcs(bytes('43 00 00 00 00 00 00'))).toEqual([]);
  });
});

describe('VIN (service 09 PID 02)', () => {
  it('keeps every character (python-OBD strips 1, 2, x and \\ from the ends)', () => {
    const vin = '1G1JC5444R7252367';
    expect(decodeVin([Uint8Array.of(0x49, 0x02, 0x01, ...Buffer.from(vin))])).toBe(vin);
    const vin2 = 'WP0ZZZ99ZTS390000';
    expect(decodeVin([Uint8Array.of(0x49, 0x02, 0x01, ...Buffer.from(vin2))])).toBe(vin2);
  });

  it('reassembles ISO-TP frames printed with headers (first + consecutive frames)', () => {
    const r = parseElmResponse('7E8 10 14 49 02 01 57 50 30\r7E8 21 5A 5A 5A 39 39 5A 54\r7E8 22 53 33 39 30 30 30 30\r\r>', { request: '0902' });
    expect(r.messages).toHaveLength(1);
    expect(r.messages[0].ecu).toBe('7E8');
    expect(decodeVin([r.messages[0].data])).toBe('WP0ZZZ99ZTS390000');
  });

  it('reassembles the numbered lines of headers-off CAN', () => {
    const r = parseElmResponse('014\r0: 49 02 01 57 50 30 \r1: 5A 5A 5A 39 39 5A 54 \r2: 53 33 39 30 30 30 30 \r\r>', { request: '0902' });
    expect(decodeVin(r.messages.map((m) => m.data))).toBe('WP0ZZZ99ZTS390000');
  });

  it('joins the five messages of legacy protocols', () => {
    const out = decodeAdapterResponse(
      '0902',
      '49 02 01 00 00 00 31\r49 02 02 47 31 4A 43\r49 02 03 35 34 34 34\r49 02 04 52 37 32 35\r49 02 05 32 33 36 37',
    );
    expect(out).toEqual([{ value: '1G1JC5444R7252367' }]);
  });

  it('orders consecutive frames by sequence across the 0xF -> 0x0 wrap', () => {
    // 100-byte payload: FF + 14 CFs (sequence 1..F, 0)
    const payload = Uint8Array.from({ length: 100 }, (_, i) => (i === 0 ? 0x49 : i === 1 ? 0x0a : 0x41 + (i % 26)));
    const lines = [`7E8 10 64 ${Array.from(payload.subarray(0, 6), hex2).join(' ')}`];
    let seq = 1;
    for (let off = 6; off < 100; off += 7, seq++) lines.push(`7E8 ${hex2(0x20 | (seq & 0xf))} ${Array.from(payload.subarray(off, off + 7), hex2).join(' ')}`);
    const r = parseElmResponse(lines.join('\r'), { request: '090A' });
    expect(r.unparsed).toEqual([]);
    expect(Array.from(r.messages[0].data)).toEqual(Array.from(payload));
  });
});

describe('ELM327 response text', () => {
  const RPM = { pid: '0C', name: 'Engine speed', value: 1726, unit: 'rpm' };
  const forms: [string, string][] = [
    ['headers on, spaces on', '7E8 04 41 0C 1A F8'],
    ['headers on, spaces off, prompt', '7E804410C1AF8\r\r>'],
    ['headers on, padded to 8 bytes', '7E8 04 41 0C 1A F8 AA AA AA'],
    ['headers off, spaces on', '41 0C 1A F8 \r\r>'],
    ['headers off, spaces off', '410C1AF8'],
    ['with echo and SEARCHING...', '010C\rSEARCHING...\r7E8 04 41 0C 1A F8\r\r>'],
    ['linefeeds on', '7E8 04 41 0C 1A F8\r\n\r\n>'],
    ['29-bit headers, spaces on', '18 DA F1 10 04 41 0C 1A F8'],
    ['29-bit headers, spaces off', '18DAF11004410C1AF8\r\r>'],
    ['legacy header and checksum', '48 6B 10 41 0C 1A F8 22'],
    ['CAN auto-formatting off, headers off', '04 41 0C 1A F8'],
  ];
  for (const [what, text] of forms) {
    it(`reads ${what}`, () => {
      expect(decodeAdapterResponse('010C', text)).toEqual([RPM]);
    });
  }

  it('maps status words to error codes', () => {
    expect(decodeAdapterResponse('010D', 'NO DATA\r\r>')).toEqual([{ error: 'NO_DATA' }]);
    expect(decodeAdapterResponse('010D', '?\r\r>')).toEqual([{ error: 'UNKNOWN_COMMAND' }]);
    expect(decodeAdapterResponse('010D', 'SEARCHING...\rCAN ERROR\r\r>')).toEqual([{ error: 'CAN_ERROR' }]);
    expect(decodeAdapterResponse('010D', 'SEARCHING...\rUNABLE TO CONNECT\r>')).toEqual([{ error: 'UNABLE_TO_CONNECT' }]);
    expect(decodeAdapterResponse('010D', 'BUS INIT: ...ERROR\r>')).toEqual([{ error: 'BUS_INIT_ERROR' }]);
  });

  it('keeps several ECUs apart', () => {
    const out = decodeAdapterResponse('0100', '7E8 06 41 00 BE 3F A8 13\r7E9 06 41 00 80 00 00 01\r\r>');
    expect(out).toEqual([
      { ecu: '7E8', supported_pids: ['01', '03', '04', '05', '06', '07', '0B', '0C', '0D', '0E', '0F', '10', '11', '13', '15', '1C', '1F', '20'] },
      { ecu: '7E9', supported_pids: ['01', '20'] },
    ]);
  });

  it('reports a negative response with its code', () => {
    expect(decodeAdapterResponse('0902', '7E8 03 7F 09 12')).toEqual([{ error: 'NEGATIVE_RESPONSE', nrc: '12', reason: 'subFunctionNotSupported' }]);
  });

  it('rejects text that is not a response', () => {
    expect(() => decodeAdapterResponse('010C', 'hello there')).toThrow(/cannot read the response/);
    expect(() => decodeAdapterResponse('zz', '41 0C 00 00')).toThrow(/not an OBD request/);
  });
});
