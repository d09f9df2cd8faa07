/**
 * `memory.gcIntervalSeconds`: the daemon collects its heap on a timer (and not when it is 0), and
 * `edgewise status` reports the process memory.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { cli } from '../helpers/cli.js';
import { pulseCampaign, startDaemon, writeSetup, type RunningDaemon } from './harness.js';

let running: RunningDaemon | undefined;
afterEach(async () => {
  running?.child.kill('SIGKILL');
  await running?.exited;
  running = undefined;
});

async function statusAfter(gcIntervalSeconds: number, waitMs: number) {
  const setup = writeSetup({ thing: `mem-${gcIntervalSeconds}`, campaigns: [pulseCampaign('pulse', 10_000)], speed: 1, loop: true });
  const cfg = parse(readFileSync(setup.configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(setup.configFile, stringify({ ...cfg, memory: { gcIntervalSeconds } }));
  running = startDaemon(setup.configFile);
  await running.waitForLog('edgewise ready', 20_000);
  await new Promise((r) => setTimeout(r, waitMs));
  const r = await cli('status', '--socket', (cfg as { statusSocket: string }).statusSocket, '--json');
  expect(r.code).toBe(0);
  const st = JSON.parse(r.out) as { memory: { rssBytes: number; heapUsedBytes: number; periodicGcs: number } };
  const text = await cli('status', '--socket', (cfg as { statusSocket: string }).statusSocket);
  return { memory: st.memory, text: text.out };
}

describe('periodic garbage collection', () => {
  it('runs a full GC every gcIntervalSeconds and reports memory in status', async () => {
    const { memory, text } = await statusAfter(1, 3500);
    expect(memory.periodicGcs).toBeGreaterThanOrEqual(2);
    expect(memory.rssBytes).toBeGreaterThan(memory.heapUsedBytes);
    expect(memory.heapUsedBytes).toBeGreaterThan(1e6);
    expect(text).toMatch(/memory {5}RSS \d+\.\d MiB {2}heap \d+\.\d MiB/);
  });

  it('runs none when gcIntervalSeconds is 0', async () => {
    const { memory } = await statusAfter(0, 2500);
    expect(memory.periodicGcs).toBe(0);
  });
});
