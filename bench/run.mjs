#!/usr/bin/env node
/**
 * `npm run bench [-- <filter>...]`: runs every `bench/*.bench.mjs` and `bench/*.bench.ts` case in
 * turn, each in its own Node process (so one case's JIT state and heap do not colour the next).
 *
 * - `.mjs` cases may import the built package from `dist/`; it is (re)built first when missing
 *   or older than any file under `src/`.
 * - `.ts` cases are bundled with esbuild (a tsup dependency) into `.tmp/bench/` and run from there,
 *   so they can import `src/` directly without a TypeScript loader.
 * A filter keeps only the cases whose file name contains one of the given words.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '..');
const filters = process.argv.slice(2);

function newestMtime(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

function ensureBuilt() {
  const marker = path.join(ROOT, 'dist', 'index.js');
  const stale = !existsSync(marker) || statSync(marker).mtimeMs < newestMtime(path.join(ROOT, 'src'));
  if (!stale) return;
  console.log('bench: building dist/ (npm run build) ...');
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    console.error('bench: build failed');
    process.exit(1);
  }
}

async function bundle(file) {
  const { build } = await import('esbuild');
  const outdir = path.join(ROOT, '.tmp', 'bench');
  mkdirSync(outdir, { recursive: true });
  const outfile = path.join(outdir, path.basename(file).replace(/\.ts$/, '.mjs'));
  await build({
    entryPoints: [file],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  return outfile;
}

const cases = readdirSync(BENCH)
  .filter((f) => /\.bench\.(mjs|ts)$/.test(f))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();

if (cases.length === 0) {
  console.log(`bench: no cases${filters.length ? ` matching ${filters.join(', ')}` : ''} in bench/`);
  process.exit(0);
}

if (cases.some((f) => f.endsWith('.mjs'))) ensureBuilt();

let failed = 0;
for (const name of cases) {
  const file = path.join(BENCH, name);
  console.log(`\n## ${name}\n`);
  const script = name.endsWith('.ts') ? await bundle(file) : file;
  const r = spawnSync(process.execPath, ['--expose-gc', script], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, BENCH_ROOT: ROOT } });
  if (r.status !== 0) {
    failed++;
    console.error(`bench: ${name} failed (exit ${r.status ?? r.signal})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
