import { describe, it, expect, afterEach } from 'vitest';
import {
  Elm327,
  ElmTransport,
  openElmStream,
  startElmSimulator,
  parseSimTable,
  decodeAdapterResponse,
  decodeVin,
  type ElmSimulator,
  type SimTableInput,
} from '../../src/obd/index.js';

const BASE: SimTableInput = {
  protocol: 6,
  searchMs: 5,
  faults: { '0105': 'CAN ERROR', '0111': 'SILENT' },
  ecus: [
    { id: '7E8', pids: { '0C': '1AF8', '0D': '32', '05': '7B', '11': '80' }, vin: 'WP0ZZZ99ZTS390000', dtcs: { stored: ['P0133'] } },
    { id: '7E9', pids: { '0D': '33' } },
  ],
};

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function sim(table: SimTableInput = BASE): Promise<ElmSimulator> {
  const s = await startElmSimulator({ table: parseSimTable(table), tcpPort: 0 });
  cleanup.push(() => s.stop());
  return s;
}

async function connect(s: ElmSimulator, opts = {}): Promise<Elm327> {
  const elm = new Elm327(await openElmStream(s.address), opts);
  cleanup.push(() => elm.close());
  return elm;
}

describe('ELM327 client against the simulator (TCP, like Wi-Fi adapters)', () => {
  it('runs the init sequence and finds the protocol automatically', async () => {
    const elm = await connect(await sim());
    const { info, first } = await elm.init();
    expect(info).toEqual({ version: 'ELM327 v1.5', protocol: 6, protocolAuto: true, voltage: 12.6 });
    expect(elm.framing).toBe('can11');
    expect(first.messages.map((m) => m.ecu)).toEqual(['7E8', '7E9']);
    // after init: echo off, spaces off, headers on
    expect(await elm.command('010D')).toBe('7E803410D32\r7E903410D33\r\r');
  });

  it('falls back to trying protocols one by one (ATTP) when the automatic search fails', async () => {
    const s = await sim({ protocol: 7, searchFails: true, ecus: [{ pids: { '0D': '32' } }] });
    const elm = await connect(s);
    const { info } = await elm.init();
    expect(info.protocol).toBe(7);
    expect(elm.framing).toBe('can29');
    expect(s.commands.filter((c) => /^ATTP|^0100$/.test(c))).toEqual(['0100', 'ATTP6', '0100', 'ATTP8', '0100', 'ATTP1', '0100', 'ATTP7', '0100']);
    const a = await elm.request(Uint8Array.of(0x01, 0x0d));
    expect(a.messages).toEqual([{ ecu: '18DAF110', data: Uint8Array.of(0x41, 0x0d, 0x32) }]);
  });

  it('finds a 29-bit CAN car and reads its multi-frame VIN', async () => {
    const elm = await connect(await sim({ protocol: 7, ecus: [{ pids: { '0D': '32' }, vin: '1G1JC5444R7252367' }] }));
    const { info } = await elm.init();
    expect(info.protocol).toBe(7);
    expect(elm.framing).toBe('can29');
    const a = await elm.request(Uint8Array.of(0x09, 0x02));
    expect(a.messages[0].ecu).toBe('18DAF110');
    expect(decodeVin([a.messages[0].data])).toBe('1G1JC5444R7252367');
  });

  it('prints and reads every header / spacing / linefeed setting', async () => {
    const s = await sim({ ...BASE, pad: true });
    const elm = await connect(s);
    const seen = new Set<string>();
    for (const echo of ['ATE1', 'ATE0']) {
      for (const lf of ['ATL0', 'ATL1']) {
        for (const h of ['ATH0', 'ATH1']) {
          for (const sp of ['ATS0', 'ATS1']) {
            for (const c of [echo, lf, h, sp]) await elm.command(c);
            const text = await elm.command('010C');
            seen.add(text);
            expect(decodeAdapterResponse('010C', text), `${echo} ${lf} ${h} ${sp}: ${JSON.stringify(text)}`).toEqual([
              { pid: '0C', name: 'Engine speed', value: 1726, unit: 'rpm' },
            ]);
            const vin = await elm.command('0902');
            expect(decodeAdapterResponse('0902', vin), JSON.stringify(vin)).toEqual([{ value: 'WP0ZZZ99ZTS390000' }]);
          }
        }
      }
    }
    expect(seen.size).toBe(16);
    expect(seen).toContain('010C\r\n7E8 04 41 0C 1A F8 AA AA AA\r\n\r\n');
    expect(seen).toContain('410C1AF8\r\r');
  });

  it('reports SEARCHING..., NO DATA, ? and CAN ERROR as such', async () => {
    const elm = await connect(await sim());
    await elm.command('ATE0');
    await elm.command('ATSP0');
    const first = await elm.command('010D');
    expect(first).toMatch(/^SEARCHING\.\.\.\r/);
    expect(decodeAdapterResponse('010D', first)).toEqual([
      { ecu: '#1', pid: '0D', name: 'Vehicle speed', value: 50, unit: 'km/h' },
      { ecu: '#2', pid: '0D', name: 'Vehicle speed', value: 51, unit: 'km/h' },
    ]);
    expect(decodeAdapterResponse('012F', await elm.command('012F'))).toEqual([{ error: 'NO_DATA' }]);
    expect(decodeAdapterResponse('0100', await elm.command('XYZ'))).toEqual([{ error: 'UNKNOWN_COMMAND' }]);
    expect(decodeAdapterResponse('0105', await elm.command('0105'))).toEqual([{ error: 'CAN_ERROR' }]);
  });

  it('turns a silent adapter into a TIMEOUT and keeps working afterwards', async () => {
    const s = await sim();
    const t = new ElmTransport({ address: s.address, commandTimeoutMs: 150 });
    cleanup.push(() => t.close());
    await t.open();
    expect(await t.request(Uint8Array.of(0x01, 0x11))).toEqual({ messages: [], error: 'TIMEOUT' });
    const ok = await t.request(Uint8Array.of(0x01, 0x05));
    expect(ok.error).toBe('CAN_ERROR');
  });

  it('reports the link lost when the adapter goes away', async () => {
    const s = await sim();
    const t = new ElmTransport({ address: s.address });
    cleanup.push(() => t.close());
    await t.open();
    const down = new Promise<Error>((r) => t.onDown(r));
    await s.unplug();
    expect((await down).message).toMatch(/connection lost/);
    await expect(t.request(Uint8Array.of(0x01, 0x0d))).rejects.toThrow(/connection lost/);
  });

  it('works with a clone that refuses ATS0 and ATH1 (no headers: one answer per line)', async () => {
    const s = await sim({ ...BASE, refuse: ['ATS0', 'AT H1'] });
    const t = new ElmTransport({ address: s.address });
    cleanup.push(() => t.close());
    await t.open();
    const a = await t.request(Uint8Array.of(0x01, 0x0c));
    expect(a.messages).toEqual([{ ecu: null, data: Uint8Array.of(0x41, 0x0c, 0x1a, 0xf8) }]);
    const vin = await t.request(Uint8Array.of(0x09, 0x02));
    expect(decodeVin(vin.messages.map((m) => m.data))).toBe('WP0ZZZ99ZTS390000');
  });

  it('fails init clearly when no vehicle answers', async () => {
    const s = await sim({ ...BASE, faults: { '0100': 'UNABLE TO CONNECT' } });
    const t = new ElmTransport({ address: s.address });
    cleanup.push(() => t.close());
    await expect(t.open()).rejects.toThrow(/no vehicle answered 0100 \(UNABLE_TO_CONNECT\)/);
  });
});
