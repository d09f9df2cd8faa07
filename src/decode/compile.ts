import type { DbcDatabase, DbcMessage, DbcSignal, MuxRange } from '../dbc/index.js';
import { bitSpans, type BitSpan } from './bits.js';
import { isJ1939Message, pgnOf } from './j1939.js';
import { DECODE_MUX, DECODE_OK, DECODE_SHORT, type CompiledMessage, type DecodeOutput, type DecoderTable } from './types.js';

/*
 * Each message is compiled once into a JavaScript function (new Function) that extracts every
 * signal with unrolled byte/shift/mask expressions, applies sign, IEEE float reinterpretation and
 * scaling, and evaluates multiplexing with constant conditions. Per frame it allocates nothing
 * (BigInt only when an exact integer result exceeds 2^53; strings only for error messages).
 *
 * Numeric semantics follow cantools 43 (Python): an integer signal whose factor and offset are
 * whole numbers gives the exact integer raw*factor+offset; otherwise the raw value is converted to
 * a double (correctly rounded, as Python's int -> float) and raw*factor+offset is computed in
 * doubles. Float signals: the IEEE value, then raw*factor+offset unless factor 1 and offset 0.
 */

const TWO32 = 4294967296;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// Scratch views for float reinterpretation (the platform's byte order decides which word is high).
const scratch = new ArrayBuffer(8);
const u32 = new Uint32Array(scratch);
const f32 = new Float32Array(scratch);
const f64 = new Float64Array(scratch);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO_WORD = LITTLE ? 0 : 1;
const HI_WORD = LITTLE ? 1 : 0;

/** Exact physical value of an integer-scaled signal whose result may exceed 2^53 (slow path). */
function bigPhysical(out: DecodeOutput, i: number, hi: number, lo: number, factor: bigint, offset: bigint): number {
  const raw = BigInt(hi) * 4294967296n + BigInt(lo);
  const p = raw * factor + offset;
  const n = Number(p);
  out.big[i] = p > 9007199254740992n || p < -9007199254740992n ? p : undefined;
  out.values[i] = n;
  return n;
}

function spanExpr(s: BitSpan, base: number): string {
  let e = `d[${s.byte}]`;
  if (s.lo > 0) e = `(${e} >> ${s.lo})`;
  if (s.lo + s.n < 8) e = `(${e} & ${(1 << s.n) - 1})`;
  const shift = s.pos - base;
  if (shift > 0) e = `(${e} << ${shift})`;
  return e;
}

/** Expression for value bits [from, to) (to - from <= 32) as an int32 (bitwise OR of spans). */
function wordExpr(sig: DbcSignal, from: number, to: number): string {
  const spans = bitSpans(sig, from, to);
  return spans.map((s) => spanExpr(s, 0)).join(' | ') || '0';
}

function num(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Object.is(x, -0)) return '-0';
  return String(x);
}

