import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli } from '../helpers/cli.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = path.resolve(REPO, '../shared');


const DBC = `VERSION "1.2"

NS_ :

BS_:

BU_: ECU GW

BO_ 180 SPEED: 8 ECU
 SG_ SPEED : 7|16@0- (0.01,-5) [-327.68|327.67] "km/h" GW
 SG_ MODE : 16|4@1+ (1,0) [0|15] "" GW,ECU

BO_ 2166572391 MUXED_EXT: 16 GW
 SG_ SEL M : 0|8@1+ (1,0) [0|255] "" ECU
 SG_ A m0 : 8|32@1+ (1,0) [0|0] "" ECU
 SG_ F m1 : 8|32@1+ (1,0) [0|0] "" ECU

BO_TX_BU_ 180 : GW;
CM_ BO_ 180 "Vehicle speed";
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 10000;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ 180 20;
VAL_ 180 MODE 0 "OFF" 1 "ON" 2 "AUTO" ;
SIG_VALTYPE_ 2166572391 F : 1;
`;

let dir: string;
let dbc: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgewise-dbc-'));
  dbc = path.join(dir, 'show.dbc');
  writeFileSync(dbc, DBC);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('edgewise dbc show', () => {
  it('prints messages and signals as a table', async () => {
    const r = await cli('dbc', 'show', dbc);
    expect(r.code).toBe(0);
    expect(r.out).toContain('2 messages, 5 signals, 2 nodes, version "1.2"');
    // message overview: id, name, length, format, cycle, senders, signal count
    expect(r.out).toMatch(/0x0B4\s+SPEED\s+8\s+CAN\s+20 ms\s+ECU,GW\s+2/);
    expect(r.out).toMatch(/0x01234567 \(ext\)\s+MUXED_EXT\s+16\s+CAN FD\s+-\s+GW\s+3/);
    // per signal: start, length, order, type, factor, offset, min, max, unit, mux, choices
    expect(r.out).toMatch(/SPEED\s+7\s+16\s+motorola\s+signed\s+0\.01\s+-5\s+-327\.68\s+327\.67\s+km\/h\s+-\s+-/);
    expect(r.out).toMatch(/MODE\s+16\s+4\s+intel\s+unsigned\s+1\s+0\s+0\s+15\s+-\s+-\s+3/);
    expect(r.out).toMatch(/SEL\s+0\s+8\s+intel\s+unsigned.*\bM\s+-/);
    expect(r.out).toMatch(/A\s+8\s+32\s+intel\s+unsigned.*\bm0\s+-/);
    expect(r.out).toMatch(/F\s+8\s+32\s+intel\s+float32.*\bm1\s+-/);
    expect(r.out).toContain('Vehicle speed');
  });

  it('prints JSON with --format json', async () => {
    const r = await cli('dbc', 'show', '--format', 'json', dbc);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.messages).toHaveLength(2);
    expect(j.messages[0]).toMatchObject({ id: 180, extended: false, name: 'SPEED', length: 8, fd: false, cycleTimeMs: 20, senders: ['ECU', 'GW'] });
    expect(j.messages[0].signals[1]).toMatchObject({ name: 'MODE', startBit: 16, length: 4, byteOrder: 'little_endian', choices: { 0: 'OFF', 1: 'ON', 2: 'AUTO' } });
    expect(j.messages[1]).toMatchObject({ id: 0x1234567, extended: true, fd: true });
    expect(j.messages[1].signals[1]).toMatchObject({ name: 'A', multiplexerSignal: 'SEL', multiplexerValues: [{ min: 0, max: 0 }] });
  });

  it('reports warnings on stderr and keeps stdout clean', async () => {
    const warnDbc = path.join(dir, 'warn.dbc');
    writeFileSync(warnDbc, DBC.replace(' SG_ MODE : 16|4@1+', ' SG_ MODE : 62|4@1+'));
    const r = await cli('dbc', 'show', warnDbc);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: .*warn\.dbc: .*MODE/);
    expect(r.out).not.toMatch(/warning/);
  });

  it('reports a syntax error as file:line:col and exits 1', async () => {
    const bad = path.join(dir, 'bad.dbc');
    writeFileSync(bad, 'VERSION ""\n\nBO_ 180 SPEED 8 ECU\n');
    const r = await cli('dbc', 'show', bad);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^edgewise: .*bad\.dbc:3:\d+: /);
  });

  it('exits 2 on a bad format and 1 on a missing file', async () => {
    expect((await cli('dbc', 'show', '--format', 'xml', dbc)).code).toBe(2);
    const r = await cli('dbc', 'show', path.join(dir, 'none.dbc'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/none\.dbc: no such file/);
  });

  it.skipIf(!existsSync(path.join(SHARED, 'dbc')))('shows every shared DBC without failing (skipped when ../shared is absent)', async () => {
    const files = readdirSync(path.join(SHARED, 'dbc')).filter((f) => f.endsWith('.dbc'));
    expect(files.length).toBeGreaterThan(30);
    for (const f of files) {
      const r = await cli('dbc', 'show', path.join(SHARED, 'dbc', f));
      expect(r.err.split('\n').filter((l) => l && !l.includes('warning')), f).toEqual([]);
      expect(r.code, f).toBe(0);
      expect(r.out).toMatch(new RegExp(`^.*${f.replace('.', '\\.')}: \\d+ messages`));
      const j = await cli('dbc', 'show', '--format', 'json', path.join(SHARED, 'dbc', f));
      expect(() => JSON.parse(j.out), f).not.toThrow();
    }
  });
});
