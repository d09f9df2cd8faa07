/**
 * Commands against the running daemon (`edgewise run` child, real mosquitto with mTLS): the test
 * plays the AWS IoT commands service (publishes executions, reads answers). The host has no can0,
 * so actuator writes that pass every safety rule meet a bus that is down (REJECTED BUS_DOWN); the
 * vcan guest test covers frames on the wire.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { BIN, pulseCampaign, startDaemon, writeSetup, type RunningDaemon, type TestSetup } from './harness.js';
import mqtt from 'mqtt';
import { OBSERVER } from '../helpers/broker.js';

const THING = 'veh-cmd';
let broker: TestBroker;
let setup: TestSetup;
let d: RunningDaemon;
let cloud: mqtt.MqttClient;
let n = 0;

async function execute(body: unknown, raw?: string): Promise<any> {
  const id = `d-exec-${++n}`;
  const seen = await broker.subscribe(`$aws/commands/things/${THING}/executions/${id}/response/json`);
  cloud.publish(`$aws/commands/things/${THING}/executions/${id}/request/json`, raw ?? JSON.stringify(body), { qos: 1 });
  const [m] = await seen.waitFor(1, { timeoutMs: 20_000 });
  await seen.close();
  return JSON.parse(m!.payload.toString());
}

beforeAll(async () => {
  broker = await startBroker();
  const id = broker.certFor(OBSERVER);
  cloud = mqtt.connect({ protocol: 'mqtts', host: 'localhost', port: broker.port, ca: readFileSync(broker.caFile), cert: readFileSync(id.cert), key: readFileSync(id.key), protocolVersion: 5 });
  cloud.on('error', () => undefined);
  await new Promise((r) => cloud.once('connect', r));
  setup = writeSetup({ broker, thing: THING, campaigns: [pulseCampaign('pulse', 2000)], speed: 1, loop: true });
  const cfg = parse(readFileSync(setup.configFile, 'utf8')) as Record<string, unknown>;
  cfg.control = { stateDir: path.join(setup.dir, 'control') };
  cfg.commands = {
    enabled: true,
    interface: 'can0',
    actuators: {
      GAS_PEDAL: { minIntervalMs: 0 },
      GEAR: { minIntervalMs: 0, condition: '$variable.`SPEED` < 0' },
    },
  };
  writeFileSync(setup.configFile, stringify(cfg));
  d = startDaemon(setup.configFile);
  await d.waitForLog('commands: subscribed', 30_000);
}, 60_000);

afterAll(async () => {
  if (d && d.child.exitCode === null) {
    d.child.kill('SIGTERM');
    await d.exited;
  }
  cloud?.end(true);
  await broker?.close();
  if (setup) rmSync(setup.dir, { recursive: true, force: true });
});

describe('daemon commands', () => {
  it('rejects a signal not in the allow-list', async () => {
    const a = await execute({ actuator: { signals: { RPM: 100 } } });
    expect(a.status).toBe('REJECTED');
    expect(a.statusReason.reasonCode).toBe('NOT_ALLOWED');
  });

  it('rejects a value outside the DBC range', async () => {
    const db = readFileSync(path.resolve(__dirname, '../../dbc/toyota_nodsu_pt.dbc'), 'latin1');
    const line = /SG_ GAS_PEDAL : [^[]*\[([-\d.]+)\|([-\d.]+)\]/.exec(db)!;
    const a = await execute({ actuator: { signals: { GAS_PEDAL: Number(line[2]) + 1 } } });
    expect(a.status).toBe('REJECTED');
    expect(a.statusReason.reasonCode).toBe('OUT_OF_RANGE');
  });

  it('rejects when the condition does not hold at execution time', async () => {
    const a = await execute({ actuator: { signals: { GEAR: 0 } } });
    expect(a.status).toBe('REJECTED');
    expect(a.statusReason.reasonCode).toBe('CONDITION_FALSE');
  });

  it('rejects when the bus is down', async () => {
    if (existsSync('/sys/class/net/can0')) return; // a host with can0 would really write
    const a = await execute({ actuator: { signals: { GAS_PEDAL: 0 } } });
    expect(a.status).toBe('REJECTED');
    expect(a.statusReason.reasonCode).toBe('BUS_DOWN');
  });

  it('rejects a malformed payload and counts every outcome in status', async () => {
    const a = await execute(undefined, 'not json');
    expect(a.statusReason.reasonCode).toBe('MALFORMED_PAYLOAD');
    const status = JSON.parse(execFileSync(process.execPath, [BIN, 'status', '--socket', path.join(setup.dir, 'edgewise.sock'), '--json'], { encoding: 'utf8' }));
    expect(status.commands.received).toBe(n);
    expect(status.commands.rejected).toBe(n);
  });

});
