import { createRequire } from 'node:module';

const requireJson = createRequire(import.meta.url);

function readVersion(): string {
  for (const p of ['../package.json', '../../package.json']) {
    try {
      return (requireJson(p) as { version: string }).version;
    } catch {
      /* try the next layout (src/ vs dist/) */
    }
  }
  return '0.0.0';
}

/** The running agent's version (from package.json). */
export const VERSION: string = readVersion();
