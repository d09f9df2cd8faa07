import type { DbcMessage, DbcSignal } from '../dbc/index.js';

/** Decode result buffers of one compiled message; reused for every frame. */
export interface DecodeOutput {
  /** Physical value per signal index (DBC order of `CompiledMessage.signals`). */
  values: Float64Array;
  /** Set (and `values[i] = Number(big)`) only when the exact physical value is an integer beyond 2^53. */
  big: (bigint | undefined)[];
  /** 1 when the signal is present (multiplexing) in this frame. */
  present: Uint8Array;
  /** Set when status is DECODE_SHORT / DECODE_MUX. */
  error: string;
}

export const DECODE_OK = 0;
export const DECODE_SHORT = 1;
export const DECODE_MUX = 2;

export interface CompiledMessage {
  readonly message: DbcMessage;
  /** Decodable signals in DBC order. */
  readonly signals: readonly DbcSignal[];
  /** Set when the message is a J1939 parameter group (see decode/j1939.ts): matched by this PGN. */
  readonly pgn?: number;
  createOutput(): DecodeOutput;
  /** Decode `data` (may be longer than needed) into `out`; no allocation. Returns DECODE_*. */
  decode(data: Uint8Array, out: DecodeOutput): number;
}

export interface DecoderTable {
  lookup(id: number, extended: boolean): CompiledMessage | undefined;
  readonly messages: readonly CompiledMessage[];
}
