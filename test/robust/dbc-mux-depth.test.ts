// Issue #12 finding 2: a DBC with ~2,000 cascaded SG_MUL_VAL_ levels crashed decode with
// "Maximum call stack size exceeded". Deep levels are now left out with a warning.
import { describe, expect, it } from 'vitest';
import { parseDbc } from '../../src/dbc/index.js';
import { MAX_MUX_DEPTH } from '../../src/dbc/parser.js';
import { DECODE_OK, compileDatabase } from '../../src/decode/index.js';

function deepMuxDbc(levels: number): string {
  // Every level is a 1-bit multiplexer (`m1M`: selected by value 1 of the one above, itself a multiplexer).
  const sigs = [' SG_ L0 M : 0|1@1+ (1,0) [0|1] "" Vector__XXX'];
  const mul: string[] = [];
  for (let i = 1; i <= levels; i++) {
    sigs.push(` SG_ L${i} m1M : ${i % 64}|1@1+ (1,0) [0|1] "" Vector__XXX`);
    mul.push(`SG_MUL_VAL_ 100 L${i} L${i - 1} 1-1;`);
  }
  return ['VERSION ""', 'BU_: N', 'BO_ 100 Deep: 8 N', ...sigs, '', ...mul, ''].join('\n');
}

describe('DBC multiplexer depth (issue #12)', () => {
  it('2,000 cascaded levels parse, compile and decode; signals past the limit are left out with a warning', () => {
    const db = parseDbc(deepMuxDbc(2000), 'deep.dbc');
    const msg = db.messages.find((m) => m.name === 'Deep')!;
    expect(msg.signals.map((s) => s.name)).toContain(`L${MAX_MUX_DEPTH}`);
    expect(msg.signals.map((s) => s.name)).not.toContain(`L${MAX_MUX_DEPTH + 1}`);
    expect(db.warnings.some((w) => /deep\.dbc:\d+: signal Deep\.L17: its multiplexer chain is deeper than 16 levels/.test(w))).toBe(true);
    const table = compileDatabase(db);
    const dec = table.lookup(100, false)!;
    const n = dec.signals.length;
    const out = { values: new Float64Array(n), big: new Array<bigint | undefined>(n), present: new Uint8Array(n), error: '' };
    expect(dec.decode(new Uint8Array(8).fill(0xff), out)).toBe(DECODE_OK);
    expect(out.present.every((p) => p === 1)).toBe(true); // value 1 at every level selects the next
  });
});
