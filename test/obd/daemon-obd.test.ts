import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { Daemon } from '../../src/daemon/daemon.js';
import { parseConfig } from '../../src/daemon/config.js';
import { createLogger } from '../../src/daemon/logger.js';
import { BatchStore } from '../../src/store/index.js';
import { decodeBatch } from '../../src/batches/index.js';
import { startElmSimulator, parseSimTable } from '../../src/obd/index.js';

async function until(cond: () => boolean, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('daemon with an obd source', () => {
  it('polls the ELM327 simulator and stores batches with OBD signals and active DTCs', async () => {
    const sim = await startElmSimulator({
      table: parseSimTable({
        searchMs: 1,
        ecus: [{ pids: { '0C': { value: [800, 1726] }, '0D': { value: 50 }, '05': '7B' }, dtcs: { stored: ['P0133'], pending: ['P0171'] } }],
      }),
      tcpPort: 0,
    });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-obd-daemon-'));
    try {
      mkdirSync(path.join(dir, 'campaigns'));
      writeFileSync(
        path.join(dir, 'manifest.yaml'),
        stringify({
          signals: [
            { name: 'Vehicle.OBD.EngineSpeed', type: 'float64', obd: { service: 1, pid: '0C' } },
            { name: 'Vehicle.OBD.Speed', type: 'uint8', obd: { service: 1, pid: 0x0d } },
            { name: 'Vehicle.OBD.Coolant', type: 'float64', obd: { service: 1, pid: '05' } },
          ],
        }),
      );
      writeFileSync(
        path.join(dir, 'campaigns', 'obd.json'),
        JSON.stringify({
          name: 'obd-pulse',
          collectionScheme: { timeBasedCollectionScheme: { periodMs: 300 } },
          diagnosticsMode: 'SEND_ACTIVE_DTCS',
          signalsToCollect: [{ name: 'Vehicle.OBD.EngineSpeed' }, { name: 'Vehicle.OBD.Speed' }, { name: 'Vehicle.OBD.Coolant' }],
        }),
      );
      const config = parseConfig(
        {
          vehicle: { name: 'obd-test' },
          manifest: 'manifest.yaml',
          campaigns: { dir: 'campaigns' },
          sources: [
            {
              type: 'obd',
              name: 'elm',
              port: sim.address,
              intervalMs: 200,
              pids: { '0C': 50 },
              dtcs: { intervalMs: 200, services: ['stored', 'pending'] },
            },
          ],
          store: { dir: 'store' },
          upload: { enabled: false },
          log: { level: 'error' },
          statusSocket: 'edgewise.sock',
        },
        'config.yaml',
        dir,
      );
      const daemon = await Daemon.start(config, { logger: createLogger('error') });
      try {
        await until(() => daemon.status().store.batches >= 2, 'two stored batches');
        const src = daemon.status().sources[0];
        expect(src).toMatchObject({ name: 'elm', kind: 'obd', state: 'open' });
        expect(src.frames).toBeGreaterThan(0);
      } finally {
        await daemon.stop('test done');
      }
      const store = await BatchStore.open(path.join(dir, 'store'), { maxBytes: 64 * 1024 * 1024 });
      try {
        const names = new Set<string>();
        const dtcs: string[][] = [];
        const speeds: unknown[] = [];
        const exclude = new Set<number>();
        for (;;) {
          const b = await store.next(exclude);
          if (!b) break;
          exclude.add(b.seq);
          for (const part of b.parts) {
            const d = decodeBatch(part);
            for (const s of d.signals) {
              names.add(s.name);
              if (s.name === 'Vehicle.OBD.EngineSpeed') speeds.push(...s.values);
            }
            for (const x of d.dtcs) dtcs.push(x.codes);
          }
        }
        expect(names).toEqual(new Set(['Vehicle.OBD.EngineSpeed', 'Vehicle.OBD.Speed', 'Vehicle.OBD.Coolant']));
        expect(new Set(speeds)).toEqual(new Set([800, 1726]));
        expect(dtcs.length).toBeGreaterThan(0);
        expect(dtcs[0].slice().sort()).toEqual(['P0133', 'P0171']);
      } finally {
        await store.close();
      }
    } finally {
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
