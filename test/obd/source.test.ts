import { describe, it, expect, afterEach } from 'vitest';
import { existsSync } from 'node:fs';
import { obdSourceSchema } from '../../src/obd/config.js';
import { ObdSource, obdSignalsFor } from '../../src/obd/source.js';
import { parseConfig } from '../../src/daemon/config.js';
import { parseManifest } from '../../src/manifest/index.js';
import { VirtualCanBus, startIsoTpEcus, parseSimTable, IsoTpTransport, ObdPoller } from '../../src/obd/index.js';
import { openSocketCanPort } from '../../src/obd/socketcan-port.js';
import { isEdgewiseError } from '../../src/errors.js';

const MANIFEST = parseManifest({
  signals: [
    { name: 'Vehicle.OBD.EngineSpeed', type: 'float64', obd: { service: 1, pid: '0C' } },
    { name: 'Vehicle.OBD.Speed', type: 'uint8', obd: { service: 1, pid: '0D', interface: 'obd-b' } },
    { name: 'Vehicle.VIN', type: 'string', obd: { service: 9, pid: 2 } },
  ],
});

const TABLE = parseSimTable({
  ecus: [{ pids: { '0C': '1AF8', '0D': '32' }, vin: 'WP0ZZZ99ZTS390000', dtcs: { stored: ['P0133'] } }],
});

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function until(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('obd source config', () => {
  it('fills defaults and requires the transport address', () => {
    const c = obdSourceSchema.parse({ type: 'obd', port: '/dev/ttyUSB0' });
    expect(c).toMatchObject({
      name: 'obd',
      transport: 'elm327',
      baudRate: 38400,
      protocol: 'auto',
      intervalMs: 1000,
      dtcs: { enabled: true, intervalMs: 10000, services: ['stored'] },
      reconnect: { minMs: 1000, maxMs: 30000 },
    });
    const noPort = obdSourceSchema.safeParse({ type: 'obd' });
    expect(noPort.success).toBe(false);
    expect(noPort.error!.issues[0]).toMatchObject({ path: ['port'], message: expect.stringMatching(/needs "port"/) });
    const noIface = obdSourceSchema.safeParse({ type: 'obd', transport: 'isotp' });
    expect(noIface.error!.issues[0].path).toEqual(['canInterface']);
    expect(obdSourceSchema.safeParse({ type: 'obd', port: 'x', pids: { '0C': 5 } }).success).toBe(false);
    expect(obdSourceSchema.safeParse({ type: 'obd', port: 'x', pids: { ZZ: 100 } }).success).toBe(false);
  });

  it('is a daemon source type', () => {
    const cfg = parseConfig({
      vehicle: { name: 'v1' },
      manifest: 'm.yaml',
      sources: [{ type: 'obd', port: 'tcp://127.0.0.1:35000', pids: { '0C': 100 } }],
      upload: { enabled: false },
    });
    expect(cfg.sources[0]).toMatchObject({ type: 'obd', port: 'tcp://127.0.0.1:35000', pids: { '0C': 100 } });
    expect(() =>
      parseConfig({ vehicle: { name: 'v1' }, manifest: 'm.yaml', sources: [{ type: 'obd', transport: 'isotp' }], upload: { enabled: false } }),
    ).toThrow(/sources\[0\]\.canInterface: an isotp source needs "canInterface"/);
  });
});

describe('ObdSource', () => {
  it('serves the manifest OBD signals of its interface over ISO-TP and reports its status', async () => {
    const bus = new VirtualCanBus();
    const ecuPort = bus.port();
    const ecus = startIsoTpEcus(ecuPort, TABLE);
    cleanup.push(() => ecus.close());
    const port = bus.port();
    const src = new ObdSource({
      config: obdSourceSchema.parse({ type: 'obd', name: 'obd-a', interface: 'obd-a', transport: 'isotp', canInterface: 'vcan9', intervalMs: 30, p2Ms: 30, dtcs: { intervalMs: 100 } }),
      manifest: MANIFEST,
      openCanPort: async () => ({ ...port, close() {} }),
    });
    expect(src.status()).toMatchObject({ name: 'obd-a', kind: 'obd', state: 'idle', frames: 0 });
    const samples: [number, unknown][] = [];
    const dtcs: string[][] = [];
    await src.start({ sample: (id, _t, v) => samples.push([id, v]), dtcs: (_t, c) => dtcs.push(c) });
    cleanup.push(() => src.stop());
    await until(() => samples.filter((s) => s[0] === 0).length >= 2 && dtcs.length > 0, 'samples and DTCs');
    expect(samples.find((s) => s[0] === 0)![1]).toBe(1726);
    expect(samples.find((s) => s[0] === 2)![1]).toBe('WP0ZZZ99ZTS390000');
    expect(samples.some((s) => s[0] === 1)).toBe(false); // bound to obd-b
    expect(dtcs[0]).toEqual(['P0133']);
    const st = src.status();
    expect(st).toMatchObject({ state: 'open', kind: 'obd' });
    expect(st.frames).toBeGreaterThanOrEqual(3);
    expect(st.detail).toMatchObject({ address: 'vcan9', transport: 'isotp', link: { addressing: '11bit', ecus: ['7E8'] } });
    await src.stop();
    expect(src.status().state).toBe('stopped');
    await src.finished;
  });

  it('selects signals by interface and refuses PIDs without a formula', () => {
    expect(obdSignalsFor(MANIFEST, undefined).map((s) => s.name)).toEqual(['Vehicle.OBD.EngineSpeed', 'Vehicle.OBD.Speed', 'Vehicle.VIN']);
    expect(obdSignalsFor(MANIFEST, 'obd-b').map((s) => s.name)).toEqual(['Vehicle.OBD.EngineSpeed', 'Vehicle.OBD.Speed', 'Vehicle.VIN']);
    expect(obdSignalsFor(MANIFEST, 'obd-a').map((s) => s.name)).toEqual(['Vehicle.OBD.EngineSpeed', 'Vehicle.VIN']);
    const bad = parseManifest({ signals: [{ name: 'Vehicle.X', type: 'float64', obd: { service: 1, pid: 'FD' } }] });
    let err: unknown;
    try {
      new ObdSource({ config: obdSourceSchema.parse({ type: 'obd', port: 'tcp://127.0.0.1:1' }), manifest: bad });
    } catch (e) {
      err = e;
    }
    expect(isEdgewiseError(err, 'MANIFEST_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/Vehicle\.X: service 01 PID FD has no formula/);
  });
});

const VCAN = existsSync('/sys/class/net/vcan0');
if (!VCAN) console.warn('skipping OBD over SocketCAN: no vcan0 (sudo modprobe vcan && sudo ip link add vcan0 type vcan && sudo ip link set vcan0 up)');

describe.skipIf(!VCAN)('OBD over ISO-TP on SocketCAN vcan0', () => {
  it('polls ECUs simulated on another raw socket', async () => {
    const ecuPort = await openSocketCanPort('vcan0');
    const ecus = startIsoTpEcus(ecuPort, TABLE);
    cleanup.push(() => ecuPort.close(), () => ecus.close());
    const poller = new ObdPoller({
      transport: new IsoTpTransport({ iface: 'vcan0', openPort: () => openSocketCanPort('vcan0'), p2Ms: 50 }),
      signals: [
        { id: 0, name: 'rpm', type: 'float64', service: 1, pid: 0x0c },
        { id: 1, name: 'vin', type: 'string', service: 9, pid: 0x02 },
      ],
      intervalMs: 50,
    });
    const got: unknown[] = [];
    poller.start({ sample: (_id, _t, v) => got.push(v), dtcs: () => undefined });
    cleanup.push(() => poller.stop());
    await until(() => got.length >= 3, 'samples');
    expect(got).toContain(1726);
    expect(got).toContain('WP0ZZZ99ZTS390000');
  });
});
