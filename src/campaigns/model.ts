/**
 * Campaign documents: the zod schema, parsing (JSON or YAML) and the pure helpers around it.
 *
 * The document follows AWS IoT FleetWise's `CreateCampaign` request so that an existing FleetWise
 * campaign JSON loads unchanged. Cloud-only fields (`signalCatalogArn`, `targetArn`,
 * `dataDestinationConfigs`, `tags`, `dataExtraDimensions`, `signalsToFetch`) are accepted and
 * dropped with a warning. edgewise adds `version` and the `BROTLI` compression.
 *
 * Normalisation done here, once, so no consumer has to care:
 * - `startTime` / `expiryTime` become ms since the epoch (input: epoch seconds or ISO 8601 string);
 * - every optional field gets its default (see each field);
 * - `collectionScheme` holds exactly one of `timeBasedCollectionScheme` / `conditionBasedCollectionScheme`.
 *
 * FleetWise lower bounds that only protect AWS's cloud (e.g. `periodMs >= 10000`) are not enforced;
 * going below them yields a warning.
 */
import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { EdgewiseError, isEdgewiseError } from '../errors.js';
import { compileExpression, parseExpression, type ExprNode } from './expression/index.js';
import { closestNames, formatPath, parsePath, parseSourceText, zodProblems, type Problem, type SourceDocument } from '../documents/index.js';

/** Latest representable FleetWise expiry: 9999-12-31T00:00:00Z in ms. */
export const MAX_EXPIRY_MS = 253402214400000;
/** FleetWise's cloud refuses `periodMs` below this; edgewise only warns. */
export const FLEETWISE_MIN_PERIOD_MS = 10000;
/** FleetWise compiler default for a signal without `maxSampleCount`. */
export const DEFAULT_MAX_SAMPLE_COUNT = 1000;
/** Partition id used when a signal names none. */
export const DEFAULT_PARTITION_ID = 'default';

const U32 = 4294967295;

const nonNegInt = (max = U32) => z.number().int('must be an integer').min(0, 'must be >= 0').max(max, `must be <= ${max}`);

