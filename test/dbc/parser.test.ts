import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCp1252, loadDbcFile, parseDbc } from '../../src/dbc/index.js';
import { EdgewiseError } from '../../src/errors.js';

const HEADER = `VERSION "1.2"

NS_ :
\tNS_DESC_
\tCM_
\tBA_DEF_
\tSG_MUL_VAL_

BS_:

BU_: ECU1 ECU2 Gateway
`;

const FULL = `${HEADER}
VAL_TABLE_ Gears 0 "Park" 1 "Reverse" -1 "Invalid" ;

BO_ 256 Engine: 8 ECU1
 SG_ Speed : 7|16@0+ (0.01,0) [0|655.35] "km/h" ECU2,Gateway
 SG_ Temp : 16|8@1- (1,-40) [-40|215] "\xb0C" ECU2
 SG_ Mode M : 24|2@1+ (1,0) [0|3] "" Vector__XXX
 SG_ A m0 : 26|6@1+ (1,0) [0|63] "" Vector__XXX
 SG_ B m1 : 26|6@1+ (0.5,0) [0|31.5] "" Vector__XXX
 SG_ Value : 32|32@1- (1,0) [0|0] "" Vector__XXX

BO_ 2566834709 Ext: 64 ECU2
 SG_ Big : 0|64@1+ (1,0) [0|1.8446744073709552E+019] "" ECU1
 SG_ F : 64|32@1- (1,0) [0|0] "" ECU1
 SG_ TooFar : 511|8@1+ (1,0) [0|0] "" ECU1

BO_ 3221225472 VECTOR__INDEPENDENT_SIG_MSG: 0 Vector__XXX
 SG_ Orphan : 0|8@1+ (1,0) [0|0] "" Vector__XXX

BO_TX_BU_ 256 : ECU2,Gateway;

EV_ EnvVar1: 0 [0|100] "" 5 1 DUMMY_NODE_VECTOR0 Vector__XXX;
ENVVAR_DATA_ EnvVar1: 4;

CM_ "Database comment";
CM_ BU_ ECU1 "Engine controller";
CM_ BO_ 256 "Engine data
spans two lines with \\"quotes\\"";
CM_ SG_ 256 Speed "Vehicle speed";
CM_ EV_ EnvVar1 "An env var";
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_ SG_ "GenSigStartValue" FLOAT -1e10 1e10;
BA_DEF_ BO_ "VFrameFormat" ENUM "StandardCAN","ExtendedCAN","StandardCAN_FD","ExtendedCAN_FD";
BA_DEF_ "BusType" STRING ;
BA_DEF_ BU_ "NodeLayer" HEX 0 255;
BA_DEF_REL_ BU_SG_REL_ "GenSigTimeoutTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_DEF_DEF_ "VFrameFormat" "StandardCAN";
BA_DEF_DEF_ "BusType" "CAN";
BA_DEF_DEF_REL_ "GenSigTimeoutTime" 0;
BA_ "BusType" "CAN FD";
BA_ "NodeLayer" BU_ ECU1 3;
BA_ "GenMsgCycleTime" BO_ 256 100;
BA_ "VFrameFormat" BO_ 2566834709 3;
BA_ "GenSigStartValue" SG_ 256 Temp 40;
BA_REL_ "GenSigTimeoutTime" BU_SG_REL_ ECU2 SG_ 256 Speed 500;
VAL_ 256 Mode 0 "A" 1 "B" 2 "none" ;
VAL_ 256 Temp -40 "cold" 215 "hot" ;
VAL_ 2566834709 Big 18446744073709551615 "all ones" 0 "zero" ;
VAL_ EnvVar1 0 "off" 1 "on" ;
SIG_VALTYPE_ 2566834709 F : 1;
SIG_GROUP_ 256 Group1 1 : Speed Temp;
SG_MUL_VAL_ 256 B Mode 1-1, 3-3;
SGTYPE_ SomeType : 8@1+ (1,0) [0|255] "" 0, Gears;
CAT_DEF_ 1 "Category" 0;
FILTER 0 ;
`;

function syntaxError(text: string): EdgewiseError {
  try {
    parseDbc(text, 'bad.dbc');
  } catch (e) {
    expect(e).toBeInstanceOf(EdgewiseError);
    return e as EdgewiseError;
  }
  throw new Error('expected a DBC_SYNTAX error');
}

