/**
 * The DBC model: what a parsed DBC file says, with nothing decoded yet.
 * Produced by `parseDbc` / `loadDbcFile`, consumed by `src/decode` (compiled decoders).
 */

export type ByteOrder = 'little_endian' | 'big_endian';
export type SignalValueType = 'integer' | 'float32' | 'float64';
/** An attribute value as written in the file (enum attributes keep their text). */
export type AttributeValue = number | string;

/** An inclusive range of multiplexer values (`mN` is `{min: N, max: N}`). */
export interface MuxRange {
  readonly min: number;
  readonly max: number;
}

export interface DbcSignal {
  readonly name: string;
  /** Bit number as written in the DBC (`@1` Intel: the LSB; `@0` Motorola: the MSB, sawtooth numbering). */
  readonly startBit: number;
  readonly length: number;
  readonly byteOrder: ByteOrder;
  readonly signed: boolean;
  /** `SIG_VALTYPE_ 1` = float32, `2` = float64. */
  readonly valueType: SignalValueType;
  readonly factor: number;
  readonly offset: number;
  /** Both factor and offset are whole numbers: the physical value of an integer raw value is an integer. */
  readonly integerScale: boolean;
  readonly minimum: number;
  readonly maximum: number;
  readonly unit: string;
  readonly receivers: readonly string[];
  readonly comment?: string;
  /** `GenSigStartValue` (a raw value) when the DBC gives one. */
  readonly initial?: number | bigint;
  /** `VAL_` texts by raw value (bigint only for keys beyond 2^53). */
  readonly choices?: ReadonlyMap<number | bigint, string>;
  /** Marked `M` or `mNM`. */
  readonly isMultiplexer: boolean;
  /** The multiplexer this signal depends on (`mN`, `mNM`, or `SG_MUL_VAL_`). */
  readonly multiplexerSignal?: string;
  /** The multiplexer values for which this signal is present (set when `multiplexerSignal` is). */
  readonly multiplexerValues?: readonly MuxRange[];
  /** `BA_ "..." SG_` values. */
  readonly attributes: ReadonlyMap<string, AttributeValue>;
}

export interface DbcMessage {
  /** Arbitration id without the extended flag (bit 31 of the DBC id). */
  readonly id: number;
  readonly extended: boolean;
  readonly name: string;
  /** Length in bytes as declared (a CAN FD length that is not a wire length, e.g. 10, stays 10). */
  readonly length: number;
  /** CAN FD: `VFrameFormat` says FD, or the length is above 8. */
  readonly fd: boolean;
  /** Transmitter from `BO_` first, then `BO_TX_BU_` additions. */
  readonly senders: readonly string[];
  /** `GenMsgCycleTime` (ms) when set and > 0. */
  readonly cycleTimeMs?: number;
  readonly comment?: string;
  readonly attributes: ReadonlyMap<string, AttributeValue>;
  /** Signals in DBC order (those that do not fit the message are left out, see `DbcDatabase.warnings`). */
  readonly signals: readonly DbcSignal[];
  /** `SIG_GROUP_` groups. */
  readonly signalGroups: readonly DbcSignalGroup[];
}

export interface DbcSignalGroup {
  readonly name: string;
  readonly repetitions: number;
  readonly signals: readonly string[];
}

export interface DbcNode {
  readonly name: string;
  readonly comment?: string;
  readonly attributes: ReadonlyMap<string, AttributeValue>;
}

export type AttributeObjectType = '' | 'BU_' | 'BO_' | 'SG_' | 'EV_' | 'BU_SG_REL_' | 'BU_BO_REL_' | 'BU_EV_REL_';

export type AttributeValueType =
  | { readonly kind: 'INT'; readonly min: number; readonly max: number }
  | { readonly kind: 'HEX'; readonly min: number; readonly max: number }
  | { readonly kind: 'FLOAT'; readonly min: number; readonly max: number }
  | { readonly kind: 'STRING' }
  | { readonly kind: 'ENUM'; readonly values: readonly string[] };

export interface DbcAttributeDefinition {
  readonly name: string;
  /** `''` for database (global) attributes. */
  readonly objectType: AttributeObjectType;
  readonly type: AttributeValueType;
  /** `BA_DEF_DEF_` / `BA_DEF_DEF_REL_` default. */
  readonly default?: AttributeValue;
  /** Defined with `BA_DEF_REL_`. */
  readonly relation: boolean;
}

/** `BA_REL_` values (node-signal / node-message relations). */
export interface DbcRelationAttribute {
  readonly name: string;
  readonly relation: 'BU_SG_REL_' | 'BU_BO_REL_' | 'BU_EV_REL_';
  readonly node: string;
  readonly messageId?: number;
  readonly signal?: string;
  readonly envVar?: string;
  readonly value: AttributeValue;
}

export interface DbcEnvironmentVariable {
  readonly name: string;
  /** 0 integer, 1 float, 2 string (as written). */
  readonly varType: number;
  readonly minimum: number;
  readonly maximum: number;
  readonly unit: string;
  readonly initial: number;
  readonly id: number;
  readonly accessType: string;
  readonly accessNodes: readonly string[];
  readonly comment?: string;
  /** `ENVVAR_DATA_` size in bytes when given. */
  readonly dataSize?: number;
  readonly choices?: ReadonlyMap<number | bigint, string>;
}

export interface DbcDatabase {
  readonly file: string;
  readonly version: string;
  readonly nodes: readonly DbcNode[];
  readonly messages: readonly DbcMessage[];
  /** `VAL_TABLE_` tables by name. */
  readonly valueTables: ReadonlyMap<string, ReadonlyMap<number | bigint, string>>;
  readonly attributeDefinitions: ReadonlyMap<string, DbcAttributeDefinition>;
  /** Global (`BA_ "name" value;`) attribute values. */
  readonly attributes: ReadonlyMap<string, AttributeValue>;
  readonly relationAttributes: readonly DbcRelationAttribute[];
  readonly environmentVariables: readonly DbcEnvironmentVariable[];
  readonly comment?: string;
  /** Problems that did not stop loading (e.g. a signal that reaches past its message). */
  readonly warnings: readonly string[];
}
