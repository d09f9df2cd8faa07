import type { Command } from 'commander';
import { register as dbc } from './dbc.js';
import { register as decode } from './decode.js';
import { register as campaign } from './campaign.js';
import { register as manifest } from './manifest.js';
import { register as status } from './status.js';
import { register as config } from './config.js';
import { register as batch } from './batch.js';
import { register as run } from './run.js';
import { register as obd } from './obd.js';
import { register as release } from './release.js';
import { register as replay } from './replay.js';
import { register as provision } from './provision.js';

/** Each command module exports `register(program)`; add it to this list. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  dbc,
  decode,
  campaign,
  manifest,
  status,
  config,
  batch,
  run,
  obd,
  release,
  replay,
  provision,
];
