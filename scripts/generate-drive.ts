/**
 * Seeded driving-scenario generator: writes a candump -L log of a plausible drive, encoded
 * signal by signal with the DBC encoder (not random bits).
 *
 * The drive (default 600 s): engine start in P, city stop-and-go, a motorway stretch with three
 * overspeed episodes (> 120 km/h), three hard-braking events (7-8 m/s²), exit, park, engine off.
 * Speed, engine speed (6-speed automatic model), pedal, brake pressure, accelerations, wheel
 * speeds and steering are derived from one longitudinal model so they agree with each other.
 * Every message is sent at its DBC cycle time (`GenMsgCycleTime`) or the default below, with a
 * small seeded jitter; the same seed gives byte-identical output.
 *
 * Run (no TypeScript runner needed beyond the esbuild that tsup brings):
 *   npx esbuild scripts/generate-drive.ts --bundle --platform=node --format=esm \
 *     --packages=external --outfile=/tmp/generate-drive.mjs && \
 *   node /tmp/generate-drive.mjs --out examples/drive.log.gz [--seed 7] [--duration 600]
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { loadDbcFile } from '../src/dbc/index.js';
import type { DbcMessage } from '../src/dbc/index.js';
import { compileMessage, encodeMessage } from '../src/decode/index.js';
import type { CompiledMessage } from '../src/decode/index.js';
import { newCanFrame } from '../src/can/index.js';
import { formatCandumpLine } from '../src/sources/index.js';
import type { CanFrame } from '../src/types.js';

export interface DriveOptions {
  seed?: number;
  /** Length of the drive in seconds (the plan is cut or padded with parking to fit). */
  durationS?: number;
  /** Time of the first frame, epoch seconds. Default 2026-01-01T08:00:00Z. */
  startEpochS?: number;
  iface?: string;
  /** DBC to encode with; default `dbc/toyota_nodsu_pt.dbc` of this repository. */
  dbcPath?: string;
}

/** What was generated, for tests to check against. */
export interface DriveSummary {
  frames: number;
  startMs: number;
  endMs: number;
  /** Times (ms epoch) where speed went above 120 km/h. */
  overspeedStartsMs: number[];
  /** Times (ms epoch) where a hard braking event began. */
  hardBrakeStartsMs: number[];
  /** Time the engine was started / switched off at the end (-1: drive cut before). */
  engineStartMs: number;
  engineOffMs: number;
  maxSpeedKmh: number;
  maxRpm: number;
}

/** Cycle times used when the DBC has no GenMsgCycleTime (this Toyota DBC has none). */
export const DEFAULT_CYCLE_MS: Record<string, number> = {
  SPEED: 20,
  WHEEL_SPEEDS: 40,
  KINEMATICS: 40,
  BRAKE_MODULE: 40,
  ENGINE_RPM: 40,
  STEER_ANGLE_SENSOR: 40,
  GAS_PEDAL: 50,
  GEAR_PACKET: 100,
  PCM_CRUISE: 100,
  BODY_CONTROL_STATE: 1000,
};

/** Toyota GEAR_PACKET.GEAR codes. */
const GEAR = { D: 0, N: 8, R: 16, P: 32 } as const;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Segment =
  | { kind: 'off'; s: number }
  | { kind: 'idle'; s: number; gear: keyof typeof GEAR }
  | { kind: 'accel'; toKmh: number; a: number }
  | { kind: 'cruise'; s: number }
  | { kind: 'brake'; toKmh: number; a: number; hard?: boolean };

