/**
 * Can this vehicle run a release? Checked after extraction and before `current` is switched, so a
 * release for another architecture or Node runtime is refused (job REJECTED), never swapped to.
 *
 * release.json (written by scripts/release/build.mjs) names `arch` (Node's `process.arch`: arm64,
 * x64), `platform`/`libc` and the runtime: `{bundled: true, node: "20.20.2"}` when the release
 * carries its own Node as runtime/bin/node, else `{bundled: false}` and `node` (an engines range,
 * ">=20") must be met by the Node the agent runs on now (the system's). Releases built before
 * these fields existed carry none of them and are accepted as before (with the host's arch assumed).
 *
 * The build-time twin of the architecture table is scripts/release/arch.mjs.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import type { ReleaseManifest } from './layout.js';

/** ELF e_machine per Node architecture (System V ABI: EM_AARCH64 = 183, EM_X86_64 = 62). */
export const ELF_MACHINE: Readonly<Record<string, number>> = { arm64: 183, x64: 62 };

/** e_machine of an ELF file, or undefined when it is not one (or unreadable). */
export function elfMachine(file: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const h = Buffer.alloc(20);
    if (readSync(fd, h, 0, 20, 0) < 20 || h.readUInt32BE(0) !== 0x7f454c46) return undefined;
    return h[5] === 2 ? h.readUInt16BE(18) : h.readUInt16LE(18);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The lowest major version an engines range such as ">=20" or "^20.1" allows (undefined: any). */
export function minimumNodeMajor(range: string | undefined): number | undefined {
  const m = /(\d+)/.exec(range ?? '');
  return m ? Number(m[1]) : undefined;
}

/** The system's Node.js, which a release without a bundled runtime runs on (what install.sh links). */
export const SYSTEM_NODE = '/usr/bin/node';

export interface Host {
  arch: string;
  platform: string;
  /** Version of the system's Node ({@link SYSTEM_NODE}); undefined when there is none. */
  systemNode: () => string | undefined;
}

function systemNodeVersion(): string | undefined {
  if (process.execPath === SYSTEM_NODE) return process.versions.node;
  if (!existsSync(SYSTEM_NODE)) return undefined;
  try {
    return execFileSync(SYSTEM_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return undefined;
  }
}

const thisHost = (): Host => ({ arch: process.arch, platform: process.platform, systemNode: systemNodeVersion });

/** Why `dir` (an extracted release with manifest `m`) cannot run here, or undefined when it can. */
export function releaseIncompatibility(m: ReleaseManifest, dir: string, host: Host = thisHost()): string | undefined {
  if (m.platform !== undefined && m.platform !== host.platform) return `the release is for ${m.platform}, this vehicle runs ${host.platform}`;
  if (m.arch !== undefined && m.arch !== host.arch) return `the release is for linux-${m.arch}, this vehicle is linux-${host.arch}`;
  const want = ELF_MACHINE[host.arch];
  if (m.runtime?.bundled) {
    const node = path.join(dir, 'runtime', 'bin', 'node');
    if (!existsSync(node)) return 'release.json says the runtime is bundled but runtime/bin/node is missing';
    const machine = elfMachine(node);
    if (want !== undefined && machine !== want) return `runtime/bin/node is not a ${host.arch} executable (ELF machine ${machine ?? 'none'})`;
  } else {
    const have = host.systemNode();
    if (have === undefined) return `the release brings no Node.js runtime and this vehicle has none at ${SYSTEM_NODE}`;
    const min = minimumNodeMajor(m.node);
    if (min !== undefined && Number(have.split('.')[0]) < min) return `the release needs Node.js ${m.node} and brings none; ${SYSTEM_NODE} is ${have}`;
  }
  const addon = path.join(dir, 'native', 'build', 'Release', 'edgewise_can.node');
  if (want !== undefined && existsSync(addon) && elfMachine(addon) !== want) return `native/build/Release/edgewise_can.node is not built for ${host.arch}`;
  return undefined;
}

/**
 * The unit runs `<root>/current/runtime/bin/node`: a release without its own runtime gets a link to
 * the system's Node there (as install.sh makes), so one unit file serves both kinds of release.
 */
export function ensureRuntime(dir: string, m: ReleaseManifest): void {
  const node = path.join(dir, 'runtime', 'bin', 'node');
  if (m.runtime?.bundled) return;
  try {
    lstatSync(node);
    return; // already there (a link or a file)
  } catch {
    /* absent: make the link */
  }
  mkdirSync(path.dirname(node), { recursive: true });
  symlinkSync(SYSTEM_NODE, node);
}
