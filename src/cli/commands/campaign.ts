/**
 * `edgewise campaign validate` checks campaign files against a decoder manifest;
 * `edgewise campaign simulate` runs the real campaign engine over a recorded drive.
 */
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import { EdgewiseError } from '../../errors.js';
import { loadCampaignFile, validateCampaign, validateCampaignDocument, type Campaign, type Problem, type SignalCatalog } from '../../campaigns/index.js';
import { loadManifest } from '../../manifest/index.js';
import { renderSimulationReport, reportSignals, simulateCampaigns, simulationToJson, type SimulationResult } from '../../simulate/index.js';

/** `file:line:col: path: message` (line/col when known); continuation lines indented. */
export function formatProblem(file: string, p: Problem): string {
  const where = p.line !== undefined ? `${file}:${p.line}:${p.column ?? 1}` : file;
  const msg = p.message.replace(/\n/g, '\n    ');
  return `${where}: ${p.path || '(document)'}: ${p.severity === 'warning' ? 'warning: ' : ''}${msg}`;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new EdgewiseError('IO', `cannot read ${file}: ${(e as Error).message}`, { path: file }, { cause: e });
  }
}

interface ValidateOptions {
  manifest?: string;
  quiet?: boolean;
}

/** Validates each file; returns the number of files with errors. Writes the report to `out`. */
export async function validateFiles(files: string[], catalog: SignalCatalog | undefined, out: (line: string) => void, quiet = false): Promise<number> {
  let bad = 0;
  for (const file of files) {
    let text: string;
    try {
      text = await readText(file);
    } catch (e) {
      // One unreadable file does not stop the others from being checked.
      bad++;
      out(`${file}: ${(e as EdgewiseError).detail ?? String(e)}`);
      continue;
    }
    const { problems: shown } = validateCampaignDocument(text, catalog, file);
    const errors = shown.filter((p) => p.severity === 'error');
    if (errors.length > 0) bad++;
    for (const p of shown) if (p.severity === 'error' || !quiet) out(formatProblem(file, p));
    if (errors.length === 0) out(`${file}: ok`);
  }
  return bad;
}

export function register(program: Command): void {
  const campaign = program.command('campaign').description('campaign documents: check them, and try them on recorded drives');

  campaign
    .command('validate')
    .description('check campaign files (JSON or YAML, FleetWise CreateCampaign format) against a decoder manifest')
    .argument('<file...>', 'campaign files')
    .option('-m, --manifest <file>', 'decoder manifest the signal names must exist in (without it: schema only)')
    .option('-q, --quiet', 'do not print warnings')
    .addHelpText(
      'after',
      '\nPrints "<file>: ok" per valid file (and its warnings), or every problem as\n' +
        '"<file>:<line>:<col>: <json path>: <message>". Exit status 0 when all files are valid, 1 otherwise.\n\n' +
        'Example:\n  edgewise campaign validate campaigns/*.yaml --manifest examples/manifest.yaml\n',
    )
    .action(async (files: string[], opts: ValidateOptions) => {
      const catalog = opts.manifest ? await loadManifest(opts.manifest) : undefined;
      if (!catalog) process.stderr.write('edgewise: note: no --manifest given, signal names are not checked\n');
      const bad = await validateFiles(files, catalog, (l) => process.stdout.write(l + '\n'), opts.quiet);
      if (bad > 0) process.exitCode = 1;
    });

  registerSimulate(campaign);
}

interface SimulateCliOptions {
  manifest: string;
  log: string;
  format: 'text' | 'json';
  report?: string;
  vehicle?: string;
  progress?: boolean;
}

