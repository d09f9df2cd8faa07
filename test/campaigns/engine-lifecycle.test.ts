import { describe, expect, it } from 'vitest';
import { createFunctionRegistry, registerCustomFunction, type ExprValue } from '../../src/campaigns/expression/index.js';
import { isEdgewiseError } from '../../src/errors.js';
import * as engineModule from '../../src/campaigns/engine/index.js';
import { campaign, Harness, SHORT, SIGNALS, v, view } from './engine-helpers.js';

describe('campaign engine: campaign changes at run time', () => {
  it('replacing a campaign keeps the buffers of signals still used (pre-trigger history survives)', () => {
    const h = new Harness([campaign({ expr: `${v('Speed')} > 100`, mode: 'RISING_EDGE', collect: ['Speed', 'Rpm'] })]);
    h.step(0, { Speed: 50, Rpm: 1 }).step(10, { Speed: 60, Rpm: 2 });
    const ringsBefore = h.engine.stats().ringBuffers;
    h.engine.setCampaign(campaign({ version: 2, expr: `${v('Speed')} > 65`, mode: 'RISING_EDGE', collect: ['Speed'] }));
    expect(h.engine.campaigns()).toEqual([{ name: 'c1', version: 2, state: 'active' }]);
    expect(ringsBefore).toBe(2);
    expect(h.engine.stats().ringBuffers).toBe(1); // Rpm's buffer is no longer used
    expect(h.engine.isWanted(SHORT.Rpm)).toBe(false);
    h.step(20, { Speed: 70, Rpm: 3 });
    expect(h.views()).toEqual([{ campaign: 'c1', at: 20, data: { Speed: [[0, 50], [10, 60], [20, 70]] } }]);
    expect(h.batches[0].campaignVersion).toBe(2);
  });

  it('a replacement does not resend what the old version sent', () => {
    const h = new Harness([campaign({ period: 100 })]);
    h.step(0, { Speed: 1 }).step(50, { Speed: 2 }).step(100, { Speed: 3 });
    h.engine.setCampaign(campaign({ period: 100, version: 1 }));
    h.step(150, { Speed: 4 }).step(200);
    expect(h.views()).toEqual([
      { campaign: 'c1', at: 100, data: { Speed: [[0, 1], [50, 2]] } },
      // same period: the cadence continues; 100 was not sent yet, 0 and 50 were
      { campaign: 'c1', at: 200, data: { Speed: [[100, 3], [150, 4]] } },
    ]);
  });

  it('a new campaign starts without older history; removing completes its pending collection', () => {
    const h = new Harness([campaign({ name: 'a', period: 1000 })]);
    h.step(0, { Speed: 1 }).step(10, { Speed: 2 });
    h.engine.setCampaign(campaign({ name: 'b', expr: `${v('Speed')} > 2`, duration: 1000 }));
    h.step(20, { Speed: 3 }).step(30, { Speed: 4 });
    expect(h.batches).toHaveLength(0); // b is waiting for its post-trigger window
    h.engine.removeCampaign('b');
    expect(h.views()).toEqual([{ campaign: 'b', at: 20, data: { Speed: [[20, 3], [30, 4]] } }]);
    expect(h.engine.campaigns().map((c) => c.name)).toEqual(['a']);
    h.engine.removeCampaign('nope'); // unknown: ignored
  });

  it('disable / enable: no collection while disabled, fresh start after', () => {
    const h = new Harness([campaign({ period: 100 })]);
    h.step(0, { Speed: 1 }).step(60, { Speed: 2 });
    h.engine.setCampaignEnabled('c1', false);
    expect(h.engine.campaigns()[0].state).toBe('disabled');
    expect(h.engine.isWanted(SHORT.Speed)).toBe(false);
    h.step(100, { Speed: 3 }).step(200, { Speed: 4 });
    h.engine.setCampaignEnabled('c1', true);
    expect(h.engine.campaigns()[0].state).toBe('active');
    h.step(250, { Speed: 5 }).step(300, { Speed: 6 });
    expect(h.views()).toEqual([{ campaign: 'c1', at: 300, data: { Speed: [[250, 5]] } }]);
    expect(() => h.engine.setCampaignEnabled('zzz', true)).toThrow(/no campaign named/);
  });

  it('reports waiting -> active -> expired', () => {
    const h = new Harness([campaign({ period: 100, start: 1000, expiry: 2000 })]);
    expect(h.engine.campaigns()[0].state).toBe('waiting');
    h.step(500, { Speed: 1 });
    expect(h.engine.campaigns()[0].state).toBe('waiting');
    expect(h.engine.isWanted(SHORT.Speed)).toBe(false);
    h.step(1000);
    expect(h.engine.campaigns()[0].state).toBe('active');
    expect(h.engine.isWanted(SHORT.Speed)).toBe(true);
    h.step(2500);
    expect(h.engine.campaigns()[0].state).toBe('expired');
    expect(h.engine.isWanted(SHORT.Speed)).toBe(false);
    expect(h.engine.stats().ringBuffers).toBe(0);
  });

  it('expiry completes a pending post-trigger collection at the expiry time', () => {
    const h = new Harness([campaign({ expr: `${v('Speed')} > 1`, duration: 500, expiry: 300 })]);
    h.step(0, { Speed: 5 }).step(200, { Speed: 6 }).step(400, { Speed: 7 });
    expect(h.views()).toEqual([{ campaign: 'c1', at: 0, data: { Speed: [[0, 5], [200, 6]] } }]);
  });

  it('rejects bad campaigns with the right code and leaves the engine unchanged', () => {
    const h = new Harness([campaign({ name: 'ok', period: 100 })]);
    const code = (f: () => void): string => {
      try {
        f();
      } catch (e) {
        if (isEdgewiseError(e)) return `${e.code}: ${e.detail}`;
        throw e;
      }
      return 'no error';
    };
    expect(code(() => h.engine.setCampaign(campaign({ name: 'ok', collect: ['Sped'] })))).toMatch(
      /^CAMPAIGN_INVALID: .*signalsToCollect\[0\]\.name 'Vehicle\.Sped'.*did you mean 'Vehicle\.Speed'/,
    );
    expect(code(() => h.engine.setCampaign(campaign({ name: 'ok', collect: ['Nothing.*'] })))).toMatch(/^CAMPAIGN_INVALID/);
    expect(code(() => h.engine.setCampaign(campaign({ name: 'ok', expr: '$variable.`X` > 1' })))).toMatch(/^EXPRESSION_TYPE: Unknown signal 'X'/);
    expect(code(() => h.engine.setCampaign(campaign({ name: 'ok', expr: '1 +' })))).toMatch(/^EXPRESSION_SYNTAX/);
    expect(h.engine.campaigns()).toEqual([{ name: 'ok', version: 0, state: 'waiting' }]);
    h.step(0, { Speed: 1 }).step(100);
    expect(h.batches).toHaveLength(1);
  });

  it('runs 120 concurrent condition campaigns', () => {
    const n = 120;
    const h = new Harness(
      Array.from({ length: n }, (_, i) => campaign({ name: `c${i}`, expr: `${v('Speed')} > ${i}`, mode: 'RISING_EDGE' })),
    );
    for (let t = 0; t <= 130; t++) h.step(t, { Speed: t });
    expect(h.batches).toHaveLength(n);
    // campaign ci fires when Speed first exceeds i, i.e. at t = i + 1, with samples 0..i+1
    for (const b of h.batches) {
      const i = Number(b.campaign.slice(1));
      expect(b.triggerTimeMs).toBe(i + 1);
      expect(b.signals[0].timesMs).toHaveLength(i + 2);
    }
    expect(h.engine.stats().ringBuffers).toBe(1);
  });
});

