import { readFileSync } from 'node:fs';
import { EdgewiseError, isEdgewiseError } from '../errors.js';
import { Lexer, type NumberToken } from './lexer.js';
import type {
  AttributeObjectType,
  AttributeValue,
  AttributeValueType,
  ByteOrder,
  DbcAttributeDefinition,
  DbcDatabase,
  DbcEnvironmentVariable,
  DbcMessage,
  DbcNode,
  DbcRelationAttribute,
  DbcSignal,
  DbcSignalGroup,
  MuxRange,
  SignalValueType,
} from './model.js';

// ---------------------------------------------------------------------------------------------
// cp1252

/** cp1252 code points for bytes 0x80-0x9F (undefined bytes map to the same C1 code point, as latin1). */
const CP1252_80_9F = [
  0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d,
  0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a,
  0x0153, 0x009d, 0x017e, 0x0178,
];

/** Decodes bytes as Windows-1252 (the encoding DBC tools write). */
export function decodeCp1252(bytes: Uint8Array): string {
  let out = '';
  const CHUNK = 8192;
  const codes = new Array<number>(Math.min(CHUNK, bytes.length));
  for (let start = 0; start < bytes.length; start += CHUNK) {
    const end = Math.min(bytes.length, start + CHUNK);
    codes.length = end - start;
    for (let i = start; i < end; i++) {
      const b = bytes[i];
      codes[i - start] = b >= 0x80 && b <= 0x9f ? CP1252_80_9F[b - 0x80] : b;
    }
    out += String.fromCharCode.apply(null, codes);
  }
  return out;
}

