#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { EdgewiseError, isEdgewiseError } from '../errors.js';
import { commands } from './commands/index.js';
import { VERSION } from '../version.js';
import { EPIPE_EXIT, exitQuietlyOnEpipe, isEpipe } from './epipe.js';

/** Longest error line printed; the rest is for --log-level debug (a start-up error can list hundreds of names). */
const MAX_ERROR_CHARS = 600;

function oneLineDetail(detail: string): string {
  const flat = detail.replace(/\s*\n\s*/g, '; ');
  return flat.length <= MAX_ERROR_CHARS ? flat : `${flat.slice(0, MAX_ERROR_CHARS)}... (${flat.length - MAX_ERROR_CHARS} more characters)`;
}

/** Prints an error the way every edgewise command does: one line, no stack, and sets the exit code. */
export function reportError(e: unknown): number {
  // The reader of stdout went away (`| head`): end quietly.
  if (isEpipe(e)) return EPIPE_EXIT;
  if (isEdgewiseError(e)) {
    const c = e.context as { file?: string; line?: number; column?: number };
    const where = c.file !== undefined && c.line !== undefined ? `${c.file}:${c.line}:${c.column ?? 1}: ` : '';
    process.stderr.write(`edgewise: ${where}${oneLineDetail(e.detail)}\n`);
    return e.code === 'USAGE' ? 2 : 1;
  }
  const err = e as Error;
  process.stderr.write(`edgewise: internal error: ${err?.stack ?? String(e)}\n`);
  return 70;
}

/** Usage errors are one line: commander's message and where to look for help. */
function oneLine(str: string, write: (s: string) => void): void {
  const first = str.split('\n')[0].replace(/^error: /, '');
  write(`edgewise: ${first} (see --help)\n`);
}

export function buildProgram(): Command {
  const program = new Command('edgewise')
    .description('Vehicle edge agent: decode CAN/OBD, run collection campaigns, store and forward to AWS IoT Core')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: oneLine });
  for (const register of commands) register(program);
  // Sub-commands inherit the one-line usage errors and exit code 2.
  const apply = (cmd: Command): void => {
    cmd.exitOverride().configureOutput({ outputError: oneLine });
    cmd.commands.forEach(apply);
  };
  program.commands.forEach(apply);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof EdgewiseError || e instanceof Error) return reportError(e);
    return reportError(e);
  }
}

// Run when executed as the bin (not when imported by tests).
const invoked = process.argv[1] ?? '';
if (/(?:^|[\\/])(main\.(?:js|ts)|edgewise)$/.test(invoked)) {
  // A reader that went away (`edgewise ... | head`) ends the command quietly, as Unix tools do.
  exitQuietlyOnEpipe();
  // A failed command exits once its output is written: open handles (MQTT, sockets, timers) of a
  // start that failed half way must not keep the process alive (systemd restarts and rolls back on exit).
  const finish = (code: number): void => {
    process.exitCode = code;
    if (code !== 0) process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  };
  main(process.argv.slice(2)).then(finish, (e) => finish(reportError(e)));
}
