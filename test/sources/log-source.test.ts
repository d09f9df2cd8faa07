import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LogSource } from '../../src/sources/index.js';

function writeLog(lines: string[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-logsrc-'));
  const file = path.join(dir, 'x.log');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const LOG = ['(100.000000) can0 123#01', '(100.500000) can1 124#02', 'garbage line', '(101.000000) can0 125#03'];

async function collect(src: LogSource): Promise<{ t: number; iface: string; id: number }[]> {
  const out: { t: number; iface: string; id: number }[] = [];
  await src.start((f) => out.push({ t: f.timeMs, iface: f.iface, id: f.id }));
  await src.finished;
  return out;
}

describe('log replay source', () => {
  it('plays as fast as possible with original timestamps, renames interfaces and counts bad lines', async () => {
    const bad: number[] = [];
    const src = new LogSource({ path: writeLog(LOG), speed: 'max', rebaseTime: false, map: { can1: 'vcan1' }, onBadLine: (l) => bad.push(l) });
    const frames = await collect(src);
    expect(frames).toEqual([
      { t: 100000, iface: 'can0', id: 0x123 },
      { t: 100500, iface: 'vcan1', id: 0x124 },
      { t: 101000, iface: 'can0', id: 0x125 },
    ]);
    expect(bad).toEqual([3]);
    expect(src.status()).toMatchObject({ kind: 'log', state: 'done', frames: 3, errors: 1 });
  });

  it('rebases time to now and keeps the spacing; loops continue after the last frame', async () => {
    let wall = 5_000_000;
    const src = new LogSource({ path: writeLog(LOG), speed: 'max', loop: true, now: () => wall });
    const out: number[] = [];
    await src.start((f) => {
      out.push(f.timeMs);
      if (out.length === 6) void src.stop();
    });
    await src.finished;
    expect(out.slice(0, 3)).toEqual([5_000_000, 5_000_500, 5_001_000]);
    // the second pass starts 1 ms after the first pass ended, spacing kept
    expect(out.slice(3, 6)).toEqual([5_001_001, 5_001_501, 5_002_001]);
    wall = 0;
  });

  it('paces frames by their timestamps divided by the speed', async () => {
    const src = new LogSource({ path: writeLog(['(0.000000) can0 001#', '(0.400000) can0 002#']), speed: 4, rebaseTime: false });
    const seen: number[] = [];
    await src.start(() => seen.push(Date.now()));
    await src.finished;
    // 400 ms of log at 4x: the second frame is not delivered before ~100 ms have passed.
    expect(seen[1] - seen[0]).toBeGreaterThanOrEqual(90);
  });

  it('stop() ends a pacing wait at once', async () => {
    // The second frame is due an hour later; stop() must not wait for it.
    const src = new LogSource({ path: writeLog(['(0.000000) can0 001#', '(3600.000000) can0 002#']), speed: 1, rebaseTime: false });
    const seen: number[] = [];
    await src.start((f) => seen.push(f.id));
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([1]);
    await src.stop();
    await src.finished;
    expect(src.status()).toMatchObject({ state: 'stopped', frames: 1 });
  });
});