/** The route, with seeded variation of durations and targets. */
function plan(rnd: () => number): Segment[] {
  const j = (x: number, spread: number): number => x + (rnd() * 2 - 1) * spread;
  return [
    { kind: 'off', s: 2 },
    { kind: 'idle', s: 3, gear: 'P' },
    { kind: 'idle', s: 2, gear: 'D' },
    // City
    { kind: 'accel', toKmh: j(48, 3), a: 2.0 },
    { kind: 'cruise', s: j(14, 3) },
    { kind: 'brake', toKmh: 0, a: 2.2 },
    { kind: 'idle', s: j(6, 2), gear: 'D' },
    { kind: 'accel', toKmh: j(62, 3), a: 1.8 },
    { kind: 'cruise', s: j(18, 4) },
    { kind: 'brake', toKmh: 12, a: 7.5, hard: true },
    { kind: 'accel', toKmh: j(50, 3), a: 1.6 },
    { kind: 'cruise', s: j(12, 3) },
    { kind: 'brake', toKmh: 0, a: 1.8 },
    { kind: 'idle', s: j(5, 2), gear: 'D' },
    // Motorway
    { kind: 'accel', toKmh: j(100, 3), a: 1.5 },
    { kind: 'cruise', s: j(28, 5) },
    { kind: 'accel', toKmh: j(132, 2), a: 1.0 },
    { kind: 'cruise', s: j(18, 4) },
    { kind: 'brake', toKmh: j(104, 2), a: 1.0 },
    { kind: 'cruise', s: j(35, 5) },
    { kind: 'accel', toKmh: j(128, 2), a: 0.8 },
    { kind: 'cruise', s: j(14, 3) },
    { kind: 'brake', toKmh: 100, a: 1.2 },
    { kind: 'cruise', s: j(25, 5) },
    { kind: 'brake', toKmh: 40, a: 8.0, hard: true },
    { kind: 'accel', toKmh: j(95, 3), a: 1.7 },
    { kind: 'cruise', s: j(35, 5) },
    { kind: 'accel', toKmh: j(138, 2), a: 2.6 },
    { kind: 'cruise', s: j(9, 2) },
    { kind: 'brake', toKmh: j(90, 3), a: 1.5 },
    { kind: 'cruise', s: j(28, 4) },
    // Exit and town
    { kind: 'brake', toKmh: 50, a: 1.5 },
    { kind: 'cruise', s: j(22, 4) },
    { kind: 'brake', toKmh: 0, a: 7.0, hard: true },
    { kind: 'idle', s: j(6, 2), gear: 'D' },
    { kind: 'accel', toKmh: j(42, 3), a: 1.6 },
    { kind: 'cruise', s: j(40, 6) },
    { kind: 'brake', toKmh: 0, a: 1.8 },
    { kind: 'idle', s: j(6, 2), gear: 'D' },
    { kind: 'accel', toKmh: j(58, 3), a: 1.7 },
    { kind: 'cruise', s: j(48, 5) },
    { kind: 'brake', toKmh: 30, a: 1.5 },
    { kind: 'cruise', s: j(10, 2) },
    { kind: 'brake', toKmh: 0, a: 1.8 },
    { kind: 'idle', s: 3, gear: 'D' },
    { kind: 'idle', s: 4, gear: 'P' },
    { kind: 'off', s: 1e9 },
  ];
}

/** km/h at 1000 rpm in gears 1..6 (a 6-speed automatic). */
const KMH_PER_KRPM = [8, 14.5, 22, 30, 38, 47];
const IDLE_RPM = 750;

interface State {
  v: number; // m/s
  a: number; // m/s^2, actual (jerk-limited)
  engineOn: boolean;
  gear: keyof typeof GEAR;
  gearNo: number; // 1..6
  rpm: number;
  pedal: number; // %
  brakePressure: number; // 0..511
  brakePressed: boolean;
  steer: number; // deg
  yaw: number; // deg/s
  cruise: boolean;
}

/**
 * Generates the drive as candump -L text lines (without the trailing newline) via `emit`.
 */
