/**
 * Self-update with rollback (see layout.ts for the directory layout).
 *
 * Phases, each persisted in <root>/ota/state.json BEFORE its side effects so a crash or power loss at
 * any point resumes to a consistent state:
 *
 *   downloading -> verifying -> staging -> switching -> confirming -> committed
 *                                                           \-> rolling-back -> rolled-back
 *   (refused artifacts end in `rejected`, other errors before the switch in `failed`)
 *
 * - downloading: HTTPS (presigned URL) into ota/downloads/, size-capped, resumed with Range.
 * - verifying:   SHA-256 and ECDSA P-256 signature against the device's trusted keys.
 * - staging:     strict tar extraction into releases/.staging-<v>, release.json checked, renamed to releases/<v>.
 * - switching:   `current` symlink swapped atomically; then the process exits with RESTART_EXIT_CODE (75)
 *                and systemd (Restart=always) starts the new version.
 * - confirming:  the new version's `otaBootCheck()` counts boots; `OtaUpdater` waits until
 *                `agent.health()` is all true (for `healthStableMs`) within `healthDeadlineMs` and commits.
 *                More than `maxBootAttempts` boots (crash loop) or no health by the deadline (hang)
 *                -> `current` goes back to the previous release, restart, and the job reports FAILED.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { isEdgewiseError } from '../../errors.js';
import { VERSION } from '../../version.js';
import type { AgentControl } from '../agent.js';
import { DownloadError, downloadToFile, type HttpsOptions } from '../download.js';
import { atomicWriteJson, readJsonFile } from '../../files.js';
import { ensureRuntime, releaseIncompatibility } from './compat.js';
import { OtaDocSchema, type OtaDoc } from '../jobs/documents.js';
import { errorMessage } from '../log.js';
import { silentLogger, type Logger } from '../../log.js';
import { compareVersions } from '../semver.js';
import { extractTarGz } from './tar.js';
import { currentVersion, layout, pruneReleases, readReleaseManifest, switchCurrent } from './layout.js';
import { loadTrustedKeys, verifyArtifact } from './verify.js';

/** Exit code meaning "restart me" (EX_TEMPFAIL); the systemd unit restarts on any exit (Restart=always). */
export const RESTART_EXIT_CODE = 75;

export type OtaPhase =
  | 'downloading'
  | 'verifying'
  | 'staging'
  | 'switching'
  | 'confirming'
  | 'committed'
  | 'rolling-back'
  | 'rolled-back'
  | 'failed'
  | 'rejected';

const TERMINAL: OtaPhase[] = ['committed', 'rolled-back', 'failed', 'rejected'];

const OtaStateSchema = z.object({
  jobId: z.string(),
  from: z.string(),
  to: z.string(),
  doc: OtaDocSchema,
  phase: z.enum(['downloading', 'verifying', 'staging', 'switching', 'confirming', 'committed', 'rolling-back', 'rolled-back', 'failed', 'rejected']),
  bootAttempts: z.number().int().nonnegative(),
  trialDeadline: z.string().optional(),
  keyId: z.string().optional(),
  reason: z.string().optional(),
  startedAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().optional(),
});
export type OtaState = z.infer<typeof OtaStateSchema>;

export interface OtaOptions {
  /** Install root holding releases/, current and ota/. */
  root: string;
  /** Directory of trusted signing public keys (`<keyId>.pem`, EC P-256). */
  trustedKeysDir: string;
  /** The version this process runs (default: the package version). */
  runningVersion?: string;
  /** Boots of a new version allowed before it proves healthy; one more rolls back (config `control.ota.maxBootAttempts`). */
  maxBootAttempts: number;
  /** Time a new version has per boot to become healthy (config `control.ota.healthDeadlineSeconds`). */
  healthDeadlineMs: number;
  /** Health must hold continuously this long before commit (default 10 s). */
  healthStableMs?: number;
  /** Health polling period (default 1 s). */
  healthPollMs?: number;
  /** Releases kept after a successful update (default 2: new + previous). */
  keepReleases?: number;
  /** Called to restart the process (default: process.exit(RESTART_EXIT_CODE)). */
  exit?: (code: number) => void;
  /** Extra CA for artifact downloads (tests, private servers). */
  httpsCa?: HttpsOptions['ca'];
  /** Free space that must remain after download + extraction (default 16 MiB). */
  reserveBytes?: number;
  /** Observer called after each persisted phase change (logging, metrics, fault-injection tests). */
  onPhase?: (phase: OtaPhase, state: OtaState) => void | Promise<void>;
  /** Observer for download progress. */
  onDownloadProgress?: (received: number, total: number) => void;
  logger?: Logger;
}

