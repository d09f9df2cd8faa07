import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { loadConfig, type DaemonConfig } from '../../daemon/index.js';

/**
 * Files the daemon will need that are not there (or not readable) on this machine. Not an error:
 * a config is often checked on a workstation before it goes to the vehicle.
 */
export function missingFiles(cfg: DaemonConfig): string[] {
  const problems: string[] = [];
  const need = (what: string, file: string | undefined, kind: 'file' | 'dir' = 'file'): void => {
    if (!file || file === '-') return;
    if (!existsSync(file)) {
      problems.push(`${what}: ${file} does not exist${kind === 'dir' ? ' (directory)' : ''}`);
      return;
    }
    try {
      accessSync(file, constants.R_OK);
    } catch {
      problems.push(`${what}: ${file} is not readable by this user`);
    }
  };
  need('manifest', cfg.manifest);
  need('campaigns.dir', cfg.campaigns.dir, 'dir');
  cfg.sources.forEach((s, i) => {
    if (s.type === 'log') need(`sources[${i}].path`, s.path);
  });
  if (cfg.upload.enabled && cfg.upload.endpoint !== 'local') {
    need('upload.caFile', cfg.upload.caFile);
    need('upload.certFile', cfg.upload.certFile);
    need('upload.keyFile', cfg.upload.keyFile);
  }
  const sockDir = path.dirname(cfg.statusSocket);
  if (!existsSync(sockDir)) problems.push(`statusSocket: directory ${sockDir} does not exist (created at start if its parent is writable)`);
  return problems;
}

export function register(program: Command): void {
  const config = program.command('config').description('Work with the daemon configuration file');
  config
    .command('check')
    .description('Validate a daemon config (YAML or JSON) and print the effective configuration with every default filled in')
    .argument('<file>', 'config file, e.g. /etc/edgewise/config.yaml')
    .option('--json', 'print the effective config as JSON instead of YAML')
    .option('-q, --quiet', 'print nothing on success (exit status only)')
    .action((file: string, opts: { json?: boolean; quiet?: boolean }) => {
      const cfg = loadConfig(file); // throws CONFIG_INVALID listing every problem -> exit 1
      if (!opts.quiet) {
        process.stdout.write(opts.json ? JSON.stringify(cfg, null, 2) + '\n' : `# effective configuration of ${path.resolve(file)}\n${toYaml(cfg)}`);
      }
      for (const p of missingFiles(cfg)) process.stderr.write(`edgewise: warning: ${p}\n`);
    });
}