describe('parseDbc reads every section into the model', () => {
  const db = parseDbc(FULL, 'full.dbc');

  it('reads version, nodes, value tables and global attributes', () => {
    expect(db.version).toBe('1.2');
    expect(db.nodes.map((n) => n.name)).toEqual(['ECU1', 'ECU2', 'Gateway']);
    expect(db.nodes[0].comment).toBe('Engine controller');
    expect(db.nodes[0].attributes.get('NodeLayer')).toBe(3);
    expect(db.valueTables.get('Gears')).toEqual(new Map<number, string>([[0, 'Park'], [1, 'Reverse'], [-1, 'Invalid']]));
    expect(db.comment).toBe('Database comment');
    expect(db.attributes.get('BusType')).toBe('CAN FD');
    expect(db.attributeDefinitions.get('VFrameFormat')).toMatchObject({
      objectType: 'BO_',
      type: { kind: 'ENUM', values: ['StandardCAN', 'ExtendedCAN', 'StandardCAN_FD', 'ExtendedCAN_FD'] },
      default: 'StandardCAN',
    });
    expect(db.attributeDefinitions.get('GenSigTimeoutTime')).toMatchObject({ relation: true, objectType: 'BU_SG_REL_', default: 0 });
    expect(db.attributeDefinitions.get('NodeLayer')?.type).toEqual({ kind: 'HEX', min: 0, max: 255 });
    expect(db.relationAttributes).toEqual([
      { name: 'GenSigTimeoutTime', relation: 'BU_SG_REL_', node: 'ECU2', messageId: 256, signal: 'Speed', value: 500 },
    ]);
    expect(db.environmentVariables).toEqual([
      expect.objectContaining({ name: 'EnvVar1', varType: 0, maximum: 100, comment: 'An env var', dataSize: 4, id: 1 }),
    ]);
  });

  it('reads messages: ids, extended flag, FD, senders, cycle time, comments', () => {
    expect(db.messages.map((m) => m.name)).toEqual(['Engine', 'Ext']);
    const [eng, ext] = db.messages;
    expect(eng).toMatchObject({ id: 256, extended: false, length: 8, fd: false, senders: ['ECU1', 'ECU2', 'Gateway'], cycleTimeMs: 100 });
    expect(eng.comment).toBe('Engine data\nspans two lines with "quotes"');
    expect(eng.signalGroups).toEqual([{ name: 'Group1', repetitions: 1, signals: ['Speed', 'Temp'] }]);
    expect(ext).toMatchObject({ id: 2566834709 - 0x80000000, extended: true, length: 64, fd: true, senders: ['ECU2'] });
    expect(ext.cycleTimeMs).toBeUndefined();
  });

  it('reads signals with byte order, sign, scaling, range, unit, receivers, choices and initial value', () => {
    const [eng, ext] = db.messages;
    const speed = eng.signals[0];
    expect(speed).toMatchObject({
      name: 'Speed', startBit: 7, length: 16, byteOrder: 'big_endian', signed: false, valueType: 'integer',
      factor: 0.01, offset: 0, integerScale: false, minimum: 0, maximum: 655.35, unit: 'km/h',
      receivers: ['ECU2', 'Gateway'], comment: 'Vehicle speed', isMultiplexer: false,
    });
    const temp = eng.signals[1];
    expect(temp).toMatchObject({ byteOrder: 'little_endian', signed: true, offset: -40, integerScale: true, unit: '\xb0C', initial: 40 });
    expect(temp.choices).toEqual(new Map([[-40, 'cold'], [215, 'hot']]));
    expect(ext.signals.map((s) => s.name)).toEqual(['Big', 'F']);
    expect(ext.signals[0].choices?.get(18446744073709551615n)).toBe('all ones');
    expect(ext.signals[1].valueType).toBe('float32');
    expect(db.warnings).toEqual([expect.stringMatching(/^full\.dbc:\d+: signal Ext\.TooFar does not fit the 64-byte message; left out$/)]);
  });

  it('reads simple multiplexing and SG_MUL_VAL_ value ranges', () => {
    const [mode, a, b] = db.messages[0].signals.slice(2, 5);
    expect(mode).toMatchObject({ isMultiplexer: true });
    expect(mode.multiplexerSignal).toBeUndefined();
    expect(a).toMatchObject({ multiplexerSignal: 'Mode', multiplexerValues: [{ min: 0, max: 0 }] });
    expect(b).toMatchObject({ multiplexerSignal: 'Mode', multiplexerValues: [{ min: 1, max: 1 }, { min: 1, max: 1 }, { min: 3, max: 3 }] });
  });

  it('accepts CRLF line ends and a UTF-8 byte order mark', () => {
    const crlf = parseDbc('\ufeff' + FULL.replace(/\n/g, '\r\n'), 'crlf.dbc');
    expect(crlf.messages[0].comment).toBe('Engine data\nspans two lines with "quotes"');
    expect(crlf.messages.map((m) => m.signals.length)).toEqual([6, 2]);
  });

  it('tolerates opendbc quirks: factor without leading zero, comments without object, // comments', () => {
    const db2 = parseDbc(`// header comment\nBO_ 1 M: 8 X\n SG_ S : 0|8@1+ (.25,0) [0|1] "" X\nCM_ SG_ 1 "no name";\nCM_ 1 "msg";\n`);
    expect(db2.messages[0].signals[0].factor).toBe(0.25);
    expect(db2.messages[0].comment).toBe('msg');
    expect(db2.warnings.length).toBe(2);
  });
});