export type OtaOutcome =
  | { status: 'SUCCEEDED' | 'FAILED' | 'REJECTED'; reason: string }
  | { status: 'CANCELED'; reason: string }
  | { status: 'RESTARTING'; reason: string };

export interface OtaJobContext {
  signal: AbortSignal;
  /** Report progress (IN_PROGRESS statusDetails); `stepTimeoutMinutes` arms the job step timer. */
  progress(details: Record<string, string>, stepTimeoutMinutes?: number): Promise<void>;
}

function now(): string {
  return new Date().toISOString();
}

export function readOtaState(root: string): OtaState | undefined {
  const r = OtaStateSchema.safeParse(readJsonFile(layout.state(root)));
  return r.success ? r.data : undefined;
}

function writeState(root: string, s: OtaState): OtaState {
  s.updatedAt = now();
  if (TERMINAL.includes(s.phase) && !s.finishedAt) s.finishedAt = s.updatedAt;
  atomicWriteJson(layout.state(root), s);
  return s;
}


/** Swap `current` back to the previous release and record why. Idempotent. */
function rollback(root: string, s: OtaState, reason: string): OtaState {
  if (s.phase !== 'rolling-back') {
    s.phase = 'rolling-back';
    s.reason = reason;
    writeState(root, s);
  }
  if (currentVersion(root) !== s.from) switchCurrent(root, s.from);
  s.phase = 'rolled-back';
  return writeState(root, s);
}

export interface BootCheckOptions {
  root: string;
  runningVersion: string;
  /** Config `control.ota.maxBootAttempts` (its default lives in daemon/config.ts). */
  maxBootAttempts: number;
  /** Config `control.ota.healthDeadlineSeconds` × 1000. */
  healthDeadlineMs: number;
  exit?: (code: number) => void;
  logger?: Logger;
}

export type BootCheckResult =
  | { action: 'continue'; trial?: { version: string; attempt: number; of: number; deadline: string } }
  | { action: 'exit'; code: number; reason: string };

/**
 * Call FIRST at process start (before connecting anything). While a new version is on trial this
 * counts the boot, rolls back when the version keeps crashing, and arms a deadline that rolls back
 * when the version does not become healthy in time (a hang). When the result is `exit`, the
 * process must exit with `code` (the rollback or switch is already on disk); with the default
 * `exit` option the deadline rollback exits by itself.
 */