/** Epoch seconds (number, fractional allowed) or an ISO 8601 string (UTC unless it has an offset) -> ms since the epoch. */
const timestamp = z.union([z.number(), z.string()]).transform((v, ctx): number => {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) {
      ctx.addIssue({ code: 'custom', message: 'must be epoch seconds >= 0 or an ISO 8601 string' });
      return z.NEVER;
    }
    if (v > MAX_EXPIRY_MS / 1000) {
      ctx.addIssue({
        code: 'custom',
        message: `${v} is after 9999-12-31 as epoch seconds (milliseconds given?); use epoch seconds or an ISO 8601 string`,
      });
      return z.NEVER;
    }
    return Math.round(v * 1000);
  }
  const text = v.trim();
  // A date-time without an offset is UTC (not the machine's local time).
  const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(text) ? `${text}Z` : text;
  const t = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : Date.parse(iso);
  if (!Number.isFinite(t) || t < 0 || t > MAX_EXPIRY_MS) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z) or epoch seconds` });
    return z.NEVER;
  }
  return t;
});

const SIGNAL_PATTERN = /^[\w*-]+(\.[\w*-]+)*$/;
const PARTITION_ID = /^[a-zA-Z0-9]+$/;

const signalToCollect = z.strictObject({
  /** Fully qualified signal name; `*` wildcards allowed (see `expandSignalPattern`). */
  name: z
    .string()
    .min(1, 'must not be empty')
    .max(150, 'must be at most 150 characters')
    .regex(SIGNAL_PATTERN, 'must be dot-separated parts of letters, digits, _, - or * (e.g. Vehicle.Speed, Vehicle.Wheel*)'),
  /** Ring-buffer depth and the most samples of this signal per upload. Default 1000. */
  maxSampleCount: z.number().int('must be an integer').min(1, 'must be >= 1').max(U32).default(DEFAULT_MAX_SAMPLE_COUNT),
  /** Samples arriving closer than this to the last kept one are dropped. Default 0. */
  minimumSamplingIntervalMs: nonNegInt().default(0),
  /** Data partition the signal's samples go to. Default `default`. */
  dataPartitionId: z
    .string()
    .min(1)
    .max(128)
    .regex(PARTITION_ID, 'must be letters and digits only')
    .default(DEFAULT_PARTITION_ID),
});

const timeBasedCollectionScheme = z.strictObject({
  /** Collection period; the first collection happens one period after activation. */
  periodMs: z.number().int('must be an integer').min(1, 'must be >= 1').max(U32),
});

const conditionLanguageVersion = z.literal(1, { error: 'must be 1 (the only condition language version)' }).default(1);

const conditionBasedCollectionScheme = z.strictObject({
  /** Condition expression, e.g. ``$variable.`Vehicle.Speed` > 120``. */
  expression: z.string().min(1, 'must not be empty').max(2048, 'must be at most 2048 characters'),
  /** Cooldown between two triggers of this campaign. Default 0. */
  minimumTriggerIntervalMs: nonNegInt().default(0),
  /** ALWAYS: fire whenever true (respecting the cooldown); RISING_EDGE: only on false -> true. Default ALWAYS. */
  triggerMode: z.enum(['ALWAYS', 'RISING_EDGE']).default('ALWAYS'),
  conditionLanguageVersion,
});

const collectionSchemeInput = z
  .strictObject({
    timeBasedCollectionScheme: timeBasedCollectionScheme.optional(),
    conditionBasedCollectionScheme: conditionBasedCollectionScheme.optional(),
  })
  .superRefine((v, ctx) => {
    const n = Number(v.timeBasedCollectionScheme !== undefined) + Number(v.conditionBasedCollectionScheme !== undefined);
    if (n !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `must contain exactly one of timeBasedCollectionScheme or conditionBasedCollectionScheme (found ${n})`,
      });
    }
  });

export type TimeBasedCollectionScheme = z.output<typeof timeBasedCollectionScheme>;
export type ConditionBasedCollectionScheme = z.output<typeof conditionBasedCollectionScheme>;
/** Exactly one of the two schemes is set. */
export type CollectionScheme =
  | { timeBasedCollectionScheme: TimeBasedCollectionScheme; conditionBasedCollectionScheme?: undefined }
  | { conditionBasedCollectionScheme: ConditionBasedCollectionScheme; timeBasedCollectionScheme?: undefined };

const collectionScheme = collectionSchemeInput.transform((v) => v as CollectionScheme);

const dataPartition = z.strictObject({
  id: z.string().min(1).max(128).regex(PARTITION_ID, 'must be letters and digits only'),
  storageOptions: z.strictObject({
    maximumSize: z.strictObject({
      unit: z.enum(['MB', 'GB', 'TB']),
      value: z.number().int('must be an integer').min(1, 'must be >= 1').max(1073741824),
    }),
    /** Folder (relative) under the campaign's store folder. */
    storageLocation: z.string().min(1).max(4096),
    minimumTimeToLive: z.strictObject({
      unit: z.enum(['HOURS', 'DAYS', 'WEEKS']),
      value: z.number().int('must be an integer').min(1, 'must be >= 1').max(876600),
    }),
  }),
  /** Upload the partition's stored data only while this condition is true. */
  uploadOptions: z
    .strictObject({
      expression: z.string().min(1, 'must not be empty').max(2048),
      conditionLanguageVersion,
    })
    .optional(),
});

/** FleetWise fields that only mean something to AWS's cloud: accepted, dropped, warned about. */
export const IGNORED_FLEETWISE_FIELDS = [
  'signalCatalogArn',
  'targetArn',
  'dataDestinationConfigs',
  'tags',
  'dataExtraDimensions',
  'signalsToFetch',
] as const;

const campaignSchema = z
  .strictObject({
    name: z
      .string()
      .min(1, 'must not be empty')
      .max(100, 'must be at most 100 characters')
      .regex(/^[a-zA-Z\d\-_:]+$/, 'must be letters, digits, -, _ or : only'),
    description: z.string().max(2048).optional(),
    /** edgewise: document version, reported with every batch. Default 0. */
    version: z.number().int('must be an integer').min(0, 'must be >= 0').default(0),
    /** ms since the epoch; default 0 (active at once). */
    startTime: timestamp.default(0),
    /** ms since the epoch; default 9999-12-31. */
    expiryTime: timestamp.default(MAX_EXPIRY_MS),
    /** Collection happens this long after the trigger. Default 0. */
    postTriggerCollectionDuration: nonNegInt().default(0),
    diagnosticsMode: z.enum(['OFF', 'SEND_ACTIVE_DTCS']).default('OFF'),
    spoolingMode: z.enum(['OFF', 'TO_DISK']).default('OFF'),
    compression: z.enum(['OFF', 'SNAPPY', 'BROTLI']).default('SNAPPY'),
    /** Lower number = more important. Default 0. */
    priority: z.number().int('must be an integer').min(0, 'must be >= 0').default(0),
    signalsToCollect: z.array(signalToCollect).max(1000).default([]),
    collectionScheme,
    dataPartitions: z.array(dataPartition).max(20).default([]),
    signalCatalogArn: z.unknown().optional(),
    targetArn: z.unknown().optional(),
    dataDestinationConfigs: z.unknown().optional(),
    tags: z.unknown().optional(),
    dataExtraDimensions: z.unknown().optional(),
    signalsToFetch: z.unknown().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.expiryTime <= c.startTime) {
      ctx.addIssue({ code: 'custom', path: ['expiryTime'], message: 'must be after startTime' });
    }
    const ids = new Set<string>();
    c.dataPartitions.forEach((p, i) => {
      if (ids.has(p.id)) ctx.addIssue({ code: 'custom', path: ['dataPartitions', i, 'id'], message: `duplicate partition id "${p.id}"` });
      ids.add(p.id);
    });
    c.signalsToCollect.forEach((s, i) => {
      if (s.dataPartitionId !== DEFAULT_PARTITION_ID && !ids.has(s.dataPartitionId)) {
        const known = [...ids].map((x) => `"${x}"`).join(', ');
        ctx.addIssue({
          code: 'custom',
          path: ['signalsToCollect', i, 'dataPartitionId'],
          message: `partition "${s.dataPartitionId}" is not defined in dataPartitions${known ? ` (defined: ${known})` : ''}`,
        });
      }
    });
  })
  .transform((c) => {
    const out = { ...c };
    for (const k of IGNORED_FLEETWISE_FIELDS) delete out[k];
    return out;
  });

/** A validated campaign with every default applied (times in ms since the epoch). */
export type Campaign = z.output<typeof campaignSchema>;
/** What a campaign file may contain. */
export type CampaignInput = z.input<typeof campaignSchema>;
export type SignalToCollect = z.output<typeof signalToCollect>;
export type DataPartition = z.output<typeof dataPartition>;
export { campaignSchema };

/** Warnings about a document that is valid but may not do what its author expects. */
function campaignWarnings(raw: Record<string, unknown>, c: Campaign, source?: SourceDocument): Problem[] {
  const w: Problem[] = [];
  const warn = (path: PropertyKey[], message: string): void => {
    w.push({ path: formatPath(path), message, severity: 'warning', ...source?.locate(path) });
  };
  for (const k of IGNORED_FLEETWISE_FIELDS) {
    if (raw[k] !== undefined) warn([k], `FleetWise cloud field "${k}" is ignored by edgewise`);
  }
  const tb = c.collectionScheme.timeBasedCollectionScheme;
  if (tb && tb.periodMs < FLEETWISE_MIN_PERIOD_MS) {
    warn(
      ['collectionScheme', 'timeBasedCollectionScheme', 'periodMs'],
      `periodMs ${tb.periodMs} is below FleetWise's minimum of ${FLEETWISE_MIN_PERIOD_MS} (allowed by edgewise; check the upload volume)`,
    );
  }
  if (c.dataPartitions.length > 0 && c.spoolingMode !== 'TO_DISK') {
    warn(['dataPartitions'], 'FleetWise requires spoolingMode TO_DISK with dataPartitions (edgewise stores them either way)');
  }
  if (c.signalsToCollect.length === 0 && c.diagnosticsMode === 'OFF') {
    warn(['signalsToCollect'], 'collects no signals and no DTCs: every batch would be empty');
  }
  return w;
}

