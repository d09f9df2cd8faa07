/**
 * The decoder manifest: which fully qualified signal name comes from where.
 *
 * ```yaml
 * dbc:                       # CAN interface -> DBC file (relative to the manifest file)
 *   can0: ../dbc/toyota_nodsu_pt.dbc
 * signals:
 *   - name: Vehicle.Speed    # FleetWise-style fully qualified name
 *     type: float64          # bool, uint8..uint64, int8..int64, float32, float64, string
 *     can: { interface: can0, message: SPEED, signal: SPEED }   # message: DBC name or numeric id
 *   - name: Vehicle.OBD.EngineSpeed
 *     type: float64
 *     obd: { service: 1, pid: 0x0C }                              # OBD-II PID (service 01)
 * ```
 *
 * Signal ids are the positions in `signals` (0, 1, 2, ...): the campaign engine, the batches and
 * the routes all use them, so nothing is looked up by name on the hot path.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as z from 'zod';
import { EdgewiseError } from '../errors.js';
import type { CanFrame, SampleSink, SignalType } from '../types.js';
import { loadDbcFile } from '../dbc/index.js';
import { DECODE_SHORT, compileDatabase, pgnOf, type CompiledMessage, type DecodeOutput, type DecoderTable } from '../decode/index.js';
import { closestNames, formatPath, parseSourceText, zodProblems, type Problem, type SourceDocument } from '../documents/index.js';

export const SIGNAL_TYPES = [
  'bool',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'int8',
  'int16',
  'int32',
  'int64',
  'float32',
  'float64',
  'string',
] as const satisfies readonly SignalType[];

const canSource = z.strictObject({
  /** Interface name as frames carry it (`can0`); must have an entry in `dbc`. */
  interface: z.string().min(1, 'must not be empty'),
  /** DBC message name, or its numeric id (e.g. 0xB4 / 180). */
  message: z.union([z.string().min(1, 'must not be empty'), z.number().int().min(0)]),
  /** Signal name inside the DBC message. */
  signal: z.string().min(1, 'must not be empty'),
});

const hexOrInt = (max: number) =>
  z.union([z.number().int().min(0).max(max), z.string().regex(/^(0x)?[0-9a-fA-F]{1,4}$/, 'must be hex like "0C" or 0x0C')]).transform((v) =>
    typeof v === 'number' ? v : parseInt(v.replace(/^0x/i, ''), 16),
  );

const obdSource = z.strictObject({
  /** OBD-II service (mode); 1 = current data. */
  service: z.number().int().min(1).max(255).default(1),
  /** PID; a string is read as hex ("0C"), a number as given (0x0C / 12). */
  pid: hexOrInt(0xffff),
  /** CAN interface the OBD requests go out on (default: the daemon's OBD interface). */
  interface: z.string().min(1).optional(),
});

const manifestSignal = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(150)
      .regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, 'must be dot-separated parts of letters, digits and _ (e.g. Vehicle.Speed)'),
    type: z.enum(SIGNAL_TYPES),
    description: z.string().optional(),
    unit: z.string().optional(),
    can: canSource.optional(),
    obd: obdSource.optional(),
  })
  .superRefine((s, ctx) => {
    const n = Number(s.can !== undefined) + Number(s.obd !== undefined);
    if (n !== 1) ctx.addIssue({ code: 'custom', message: `must have exactly one source, "can" or "obd" (found ${n})` });
  });

const manifestSchema = z
  .strictObject({
    /** Free-form; echoed in logs so a fleet operator can tell manifests apart. */
    version: z.union([z.string(), z.number()]).optional(),
    description: z.string().optional(),
    dbc: z.record(z.string().min(1), z.string().min(1, 'must be a DBC file path')).default({}),
    signals: z.array(manifestSignal).min(1, 'must list at least one signal'),
  })
  .superRefine((m, ctx) => {
    const seen = new Map<string, number>();
    m.signals.forEach((s, i) => {
      const prev = seen.get(s.name);
      if (prev !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['signals', i, 'name'], message: `duplicate signal name "${s.name}" (also signals[${prev}])` });
      } else seen.set(s.name, i);
      if (s.can && m.dbc[s.can.interface] === undefined) {
        const known = Object.keys(m.dbc);
        ctx.addIssue({
          code: 'custom',
          path: ['signals', i, 'can', 'interface'],
          message: `interface "${s.can.interface}" has no DBC file in "dbc"${known.length ? ` (known: ${known.join(', ')})` : ''}`,
        });
      }
    });
  });

