/**
 * The daemon: wiring of the stages (daemon.ts), its configuration (config.ts, every default),
 * the status socket and metrics, systemd notification. Only the CLI sits above it.
 */
export { Daemon, type DaemonOptions } from './daemon.js';
export {
  loadConfig,
  parseConfig,
  configSchema,
  DEFAULT_INSTALL_ROOT,
  INSTALLED_CONFIG,
  INSTALLED_STATUS_SOCKET,
  type DaemonConfig,
  type SourceConfig,
} from './config.js';
export { demoConfig } from './demo.js';
export { createLogger } from './logger.js';
export { readStatus, StatusServer } from './status-server.js';
export { packageRoot } from './paths.js';