describe('campaign engine: batch contents', () => {
  it('carries campaign metadata, types and FleetWise-style event ids', () => {
    const c = { ...campaign({ period: 100, collect: ['Speed', 'Brake', 'Odo', 'Vin', { name: 'Temp', partition: 'p1' }] }) };
    c.version = 3;
    c.priority = 7;
    c.compression = 'BROTLI';
    c.spoolingMode = 'TO_DISK';
    const h = new Harness([c], { vehicleRunId: 5 });
    const big = 2n ** 60n + 1n;
    h.step(1_700_000_000_000, { Speed: 1.5, Brake: 1, Odo: big, Vin: 'WVW', Temp: -3 });
    h.step(1_700_000_000_100);
    h.step(1_700_000_000_150, { Brake: false }).step(1_700_000_000_200);
    expect(h.batches).toHaveLength(2);
    const [b, b2] = h.batches;
    expect(b).toMatchObject({ campaign: 'c1', campaignVersion: 3, priority: 7, compression: 'BROTLI', spooling: 'TO_DISK' });
    expect(b.signals.map((s) => [s.name, s.type, s.partitionId, s.values[0]])).toEqual([
      ['Vehicle.Speed', 'float64', 'default', 1.5],
      ['Vehicle.Brake', 'bool', 'default', true],
      ['Vehicle.Odo', 'uint64', 'default', big],
      ['Vehicle.Vin', 'string', 'default', 'WVW'],
      ['Vehicle.Temp', 'int16', 'p1', -3],
    ]);
    expect(b2.signals.map((s) => [s.name, s.values])).toEqual([['Vehicle.Brake', [false]]]);
    expect(b.eventId).toBe((((1_700_000_000_100 & 0x7fffff) << 8) | 5) >>> 0);
    expect(b2.eventId).toBe((((1_700_000_000_200 & 0x7fffff) << 8) | 6) >>> 0);
    expect(b.eventId).toBeLessThan(2 ** 31);
  });

  it('attaches the active DTCs once, only for SEND_ACTIVE_DTCS', () => {
    const h = new Harness([campaign({ name: 'd', period: 100, dtcs: true }), campaign({ name: 'n', period: 100 })]);
    h.step(0, { Speed: 1 });
    h.engine.ingestDtcs(20, ['P0133', 'U0100']);
    h.step(100).step(200);
    h.engine.ingestDtcs(250, []);
    h.step(300);
    expect(h.batches.map((b) => [b.campaign, b.triggerTimeMs, b.dtcs])).toEqual([
      ['d', 100, [{ timeMs: 20, codes: ['P0133', 'U0100'] }]],
      ['n', 100, []],
      // 200: nothing new for either campaign (no batch). 300: the (empty) DTC list changed.
      ['d', 300, [{ timeMs: 250, codes: [] }]],
    ]);
  });

  it('window aggregates are exact (min / max / avg of last and previous windows)', () => {
    const registry = createFunctionRegistry();
    const seen: [number, ExprValue[]][] = [];
    registerCustomFunction(registry, 'probe', {
      invoke: (args, _s, ctx) => {
        seen.push([ctx.timeMs, [...args]]);
        return false;
      },
    });
    const S = v('Speed');
    const expr = `custom_function('probe', last_window_min(${S}), last_window_max(${S}), last_window_avg(${S}), prev_last_window_min(${S}), prev_last_window_max(${S}), prev_last_window_avg(${S}))`;
    const h = new Harness([campaign({ expr, collect: ['Rpm'] })], { functions: registry, windowMs: 100 });
    h.step(10, { Speed: 4 }).step(50, { Speed: 8 }).step(90, { Speed: 6 }); // window [10,110)
    h.step(120, { Speed: 1 }).step(200, { Speed: 3 }); // [110,210)
    h.step(215, { Rpm: 0 }); // rolls [110,210) by time
    h.step(450, { Rpm: 0 }); // [210,310) empty, [310,410) empty
    const at = (t: number) => seen.filter(([time]) => time === t).map(([, a]) => a).at(-1);
    const U = undefined;
    // Evaluated at activation and whenever windows complete, not on every sample.
    expect(seen.map(([t]) => t)).toEqual([10, 120, 215, 450]);
    expect(at(10)).toEqual([U, U, U, U, U, U]);
    expect(at(120)).toEqual([4, 8, 6, U, U, U]);
    expect(at(215)).toEqual([1, 3, 2, 4, 8, 6]);
    expect(at(450)).toEqual([U, U, U, U, U, U]);
  });

  it('ignores samples nobody needs and only decodes what is wanted', () => {
    const h = new Harness([campaign({ expr: `${v('Rpm')} > 1`, collect: ['Speed'] })]);
    h.step(0, { Temp: 1, Speed: 2, Rpm: 3 });
    expect([SHORT.Speed, SHORT.Rpm, SHORT.Temp].map((id) => h.engine.isWanted(id))).toEqual([true, true, false]);
    const st = h.engine.stats();
    expect(st).toMatchObject({ samplesIngested: 2, samplesIgnored: 1, triggers: 1, batches: 1, samplesCollected: 1 });
    expect(view(h.batches[0]).data).toEqual({ Speed: [[0, 2]] });
  });
});

