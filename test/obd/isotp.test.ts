import { describe, it, expect, afterEach } from 'vitest';
import {
  IsoTpChannel,
  ObdIsoTpClient,
  IsoTpTransport,
  VirtualCanBus,
  startIsoTpEcus,
  parseSimTable,
  decodeVin,
  supportedFromBitmap,
  hex2,
  type CanTxFrame,
} from '../../src/obd/index.js';

const TABLE = () =>
  parseSimTable({
    protocol: 6,
    ecus: [
      { id: '7E8', pids: { '0C': '1AF8', '0D': '32', '42': '36B0' }, vin: 'WP0ZZZ99ZTS390000', dtcs: { stored: ['P0133', 'U0123'] } },
      { id: '7E9', pids: { '0D': '33' } },
    ],
  });

const closers: (() => void)[] = [];
afterEach(() => {
  while (closers.length) closers.pop()!();
});

function setup(table = TABLE(), ecuIsotp = {}) {
  const bus = new VirtualCanBus();
  const trace: CanTxFrame[] = [];
  bus.tap = (f) => {
    trace.push({ ...f, data: f.data.slice() });
  };
  const ecuPort = bus.port();
  const ecus = startIsoTpEcus(ecuPort, table, ecuIsotp);
  const testerPort = bus.port();
  closers.push(() => ecus.close(), () => ecuPort.close(), () => testerPort.close());
  return { bus, trace, testerPort, ecus };
}

describe('OBD over ISO-TP (11-bit)', () => {
  it('sends functional requests on 0x7DF and collects every ECU on 0x7E8..0x7EF', async () => {
    const { testerPort, trace } = setup();
    const client = new ObdIsoTpClient(testerPort, { addressing: '11bit', p2Ms: 50 });
    closers.push(() => client.close());
    const answers = await client.request(Uint8Array.of(0x01, 0x00));
    expect(answers.map((a) => a.ecu)).toEqual(['7E8', '7E9']);
    expect(supportedFromBitmap(0, answers[0].data, 2).map(hex2)).toEqual(['0C', '0D', '20']);
    expect(supportedFromBitmap(0, answers[1].data, 2).map(hex2)).toEqual(['0D']);
    const req = trace[0];
    expect(req.id).toBe(0x7df);
    expect(Array.from(req.data)).toEqual([0x02, 0x01, 0x00, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa]);
    expect(trace.every((f) => f.data.length === 8)).toBe(true);
  });

  it('reassembles a multi-frame VIN and sends flow control to the ECU physical id', async () => {
    const { testerPort, trace } = setup();
    const client = new ObdIsoTpClient(testerPort, { addressing: '11bit', p2Ms: 50 });
    closers.push(() => client.close());
    const answers = await client.request(Uint8Array.of(0x09, 0x02));
    expect(answers).toHaveLength(1);
    expect(answers[0].data.length).toBe(20);
    expect(decodeVin([answers[0].data])).toBe('WP0ZZZ99ZTS390000');
    const kinds = trace.map((f) => `${f.id.toString(16)}:${hex2(f.data[0])}`);
    expect(kinds).toEqual(['7df:02', '7e8:10', '7e0:30', '7e8:21', '7e8:22']);
  });

  it('answers 6 PIDs in one request and DTCs with a count byte', async () => {
    const { testerPort } = setup();
    const client = new ObdIsoTpClient(testerPort, { addressing: '11bit', p2Ms: 50 });
    closers.push(() => client.close());
    const [a] = await client.request(Uint8Array.of(0x01, 0x0c, 0x0d, 0x42), { expect: new Set([0x7e8]) });
    expect(Array.from(a.data, hex2).join(' ')).toBe('41 0C 1A F8 0D 32 42 36 B0');
    const d = await client.request(Uint8Array.of(0x03), { ecuRxId: 0x7e8 });
    expect(Array.from(d[0].data, hex2).join(' ')).toBe('43 02 01 33 C1 23');
  });

  it('auto-detects 29-bit addressing (0x18DB33F1 -> 0x18DAF1xx, flow control to 0x18DAxxF1)', async () => {
    const table = parseSimTable({ protocol: 7, ecus: [{ pids: { '0D': '32' }, vin: '1G1JC5444R7252367' }] });
    const { testerPort, trace } = setup(table);
    const t = new IsoTpTransport({ iface: 'virtual', openPort: async () => testerPort, p2Ms: 40 });
    const info = await t.open();
    expect(info).toMatchObject({ addressing: '29bit', ecus: ['18DAF110'] });
    const vin = await t.request(Uint8Array.of(0x09, 0x02));
    expect(vin.messages[0].ecu).toBe('18DAF110');
    expect(decodeVin([vin.messages[0].data])).toBe('1G1JC5444R7252367');
    expect(trace.some((f) => f.id === 0x7df)).toBe(true); // tried 11-bit first
    const fc = trace.find((f) => f.data[0] === 0x30)!;
    expect(fc.id).toBe(0x18da10f1);
    expect(fc.extended).toBe(true);
  });
});

