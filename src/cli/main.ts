#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { EdgewiseError, isEdgewiseError } from '../errors.js';
import { commands } from './commands/index.js';
import { VERSION } from '../version.js';

/** Prints an error the way every edgewise command does: one line, no stack, and sets the exit code. */
export function reportError(e: unknown): number {
  if (isEdgewiseError(e)) {
    const c = e.context as { file?: string; line?: number; column?: number };
    const where = c.file !== undefined && c.line !== undefined ? `${c.file}:${c.line}:${c.column ?? 1}: ` : '';
    process.stderr.write(`edgewise: ${where}${e.detail}\n`);
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
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.exitCode = reportError(e);
    },
  );
}
