import { describe, it, expect, afterEach } from 'vitest';
import {
  ObdPoller,
  IsoTpTransport,
  ElmTransport,
  VirtualCanBus,
  startIsoTpEcus,
  startElmSimulator,
  parseSimTable,
  type CanTxFrame,
  type PollSignal,
  type SimTableInput,
} from '../../src/obd/index.js';
import type { SignalValue } from '../../src/types.js';

const TABLE: SimTableInput = {
  protocol: 6,
  ecus: [
    {
      id: '7E8',
      pids: { '01': '81076504', '0C': ['1AF8', '0FA0'], '0D': '32', '05': '7B', '42': '36B0', A6: '0012D687' },
      vin: 'WP0ZZZ99ZTS390000',
      dtcs: { stored: ['P0133'], pending: ['P0171', 'P0133'], permanent: ['U0123'] },
    },
    { id: '7E9', pids: { '0D': '33' }, dtcs: { stored: ['C0123'] } },
  ],
};

const SIGNALS: PollSignal[] = [
  { id: 0, name: 'Vehicle.OBD.EngineSpeed', type: 'float64', service: 1, pid: 0x0c },
  { id: 1, name: 'Vehicle.OBD.Speed', type: 'uint8', service: 1, pid: 0x0d },
  { id: 2, name: 'Vehicle.OBD.FuelLevel', type: 'float64', service: 1, pid: 0x2f }, // not supported by the car
  { id: 3, name: 'Vehicle.OBD.Coolant', type: 'int16', service: 1, pid: 0x05 },
  { id: 4, name: 'Vehicle.OBD.Mil', type: 'bool', service: 1, pid: 0x01 },
  { id: 5, name: 'Vehicle.OBD.Odometer', type: 'float64', service: 1, pid: 0xa6 },
  { id: 6, name: 'Vehicle.VIN', type: 'string', service: 9, pid: 0x02 },
  { id: 7, name: 'Vehicle.OBD.Battery', type: 'float32', service: 1, pid: 0x42 },
];

class Collector {
  samples: [number, number, SignalValue][] = [];
  dtcLists: string[][] = [];
  sample(id: number, t: number, v: SignalValue): void {
    this.samples.push([id, t, v]);
  }
  dtcs(_t: number, codes: string[]): void {
    this.dtcLists.push(codes);
  }
  values(id: number): SignalValue[] {
    return this.samples.filter((s) => s[0] === id).map((s) => s[2]);
  }
}

