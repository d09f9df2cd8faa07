import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { cli } from '../helpers/cli.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = path.resolve(REPO, '../shared');


const DBC = `VERSION ""

NS_ :

BS_:

BU_: ECU GW

BO_ 180 SPEED: 8 ECU
 SG_ ENCODER : 0|8@1+ (1,0) [0|255] "" GW
 SG_ CHECKSUM : 56|8@1+ (1,0) [0|255] "" GW
 SG_ SPEED : 8|16@1+ (0.01,0) [0|655.35] "km/h" GW

BO_ 512 BIG: 8 ECU
 SG_ U64 : 0|64@1+ (1,0) [0|0] "" GW

BO_ 513 FLT: 4 ECU
 SG_ F32 : 0|32@1- (1,0) [0|0] "" GW

BO_ 768 MUXED: 4 ECU
 SG_ SEL M : 0|8@1+ (1,0) [0|255] "" GW
 SG_ A m0 : 8|16@1+ (1,0) [0|0] "" GW
 SG_ B m1 : 8|8@1- (1,0) [0|0] "" GW
 SG_ GEAR : 24|8@1+ (1,0) [0|0] "" GW

BO_ 2166572391 EXT: 2 ECU
 SG_ E : 0|16@1+ (0.5,0) [0|0] "" GW

BO_ 1024 FDMSG: 12 ECU
 SG_ TAIL : 88|8@1+ (1,0) [0|0] "" GW

CM_ BO_ 180 "Vehicle speed";
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 10000;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ 180 10;
VAL_ 768 GEAR 0 "P" 1 "R" 2 "N" 3 "D" ;
SIG_VALTYPE_ 513 F32 : 1;
`;

const OTHER_DBC = `VERSION ""

NS_ :

BS_:

BU_: X

BO_ 180 OTHER_SPEED: 2 X
 SG_ RAW : 0|16@1+ (1,0) [0|0] "" X
`;

const T = (k: number): string => `(1700000000.${String(k * 100).padStart(6, '0')})`;
const LOG_LINES = [
  `${T(1)} can0 0B4#00D0070000000064`, // 1 SPEED ok
  `${T(2)} can0 200#FFFFFFFFFFFFFFFF`, // 2 BIG: 2^64-1 exactly
  `${T(3)} can0 201#0000C07F`, // 3 NaN
  `${T(4)} can0 201#0000807F`, // 4 Infinity
  `${T(5)} can0 201#000080FF`, // 5 -Infinity
  `${T(6)} can0 201#0000C03F`, // 6 1.5
  `${T(7)} can0 300#00341200`, // 7 mux 0: SEL, A, GEAR
  `${T(8)} can0 300#01FF0003`, // 8 mux 1: SEL, B, GEAR
  `${T(9)} can0 300#02000000`, // 9 mux 2: error
  `${T(10)} can0 0B4#0011`, // 10 short
  `this is not a frame`, // 11 bad line
  `${T(12)} can0 7FF#00`, // 12 unknown
  `${T(13)} can0 01234567#0A00`, // 13 extended EXT
  `${T(14)} can0 00000200#FFFFFFFFFFFFFFFF`, // 14 extended 0x200: unknown (format matters)
  `${T(15)} can0 400##1${'00'.repeat(11)}2A`, // 15 FD
  `${T(16)} can0 0B4#R`, // 16 remote of a known id
  `${T(17)} can0 20000080#0000000000000000`, // 17 error frame
  `${T(18)} can1 0B4#0100`, // 18 can1
];
const LOG = LOG_LINES.join('\n') + '\n';

