import { describe, expect, it } from 'vitest';
import { loadDbcFile, type DbcDatabase } from '../../src/dbc/index.js';
import { compileDatabase, compileMessage, DECODE_MUX, DECODE_OK, DECODE_SHORT, decodeToObject } from '../../src/decode/index.js';
import { dbcPath, HAVE_SHARED } from './shared.js';

/** Hand-computed expectations on the cantools test DBCs (bit layouts worked out from the SG_ lines). */

const cache = new Map<string, DbcDatabase>();
function db(file: string): DbcDatabase {
  let d = cache.get(file);
  if (!d) cache.set(file, (d = loadDbcFile(dbcPath(file))));
  return d;
}
function msg(file: string, name: string) {
  const m = db(file).messages.find((x) => x.name === name);
  if (!m) throw new Error(`${file}: no message ${name}`);
  return compileMessage(m);
}
function dec(file: string, name: string, hex: string, choices = true) {
  return decodeToObject(msg(file, name), Uint8Array.from(Buffer.from(hex.replace(/\s/g, ''), 'hex')), { choices });
}

describe.skipIf(!HAVE_SHARED)('decoding known frames of the cantools test DBCs', () => {
  it('motohawk: Motorola 12-bit signed, 6-bit and 1-bit signals with scaling and choices', () => {
    // Temperature 0|12@0- : bit 0 of byte 0, all of byte 1, bits 7..5 of byte 2 -> raw 0b0000_0011_0111 = 55.
    // AverageRadius 6|6@0+ : bits 6..1 of byte 0 (0xc0 -> 0b100000 = 32). Enable 7|1@0+ : bit 7 = 1.
    const r = dec('motohawk.dbc', 'ExampleMessage', 'c006e00000000000');
    expect(r).toEqual({ status: 'ok', signals: { Temperature: 55 * 0.01 + 250, AverageRadius: 32 * 0.1, Enable: 'Enabled' } });
    expect(dec('motohawk.dbc', 'ExampleMessage', 'c006e00000000000', false).signals!.Enable).toBe(1);
    // Negative temperature raw: 0x800 (12-bit) = -2048.
    const neg = dec('motohawk.dbc', 'ExampleMessage', '0100000000000000', false).signals!;
    expect(neg.Temperature).toBe(-2048 * 0.01 + 250);
  });

  it('signed: two\'s complement of every width in both byte orders, 64-bit exact', () => {
    expect(dec('signed.dbc', 'Message32', 'ffffffff00000000').signals).toEqual({ s32: -1 });
    expect(dec('signed.dbc', 'Message32', '0000008000000000').signals).toEqual({ s32: -2147483648 });
    expect(dec('signed.dbc', 'Message33', 'ffffffff01000000').signals).toEqual({ s33: -1 });
    expect(dec('signed.dbc', 'Message33', 'ffffffff00000000').signals).toEqual({ s33: 4294967295 });
    expect(dec('signed.dbc', 'Message33big', '8000000000000000').signals).toEqual({ s33big: -4294967296 });
    expect(dec('signed.dbc', 'Message33big', '0000000080000000').signals).toEqual({ s33big: 1 });
    expect(dec('signed.dbc', 'Message32big', '80000001000000ff').signals).toEqual({ s32big: -2147483647 });
    expect(dec('signed.dbc', 'Message64', 'ffffffffffffffff').signals).toEqual({ s64: -1 });
    expect(dec('signed.dbc', 'Message64', '0000000000000080').signals).toEqual({ s64: -9223372036854775808n });
    expect(dec('signed.dbc', 'Message64', 'ffffffffffffff7f').signals).toEqual({ s64: 9223372036854775807n });
    expect(dec('signed.dbc', 'Message64', '0100000000002000').signals).toEqual({ s64: 9007199254740993n });
    expect(dec('signed.dbc', 'Message64', 'ffffffffffffdfff').signals).toEqual({ s64: -9007199254740993n });
    expect(dec('signed.dbc', 'Message64', '0000000000002000').signals).toEqual({ s64: 2 ** 53 });
    expect(dec('signed.dbc', 'Message64big', '8000000000000000').signals).toEqual({ s64big: -9223372036854775808n });
    expect(dec('signed.dbc', 'Message64big', '0000000000000102').signals).toEqual({ s64big: 258 });
    // s63 0|63@1- : bits 0..62; bit 63 is not part of it.
    expect(dec('signed.dbc', 'Message63', 'ffffffffffffff7f').signals).toEqual({ s63: -1 });
    expect(dec('signed.dbc', 'Message63', 'ffffffffffffff3f').signals).toEqual({ s63: 4611686018427387903n });
    // s63big 7|63@0- : byte 0 bit 7 down to byte 7 bit 1.
    expect(dec('signed.dbc', 'Message63big', '0000000000000002').signals).toEqual({ s63big: 1 });
    expect(dec('signed.dbc', 'Message63big', '8000000000000000').signals).toEqual({ s63big: -4611686018427387904n });
    // Message378910: s7 1|7@1- = bits 1..7 of byte 0; s8big 0|8@0- = byte 0 bit 0 + byte 1 bits 7..1.
    const m = dec('signed.dbc', 'Message378910', 'fe01000000000000').signals!;
    expect(m.s7).toBe(-1);
    expect(m.s8big).toBe(0); // byte0 bit0 = 0, byte1 bits 7..1 = 0
    const m2 = dec('signed.dbc', 'Message378910', '01fe000000000000').signals!;
    expect(m2.s8big).toBe(-1);
    expect(m2.s7).toBe(0);
  });

  it('padding_bit_order: Motorola/Intel numbering across bytes and 64-bit unsigned', () => {
    expect(dec('padding_bit_order.dbc', 'MSG0', '82c9000002c90000').signals).toEqual({ A: 0x2c9, B: 1, C: 0x2c9, D: 0 });
    expect(dec('padding_bit_order.dbc', 'MSG1', '9305000093050000').signals).toEqual({ E: 1, F: 0x2c9, G: 1, H: 0x2c9 });
    expect(dec('padding_bit_order.dbc', 'MSG2', '2143000000000000').signals).toEqual({ I: 1, J: 2, K: 3 });
    expect(dec('padding_bit_order.dbc', 'MSG3', '0102030405060708').signals).toEqual({ L: 0x0102030405060708n });
    expect(dec('padding_bit_order.dbc', 'MSG4', '0102030405060708').signals).toEqual({ M: 0x0807060504030201n });
    expect(dec('padding_bit_order.dbc', 'MSG3', '0000000000000102').signals).toEqual({ L: 258 });
    expect(dec('padding_bit_order.dbc', 'MSG4', 'ffffffffffffffff').signals).toEqual({ M: 18446744073709551615n });
  });

  it('floating_point: IEEE float64 and float32 signals including NaN and infinities', () => {
    const f64 = (x: number) => Buffer.from(new Float64Array([x]).buffer).toString('hex');
    const f32 = (x: number) => Buffer.from(new Float32Array([x]).buffer).toString('hex');
    expect(dec('floating_point.dbc', 'Message1', f64(-1.5e-300)).signals).toEqual({ Signal1: -1.5e-300 });
    expect(dec('floating_point.dbc', 'Message1', f64(NaN)).signals!.Signal1).toBeNaN();
    expect(dec('floating_point.dbc', 'Message2', f32(Infinity) + f32(-0.1)).signals).toEqual({ Signal1: Infinity, Signal2: Math.fround(-0.1) });
    expect(dec('floating_point.dbc', 'Message2', f32(-Infinity) + f32(NaN)).signals).toEqual({ Signal1: -Infinity, Signal2: NaN });
  });

  it('foobar: float32 Motorola with scaling, CAN FD 64-byte with two 64-bit signals, extended ids', () => {
    const foo = db('foobar.dbc').messages.find((m) => m.name === 'Foo')!;
    expect([foo.id, foo.extended, foo.fd]).toEqual([0x12330, true, false]);
    // Bar 24|32@0- float32: MSB at byte 3 bit 0 -> the 64-bit big-endian payload holds the word shifted left by 1.
    const word = BigInt(new Uint32Array(new Float32Array([1.25]).buffer)[0]);
    const payload = (word << 1n) | (0x0fn << 60n); // Foo 0|12@0-: byte 0 bit 0.. -> not touched by the word
    const hex = payload.toString(16).padStart(16, '0');
    const r = dec('foobar.dbc', 'Foo', hex).signals!;
    expect(r.Bar).toBe(1.25 * 0.1);
    const canfd = db('foobar.dbc').messages.find((m) => m.name === 'CanFd')!;
    expect([canfd.length, canfd.fd]).toEqual([64, true]);
    const bytes = new Uint8Array(64);
    bytes.set([1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(decodeToObject(compileMessage(canfd), bytes).signals).toEqual({ Fie: 0x0807060504030201n, Fas: 18446744073709551615n });
  });

  it('choices: negative keys and cp1252 texts; values outside the table stay numbers', () => {
    expect(dec('choices.dbc', 'Foo', 'fb00000000000000').signals).toEqual({ Foo: 'A negative value' });
    expect(dec('choices.dbc', 'Foo', '0100000000000000').signals).toEqual({ Foo: "#%=*ä'" });
    expect(dec('choices.dbc', 'Foo', '0700000000000000').signals).toEqual({ Foo: 7 });
    expect(dec('choices.dbc', 'Foo', 'ff00000000000000').signals).toEqual({ Foo: -1 });
  });

  it('issue_636: a negative factor and a value-table raw key', () => {
    // Temperature 3|12@0+ : byte 0 bits 3..0 and byte 1 -> 0xffe = 4094 ("Init").
    expect(dec('issue_636_negative_scaling.dbc', 'ExampleMessage', '0ffe').signals).toEqual({ Temperature: 'Init' });
    expect(dec('issue_636_negative_scaling.dbc', 'ExampleMessage', '0ffe', false).signals).toEqual({ Temperature: 4094 * -0.01 + 4100 });
    expect(dec('issue_636_negative_scaling.dbc', 'ExampleMessage', '0064').signals).toEqual({ Temperature: 100 * -0.01 + 4100 });
    expect(db('issue_636_negative_scaling.dbc').messages[0].signals[0].initial).toBe(4094);
  });

  it('variable_dlc: shorter data is an error, longer data is decoded', () => {
    const r = dec('variable_dlc.dbc', 'TestMessage1', '0102');
    expect(r).toEqual({ status: 'error', signals: null, error: 'wrong data size: 2 instead of 3 bytes' });
    expect(dec('variable_dlc.dbc', 'TestMessage1', '01020304').signals).toEqual({ Signal1: 1, Signal2: 2, Signal3: 3 });
    // 10-byte message arrives as a 12-byte CAN FD frame.
    const m = dec('variable_dlc.dbc', 'TestMessage2', 'ffffffffffffffffffff0000').signals!;
    expect(m).toEqual({ Signal4: 32767, Signal5: 32767, Signal6: 32767, Signal7: 32767, Signal8: 32767 });
    const c = msg('variable_dlc.dbc', 'TestMessage2');
    const out = c.createOutput();
    expect(c.decode(new Uint8Array(9), out)).toBe(DECODE_SHORT);
    expect(out.error).toBe('wrong data size: 9 instead of 10 bytes');
    expect(Array.from(out.present)).toEqual([0, 0, 0, 0, 0]);
  });

  it('multiplex: simple multiplexer with SG_MUL_VAL_ adding values', () => {
    // Multiplexor 2|6@1+ = bits 2..7 of byte 0.
    const mux = (v: number) => ((v << 2) & 0xff).toString(16).padStart(2, '0');
    const m8 = dec('multiplex.dbc', 'Message1', mux(8) + '8c0100000000000', false);
    expect(m8.status).toBe('ok');
    expect(Object.keys(m8.signals!).sort()).toEqual(['BIT_C', 'BIT_G', 'BIT_J', 'BIT_L', 'Multiplexor']);
    const m24 = dec('multiplex.dbc', 'Message1', mux(24) + '00000000000000').signals!;
    expect(Object.keys(m24).sort()).toEqual(['BIT_A', 'BIT_B', 'BIT_C', 'BIT_D', 'BIT_E', 'BIT_F', 'BIT_G', 'BIT_H', 'BIT_J', 'BIT_K', 'BIT_L', 'Multiplexor']);
    const m16 = dec('multiplex.dbc', 'Message1', mux(16) + '00000000000000').signals!;
    expect(Object.keys(m16).sort()).toEqual(['BIT_C', 'BIT_G', 'BIT_J', 'BIT_L', 'Multiplexor']);
    expect(dec('multiplex.dbc', 'Message1', mux(9) + '00000000000000')).toEqual({ status: 'error', signals: null, error: 'no signals for multiplexer value 9' });
    // BIT_J 18|1 = byte 2 bit 2, BIT_L 24 = byte 3 bit 0.
    expect(dec('multiplex.dbc', 'Message1', mux(8) + '00040100000000', false).signals).toMatchObject({ BIT_J: 1, BIT_L: 1, BIT_C: 0, BIT_G: 0 });
  });

  it('multiplex_choices: a multiplexer value listed only in its value table decodes just the multiplexer', () => {
    const mux = (v: number) => ((v << 2) & 0xff).toString(16).padStart(2, '0');
    expect(dec('multiplex_choices.dbc', 'Message2', mux(4) + '00000000000000')).toEqual({
      status: 'ok',
      signals: { Multiplexor: 'MULTIPLEXOR_4_NO_SIGNALS' },
    });
    expect(dec('multiplex_choices.dbc', 'Message1', mux(8) + '00000100000000').signals).toMatchObject({ Multiplexor: 'MULTIPLEXOR_8', BIT_L: 'On' });
    expect(dec('multiplex_choices.dbc', 'Message3', mux(4) + '00000000000000').error).toBe('no signals for multiplexer value 4');
    expect(dec('multiplex_choices.dbc', 'Message1', mux(4) + '00000000000000').status).toBe('error');
  });

  it('multiplex_2: cascaded extended multiplexing and value ranges', () => {
    // Extended: S0 0|4 (M), S1 4|4 (m0M under S0), S2 8|8 / S3 16|16 under S1=0, S4 8|24 under S1=2,
    // S5 4|28 under S0=1, S6 32|8 (M, independent), S7 40|24 under S6=1, S8 40|8 under S6=2.
    const a = dec('multiplex_2.dbc', 'Extended', '00 05 0300 01 00 00 00'.replace(/ /g, '')).signals!;
    expect(a).toEqual({ S0: 0, S1: 0, S2: 5, S3: 3, S6: 1, S7: 0 });
    const b = dec('multiplex_2.dbc', 'Extended', '20 fe ffff 02 ff 00 00'.replace(/ /g, '')).signals!;
    expect(b).toEqual({ S0: 0, S1: 2, S4: -2, S6: 2, S8: -1 });
    const c = dec('multiplex_2.dbc', 'Extended', 'f1 ff ff 07 01 00 00 00'.replace(/ /g, '')).signals!;
    expect(c).toEqual({ S0: 1, S5: 0x7fffff, S6: 1, S7: 0 });
    // S1 = 1 selects nothing and S1 has no value table.
    expect(dec('multiplex_2.dbc', 'Extended', '1000000001000000').error).toBe('no signals for multiplexer value 1');
    // S6 = 0 (signed 8 bit): nothing selected -> error.
    expect(dec('multiplex_2.dbc', 'Extended', '0000000000000000').error).toBe('no signals for multiplexer value 0');
    // Shared: S1 under S0 = 1 or 3, S2 under S0 = 2..5.
    expect(dec('multiplex_2.dbc', 'Shared', '3500000000000000').signals).toEqual({ S0: 5, S2: 0 });
    expect(dec('multiplex_2.dbc', 'Shared', '3300000000000000').signals).toEqual({ S0: 3, S1: 3, S2: 0 });
    expect(dec('multiplex_2.dbc', 'Shared', '040a000000000000').signals).toEqual({ S0: 4, S2: 10 });
    // Negative multiplexer value (S0 is signed 4-bit): 0xf = -1.
    expect(dec('multiplex_2.dbc', 'Shared', '0f00000000000000').error).toBe('no signals for multiplexer value -1');
  });

  it('issue_184: cascaded and independent extended multiplexers, multiple value ranges', () => {
    // cascaded: MUX_A 0|8, muxed_A_1 under A=1, muxed_A_2_MUX_B 8|8 under A=2, muxed_B_0/1 under B=0/1.
    const casc = db('issue_184_extended_mux_cascaded.dbc').messages[0];
    const sig = (n: string) => casc.signals.find((s) => s.name === n)!;
    expect(sig('muxed_B_0')).toMatchObject({ multiplexerSignal: 'muxed_A_2_MUX_B', multiplexerValues: [{ min: 0, max: 0 }] });
    const dc = (hex: string) => decodeToObject(compileMessage(casc), Uint8Array.from(Buffer.from(hex, 'hex')));
    const layout = (n: string) => `${sig(n).startBit}|${sig(n).length}`;
    expect(layout('MUX_A')).toBe('0|8');
    expect(Object.keys(dc('0201' + 'ff'.repeat(6)).signals!).sort()).toEqual(['MUX_A', 'muxed_A_2_MUX_B', 'muxed_B_1']);
    expect(Object.keys(dc('0200' + 'ff'.repeat(6)).signals!).sort()).toEqual(['MUX_A', 'muxed_A_2_MUX_B', 'muxed_B_0']);
    expect(Object.keys(dc('01' + '00'.repeat(7)).signals!).sort()).toEqual(['MUX_A', 'muxed_A_1']);
    expect(dc('0202' + '00'.repeat(6)).error).toBe('no signals for multiplexer value 2');

    const ind = db('issue_184_extended_mux_independent_multiplexors.dbc').messages[0];
    const di = (hex: string) => decodeToObject(compileMessage(ind), Uint8Array.from(Buffer.from(hex, 'hex')));
    // MUX_A 0|8 selects muxed_A_0/1, MUX_B 16|8 selects muxed_B_1/2.
    expect(Object.keys(di('0000010000000000').signals!).sort()).toEqual(['MUX_A', 'MUX_B', 'muxed_A_0', 'muxed_B_1']);
    expect(Object.keys(di('0100020000000000').signals!).sort()).toEqual(['MUX_A', 'MUX_B', 'muxed_A_1', 'muxed_B_2']);
    expect(di('0100000000000000').error).toBe('no signals for multiplexer value 0');

    const mv = db('issue_184_extended_mux_multiple_values.dbc').messages[0];
    const dm = (v: number) => decodeToObject(compileMessage(mv), Uint8Array.from([v, 0, 0, 0, 0, 0, 0, 0]));
    for (const v of [0, 3, 4, 5]) expect(Object.keys(dm(v).signals!)).toContain('muxed_0_3_4_5');
    for (const v of [1, 2]) expect(Object.keys(dm(v).signals ?? {})).not.toContain('muxed_0_3_4_5');
  });

  it('decoder table looks messages up by id and frame format', () => {
    const t = compileDatabase(db('foobar.dbc'));
    expect(t.lookup(0x12330, true)?.message.name).toBe('Foo');
    expect(t.lookup(0x12330, false)).toBeUndefined();
    expect(t.lookup(780, false)?.message.name).toBe('FOOBAR');
    expect(t.lookup(780, true)).toBeUndefined();
    expect(t.messages.length).toBe(5);
  });

  it('decode statuses and reuse of one output across frames', () => {
    const c = msg('multiplex.dbc', 'Message1');
    const out = c.createOutput();
    expect(c.decode(Uint8Array.from([24 << 2, 0, 0, 0, 0, 0, 0, 0]), out)).toBe(DECODE_OK);
    expect(out.present.reduce((a, b) => a + b, 0)).toBe(12);
    expect(c.decode(Uint8Array.from([8 << 2, 0, 0, 0, 0, 0, 0, 0]), out)).toBe(DECODE_OK);
    expect(out.present.reduce((a, b) => a + b, 0)).toBe(5);
    expect(out.error).toBe('');
    expect(c.decode(Uint8Array.from([1 << 2, 0, 0, 0, 0, 0, 0, 0]), out)).toBe(DECODE_MUX);
    expect(out.error).toBe('no signals for multiplexer value 1');
  });
});

describe.skipIf(!HAVE_SHARED)('a multiplexer marked with a bare `m` (vw_pq Motor_2)', () => {
  it('decodes as cantools 43 does: the marked signal is plain, the signals under it are never present', () => {
    // MO2_Mp_Code m : 6|2@1+ -> bits 6..7 of byte 0. 0x80 | 0x05 -> Mp_Code 2, bits 0..5 = 5.
    // SG_MUL_VAL_ would put MO2_Getr_Code under value 2, but without `M` cantools never decodes it.
    const r = dec('vw_pq.dbc', 'Motor_2', '8500000000000000', false);
    expect(r.status).toBe('ok');
    expect(r.signals!.MO2_Mp_Code).toBe(2);
    for (const hidden of ['MO2_Getr_Code', 'MO2_max_Mo', 'MO2_CAN_Vers', 'MO2_Motor_Code']) expect(r.signals).not.toHaveProperty(hidden);
    expect(r.signals).toHaveProperty('MO2_Kuehlm_T');
  });
});