/** Reads a DBC file (cp1252, CRLF or LF) and parses it. */
export function loadDbcFile(path: string): DbcDatabase {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new EdgewiseError('IO', `cannot read DBC file ${path}: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return parseDbc(decodeCp1252(bytes), path);
}

// ---------------------------------------------------------------------------------------------
// Raw statements collected while parsing; the model is built from them at the end.

interface RawSignal {
  name: string;
  mux: string | undefined; // 'M', 'm3', 'm3M'
  startBit: number;
  length: number;
  byteOrder: ByteOrder;
  signed: boolean;
  factor: number;
  offset: number;
  minimum: number;
  maximum: number;
  unit: string;
  receivers: string[];
  line: number;
}

interface RawMessage {
  dbcId: number;
  name: string;
  length: number;
  sender: string;
  signals: RawSignal[];
  line: number;
}

type Key = number | bigint;

interface State {
  version: string;
  nodes: string[];
  valueTables: Map<string, Map<Key, string>>;
  messages: RawMessage[];
  txSenders: Map<number, string[]>;
  comments: {
    global?: string;
    node: Map<string, string>;
    message: Map<number, string>;
    signal: Map<string, string>; // `${dbcId}/${name}`
    env: Map<string, string>;
  };
  defs: Map<string, { objectType: AttributeObjectType; type: AttributeValueType; relation: boolean }>;
  defaults: Map<string, AttributeValue>;
  globalAttrs: Map<string, AttributeValue>;
  nodeAttrs: Map<string, Map<string, AttributeValue>>;
  messageAttrs: Map<number, Map<string, AttributeValue>>;
  signalAttrs: Map<string, Map<string, AttributeValue>>;
  envAttrs: Map<string, Map<string, AttributeValue>>;
  relAttrs: DbcRelationAttribute[];
  choices: Map<string, Map<Key, string>>; // `${dbcId}/${signal}`
  envChoices: Map<string, Map<Key, string>>;
  valueTypes: Map<string, number>;
  groups: Map<number, DbcSignalGroup[]>;
  muxValues: Map<string, { multiplexer: string; ranges: MuxRange[] }>; // `${dbcId}/${signal}`
  envVars: (Omit<DbcEnvironmentVariable, 'comment' | 'dataSize' | 'choices'>)[];
  envData: Map<string, number>;
  warnings: string[];
}

const SECTION_KEYWORDS = new Set([
  'VERSION', 'NS_', 'BS_', 'BU_', 'VAL_TABLE_', 'BO_', 'SG_', 'BO_TX_BU_', 'CM_', 'BA_DEF_', 'BA_DEF_REL_',
  'BA_DEF_DEF_', 'BA_DEF_DEF_REL_', 'BA_', 'BA_REL_', 'VAL_', 'SIG_VALTYPE_', 'SIG_GROUP_', 'SG_MUL_VAL_', 'EV_',
  'ENVVAR_DATA_', 'SGTYPE_', 'SGTYPE_VAL_', 'BA_DEF_SGTYPE_', 'BA_SGTYPE_', 'SIG_TYPE_REF_', 'SIGTYPE_VALTYPE_',
  'CAT_DEF_', 'CAT_', 'FILTER', 'EV_DATA_', 'BU_SG_REL_', 'BU_EV_REL_', 'BU_BO_REL_', 'SG_MUL_VAL_',
  'NS_DESC_', 'SIG_TYPE_REF_',
]);

/** Sections whose content edgewise does not model: skipped up to their terminating `;`. */
const SKIPPED = new Set([
  'SGTYPE_', 'SGTYPE_VAL_', 'BA_DEF_SGTYPE_', 'BA_SGTYPE_', 'SIG_TYPE_REF_', 'SIGTYPE_VALTYPE_', 'CAT_DEF_',
  'CAT_', 'FILTER', 'EV_DATA_', 'NS_DESC_',
]);

const OBJECT_TYPES = new Set(['BU_', 'BO_', 'SG_', 'EV_']);
const REL_TYPES = new Set(['BU_SG_REL_', 'BU_BO_REL_', 'BU_EV_REL_']);

function keyOf(t: NumberToken): Key {
  if (t.big !== undefined) return t.big;
  return t.isInteger ? t.value : Math.trunc(t.value);
}

/**
 * Parses DBC text. Throws only EdgewiseError: `DBC_SYNTAX` (context file, line, column,
 * expected, found) for malformed text, `DBC_SEMANTIC` for text that parses but cannot be used.
 */
export function parseDbc(text: string, file = '<input>'): DbcDatabase {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lx = new Lexer(text, file);
  const st: State = {
    version: '',
    nodes: [],
    valueTables: new Map(),
    messages: [],
    txSenders: new Map(),
    comments: { node: new Map(), message: new Map(), signal: new Map(), env: new Map() },
    defs: new Map(),
    defaults: new Map(),
    globalAttrs: new Map(),
    nodeAttrs: new Map(),
    messageAttrs: new Map(),
    signalAttrs: new Map(),
    envAttrs: new Map(),
    relAttrs: [],
    choices: new Map(),
    envChoices: new Map(),
    valueTypes: new Map(),
    groups: new Map(),
    muxValues: new Map(),
    envVars: [],
    envData: new Map(),
    warnings: [],
  };
  try {
    parseStatements(lx, st);
    return build(st, file);
  } catch (e) {
    if (isEdgewiseError(e)) throw e;
    // Defence in depth: nothing but EdgewiseError leaves the parser.
    throw new EdgewiseError('DBC_SEMANTIC', `cannot load DBC: ${(e as Error)?.message ?? String(e)}`, { file }, { cause: e });
  }
}

function parseStatements(lx: Lexer, st: State): void {
  let currentMessage: RawMessage | undefined;
  while (!lx.atEnd()) {
    const at = lx.where();
    const kw = lx.peekName();
    if (kw === undefined) lx.fail('a DBC keyword');
    if (kw !== 'SG_') currentMessage = undefined;
    lx.name();
    switch (kw) {
      case 'VERSION':
        st.version = lx.string();
        break;
      case 'NS_':
        lx.expect(':');
        // A list of keywords, normally indented, one per line. It ends at a name followed by ':'
        // (`BS_:`) or at a name in column 1 that has more on its line (a statement).
        for (;;) {
          const n = lx.peekName();
          if (n === undefined) break;
          const atColumn1 = lx.column() === 1;
          const save = lx.mark();
          lx.name();
          const rest = /^[ \t\r]*(?:\n|$)/.test(lx.src.slice(lx.pos, lx.pos + 64));
          if (lx.peek() === ':' || (atColumn1 && !rest)) {
            lx.reset(save);
            break;
          }
        }
        break;
      case 'BS_':
        lx.expect(':');
        if (lx.isNumberNext() && lx.sameLine()) {
          lx.number();
          lx.expect(':');
          lx.number();
          lx.expect(',');
          lx.number();
        }
        break;
      case 'BU_':
        lx.expect(':');
        st.nodes.push(...readNameList(lx));
        break;
      case 'VAL_TABLE_': {
        const name = lx.name('a value table name');
        st.valueTables.set(name, readChoices(lx));
        lx.expect(';');
        break;
      }
      case 'BO_':
        currentMessage = parseMessage(lx, at.line);
        st.messages.push(currentMessage);
        break;
      case 'SG_':
        if (!currentMessage) {
          lx.pos -= kw.length;
          lx.fail("'BO_' before 'SG_'", at);
        }
        currentMessage.signals.push(parseSignal(lx, at.line));
        break;
      case 'BO_TX_BU_': {
        const id = lx.uint('a message id');
        lx.expect(':');
        const list = st.txSenders.get(id) ?? [];
        list.push(...readNameList(lx, true));
        st.txSenders.set(id, list);
        lx.expect(';');
        break;
      }
      case 'CM_':
        parseComment(lx, st);
        break;
      case 'BA_DEF_':
      case 'BA_DEF_REL_':
        parseAttributeDefinition(lx, st, kw === 'BA_DEF_REL_');
        break;
      case 'BA_DEF_DEF_':
      case 'BA_DEF_DEF_REL_': {
        const name = lx.string('an attribute name');
        const v = readAttributeValue(lx);
        st.defaults.set(name, v);
        lx.expect(';');
        break;
      }
      case 'BA_':
        parseAttribute(lx, st);
        break;
      case 'BA_REL_':
        parseRelationAttribute(lx, st);
        break;
      case 'VAL_': {
        if (lx.isNumberNext()) {
          const id = lx.uint('a message id');
          const sig = lx.name('a signal name');
          st.choices.set(`${id}/${sig}`, readChoices(lx));
        } else {
          const env = lx.name('a message id or environment variable name');
          st.envChoices.set(env, readChoices(lx));
        }
        lx.expect(';');
        break;
      }
      case 'SIG_VALTYPE_': {
        const id = lx.uint('a message id');
        const sig = lx.name('a signal name');
        lx.accept(':');
        const t = lx.uint('a value type (0, 1 or 2)');
        lx.expect(';');
        st.valueTypes.set(`${id}/${sig}`, t);
        break;
      }
      case 'SIG_GROUP_': {
        const id = lx.uint('a message id');
        const name = lx.name('a signal group name');
        const repetitions = lx.uint('a repetition count');
        lx.expect(':');
        const signals: string[] = [];
        while (lx.peek() !== ';' && lx.peekName() !== undefined) {
          signals.push(lx.name());
          lx.accept(',');
        }
        lx.expect(';');
        const list = st.groups.get(id) ?? [];
        list.push({ name, repetitions, signals });
        st.groups.set(id, list);
        break;
      }
      case 'SG_MUL_VAL_': {
        const id = lx.uint('a message id');
        const sig = lx.name('a signal name');
        const mux = lx.name('a multiplexer signal name');
        const ranges: MuxRange[] = [];
        do {
          const min = lx.uint('a multiplexer value');
          lx.expect('-');
          const max = lx.uint('a multiplexer value');
          ranges.push({ min, max });
        } while (lx.accept(','));
        lx.expect(';');
        const key = `${id}/${sig}`;
        const prev = st.muxValues.get(key);
        if (prev && prev.multiplexer === mux) prev.ranges.push(...ranges);
        else st.muxValues.set(key, { multiplexer: mux, ranges });
        break;
      }
      case 'EV_':
        parseEnvVar(lx, st);
        break;
      case 'ENVVAR_DATA_': {
        const name = lx.name('an environment variable name');
        lx.expect(':');
        const size = lx.uint('a data size');
        lx.expect(';');
        st.envData.set(name, size);
        break;
      }
      case 'BU_SG_REL_':
      case 'BU_EV_REL_':
      case 'BU_BO_REL_':
        lx.skipStatement();
        break;
      default:
        if (SKIPPED.has(kw)) {
          lx.skipStatement();
          break;
        }
        lx.pos -= kw.length;
        lx.fail('a DBC keyword', at);
    }
  }
}

/** Names separated by spaces or commas, on the same line or indented continuation lines, not keywords. */
function readNameList(lx: Lexer, untilSemicolon = false): string[] {
  const out: string[] = [];
  for (;;) {
    if (untilSemicolon && lx.peek() === ';') break;
    const n = lx.peekName();
    if (n === undefined || SECTION_KEYWORDS.has(n)) break;
    if (!untilSemicolon && !lx.sameLine() && lx.column() === 1) break;
    out.push(lx.name());
    lx.accept(',');
  }
  return out;
}

function readChoices(lx: Lexer): Map<Key, string> {
  const m = new Map<Key, string>();
  while (lx.isNumberNext()) {
    const k = lx.number('a value');
    const text = lx.string('a value description');
    m.set(keyOf(k), text);
  }
  return m;
}

function parseMessage(lx: Lexer, line: number): RawMessage {
  const dbcId = lx.uint('a message id');
  const name = lx.name('a message name');
  lx.expect(':');
  const length = lx.uint('a message length');
  const sender = lx.sameLine() && lx.peekName() !== undefined && !SECTION_KEYWORDS.has(lx.peekName()!) ? lx.name() : 'Vector__XXX';
  return { dbcId, name, length, sender, signals: [], line };
}

function parseSignal(lx: Lexer, line: number): RawSignal {
  const name = lx.name('a signal name');
  let mux: string | undefined;
  if (lx.peek() !== ':') {
    // Any word is accepted here (cantools does too): `M`, `mN`, `mNM`, and in the wild a bare `m`.
    mux = lx.name("':' or a multiplexer indicator");
  }
  lx.expect(':');
  const startBit = lx.uint('a start bit');
  lx.expect('|');
  const length = lx.uint('a signal length');
  lx.expect('@');
  let byteOrder: ByteOrder;
  const o = lx.peek();
  if (o === '0') byteOrder = 'big_endian';
  else if (o === '1') byteOrder = 'little_endian';
  else lx.fail('byte order 0 or 1');
  lx.pos++;
  const sign = lx.src[lx.pos];
  if (sign !== '+' && sign !== '-') lx.fail("'+' or '-'");
  lx.pos++;
  lx.expect('(');
  const factor = lx.number('a factor').value;
  lx.expect(',');
  const offset = lx.number('an offset').value;
  lx.expect(')');
  lx.expect('[');
  const minimum = lx.number('a minimum').value;
  lx.expect('|');
  const maximum = lx.number('a maximum').value;
  lx.expect(']');
  const unit = lx.string('a unit string');
  const receivers = readNameList(lx);
  return {
    name,
    mux,
    startBit,
    length,
    byteOrder,
    signed: sign === '-',
    factor,
    offset,
    minimum,
    maximum,
    unit,
    receivers: receivers.filter((r) => r !== 'Vector__XXX'),
    line,
  };
}

function parseComment(lx: Lexer, st: State): void {
  const c = st.comments;
  if (lx.peek() === '"') {
    c.global = lx.string();
  } else {
    const at = lx.where();
    const kind = lx.peekName();
    if (kind === 'BU_') {
      lx.name();
      const n = lx.name('a node name');
      c.node.set(n, lx.string('a comment string'));
    } else if (kind === 'BO_') {
      lx.name();
      const id = lx.uint('a message id');
      c.message.set(id, lx.string('a comment string'));
    } else if (kind === 'SG_') {
      lx.name();
      const id = lx.uint('a message id');
      if (lx.peek() === '"') {
        // Seen in opendbc files: a signal comment without the signal name.
        lx.string();
        st.warnings.push(`${at.line}: CM_ SG_ ${id} without a signal name ignored`);
      } else {
        const sig = lx.name('a signal name');
        c.signal.set(`${id}/${sig}`, lx.string('a comment string'));
      }
    } else if (kind === 'EV_') {
      lx.name();
      const n = lx.name('an environment variable name');
      c.env.set(n, lx.string('a comment string'));
    } else if (lx.isNumberNext()) {
      // `CM_ 145 "..."`: a message comment without BO_ (seen in opendbc).
      const id = lx.uint('a message id');
      c.message.set(id, lx.string('a comment string'));
      st.warnings.push(`${at.line}: CM_ without object type read as a message comment`);
    } else {
      lx.fail("a comment string or BU_, BO_, SG_, EV_");
    }
  }
  lx.expect(';');
}

function parseValueType(lx: Lexer): AttributeValueType {
  const kind = lx.name('an attribute type (INT, HEX, FLOAT, STRING, ENUM)');
  switch (kind) {
    case 'INT':
    case 'HEX':
    case 'FLOAT': {
      // Bounds are optional in some files.
      let min = 0;
      let max = 0;
      if (lx.isNumberNext()) {
        min = lx.number('a minimum').value;
        max = lx.number('a maximum').value;
      }
      return { kind, min, max };
    }
    case 'STRING':
      return { kind };
    case 'ENUM': {
      const values: string[] = [];
      if (lx.peek() === '"') {
        do values.push(lx.string('an enum value'));
        while (lx.accept(',') && lx.peek() === '"');
      }
      return { kind, values };
    }
    default:
      lx.pos -= kind.length;
      return lx.fail('an attribute type (INT, HEX, FLOAT, STRING, ENUM)');
  }
}

function parseAttributeDefinition(lx: Lexer, st: State, relation: boolean): void {
  let objectType: AttributeObjectType = '';
  const k = lx.peekName();
  if (k !== undefined) {
    if (relation ? REL_TYPES.has(k) : OBJECT_TYPES.has(k)) {
      objectType = k as AttributeObjectType;
      lx.name();
    } else lx.fail(relation ? "'BU_SG_REL_', 'BU_BO_REL_', 'BU_EV_REL_' or an attribute name" : "'BU_', 'BO_', 'SG_', 'EV_' or an attribute name");
  }
  const name = lx.string('an attribute name');
  const type = parseValueType(lx);
  lx.expect(';');
  st.defs.set(name, { objectType, type, relation });
}

function readAttributeValue(lx: Lexer): AttributeValue {
  if (lx.peek() === '"') return lx.string();
  const n = lx.number('an attribute value');
  return n.big !== undefined ? Number(n.big) : n.value;
}

function setAttr<K>(map: Map<K, Map<string, AttributeValue>>, key: K, name: string, v: AttributeValue): void {
  let m = map.get(key);
  if (!m) map.set(key, (m = new Map()));
  m.set(name, v);
}

function parseAttribute(lx: Lexer, st: State): void {
  const name = lx.string('an attribute name');
  const k = lx.peekName();
  if (k === 'BU_') {
    lx.name();
    const n = lx.name('a node name');
    setAttr(st.nodeAttrs, n, name, readAttributeValue(lx));
  } else if (k === 'BO_') {
    lx.name();
    const id = lx.uint('a message id');
    setAttr(st.messageAttrs, id, name, readAttributeValue(lx));
  } else if (k === 'SG_') {
    lx.name();
    const id = lx.uint('a message id');
    const sig = lx.name('a signal name');
    setAttr(st.signalAttrs, `${id}/${sig}`, name, readAttributeValue(lx));
  } else if (k === 'EV_') {
    lx.name();
    const n = lx.name('an environment variable name');
    setAttr(st.envAttrs, n, name, readAttributeValue(lx));
  } else if (k !== undefined && !lx.isNumberNext()) {
    lx.fail("'BU_', 'BO_', 'SG_', 'EV_' or an attribute value");
  } else {
    st.globalAttrs.set(name, readAttributeValue(lx));
  }
  lx.expect(';');
}

function parseRelationAttribute(lx: Lexer, st: State): void {
  const name = lx.string('an attribute name');
  const rel = lx.name("'BU_SG_REL_', 'BU_BO_REL_' or 'BU_EV_REL_'");
  if (!REL_TYPES.has(rel)) {
    lx.pos -= rel.length;
    lx.fail("'BU_SG_REL_', 'BU_BO_REL_' or 'BU_EV_REL_'");
  }
  const node = lx.name('a node name');
  const attr: { -readonly [K in keyof DbcRelationAttribute]: DbcRelationAttribute[K] } = {
    name,
    relation: rel as DbcRelationAttribute['relation'],
    node,
    value: 0,
  };
  if (rel === 'BU_SG_REL_') {
    lx.keyword('SG_');
    attr.messageId = lx.uint('a message id');
    attr.signal = lx.name('a signal name');
  } else if (rel === 'BU_BO_REL_') {
    attr.messageId = lx.uint('a message id');
  } else {
    attr.envVar = lx.name('an environment variable name');
  }
  attr.value = readAttributeValue(lx);
  lx.expect(';');
  st.relAttrs.push(attr);
}

function parseEnvVar(lx: Lexer, st: State): void {
  const name = lx.name('an environment variable name');
  lx.expect(':');
  const varType = lx.uint('an environment variable type');
  lx.expect('[');
  const minimum = lx.number('a minimum').value;
  lx.expect('|');
  const maximum = lx.number('a maximum').value;
  lx.expect(']');
  const unit = lx.string('a unit string');
  const initial = lx.number('an initial value').value;
  const id = lx.number('an environment variable id').value;
  const accessType = lx.name('an access type');
  const accessNodes: string[] = [];
  while (lx.peek() !== ';' && lx.peekName() !== undefined) {
    accessNodes.push(lx.name());
    if (!lx.accept(',')) break;
  }
  lx.expect(';');
  st.envVars.push({ name, varType, minimum, maximum, unit, initial, id, accessType, accessNodes });
}

// ---------------------------------------------------------------------------------------------
// Model

/** Bit positions in "big-endian stream" order: bit p is byte p>>3, bit 7-(p&7) of that byte. */
export function msbStreamPosition(startBit: number): number {
  return 8 * (startBit >> 3) + (7 - (startBit & 7));
}

/** True when every bit of the signal lies inside a payload of `lengthBytes` bytes. */
export function signalFits(sig: { startBit: number; length: number; byteOrder: ByteOrder }, lengthBytes: number): boolean {
  if (sig.byteOrder === 'little_endian') return sig.startBit + sig.length <= lengthBytes * 8;
  return msbStreamPosition(sig.startBit) + sig.length <= lengthBytes * 8;
}

function enumText(st: State, name: string, v: AttributeValue | undefined): AttributeValue | undefined {
  const def = st.defs.get(name);
  if (v === undefined || def === undefined || def.type.kind !== 'ENUM' || typeof v !== 'number') return v;
  return def.type.values[v] ?? v;
}

function build(st: State, file: string): DbcDatabase {
  const warnings = st.warnings.map((w) => `${file}:${w}`);
  const nodeName = (n: string): string => {
    const long = st.nodeAttrs.get(n)?.get('SystemNodeLongSymbol');
    return typeof long === 'string' && long !== '' ? long : n;
  };

  const messages: DbcMessage[] = [];
  const seen = new Map<string, number>();
  for (const rm of st.messages) {
    if (rm.name === 'VECTOR__INDEPENDENT_SIG_MSG') continue;
    const extended = rm.dbcId >= 0x80000000;
    const id = extended ? rm.dbcId - 0x80000000 : rm.dbcId;
    const mAttrs = st.messageAttrs.get(rm.dbcId) ?? new Map<string, AttributeValue>();
    const where = `${file}:${rm.line}`;
    if (!extended && id > 0x7ff) warnings.push(`${where}: message ${rm.name}: standard id 0x${id.toString(16)} has more than 11 bits`);
    if (extended && id > 0x1fffffff) warnings.push(`${where}: message ${rm.name}: extended id 0x${id.toString(16)} has more than 29 bits`);

    const frameFormat = enumText(st, 'VFrameFormat', mAttrs.get('VFrameFormat') ?? st.defaults.get('VFrameFormat'));
    const fd = (typeof frameFormat === 'string' && frameFormat.endsWith('CAN_FD')) || rm.length > 8;
    const cycleRaw = mAttrs.has('GenMsgCycleTime')
      ? mAttrs.get('GenMsgCycleTime')
      : st.defs.has('GenMsgCycleTime')
        ? st.defaults.get('GenMsgCycleTime')
        : undefined;
    const cycleTimeMs = typeof cycleRaw === 'number' && cycleRaw > 0 ? cycleRaw : undefined;
    const longName = mAttrs.get('SystemMessageLongSymbol');
    const name = typeof longName === 'string' && longName !== '' ? longName : rm.name;

    const senders: string[] = [];
    for (const s of [rm.sender, ...(st.txSenders.get(rm.dbcId) ?? [])]) {
      const n = nodeName(s);
      if (n !== 'Vector__XXX' && !senders.includes(n)) senders.push(n);
    }

    const signals = buildSignals(st, rm, warnings, file, nodeName);
    const msg: DbcMessage = {
      id,
      extended,
      name,
      length: rm.length,
      fd,
      senders,
      ...(cycleTimeMs !== undefined ? { cycleTimeMs } : {}),
      ...(st.comments.message.has(rm.dbcId) ? { comment: st.comments.message.get(rm.dbcId) } : {}),
      attributes: mAttrs,
      signals,
      signalGroups: st.groups.get(rm.dbcId) ?? [],
    };
    const key = `${extended ? 'x' : 's'}${id}`;
    const prev = seen.get(key);
    if (prev !== undefined) {
      warnings.push(`${where}: message ${name} redefines id 0x${id.toString(16)} (${messages[prev].name}); the later one is used`);
      messages[prev] = msg;
    } else {
      seen.set(key, messages.length);
      messages.push(msg);
    }
  }

  const nodes: DbcNode[] = st.nodes.map((n) => ({
    name: nodeName(n),
    ...(st.comments.node.has(n) ? { comment: st.comments.node.get(n) } : {}),
    attributes: st.nodeAttrs.get(n) ?? new Map(),
  }));

  const attributeDefinitions = new Map<string, DbcAttributeDefinition>();
  for (const [name, d] of st.defs) {
    attributeDefinitions.set(name, { name, ...d, ...(st.defaults.has(name) ? { default: st.defaults.get(name) } : {}) });
  }

  const environmentVariables: DbcEnvironmentVariable[] = st.envVars.map((e) => ({
    ...e,
    ...(st.comments.env.has(e.name) ? { comment: st.comments.env.get(e.name) } : {}),
    ...(st.envData.has(e.name) ? { dataSize: st.envData.get(e.name) } : {}),
    ...(st.envChoices.has(e.name) ? { choices: st.envChoices.get(e.name) } : {}),
  }));

  danglingReferences(st, file, warnings);

  return {
    file,
    version: st.version,
    nodes,
    messages,
    valueTables: st.valueTables,
    attributeDefinitions,
    attributes: st.globalAttrs,
    relationAttributes: st.relAttrs,
    environmentVariables,
    ...(st.comments.global !== undefined ? { comment: st.comments.global } : {}),
    warnings,
  };
}

function buildSignals(
  st: State,
  rm: RawMessage,
  warnings: string[],
  file: string,
  nodeName: (n: string) => string,
): DbcSignal[] {
  // Multiplexing as cantools reads it: with exactly one `M`/`mNM` signal, every `mN` signal
  // depends on it; with several, each dependency comes from SG_MUL_VAL_.
  const muxNames = rm.signals.filter((s) => s.mux !== undefined && s.mux.endsWith('M')).map((s) => s.name);
  const single = muxNames.length === 1 ? muxNames[0] : undefined;

  interface Draft {
    raw: RawSignal;
    sig: { -readonly [K in keyof DbcSignal]: DbcSignal[K] };
    ok: boolean;
  }
  const drafts: Draft[] = [];
  const byName = new Map<string, Draft>();
  for (const rs of rm.signals) {
    const key = `${rm.dbcId}/${rs.name}`;
    const sAttrs = st.signalAttrs.get(key) ?? new Map<string, AttributeValue>();
    const vt = st.valueTypes.get(key) ?? 0;
    let valueType: SignalValueType = vt === 1 ? 'float32' : vt === 2 ? 'float64' : 'integer';
    let ok = true;
    const at = `${file}:${rs.line}`;
    if (rs.length < 1 || rs.length > 64) {
      warnings.push(`${at}: signal ${rm.name}.${rs.name}: length ${rs.length} is not 1..64; left out`);
      ok = false;
    } else if (!signalFits(rs, rm.length)) {
      warnings.push(`${at}: signal ${rm.name}.${rs.name} does not fit the ${rm.length}-byte message; left out`);
      ok = false;
    }
    if (valueType === 'float32' && rs.length !== 32) {
      warnings.push(`${at}: signal ${rm.name}.${rs.name}: float32 needs 32 bits, has ${rs.length}; decoded as an integer`);
      valueType = 'integer';
    } else if (valueType === 'float64' && rs.length !== 64) {
      warnings.push(`${at}: signal ${rm.name}.${rs.name}: float64 needs 64 bits, has ${rs.length}; decoded as an integer`);
      valueType = 'integer';
    }
    const longName = sAttrs.get('SystemSignalLongSymbol');
    const name = typeof longName === 'string' && longName !== '' ? longName : rs.name;
    const initialAttr = sAttrs.get('GenSigStartValue');
    let initial: number | bigint | undefined;
    if (typeof initialAttr === 'number' && Number.isFinite(initialAttr)) {
      initial = Number.isSafeInteger(initialAttr) ? initialAttr : Number.isInteger(initialAttr) ? BigInt(initialAttr) : initialAttr;
    }
    const choices = st.choices.get(key);
    const comment = st.comments.signal.get(key);

    let multiplexerSignal: string | undefined;
    let multiplexerValues: MuxRange[] | undefined;
    const mulVal = st.muxValues.get(key);
    if (rs.mux !== undefined && rs.mux !== 'M') {
      if (single !== undefined) {
        if (rs.name !== single) {
          multiplexerSignal = single;
          const ranges: MuxRange[] = [];
          const n = /^m(\d+)$/.exec(rs.mux);
          if (n) ranges.push({ min: Number(n[1]), max: Number(n[1]) });
          if (mulVal && mulVal.multiplexer === single) ranges.push(...mulVal.ranges);
          multiplexerValues = ranges;
        }
      } else if (mulVal) {
        multiplexerSignal = mulVal.multiplexer;
        multiplexerValues = [...mulVal.ranges];
      }
    } else if (rs.mux === 'M' && single === undefined && mulVal) {
      // An `M` signal that SG_MUL_VAL_ places under another multiplexer (cascaded).
      multiplexerSignal = mulVal.multiplexer;
      multiplexerValues = [...mulVal.ranges];
    }
    if (multiplexerValues !== undefined && multiplexerValues.length === 0) {
      multiplexerSignal = undefined;
      multiplexerValues = undefined;
    }

    const sig: Draft['sig'] = {
      name,
      startBit: rs.startBit,
      length: rs.length,
      byteOrder: rs.byteOrder,
      signed: rs.signed,
      valueType,
      factor: rs.factor,
      offset: rs.offset,
      integerScale: Number.isInteger(rs.factor) && Number.isInteger(rs.offset),
      minimum: rs.minimum,
      maximum: rs.maximum,
      unit: rs.unit,
      receivers: rs.receivers.map(nodeName),
      isMultiplexer: rs.mux !== undefined && rs.mux.endsWith('M'),
      attributes: sAttrs,
    };
    if (comment !== undefined) sig.comment = comment;
    if (initial !== undefined) sig.initial = initial;
    if (choices !== undefined && choices.size > 0) sig.choices = choices;
    if (multiplexerSignal !== undefined) {
      sig.multiplexerSignal = multiplexerSignal;
      sig.multiplexerValues = multiplexerValues;
    }
    const d: Draft = { raw: rs, sig, ok };
    if (byName.has(rs.name)) {
      warnings.push(`${at}: signal ${rm.name}.${rs.name} defined twice; the second is left out`);
      continue;
    }
    drafts.push(d);
    byName.set(rs.name, d);
  }

  // Resolve multiplexer references (by the DBC name) and drop what cannot be decided.
  let changed = true;
  while (changed) {
    changed = false;
    for (const d of drafts) {
      if (!d.ok || d.sig.multiplexerSignal === undefined) continue;
      const m = byName.get(d.sig.multiplexerSignal);
      let why: string | undefined;
      if (!m) why = `its multiplexer ${d.sig.multiplexerSignal} does not exist`;
      else if (!m.ok) why = `its multiplexer ${d.sig.multiplexerSignal} was left out`;
      else if (m === d) why = 'it multiplexes itself';
      else if (reachesSelf(d, byName)) why = 'its multiplexers form a cycle';
      else if (muxDepth(d, byName) > MAX_MUX_DEPTH) why = `its multiplexer chain is deeper than ${MAX_MUX_DEPTH} levels`;
      if (why !== undefined) {
        warnings.push(`${file}:${d.raw.line}: signal ${rm.name}.${d.raw.name}: ${why}; left out`);
        d.ok = false;
        changed = true;
      }
    }
  }
  for (const d of drafts) {
    if (d.ok && d.sig.multiplexerSignal !== undefined) {
      const m = byName.get(d.sig.multiplexerSignal)!;
      d.sig.multiplexerSignal = m.sig.name;
      if (!m.sig.isMultiplexer) {
        // As cantools 43: a multiplexer not marked `M` (vw_pq's bare `m`) selects nothing, so the
        // signals under it are never decoded.
        warnings.push(
          `${file}:${d.raw.line}: signal ${rm.name}.${d.raw.name}: its multiplexer ${m.sig.name} is not marked M; never decoded`,
        );
      }
    }
  }
  return drafts.filter((d) => d.ok).map((d) => d.sig);
}

/**
 * Cascaded multiplexers nest at most this deep (real DBCs use 2-3 levels). The decoder is
 * generated code with one nested block per level: ~2,000 SG_MUL_VAL_ levels overflowed the stack
 * (issue #12, finding 2), so deeper signals are left out with a warning.
 */
export const MAX_MUX_DEPTH = 16;

/** Levels above `d` (1 = directly under a top-level multiplexer); stops counting past MAX_MUX_DEPTH. */
function muxDepth(
  d: { sig: { multiplexerSignal?: string } },
  byName: Map<string, { sig: { multiplexerSignal?: string } }>,
): number {
  let depth = 0;
  let cur = d.sig.multiplexerSignal;
  while (cur !== undefined && depth <= MAX_MUX_DEPTH) {
    depth++;
    cur = byName.get(cur)?.sig.multiplexerSignal;
  }
  return depth;
}

function reachesSelf(
  d: { raw: RawSignal; sig: { multiplexerSignal?: string } },
  byName: Map<string, { raw: RawSignal; sig: { multiplexerSignal?: string } }>,
): boolean {
  let cur = d.sig.multiplexerSignal;
  for (let i = 0; i <= byName.size && cur !== undefined; i++) {
    const m = byName.get(cur);
    if (!m) return false;
    if (m === d) return true;
    cur = m.sig.multiplexerSignal;
  }
  return cur !== undefined;
}

/** Warns about statements that name a message or signal the file does not define (they are ignored). */
function danglingReferences(st: State, file: string, warnings: string[]): void {
  const known = new Set<string>();
  const ids = new Set<number>();
  for (const m of st.messages) {
    ids.add(m.dbcId);
    for (const sg of m.signals) known.add(`${m.dbcId}/${sg.name}`);
  }
  const check = (what: string, keys: Iterable<string>): void => {
    let n = 0;
    let first = '';
    for (const k of keys) {
      if (!known.has(k)) {
        if (n === 0) first = k;
        n++;
      }
    }
    if (n > 0) warnings.push(`${file}: ${n} ${what} name${n === 1 ? 's' : ''} an unknown message or signal (first: ${first.replace('/', ' ')}); ignored`);
  };
  check('SIG_VALTYPE_', st.valueTypes.keys());
  check('SG_MUL_VAL_', st.muxValues.keys());
  check('VAL_', st.choices.keys());
  for (const [k, t] of st.valueTypes) {
    if (t !== 0 && t !== 1 && t !== 2) warnings.push(`${file}: SIG_VALTYPE_ ${k.replace('/', ' ')} : ${t} is not 0, 1 or 2; read as an integer signal`);
  }
}
