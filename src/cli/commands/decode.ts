/**
 * `edgewise decode`: decode a candump log with DBC files, as readable text, as JSON lines (one
 * object per frame line, a contract other tools read) or as a summary (`--stats`).
 */
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { EdgewiseError } from '../../errors.js';
import type { CanFrame } from '../../types.js';
import { loadDbcFile } from '../../dbc/index.js';
import type { DbcSignal } from '../../dbc/index.js';
import { compileDatabase, decodeToObject, DECODE_OK, destinationOf, isPdu1, priorityOf, sourceAddressOf } from '../../decode/index.js';
import type { CompiledMessage, DecodeOutput, DecoderTable } from '../../decode/index.js';
import { readCandump, formatCandumpTime, formatCandumpId, hexBytes } from '../../sources/index.js';
import type { CandumpStats } from '../../sources/index.js';

// ---------------------------------------------------------------------------------------------
// DBC bindings: `--dbc file` (all interfaces) and `--dbc iface=file`

interface LoadedDbc {
  file: string;
  table: DecoderTable;
}

/** Finds the message for a frame on one interface: interface-bound DBCs first, then the bare ones. */
export interface DecoderSet {
  resolve(iface: string): (id: number, extended: boolean) => CompiledMessage | undefined;
  /** All compiled messages, each once. */
  messages(): CompiledMessage[];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function warn(text: string): void {
  process.stderr.write(`edgewise: warning: ${text}\n`);
}

/** Parses `--dbc` values, loads and compiles each file once, warns about id clashes. */
export function loadDecoderSet(specs: string[] | undefined): DecoderSet {
  if (specs === undefined || specs.length === 0) throw new EdgewiseError('USAGE', 'at least one --dbc <file> is required');
  const cache = new Map<string, LoadedDbc>();
  const load = (file: string): LoadedDbc => {
    let d = cache.get(file);
    if (d === undefined) {
      if (!existsSync(file)) throw new EdgewiseError('IO', `cannot read DBC file ${file}: no such file`, { path: file });
      const db = loadDbcFile(file);
      for (const w of db.warnings) warn(`${file}: ${w}`);
      d = { file, table: compileDatabase(db) };
      cache.set(file, d);
    }
    return d;
  };
  const bare: LoadedDbc[] = [];
  const bound = new Map<string, LoadedDbc[]>();
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq > 0 && !existsSync(spec)) {
      const iface = spec.slice(0, eq);
      const file = spec.slice(eq + 1);
      if (file === '') throw new EdgewiseError('USAGE', `--dbc ${spec}: missing file after "="`);
      const list = bound.get(iface) ?? [];
      list.push(load(file));
      bound.set(iface, list);
    } else {
      bare.push(load(spec));
    }
  }
  const describe = (m: CompiledMessage): string =>
    `${m.message.name} (${formatCandumpId({ id: m.message.id, extended: m.message.extended, error: false })})`;
  const checkClashes = (list: LoadedDbc[], scope: string): void => {
    const seen = new Map<string, { file: string; msg: CompiledMessage }>();
    for (const d of list) {
      for (const m of d.table.messages) {
        const key = `${m.message.extended ? 'x' : 's'}${m.message.id}`;
        const first = seen.get(key);
        if (first === undefined) seen.set(key, { file: d.file, msg: m });
        else if (first.file !== d.file)
          warn(`${scope}id of ${describe(m)} in ${d.file} is also ${describe(first.msg)} in ${first.file}; using ${first.file}`);
      }
    }
  };
  checkClashes(bare, '');
  for (const [iface, list] of bound) checkClashes(list, `${iface}: `);

  const lookupOf = (tables: DecoderTable[]): ((id: number, extended: boolean) => CompiledMessage | undefined) => {
    if (tables.length === 0) return () => undefined;
    if (tables.length === 1) {
      const t = tables[0];
      return (id, extended) => t.lookup(id, extended);
    }
    return (id, extended) => {
      for (let i = 0; i < tables.length; i++) {
        const m = tables[i].lookup(id, extended);
        if (m !== undefined) return m;
      }
      return undefined;
    };
  };
  const dedupe = (l: LoadedDbc[]): DecoderTable[] => [...new Set(l)].map((d) => d.table);
  const global = lookupOf(dedupe(bare));
  const perIface = new Map<string, ReturnType<typeof lookupOf>>();
  for (const [iface, list] of bound) perIface.set(iface, lookupOf(dedupe([...list, ...bare])));
  return {
    resolve: (iface) => perIface.get(iface) ?? global,
    messages: () => [...new Set([...cache.values()].flatMap((d) => d.table.messages))],
  };
}

