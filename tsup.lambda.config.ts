import { defineConfig } from 'tsup';

/**
 * The cloud Lambdas (src/cloud/): one self-contained ESM file per handler under dist/lambda/, for the
 * nodejs20.x runtime. The AWS SDK v3 is provided by the runtime and stays external; everything else
 * (protobufjs, snappyjs, the batch codec) is bundled. Nothing device-side (aws-crt, LevelDB, serial,
 * MQTT) may be reachable from these entries: test/cloud/bundle.test.ts checks the output's imports.
 */
export default defineConfig({
  entry: { 'lambda/firehose': 'src/cloud/firehose.ts', 'lambda/kinesis': 'src/cloud/kinesis.ts' },
  format: ['esm'],
  outExtension: () => ({ js: '.mjs' }),
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: false,
  metafile: true,
  splitting: false,
  bundle: true,
  noExternal: [/^(?!@aws-sdk\/)/],
  external: [/^@aws-sdk\//],
  minifyWhitespace: true,
  minifySyntax: true,
  banner: { js: "import { createRequire as __edgewiseCreateRequire } from 'node:module'; const require = __edgewiseCreateRequire(import.meta.url);" },
});