let dir: string;
let dbc: string;
let other: string;
let log: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgewise-decode-'));
  dbc = path.join(dir, 'main.dbc');
  other = path.join(dir, 'other.dbc');
  log = path.join(dir, 'test.log');
  writeFileSync(dbc, DBC);
  writeFileSync(other, OTHER_DBC);
  writeFileSync(log, LOG);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function jsonl(out: string): Record<string, unknown>[] {
  return out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('edgewise decode --format jsonl (the contract)', () => {
  it('writes one object per frame line, in order, with the contract fields', async () => {
    const r = await cli('decode', '--dbc', dbc, '--format', 'jsonl', log);
    expect(r.code).toBe(0);
    const objs = jsonl(r.out);
    expect(objs.map((o) => o.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18]);
    expect(objs[0]).toEqual({ line: 1, id: 180, extended: false, status: 'ok', message: 'SPEED', signals: { ENCODER: 0, CHECKSUM: 100, SPEED: 20 } });
    // integers as integers, signals in DBC order
    expect(r.out.split('\n')[0]).toBe('{"line":1,"id":180,"extended":false,"status":"ok","message":"SPEED","signals":{"ENCODER":0,"CHECKSUM":100,"SPEED":20}}');
  });

  it('writes integers beyond 2^53 exactly and non-finite floats as strings', async () => {
    const lines = (await cli('decode', '--dbc', dbc, '--format', 'jsonl', log)).out.split('\n');
    expect(lines[1]).toBe('{"line":2,"id":512,"extended":false,"status":"ok","message":"BIG","signals":{"U64":18446744073709551615}}');
    expect(lines[2]).toContain('"signals":{"F32":"NaN"}');
    expect(lines[3]).toContain('"signals":{"F32":"Infinity"}');
    expect(lines[4]).toContain('"signals":{"F32":"-Infinity"}');
    expect(lines[5]).toContain('"signals":{"F32":1.5}');
  });

  it('outputs only the present signals of multiplexed messages and reports mux errors', async () => {
    const objs = jsonl((await cli('decode', '--dbc', dbc, '--format', 'jsonl', log)).out);
    expect(objs[6].signals).toEqual({ SEL: 0, A: 0x1234, GEAR: 0 });
    expect(Object.keys(objs[6].signals as object)).toEqual(['SEL', 'A', 'GEAR']);
    expect(objs[7].signals).toEqual({ SEL: 1, B: -1, GEAR: 3 });
    expect(objs[8]).toEqual({ line: 9, id: 768, extended: false, status: 'error', message: 'MUXED', signals: null, error: 'no signals for multiplexer value 2' });
  });

  it('gives value-table texts with --choices', async () => {
    const objs = jsonl((await cli('decode', '--dbc', dbc, '--format', 'jsonl', '--choices', log)).out);
    expect(objs[6].signals).toEqual({ SEL: 0, A: 0x1234, GEAR: 'P' });
    expect(objs[7].signals).toEqual({ SEL: 1, B: -1, GEAR: 'D' });
    expect(objs[1].signals).toEqual({ U64: 18446744073709551615 }); // parsed as a double here; exactness checked above
    expect(objs[0].signals).toEqual({ ENCODER: 0, CHECKSUM: 100, SPEED: 20 });
  });

  it('reports short data, unknown ids, frame format, FD, remote and error frames', async () => {
    const objs = jsonl((await cli('decode', '--dbc', dbc, '--format', 'jsonl', log)).out);
    const byLine = new Map(objs.map((o) => [o.line, o]));
    expect(byLine.get(10)).toEqual({
      line: 10, id: 180, extended: false, status: 'error', message: 'SPEED', signals: null, error: 'wrong data size: 2 instead of 8 bytes',
    });
    expect(byLine.get(12)).toEqual({ line: 12, id: 0x7ff, extended: false, status: 'unknown', message: null, signals: null });
    expect(byLine.get(13)).toEqual({ line: 13, id: 0x1234567, extended: true, status: 'ok', message: 'EXT', signals: { E: 5 } });
    expect(byLine.get(14)).toMatchObject({ id: 0x200, extended: true, status: 'unknown', message: null });
    expect(byLine.get(15)).toMatchObject({ status: 'ok', message: 'FDMSG', signals: { TAIL: 42 } });
    expect(byLine.get(16)).toMatchObject({ status: 'ok', message: 'SPEED', remote: true, signals: {} });
    expect(byLine.get(17)).toMatchObject({ id: 0x80, status: 'unknown', message: null, signals: null });
  });

  it('reports bad lines on stderr with file:line and a count, without an object', async () => {
    const r = await cli('decode', '--dbc', dbc, '--format', 'jsonl', log);
    expect(r.err).toContain(`${log}:11: missing "(timestamp)"`);
    expect(r.err).toMatch(/1 bad line in .*skipped/);
    expect(jsonl(r.out).some((o) => o.line === 11)).toBe(false);
  });

  it('reads gzip and CRLF logs the same way', async () => {
    const plain = (await cli('decode', '--dbc', dbc, '--format', 'jsonl', log)).out;
    const gz = path.join(dir, 'test.log.gz');
    writeFileSync(gz, gzipSync(LOG));
    expect((await cli('decode', '--dbc', dbc, '--format', 'jsonl', gz)).out).toBe(plain);
    const crlf = path.join(dir, 'crlf.log');
    writeFileSync(crlf, LOG_LINES.join('\r\n'));
    expect((await cli('decode', '--dbc', dbc, '--format', 'jsonl', crlf)).out).toBe(plain);
  });
});

describe('edgewise decode: DBC bindings', () => {
  it('binds a DBC to one interface; interface bindings win, bare DBCs fill in', async () => {
    const objs = jsonl((await cli('decode', '--dbc', `can1=${other}`, '--dbc', dbc, '--format', 'jsonl', log)).out);
    const byLine = new Map(objs.map((o) => [o.line, o]));
    expect(byLine.get(18)).toEqual({ line: 18, id: 180, extended: false, status: 'ok', message: 'OTHER_SPEED', signals: { RAW: 1 } });
    expect(byLine.get(1)).toMatchObject({ message: 'SPEED' });
  });

  it('a DBC bound to another interface does not apply', async () => {
    const objs = jsonl((await cli('decode', '--dbc', `can1=${other}`, '--format', 'jsonl', log)).out);
    expect(objs.find((o) => o.line === 1)).toMatchObject({ status: 'unknown' });
    expect(objs.find((o) => o.line === 18)).toMatchObject({ status: 'ok', message: 'OTHER_SPEED' });
  });

  it('merges several bare DBCs, first wins on a clash, with a warning', async () => {
    const r = await cli('decode', '--dbc', other, '--dbc', dbc, '--format', 'jsonl', log);
    expect(r.err).toMatch(/warning: id of SPEED \(0B4\) in .*main\.dbc is also OTHER_SPEED \(0B4\) in .*other\.dbc/);
    const objs = jsonl(r.out);
    expect(objs[0]).toMatchObject({ message: 'OTHER_SPEED' });
    expect(objs.find((o) => o.line === 2)).toMatchObject({ message: 'BIG' });
  });
});

describe('edgewise decode --stats', () => {
  it('writes the JSON summary contract', async () => {
    const r = await cli('decode', '--dbc', dbc, '--stats', '--format', 'json', log);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s).toMatchObject({ frames: 17, ok: 11, unknown: 3, errors: 3, badLines: 1 });
    expect(s.signals['SPEED.SPEED']).toEqual({ count: 1, min: 20, max: 20, sum: 20 });
    expect(s.signals['MUXED.GEAR']).toEqual({ count: 2, min: 0, max: 3, sum: 3 });
    expect(s.signals['MUXED.A']).toEqual({ count: 1, min: 4660, max: 4660, sum: 4660 });
    // non-finite values are counted, min/max/sum cover the finite ones
    expect(s.signals['FLT.F32']).toEqual({ count: 4, min: 1.5, max: 1.5, sum: 1.5 });
    expect(s.messages.SPEED).toBe(4); // ok, short, remote, short on can1
    expect(s.unknownIds).toEqual({ '7FF': 1, '00000200 (extended)': 1, 'error frame': 1 });
  });

  it('writes a readable table with per-message counts and unknown ids', async () => {
    const r = await cli('decode', '--dbc', dbc, '--stats', log);
    expect(r.out).toMatch(/17 frames: 11 ok, 3 unknown, 3 errors; 1 bad line$/m);
    expect(r.out).toMatch(/MUXED\s+300\s+3/);
    expect(r.out).toMatch(/7FF\s+1/);
    expect(r.out).toMatch(/00000200 \(extended\)\s+1/);
    expect(r.out).toMatch(/SPEED\.SPEED\s+1\s+20\s+20\s+20/);
  });
});

