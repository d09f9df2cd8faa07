import { describe, expect, it } from 'vitest';
import { parseDbc } from '../../src/dbc/index.js';
import { signalType } from '../../src/decode/index.js';

const db = parseDbc(`BO_ 1 M: 64 X
 SG_ Bit : 0|1@1+ (1,0) [0|1] "" X
 SG_ U8 : 8|8@1+ (1,0) [0|0] "" X
 SG_ U8off : 16|8@1+ (1,-1) [0|0] "" X
 SG_ I8 : 24|8@1- (1,0) [0|0] "" X
 SG_ U16 : 32|9@1+ (1,0) [0|0] "" X
 SG_ Scaled : 48|8@1+ (1,-40) [0|0] "" X
 SG_ Wide : 56|8@1+ (1000,0) [0|0] "" X
 SG_ I16neg : 64|8@1+ (-1,0) [0|0] "" X
 SG_ U32 : 72|32@1+ (1,0) [0|0] "" X
 SG_ U64 : 104|33@1+ (1,0) [0|0] "" X
 SG_ I64 : 137|64@1- (1,0) [0|0] "" X
 SG_ Huge : 201|64@1+ (2,0) [0|0] "" X
 SG_ Frac : 265|8@1+ (0.5,0) [0|0] "" X
 SG_ FracOff : 273|8@1+ (1,0.5) [0|0] "" X
 SG_ F32 : 288|32@1- (1,0) [0|0] "" X
 SG_ F32s : 320|32@1- (0.1,0) [0|0] "" X
 SG_ F64 : 384|64@1- (1,0) [0|0] "" X
SIG_VALTYPE_ 1 F32 : 1;
SIG_VALTYPE_ 1 F32s : 1;
SIG_VALTYPE_ 1 F64 : 2;
`);

describe('signalType picks the smallest primitive type that holds the physical range', () => {
  it('maps each signal', () => {
    const got = Object.fromEntries(db.messages[0].signals.map((s) => [s.name, signalType(s)]));
    expect(got).toEqual({
      Bit: 'uint8',
      U8: 'uint8',
      U8off: 'int16', // -1..254
      I8: 'int8',
      U16: 'uint16',
      Scaled: 'int16', // -40..215
      Wide: 'uint32', // 0..255000
      I16neg: 'int16', // -255..0
      U32: 'uint32',
      U64: 'uint64',
      I64: 'int64',
      Huge: 'float64', // 0..2^65-2 fits no integer type
      Frac: 'float64',
      FracOff: 'float64',
      F32: 'float32',
      F32s: 'float64', // scaled float32 is computed in double
      F64: 'float64',
    });
  });
});
