/**
 * `edgewise batch decode <file|->`: print one batch payload (one MQTT message as stored or
 * published) as JSON rows, one per sample. `edgewise batch info <file|->`: its header and signals.
 */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { EdgewiseError, isEdgewiseError } from '../../errors.js';
import { batchToRows, decodeBatch, type BatchRow, type DecodedBatch } from '../../batches/index.js';

async function readInput(file: string): Promise<Uint8Array> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }
  try {
    return await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new EdgewiseError('IO', `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { path: file });
  }
}

function decodeInput(bytes: Uint8Array, file: string): DecodedBatch {
  try {
    return decodeBatch(bytes);
  } catch (e) {
    if (isEdgewiseError(e)) throw new EdgewiseError(e.code, `${file === '-' ? '<stdin>' : file}: ${e.detail}`, { path: file }, { cause: e });
    throw e;
  }
}

/** A JSON value; bigints as exact integer literals, non-finite floats as strings. */
function jsonValue(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return JSON.stringify(String(v));
  return JSON.stringify(v);
}

function rowJson(r: BatchRow, iso: boolean): string {
  const time = iso ? JSON.stringify(new Date(r.time).toISOString()) : jsonValue(r.time);
  return `{"time":${time},"signal":${JSON.stringify(r.signal)},"value":${jsonValue(r.value)},"campaign":${JSON.stringify(r.campaign)},"vehicle":${JSON.stringify(r.vehicle)},"seq":${r.seq}}`;
}

export function register(program: Command): void {
  const batch = program.command('batch').description('Inspect batch payloads (the protobuf messages edgewise stores and publishes)');

  batch
    .command('decode')
    .description('Print a batch payload as JSON rows, one per sample (DTC codes as signal "@dtc")')
    .argument('<file>', 'file holding one payload (one MQTT message), or - for stdin')
    .addOption(new Option('--format <format>', 'jsonl: one object per line; json: one array').choices(['jsonl', 'json']).default('jsonl'))
    .addOption(
      new Option('--time <time>', 'ms: epoch milliseconds with µs fraction; iso: ISO-8601 UTC (ms precision)').choices(['ms', 'iso']).default('ms'),
    )
    .addHelpText(
      'after',
      '\nRow: {"time","signal","value","campaign","vehicle","seq"}. 64-bit integers beyond 2^53 are printed as exact\n' +
        'integer literals (parse them with a bigint-aware JSON reader); NaN/Infinity as strings.\n' +
        'Exit 1 with one error line when the bytes are not an edgewise batch.',
    )
    .action(async (file: string, opts: { format: 'jsonl' | 'json'; time: 'ms' | 'iso' }) => {
      const decoded = decodeInput(await readInput(file), file);
      const rows = batchToRows(decoded);
      const iso = opts.time === 'iso';
      let out: string;
      if (opts.format === 'json') out = `[${rows.map((r) => rowJson(r, iso)).join(',\n ')}]\n`;
      else out = rows.map((r) => rowJson(r, iso) + '\n').join('');
      process.stdout.write(out);
    });

  batch
    .command('info')
    .description('Print a batch payload\'s header and per-signal sample counts as JSON')
    .argument('<file>', 'file holding one payload, or - for stdin')
    .action(async (file: string) => {
      const bytes = await readInput(file);
      const d = decodeInput(bytes, file);
      const { signals, dtcs, ...header } = d;
      const info = {
        ...header,
        bytes: bytes.length,
        samples: signals.reduce((a, s) => a + s.timesMs.length, 0),
        signals: signals.map((s) => ({ name: s.name, type: s.type, partitionId: s.partitionId, samples: s.timesMs.length })),
        dtcs: dtcs.length,
      };
      process.stdout.write(JSON.stringify(info, null, 2) + '\n');
    });
}
