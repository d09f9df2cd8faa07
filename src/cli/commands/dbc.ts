/** `edgewise dbc show`: what a DBC file defines, as a readable table or as JSON. */
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { EdgewiseError } from '../../errors.js';
import { loadDbcFile } from '../../dbc/index.js';
import type { DbcDatabase, DbcMessage, DbcSignal, MuxRange } from '../../dbc/index.js';
import { formatCandumpId } from '../../sources/index.js';
import { table } from './decode.js';

function ranges(rs: readonly MuxRange[] | undefined): string {
  return (rs ?? []).map((r) => (r.min === r.max ? String(r.min) : `${r.min}-${r.max}`)).join(',');
}

/** `M` multiplexer, `m3` multiplexed by the message's multiplexer, `m1-3,5 by X` with several. */
function muxText(s: DbcSignal, msg: DbcMessage): string {
  const parts: string[] = [];
  if (s.multiplexerSignal !== undefined) {
    const muxes = msg.signals.filter((x) => x.isMultiplexer);
    const sole = muxes.length === 1 && muxes[0].name === s.multiplexerSignal;
    parts.push(`m${ranges(s.multiplexerValues)}${sole ? '' : ` (${s.multiplexerSignal})`}`);
  }
  if (s.isMultiplexer) parts.push('M');
  return parts.join(' ');
}

function typeText(s: DbcSignal): string {
  if (s.valueType !== 'integer') return s.valueType;
  return s.signed ? 'signed' : 'unsigned';
}

const num = String;

function messageId(m: DbcMessage): string {
  return '0x' + formatCandumpId({ id: m.id, extended: m.extended, error: false });
}

export function dbcText(db: DbcDatabase, file: string): string {
  const out: string[] = [];
  const nSignals = db.messages.reduce((a, m) => a + m.signals.length, 0);
  out.push(`${file}: ${db.messages.length} messages, ${nSignals} signals, ${db.nodes.length} nodes${db.version ? `, version "${db.version}"` : ''}`);
  out.push('');
  out.push(
    ...table(
      ['id', 'name', 'length', 'format', 'cycle', 'senders', 'signals'],
      db.messages.map((m) => [
        messageId(m) + (m.extended ? ' (ext)' : ''),
        m.name,
        String(m.length),
        m.fd ? 'CAN FD' : 'CAN',
        m.cycleTimeMs !== undefined ? `${m.cycleTimeMs} ms` : '-',
        m.senders.join(',') || '-',
        String(m.signals.length),
      ]),
      [false, false, true, false, true, false, true],
    ),
  );
  for (const m of db.messages) {
    out.push('');
    const cycle = m.cycleTimeMs !== undefined ? `, every ${m.cycleTimeMs} ms` : '';
    out.push(`${messageId(m)} ${m.name}: ${m.length} bytes${m.fd ? ' CAN FD' : ''}${m.extended ? ', extended id' : ''}${cycle}, from ${m.senders.join(',') || '-'}`);
    if (m.comment) out.push(`  ${m.comment.replace(/\s*\n\s*/g, ' ')}`);
    if (m.signals.length === 0) continue;
    const rows = m.signals.map((s) => [
      s.name,
      String(s.startBit),
      String(s.length),
      s.byteOrder === 'little_endian' ? 'intel' : 'motorola',
      typeText(s),
      num(s.factor),
      num(s.offset),
      num(s.minimum),
      num(s.maximum),
      s.unit || '-',
      muxText(s, m) || '-',
      s.choices ? String(s.choices.size) : '-',
    ]);
    out.push(
      ...table(
        ['signal', 'start', 'len', 'order', 'type', 'factor', 'offset', 'min', 'max', 'unit', 'mux', 'choices'],
        rows,
        [false, true, true, false, false, true, true, true, true, false, false, true],
      ).map((l) => '  ' + l),
    );
  }
  return out.join('\n') + '\n';
}

function choicesJson(c: ReadonlyMap<number | bigint, string> | undefined): Record<string, string> | undefined {
  if (c === undefined) return undefined;
  const o: Record<string, string> = {};
  for (const [k, v] of c) o[String(k)] = v;
  return o;
}

/** JSON-safe number: infinities and NaN as strings (as everywhere in edgewise's JSON). */
function jnum(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

export function dbcJson(db: DbcDatabase): unknown {
  return {
    file: db.file,
    version: db.version,
    nodes: db.nodes.map((n) => n.name),
    messages: db.messages.map((m) => ({
      id: m.id,
      idHex: messageId(m),
      extended: m.extended,
      name: m.name,
      length: m.length,
      fd: m.fd,
      cycleTimeMs: m.cycleTimeMs ?? null,
      senders: m.senders,
      comment: m.comment ?? null,
      signals: m.signals.map((s) => ({
        name: s.name,
        startBit: s.startBit,
        length: s.length,
        byteOrder: s.byteOrder,
        signed: s.signed,
        valueType: s.valueType,
        factor: jnum(s.factor),
        offset: jnum(s.offset),
        minimum: jnum(s.minimum),
        maximum: jnum(s.maximum),
        unit: s.unit,
        receivers: s.receivers,
        comment: s.comment ?? null,
        isMultiplexer: s.isMultiplexer,
        multiplexerSignal: s.multiplexerSignal ?? null,
        multiplexerValues: s.multiplexerValues ?? null,
        choices: choicesJson(s.choices) ?? null,
      })),
    })),
    warnings: db.warnings,
  };
}

export function register(program: Command): void {
  const dbc = program.command('dbc').description('Inspect DBC files');
  dbc
    .command('show')
    .description('List the messages and signals a DBC file defines')
    .argument('<file>', 'DBC file')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action((file: string, opts: { format: 'text' | 'json' }) => {
      if (!existsSync(file)) throw new EdgewiseError('IO', `cannot read DBC file ${file}: no such file`, { path: file });
      const db = loadDbcFile(file);
      for (const w of db.warnings) process.stderr.write(`edgewise: warning: ${file}: ${w}\n`);
      if (opts.format === 'json') process.stdout.write(JSON.stringify(dbcJson(db), null, 2) + '\n');
      else process.stdout.write(dbcText(db, file));
    });
}