describe('DBC syntax errors name file, line, column, expected and found', () => {
  it('reports a missing colon in BO_', () => {
    const e = syntaxError('VERSION ""\n\nBO_ 100 Msg 8 ECU\n');
    expect(e.code).toBe('DBC_SYNTAX');
    expect(e.context).toEqual({ file: 'bad.dbc', line: 3, column: 13, expected: "':'", found: '8' });
    expect(e.detail).toBe("expected ':' but found '8'");
  });

  it('reports a missing semicolon with the token found', () => {
    const e = syntaxError('BO_ 1 M: 8 X\n SG_ S : 0|8@1+ (1,0) [0|1] "" X\nVAL_ 1 S 0 "a" 1 "b"\nCM_ "x";\n');
    expect(e.context).toMatchObject({ line: 4, column: 1, expected: "';'", found: 'CM_' });
    expect(e.message).toBe("expected ';' but found 'CM_' (DBC_SYNTAX)");
  });

  it('reports a bad byte order, an unterminated string and an unknown keyword', () => {
    expect(syntaxError('BO_ 1 M: 8 X\n SG_ S : 0|8@2+ (1,0) [0|1] "" X\n').context).toMatchObject({ line: 2, column: 14, expected: 'byte order 0 or 1', found: '2' });
    expect(syntaxError('CM_ "never closed;\n').context).toMatchObject({ line: 1, column: 5, expected: '\'"\' closing the string opened at line 1 column 5', found: 'end of file' });
    expect(syntaxError('BU_: A\nFOO_ 1;\n').context).toMatchObject({ line: 2, column: 1, expected: 'a DBC keyword', found: 'FOO_' });
    expect(syntaxError('SG_ S : 0|8@1+ (1,0) [0|1] "" X\n').context).toMatchObject({ line: 1, column: 1, expected: "'BO_' before 'SG_'" });
  });

  it('keeps line and column right where the parser looks ahead across a line break', () => {
    // NS_ reads ahead to see whether 'M_' ends the list (a ':' follows on the next line), then backs up.
    expect(syntaxError('NS_ :\n\tCBO_ M_\n:\nBU_: A\n').context).toMatchObject({ line: 2, column: 7, expected: 'a DBC keyword', found: 'M_' });
    // An unsigned integer expected, a fraction found on the next line.
    expect(syntaxError('SIG_VALTYPE_ 1 S :\n  1.5;\n').context).toMatchObject({ line: 2, column: 3, found: '1.5' });
    expect(syntaxError('BO_\n-7 M: 8 X\n').context).toMatchObject({ line: 2, column: 1, expected: 'a message id' });
  });
});

describe('loadDbcFile reads cp1252 bytes', () => {
  it('decodes 0x80-0x9f through the cp1252 table and the rest as latin1', () => {
    expect(decodeCp1252(Uint8Array.from([0x41, 0x80, 0x8a, 0x9f, 0xe4, 0xb0, 0x81]))).toBe('A\u20ac\u0160\u0178\u00e4\u00b0\u0081');
  });

  it('loads a file with CRLF and cp1252 texts', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'edgewise-dbc-'));
    const file = path.join(dir, 'x.dbc');
    const text = 'BO_ 1 M: 1 X\r\n SG_ S : 0|8@1+ (1,0) [0|1] "\xb0C" X\r\nVAL_ 1 S 1 "\x80 10" 2 "gr\xfcn" ;\r\n';
    writeFileSync(file, Buffer.from(text.replace('\x80', '\x80'), 'latin1'));
    const db = loadDbcFile(file);
    expect(db.file).toBe(file);
    expect(db.messages[0].signals[0].unit).toBe('°C');
    expect(db.messages[0].signals[0].choices).toEqual(new Map([[1, '€ 10'], [2, 'grün']]));
  });

  it('a missing file is an IO EdgewiseError', () => {
    expect(() => loadDbcFile('/nonexistent/file.dbc')).toThrow(expect.objectContaining({ code: 'IO' }));
  });
});

describe('NS_ keyword lists', () => {
  it('end at BS_ whether or not the keywords are indented', () => {
    for (const ns of ['NS_ :\n\tCM_\n\tBA_DEF_\n\n', 'NS_ :\nCM_\nBA_DEF_\nVAL_\n', 'NS_ : CM_ BA_DEF_\n', 'NS_ :\n']) {
      const db = parseDbc(`VERSION ""\n${ns}BS_:\nBU_: A\nBO_ 1 M: 1 A\n SG_ S : 0|8@1+ (1,0) [0|0] "" A\nCM_ BO_ 1 "c";\n`);
      expect(db.messages[0].comment).toBe('c');
      expect(db.nodes.map((n) => n.name)).toEqual(['A']);
    }
  });
});