/** Result of looking at a campaign document without throwing. */
export interface CampaignCheck {
  /** Set when the document passes the schema (even if `problems` has manifest errors). */
  campaign?: Campaign;
  problems: Problem[];
}

/** Schema-checks a campaign (text or already-parsed object) without throwing. */
export function checkCampaignDocument(input: string | unknown, file?: string): CampaignCheck {
  let source: SourceDocument | undefined;
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      source = parseSourceText(input, 'CAMPAIGN_INVALID', file);
    } catch (e) {
      if (!isEdgewiseError(e)) throw e;
      const err = e;
      const ctx = (err.context ?? {}) as { line?: number; column?: number; reason?: string };
      return { problems: [{ path: '', message: ctx.reason ?? err.detail, severity: 'error', line: ctx.line, column: ctx.column }] };
    }
    value = source.value;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { problems: [{ path: '', message: 'a campaign must be an object', severity: 'error' }] };
  }
  const r = campaignSchema.safeParse(value);
  if (!r.success) return { problems: zodProblems(r.error, source) };
  return { campaign: r.data, problems: campaignWarnings(value as Record<string, unknown>, r.data, source) };
}

function problemLine(p: Problem): string {
  return `${p.path || '(document)'}: ${p.message}`;
}

/**
 * Parses and validates a campaign document (JSON or YAML text, or a parsed object).
 * Throws EdgewiseError CAMPAIGN_INVALID (context: file, path, reason, problems[]) on the first
 * error; the message lists all of them.
 */
