/** Runs the `edgewise` CLI in-process (the real `main`), capturing stdout, stderr and the exit code. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The shared DBC corpus and logs beside a checkout (absent in a user's fresh clone). */
export const SHARED = path.resolve(REPO, '../shared');

export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  const text = (c: string | Uint8Array): string => (typeof c === 'string' ? c : Buffer.from(c).toString());
  process.exitCode = undefined;
  process.stdout.write = ((c: string | Uint8Array) => ((out += text(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((err += text(c)), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv), out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    process.exitCode = undefined;
  }
}
