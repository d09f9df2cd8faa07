/**
 * The install layout OTA works on (shared with the install script):
 *
 *   <root>/releases/<version>/    one complete app per version (dist/, node_modules/, package.json, release.json)
 *   <root>/current -> releases/<version>    what the service runs (`node <root>/current/dist/cli/main.js run ...`)
 *   <root>/ota/state.json         the update state machine (atomic writes)
 *   <root>/ota/downloads/         artifacts being downloaded (resumable)
 *
 * All of it on one file system so rename(2) is atomic.
 */
import { readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { EdgewiseError } from '../../errors.js';
import { fsyncDir } from '../../files.js';
import { isVersion } from '../semver.js';

export const ReleaseManifestSchema = z.object({
  version: z.string().refine(isVersion, 'must be x.y.z[-pre]'),
  /** Node's process.arch of the build (arm64, x64); absent in releases built before 0.2. */
  arch: z.string().optional(),
  platform: z.string().optional(),
  libc: z.string().optional(),
  /** engines range the release needs when it brings no runtime of its own */
  node: z.string().optional(),
  /** bundled: the release carries runtime/bin/node (the unit runs current/runtime/bin/node) */
  runtime: z.object({ bundled: z.boolean(), node: z.string().optional() }).optional(),
  created: z.string().optional(),
  files: z.record(z.string(), z.string()).optional(),
});
export type ReleaseManifest = z.infer<typeof ReleaseManifestSchema>;

export const layout = {
  releases: (root: string) => path.join(root, 'releases'),
  release: (root: string, version: string) => path.join(root, 'releases', version),
  staging: (root: string, version: string) => path.join(root, 'releases', `.staging-${version}`),
  current: (root: string) => path.join(root, 'current'),
  otaDir: (root: string) => path.join(root, 'ota'),
  state: (root: string) => path.join(root, 'ota', 'state.json'),
  downloads: (root: string) => path.join(root, 'ota', 'downloads'),
};

/** The version `current` points at, or undefined when there is no such symlink. */
export function currentVersion(root: string): string | undefined {
  try {
    const target = readlinkSync(layout.current(root));
    return path.basename(target);
  } catch {
    return undefined;
  }
}

/** Atomically point `current` at releases/<version> (symlink to a temp name, then rename over). */
export function switchCurrent(root: string, version: string): void {
  if (!isVersion(version)) throw new EdgewiseError('IO', `refusing to switch to ${JSON.stringify(version)}`);
  const tmp = path.join(root, `.current.${process.pid}.tmp`);
  rmSync(tmp, { force: true });
  symlinkSync(path.join('releases', version), tmp);
  renameSync(tmp, layout.current(root));
  fsyncDir(root);
}

export function readReleaseManifest(dir: string): ReleaseManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path.join(dir, 'release.json'), 'utf8'));
  } catch (err) {
    throw new EdgewiseError('IO', `release has no readable release.json: ${(err as Error).message}`, { dir });
  }
  const r = ReleaseManifestSchema.safeParse(raw);
  if (!r.success) throw new EdgewiseError('IO', `release.json is invalid: ${r.error.issues[0]?.message ?? 'schema'}`, { dir });
  return r.data;
}

/** Installed release versions (staging directories excluded). */
export function listReleases(root: string): string[] {
  try {
    return readdirSync(layout.releases(root)).filter(isVersion);
  } catch {
    return [];
  }
}

/** Delete every release not in `keep`, plus leftover staging directories. */
export function pruneReleases(root: string, keep: string[]): string[] {
  const removed: string[] = [];
  const cur = currentVersion(root);
  let names: string[] = [];
  try {
    names = readdirSync(layout.releases(root));
  } catch {
    return removed;
  }
  for (const n of names) {
    if (n.startsWith('.staging-') || (isVersion(n) && !keep.includes(n) && n !== cur)) {
      rmSync(path.join(layout.releases(root), n), { recursive: true, force: true });
      removed.push(n);
    }
  }
  return removed;
}