// ---------------------------------------------------------------------------------------------
// Value formatting

/** A JSON number (integers as integers, floats shortest round-trip) or one of "NaN"/"Infinity"/"-Infinity". */
export function jsonNumber(v: number): string {
  if (v !== v) return '"NaN"';
  if (v === Infinity) return '"Infinity"';
  if (v === -Infinity) return '"-Infinity"';
  return String(v);
}

function jsonValue(v: number | bigint | string | boolean): string {
  if (typeof v === 'number') return jsonNumber(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return JSON.stringify(v);
  return v ? 'true' : 'false';
}

/** Text form like cantools: a scaled (non-integer-scale) value keeps a `.0`. */
function textValue(v: number | bigint | string | boolean, sig: DbcSignal | undefined): string {
  if (typeof v === 'string') return v;
  let s: string;
  if (typeof v === 'bigint') s = v.toString();
  else if (typeof v === 'boolean') s = String(v);
  else if (v !== v) s = 'nan';
  else if (v === Infinity) s = 'inf';
  else if (v === -Infinity) s = '-inf';
  else {
    s = String(v);
    if (sig !== undefined && (!sig.integerScale || sig.valueType !== 'integer') && Number.isInteger(v) && !s.includes('e')) s += '.0';
  }
  return sig !== undefined && sig.unit !== '' ? `${s} ${sig.unit}` : s;
}

// ---------------------------------------------------------------------------------------------
// Output with back-pressure

/**
 * stdout with back-pressure. A closed pipe (`edgewise decode ... | head`) is not an error: the
 * run stops quietly. One process-wide listener records it (runs may follow each other in tests).
 */
let stdoutBroken = false;
let stdoutWatched = false;
let onStdoutBroken: (() => void) | undefined;

function watchStdout(): void {
  if (stdoutWatched) return;
  stdoutWatched = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (!stdoutBroken && e.code !== 'EPIPE') process.stderr.write(`edgewise: cannot write output: ${e.message}\n`);
    stdoutBroken = true;
    onStdoutBroken?.();
  });
}

function drained(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.stdout.off('drain', done);
      process.stdout.off('close', done);
      process.stdout.off('error', done);
      resolve();
    };
    process.stdout.on('drain', done);
    process.stdout.on('close', done);
    process.stdout.on('error', done);
  });
}

class Output {
  private pending = '';
  add(s: string): void {
    this.pending += s;
  }
  async flush(): Promise<void> {
    const s = this.pending;
    this.pending = '';
    if (s === '' || stdoutBroken) return;
    if (!process.stdout.write(s)) await drained();
  }
}

// ---------------------------------------------------------------------------------------------
// Per-message state

interface MsgState {
  cm: CompiledMessage;
  out: DecodeOutput;
  /** `"status":"ok","message":"X","signals":{` */
  okHead: string;
  /** `"status":"error","message":"X","signals":null,"error":` */
  errHead: string;
  /** `"Signal":` per signal */
  keys: string[];
  byName: Map<string, DbcSignal>;
  frames: number;
  count: Float64Array;
  min: Float64Array;
  max: Float64Array;
  sum: Float64Array;
}

function newState(cm: CompiledMessage): MsgState {
  const n = cm.signals.length;
  const name = JSON.stringify(cm.message.name);
  return {
    cm,
    out: cm.createOutput(),
    okHead: `"status":"ok","message":${name},"signals":{`,
    errHead: `"status":"error","message":${name},"signals":null,"error":`,
    keys: cm.signals.map((s) => JSON.stringify(s.name) + ':'),
    byName: new Map(cm.signals.map((s) => [s.name, s])),
    frames: 0,
    count: new Float64Array(n),
    min: new Float64Array(n).fill(Infinity),
    max: new Float64Array(n).fill(-Infinity),
    sum: new Float64Array(n),
  };
}