describe('campaign engine: robustness', () => {
  it('a throwing batch handler surfaces the error after the engine finished its update', () => {
    let fail = true;
    const seen: number[] = [];
    const { CampaignEngine } = engineModule;
    const e = new CampaignEngine({
      signals: SIGNALS,
      onBatch: (b) => {
        seen.push(b.triggerTimeMs);
        if (fail) throw new Error('sink down');
      },
    });
    e.setCampaign(campaign({ name: 'a', expr: `${v('Speed')} > 1` }));
    e.setCampaign(campaign({ name: 'b', expr: `${v('Speed')} > 1` }));
    e.ingest(SHORT.Speed, 0, 5);
    expect(() => e.advance(0)).toThrow('sink down');
    expect(seen).toEqual([0, 0]); // both campaigns were handled before the error surfaced
    fail = false;
    e.ingest(SHORT.Speed, 10, 6);
    e.advance(10);
    expect(seen).toEqual([0, 0, 10, 10]);
  });

  it('re-sending the same campaign changes nothing (multi-rising-edge state survives)', () => {
    const c = campaign({ expr: `custom_function('MULTI_RISING_EDGE_TRIGGER', 'X', ${v('Speed')} > 1)` });
    const h = new Harness([c]);
    h.step(0, { Speed: 5 });
    h.engine.setCampaign(campaign({ expr: `custom_function('MULTI_RISING_EDGE_TRIGGER', 'X', ${v('Speed')} > 1)` }));
    h.step(10, { Speed: 6 });
    expect(h.batches.map((b) => [b.triggerTimeMs, b.triggeredBy])).toEqual([[0, ['X']]]);
  });

  it('survives odd input: unknown ids, NaN, wrong value types', () => {
    const h = new Harness([campaign({ expr: `${v('Speed')} > 1`, collect: ['Speed', 'Vin'] })]);
    h.engine.ingest(999, 0, 1);
    h.engine.ingest(-1, 0, 1);
    h.engine.ingest(SHORT.Speed, 0, 'fast');
    h.engine.ingest(SHORT.Vin, 0, 42);
    h.engine.advance(NaN);
    h.step(1, { Speed: 2 });
    expect(h.views()).toEqual([{ campaign: 'c1', at: 1, data: { Speed: [[0, NaN], [1, 2]], Vin: [[0, '42']] } }]);
  });
});
