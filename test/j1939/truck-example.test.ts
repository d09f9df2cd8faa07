import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { cli, REPO } from '../helpers/cli.js';

const EX = path.join(REPO, 'examples/j1939');

describe('J1939 example (examples/j1939)', () => {
  it('decodes every frame of truck.log: CCVS from SA 0x17 at priority 6 matches the DBC CCVS (SA 0x00, priority 6)', async () => {
    const r = await cli('decode', '--dbc', path.join(EX, 'truck.dbc'), '--format', 'jsonl', path.join(EX, 'truck.log'));
    expect(r.code).toBe(0);
    const rows = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(4320);
    expect(rows.filter((x) => x.status !== 'ok')).toEqual([]);
    const ccvs = rows.find((x) => x.message === 'CCVS')!;
    expect(ccvs).toMatchObject({ pgn: 65265, priority: 6, sourceAddress: 0x17 });
    expect(ccvs).not.toHaveProperty('destinationAddress'); // PDU2
    const eec1 = rows.find((x) => x.message === 'EEC1')!;
    expect(eec1).toMatchObject({ id: 0x0cf00400, pgn: 61444, priority: 3, sourceAddress: 0 });
  });

  it('campaign simulate: coolant above 105 degC triggers once, when ET1 first reports 106 degC (32 s in)', async () => {
    const r = await cli(
      'campaign',
      'simulate',
      path.join(EX, 'coolant-hot.yaml'),
      '--manifest',
      path.join(EX, 'manifest.yaml'),
      '--log',
      path.join(EX, 'truck.log'),
      '--format',
      'json',
      '--no-progress',
    );
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out) as { campaigns: { triggers: { time: number }[]; samples: Record<string, number> }[] };
    const c = rep.campaigns[0];
    // The generator's coolant ramp: min(112, 80 + 0.8 s) rounded, one ET1 per second at +7 ms.
    expect(c.triggers.map((t) => t.time)).toEqual([1760000032.007]);
    // CCVS comes from SA 0x17: its samples reach the campaign (10 Hz over the 10 s window).
    expect(c.samples['Vehicle.Speed']).toBeGreaterThanOrEqual(100);
    expect(c.samples['Vehicle.Powertrain.CombustionEngine.Speed']).toBeGreaterThan(0);
  });
});
