/** Builds the commands stage from the validated config (the daemon's one entry point). */
import type { DecoderTable } from '../../decode/index.js';
import { EdgewiseError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { Actuator, type AllowedSignal, type CanWriter } from './actuator.js';
import { compileActuatorCondition } from './condition.js';
import type { CommandsConfig } from './config.js';
import { CommandsRunner, type CommandHandlers } from './runner.js';
import { mqtt5Transport, type SubscribingConnection } from './transport.js';

export interface CommandsStage {
  runner: CommandsRunner;
  actuator: Actuator | undefined;
}

export async function startCommands(opts: {
  config: CommandsConfig;
  thing: string;
  connection: SubscribingConnection;
  stateDir: string;
  /** The DBC of `config.interface` (null when the manifest binds none). */
  table: DecoderTable | null;
  writer: () => CanWriter | undefined;
  handlers?: CommandHandlers;
  logger: Logger;
}): Promise<CommandsStage> {
  const c = opts.config;
  let actuator: Actuator | undefined;
  if (Object.keys(c.actuators).length) {
    if (!c.interface) throw new EdgewiseError('CONFIG_INVALID', 'commands.actuators needs commands.interface (the CAN interface to write to)');
    if (!opts.table) throw new EdgewiseError('CONFIG_INVALID', `commands.interface ${c.interface} has no DBC in the manifest`);
    const allow: Record<string, AllowedSignal> = {};
    actuator = new Actuator({ table: opts.table, allow, e2e: c.e2e, writer: opts.writer });
    const names = actuator.signalNames();
    for (const [name, rule] of Object.entries(c.actuators)) {
      if (!names.includes(name)) {
        const near = names.filter((n) => n.toLowerCase().includes(name.toLowerCase().slice(0, 4))).slice(0, 1);
        throw new EdgewiseError('CONFIG_INVALID', `commands.actuators.${name}: no such signal in the DBC of ${c.interface}${near.length ? ` (did you mean ${near[0]}?)` : ''}`);
      }
      const a = actuator;
      allow[name] = {
        min: rule.min,
        max: rule.max,
        minIntervalMs: rule.minIntervalMs,
        condition: rule.condition ? { text: rule.condition, holds: compileActuatorCondition(rule.condition, names, (s) => a.latest(s)) } : undefined,
      };
    }
  }
  const runner = new CommandsRunner({
    thing: opts.thing,
    transport: mqtt5Transport(opts.connection),
    stateDir: opts.stateDir,
    actuator,
    defaultTimeoutSeconds: c.defaultTimeoutSeconds,
    logger: opts.logger,
    ...opts.handlers,
  });
  await runner.start();
  return { runner, actuator };
}
