import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDbc } from '../../src/dbc/index.js';
import { compileDatabase, encodeMessage, signalType } from '../../src/decode/index.js';
import { parseManifest, loadManifest, bindManifest, manifestDecoders, manifestFromDbc } from '../../src/manifest/index.js';
import { isEdgewiseError } from '../../src/errors.js';
import type { CanFrame, SignalValue } from '../../src/types.js';
import { main } from '../../src/cli/main.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const DBC = `VERSION ""

NS_ :

BS_:

BU_: ECU

BO_ 180 SPEED: 8 ECU
 SG_ SPEED : 8|16@1+ (0.01,0) [0|655.35] "km/h" ECU
 SG_ COUNTER : 0|8@1+ (1,0) [0|255] "" ECU

BO_ 452 ENGINE: 4 ECU
 SG_ RPM : 0|16@1+ (0.25,0) [0|16383] "rpm" ECU
 SG_ RUNNING : 16|1@1+ (1,0) [0|1] "" ECU
 SG_ TEMP : 24|8@1- (1,0) [-128|127] "degC" ECU

BO_ 2147484160 EXTMSG: 2 ECU
 SG_ EXTVAL : 0|16@1+ (1,0) [0|65535] "" ECU

BO_ 768 MUXED: 3 ECU
 SG_ SEL M : 0|8@1+ (1,0) [0|255] "" ECU
 SG_ A m0 : 8|16@1+ (1,0) [0|65535] "" ECU
 SG_ B m1 : 8|16@1+ (1,0) [0|65535] "" ECU
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgewise-manifest-'));
  writeFileSync(path.join(dir, 'car.dbc'), DBC);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const table = compileDatabase(parseDbc(DBC, 'car.dbc'));

const MANIFEST = `
dbc:
  can0: car.dbc
signals:
  - { name: Vehicle.Speed, type: float64, can: { interface: can0, message: SPEED, signal: SPEED } }
  - { name: Vehicle.EngineSpeed, type: float64, can: { interface: can0, message: 452, signal: RPM } }
  - { name: Vehicle.EngineRunning, type: bool, can: { interface: can0, message: ENGINE, signal: RUNNING } }
  - { name: Vehicle.Coolant, type: int8, can: { interface: can0, message: ENGINE, signal: TEMP } }
  - { name: Vehicle.Ext, type: uint16, can: { interface: can0, message: EXTMSG, signal: EXTVAL } }
  - { name: Vehicle.MuxB, type: uint16, can: { interface: can0, message: MUXED, signal: B } }
  - { name: Vehicle.OBD.Load, type: float64, obd: { pid: '04' } }
`;

function frame(id: number, data: number[], extended = false, iface = 'can0'): CanFrame {
  return { timeMs: 1000, iface, id, extended, fd: false, brs: false, esi: false, remote: false, error: false, data: Uint8Array.from(data) };
}

