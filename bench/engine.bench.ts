/**
 * The campaign engine on the Toyota log: decode + 20 condition campaigns, frames/s.
 *
 *   (a) in memory: frames already parsed; per frame: manifest route lookup, decode of the wanted
 *       signals, engine ingest + advance (condition evaluation on change, batches collected);
 *   (b) end to end: gzip candump text -> frames -> the same path.
 *
 * Peers in the same run: edgewise decode-only of every message (what the engine path adds on top
 * of decoding) and candied decode-only (the npm DBC decoder a new user would reach for).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Can, Dbc } from 'candied';
import { campaignSignalNames, CampaignEngine, parseCampaign, type Campaign } from '../src/campaigns/index.js';
import { bindManifest, manifestDecoders, manifestFromDbc, parseManifest } from '../src/manifest/index.js';
import { loadDbcFile } from '../src/dbc/index.js';
import { compileDatabase, signalType } from '../src/decode/index.js';
import { readCandump } from '../src/sources/index.js';
import type { CanFrame, SignalValue } from '../src/types.js';

const ROOT = process.env.BENCH_ROOT ?? process.cwd();
const SHARED = path.resolve(ROOT, '../shared');
const LOG = path.join(SHARED, 'logs/toyota_nodsu_pt_generated.1M.log.gz');
const DBC = path.join(SHARED, 'dbc/toyota_nodsu_pt_generated.dbc');
const RUNS = 3;

/** 20 condition campaigns of the kinds fleets write: thresholds, edges, windows, combinations. */
function campaigns(): Campaign[] {
  const v = (n: string): string => `$variable.\`Vehicle.${n}\``;
  const exprs: [string, string, string[]][] = [
    ['overspeed', `${v('SPEED.SPEED')} > 120`, ['SPEED.SPEED']],
    ['standstill', `${v('SPEED.SPEED')} < 0.5`, ['SPEED.SPEED']],
    ['high-rpm', `${v('ENGINE_RPM.RPM')} > 4500`, ['ENGINE_RPM.RPM', 'SPEED.SPEED']],
    ['idle-rpm', `${v('ENGINE_RPM.RPM')} < 700 && ${v('SPEED.SPEED')} > 5`, ['ENGINE_RPM.RPM']],
    ['brake', `${v('BRAKE_MODULE.BRAKE_PRESSED')} == 1`, ['BRAKE_MODULE.BRAKE_PRESSURE', 'SPEED.SPEED']],
    ['hard-brake', `${v('BRAKE_MODULE.BRAKE_PRESSURE')} > 200`, ['BRAKE_MODULE.BRAKE_PRESSURE', 'KINEMATICS.ACCEL_X']],
    ['decel-window', `last_window_avg(${v('KINEMATICS.ACCEL_X')}) < -3`, ['KINEMATICS.ACCEL_X', 'SPEED.SPEED']],
    ['speed-drop', `prev_last_window_avg(${v('SPEED.SPEED')}) - last_window_avg(${v('SPEED.SPEED')}) > 10`, ['SPEED.SPEED']],
    ['steer', `custom_function('abs', ${v('STEER_ANGLE_SENSOR.STEER_ANGLE')}) > 90`, ['STEER_ANGLE_SENSOR.STEER_ANGLE']],
    ['steer-rate', `custom_function('abs', ${v('STEER_ANGLE_SENSOR.STEER_RATE')}) > 200`, ['STEER_ANGLE_SENSOR.STEER_RATE']],
    ['yaw', `custom_function('abs', ${v('KINEMATICS.YAW_RATE')}) > 30`, ['KINEMATICS.YAW_RATE', 'KINEMATICS.ACCEL_Y']],
    ['lateral', `custom_function('abs', ${v('KINEMATICS.ACCEL_Y')}) > 4`, ['KINEMATICS.ACCEL_Y']],
    ['gas', `${v('GAS_PEDAL.GAS_PEDAL')} > 0.9`, ['GAS_PEDAL.GAS_PEDAL', 'ENGINE_RPM.RPM']],
    ['wheel-slip', `custom_function('abs', ${v('WHEEL_SPEEDS.WHEEL_SPEED_FL')} - ${v('WHEEL_SPEEDS.WHEEL_SPEED_RL')}) > 15`, ['WHEEL_SPEEDS.WHEEL_SPEED_FL', 'WHEEL_SPEEDS.WHEEL_SPEED_RL']],
    ['wheel-max', `last_window_max(${v('WHEEL_SPEEDS.WHEEL_SPEED_FR')}) > 150`, ['WHEEL_SPEEDS.WHEEL_SPEED_FR']],
    ['cruise', `${v('PCM_CRUISE.CRUISE_ACTIVE')} == 1 && ${v('SPEED.SPEED')} > 100`, ['SPEED.SPEED']],
    ['gear', `${v('GEAR_PACKET.GEAR')} != 0`, ['GEAR_PACKET.GEAR']],
    ['torque', `${v('STEER_TORQUE_SENSOR.STEER_TORQUE_DRIVER')} > 500 || ${v('STEER_TORQUE_SENSOR.STEER_TORQUE_DRIVER')} < -500`, ['STEER_TORQUE_SENSOR.STEER_TORQUE_DRIVER']],
    ['door', `${v('BODY_CONTROL_STATE.DOOR_OPEN_FL')} == 1 && ${v('SPEED.SPEED')} > 3`, ['SPEED.SPEED']],
    ['seatbelt', `${v('BODY_CONTROL_STATE.SEATBELT_DRIVER_UNLATCHED')} == 1 && ${v('SPEED.SPEED')} > 10`, ['SPEED.SPEED']],
  ];
  return exprs.map(([name, expression, collect], i) =>
    parseCampaign({
      name,
      priority: i % 5,
      postTriggerCollectionDuration: i % 3 === 0 ? 1000 : 0,
      collectionScheme: {
        conditionBasedCollectionScheme: { expression, minimumTriggerIntervalMs: 1000, triggerMode: i % 2 === 0 ? 'RISING_EDGE' : 'ALWAYS' },
      },
      signalsToCollect: collect.map((s) => ({ name: `Vehicle.${s}`, maxSampleCount: 200 })),
    }).campaign,
  );
}