describe('ISO-TP segmentation and flow control', () => {
  function pair(aOpts = {}, bOpts = {}) {
    const bus = new VirtualCanBus();
    const trace: CanTxFrame[] = [];
    bus.tap = (f) => {
      trace.push({ ...f, data: f.data.slice() });
    };
    const pa = bus.port();
    const pb = bus.port();
    const got: Uint8Array[] = [];
    const errors: string[] = [];
    const a = new IsoTpChannel(pa, { txId: 0x700, rxId: 0x708, extended: false, ...aOpts }, { message: () => undefined });
    const b = new IsoTpChannel(pb, { txId: 0x708, rxId: 0x700, extended: false, ...bOpts }, { message: (d) => got.push(d), error: (e) => errors.push(e) });
    closers.push(() => a.close(), () => b.close());
    return { a, b, got, errors, trace, pa, pb };
  }

  const big = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);

  it('sends 4095 bytes across the sequence wrap and the receiver gets them intact', async () => {
    const { a, got, trace } = pair();
    const payload = big(4095);
    await a.send(payload);
    await new Promise((r) => setTimeout(r, 20));
    expect(got).toHaveLength(1);
    expect(Buffer.from(got[0]).equals(Buffer.from(payload))).toBe(true);
    const cfs = trace.filter((f) => f.id === 0x700 && f.data[0] >> 4 === 2);
    expect(cfs).toHaveLength(Math.ceil((4095 - 6) / 7));
    expect(cfs.slice(13, 18).map((f) => f.data[0] & 0xf)).toEqual([14, 15, 0, 1, 2]);
    expect(trace.filter((f) => f.id === 0x708)).toHaveLength(1); // one FC, block size 0
  });

  it('obeys the receiver block size: a flow control after every block', async () => {
    const { a, got, trace } = pair({}, { blockSize: 4, stMin: 1 });
    const payload = big(300);
    await a.send(payload);
    await new Promise((r) => setTimeout(r, 20));
    expect(Buffer.from(got[0]).equals(Buffer.from(payload))).toBe(true);
    const nCf = Math.ceil((300 - 6) / 7); // 42
    const fcs = trace.filter((f) => f.id === 0x708);
    expect(fcs).toHaveLength(1 + Math.floor((nCf - 1) / 4));
    expect(Array.from(fcs[0].data.subarray(0, 3))).toEqual([0x30, 4, 1]);
    // Never more than 4 consecutive frames between two flow controls.
    let run = 0;
    for (const f of trace) {
      if (f.id === 0x708) run = 0;
      else if (f.data[0] >> 4 === 2) expect(++run).toBeLessThanOrEqual(4);
    }
  });

  it('waits on FC WAIT and gives up on overflow', async () => {
    const bus = new VirtualCanBus();
    const pa = bus.port();
    const raw = bus.port();
    const sender = new IsoTpChannel(pa, { txId: 0x700, rxId: 0x708, extended: false }, { message: () => undefined });
    closers.push(() => sender.close());
    const frames: Uint8Array[] = [];
    let mode: 'wait' | 'overflow' = 'wait';
    raw.onFrame((f) => {
      frames.push(f.data);
      if (f.data[0] >> 4 !== 1) return;
      if (mode === 'wait') {
        raw.send({ id: 0x708, extended: false, data: Uint8Array.of(0x31, 0, 0) });
        setTimeout(() => raw.send({ id: 0x708, extended: false, data: Uint8Array.of(0x30, 0, 0) }), 5);
      } else raw.send({ id: 0x708, extended: false, data: Uint8Array.of(0x32, 0, 0) });
    });
    await sender.send(big(20));
    await new Promise((r) => setTimeout(r, 10));
    expect(frames.map((f) => hex2(f[0]))).toEqual(['10', '21', '22']);
    mode = 'overflow';
    await expect(sender.send(big(20))).rejects.toThrow(/overflow/);
  });

  it('times out without flow control (N_Bs)', async () => {
    const bus = new VirtualCanBus();
    const pa = bus.port();
    const sender = new IsoTpChannel(pa, { txId: 0x700, rxId: 0x708, extended: false, nBsMs: 30 }, { message: () => undefined });
    closers.push(() => sender.close());
    await expect(sender.send(big(20))).rejects.toThrow(/N_Bs timeout/);
  });

  it('drops a reception whose consecutive frames stop (N_Cr) or skip a sequence number, then receives the next message', async () => {
    const { b, got, errors, pa } = pair({}, { nCrMs: 30 });
    // FF of 20 bytes, then nothing
    pa.send({ id: 0x700, extended: false, data: Uint8Array.of(0x10, 20, 1, 2, 3, 4, 5, 6) });
    await new Promise((r) => setTimeout(r, 60));
    expect(errors[0]).toMatch(/N_Cr timeout/);
    // FF then CF with sequence 2 instead of 1
    pa.send({ id: 0x700, extended: false, data: Uint8Array.of(0x10, 20, 1, 2, 3, 4, 5, 6) });
    await new Promise((r) => setTimeout(r, 5));
    pa.send({ id: 0x700, extended: false, data: Uint8Array.of(0x22, 7, 8, 9, 10, 11, 12, 13) });
    await new Promise((r) => setTimeout(r, 5));
    expect(errors[1]).toMatch(/out of sequence/);
    expect(b.errors).toBe(2);
    pa.send({ id: 0x700, extended: false, data: Uint8Array.of(0x03, 0x41, 0x0d, 0x32, 0, 0, 0, 0) });
    await new Promise((r) => setTimeout(r, 5));
    expect(got.map((g) => Array.from(g))).toEqual([[0x41, 0x0d, 0x32]]);
  });

  it('sends minimal frames without padding', async () => {
    const { a, trace } = pair({ padding: null });
    await a.send(Uint8Array.of(0x01, 0x0d));
    expect(Array.from(trace[0].data)).toEqual([0x02, 0x01, 0x0d]);
  });
});
