import { describe, expect, it } from 'vitest';
import { campaign, Harness, series, v, type BatchView, type CampaignSpec, type Step } from './engine-helpers.js';

interface Scenario {
  name: string;
  campaigns: CampaignSpec[];
  steps: Step[];
  /** Called after the steps (e.g. flush). */
  end?: (h: Harness) => void;
  want: BatchView[];
}

const S = (at: number, data: BatchView['data'], campaignName = 'c1', by?: string[]): BatchView =>
  by ? { campaign: campaignName, at, data, by } : { campaign: campaignName, at, data };

/** Hand-computed expectations; each comment explains why a batch is (not) there. */
const scenarios: Scenario[] = [
  {
    name: 'RISING_EDGE fires only on false -> true',
    campaigns: [{ expr: `${v('Speed')} > 100`, mode: 'RISING_EDGE' }],
    steps: series('Speed', [[0, 50], [10, 120], [20, 130], [30, 90], [40, 110]]),
    want: [
      S(10, { Speed: [[0, 50], [10, 120]] }),
      // 20: still true, no edge; 30: false; 40: edge again. Samples already sent are not repeated.
      S(40, { Speed: [[20, 130], [30, 90], [40, 110]] }),
    ],
  },
  {
    name: 'ALWAYS re-fires while true, at most once per minimumTriggerIntervalMs',
    campaigns: [{ expr: `${v('Speed')} > 100`, minInterval: 100 }],
    steps: series('Speed', [[0, 120], [30, 130], [60, 140], [90, 150], [120, 160], [150, 90], [180, 120], [240, 130]]),
    want: [
      S(0, { Speed: [[0, 120]] }),
      S(120, { Speed: [[30, 130], [60, 140], [90, 150], [120, 160]] }), // 30..90 inside the cooldown
      S(240, { Speed: [[150, 90], [180, 120], [240, 130]] }), // 180 < 120 + 100: still cooling down
    ],
  },
  {
    name: 'ALWAYS without interval fires on every evaluation while true',
    campaigns: [{ expr: `${v('Speed')} > 100` }],
    steps: series('Speed', [[0, 120], [10, 50], [20, 130], [30, 140]]),
    want: [S(0, { Speed: [[0, 120]] }), S(20, { Speed: [[10, 50], [20, 130]] }), S(30, { Speed: [[30, 140]] })],
  },
  {
    name: 'RISING_EDGE: an edge inside the cooldown fires at the first evaluation after it',
    campaigns: [{ expr: `${v('Speed')} > 100`, mode: 'RISING_EDGE', minInterval: 100 }],
    steps: series('Speed', [[0, 120], [30, 50], [60, 120], [90, 130], [120, 140], [130, 150]]),
    want: [S(0, { Speed: [[0, 120]] }), S(120, { Speed: [[30, 50], [60, 120], [90, 130], [120, 140]] })],
  },
  {
    name: 'RISING_EDGE: true through the cooldown is not a new edge',
    campaigns: [{ expr: `${v('Speed')} > 100`, mode: 'RISING_EDGE', minInterval: 100 }],
    steps: series('Speed', [[0, 120], [50, 130], [150, 140], [200, 90], [210, 120]]),
    want: [S(0, { Speed: [[0, 120]] }), S(210, { Speed: [[50, 130], [150, 140], [200, 90], [210, 120]] })],
  },
  {
    name: 'conditions are evaluated per advance, on the latest values',
    campaigns: [{ expr: `${v('Speed')} > 100`, mode: 'RISING_EDGE' }],
    steps: [
      [0, { Speed: 50 }],
      [10, {}],
      [20, { Speed: 60 }],
    ],
    end: (h) => {
      // 120 then 50 ingested before one advance: the evaluation sees only 50.
      h.engine.ingest(0, 30, 120);
      h.engine.ingest(0, 31, 50);
      h.engine.advance(31);
      h.step(40, { Speed: 130 });
    },
    want: [S(40, { Speed: [[0, 50], [20, 60], [30, 120], [31, 50], [40, 130]] })],
  },
  {
    name: 'post-trigger window: batch at trigger + duration with pre-trigger history; pending blocks triggers',
    campaigns: [{ expr: `${v('Speed')} > 100`, duration: 50 }],
    steps: series('Speed', [[0, 50], [10, 120], [20, 130], [40, 90], [60, 95], [70, 130], [80, 140]]),
    end: (h) => h.engine.flush(200),
    want: [
      // Triggered at 10 (20 is blocked by the pending collection); the sample at 60 arrives after the deadline.
      S(10, { Speed: [[0, 50], [10, 120], [20, 130], [40, 90]] }),
      // Triggered at 70 (60 was false), collected at 120 during flush(200).
      S(70, { Speed: [[60, 95], [70, 130], [80, 140]] }),
    ],
  },
  {
    name: 'flush completes a pending collection early',
    campaigns: [{ expr: `${v('Speed')} > 100`, duration: 1000 }],
    steps: series('Speed', [[0, 120], [100, 130]]),
    end: (h) => h.engine.flush(150),
    want: [S(0, { Speed: [[0, 120], [100, 130]] })],
  },
  {
    name: 'undefined inputs never trigger (no short-circuit)',
    campaigns: [{ expr: `${v('Speed')} > 100 || ${v('Rpm')} > 1000`, mode: 'RISING_EDGE', collect: ['Speed', 'Rpm'] }],
    steps: [
      [0, { Speed: 150 }], // Rpm undefined -> whole condition undefined
      [10, { Speed: 160 }],
      [20, { Rpm: 500 }], // now defined: true || false
      [30, { Rpm: 600 }],
    ],
    want: [S(20, { Speed: [[0, 150], [10, 160]], Rpm: [[20, 500]] })],
  },
  {
    name: 'isNull: fires for every fresh value, even RISING_EDGE (uploaded -> null again)',
    campaigns: [{ expr: `!isNull(${v('Vin')})`, mode: 'RISING_EDGE', collect: ['Vin'] }],
    steps: [
      [0, { Speed: 1 }],
      [10, { Vin: 'A' }],
      [20, { Speed: 2 }],
      [30, { Vin: 'B' }],
      [40, { Vin: 'C' }],
    ],
    want: [S(10, { Vin: [[10, 'A']] }), S(30, { Vin: [[30, 'B']] }), S(40, { Vin: [[40, 'C']] })],
  },
  {
    name: 'condition-only signals are not uploaded',
    campaigns: [{ expr: `${v('Rpm')} > 3000`, mode: 'RISING_EDGE', collect: ['Speed'] }],
    steps: [
      [0, { Speed: 10, Rpm: 1000 }],
      [10, { Speed: 20, Rpm: 3500 }],
    ],
    want: [S(10, { Speed: [[0, 10], [10, 20]] })],
  },
  {
    name: 'int16 below zero (FleetWise reads int16 through uint16)',
    campaigns: [{ expr: `${v('Temp')} < -100`, mode: 'RISING_EDGE', collect: ['Temp'] }],
    steps: series('Temp', [[0, -5], [10, -300], [20, -32768], [30, 7], [40, -101]]),
    want: [S(10, { Temp: [[0, -5], [10, -300]] }), S(40, { Temp: [[20, -32768], [30, 7], [40, -101]] })],
  },
  {
    name: 'time-based: first tick one period after activation, then every period',
    campaigns: [{ period: 1000 }],
    steps: series('Speed', [[5000, 1], [5500, 2], [6000, 3], [6500, 4], [7200, 5], [9700, 6]]),
    want: [
      S(6000, { Speed: [[5000, 1], [5500, 2]] }), // the sample at 6000 comes after the tick
      S(7000, { Speed: [[6000, 3], [6500, 4]] }),
      // 8000 and 9000 pass without samples: one catch-up tick at 8000, the next one is 10000.
      S(8000, { Speed: [[7200, 5]] }),
    ],
  },
  {
    name: 'start and expiry: collects only while active',
    campaigns: [{ period: 500, start: 1000, expiry: 3000 }],
    steps: series('Speed', [0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2250, 2500, 2750, 3000, 3250, 4000].map((t) => [t, t])),
    want: [
      S(1500, { Speed: [[1000, 1000], [1250, 1250]] }),
      S(2000, { Speed: [[1500, 1500], [1750, 1750]] }),
      S(2500, { Speed: [[2000, 2000], [2250, 2250]] }),
      // expiry at 3000 comes before the tick at 3000
    ],
  },
  {
    name: 'empty collections are not emitted',
    campaigns: [{ period: 100, collect: ['Rpm'] }],
    steps: series('Speed', [[0, 1], [100, 2], [250, 3], [330, 4]]),
    want: [],
  },
  {
    name: 'maxSampleCount bounds the batch to the newest samples',
    campaigns: [{ period: 1000, collect: [{ name: 'Speed', max: 3 }] }],
    steps: series('Speed', Array.from({ length: 12 }, (_, i) => [i * 100, i] as [number, number])),
    want: [S(1000, { Speed: [[700, 7], [800, 8], [900, 9]] })],
  },
  {
    name: 'minimumSamplingIntervalMs decimates (buffers keyed by signal and interval)',
    campaigns: [
      { name: 'slow', period: 400, collect: [{ name: 'Speed', interval: 100 }] },
      { name: 'fast', period: 400, collect: ['Speed'] },
    ],
    steps: series('Speed', Array.from({ length: 14 }, (_, i) => [i * 30, i * 30] as [number, number])),
    end: (h) => h.step(400),
    want: [
      S(400, { Speed: [[0, 0], [120, 120], [240, 240], [360, 360]] }, 'slow'),
      S(400, { Speed: Array.from({ length: 14 }, (_, i) => [i * 30, i * 30] as [number, number]) }, 'fast'),
    ],
  },
  {
    name: 'each sample once per campaign; campaigns sharing a buffer each get it',
    campaigns: [
      { name: 'a', period: 100 },
      { name: 'b', period: 200 },
    ],
    steps: series('Speed', [0, 50, 100, 150, 200, 250].map((t) => [t, t])),
    end: (h) => h.step(260),
    want: [
      S(100, { Speed: [[0, 0], [50, 50]] }, 'a'),
      S(200, { Speed: [[100, 100], [150, 150]] }, 'a'),
      S(200, { Speed: [[0, 0], [50, 50], [100, 100], [150, 150]] }, 'b'),
    ],
  },
  {
    name: 'tumbling windows: last vs previous completed window',
    campaigns: [
      {
        expr: `last_window_avg(${v('Speed')}) > prev_last_window_avg(${v('Speed')}) + 10`,
        mode: 'RISING_EDGE',
      },
    ],
    steps: series('Speed', [[0, 10], [500, 20], [1000, 40], [1500, 40], [2000, 40], [2500, 40], [3000, 40]]),
    // window [0,1000) avg 15, [1000,2000) avg 40 -> at 2000: 40 > 25. At 3000: 40 > 50 false.
    // The window rolls when the sample at 2000 arrives; the evaluation after it includes that sample.
    want: [S(2000, { Speed: [[0, 10], [500, 20], [1000, 40], [1500, 40], [2000, 40]] })],
  },
  {
    name: 'windows roll with time even without samples of the signal',
    campaigns: [{ expr: `last_window_max(${v('Speed')}) > 50`, mode: 'RISING_EDGE', collect: ['Rpm'] }],
    steps: [
      [0, { Speed: 60 }],
      [500, { Rpm: 1 }],
      [1200, { Rpm: 2 }], // window [0,1000) completes at 1000: max 60 -> fires at 1200
      [2100, { Rpm: 3 }], // [1000,2000) empty -> undefined
      [3100, { Speed: 70 }],
      [4050, { Rpm: 4 }], // [3000,4000) max 70 -> fires again
    ],
    want: [S(1200, { Rpm: [[500, 1], [1200, 2]] }), S(4050, { Rpm: [[2100, 3], [4050, 4]] })],
  },
  {
    name: 'MULTI_RISING_EDGE_TRIGGER reports which conditions fired',
    campaigns: [
      {
        expr: `custom_function('MULTI_RISING_EDGE_TRIGGER', 'FAST', ${v('Speed')} > 100, 'BRAKE', ${v('Brake')})`,
        collect: ['Speed', 'Brake'],
      },
    ],
    steps: [
      [0, { Speed: 50, Brake: false }],
      [10, { Speed: 150 }],
      [20, { Brake: true }],
      [30, { Speed: 160 }],
      [40, { Speed: 50, Brake: false }],
      [50, { Speed: 150, Brake: true }],
    ],
    want: [
      S(10, { Speed: [[0, 50], [10, 150]], Brake: [[0, false]] }, 'c1', ['FAST']),
      S(20, { Brake: [[20, true]] }, 'c1', ['BRAKE']),
      S(50, { Speed: [[30, 160], [40, 50], [50, 150]], Brake: [[40, false], [50, true]] }, 'c1', ['FAST', 'BRAKE']),
    ],
  },
  {
    name: 'wildcards and partitions',
    campaigns: [{ period: 100, collect: [{ name: 'Wheel.*', partition: 'wheels' }, 'Speed', 'Wheel.FL'] }],
    steps: [[0, { Speed: 1, 'Wheel.FL': 2, 'Wheel.FR': 3 }], [100]],
    want: [S(100, { 'Wheel.FL': [[0, 2]], 'Wheel.FR': [[0, 3]], Speed: [[0, 1]] })],
  },
];

describe('campaign engine: trigger semantics (table)', () => {
  it.each(scenarios.map((s) => [s.name, s] as const))('%s', (_name, s) => {
    const h = new Harness(s.campaigns.map(campaign));
    h.run(s.steps);
    s.end?.(h);
    expect(h.views()).toEqual(s.want);
  });
});
