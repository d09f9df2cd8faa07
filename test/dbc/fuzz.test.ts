import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCp1252, parseDbc, type DbcDatabase } from '../../src/dbc/index.js';
import { compileDatabase, decodeToObject } from '../../src/decode/index.js';
import { isEdgewiseError } from '../../src/errors.js';
import { dbcPath, HAVE_SHARED } from '../decode/shared.js';

/** Parsing either succeeds or throws a DBC_SYNTAX / DBC_SEMANTIC EdgewiseError; whatever parses compiles and decodes. */
function check(text: string): void {
  let db: DbcDatabase;
  try {
    db = parseDbc(text, 'fuzz.dbc');
  } catch (e) {
    if (!isEdgewiseError(e, 'DBC_SYNTAX') && !isEdgewiseError(e, 'DBC_SEMANTIC')) throw e;
    // The parser's last-resort wrapper for internal failures must never be reached.
    expect(e.message).not.toMatch(/^cannot load DBC:/);
    if (isEdgewiseError(e, 'DBC_SYNTAX')) {
      const c = e.context as { line: number; column: number };
      expect(c.line).toBeGreaterThanOrEqual(1);
      expect(c.column).toBeGreaterThanOrEqual(1);
    }
    return;
  }
  const table = compileDatabase(db);
  for (const m of table.messages) {
    const data = new Uint8Array(Math.min(m.message.length, 64)).fill(0xa5);
    decodeToObject(m, data);
  }
}

/** FUZZ_RUNS=<factor> multiplies the runs (a longer hunt than CI's, e.g. before a release). */
const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 1));

const TOKENS = ['BO_ ', 'SG_ ', ' : ', '|', '@', '0+', '1-', '(', ')', '[', ']', '"', ';', ',', 'M ', 'm1 ', 'm2M ', 'VAL_ ', 'CM_ ',
  'BA_ ', 'SG_MUL_VAL_ ', 'SIG_VALTYPE_ ', '\n', '\r\n', ' ', '-', '1e999', '99999999999999999999', '0x1F', '\\"', '\u20ac', '64', '2147483648'];

const SEED_TEXT = `VERSION ""
NS_ :
\tCM_
BS_:
BU_: A B
BO_ 2147483905 Msg: 8 A
 SG_ Mux M : 0|4@1+ (1,0) [0|15] "" B
 SG_ S1 m1 : 8|16@0- (0.5,-3) [0|0] "u" B
 SG_ S2 m2M : 4|4@1+ (1,0) [0|0] "" B
 SG_ S3 : 24|32@1- (1,0) [0|0] "" B
 SG_ S4 : 0|64@1+ (1,0) [0|0] "" B
CM_ SG_ 2147483905 S1 "comment with \\"quotes\\"";
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 1000;
BA_ "GenMsgCycleTime" BO_ 2147483905 10;
VAL_ 2147483905 Mux 0 "zero" -1 "neg" ;
SIG_VALTYPE_ 2147483905 S3 : 1;
SG_MUL_VAL_ 2147483905 S1 Mux 1-3, 5-5;
SG_MUL_VAL_ 2147483905 S2 Mux 2-2;
`;

function mutate(base: string) {
  return fc
    .array(
      fc.oneof(
        fc.record({ kind: fc.constant('del' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
        fc.record({ kind: fc.constant('ins' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 6 })) }),
        fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 120 }) }),
      ),
      { minLength: 1, maxLength: 6 },
    )
    .map((ops) => {
      let t = base;
      for (const op of ops) {
        const at = t.length === 0 ? 0 : op.at % t.length;
        if (op.kind === 'del') t = t.slice(0, at) + t.slice(at + op.len);
        else if (op.kind === 'ins') t = t.slice(0, at) + op.text + t.slice(at);
        else t = t.slice(0, at) + t.slice(at, at + op.len) + t.slice(at);
      }
      return t;
    });
}

describe('the DBC parser never fails with anything but a DBC error', () => {
  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => check(decodeCp1252(bytes))), { numRuns: 400 * RUNS });
  });

  it('random token soup', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...TOKENS, 'A', '1', '8', '"x"'), { maxLength: 80 }), (toks) => check(toks.join(''))), { numRuns: 400 * RUNS });
  });

  it('mutations of a DBC using every common section', () => {
    check(SEED_TEXT);
    expect(parseDbc(SEED_TEXT).messages[0].signals.length).toBe(5);
    fc.assert(fc.property(mutate(SEED_TEXT), check), { numRuns: 600 * RUNS });
  });

  it.skipIf(!HAVE_SHARED)('mutations of real DBC files', () => {
    const texts = ['multiplex_2.dbc', 'foobar.dbc', 'choices.dbc', 'abs.dbc'].map((f) => decodeCp1252(readFileSync(dbcPath(f))));
    fc.assert(
      fc.property(fc.nat({ max: texts.length - 1 }).chain((i) => mutate(texts[i])), check),
      { numRuns: 300 * RUNS },
    );
  });
});
