import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Command } from 'commander';
import { EdgewiseError, isEdgewiseError } from '../../errors.js';
import { createLogger, Daemon, demoConfig, loadConfig, type DaemonConfig } from '../../daemon/index.js';
import { decodeBatch } from '../../batches/index.js';
import { otaBootCheck } from '../../control/index.js';
import { VERSION } from '../../version.js';
import { ensureProvisioned } from '../../provision/index.js';

/**
 * A full, compacting garbage collection (the `gc` V8 exposes on request). Exposing it is a
 * process-wide V8 flag, so it is set here, by the command that owns the process, and never by
 * the library's Daemon.
 */
function fullGc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g();
  v8.setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

interface RunOptions {
  config?: string;
  demo?: boolean;
  logLevel?: string;
  exitWhenDone?: boolean;
  drainTimeout?: string;
}

/** One human line per batch part that reached the local broker (demo mode). */
function printBatch(topic: string, payload: Uint8Array): void {
  try {
    const b = decodeBatch(payload);
    const samples = b.signals.reduce((n, s) => n + s.timesMs.length, 0);
    const when = new Date(b.triggerTimeMs).toISOString().replace('T', ' ').replace('Z', '');
    process.stdout.write(
      `batch #${b.seq} ${b.campaign} v${b.campaignVersion} part ${b.partIndex + 1}/${b.partCount}: ` +
        `${samples} samples of ${b.signals.length} signals, trigger ${when}, ${payload.length} bytes -> ${topic}\n`,
    );
  } catch (e) {
    process.stdout.write(`message on ${topic}: ${payload.length} bytes (not a batch: ${(e as Error).message})\n`);
  }
}

export async function runDaemon(opts: RunOptions): Promise<void> {
  if (!opts.config && !opts.demo) throw new EdgewiseError('USAGE', 'run needs --config <file> (or --demo for the built-in demo)');
  let config: DaemonConfig = opts.config ? loadConfig(opts.config) : demoConfig();
  // First thing of every start: is this a new release on trial that must roll back or restart?
  if (config.control.enabled && config.control.ota.enabled) {
    const check = otaBootCheck({
      root: config.control.ota.root,
      runningVersion: VERSION,
      maxBootAttempts: config.control.ota.maxBootAttempts,
      healthDeadlineMs: config.control.ota.healthDeadlineSeconds * 1000,
    });
    if (check.action === 'exit') {
      process.stderr.write(`edgewise: ${check.reason ?? 'OTA boot check'}; exiting with ${check.code} for a restart\n`);
      process.exit(check.code);
    }
  }
  if (opts.logLevel) config.log.level = opts.logLevel as DaemonConfig['log']['level'];
  const logger = createLogger(config.log.level);
  if (opts.demo) {
    process.stdout.write(
      `edgewise demo: replaying ${config.sources.map((s) => (s.type === 'log' ? s.path : s.interface)).join(', ')} ` +
        `through the campaigns in ${config.campaigns.dir}; batches go to a local broker (state in ${config.store.dir})\n` +
        `  in another terminal: node dist/cli/main.js status --socket ${config.statusSocket}\n`,
    );
  }
  // a config with `provisioning` and no identity yet: provision by claim first (a failure exits promptly)
  config = await ensureProvisioned(config, logger);
  process.on('unhandledRejection', (e) => logger.error({ err: e }, 'unhandled rejection (ignored)'));
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(config, {
      logger,
      onLocalMessage: opts.demo ? printBatch : undefined,
      gc: fullGc,
      // An installed OTA update: the daemon has stopped cleanly (store flushed); systemd restarts us.
      exit: (code) => process.exit(code),
    });
  } catch (e) {
    // Open handles (MQTT, sockets, timers) of a half-started agent would keep the process alive:
    // a failed start exits now, non-zero, with one line; the whole error goes to the debug log.
    logger.debug({ err: e }, 'startup failure details');
    const detail = isEdgewiseError(e) ? e.detail : (e as Error)?.message ?? String(e);
    const first = detail.split('\n')[0];
    process.stderr.write(`edgewise: startup failed: ${first.length > 300 ? `${first.slice(0, 300)}... (details at --log-level debug)` : first}\n`);
    logger.flush?.();
    process.exit(isEdgewiseError(e) && e.code === 'USAGE' ? 2 : 1);
  }

  let signals = 0;
  const shutdown = (sig: string): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(1);
    }
    // Hard deadline: a graceful stop must not hang a systemd stop job.
    setTimeout(() => {
      logger.error('graceful stop took too long; exiting');
      process.exit(1);
    }, 10_000).unref();
    void daemon.stop(`signal ${sig}`).then(() => {
      logger.flush?.();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  if (opts.exitWhenDone) {
    await daemon.sourcesFinished();
    const left = await daemon.drain(Number(opts.drainTimeout ?? 60) * 1000);
    if (left > 0 && config.upload.enabled) logger.warn({ batches: left }, 'stored batches not uploaded before the drain timeout (kept in the store)');
    await daemon.stop('sources finished');
    // Native MQTT handles can keep the event loop alive after a clean stop: leave explicitly.
    logger.flush?.();
    setImmediate(() => process.exit(0));
    return;
  }
  // Otherwise run until a signal arrives.
  await new Promise<never>(() => undefined);
}

export function register(program: Command): void {
  program
    .command('run')
    .description('run the agent: sources -> decode -> campaigns -> store -> upload')
    .option('-c, --config <file>', 'configuration file (YAML or JSON); see `edgewise config check`')
    .option('--demo', 'run the built-in demo: example drive, example campaigns, local broker')
    .option('--log-level <level>', 'override log.level (fatal|error|warn|info|debug|trace)')
    .option('--exit-when-done', 'stop once every log source has been replayed and the store is uploaded (scripts, tests)')
    .option('--drain-timeout <seconds>', 'with --exit-when-done: longest wait for the upload of stored batches', '60')
    .action(async (opts: RunOptions) => {
      await runDaemon(opts);
    });
}
