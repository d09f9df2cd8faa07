/**
 * The configuration `npm start` runs: the bundled example drive replayed 10x faster in a loop,
 * the example campaigns, and a local development broker with generated certificates — nothing
 * to set up. State goes to ./var/demo in the working directory.
 */
import path from 'node:path';
import { parseConfig, type DaemonConfig } from './config.js';
import { packageRoot } from './paths.js';

export function demoConfig(workDir = process.cwd()): DaemonConfig {
  const root = packageRoot();
  const state = path.join(workDir, 'var', 'demo');
  return parseConfig(
    {
      vehicle: { name: 'edgewise-demo' },
      manifest: path.join(root, 'examples', 'manifest.yaml'),
      campaigns: { dir: path.join(root, 'campaigns') },
      sources: [{ type: 'log', path: path.join(root, 'examples', 'drive.log.gz'), speed: 10, loop: true }],
      store: { dir: path.join(state, 'store') },
      upload: { endpoint: 'local', localBrokerDir: path.join(state, 'broker') },
      log: { level: 'warn' },
      statusSocket: path.join(state, 'edgewise.sock'),
    },
    '<demo>',
    workDir,
  );
}