function dedupe(ranges: readonly MuxRange[]): MuxRange[] {
  const seen = new Set<string>();
  return ranges.filter((r) => {
    const k = `${r.min}-${r.max}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function rangeCond(v: string, ranges: readonly MuxRange[]): string {
  const parts = ranges.map((r) => (r.min === r.max ? `${v} === ${r.min}` : `(${v} >= ${r.min} && ${v} <= ${r.max})`));
  return parts.length === 0 ? 'false' : parts.join(' || ');
}

interface Gen {
  lines: string[];
  consts: unknown[];
  constNames: string[];
}

function addConst(g: Gen, value: unknown): string {
  const name = `K${g.consts.length}`;
  g.consts.push(value);
  g.constNames.push(name);
  return name;
}

/**
 * Emits code that leaves the raw value in `r` (a double; exact up to 2^53) and, for signals
 * longer than 32 bits, the high word in `h` and the unsigned low word in `l`.
 */
function emitRaw(g: Gen, sig: DbcSignal): void {
  const L = sig.length;
  const out = g.lines;
  if (sig.valueType === 'float32') {
    out.push(`u32[0] = ${wordExpr(sig, 0, 32)}; r = f32[0];`);
    return;
  }
  if (sig.valueType === 'float64') {
    out.push(`u32[${LO_WORD}] = ${wordExpr(sig, 0, 32)}; u32[${HI_WORD}] = ${wordExpr(sig, 32, 64)}; r = f64[0];`);
    return;
  }
  if (L <= 32) {
    const w = wordExpr(sig, 0, L);
    if (sig.signed) {
      const s = 32 - L;
      out.push(s === 0 ? `r = (${w}) | 0;` : `r = ((${w}) << ${s}) >> ${s};`);
    } else {
      out.push(L === 32 ? `r = (${w}) >>> 0;` : `r = ${w};`);
    }
    return;
  }
  const hiLen = L - 32;
  out.push(`l = (${wordExpr(sig, 0, 32)}) >>> 0;`);
  const hw = wordExpr(sig, 32, L);
  if (sig.signed) {
    const s = 32 - hiLen;
    out.push(s === 0 ? `h = (${hw}) | 0;` : `h = ((${hw}) << ${s}) >> ${s};`);
  } else {
    out.push(hiLen === 32 ? `h = (${hw}) >>> 0;` : `h = ${hw};`);
  }
  out.push(`r = h * ${TWO32} + l;`);
}

/** Largest |raw| an integer signal can have. */
function maxAbsRaw(sig: DbcSignal): number {
  return sig.signed ? 2 ** (sig.length - 1) : 2 ** sig.length - 1;
}

/** Whether an integer-scaled signal can produce a physical value beyond the exact double range. */
function mayExceedSafe(sig: DbcSignal): boolean {
  return maxAbsRaw(sig) * Math.abs(sig.factor) + Math.abs(sig.offset) >= MAX_SAFE;
}

/** Emits code that stores the physical value of signal `i` and leaves it in `x`. */
function emitPhysical(g: Gen, sig: DbcSignal, i: number): void {
  const out = g.lines;
  const F = sig.factor;
  const O = sig.offset;
  const identity = F === 1 && O === 0;
  if (sig.valueType !== 'integer') {
    out.push(identity ? `x = r;` : `x = r * ${num(F)} + ${num(O)};`);
    out.push(`v[${i}] = x;`);
    return;
  }
  if (!sig.integerScale) {
    // Double arithmetic; `r` is the correctly rounded raw value even beyond 2^53.
    out.push(`x = r * ${num(F)} + ${num(O)};`, `v[${i}] = x;`);
    return;
  }
  if (!mayExceedSafe(sig)) {
    out.push(identity ? `x = r;` : `x = r * ${num(F)} + ${num(O)};`, `v[${i}] = x;`);
    return;
  }
  // Exact integers: fast path while every intermediate stays below 2^53, else bigint.
  const fb = addConst(g, BigInt(F));
  const ob = addConst(g, BigInt(O));
  const rawExact = sig.length <= 53 ? 'true' : `(h >= -2097152 && h < 2097152)`;
  if (sig.length <= 32) {
    // For <=32-bit signals (h, l) describe r: r = h * 2^32 + l.
    out.push(`h = r < 0 ? Math.floor(r / ${TWO32}) : 0; l = r - h * ${TWO32};`);
  }
  out.push(
    `t = r * ${num(F)}; x = t + ${num(O)};`,
    `if (${rawExact} && t > -${MAX_SAFE} && t < ${MAX_SAFE} && x > -${MAX_SAFE} && x < ${MAX_SAFE}) { v[${i}] = x; b[${i}] = undefined; }`,
    `else x = bigPhysical(out, ${i}, h, l, ${fb}, ${ob});`,
  );
}

class MessageCompiler {
  readonly signals: DbcSignal[];
  private readonly index = new Map<string, number>();
  private readonly children = new Map<string, DbcSignal[]>();
  readonly g: Gen = { lines: [], consts: [], constNames: [] };

  constructor(readonly message: DbcMessage) {
    this.signals = [...message.signals];
    this.signals.forEach((s, i) => this.index.set(s.name, i));
    for (const s of this.signals) {
      if (s.multiplexerSignal === undefined) continue;
      const list = this.children.get(s.multiplexerSignal) ?? [];
      list.push(s);
      this.children.set(s.multiplexerSignal, list);
    }
  }

  compile(): (data: Uint8Array, out: DecodeOutput) => number {
    const g = this.g;
    const L = this.message.length;
    const lines = g.lines;
    lines.push(`const v = out.values, p = out.present, b = out.big;`);
    lines.push(`let r = 0, h = 0, l = 0, t = 0, x = 0;`);
    lines.push(
      `if (d.length < ${L}) { out.error = 'wrong data size: ' + d.length + ' instead of ${L} bytes'; p.fill(0); return ${DECODE_SHORT}; }`,
    );
    const muxed = this.signals.map((s, i) => (s.multiplexerSignal !== undefined ? i : -1)).filter((i) => i >= 0);
    if (muxed.length > 0) lines.push(muxed.map((i) => `p[${i}] = 0;`).join(' '));
    for (const s of this.signals) {
      if (s.multiplexerSignal === undefined) this.emitSignal(s, 0);
    }
    lines.push(`out.error = ''; return ${DECODE_OK};`);
    const body = lines.join('\n');
    const factory = new Function(
      'u32',
      'f32',
      'f64',
      'bigPhysical',
      ...g.constNames,
      `"use strict";\nreturn function decode(d, out) {\n${body}\n};`,
    ) as (...args: unknown[]) => (data: Uint8Array, out: DecodeOutput) => number;
    return factory(u32, f32, f64, bigPhysical, ...g.consts);
  }

  private emitSignal(s: DbcSignal, depth: number): void {
    const i = this.index.get(s.name)!;
    const lines = this.g.lines;
    emitRaw(this.g, s);
    emitPhysical(this.g, s, i);
    lines.push(`p[${i}] = 1;`);
    // As cantools: only a signal marked `M`/`mNM` selects children. vw_pq's Motor_2 marks its
    // multiplexer with a bare `m`, so the signals under it are never decoded (never present).
    const kids = s.isMultiplexer ? this.children.get(s.name) : undefined;
    if (!kids || kids.length === 0) return;
    // Multiplexer value: the integer part of the scaled value.
    const m = `m${depth}_${i}`;
    const raw = `q${depth}_${i}`;
    lines.push(`const ${m} = Math.trunc(x), ${raw} = r;`);
    const all: MuxRange[] = [];
    for (const k of kids) all.push(...(k.multiplexerValues ?? []));
    // Group children by identical value sets to test each set once.
    const groups = new Map<string, { ranges: readonly MuxRange[]; sigs: DbcSignal[] }>();
    for (const k of kids) {
      const key = JSON.stringify(k.multiplexerValues ?? []);
      const grp = groups.get(key) ?? { ranges: k.multiplexerValues ?? [], sigs: [] };
      grp.sigs.push(k);
      groups.set(key, grp);
    }
    for (const grp of groups.values()) {
      lines.push(`if (${rangeCond(m, dedupe(grp.ranges))}) {`);
      for (const k of grp.sigs) this.emitSignal(k, depth + 1);
      lines.push(`}`);
    }
    // A value no child uses is an error unless the multiplexer's value table lists it (raw value).
    let listed = '';
    if (s.choices && s.choices.size > 0) {
      const keys = new Set<number>();
      for (const k of s.choices.keys()) if (typeof k === 'number') keys.add(k);
      listed = ` && !${addConst(this.g, keys)}.has(${raw})`;
    }
    lines.push(
      `if (!(${rangeCond(m, dedupe(all))})${listed}) { out.error = 'no signals for multiplexer value ' + ${m}; return ${DECODE_MUX}; }`,
    );
  }
}

class Compiled implements CompiledMessage {
  readonly decode: (data: Uint8Array, out: DecodeOutput) => number;
  readonly signals: readonly DbcSignal[];
  /** Generated source, for debugging. */
  readonly source: string;
  readonly pgn?: number;

  constructor(
    readonly message: DbcMessage,
    db?: DbcDatabase,
  ) {
    if (isJ1939Message(message, db)) this.pgn = pgnOf(message.id);
    const c = new MessageCompiler(message);
    this.decode = c.compile();
    this.signals = c.signals;
    this.source = this.decode.toString();
  }

  createOutput(): DecodeOutput {
    const n = this.signals.length;
    return {
      values: new Float64Array(n),
      big: new Array<bigint | undefined>(n).fill(undefined),
      present: new Uint8Array(n),
      error: '',
    };
  }
}

/** Compiles one message; without its database, only `VFrameFormat` J1939PG marks a J1939 PG. */
export function compileMessage(message: DbcMessage): CompiledMessage {
  return new Compiled(message);
}

class Table implements DecoderTable {
  private readonly standard: (CompiledMessage | undefined)[] = new Array(2048).fill(undefined);
  private readonly extended = new Map<number, CompiledMessage>();
  /** J1939 parameter groups by PGN: consulted only when an extended id misses the exact map. */
  private readonly byPgn = new Map<number, CompiledMessage>();
  private readonly hasPgn: boolean;

  constructor(readonly messages: readonly CompiledMessage[]) {
    for (const m of messages) {
      if (m.pgn !== undefined && !this.byPgn.has(m.pgn)) this.byPgn.set(m.pgn, m);
      if (m.message.extended) this.extended.set(m.message.id, m);
      else if (m.message.id < 2048) this.standard[m.message.id] = m;
      else this.extended.set(-1 - m.message.id, m); // out-of-range standard id: still findable
    }
    this.hasPgn = this.byPgn.size > 0;
  }

  lookup(id: number, extended: boolean): CompiledMessage | undefined {
    if (extended) {
      const m = this.extended.get(id);
      // J1939: any source address, priority and (PDU1) destination of the same PGN.
      return m !== undefined || !this.hasPgn ? m : this.byPgn.get(pgnOf(id));
    }
    return id >= 0 && id < 2048 ? this.standard[id] : this.extended.get(-1 - id);
  }
}

export function compileDatabase(db: DbcDatabase): DecoderTable {
  return new Table(db.messages.map((m) => new Compiled(m, db)));
}