async function until(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

function isotpCar(table: SimTableInput = TABLE) {
  const bus = new VirtualCanBus();
  const requests: CanTxFrame[] = [];
  bus.tap = (f) => {
    if (f.id === 0x7df || (f.id >= 0x7e0 && f.id <= 0x7e7 && f.data[0] >> 4 === 0)) requests.push({ ...f, data: f.data.slice() });
  };
  const ecuPort = bus.port();
  const ecus = startIsoTpEcus(ecuPort, parseSimTable(table));
  const port = bus.port();
  cleanup.push(() => ecus.close());
  return { bus, port, requests };
}

describe('OBD poller over ISO-TP', () => {
  it('discovers supported PIDs, polls only those, each at its interval, and delivers typed values', async () => {
    const { port, requests } = isotpCar();
    const transport = new IsoTpTransport({ iface: 'vcan-test', openPort: async () => ({ ...port, close() {} }), p2Ms: 30 });
    const poller = new ObdPoller({
      transport,
      signals: SIGNALS,
      intervalMs: 400,
      pids: new Map([[0x0c, { intervalMs: 50 }]]),
      dtcs: { enabled: true, intervalMs: 200, services: [0x03, 0x07, 0x0a] },
    });
    const sink = new Collector();
    poller.start(sink);
    cleanup.push(() => poller.stop());
    await until(() => sink.values(0).length >= 4 && sink.dtcLists.length >= 1 && sink.values(7).length >= 1, 'samples');
    expect(new Set(sink.values(0))).toEqual(new Set([1726, 1000]));
    expect(sink.values(1)[0]).toBe(50); // 7E8 (lowest id) wins over 7E9's 51
    expect(sink.values(3)[0]).toBe(83);
    expect(sink.values(4)[0]).toBe(true);
    expect(sink.values(5)[0]).toBeCloseTo(123456.7, 6);
    expect(sink.values(6)).toEqual(['WP0ZZZ99ZTS390000']);
    expect(sink.values(7)[0]).toBeCloseTo(14, 6);
    expect(sink.values(2)).toEqual([]);
    // stored + pending + permanent of both ECUs, each code once
    expect(sink.dtcLists[0].slice().sort()).toEqual(['C0123', 'P0133', 'P0171', 'U0123']);
    // 0x2F was never requested: it is not in any bitmap
    const pidRequests = requests.filter((f) => f.data[1] === 0x01).flatMap((f) => Array.from(f.data.subarray(2, 1 + f.data[0])));
    expect(pidRequests).not.toContain(0x2f);
    // batching: up to 6 PIDs in one request
    expect(requests.some((f) => f.data[1] === 0x01 && f.data[0] > 2)).toBe(true);
    const d = poller.detail() as { ecus: Record<string, { supported: string[] }>; pids: { pid: string; supported: boolean; ecu: string | null }[] };
    expect(Object.keys(d.ecus)).toEqual(['7E8', '7E9']);
    expect(d.pids.find((p) => p.pid === '2F')).toMatchObject({ supported: false, ecu: null });
    expect(d.pids.find((p) => p.pid === '0C')).toMatchObject({ supported: true, ecu: '7E8', intervalMs: 50 });
    expect(sink.samples.every((s) => typeof s[1] === 'number' && s[1] > 1.6e12)).toBe(true);
  });

  it('feeds a signal from the ECU chosen in the config', async () => {
    const { port } = isotpCar();
    const poller = new ObdPoller({
      transport: new IsoTpTransport({ iface: 'v', openPort: async () => ({ ...port, close() {} }), p2Ms: 30 }),
      signals: [SIGNALS[1]],
      pids: new Map([[0x0d, { intervalMs: 30, ecu: '7E9' }]]),
    });
    const sink = new Collector();
    poller.start(sink);
    cleanup.push(() => poller.stop());
    await until(() => sink.values(1).length >= 2, 'speed samples');
    expect(new Set(sink.values(1))).toEqual(new Set([51]));
    const ecus = (poller.detail() as { ecus: Record<string, { values: Record<string, unknown> }> }).ecus;
    expect(ecus['7E8'].values['0D']).toBe(50); // both ECUs' values are kept
    expect(ecus['7E9'].values['0D']).toBe(51);
  });

  it('polls only wanted PIDs, and DTCs only while wanted', async () => {
    const { port, requests } = isotpCar();
    let wantRpm = false;
    let wantDtcs = false;
    const poller = new ObdPoller({
      transport: new IsoTpTransport({ iface: 'v', openPort: async () => ({ ...port, close() {} }), p2Ms: 30 }),
      signals: SIGNALS.slice(0, 2),
      intervalMs: 20,
      wanted: (id) => id === 1 || (id === 0 && wantRpm),
      dtcs: { enabled: true, intervalMs: 20, services: [3] },
      dtcsWanted: () => wantDtcs,
    });
    const sink = new Collector();
    poller.start(sink);
    cleanup.push(() => poller.stop());
    await until(() => sink.values(1).length >= 3, 'speed samples');
    expect(sink.values(0)).toEqual([]);
    expect(sink.dtcLists).toEqual([]);
    expect(requests.some((f) => f.data[1] === 0x01 && f.data[2] === 0x0c)).toBe(false);
    expect(requests.some((f) => f.data[1] === 0x03)).toBe(false);
    wantRpm = true;
    wantDtcs = true;
    await until(() => sink.values(0).length >= 1 && sink.dtcLists.length >= 1, 'rpm samples and DTCs once wanted');
  });

  it('rejects manifest PIDs it has no formula for, naming the signal', () => {
    const t = new ElmTransport({ address: 'tcp://127.0.0.1:1' });
    expect(() => new ObdPoller({ transport: t, signals: [{ id: 0, name: 'Vehicle.Mystery', type: 'float64', service: 1, pid: 0xfe }] })).toThrow(
      /Vehicle\.Mystery: service 01 PID FE has no formula/,
    );
    expect(() => new ObdPoller({ transport: t, signals: [{ id: 0, name: 'Vehicle.FF', type: 'float64', service: 2, pid: 0x0c }] })).toThrow(
      /service 02 cannot be polled/,
    );
  });
});

describe('OBD poller over an ELM327', () => {
  it('survives the adapter being unplugged and plugged in again', async () => {
    const s = await startElmSimulator({ table: parseSimTable({ ...TABLE, searchMs: 1 }), tcpPort: 0 });
    cleanup.push(() => s.stop());
    const poller = new ObdPoller({
      transport: new ElmTransport({ address: s.address, commandTimeoutMs: 500 }),
      signals: SIGNALS.slice(0, 2),
      intervalMs: 20,
      reconnect: { minMs: 20, maxMs: 100 },
    });
    const sink = new Collector();
    poller.start(sink);
    cleanup.push(() => poller.stop());
    await until(() => sink.values(0).length >= 2 && sink.values(1).length >= 1, 'first samples');
    expect(poller.currentState).toBe('open');
    // one PID per request, with the number of answering ECUs (7E8 only for 0C, both for 0D); 2F never asked
    expect(s.commands).toContain('010C1');
    expect(s.commands).toContain('010D2');
    expect(s.commands.filter((c) => c.startsWith('012F'))).toEqual([]);
    expect(s.commands.slice(0, 7)).toEqual(['ATZ', 'ATE0', 'ATL0', 'ATS0', 'ATH1', 'ATSP0', '0100']);
    await s.unplug();
    await until(() => poller.currentState === 'down', 'state down');
    const before = sink.samples.length;
    await new Promise((r) => setTimeout(r, 150)); // a few failed reopen attempts
    expect(poller.currentState).not.toBe('open');
    await s.replug();
    await until(() => poller.currentState === 'open' && sink.samples.length > before + 2, 'recovery');
    expect(poller.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(poller.lastError).toMatch(/connection lost|cannot connect|ECONNRESET|closed/i);
  });
});
