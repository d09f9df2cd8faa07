/**
 * Generates examples/j1939/truck.log: a 60 s recorded-style J1939 log (candump -L, interface can0)
 * encoded with examples/j1939/truck.dbc. The engine (SA 0x00) sends EEC1 every 20 ms (priority 3),
 * ET1 every 1 s, LFE every 100 ms and DM1 every 1 s; the vehicle speed (CCVS, every 100 ms) comes
 * from the instrument cluster at SA 0x17 with priority 6, as on many trucks; the engine raises an
 * amber lamp with SPN 110 FMI 0 (coolant too hot) 40 s in. No real truck was recorded.
 *
 *   npx esbuild scripts/generate-truck-log.ts --bundle --platform=node --format=esm --outfile=/tmp/gt.mjs
 *   node /tmp/gt.mjs > examples/j1939/truck.log
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDbc } from '../src/dbc/index.js';
import { compileDatabase, encodeMessage, j1939Id } from '../src/decode/index.js';
import { newCanFrame } from '../src/can/index.js';
import { formatCandumpLine } from '../src/sources/index.js';

const ROOT = process.cwd(); // run from the repository root
const table = compileDatabase(parseDbc(readFileSync(resolve(ROOT, 'examples/j1939/truck.dbc'), 'latin1'), 'truck.dbc'));
const msg = (name: string) => table.messages.find((m) => m.message.name === name)!;
const T0 = 1_760_000_000_000;
const lines: string[] = [];
const f = newCanFrame();
f.iface = 'can0';
f.extended = true;
function emit(t: number, name: string, priority: number, sa: number, values: Record<string, number>): void {
  const cm = msg(name);
  f.timeMs = T0 + t;
  f.id = j1939Id(cm.pgn!, priority, sa);
  f.data = encodeMessage(cm, values);
  lines.push(formatCandumpLine(f));
}
for (let t = 0; t < 60_000; t += 20) {
  const s = t / 1000;
  const speed = Math.min(90, s * 2.5); // km/h, accelerating then cruising
  const rpm = 600 + Math.min(1200, s * 40) - (s > 36 ? 200 : 0);
  emit(t, 'EEC1', 3, 0x00, { EngSpeed: Math.round(rpm * 8) / 8, ActualEngPercentTorque: 30, DriversDemandEngPercentTorque: 30, EngDemandPercentTorque: 30 });
  if (t % 100 === 0) {
    emit(t + 3, 'CCVS', 6, 0x17, { WheelBasedVehicleSpeed: Math.round(speed * 256) / 256 });
    emit(t + 5, 'LFE', 6, 0x00, { EngFuelRate: Math.round(speed * 0.4 * 20) / 20 + 2, EngThrottleValve1Position: 40 });
  }
  if (t % 1000 === 0) {
    const coolant = Math.min(112, 80 + s * 0.8);
    emit(t + 7, 'ET1', 6, 0x00, { EngCoolantTemp: Math.round(coolant), EngFuelTemp1: 40, EngOilTemp1: 95 });
    const hot = s >= 40;
    emit(t + 9, 'DM1', 6, 0x00, {
      AmberWarningLampStatus: hot ? 1 : 0,
      DTC1_SPN_LowBits: hot ? 110 : 0,
      DTC1_SPN_HighBits: 0,
      DTC1_FMI: hot ? 0 : 0,
      DTC1_OccurrenceCount: hot ? 1 : 0,
    });
  }
}
process.stdout.write(lines.join('\n') + '\n');
