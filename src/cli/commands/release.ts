/**
 * `edgewise release status` shows the installed releases and the OTA update state;
 * `edgewise release verify` checks an artifact against an OTA job document the way a device does
 * (size, SHA-256, signature with the trusted keys, safe extraction, release.json version).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import {
  currentVersion,
  extractTarGz,
  listReleases,
  loadTrustedKeys,
  parseJobDocument,
  readOtaState,
  readReleaseManifest,
  verifyArtifact,
} from '../../control/index.js';
import { EdgewiseError } from '../../errors.js';

import { DEFAULT_INSTALL_ROOT } from '../../daemon/index.js';
export const DEFAULT_KEYS = '/etc/edgewise/ota-keys';

export function register(program: Command): void {
  const release = program.command('release').description('installed releases, OTA state and artifact checks');

  release
    .command('status')
    .description('show the installed releases, what `current` points at and the OTA update state')
    .option('--root <dir>', 'install root (releases/, current, ota/)', DEFAULT_INSTALL_ROOT)
    .option('--json', 'print JSON')
    .action((opts: { root: string; json?: boolean }) => {
      const releases = listReleases(opts.root);
      if (releases.length === 0 && currentVersion(opts.root) === undefined) {
        throw new EdgewiseError('USAGE', `no releases under ${opts.root} (use --root)`, { root: opts.root });
      }
      const state = readOtaState(opts.root);
      const current = currentVersion(opts.root) ?? null;
      if (opts.json) {
        process.stdout.write(JSON.stringify({ root: opts.root, current, releases, ota: state ?? null }, null, 2) + '\n');
        return;
      }
      const lines = [`current  ${current ?? '(none)'}`, `releases ${releases.join(', ') || '(none)'}`];
      if (!state) lines.push('ota      no update recorded');
      else {
        lines.push(`ota      job ${state.jobId}: ${state.from} -> ${state.to}, phase ${state.phase}${state.phase === 'confirming' ? ` (boot ${state.bootAttempts})` : ''}`);
        if (state.reason) lines.push(`         ${state.reason}`);
        lines.push(`         updated ${state.updatedAt}`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    });

  release
    .command('verify')
    .description('check an artifact against an OTA job document like a device would (exit 1 when refused)')
    .argument('<artifact>', 'release tarball (.tar.gz)')
    .requiredOption('--job <file>', 'OTA job document (JSON)')
    .option('--keys <dir>', 'trusted public keys (<keyId>.pem)', DEFAULT_KEYS)
    .action(async (artifact: string, opts: { job: string; keys: string }) => {
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(opts.job, 'utf8'));
      } catch (e) {
        throw new EdgewiseError('USAGE', `cannot read job document ${opts.job}: ${(e as Error).message}`, { file: opts.job });
      }
      const parsed = parseJobDocument(raw);
      if (!parsed.ok) throw new EdgewiseError('USAGE', `${opts.job}: ${parsed.reason}`, { file: opts.job });
      if (parsed.doc.operation !== 'ota') throw new EdgewiseError('USAGE', `${opts.job}: operation is ${parsed.doc.operation}, not ota`, { file: opts.job });
      const doc = parsed.doc;
      let size: number;
      try {
        size = statSync(artifact).size;
      } catch (e) {
        throw new EdgewiseError('IO', `cannot read ${artifact}: ${(e as Error).message}`, { file: artifact });
      }
      if (size !== doc.size) throw new EdgewiseError('IO', `refused: ${artifact} has ${size} bytes, the job says ${doc.size}`);
      const v = await verifyArtifact(artifact, { sha256: doc.sha256, signature: doc.signature, keyId: doc.keyId }, loadTrustedKeys(opts.keys));
      if (!v.ok) throw new EdgewiseError('IO', `refused: ${v.reason}`);
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'edgewise-verify-'));
      try {
        const r = await extractTarGz(artifact, tmp);
        const m = readReleaseManifest(tmp);
        if (m.version !== doc.version) throw new EdgewiseError('IO', `refused: release.json says ${m.version}, the job says ${doc.version}`);
        process.stdout.write(`ok: ${artifact} is release ${m.version} (${r.files} files, ${r.bytes} bytes), sha256 ${v.sha256}, signed by ${v.keyId}\n`);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
}