export type ManifestInput = z.input<typeof manifestSchema>;
type ManifestSignalOutput = z.output<typeof manifestSignal>;

/** One manifest signal; `id` is its position in `Manifest.signals`. */
export interface ManifestSignal extends ManifestSignalOutput {
  id: number;
}

export interface Manifest {
  /** The file it was loaded from, when any. */
  file?: string;
  version?: string | number;
  description?: string;
  /** Interface -> absolute DBC path (resolved relative to the manifest file). */
  dbc: Record<string, string>;
  signals: ManifestSignal[];
  /** Name -> signal id. */
  byName: ReadonlyMap<string, number>;
}

function problemsError(code: 'MANIFEST_INVALID', problems: Problem[], file?: string): EdgewiseError {
  const first = problems[0];
  return new EdgewiseError(code, problems.map((p) => `${p.path || '(document)'}: ${p.message}`).join('; '), {
    file,
    line: first?.line,
    column: first?.column,
    path: first?.path,
    reason: first?.message,
    problems,
  });
}

/**
 * Validates a manifest (JSON/YAML text or a parsed object). DBC paths are resolved against
 * `baseDir` (default: the directory of `file`, else the working directory).
 * Throws EdgewiseError MANIFEST_INVALID with the JSON path (and file:line:col for text).
 */
export function parseManifest(input: string | unknown, file?: string, baseDir?: string): Manifest {
  let source: SourceDocument | undefined;
  let value: unknown = input;
  if (typeof input === 'string') {
    source = parseSourceText(input, 'MANIFEST_INVALID', file);
    value = source.value;
  }
  const r = manifestSchema.safeParse(value);
  if (!r.success) throw problemsError('MANIFEST_INVALID', zodProblems(r.error, source), file);
  const base = baseDir ?? (file ? dirname(resolve(file)) : process.cwd());
  const dbc: Record<string, string> = {};
  for (const [iface, p] of Object.entries(r.data.dbc)) dbc[iface] = resolve(base, p);
  // Built field by field, not with `{ ...s, id }`: V8 gives nearly every spread copy a hidden class
  // of its own (1,513 for 1,520 signals, ~0.3 MB the daemon keeps for its lifetime); this way all
  // signals share one.
  const signals: ManifestSignal[] = r.data.signals.map((s, id) => ({
    name: s.name,
    type: s.type,
    description: s.description,
    unit: s.unit,
    can: s.can,
    obd: s.obd,
    id,
  }));
  return {
    file,
    version: r.data.version,
    description: r.data.description,
    dbc,
    signals,
    byName: new Map(signals.map((s) => [s.name, s.id])),
  };
}

