// Builds the native SocketCAN helper (native/edgewise_can.c) with node-gyp; run by `npm ci` /
// `npm install` (package.json "install"). Uses the local Node headers when they are installed
// (Debian/Ubuntu nodejs: /usr/include/node), so no download is needed; otherwise node-gyp fetches
// them. A failed build only warns (log replay and OBD over serial work without it) unless
// EDGEWISE_NATIVE_REQUIRED=1, for CI and packaging.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
if (process.platform !== 'linux') {
  console.warn('edgewise: SocketCAN exists only on Linux; native helper not built');
  process.exit(0);
}
const prefix = path.resolve(path.dirname(process.execPath), '..');
// node-gyp: the one npm runs scripts with, else npm's bundled copy, else whatever is on PATH.
const bundled = path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
const gyp = process.env.npm_config_node_gyp ?? (existsSync(bundled) ? bundled : undefined);
const cmd = gyp ? process.execPath : 'node-gyp';
const args = gyp ? [gyp] : [];
args.push('rebuild', `--directory=${here}`);
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(cmd, args, { stdio: 'inherit' });
if (r.status !== 0) {
  const msg =
    'edgewise: the native SocketCAN helper was NOT built (needs python3, make and a C compiler); ' +
    'socketcan sources will not start. See docs/can.md';
  if (process.env.EDGEWISE_NATIVE_REQUIRED === '1') {
    console.error(msg);
    process.exit(1);
  }
  console.warn(msg);
}