function clockOf(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

function offsetOf(ms: number): string {
  const s = ms / 1000;
  const m = Math.floor(s / 60);
  return `+${m}:${(s - m * 60).toFixed(2).padStart(5, '0')}`;
}

function bytesText(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** The readable summary of `edgewise campaign simulate`. */
export function simulationText(r: SimulationResult, campaigns: readonly Campaign[], logName: string): string {
  const out: string[] = [];
  const t0 = r.log.firstMs;
  out.push(
    `${logName}: ${r.log.frames} frames, ${(r.log.durationMs / 1000).toFixed(1)} s of driving from ${new Date(t0).toISOString()}` +
      `${r.log.badLines ? `, ${r.log.badLines} bad lines skipped` : ''}; ${r.log.decodedFrames} frames decoded, ${r.samples} samples`,
  );
  for (const c of r.campaigns) {
    const doc = campaigns.find((x) => x.name === c.name);
    const cb = doc?.collectionScheme.conditionBasedCollectionScheme;
    const scheme = cb ? `${cb.triggerMode}: ${cb.expression.replace(/\s+/g, ' ')}` : `every ${doc?.collectionScheme.timeBasedCollectionScheme?.periodMs} ms`;
    out.push('', `${c.name}  (${scheme})`);
    const shown = c.triggers.slice(0, 12).map((t) => `${clockOf(t.timeMs)} (${offsetOf(t.timeMs - t0)})${t.triggeredBy.length ? ` [${t.triggeredBy.join(', ')}]` : ''}`);
    out.push(`  triggers  ${c.triggers.length}${shown.length ? ':' : ''}`);
    for (const s of shown) out.push(`    ${s}`);
    if (c.triggers.length > shown.length) out.push(`    ... ${c.triggers.length - shown.length} more`);
    const total = Object.values(c.samples).reduce((a, b) => a + b, 0);
    out.push(`  batches   ${c.batches.length}, ${total} samples, ${c.bytes} bytes ${doc?.compression ?? ''} (${bytesText(c.bytesPerHour)} per hour of driving)`);
    if (doc?.diagnosticsMode === 'SEND_ACTIVE_DTCS') {
      const snaps = c.batches.reduce((n, b) => n + b.dtcs, 0);
      out.push(`  dtcs      ${snaps} snapshots${snaps === 0 ? ' (a replayed CAN log has no OBD-II DTC readings)' : ''}`);
    }
    const width = Math.max(0, ...Object.keys(c.samples).map((n) => n.length));
    for (const [name, n] of Object.entries(c.samples)) out.push(`    ${name.padEnd(width)}  ${n}`);
  }
  return out.join('\n') + '\n';
}

function registerSimulate(campaign: Command): void {
  campaign
    .command('simulate')
    .description('run campaigns with the real engine over a recorded drive and report triggers, batches and upload volume')
    .argument('<campaign...>', 'campaign files (JSON or YAML)')
    .requiredOption('-m, --manifest <file>', 'decoder manifest (signal names -> DBC signals)')
    .requiredOption('-l, --log <file>', 'candump -L log (plain or .gz; - for stdin)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-r, --report <file.html>', 'also write a self-contained HTML report plotting signals, triggers and collected windows')
    .option('--vehicle <name>', 'vehicle (thing) name written into the encoded batches', 'simulated-vehicle')
    .option('--no-progress', 'no progress bar (it is only shown when stderr is a terminal)')
    .addHelpText(
      'after',
      '\n--format json prints {"campaigns": [{"name", "triggers": [{"time": <epoch s>, "triggeredBy": [...]}],\n' +
        '"batches", "samples": {"<signal>": n}, "bytes", "bytesPerHour"}], "log": {...}}.\n\n' +
        'Example:\n  edgewise campaign simulate campaigns/*.yaml --manifest examples/manifest.yaml \\\n' +
        '    --log examples/drive.log.gz --report report.html\n',
    )
    .action(async (files: string[], opts: SimulateCliOptions) => {
      const manifest = await loadManifest(opts.manifest);
      const campaigns: Campaign[] = [];
      for (const f of files) {
        const { campaign: c, warnings } = await loadCampaignFile(f);
        for (const w of warnings) process.stderr.write(`edgewise: warning: ${formatProblem(f, w)}\n`);
        const errors = validateCampaign(c, manifest).filter((p) => p.severity === 'error');
        if (errors.length > 0) {
          const first = errors[0];
          throw new EdgewiseError('CAMPAIGN_INVALID', errors.map((p) => `${p.path}: ${p.message}`).join('; '), {
            file: f,
            path: first.path,
            reason: first.message,
          });
        }
        campaigns.push(c);
      }
      const plots = opts.report ? reportSignals(campaigns, manifest) : undefined;
      const showBar = opts.progress !== false && process.stderr.isTTY === true && opts.log !== '-';
      const cliProgress = showBar ? (await import('cli-progress')).default : undefined;
      const bar = cliProgress
        ? new cliProgress.SingleBar(
            { format: 'simulating [{bar}] {percentage}% | {frames} frames | ETA {eta}s', hideCursor: true, clearOnComplete: true, stream: process.stderr },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      let started = false;
      let result: SimulationResult;
      try {
        result = await simulateCampaigns({
          campaigns,
          manifest,
          log: opts.log,
          vehicle: opts.vehicle,
          traceSignals: plots ? [...new Set([...plots.values()].flat())] : undefined,
          onWarning: (w) => process.stderr.write(`edgewise: warning: ${w}\n`),
          onProgress: bar
            ? (p) => {
                if (!started) {
                  bar.start(p.totalBytes ?? 1, 0, { frames: 0 });
                  started = true;
                }
                bar.update(p.bytesRead, { frames: p.frames });
              }
            : undefined,
        });
      } finally {
        if (started) bar?.stop();
      }
      if (result.log.frames === 0) process.stderr.write(`edgewise: warning: ${opts.log} contains no frames\n`);
      if (opts.format === 'json') process.stdout.write(JSON.stringify(simulationToJson(result), null, 2) + '\n');
      else process.stdout.write(simulationText(result, campaigns, opts.log));
      if (opts.report) {
        const html = renderSimulationReport(result, { campaigns, manifest, logName: basename(opts.log) });
        try {
          writeFileSync(opts.report, html);
        } catch (e) {
          throw new EdgewiseError('IO', `cannot write ${opts.report}: ${(e as Error).message}`, { path: opts.report }, { cause: e });
        }
        process.stderr.write(`edgewise: wrote ${opts.report} (${bytesText(html.length)})\n`);
      }
    });
}