interface DecodeOptions {
  dbc?: string[];
  choices?: boolean;
  format: 'text' | 'jsonl' | 'json';
  stats?: boolean;
}

export async function runDecode(log: string, opts: DecodeOptions): Promise<void> {
  const set = loadDecoderSet(opts.dbc);
  const logName = log === '-' ? '<stdin>' : log;
  if (log !== '-' && !existsSync(log)) throw new EdgewiseError('IO', `cannot read ${log}: no such file`, { path: log });
  const mode = opts.stats ? 'stats' : opts.format === 'text' ? 'text' : 'jsonl';
  const choices = opts.choices === true;
  const output = new Output();
  const ac = new AbortController();
  watchStdout();
  onStdoutBroken = () => ac.abort();

  const states = new Map<CompiledMessage, MsgState>();
  const stateOf = (cm: CompiledMessage): MsgState => {
    let s = states.get(cm);
    if (s === undefined) {
      s = newState(cm);
      states.set(cm, s);
    }
    return s;
  };
  let ok = 0;
  let unknown = 0;
  let errors = 0;
  const unknownIds = new Map<string, number>();

  let lastIface = '';
  let lookup = set.resolve('');
  let lastCm: CompiledMessage | undefined;
  let lastState: MsgState | undefined;
  const find = (f: CanFrame): MsgState | undefined => {
    if (f.iface !== lastIface) {
      lastIface = f.iface;
      lookup = set.resolve(f.iface);
    }
    const cm = lookup(f.id, f.extended);
    if (cm === undefined) return undefined;
    if (cm !== lastCm) {
      lastCm = cm;
      lastState = stateOf(cm);
    }
    return lastState;
  };

  const countUnknown = (f: CanFrame): void => {
    unknown++;
    if (mode !== 'stats') return;
    const key = f.error ? 'error frame' : `${formatCandumpId(f)}${f.extended ? ' (extended)' : ''}`;
    unknownIds.set(key, (unknownIds.get(key) ?? 0) + 1);
  };

  let onFrame: (f: CanFrame, line: number) => void;
  if (mode === 'jsonl') {
    onFrame = (f, line) => {
      let s = '{"line":' + line + ',"id":' + f.id + ',"extended":' + (f.extended ? 'true,' : 'false,');
      const st = f.error ? undefined : find(f);
      if (st === undefined) {
        countUnknown(f);
        s += '"status":"unknown","message":null,"signals":null';
        if (f.remote) s += ',"remote":true';
        if (f.error) s += ',"errorFrame":true';
        output.add(s + '}\n');
        return;
      }
      // J1939 parameter groups: who sent it (and to whom, PDU1), as the id carries it.
      if (st.cm.pgn !== undefined && f.extended) {
        s += '"pgn":' + st.cm.pgn + ',"priority":' + priorityOf(f.id) + ',"sourceAddress":' + sourceAddressOf(f.id);
        if (isPdu1(f.id)) s += ',"destinationAddress":' + destinationOf(f.id);
        s += ',';
      }
      if (f.remote) {
        ok++;
        output.add(s + st.okHead + '},"remote":true}\n');
        return;
      }
      if (choices) {
        const r = decodeToObject(st.cm, f.data, { choices: true });
        if (r.status !== 'ok' || r.signals === null) {
          errors++;
          output.add(s + st.errHead + JSON.stringify(r.error ?? 'decode error') + '}\n');
          return;
        }
        ok++;
        s += st.okHead;
        let first = true;
        for (const k in r.signals) {
          s += (first ? '' : ',') + JSON.stringify(k) + ':' + jsonValue(r.signals[k]);
          first = false;
        }
        output.add(s + '}}\n');
        return;
      }
      const out = st.out;
      const status = st.cm.decode(f.data, out);
      if (status !== DECODE_OK) {
        errors++;
        output.add(s + st.errHead + JSON.stringify(out.error) + '}\n');
        return;
      }
      ok++;
      s += st.okHead;
      const keys = st.keys;
      const values = out.values;
      const present = out.present;
      const big = out.big;
      let first = true;
      for (let i = 0; i < keys.length; i++) {
        if (present[i] === 0) continue;
        const b = big[i];
        s += (first ? keys[i] : ',' + keys[i]) + (b !== undefined ? b.toString() : jsonNumber(values[i]));
        first = false;
      }
      output.add(s + '}}\n');
    };
  } else if (mode === 'text') {
    onFrame = (f) => {
      let s = ` (${formatCandumpTime(f.timeMs)}) ${f.iface} ${formatCandumpId(f)} `;
      s += f.remote ? `[${f.data.length}] remote request` : `[${f.data.length}] ${hexBytes(f.data, ' ')}`;
      const st = f.error ? undefined : find(f);
      if (st === undefined) {
        countUnknown(f);
        output.add(s + (f.error ? ' :: error frame\n' : ` :: Unknown frame id ${f.id} (0x${f.id.toString(16)})\n`));
        return;
      }
      // J1939: the PGN's sender (and PDU1 destination), e.g. "PGN 61444 SA 0x17".
      if (st.cm.pgn !== undefined && f.extended) {
        s += ` :: PGN ${st.cm.pgn} SA 0x${hex2(sourceAddressOf(f.id))}`;
        if (isPdu1(f.id)) s += ` DA 0x${hex2(destinationOf(f.id))}`;
      }
      if (f.remote) {
        ok++;
        output.add(`${s} :: ${st.cm.message.name} (remote request)\n`);
        return;
      }
      const r = decodeToObject(st.cm, f.data, { choices });
      if (r.status !== 'ok' || r.signals === null) {
        errors++;
        output.add(`${s} :: ${st.cm.message.name}: ${r.error ?? 'decode error'}\n`);
        return;
      }
      ok++;
      const parts: string[] = [];
      for (const k in r.signals) parts.push(`${k}: ${textValue(r.signals[k], st.byName.get(k))}`);
      output.add(`${s} :: ${st.cm.message.name}(${parts.join(', ')})\n`);
    };
  } else {
    onFrame = (f) => {
      const st = f.error ? undefined : find(f);
      if (st === undefined) {
        countUnknown(f);
        return;
      }
      st.frames++;
      if (f.remote) {
        ok++;
        return;
      }
      const out = st.out;
      if (st.cm.decode(f.data, out) !== DECODE_OK) {
        errors++;
        return;
      }
      ok++;
      const present = out.present;
      const values = out.values;
      for (let i = 0; i < present.length; i++) {
        if (present[i] === 0) continue;
        const v = values[i];
        st.count[i]++;
        if (v - v === 0) {
          if (v < st.min[i]) st.min[i] = v;
          if (v > st.max[i]) st.max[i] = v;
          st.sum[i] += v;
        }
      }
    };
  }

  let stats: CandumpStats;
  try {
    stats = await readCandump(log, onFrame, {
      signal: ac.signal,
      maxBadSamples: 20,
      onBadLine: (line, _text, reason) => {
        if (mode !== 'stats') process.stderr.write(`${logName}:${line}: ${reason}\n`);
      },
      afterChunk: () => output.flush(),
    });
  } finally {
    onStdoutBroken = undefined;
  }
  if (stdoutBroken) return;

  if (mode === 'stats') {
    output.add(opts.format === 'text' ? statsText() : statsJson());
    await output.flush();
  }
  if (stats.badLines > 0) {
    if (mode === 'stats') for (const b of stats.firstBadLines) process.stderr.write(`${logName}:${b.line}: ${b.reason}\n`);
    process.stderr.write(`edgewise: ${stats.badLines} bad line${stats.badLines === 1 ? '' : 's'} in ${logName} skipped\n`);
  }
  if (stats.inputError !== undefined) {
    process.stderr.write(`edgewise: ${stats.inputError}\n`);
    process.exitCode = 1;
  }

  function signalRows(): { key: string; count: number; min: number; max: number; sum: number }[] {
    const rows = new Map<string, { key: string; count: number; min: number; max: number; sum: number }>();
    for (const st of states.values()) {
      st.cm.signals.forEach((sig, i) => {
        if (st.count[i] === 0) return;
        const key = `${st.cm.message.name}.${sig.name}`;
        const r = rows.get(key);
        if (r === undefined) rows.set(key, { key, count: st.count[i], min: st.min[i], max: st.max[i], sum: st.sum[i] });
        else {
          r.count += st.count[i];
          r.min = Math.min(r.min, st.min[i]);
          r.max = Math.max(r.max, st.max[i]);
          r.sum += st.sum[i];
        }
      });
    }
    return [...rows.values()];
  }

  function statsJson(): string {
    const frames = ok + unknown + errors;
    const finite = (v: number): string => (Number.isFinite(v) ? String(v) : 'null');
    const sig = signalRows()
      .map((r) => `${JSON.stringify(r.key)}:{"count":${r.count},"min":${finite(r.min)},"max":${finite(r.max)},"sum":${jsonNumber(r.sum)}}`)
      .join(',');
    const messages = [...states.values()]
      .filter((s) => s.frames > 0)
      .map((s) => `${JSON.stringify(s.cm.message.name)}:${s.frames}`)
      .join(',');
    const unk = [...unknownIds].map(([k, n]) => `${JSON.stringify(k)}:${n}`).join(',');
    return (
      `{"frames":${frames},"ok":${ok},"unknown":${unknown},"errors":${errors},"badLines":${stats.badLines},` +
      `"signals":{${sig}},"messages":{${messages}},"unknownIds":{${unk}}}\n`
    );
  }

  function statsText(): string {
    const frames = ok + unknown + errors;
    const lines: string[] = [];
    lines.push(`${logName}: ${frames} frames: ${ok} ok, ${unknown} unknown, ${errors} errors; ${stats.badLines} bad line${stats.badLines === 1 ? '' : 's'}`);
    const msgs = [...states.values()].filter((s) => s.frames > 0).sort((a, b) => b.frames - a.frames);
    if (msgs.length > 0) {
      lines.push('');
      lines.push(
        ...table(
          ['message', 'id', 'frames'],
          msgs.map((s) => [
            s.cm.message.name,
            formatCandumpId({ id: s.cm.message.id, extended: s.cm.message.extended, error: false }),
            String(s.frames),
          ]),
          [false, false, true],
        ),
      );
    }
    if (unknownIds.size > 0) {
      lines.push('');
      lines.push(...table(['unknown id', 'frames'], [...unknownIds].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, String(n)]), [false, true]));
    }
    const rows = signalRows();
    if (rows.length > 0) {
      lines.push('');
      const num = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(10))) : '-');
      lines.push(
        ...table(
          ['signal', 'count', 'min', 'max', 'mean'],
          rows.map((r) => [r.key, String(r.count), num(r.min), num(r.max), num(r.sum / r.count)]),
          [false, true, true, true, true],
        ),
      );
    }
    return lines.join('\n') + '\n';
  }
}

