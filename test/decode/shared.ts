import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `../shared` beside the repository (the DBC corpus and logs); tests skip when it is absent. */
export const SHARED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared');
export const DBC_DIR = path.join(SHARED, 'dbc');
export const HAVE_SHARED = existsSync(DBC_DIR);
if (!HAVE_SHARED) console.warn(`skipping tests that need the DBC corpus: ${DBC_DIR} not found`);

export function sharedDbcFiles(): string[] {
  return HAVE_SHARED ? readdirSync(DBC_DIR).filter((f) => f.endsWith('.dbc')).sort() : [];
}

export function dbcPath(name: string): string {
  return path.join(DBC_DIR, name);
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}