export function generateDrive(opts: DriveOptions, emit: (line: string) => void): DriveSummary {
  const seed = opts.seed ?? 7;
  const durationS = opts.durationS ?? 600;
  const startMs = (opts.startEpochS ?? 1767254400) * 1000;
  const iface = opts.iface ?? 'can0';
  const here = dirname(fileURLToPath(import.meta.url));
  const db = loadDbcFile(opts.dbcPath ?? resolve(here, '../dbc/toyota_nodsu_pt.dbc'));
  const rnd = mulberry32(seed);
  const segments = plan(rnd);

  const msgs: { msg: DbcMessage; compiled: CompiledMessage; period: number; next: number; counter: number }[] = [];
  for (const name of Object.keys(DEFAULT_CYCLE_MS)) {
    const msg = db.messages.find((m) => m.name === name);
    if (!msg) throw new Error(`message ${name} not in ${db.file}`);
    const period = msg.cycleTimeMs && msg.cycleTimeMs > 0 ? msg.cycleTimeMs : DEFAULT_CYCLE_MS[name];
    msgs.push({ msg, compiled: compileMessage(msg), period, next: Math.floor(rnd() * period), counter: 0 });
  }

  const st: State = {
    v: 0,
    a: 0,
    engineOn: false,
    gear: 'P',
    gearNo: 1,
    rpm: 0,
    pedal: 0,
    brakePressure: 0,
    brakePressed: false,
    steer: 0,
    yaw: 0,
    cruise: false,
  };
  const summary: DriveSummary = {
    frames: 0,
    startMs,
    endMs: startMs,
    overspeedStartsMs: [],
    hardBrakeStartsMs: [],
    engineStartMs: -1,
    engineOffMs: -1,
    maxSpeedKmh: 0,
    maxRpm: 0,
  };

  let seg = 0;
  let segT = 0; // ms spent in the current segment
  let wander = 0; // cruise speed wander phase
  let cruiseBase = 0;
  let lastKmh = 0;
  let aTarget = 0;
  const frame: CanFrame = { ...newCanFrame(), iface, data: new Uint8Array(8) };
  const pending: { t: number; line: string }[] = [];
  const dt = 1; // ms
  const endT = durationS * 1000;
  for (let t = 0; t < endT; t += dt) {
    // ---- plan -> target acceleration
    const s = segments[seg];
    const kmh = st.v * 3.6;
    let done = false;
    switch (s.kind) {
      case 'off':
        if (st.engineOn) summary.engineOffMs = startMs + t;
        st.engineOn = false;
        st.gear = 'P';
        aTarget = 0;
        done = segT >= s.s * 1000;
        break;
      case 'idle':
        if (!st.engineOn) {
          st.engineOn = true;
          summary.engineStartMs = startMs + t;
        }
        st.gear = s.gear;
        aTarget = 0;
        st.v = 0;
        done = segT >= s.s * 1000;
        break;
      case 'accel':
        st.gear = 'D';
        aTarget = kmh < s.toKmh - 8 ? s.a : Math.max(0.15, (s.a * (s.toKmh - kmh)) / 8);
        done = kmh >= s.toKmh;
        if (done) cruiseBase = s.toKmh;
        break;
      case 'cruise': {
        if (segT === 0) {
          cruiseBase = kmh;
          wander = rnd() * Math.PI * 2;
        }
        // Hold speed with a slow +-1.5 km/h wander.
        const want = cruiseBase + 1.5 * Math.sin(wander + segT / 7000);
        aTarget = Math.max(-0.6, Math.min(0.6, ((want - kmh) / 3.6) * 0.8));
        done = segT >= s.s * 1000;
        break;
      }
      case 'brake':
        aTarget = kmh > s.toKmh + 3 ? -s.a : -Math.max(0.3, (s.a * (kmh - s.toKmh)) / 3);
        if (segT === 0 && s.hard) summary.hardBrakeStartsMs.push(startMs + t);
        done = kmh <= s.toKmh + 0.05 || st.v <= 0;
        if (done && s.toKmh === 0) st.v = 0;
        break;
    }
    segT += dt;
    if (done && seg < segments.length - 1) {
      seg++;
      segT = 0;
    }
    // ---- longitudinal model (jerk-limited)
    const hard = s.kind === 'brake' && s.hard === true;
    const jerk = (hard ? 25 : 4) * (dt / 1000);
    st.a += Math.max(-jerk, Math.min(jerk, aTarget - st.a));
    if (s.kind === 'idle' || s.kind === 'off') st.a = 0;
    st.v = Math.max(0, st.v + st.a * (dt / 1000));
    const nk = st.v * 3.6;
    if (nk > 120 && lastKmh <= 120) summary.overspeedStartsMs.push(startMs + t);
    lastKmh = nk;
    summary.maxSpeedKmh = Math.max(summary.maxSpeedKmh, nk);

    // ---- derived signals
    if (st.engineOn) {
      const kick = st.a > 2.2;
      const upshift = kick ? 5200 : st.a > 1.2 ? 3000 : 2200;
      let rpmInGear = (nk / KMH_PER_KRPM[st.gearNo - 1]) * 1000;
      if (rpmInGear > upshift && st.gearNo < 6) st.gearNo++;
      else if (rpmInGear < 1150 && st.gearNo > 1) st.gearNo--;
      if (kick && st.gearNo > 3 && rpmInGear < 3500) st.gearNo--; // kick-down
      rpmInGear = (nk / KMH_PER_KRPM[st.gearNo - 1]) * 1000;
      const load = Math.max(0, st.a) * 400;
      const target = Math.max(IDLE_RPM + (st.gear === 'D' && nk < 6 ? 100 : 0), rpmInGear + load * (nk < 10 ? 1 : 0.2));
      st.rpm += (target - st.rpm) * Math.min(1, dt / 80);
    } else {
      st.rpm += (0 - st.rpm) * Math.min(1, dt / 150);
      if (st.rpm < 5) st.rpm = 0;
    }
    summary.maxRpm = Math.max(summary.maxRpm, st.rpm);
    const drag = 0.15 + 0.0004 * st.v * st.v; // m/s^2 to overcome at steady speed
    st.pedal = st.engineOn && st.a > -0.05 && st.v > 0.1 ? Math.min(100, Math.max(0, (st.a + drag) * 22)) : 0;
    if (st.engineOn && s.kind === 'accel' && st.v < 0.5) st.pedal = Math.min(100, s.a * 15);
    const braking = st.a < -0.7 || (st.v === 0 && st.gear === 'D');
    st.brakePressed = braking;
    st.brakePressure = st.a < -0.3 ? Math.min(511, -st.a * 45) : st.v === 0 && st.gear === 'D' ? 60 : 0;
    st.cruise = s.kind === 'cruise' && nk > 60;
    // Gentle curves: steering follows a slow seeded sinusoid, less at speed.
    st.steer = (st.v > 0.5 ? 1 : 0) * (120 / (1 + nk / 15)) * Math.sin(t / 9000 + seed);
    // Bicycle model: yaw rate = v * wheel angle / wheelbase (steering ratio 16, wheelbase 2.7 m), in deg/s.
    st.yaw = (st.v * (st.steer / 16)) / 2.7;

    // ---- messages due in this ms
    for (const m of msgs) {
      if (t < m.next) continue;
      m.next += m.period;
      const jitterMs = Math.floor(rnd() * 400) / 1000;
      const time = startMs + t + jitterMs;
      const values = signalValues(m.msg.name, st, m.counter++, rnd);
      const data = encodeMessage(m.compiled, values);
      if (m.msg.name === 'SPEED' || m.msg.name === 'GAS_PEDAL' || m.msg.name === 'PCM_CRUISE') toyotaChecksum(m.msg.id, data);
      frame.timeMs = time;
      frame.id = m.msg.id;
      frame.extended = m.msg.extended;
      frame.data = data;
      pending.push({ t: time, line: formatCandumpLine(frame) });
    }
    if (pending.length > 0) {
      pending.sort((x, y) => x.t - y.t);
      for (const p of pending) emit(p.line);
      summary.frames += pending.length;
      summary.endMs = pending[pending.length - 1].t;
      pending.length = 0;
    }
  }
  return summary;
}