/** Reads and validates a manifest file (`.json`, `.yaml`, `.yml`). */
export async function loadManifest(path: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new EdgewiseError('IO', `cannot read manifest ${path}: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return parseManifest(text, path);
}

/**
 * `dbcFor` for `bindManifest`: loads and compiles each interface's DBC file of the manifest once.
 * `onWarning` receives the DBC parser's warnings.
 */
export function manifestDecoders(manifest: Manifest, onWarning?: (text: string) => void): (iface: string) => DecoderTable {
  const cache = new Map<string, DecoderTable>();
  return (iface) => {
    const file = manifest.dbc[iface];
    if (file === undefined) {
      throw new EdgewiseError('MANIFEST_INVALID', `interface "${iface}" has no DBC file in the manifest`, { file: manifest.file });
    }
    let t = cache.get(file);
    if (!t) {
      if (!existsSync(file)) {
        throw new EdgewiseError('IO', `cannot read DBC file ${file} (dbc.${iface} of ${manifest.file ?? 'the manifest'})`, {
          path: file,
        });
      }
      const db = loadDbcFile(file);
      for (const w of db.warnings) onWarning?.(`${file}: ${w}`);
      t = compileDatabase(db);
      cache.set(file, t);
    }
    return t;
  };
}

/** Everything needed to turn one received CAN message into manifest samples. */
export interface CanRoute {
  readonly iface: string;
  readonly id: number;
  readonly extended: boolean;
  readonly decoder: CompiledMessage;
  /** Reused decode buffers of this route. */
  readonly out: DecodeOutput;
  /** Decoder signal indexes (into `decoder.signals`) ... */
  readonly signalIndexes: Int32Array;
  /** ... and the manifest signal id each one feeds, position by position. */
  readonly signalIds: Int32Array;
  /** Per position: 1 when the manifest type is `bool` (value delivered as 0/1 -> boolean). */
  readonly boolean: Uint8Array;
}

export interface ManifestBinding {
  readonly routes: readonly CanRoute[];
  /** Signals served by OBD-II polling instead of the CAN routes. */
  readonly obdSignals: readonly ManifestSignal[];
  /** The route of a received message, or undefined when no wanted signal is in it. */
  route(iface: string, id: number, extended: boolean): CanRoute | undefined;
  /**
   * Decodes `frame` if a route exists and hands each present routed signal to `sink`.
   * Returns the number of samples delivered (0 for unrouted frames, short frames and mux misses).
   */
  dispatch(frame: CanFrame, sink: SampleSink): number;
  /** Routed frames that could not be decoded (too short for the DBC message). */
  readonly stats: { decodeErrors: number };
}

export interface BindOptions {
  /** Compiled DBC of a manifest interface. */
  dbcFor(iface: string): DecoderTable;
  /** Only route signals for which this returns true (e.g. `engine.isWanted`). Default: all. */
  wanted?: (signalId: number) => boolean;
}

const EXTENDED_KEY = 0x20000000;

function findMessage(table: DecoderTable, ref: string | number): CompiledMessage | undefined {
  if (typeof ref === 'number') return table.messages.find((m) => m.message.id === ref);
  return table.messages.find((m) => m.message.name === ref);
}

/**
 * Resolves every CAN signal of the manifest against its interface's DBC once, grouped by
 * (interface, id, extended). Throws MANIFEST_INVALID naming the manifest path and the closest
 * DBC names when a message or signal does not exist.
 */
export function bindManifest(manifest: Manifest, opts: BindOptions): ManifestBinding {
  type Acc = { iface: string; decoder: CompiledMessage; idx: number[]; ids: number[]; bools: number[] };
  const byKey = new Map<string, Acc>();
  const tables = new Map<string, DecoderTable>();
  const obdSignals: ManifestSignal[] = [];
  const problems: Problem[] = [];
  for (const s of manifest.signals) {
    if (s.obd) {
      if (!opts.wanted || opts.wanted(s.id)) obdSignals.push(s);
      continue;
    }
    const can = s.can!;
    let table = tables.get(can.interface);
    if (!table) {
      table = opts.dbcFor(can.interface);
      tables.set(can.interface, table);
    }
    const path = formatPath(['signals', s.id, 'can']);
    const msg = findMessage(table, can.message);
    if (!msg) {
      const names = table.messages.map((m) => m.message.name);
      problems.push({
        path: `${path}.message`,
        message: `message ${JSON.stringify(can.message)} is not in ${manifest.dbc[can.interface]}${typeof can.message === 'string' ? `; closest: ${closestNames(can.message, names).join(', ')}` : ''}`,
        severity: 'error',
      });
      continue;
    }
    const sigIdx = msg.signals.findIndex((x) => x.name === can.signal);
    if (sigIdx < 0) {
      problems.push({
        path: `${path}.signal`,
        message: `signal "${can.signal}" is not in message ${msg.message.name}; closest: ${closestNames(can.signal, msg.signals.map((x) => x.name)).join(', ')}`,
        severity: 'error',
      });
      continue;
    }
    if (opts.wanted && !opts.wanted(s.id)) continue;
    const key = `${can.interface}\u0000${msg.message.extended ? 'x' : 's'}${msg.message.id}`;
    let acc = byKey.get(key);
    if (!acc) {
      acc = { iface: can.interface, decoder: msg, idx: [], ids: [], bools: [] };
      byKey.set(key, acc);
    }
    acc.idx.push(sigIdx);
    acc.ids.push(s.id);
    acc.bools.push(s.type === 'bool' ? 1 : 0);
  }
  if (problems.length > 0) throw problemsError('MANIFEST_INVALID', problems, manifest.file);

  const routes: CanRoute[] = [];
  const perIface = new Map<string, Map<number, CanRoute>>();
  // J1939 parameter groups by PGN, per interface: consulted only when an extended id misses.
  const perIfacePgn = new Map<string, Map<number, CanRoute>>();
  for (const acc of byKey.values()) {
    const m = acc.decoder.message;
    const r: CanRoute = {
      iface: acc.iface,
      id: m.id,
      extended: m.extended,
      decoder: acc.decoder,
      out: acc.decoder.createOutput(),
      signalIndexes: Int32Array.from(acc.idx),
      signalIds: Int32Array.from(acc.ids),
      boolean: Uint8Array.from(acc.bools),
    };
    routes.push(r);
    let map = perIface.get(acc.iface);
    if (!map) {
      map = new Map();
      perIface.set(acc.iface, map);
    }
    map.set(m.extended ? m.id + EXTENDED_KEY : m.id, r);
    const pgn = acc.decoder.pgn;
    if (pgn !== undefined) {
      let pm = perIfacePgn.get(acc.iface);
      if (!pm) {
        pm = new Map();
        perIfacePgn.set(acc.iface, pm);
      }
      if (!pm.has(pgn)) pm.set(pgn, r);
    }
  }
  const stats = { decodeErrors: 0 };
  const route = (iface: string, id: number, extended: boolean): CanRoute | undefined => {
    const r = perIface.get(iface)?.get(extended ? id + EXTENDED_KEY : id);
    if (r !== undefined || !extended || perIfacePgn.size === 0) return r;
    return perIfacePgn.get(iface)?.get(pgnOf(id));
  };
  return {
    routes,
    obdSignals,
    stats,
    route,
    dispatch(frame, sink) {
      if (frame.error || frame.remote) return 0;
      const r = route(frame.iface, frame.id, frame.extended);
      if (!r) return 0;
      const out = r.out;
      // DECODE_MUX only concerns multiplexed signals (left not `present`); DECODE_SHORT is an error.
      if (r.decoder.decode(frame.data, out) === DECODE_SHORT) {
        stats.decodeErrors++;
        return 0;
      }
      let n = 0;
      const idx = r.signalIndexes;
      for (let k = 0; k < idx.length; k++) {
        const i = idx[k];
        if (out.present[i] !== 1) continue;
        const big = out.big[i];
        const v = big !== undefined ? big : out.values[i];
        sink(r.signalIds[k], frame.timeMs, r.boolean[k] === 1 ? v !== 0 && v !== 0n : v);
        n++;
      }
      return n;
    },
  };
}

/** Name part made of the characters a manifest name allows. */
function namePart(s: string): string {
  const p = s.replace(/[^A-Za-z0-9_]/g, '_');
  return p === '' ? '_' : p;
}

/** A DBC to start a manifest from. */
export interface ManifestSeed {
  iface: string;
  /** Path written into the manifest's `dbc` map (as given, e.g. relative to the manifest). */
  path: string;
  /** The DBC's messages (e.g. `compileDatabase(db).messages`). */
  messages: readonly CompiledMessage[];
}

/**
 * A starting manifest listing every decodable signal of the given DBCs as
 * `<prefix>.<Message>.<Signal>` with the type the decoder produces (`typeOf`, e.g. `signalType`).
 * A name already taken (same message on two interfaces) gets `_<iface>` appended.
 */
export function manifestFromDbc(
  seeds: readonly ManifestSeed[],
  typeOf: (sig: CompiledMessage['signals'][number]) => SignalType,
  prefix = 'Vehicle',
): ManifestInput {
  const dbc: Record<string, string> = {};
  const signals: ManifestInput['signals'] = [];
  const taken = new Set<string>();
  const pre = prefix.split('.').filter(Boolean).map(namePart).join('.');
  for (const seed of seeds) {
    dbc[seed.iface] = seed.path;
    for (const m of seed.messages) {
      for (const sig of m.signals) {
        let name = [pre, namePart(m.message.name), namePart(sig.name)].filter(Boolean).join('.');
        if (taken.has(name)) name = `${name}_${namePart(seed.iface)}`;
        taken.add(name);
        signals.push({
          name,
          type: typeOf(sig),
          ...(sig.unit ? { unit: sig.unit } : {}),
          can: { interface: seed.iface, message: m.message.name, signal: sig.name },
        });
      }
    }
  }
  return { dbc, signals };
}
