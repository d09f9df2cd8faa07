import { describe, it, expect } from 'vitest';
import { startElmSimulator, DEMO_SIM_TABLE } from '../../src/obd/index.js';
import { cli } from '../helpers/cli.js';


async function decode(req: string, resp: string): Promise<unknown[]> {
  const r = await cli('obd', 'decode', req, resp);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return r.out.trim().split('\n').map((l) => JSON.parse(l));
}

describe('edgewise obd decode', () => {
  it('decodes an engine speed response', async () => {
    expect(await decode('010C', '7E8 04 41 0C 1A F8')).toEqual([{ pid: '0C', name: 'Engine speed', value: 1726, unit: 'rpm' }]);
  });

  it('accepts exactly what the adapter printed (CR separated, trailing prompt) in any header/space setting', async () => {
    const speed = [{ pid: '0D', name: 'Vehicle speed', value: 50, unit: 'km/h' }];
    expect(await decode('010D', 'SEARCHING...\r7E803410D32\r\r>')).toEqual(speed);
    expect(await decode('01 0D', '41 0D 32 \r\r>')).toEqual(speed);
    expect(await decode('010D', '410D32')).toEqual(speed);
    expect(await decode('010D', '18 DA F1 10 03 41 0D 32')).toEqual(speed);
    // literal \r escapes as typed in a shell
    expect(await decode('010D', '7E8 03 41 0D 32\\r\\r>')).toEqual(speed);
  });

  it('prints the VIN of a multi-frame response', async () => {
    expect(await decode('0902', '7E8 10 14 49 02 01 57 50 30\r7E8 21 5A 5A 5A 39 39 5A 54\r7E8 22 53 33 39 30 30 30 30\r\r>')).toEqual([
      { value: 'WP0ZZZ99ZTS390000' },
    ]);
    expect(await decode('0902', '014\r0: 49 02 01 57 50 30\r1: 5A 5A 5A 39 39 5A 54\r2: 53 33 39 30 30 30 30\r\r>')).toEqual([
      { value: 'WP0ZZZ99ZTS390000' },
    ]);
  });

  it('prints DTCs of services 03, 07 and 0A', async () => {
    expect(await decode('03', '7E8 06 43 02 01 33 01 71')).toEqual([{ dtcs: ['P0133', 'P0171'] }]);
    expect(await decode('07', '47 01 C1 23')).toEqual([{ dtcs: ['U0123'] }]);
    expect(await decode('0A', '7E8024A00\r\r>')).toEqual([{ dtcs: [] }]);
    expect(await decode('03', '43 01 33 81 04 00 00')).toEqual([{ dtcs: ['P0133', 'B0104'] }]);
  });

  it('prints supported PIDs as two upper-case hex digits', async () => {
    expect(await decode('0100', '7E8 06 41 00 BE 1F A8 13')).toEqual([
      { supported_pids: ['01', '03', '04', '05', '06', '07', '0C', '0D', '0E', '0F', '10', '11', '13', '15', '1C', '1F', '20'] },
    ]);
    expect(await decode('0120', '41 20 80 01 00 01')).toEqual([{ supported_pids: ['21', '30', '40'] }]);
  });

  it('prints the PID 01 monitor status', async () => {
    expect(await decode('0101', '7E8 06 41 01 81 07 65 04')).toEqual([{ mil: true, dtc_count: 1, ignition_type: 'spark' }]);
    expect(await decode('0101', '41 01 00 08 00 00')).toEqual([{ mil: false, dtc_count: 0, ignition_type: 'compression' }]);
  });

  it('rejects a response that answers a different PID than requested', async () => {
    const r = await cli('obd', 'decode', '010C', '7E8 04 41 0D 1A F8');
    expect(r.code).not.toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/answers PID 0D, not the requested 0C/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    const v = await cli('obd', 'decode', '0902', '7E8 06 49 04 01 41 42 43');
    expect(v.code).not.toBe(0);
    expect(v.err).toMatch(/answers PID 04, not the requested 02/);
  });

  it('turns NO DATA and ? into error objects', async () => {
    expect(await decode('0100', 'NO DATA\r\r>')).toEqual([{ error: 'NO_DATA' }]);
    expect(await decode('0100', '?\r\r>')).toEqual([{ error: 'UNKNOWN_COMMAND' }]);
  });

  it('names the ECU when several answered, one object per line', async () => {
    expect(await decode('010D', '7E8 03 41 0D 32\r7E9 03 41 0D 33')).toEqual([
      { ecu: '7E8', pid: '0D', name: 'Vehicle speed', value: 50, unit: 'km/h' },
      { ecu: '7E9', pid: '0D', name: 'Vehicle speed', value: 51, unit: 'km/h' },
    ]);
  });

  it('prints one object per PID of a multi-PID request', async () => {
    expect(await decode('010C0D', '7E8 06 41 0C 1A F8 0D 32')).toEqual([
      { pid: '0C', name: 'Engine speed', value: 1726, unit: 'rpm' },
      { pid: '0D', name: 'Vehicle speed', value: 50, unit: 'km/h' },
    ]);
  });

  it('exits 2 with a one-line message for a bad request or unreadable response', async () => {
    const a = await cli('obd', 'decode', 'hello', '41 0C 00 00');
    expect(a.code).toBe(2);
    expect(a.out).toBe('');
    expect(a.err).toMatch(/^edgewise: "hello" is not an OBD request/);
    const b = await cli('obd', 'decode', '010C', 'garbage text');
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/cannot read the response/);
  });

  it('lists the PID table', async () => {
    const r = await cli('obd', 'pids', '--json');
    expect(r.code).toBe(0);
    const rows = r.out.trim().split('\n').map((l) => JSON.parse(l) as { pid: string; unit: string });
    expect(rows.find((x) => x.pid === '0C')).toMatchObject({ unit: 'rpm', bytes: 2 });
    expect(rows.find((x) => x.pid === 'A6')).toMatchObject({ unit: 'km', bytes: 4 });
  });
});

describe('edgewise obd scan', () => {
  it('reads adapter, ECUs, supported PIDs with values, VIN and DTCs from the simulator', async () => {
    const sim = await startElmSimulator({ table: structuredClone(DEMO_SIM_TABLE), tcpPort: 0 });
    try {
      const r = await cli('obd', 'scan', sim.address);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.out) as {
        link: Record<string, unknown>;
        ecus: Record<string, { supported: string[]; values: Record<string, { value: unknown; unit: string }> }>;
        vin: string;
        dtcs: Record<string, string[]>;
      };
      expect(doc.link).toMatchObject({ adapter: 'ELM327 v1.5', protocol: 6 });
      expect(Object.keys(doc.ecus)).toEqual(['7E8', '7E9']);
      expect(doc.ecus['7E8'].supported).toContain('0C');
      expect(doc.ecus['7E8'].values['0C']).toMatchObject({ value: 820, unit: 'rpm' });
      expect(doc.ecus['7E8'].values['01']).toEqual({ mil: true, dtc_count: 1, ignition_type: 'spark' });
      expect(doc.ecus['7E9'].values['49']).toMatchObject({ unit: '%' });
      expect(doc.vin).toBe('WP0ZZZ99ZTS390000');
      expect(doc.dtcs).toEqual({ stored: ['P0133'], pending: ['P0171'], permanent: [] });
    } finally {
      await sim.stop();
    }
  });

  it('needs a port or --can', async () => {
    const r = await cli('obd', 'scan');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/give an adapter port or --can/);
  });
});
