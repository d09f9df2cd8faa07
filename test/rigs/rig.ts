/**
 * Debian root file systems for the install tests (scripts/rigs/debian-root.sh): built once per
 * machine (cached), copied per test file. `skip` says why this machine cannot, so the tests skip
 * with that reason instead of failing (exit 77 of the script: not root, debootstrap or binfmt_misc
 * refused, no Debian mirror).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(ROOT, 'scripts/rigs/debian-root.sh');
export const SHARED_SKIP = '../shared/logs is not beside this checkout';

export interface Rig {
  /** Why this machine cannot run the rig, or undefined. */
  skip?: string;
  /** Scratch directory for this rig's files (not under /tmp: a booted guest mounts its own /tmp). */
  work: string;
  /** A fresh copy of the root at `dest` (returned). */
  root(dest: string): string;
  /** Environment for processes inside the root (the host's, less what points at host files). */
  env: NodeJS.ProcessEnv;
}

function make(arch: 'arm64' | 'amd64'): Rig {
  const work = path.join(process.env.EDGEWISE_RIG_WORK ?? '/var/tmp/edgewise-rig-work');
  const env: NodeJS.ProcessEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root' };
  const root = (dest: string): string => {
    const r = spawnSync('bash', [SCRIPT, arch, dest], { encoding: 'utf8', timeout: 900_000 });
    if (r.status !== 0) throw new Error(`debian-root.sh ${arch} failed (${r.status}): ${r.stderr.trim()}`);
    return dest;
  };
  if (process.getuid?.() !== 0) return { skip: 'needs root (debootstrap, chroot)', work, root, env };
  if (process.arch !== 'x64' && process.arch !== 'arm64') return { skip: `no Debian ${arch} root on ${process.arch}`, work, root, env };
  // Build (or find) the cached root now, so a machine that cannot is a skip with its reason.
  mkdirSync(work, { recursive: true });
  const probe = spawnSync('bash', [SCRIPT, arch, path.join(work, `probe-${arch}-${process.pid}`)], { encoding: 'utf8', timeout: 900_000 });
  spawnSync('rm', ['-rf', path.join(work, `probe-${arch}-${process.pid}`)]);
  if (probe.status === 77) return { skip: probe.stderr.trim().split('\n').at(-1), work, root, env };
  if (probe.status !== 0) throw new Error(`debian-root.sh ${arch}: exit ${probe.status}: ${probe.stderr.trim()}`);
  return { work, root, env };
}

export const arm64Rig = (): Rig => make('arm64');
export const amd64Rig = (): Rig => make('amd64');