export function otaBootCheck(o: BootCheckOptions): BootCheckResult {
  const log = o.logger ?? silentLogger;
  const s = readOtaState(o.root);
  if (!s) return { action: 'continue' };
  const max = o.maxBootAttempts;
  const deadlineMs = o.healthDeadlineMs;
  const running = o.runningVersion;
  const cur = currentVersion(o.root);

  if (s.phase === 'rolling-back') {
    rollback(o.root, s, s.reason ?? 'rollback');
    if (running !== s.from) return { action: 'exit', code: RESTART_EXIT_CODE, reason: `rolled back to ${s.from}` };
    return { action: 'continue' };
  }
  if (s.phase === 'switching' && running === s.to && cur === s.to) {
    // crashed between the symlink swap and recording it: this is the new version's first boot
    s.phase = 'confirming';
    s.bootAttempts = 0;
  }
  if (s.phase !== 'confirming') return { action: 'continue' };

  if (running !== s.to) {
    if (cur === s.to) return { action: 'exit', code: RESTART_EXIT_CODE, reason: `restarting into ${s.to}` };
    // `current` was moved back by something else (e.g. the systemd OnFailure rollback unit)
    s.phase = 'rolled-back';
    s.reason = `version ${s.to} was rolled back outside the agent (current -> ${cur ?? 'none'})`;
    writeState(o.root, s);
    return { action: 'continue' };
  }
  s.bootAttempts += 1;
  if (s.bootAttempts > max) {
    const reason = `version ${s.to} failed to become healthy in ${max} boot(s) (crash loop); rolled back to ${s.from}`;
    log.error({ to: s.to, from: s.from, attempts: s.bootAttempts - 1 }, reason);
    rollback(o.root, s, reason);
    return { action: 'exit', code: RESTART_EXIT_CODE, reason };
  }
  const deadline = new Date(Date.now() + deadlineMs).toISOString();
  s.trialDeadline = deadline;
  writeState(o.root, s);
  log.info({ to: s.to, attempt: s.bootAttempts, of: max }, 'new version on trial');
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const timer = setTimeout(() => {
    const now = readOtaState(o.root);
    if (!now || now.phase !== 'confirming' || now.to !== running) return;
    const reason = `version ${now.to} did not become healthy within ${Math.round(deadlineMs / 1000)} s; rolled back to ${now.from}`;
    log.error({ to: now.to }, reason);
    rollback(o.root, now, reason);
    exit(RESTART_EXIT_CODE);
  }, deadlineMs + 1000);
  timer.unref();
  return { action: 'continue', trial: { version: s.to, attempt: s.bootAttempts, of: max, deadline } };
}

function stepMinutes(ms: number): number {
  return Math.max(1, Math.ceil(ms / 60_000));
}

export class OtaUpdater {
  readonly root: string;
  readonly runningVersion: string;
  private readonly o: OtaOptions;
  private readonly log: Logger;
  private agent: AgentControl | undefined;
  private confirmation: Promise<OtaOutcome> | undefined;
  private stopped = false;
  private timers = new Set<NodeJS.Timeout>();

  constructor(opts: OtaOptions, agent?: AgentControl) {
    this.o = opts;
    this.root = opts.root;
    this.runningVersion = opts.runningVersion ?? VERSION;
    this.log = opts.logger ?? silentLogger;
    this.agent = agent;
  }

  /** The recorded outcome of the last update (for the shadow's lastOta), or null. */
  lastResult(): { jobId: string; version: string; result: 'SUCCEEDED' | 'FAILED' | 'ROLLED_BACK'; reason?: string; at: string } | null {
    const s = readOtaState(this.root);
    if (!s || !TERMINAL.includes(s.phase)) return null;
    const result = s.phase === 'committed' ? 'SUCCEEDED' : s.phase === 'rolled-back' ? 'ROLLED_BACK' : 'FAILED';
    return { jobId: s.jobId, version: s.to, result, reason: s.reason, at: s.finishedAt ?? s.updatedAt };
  }

  state(): OtaState | undefined {
    return readOtaState(this.root);
  }

  /** True while a new version is on trial in this process. */
  onTrial(): boolean {
    const s = readOtaState(this.root);
    return s?.phase === 'confirming' && s.to === this.runningVersion;
  }

