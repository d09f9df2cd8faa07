// @ts-check
/**
 * ESLint (flat config): typescript-eslint's recommended rules, and the architecture's layer order
 * as import rules, so a back-arrow fails `npm run lint` and CI (docs/architecture.md).
 *
 * LAYERS lists src/ folders bottom-up: a folder may import only folders before it (and the shared
 * root files src/types.ts, errors.ts, log.ts, files.ts, version.ts), and only through their
 * index.ts. The root files import no folder. test/lint/layers.test.ts proves a back-import fails.
 */
import tseslint from 'typescript-eslint';

export const LAYERS = [
  'can', // frame objects, SocketCAN reader/writer, native binding
  'j1939', // J1939 diagnostics (DM1/DM2)
  'dbc', // DBC parser
  'documents', // YAML/JSON source positions, problems, suggestions
  'decode', // compiled DBC decoders
  'sources', // candump logs, LogSource
  'manifest', // decoder manifest: signals -> DBC messages -> decoders
  'obd', // OBD-II: J1979, ELM327, ISO-TP, poller, ObdSource
  'campaigns', // campaign documents, expressions, engine
  'batches', // batch wire format
  'partitions', // data partitions: split, store limits, upload gates
  'cloud', // the cloud-side Lambdas (decode batches to rows); bundled alone
  'store', // LevelDB store-and-forward
  'upload', // MQTT connection, uploader, development broker
  'control', // shadow, jobs, OTA
  'simulate', // campaign simulation: composes sources, manifest, campaigns, batches
  'daemon', // wiring, config, status
  'provision', // fleet provisioning by claim (before the daemon starts)
  'cli', // commands
];

const alt = (names) => names.join('|');

/** Import rules for files of `folder`. */
function layerRule(folder) {
  const i = LAYERS.indexOf(folder);
  const above = LAYERS.slice(i + 1);
  const others = LAYERS.filter((f) => f !== folder);
  const patterns = [
    {
      regex: `^(\\.\\./)+(${alt(others)})/(?!index\\.js$)`,
      message: `import another folder only through its index.ts (its public interface)`,
    },
  ];
  if (above.length > 0) {
    patterns.push({
      regex: `^(\\.\\./)+(${alt(above)})(/|$)`,
      message: `back-arrow: ${folder}/ is below these folders in the layer order (eslint.config.js LAYERS)`,
    });
  }
  return { files: [`src/${folder}/**/*.ts`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'native/build/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-empty-function': 'off',
    },
  },
  {
    // Tests and benchmarks read untyped JSON from child processes and brokers; `any` there is deliberate.
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  ...LAYERS.map(layerRule),
  {
    // Shared root files sit below every folder.
    files: ['src/*.ts'],
    ignores: ['src/index.ts', 'src/dev.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: `^\\./(${alt(LAYERS)})/`, message: 'src/*.ts are the bottom layer: they import no folder' }] }],
    },
  },
  {
    // The library entry points re-export folders, through their index.ts only.
    files: ['src/index.ts', 'src/dev.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: `^\\./(${alt(LAYERS)})/(?!index\\.js$)`, message: 'export a folder only through its index.ts' }] }],
    },
  },
);
