/**
 * Tests that spawn the real `edgewise` binary use dist/. Build it once per run when it is
 * missing or older than the sources (CI builds before testing, so this is a no-op there).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export default function setup(): void {
  const bin = path.join(ROOT, 'dist/cli/main.js');
  const stale = !existsSync(bin) || statSync(bin).mtimeMs < Math.max(newest(path.join(ROOT, 'src')), newest(path.join(ROOT, 'proto')));
  if (!stale) return;
  const started = Date.now();
  try {
    execFileSync('npx', ['tsup', '--silent'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    // The JS bundle is written before the .d.ts step; a type error there is the typecheck's job.
    if (!existsSync(bin) || statSync(bin).mtimeMs < started) throw e;
  }
}
