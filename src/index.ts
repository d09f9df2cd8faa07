/** edgewise as a library: each pipeline stage's public interface. */
export * from './errors.js';
export type * from './types.js';
export { VERSION } from './version.js';
export * from './dbc/index.js';
export * from './decode/index.js';
export * from './sources/index.js';
export * from './obd/index.js';
export * from './campaigns/index.js';
export * from './batches/index.js';
export * from './store/index.js';
export * from './upload/index.js';
export * from './control/index.js';
export { Daemon, type DaemonOptions } from './daemon/daemon.js';
export { loadConfig, parseConfig, configSchema, type DaemonConfig } from './daemon/config.js';
