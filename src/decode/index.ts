/** Compiled per-message decoders and the encoder (DbcDatabase -> functions). */
export type { DecodeOutput, CompiledMessage, DecoderTable } from './types.js';
export { DECODE_OK, DECODE_SHORT, DECODE_MUX } from './types.js';
export { compileMessage, compileDatabase } from './compile.js';
export { decodeToObject } from './object.js';
export { encodeMessage } from './encode.js';
export { signalType } from './signal-type.js';
export { pgnOf, priorityOf, sourceAddressOf, destinationOf, isPdu1, j1939Id, isJ1939Message } from './j1939.js';
