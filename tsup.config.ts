import { defineConfig } from 'tsup';

/**
 * Pure-JS dependencies that are bundled into dist/ and minified (whitespace and syntax only:
 * function names stay, so stack traces in the journal remain readable). V8 keeps the source text
 * of every loaded module in the heap for lazy compilation: bundled and minified, zod (with its
 * ~40 locale modules dropped), yaml and commander cost the daemon ~3 MB less RSS
 * (bench/soak.bench.ts). Native addons and packages with worker files or dynamic requires
 * (aws-crt, classic-level, serialport, pino, protobufjs, ...) stay in node_modules.
 */
const BUNDLED = /^(zod|yaml|js-yaml|commander|snappyjs|pako)(\/|$)/;

export default defineConfig({
  entry: { index: 'src/index.ts', dev: 'src/dev.ts', 'cli/main': 'src/cli/main.ts' },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: { entry: { index: 'src/index.ts', dev: 'src/dev.ts' } },
  sourcemap: true,
  clean: true,
  splitting: true,
  shims: false,
  noExternal: [BUNDLED],
  // Every other package stays external (including ones used directly but not listed, by accident).
  external: [/^(?!(?:zod|yaml|js-yaml|commander|snappyjs|pako)(?:\/|$))[^./]/],
  minifyWhitespace: true,
  minifySyntax: true,
  // Bundled CommonJS (commander, pako) calls require(): give the ESM chunks one.
  banner: { js: "import { createRequire as __edgewiseCreateRequire } from 'node:module'; const require = __edgewiseCreateRequire(import.meta.url);" },
  esbuildOptions(o) {
    // ASCII output: V8 stores a source with any non-Latin-1 character as two bytes per character.
    o.charset = 'ascii';
  },
});