export function parseCampaign(input: string | unknown, file?: string): { campaign: Campaign; warnings: Problem[] } {
  const { campaign, problems } = checkCampaignDocument(input, file);
  const errors = problems.filter((p) => p.severity === 'error');
  if (!campaign || errors.length > 0) {
    const first = errors[0];
    throw new EdgewiseError('CAMPAIGN_INVALID', errors.map(problemLine).join('; '), {
      file,
      line: first?.line,
      column: first?.column,
      path: first?.path,
      reason: first?.message,
      problems: errors,
    });
  }
  return { campaign, warnings: problems };
}

/** Reads and parses a campaign file (`.json`, `.yaml`, `.yml`). */
export async function loadCampaignFile(path: string): Promise<{ campaign: Campaign; warnings: Problem[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new EdgewiseError('IO', `cannot read campaign ${path}: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return parseCampaign(text, path);
}

const patternCache = new Map<string, RegExp>();

/**
 * Names matching a `signalsToCollect` name. `*` matches any run of characters (possibly empty)
 * INCLUDING dots, so `Vehicle.*` selects every signal under `Vehicle` at any depth and
 * `Vehicle.Wheel*Speed` matches `Vehicle.WheelFL.Speed`. A name without `*` matches itself only
 * when it exists in `names`. The result keeps the order of `names`.
 */
export function expandSignalPattern(pattern: string, names: readonly string[]): string[] {
  if (!pattern.includes('*')) return names.includes(pattern) ? [pattern] : [];
  let re = patternCache.get(pattern);
  if (!re) {
    const body = pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
      .join('.*');
    re = new RegExp(`^${body}$`);
    patternCache.set(pattern, re);
  }
  return names.filter((n) => re.test(n));
}

// ---------------------------------------------------------------------------------------------
// Validation against a decoder manifest

/** The part of a manifest validation needs. */
export interface SignalCatalog {
  signals: readonly { name: string; type: string }[];
}

function signalNamesIn(node: ExprNode, out: { name: string; pos: number }[]): void {
  switch (node.kind) {
    case 'signal':
      out.push({ name: node.name, pos: node.pos });
      return;
    case 'not':
      signalNamesIn(node.operand, out);
      return;
    case 'binary':
      signalNamesIn(node.left, out);
      signalNamesIn(node.right, out);
      return;
    case 'call':
      for (const a of node.args) signalNamesIn(a, out);
      return;
    default:
      return;
  }
}

/**
 * Checks a schema-valid campaign against the signals a manifest provides. Returns every problem:
 * unknown signal names (in `signalsToCollect` and inside expressions) with the 3 closest manifest
 * names, wildcards matching nothing, expression syntax errors (with a caret), ...
 * Without a manifest only the expressions' syntax is checked.
 */
export function validateCampaign(campaign: CampaignRefs, manifest: SignalCatalog | undefined, source?: SourceDocument): Problem[] {
  const problems: Problem[] = [];
  const names = manifest ? manifest.signals.map((s) => s.name) : [];
  const known = new Set(names);
  const ids = new Map(names.map((n, i) => [n, i]));
  const add = (path: PropertyKey[], message: string, severity: Problem['severity'] = 'error'): void => {
    problems.push({ path: formatPath(path), message, severity, ...source?.locate(path) });
  };
  const unknown = (name: string): string => `unknown signal "${name}"; closest in the manifest: ${closestNames(name, names).join(', ')}`;

  const collected = new Map<string, number>();
  if (manifest) campaign.signalsToCollect.forEach((s, i) => {
    if (typeof s.name !== 'string') return;
    const matched = expandSignalPattern(s.name, names);
    if (matched.length === 0) {
      if (s.name.includes('*')) add(['signalsToCollect', i, 'name'], `pattern "${s.name}" matches no signal in the manifest`);
      else add(['signalsToCollect', i, 'name'], unknown(s.name));
    }
    for (const n of matched) {
      const prev = collected.get(n);
      if (prev !== undefined && prev !== i) {
        add(['signalsToCollect', i, 'name'], `"${n}" is already selected by signalsToCollect[${prev}]; the first entry wins`, 'warning');
      } else collected.set(n, i);
    }
  });

  const checkExpression = (path: PropertyKey[], text: string): string[] => {
    let ast: ExprNode;
    try {
      ast = parseExpression(text);
    } catch (e) {
      if (isEdgewiseError(e)) {
        add(path, e.detail.trimEnd());
        return [];
      }
      throw e;
    }
    if (!manifest) return [];
    const refs: { name: string; pos: number }[] = [];
    signalNamesIn(ast, refs);
    const seen = new Set<string>();
    let allKnown = true;
    for (const r of refs) {
      if (seen.has(r.name)) continue;
      seen.add(r.name);
      if (!known.has(r.name)) {
        allKnown = false;
        add(path, `${unknown(r.name)} (at column ${r.pos + 1})`);
      }
    }
    if (allKnown) {
      // Functions, argument counts and types: compile it as the engine will.
      try {
        compileExpression(ast, { resolveSignal: (n) => ids.get(n), source: text }).dispose();
      } catch (e) {
        if (isEdgewiseError(e)) add(path, e.detail.trimEnd());
        else throw e;
      }
    }
    return [...seen].filter((n) => known.has(n));
  };

  const cb = campaign.collectionScheme.conditionBasedCollectionScheme;
  if (typeof cb?.expression === 'string') checkExpression(['collectionScheme', 'conditionBasedCollectionScheme', 'expression'], cb.expression);

  campaign.dataPartitions.forEach((p, i) => {
    if (typeof p.uploadOptions?.expression !== 'string') return;
    const used = checkExpression(['dataPartitions', i, 'uploadOptions', 'expression'], p.uploadOptions.expression);
    for (const n of used) {
      if (!collected.has(n)) {
        add(
          ['dataPartitions', i, 'uploadOptions', 'expression'],
          `"${n}" is used in the upload condition but not in signalsToCollect (FleetWise requires it)`,
          'warning',
        );
      }
    }
  });
  return problems;
}

/**
 * Schema + manifest check of a campaign document in one go (what `edgewise campaign validate`
 * prints): every problem, errors and warnings, with line:column when the input is text.
 */
export function validateCampaignDocument(input: string | unknown, manifest: SignalCatalog | undefined, file?: string): CampaignCheck {
  let source: SourceDocument | undefined;
  if (typeof input === 'string') {
    try {
      source = parseSourceText(input, 'CAMPAIGN_INVALID', file);
    } catch {
      return checkCampaignDocument(input, file);
    }
  }
  const check = checkCampaignDocument(source ? source.value : input, file);
  if (source) {
    // Re-locate schema problems in the text.
    for (const p of check.problems) {
      if (p.line === undefined) Object.assign(p, source.locate(parsePath(p.path)));
    }
  }
  const value = source ? source.value : input;
  const refs = check.campaign ?? (value !== null && typeof value === 'object' ? partialView(value as Record<string, unknown>) : undefined);
  if (!refs) return check;
  const problems = [...check.problems, ...validateCampaign(refs, manifest, source)];
  // Report in document order (problems without a position keep their place at the end).
  problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0));
  return { campaign: check.campaign, problems };
}

/** The references of a campaign that failed the schema, as far as they can be read. */
function partialView(raw: Record<string, unknown>): CampaignRefs {
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const cb = obj(obj(raw.collectionScheme)?.conditionBasedCollectionScheme);
  return {
    signalsToCollect: arr(raw.signalsToCollect).map((s) => ({ name: str(obj(s)?.name) })),
    collectionScheme: { conditionBasedCollectionScheme: cb ? { expression: str(cb.expression) } : undefined },
    dataPartitions: arr(raw.dataPartitions).map((p) => {
      const u = obj(obj(p)?.uploadOptions);
      return { uploadOptions: u ? { expression: str(u.expression) } : undefined };
    }),
  };
}

/** What `validateCampaign` reads: the names and expressions (also of a document that failed the schema). */
export interface CampaignRefs {
  signalsToCollect: readonly { name?: string }[];
  collectionScheme: { conditionBasedCollectionScheme?: { expression?: string } };
  dataPartitions: readonly { uploadOptions?: { expression?: string } }[];
}

/**
 * Manifest names a campaign reads: the collected ones (wildcards expanded) and the ones its
 * conditions use. Unknown or unparsable references are skipped (validation reports them).
 */
export function campaignSignalNames(campaign: CampaignRefs, names: readonly string[]): { collected: string[]; condition: string[] } {
  const collected = new Set<string>();
  for (const s of campaign.signalsToCollect) {
    if (typeof s.name === 'string') for (const n of expandSignalPattern(s.name, names)) collected.add(n);
  }
  const condition = new Set<string>();
  const known = new Set(names);
  const scan = (text: string | undefined): void => {
    if (typeof text !== 'string') return;
    try {
      const refs: { name: string; pos: number }[] = [];
      signalNamesIn(parseExpression(text), refs);
      for (const r of refs) if (known.has(r.name)) condition.add(r.name);
    } catch {
      // reported by validateCampaign
    }
  };
  scan(campaign.collectionScheme.conditionBasedCollectionScheme?.expression);
  for (const p of campaign.dataPartitions) scan(p.uploadOptions?.expression);
  return { collected: [...collected], condition: [...condition] };
}
