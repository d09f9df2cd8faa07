#!/usr/bin/env node
// Plays systemd (Restart=always) for OTA tests: runs `node <root>/current/dist/cli/main.js run --config <cfg>`,
// restarts it whenever it exits (resolving `current` again each time), records every exit in the
// events file, and stops when <root>/supervisor.stop exists or after --max-restarts.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, openSync } from 'node:fs';
import path from 'node:path';

const arg = (name) => process.argv[process.argv.indexOf(name) + 1];
const root = arg('--root');
const config = arg('--config');
const events = arg('--events');
const maxRestarts = Number(arg('--max-restarts') ?? 20);
const logFd = openSync(path.join(root, 'app.log'), 'a');
let restarts = 0;
let child;

function run() {
  const main = path.join(root, 'current', 'dist', 'cli', 'main.js');
  child = spawn(process.execPath, [main, 'run', '--config', config], { stdio: ['ignore', logFd, logFd] });
  child.on('exit', (code, signal) => {
    appendFileSync(events, JSON.stringify({ supervisor: 'exit', code, signal, restarts }) + '\n');
    if (existsSync(path.join(root, 'supervisor.stop')) || restarts >= maxRestarts) {
      appendFileSync(events, JSON.stringify({ supervisor: 'stopped', restarts }) + '\n');
      process.exit(0);
    }
    restarts++;
    setTimeout(run, 100); // RestartSec
  });
}

process.on('SIGTERM', () => {
  appendFileSync(events, JSON.stringify({ supervisor: 'stopped', restarts }) + '\n');
  if (child && child.exitCode === null) child.kill('SIGKILL');
  process.exit(0);
});
run();