  /**
   * Begin confirming when this process is a new version on trial (independent of the job, so a
   * version that never gets its job back still commits or rolls back).
   */
  start(agent?: AgentControl): void {
    if (agent) this.agent = agent;
    this.stopped = false;
    if (this.onTrial()) void this.confirm();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        r();
      }, ms);
      this.timers.add(t);
    });
  }

  private async phase(s: OtaState, phase: OtaPhase, patch: Partial<OtaState> = {}): Promise<OtaState> {
    Object.assign(s, patch, { phase });
    writeState(this.root, s);
    this.log.info({ jobId: s.jobId, to: s.to, phase }, `ota ${phase}`);
    await this.o.onPhase?.(phase, s);
    return s;
  }

  private restart(reason: string): OtaOutcome {
    this.log.warn({ code: RESTART_EXIT_CODE }, `restarting: ${reason}`);
    (this.o.exit ?? ((code: number) => process.exit(code)))(RESTART_EXIT_CODE);
    return { status: 'RESTARTING', reason };
  }

  /** Garbage-collect after a commit (idempotent: repeated when a crash came between commit and cleanup). */
  private afterCommit(s: OtaState): void {
    const removed = pruneReleases(this.root, [s.to, s.from].slice(0, Math.max(1, this.o.keepReleases ?? 2)));
    rmSync(layout.downloads(this.root), { recursive: true, force: true });
    this.log.info({ to: s.to, removed }, 'update committed');
  }

  /** Wait for health (new version on trial), then commit; rolls back at the deadline. */
  confirm(): Promise<OtaOutcome> {
    if (!this.confirmation) this.confirmation = this.runConfirmation();
    return this.confirmation;
  }

  private async runConfirmation(): Promise<OtaOutcome> {
    let s = readOtaState(this.root);
    if (!s || s.phase !== 'confirming') return { status: 'FAILED', reason: 'no update is being confirmed' };
    const deadlineMs = this.o.healthDeadlineMs;
    if (!s.trialDeadline) {
      s.trialDeadline = new Date(Date.now() + deadlineMs).toISOString();
      writeState(this.root, s);
    }
    const deadline = Date.parse(s.trialDeadline);
    const stable = this.o.healthStableMs ?? 10_000;
    const poll = this.o.healthPollMs ?? 1000;
    let healthySince: number | undefined;
    let last = { running: false, connected: false, controlSubscribed: false, dataFlowing: false };
    while (!this.stopped) {
      if (this.agent) {
        try {
          last = this.agent.health();
        } catch (err) {
          this.log.warn({ err: errorMessage(err) }, 'health() threw');
        }
      }
      const ok = last.running && last.connected && last.controlSubscribed && last.dataFlowing;
      healthySince = ok ? (healthySince ?? Date.now()) : undefined;
      if (healthySince !== undefined && Date.now() - healthySince >= stable) {
        s = readOtaState(this.root);
        if (!s || s.phase !== 'confirming') return { status: 'FAILED', reason: 'update state changed during confirmation' };
        await this.phase(s, 'committed', { reason: `running ${s.to} (previous ${s.from})` });
        this.afterCommit(s);
        return { status: 'SUCCEEDED', reason: s.reason! };
      }
      if (Date.now() >= deadline) {
        s = readOtaState(this.root);
        if (!s || s.phase !== 'confirming') return { status: 'FAILED', reason: 'update state changed during confirmation' };
        const flags = Object.entries(last)
          .filter(([, v]) => !v)
          .map(([k]) => k)
          .join(', ');
        const reason = `version ${s.to} did not become healthy within ${Math.round(deadlineMs / 1000)} s (not ${flags || 'stable'}); rolled back to ${s.from}`;
        rollback(this.root, s, reason);
        await this.o.onPhase?.('rolled-back', s);
        return this.restart(reason);
      }
      await this.sleep(Math.min(poll, Math.max(10, deadline - Date.now())));
    }
    return { status: 'RESTARTING', reason: 'stopped' };
  }

  /** Run (or resume) the OTA job `jobId`. */
  async run(jobId: string, doc: OtaDoc, ctx: OtaJobContext): Promise<OtaOutcome> {
    let s = readOtaState(this.root);
    if (s && s.jobId === jobId) {
      switch (s.phase) {
        case 'committed':
          this.afterCommit(s);
          return { status: 'SUCCEEDED', reason: s.reason ?? `running ${s.to}` };
        case 'rolled-back':
        case 'failed':
          return { status: 'FAILED', reason: s.reason ?? 'update failed' };
        case 'rejected':
          return { status: 'REJECTED', reason: s.reason ?? 'update refused' };
        case 'rolling-back':
          rollback(this.root, s, s.reason ?? 'rollback');
          if (this.runningVersion !== s.from) return this.restart(`rolled back to ${s.from}`);
          return { status: 'FAILED', reason: s.reason ?? 'rolled back' };
        case 'confirming':
          if (this.runningVersion === s.to) {
            await ctx.progress({ phase: 'confirming', version: s.to, attempt: String(s.bootAttempts) }, stepMinutes(this.o.healthDeadlineMs) + 1);
            return this.confirm();
          }
          if (currentVersion(this.root) === s.to) return this.restart(`restarting into ${s.to}`);
          s.reason = `version ${s.to} was rolled back outside the agent`;
          await this.phase(s, 'rolled-back');
          return { status: 'FAILED', reason: s.reason };
        default:
          return this.pipeline(s, ctx);
      }
    }
    // a new job
    if (s && (s.phase === 'confirming' || s.phase === 'rolling-back')) {
      return { status: 'FAILED', reason: `another update (job ${s.jobId}, ${s.to}) is still being confirmed` };
    }
    if (s && !TERMINAL.includes(s.phase)) this.cleanup(s); // abandoned (canceled while we were down)
    if (doc.version === this.runningVersion) return { status: 'SUCCEEDED', reason: `already running ${doc.version}` };
    if (compareVersions(doc.version, this.runningVersion) < 0 && doc.allowDowngrade !== true) {
      return { status: 'REJECTED', reason: `downgrade from ${this.runningVersion} to ${doc.version} refused (set "allowDowngrade": true to allow)` };
    }
    try {
      if (loadTrustedKeys(this.o.trustedKeysDir).length === 0) {
        return { status: 'REJECTED', reason: `no trusted OTA signing keys in ${this.o.trustedKeysDir}` };
      }
    } catch (err) {
      return { status: 'REJECTED', reason: errorMessage(err) };
    }
    const t = now();
    s = { jobId, from: this.runningVersion, to: doc.version, doc, phase: 'downloading', bootAttempts: 0, startedAt: t, updatedAt: t };
    await this.phase(s, 'downloading');
    return this.pipeline(s, ctx);
  }

  private downloadFile(s: OtaState): string {
    return path.join(layout.downloads(this.root), `${s.to}-${s.doc.sha256.slice(0, 12).toLowerCase()}.tar.gz`);
  }

  /** Remove download and staging leftovers of an unfinished update and forget it. */
  private cleanup(s: OtaState): void {
    rmSync(this.downloadFile(s), { force: true });
    rmSync(layout.staging(this.root, s.to), { recursive: true, force: true });
    rmSync(layout.state(this.root), { force: true });
  }

  private async fail(s: OtaState, status: 'FAILED' | 'REJECTED', reason: string): Promise<OtaOutcome> {
    rmSync(this.downloadFile(s), { force: true });
    rmSync(layout.staging(this.root, s.to), { recursive: true, force: true });
    await this.phase(s, status === 'REJECTED' ? 'rejected' : 'failed', { reason });
    return { status, reason };
  }

  private async pipeline(s: OtaState, ctx: OtaJobContext): Promise<OtaOutcome> {
    const doc = s.doc;
    const file = this.downloadFile(s);
    const canceled = (): OtaOutcome => {
      this.cleanup(s);
      this.log.warn({ jobId: s.jobId }, 'ota canceled; partial files removed');
      return { status: 'CANCELED', reason: 'job canceled' };
    };
    try {
      if (s.phase === 'downloading') {
        mkdirSync(layout.downloads(this.root), { recursive: true });
        let lastReport = 0;
        let lastPct = -1;
        await ctx.progress({ phase: 'downloading', version: doc.version, received: '0', total: String(doc.size) }, 30);
        const pending: Promise<void>[] = [];
        await downloadToFile({
          url: doc.url,
          file,
          size: doc.size,
          ca: this.o.httpsCa,
          signal: ctx.signal,
          reserveBytes: this.o.reserveBytes,
          extraSpace: doc.size * 3,
          onProgress: (got, total) => {
            this.o.onDownloadProgress?.(got, total);
            const pct = Math.floor((got * 100) / total);
            if (Date.now() - lastReport > 5000 && pct !== lastPct) {
              lastReport = Date.now();
              lastPct = pct;
              pending.push(ctx.progress({ phase: 'downloading', version: doc.version, received: String(got), total: String(total), pct: String(pct) }, 30).catch(() => undefined));
            }
          },
        });
        await Promise.all(pending);
        if (ctx.signal.aborted) return canceled();
        s = await this.phase(s, 'verifying');
      }
      if (s.phase === 'verifying') {
        await ctx.progress({ phase: 'verifying', version: doc.version }, 10);
        const keys = loadTrustedKeys(this.o.trustedKeysDir);
        const v = await verifyArtifact(file, { sha256: doc.sha256, signature: doc.signature, keyId: doc.keyId }, keys);
        if (!v.ok) return this.fail(s, 'REJECTED', `artifact refused: ${v.reason}`);
        if (ctx.signal.aborted) return canceled();
        s = await this.phase(s, 'staging', { keyId: v.keyId });
      }
      if (s.phase === 'staging') {
        await ctx.progress({ phase: 'staging', version: doc.version }, 15);
        const staging = layout.staging(this.root, s.to);
        const final = layout.release(this.root, s.to);
        if (currentVersion(this.root) === s.to) return this.fail(s, 'FAILED', `releases/${s.to} is the current release; refusing to replace it`);
        rmSync(staging, { recursive: true, force: true });
        mkdirSync(staging, { recursive: true });
        try {
          await extractTarGz(file, staging, { signal: ctx.signal, maxBytes: Math.max(doc.size * 20, 64 * 1024 * 1024) });
          const manifest = readReleaseManifest(staging);
          if (manifest.version !== s.to) {
            return this.fail(s, 'REJECTED', `artifact refused: release.json says version ${manifest.version}, the job says ${s.to}`);
          }
          const incompatible = releaseIncompatibility(manifest, staging);
          if (incompatible) return this.fail(s, 'REJECTED', `artifact refused: ${incompatible}`);
          ensureRuntime(staging, manifest);
        } catch (err) {
          if (ctx.signal.aborted) return canceled();
          if (isEdgewiseError(err)) return this.fail(s, 'REJECTED', `artifact refused: ${err.detail}`);
          throw err;
        }
        if (ctx.signal.aborted) return canceled();
        rmSync(final, { recursive: true, force: true });
        renameSync(staging, final);
        s = await this.phase(s, 'switching');
      }
      if (s.phase === 'switching') {
        // from here on the update completes locally even if the job is canceled
        if (!existsSync(layout.release(this.root, s.from))) {
          this.log.warn({ from: s.from }, 'previous release directory is missing: rollback would have nothing to go back to');
        }
        switchCurrent(this.root, s.to);
        s = await this.phase(s, 'confirming', { bootAttempts: 0, trialDeadline: undefined });
        rmSync(file, { force: true });
        await ctx
          .progress({ phase: 'restarting', version: s.to, from: s.from }, stepMinutes(this.o.healthDeadlineMs * (this.o.maxBootAttempts + 1)) + 5)
          .catch(() => undefined);
        return this.restart(`switched to ${s.to}`);
      }
      return { status: 'FAILED', reason: `unexpected update phase ${s.phase}` };
    } catch (err) {
      if (ctx.signal.aborted) return canceled();
      if (err instanceof DownloadError && err.permanent) return this.fail(s, 'FAILED', err.detail);
      if (err instanceof DownloadError) return this.fail(s, 'FAILED', `download failed after retries: ${err.detail}`);
      return this.fail(s, 'FAILED', errorMessage(err));
    }
  }
}