describe('edgewise decode --format text', () => {
  it('prints a readable line per frame like candump | cantools decode', async () => {
    const r = await cli('decode', '--dbc', dbc, '--choices', log);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(' (1700000000.000100) can0 0B4 [8] 00 D0 07 00 00 00 00 64 :: SPEED(ENCODER: 0, CHECKSUM: 100, SPEED: 20.0 km/h)');
    expect(lines[6]).toMatch(/:: MUXED\(SEL: 0, A: 4660, GEAR: P\)$/);
    expect(lines[8]).toMatch(/:: MUXED: no signals for multiplexer value 2$/);
    expect(lines[10]).toMatch(/7FF \[1\] 00 :: Unknown frame id 2047 \(0x7ff\)$/);
  });
});

describe('edgewise decode: errors', () => {
  it('reports a DBC syntax error as file:line:col and exits 1', async () => {
    const bad = path.join(dir, 'bad.dbc');
    writeFileSync(bad, 'VERSION ""\n\nBO_ 12x SPEED: 8 ECU\n');
    const r = await cli('decode', '--dbc', bad, log);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^edgewise: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: `));
    expect(r.out).toBe('');
  });

  it('exits 2 with one line for bad arguments', async () => {
    const noDbc = await cli('decode', log);
    expect(noDbc.code).toBe(2);
    expect(noDbc.err.trim().split('\n')).toHaveLength(1);
    expect(noDbc.err).toMatch(/--dbc/);
    const badFormat = await cli('decode', '--dbc', dbc, '--format', 'xml', log);
    expect(badFormat.code).toBe(2);
    // commander's own message (main.ts may add a hint line after it)
    expect(badFormat.err.split('\n')[0]).toMatch(/--format.*xml.*invalid/);
    const emptyBinding = await cli('decode', '--dbc', 'can0=', log);
    expect(emptyBinding.code).toBe(2);
  });

  it('exits 1 naming a missing log file', async () => {
    const r = await cli('decode', '--dbc', dbc, path.join(dir, 'missing.log'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/missing\.log: no such file/);
  });

  it('exits 1 after the frames of a truncated gzip log', async () => {
    const big = Array.from({ length: 20000 }, (_, k) => `${T(k)} can0 0B4#00D0070000000064`).join('\n') + '\n';
    const gz = gzipSync(big);
    const cut = path.join(dir, 'cut.log.gz');
    writeFileSync(cut, gz.subarray(0, gz.length >> 1));
    const r = await cli('decode', '--dbc', dbc, '--stats', '--format', 'json', cut);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/corrupt or truncated/);
    expect(JSON.parse(r.out).ok).toBeGreaterThan(100);
  });
});