/** Toyota's message checksum in the last byte: id bytes + length + data bytes, mod 256. */
function toyotaChecksum(id: number, data: Uint8Array): void {
  let sum = (id & 0xff) + (id >> 8) + data.length;
  for (let i = 0; i < data.length - 1; i++) sum += data[i];
  data[data.length - 1] = sum & 0xff;
}

function noise(rnd: () => number, amp: number): number {
  return (rnd() * 2 - 1) * amp;
}

function signalValues(name: string, st: State, counter: number, rnd: () => number): Record<string, number> {
  const kmh = st.v * 3.6;
  switch (name) {
    case 'SPEED':
      return { SPEED: Math.round(kmh * 100) / 100, ENCODER: counter & 0xff, CHECKSUM: 0 };
    case 'WHEEL_SPEEDS': {
      // Outer wheels turn faster in a curve; a little sensor noise when moving.
      const curve = (st.steer / 500) * 0.03 * kmh;
      const n = (): number => (kmh > 0.5 ? noise(rnd, 0.04) : 0);
      const w = (x: number): number => Math.max(0, x);
      return {
        WHEEL_SPEED_FL: w(kmh - curve + n()),
        WHEEL_SPEED_FR: w(kmh + curve + n()),
        WHEEL_SPEED_RL: w(kmh - curve * 0.8 + n()),
        WHEEL_SPEED_RR: w(kmh + curve * 0.8 + n()),
      };
    }
    case 'KINEMATICS':
      return {
        ACCEL_X: st.a + noise(rnd, 0.05),
        ACCEL_Y: (st.v * st.v * (st.steer / 16) * (Math.PI / 180)) / 2.7 + noise(rnd, 0.05),
        YAW_RATE: st.yaw + noise(rnd, 0.2),
      };
    case 'BRAKE_MODULE':
      return {
        BRAKE_PRESSURE: Math.round(st.brakePressure),
        BRAKE_POSITION: Math.round(st.brakePressure * 0.6),
        BRAKE_PRESSED: st.brakePressed ? 1 : 0,
      };
    case 'ENGINE_RPM':
      return { RPM: Math.round(st.rpm / 0.78125) * 0.78125, ENGINE_RUNNING: st.engineOn ? 1 : 0 };
    case 'STEER_ANGLE_SENSOR':
      return { STEER_ANGLE: Math.round(st.steer / 1.5) * 1.5, STEER_FRACTION: 0, STEER_RATE: 0 };
    case 'GAS_PEDAL': {
      const torque = st.engineOn ? Math.max(0, st.pedal * 2.2) : 0;
      return {
        GAS_RELEASED: st.pedal < 0.5 ? 1 : 0,
        ETQLVSC: torque,
        ETQREAL: torque,
        ETQISC: 0,
        GAS_PEDAL: Math.round(st.pedal * 2) / 2,
        CHECKSUM: 0,
      };
    }
    case 'GEAR_PACKET':
      return {
        SPORT_ON: 0,
        GEAR: GEAR[st.gear],
        SPORT_GEAR_ON: 0,
        SPORT_GEAR: 0,
        ECON_ON: 0,
        B_GEAR_ENGAGED: 0,
        DRIVE_ENGAGED: st.gear === 'D' ? 1 : 0,
      };
    case 'PCM_CRUISE':
      return {
        GAS_RELEASED: st.pedal < 0.5 ? 1 : 0,
        CRUISE_ACTIVE: st.cruise ? 1 : 0,
        ACC_BRAKING: 0,
        ACCEL_NET: Math.max(-20, Math.min(20, st.a)),
        NEUTRAL_FORCE: 0,
        CRUISE_STATE: st.cruise ? 8 : 0,
        CANCEL_REQ: 0,
        CHECKSUM: 0,
      };
    case 'BODY_CONTROL_STATE':
      return {
        METER_DIMMED: 0,
        PARKING_BRAKE: st.engineOn && st.gear !== 'P' ? 0 : 1,
        SEATBELT_DRIVER_UNLATCHED: 0,
        DOOR_OPEN_FL: 0,
        DOOR_OPEN_RL: 0,
        DOOR_OPEN_RR: 0,
        DOOR_OPEN_FR: 0,
      };
    default:
      throw new Error(`no signal model for ${name}`);
  }
}

