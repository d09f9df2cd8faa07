/**
 * The campaigns the daemon runs: loaded from a directory at start, changed live by
 * `campaign.deploy` jobs. Every change is validated against the manifest before anything is
 * touched, then persisted atomically (write to a temp file, fsync, rename) and applied to the engine.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { EdgewiseError } from '../errors.js';
import { atomicWriteFile, fsyncDir } from '../files.js';
import { validateCampaignDocument, type Campaign, type Problem } from '../campaigns/index.js';
import { type Manifest } from '../manifest/index.js';
import type { CampaignChange } from '../control/index.js';

const CAMPAIGN_FILE = /\.(json|ya?ml)$/i;

export interface LoadedCampaign {
  campaign: Campaign;
  file: string;
  warnings: Problem[];
}

export interface CampaignLoadError {
  file: string;
  problems: Problem[];
}

function describe(problems: Problem[], file: string): string {
  return problems
    .filter((p) => p.severity === 'error')
    .map((p) => `${file}${p.line !== undefined ? `:${p.line}:${p.column ?? 1}` : ''}: ${p.path || '(document)'}: ${p.message}`)
    .join('\n');
}

/** Validate one campaign document (text or object) against the manifest. */
export function checkCampaign(input: string | unknown, manifest: Manifest, file: string): { campaign?: Campaign; problems: Problem[] } {
  return validateCampaignDocument(input, manifest, file);
}

export class CampaignSet {
  private readonly byName = new Map<string, LoadedCampaign>();
  readonly loadErrors: CampaignLoadError[] = [];

  constructor(
    readonly dir: string,
    private readonly manifest: Manifest,
  ) {}

  /** Read every campaign file of the directory. Invalid files are reported, not fatal. */
  load(): LoadedCampaign[] {
    mkdirSync(this.dir, { recursive: true });
    const files = readdirSync(this.dir)
      .filter((f) => CAMPAIGN_FILE.test(f) && !f.startsWith('.'))
      .sort();
    for (const f of files) {
      const file = path.join(this.dir, f);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        this.loadErrors.push({ file, problems: [{ path: '', message: (e as Error).message, severity: 'error' }] });
        continue;
      }
      const r = checkCampaign(text, this.manifest, file);
      const errors = r.problems.filter((p) => p.severity === 'error');
      if (!r.campaign || errors.length > 0) {
        this.loadErrors.push({ file, problems: errors });
        continue;
      }
      const prev = this.byName.get(r.campaign.name);
      if (prev) {
        this.loadErrors.push({
          file,
          problems: [{ path: 'name', message: `campaign "${r.campaign.name}" is also defined in ${prev.file}; this file is ignored`, severity: 'error' }],
        });
        continue;
      }
      this.byName.set(r.campaign.name, { campaign: r.campaign, file, warnings: r.problems.filter((p) => p.severity === 'warning') });
    }
    return [...this.byName.values()];
  }

  all(): LoadedCampaign[] {
    return [...this.byName.values()];
  }

  get(name: string): LoadedCampaign | undefined {
    return this.byName.get(name);
  }

  /**
   * Validate every change first (throws CAMPAIGN_INVALID listing every problem; nothing written),
   * then write/remove the files atomically. Returns the campaigns to (re)apply and the names to remove.
   */
  apply(changes: CampaignChange[]): { put: Campaign[]; removed: string[] } {
    const put: { campaign: Campaign; text: string }[] = [];
    const removed: string[] = [];
    const problems: string[] = [];
    changes.forEach((ch, i) => {
      if (ch.op === 'remove') {
        if (!this.byName.has(ch.name) && !put.some((p) => p.campaign.name === ch.name)) {
          problems.push(`changes[${i}]: no campaign named "${ch.name}" is deployed`);
        } else removed.push(ch.name);
        return;
      }
      const r = checkCampaign(ch.document, this.manifest, `changes[${i}]`);
      const errors = r.problems.filter((p) => p.severity === 'error');
      if (!r.campaign || errors.length > 0) {
        problems.push(describe(errors, `changes[${i}]`) || `changes[${i}]: invalid campaign`);
        return;
      }
      if (put.some((p) => p.campaign.name === r.campaign!.name)) {
        problems.push(`changes[${i}]: campaign "${r.campaign.name}" appears twice in one deployment`);
        return;
      }
      put.push({ campaign: r.campaign, text: JSON.stringify(ch.document, null, 2) + '\n' });
    });
    if (problems.length > 0) {
      throw new EdgewiseError('CAMPAIGN_INVALID', `deployment rejected, nothing changed:\n${problems.join('\n')}`, { problems });
    }
    mkdirSync(this.dir, { recursive: true });
    for (const p of put) {
      const prev = this.byName.get(p.campaign.name);
      const file = path.join(this.dir, `${safeName(p.campaign.name)}.json`);
      atomicWriteFile(file, p.text);
      if (prev && prev.file !== file) rmSync(prev.file, { force: true });
      this.byName.set(p.campaign.name, { campaign: p.campaign, file, warnings: [] });
    }
    for (const name of removed) {
      const prev = this.byName.get(name);
      if (prev) rmSync(prev.file, { force: true });
      this.byName.delete(name);
    }
    fsyncDir(this.dir);
    return { put: put.map((p) => p.campaign), removed };
  }
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}