describe('decoder manifest', () => {
  it('loads YAML, gives ids in order, resolves DBC paths relative to the manifest file', async () => {
    const file = path.join(dir, 'm.yaml');
    writeFileSync(file, MANIFEST);
    const m = await loadManifest(file);
    expect(m.signals.map((s) => s.id)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(m.byName.get('Vehicle.EngineRunning')).toBe(2);
    expect(m.dbc.can0).toBe(path.join(dir, 'car.dbc'));
    expect(m.signals[6].obd).toEqual({ service: 1, pid: 4 });
  });

  it('rejects duplicates, missing sources and interfaces without DBC, with path and line', () => {
    const bad = `dbc: { can0: car.dbc }
signals:
  - { name: A.B, type: float64, can: { interface: can0, message: SPEED, signal: SPEED } }
  - { name: A.B, type: float64, can: { interface: can1, message: SPEED, signal: SPEED } }
  - { name: A.C, type: double }
  - { name: A.D, type: float64 }
`;
    try {
      parseManifest(bad, 'bad.yaml');
      expect.unreachable();
    } catch (e) {
      expect(isEdgewiseError(e, 'MANIFEST_INVALID')).toBe(true);
      const problems = (e as { context: { problems: { path: string; message: string; line?: number }[] } }).context.problems;
      const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
      expect(byPath['signals[2].type'].message).toMatch(/float64/);
      expect(byPath['signals[2].type'].line).toBe(5);
      expect(byPath['signals[3]'].message).toMatch(/exactly one source/);
      // Cross-field checks run once the structure is valid.
      const dup = `dbc: { can0: car.dbc }
signals:
  - { name: A.B, type: float64, can: { interface: can0, message: SPEED, signal: SPEED } }
  - { name: A.B, type: float64, can: { interface: can1, message: SPEED, signal: SPEED } }
`;
      try {
        parseManifest(dup, 'dup.yaml');
        expect.unreachable();
      } catch (e2) {
        const msg = (e2 as Error).message;
        expect(msg).toContain('signals[1].name: duplicate signal name "A.B" (also signals[0])');
        expect(msg).toContain('signals[1].can.interface: interface "can1" has no DBC file in "dbc" (known: can0)');
      }
    }
  });

  it('binds routes per (interface, id, extended) and dispatches decoded values to signal ids', () => {
    const m = parseManifest(MANIFEST, undefined, dir);
    const b = bindManifest(m, { dbcFor: () => table });
    expect(b.routes).toHaveLength(4);
    expect(b.obdSignals.map((s) => s.name)).toEqual(['Vehicle.OBD.Load']);
    const engine = b.route('can0', 452, false)!;
    expect(Array.from(engine.signalIds)).toEqual([1, 2, 3]);
    expect(b.route('can0', 452, true)).toBeUndefined();
    expect(b.route('can1', 452, false)).toBeUndefined();
    expect(b.route('can0', 0x200, true)).toBeDefined();
    expect(b.route('can0', 0x200, false)).toBeUndefined();

    const got: [number, number, SignalValue][] = [];
    const sink = (id: number, t: number, v: SignalValue): void => void got.push([id, t, v]);
    // RPM 0x1F40 * 0.25 = 2000, RUNNING 1, TEMP -10
    expect(b.dispatch(frame(452, [0x40, 0x1f, 0x01, 0xf6]), sink)).toBe(3);
    expect(got).toEqual([
      [1, 1000, 2000],
      [2, 1000, true],
      [3, 1000, -10],
    ]);
    got.length = 0;
    // Multiplexed: B only when SEL = 1.
    expect(b.dispatch(frame(768, [0, 1, 0]), sink)).toBe(0);
    expect(b.dispatch(frame(768, [1, 0x34, 0x12]), sink)).toBe(1);
    expect(got).toEqual([[5, 1000, 0x1234]]);
    // Unrouted and too short frames deliver nothing; short ones are counted.
    expect(b.dispatch(frame(999, [1, 2]), sink)).toBe(0);
    expect(b.dispatch(frame(180, [1]), sink)).toBe(0);
    expect(b.stats.decodeErrors).toBe(1);
  });

  it('routes only wanted signals and skips messages with none', () => {
    const m = parseManifest(MANIFEST, undefined, dir);
    const b = bindManifest(m, { dbcFor: () => table, wanted: (id) => id === 0 });
    expect(b.routes.map((r) => r.decoder.message.name)).toEqual(['SPEED']);
    expect(b.route('can0', 452, false)).toBeUndefined();
    const data = encodeMessage(table.lookup(180, false)!, { SPEED: 123.45, COUNTER: 7 });
    const got: SignalValue[] = [];
    b.dispatch(frame(180, Array.from(data)), (_id, _t, v) => void got.push(v));
    expect(got).toEqual([123.45]);
  });

  it('names a missing DBC message or signal with the closest DBC names', () => {
    const m = parseManifest(
      `dbc: { can0: car.dbc }
signals:
  - { name: A.B, type: float64, can: { interface: can0, message: SPEEDO, signal: SPEED } }
  - { name: A.C, type: float64, can: { interface: can0, message: ENGINE, signal: RMP } }
`,
      'x.yaml',
      dir,
    );
    expect(() => bindManifest(m, { dbcFor: manifestDecoders(m) })).toThrow(
      /signals\[0\]\.can\.message: message "SPEEDO" is not in .*car\.dbc; closest: SPEED, .*signals\[1\]\.can\.signal: signal "RMP" is not in message ENGINE; closest: RPM/,
    );
  });

  it('the example manifest binds against its DBC with every CAN signal routed', async () => {
    const m = await loadManifest(path.join(REPO, 'examples/manifest.yaml'));
    const b = bindManifest(m, { dbcFor: manifestDecoders(m) });
    const routed = b.routes.reduce((n, r) => n + r.signalIds.length, 0);
    expect(routed).toBe(m.signals.filter((s) => s.can).length);
    expect(m.byName.has('Vehicle.Speed')).toBe(true);
  });
});

describe('edgewise manifest init', () => {
  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const ow = process.stdout.write;
    const ew = process.stderr.write;
    process.stdout.write = ((c: string | Uint8Array) => ((out += String(c)), true)) as typeof process.stdout.write;
    process.stderr.write = ((c: string | Uint8Array) => ((err += String(c)), true)) as typeof process.stderr.write;
    try {
      const code = await main(argv);
      return { code, out, err };
    } finally {
      process.stdout.write = ow;
      process.stderr.write = ew;
      process.exitCode = undefined;
    }
  }

  it('writes a manifest that loads back, with <prefix>.<Message>.<Signal> names and decoder types', async () => {
    const out = path.join(dir, 'sub', '..', 'init.yaml');
    // A relative --dbc path is written relative to the manifest file.
    const rel = path.relative(process.cwd(), path.join(dir, 'car.dbc'));
    const r = await cli('manifest', 'init', '--dbc', `can0=${rel}`, '--prefix', 'Car', '--output', out);
    expect(r.code).toBe(0);
    expect(r.err).toContain('(9 signals)');
    const m = await loadManifest(out);
    expect(readFileSync(out, 'utf8')).toContain('can0: car.dbc');
    expect(m.signals.map((s) => s.name)).toContain('Car.ENGINE.RPM');
    const byName = Object.fromEntries(m.signals.map((s) => [s.name, s]));
    const sig = (msg: string, name: string) => table.messages.find((x) => x.message.name === msg)!.signals.find((s) => s.name === name)!;
    expect(byName['Car.ENGINE.RUNNING'].type).toBe(signalType(sig('ENGINE', 'RUNNING')));
    expect(byName['Car.ENGINE.TEMP'].type).toBe(signalType(sig('ENGINE', 'TEMP')));
    expect(byName['Car.SPEED.SPEED'].can).toEqual({ interface: 'can0', message: 'SPEED', signal: 'SPEED' });
    // And it binds.
    expect(bindManifest(m, { dbcFor: manifestDecoders(m) }).routes).toHaveLength(4);
  });

  it('prints YAML to stdout without --output, JSON for a .json output, and refuses to overwrite', async () => {
    const r = await cli('manifest', 'init', '--dbc', `can0=${path.join(dir, 'car.dbc')}`);
    expect(r.code).toBe(0);
    expect(r.out).toContain('- { name: Vehicle.SPEED.SPEED, type: float64, unit: km/h, can: { interface: can0, message: SPEED, signal: SPEED } }');
    // An absolute --dbc path stays absolute.
    expect(r.out).toContain(`can0: ${path.join(dir, 'car.dbc')}`);
    const json = path.join(dir, 'init.json');
    expect((await cli('manifest', 'init', '--dbc', `can0=${path.join(dir, 'car.dbc')}`, '-o', json)).code).toBe(0);
    expect(JSON.parse(readFileSync(json, 'utf8')).signals).toHaveLength(9);
    const again = await cli('manifest', 'init', '--dbc', `can0=${path.join(dir, 'car.dbc')}`, '-o', json);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/exists/);
  });

  it('reports bad --dbc arguments as usage errors', async () => {
    const r = await cli('manifest', 'init', '--dbc', 'car.dbc');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/expected <interface>=<file>/);
    const missing = await cli('manifest', 'init', '--dbc', `can0=${path.join(dir, 'nope.dbc')}`);
    expect(missing.code).toBe(1);
    expect(existsSync(path.join(dir, 'nope.dbc'))).toBe(false);
  });
});

describe('manifestFromDbc', () => {
  it('suffixes the interface when two interfaces carry the same message', () => {
    const m = manifestFromDbc(
      [
        { iface: 'can0', path: 'a.dbc', messages: table.messages },
        { iface: 'can1', path: 'a.dbc', messages: table.messages },
      ],
      signalType,
    );
    const names = m.signals.map((s) => s.name);
    expect(names).toContain('Vehicle.SPEED.SPEED');
    expect(names).toContain('Vehicle.SPEED.SPEED_can1');
    expect(new Set(names).size).toBe(names.length);
  });
});