/** A plain text table: columns padded to their widest cell, right-aligned where asked. */
export function table(header: string[], rows: string[][], right: boolean[] = []): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => (right[c] ? cell.padStart(widths[c]) : c === cells.length - 1 ? cell : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

export function register(program: Command): void {
  program
    .command('decode')
    .description('Decode a candump log (-L/-l files, plain or gzip, or - for stdin) with DBC files')
    .argument('<log>', 'candump log file (plain or .gz); - reads stdin')
    .option('--dbc <[iface=]file>', 'DBC file for all interfaces, or iface=file for one interface (repeatable)', collect)
    .option('--choices', 'print value-table texts instead of raw numbers where the DBC has them')
    .addOption(
      new Option('--format <format>', 'text (readable), jsonl (one JSON object per frame line) or json (with --stats)')
        .choices(['text', 'jsonl', 'json'])
        .default('text'),
    )
    .option('--stats', 'print a summary (frames, per-message counts, min/max/sum per signal) instead of the frames')
    .addHelpText(
      'after',
      `
jsonl: one object per frame line, in order:
  {"line":1,"id":180,"extended":false,"status":"ok","message":"SPEED","signals":{"SPEED":12.5}}
  status is ok | unknown | error ("error" adds an "error" text); bad log lines are reported on stderr.
Examples:
  edgewise decode --dbc car.dbc candump.log.gz
  edgewise decode --dbc can0=powertrain.dbc --dbc can1=body.dbc --format jsonl - < candump.log
  edgewise decode --dbc car.dbc --stats --format json candump.log`,
    )
    .action(async (log: string, opts: DecodeOptions) => {
      await runDecode(log, opts);
    });
}

function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}