/** Generates the whole log as text, gzipped when `gzip`. */
export function generateDriveLog(opts: DriveOptions & { gzip?: boolean }): { data: Buffer; summary: DriveSummary } {
  const lines: string[] = [];
  const summary = generateDrive(opts, (l) => lines.push(l));
  const text = Buffer.from(lines.join('\n') + '\n');
  // mtime 0 in the gzip header keeps the output byte-identical across runs.
  return { data: opts.gzip ? gzipSync(text, { level: 9 }) : text, summary };
}

function main(argv: string[]): void {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'usage: generate-drive [--out FILE(.gz)] [--seed N] [--duration S] [--start EPOCH_S] [--iface can0] [--dbc FILE]\n' +
        'Writes a candump -L log of a seeded drive (stdout without --out).\n',
    );
    return;
  }
  const out = get('--out');
  const opts: DriveOptions & { gzip?: boolean } = {
    seed: get('--seed') !== undefined ? Number(get('--seed')) : undefined,
    durationS: get('--duration') !== undefined ? Number(get('--duration')) : undefined,
    startEpochS: get('--start') !== undefined ? Number(get('--start')) : undefined,
    iface: get('--iface'),
    dbcPath: get('--dbc'),
    gzip: out?.endsWith('.gz') ?? false,
  };
  const { data, summary } = generateDriveLog(opts);
  if (out) writeFileSync(out, data);
  else process.stdout.write(data);
  process.stderr.write(
    `${summary.frames} frames, ${((summary.endMs - summary.startMs) / 1000).toFixed(1)} s, max ${summary.maxSpeedKmh.toFixed(1)} km/h, ` +
      `max ${Math.round(summary.maxRpm)} rpm, engine ${((summary.engineStartMs - summary.startMs) / 1000).toFixed(1)}..${((summary.engineOffMs - summary.startMs) / 1000).toFixed(1)} s, overspeed x${summary.overspeedStartsMs.length}, hard braking x${summary.hardBrakeStartsMs.length}` +
      `${out ? `, ${data.length} bytes -> ${out}` : ''}\n`,
  );
}

const invoked = process.argv[1] ?? '';
if (/generate-drive\.(?:ts|mjs|js)$/.test(invoked)) main(process.argv.slice(2));