interface Setup {
  engine: CampaignEngine;
  dispatch: (f: CanFrame) => void;
  batches: () => number;
}

function setup(): Setup {
  const table = compileDatabase(loadDbcFile(DBC));
  const manifest = parseManifest(manifestFromDbc([{ iface: 'can0', path: DBC, messages: table.messages }], signalType, 'Vehicle'), 'bench', ROOT);
  let batches = 0;
  const engine = new CampaignEngine({
    signals: manifest.signals.map((s) => ({ name: s.name, type: s.type })),
    onBatch: () => batches++,
  });
  const list = campaigns();
  for (const c of list) engine.setCampaign(c);
  // Route every signal a campaign names (collected or in its condition), as the daemon does.
  const names = manifest.signals.map((s) => s.name);
  const wanted = new Set<number>();
  for (const c of list) {
    const refs = campaignSignalNames(c, names);
    for (const n of [...refs.collected, ...refs.condition]) wanted.add(manifest.byName.get(n)!);
  }
  const binding = bindManifest(manifest, { dbcFor: manifestDecoders(manifest), wanted: (id) => wanted.has(id) });
  const sink = (id: number, t: number, value: SignalValue): void => engine.ingest(id, t, value);
  let last = 0;
  return {
    engine,
    batches: () => batches,
    dispatch(f) {
      binding.dispatch(f, sink);
      if (f.timeMs > last) last = f.timeMs;
      engine.advance(last);
    },
  };
}

async function loadFrames(): Promise<CanFrame[]> {
  const frames: CanFrame[] = [];
  await readCandump(LOG, (f) => {
    frames.push({ ...f, data: f.data.slice() });
  });
  return frames;
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  if (!existsSync(LOG) || !existsSync(DBC)) {
    console.log(`engine bench: skipped, ${LOG} is absent (the shared benchmark logs sit beside the checkout)`);
    return;
  }
  const frames = await loadFrames();
  const n = frames.length;
  console.log(`engine bench: toyota log, ${n} frames, 20 condition campaigns, best of ${RUNS}\n`);

  // (a) decode + engine, in memory
  let best = Infinity;
  let batches = 0;
  let triggers = 0;
  for (let r = 0; r < RUNS; r++) {
    const s = setup();
    best = Math.min(best, time(() => {
      for (let k = 0; k < n; k++) s.dispatch(frames[k]);
    }));
    s.engine.flush(frames[n - 1].timeMs);
    batches = s.batches();
    triggers = s.engine.stats().triggers;
  }
  const engineMem = n / best;

  // peer 1: edgewise decode-only of every message
  const table = compileDatabase(loadDbcFile(DBC));
  const outs = new Map(table.messages.map((m) => [m, m.createOutput()]));
  let bestDecode = Infinity;
  for (let r = 0; r < RUNS; r++) {
    bestDecode = Math.min(bestDecode, time(() => {
      for (let k = 0; k < n; k++) {
        const f = frames[k];
        const m = table.lookup(f.id, f.extended);
        if (m) m.decode(f.data, outs.get(m)!);
      }
    }));
  }
  const decodeMem = n / bestDecode;

  // peer 2: candied decode-only
  const can = new Can();
  can.database = new Dbc().load(readFileSync(DBC, 'latin1'));
  const cf = frames.map((f) => ({ id: f.extended ? (f.id | 0x80000000) >>> 0 : f.id, dlc: f.data.length, isExtended: f.extended, payload: Array.from(f.data) }));
  const candiedSec = time(() => {
    for (let k = 0; k < cf.length; k++) can.decode(cf[k] as never);
  });
  const candiedMem = n / candiedSec;

  // (b) end to end from the gz file
  let bestE2e = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const s = setup();
    const t0 = performance.now();
    await readCandump(LOG, (f) => s.dispatch(f));
    bestE2e = Math.min(bestE2e, (performance.now() - t0) / 1000);
  }
  const e2e = n / bestE2e;

  const M = (x: number): string => (x / 1e6).toFixed(2);
  console.log('| path | frames/s (M) | vs candied decode-only |');
  console.log('|---|---:|---:|');
  console.log(`| edgewise decode-only (all messages) | ${M(decodeMem)} | ${(decodeMem / candiedMem).toFixed(1)}× |`);
  console.log(`| edgewise decode + 20 campaigns, in memory | ${M(engineMem)} | ${(engineMem / candiedMem).toFixed(1)}× |`);
  console.log(`| edgewise gz text -> decode + 20 campaigns | ${M(e2e)} | ${(e2e / candiedMem).toFixed(1)}× |`);
  console.log(`| candied decode-only | ${M(candiedMem)} | 1.0× |`);
  console.log(`\n${triggers} triggers, ${batches} batches per run; target: end to end >= 1 M frames/s`);
}

await main();