describe('edgewise decode as a real process (bundled CLI, stdin)', () => {
  let bin: string;
  beforeAll(async () => {
    // Bundle src/cli/main.ts the way tsup does (esbuild), into the repo's ignored .tmp/ so that
    // node_modules resolve; this leaves the shared dist/ alone.
    const out = path.join(REPO, '.tmp', `cli-test-${process.pid}`);
    mkdirSync(out, { recursive: true });
    bin = path.join(out, 'main.js');
    const { build } = await import('esbuild');
    await build({
      entryPoints: [path.join(REPO, 'src/cli/main.ts')],
      outfile: bin,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
    });
  });
  afterAll(() => rmSync(path.dirname(bin), { recursive: true, force: true }));

  it('decodes a gzip log piped to stdin (-)', async () => {
    const child = spawn(process.execPath, [bin, 'decode', '--dbc', dbc, '--format', 'jsonl', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin.end(gzipSync(LOG));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(err).toContain('<stdin>:11: missing "(timestamp)"');
    expect(code).toBe(0);
    const objs = jsonl(out);
    expect(objs).toHaveLength(17);
    expect(objs[1]).toMatchObject({ message: 'BIG' });
    expect(out.split('\n')[1]).toContain('18446744073709551615');
  });
});

describe.skipIf(!existsSync(path.join(SHARED, 'logs')))('edgewise decode on a shared benchmark log (skipped when ../shared is absent)', () => {
  it('decodes every known frame of the vw_mqb log (ext ids, mux) without an error', async () => {
    const r = await cli('decode', '--dbc', path.join(SHARED, 'dbc/vw_mqb.dbc'), '--stats', '--format', 'json', path.join(SHARED, 'logs/vw_mqb.1M.log.gz'));
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.frames).toBe(1_000_000);
    expect(s.errors).toBe(0);
    expect(s.badLines).toBe(0);
    // about 3% of the frames come from 6 ids not in the DBC
    expect(Object.keys(s.unknownIds)).toHaveLength(6);
    expect(s.unknown).toBeGreaterThan(20_000);
    expect(s.unknown).toBeLessThan(40_000);
  });
});
