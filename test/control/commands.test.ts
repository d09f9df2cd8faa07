/**
 * The commands stage against the real mosquitto broker (mutual TLS, per-thing ACLs): a scripted
 * cloud (the observer identity) publishes executions on
 * $aws/commands/things/<thing>/executions/<id>/request/json and reads the answers on .../response/json.
 * The device side is an mqtt.js client with the thing's certificate. Frames are decoded with the
 * DBC to check the written value; the expected values are the requested ones and the DBC's ranges.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileActuatorCondition } from '../../src/control/commands/condition.js';
import { Actuator, CommandsRunner, type CanWriter, type CommandsTransport } from '../../src/control/commands/index.js';
import { parseDbc } from '../../src/dbc/index.js';
import { compileDatabase, decodeToObject } from '../../src/decode/index.js';
import { OBSERVER, startBroker, type TestBroker } from '../helpers/broker.js';

const DBC = `VERSION ""
BU_: BODY
BO_ 801 HVAC_CMD: 8 BODY
 SG_ TargetTemp : 0|8@1+ (0.5,0) [16|30] "degC" BODY
 SG_ FanLevel : 8|4@1+ (1,0) [0|7] "" BODY
 SG_ Recirc : 12|1@1+ (1,0) [0|1] "" BODY
 SG_ Counter : 48|4@1+ (1,0) [0|15] "" BODY
 SG_ Checksum : 56|8@1+ (1,0) [0|255] "" BODY
BO_ 802 DOORS: 1 BODY
 SG_ LockRequest : 0|1@1+ (1,0) [0|1] "" BODY
BO_ 100 SPEED: 2 BODY
 SG_ VehicleSpeed : 0|16@1+ (0.01,0) [0|655.35] "km/h" BODY
VAL_ 802 LockRequest 0 "UNLOCK" 1 "LOCK" ;
`;

const db = parseDbc(DBC, 'test.dbc');
const table = compileDatabase(db);
const THING = 'car-cmd';

class FrameWriter implements CanWriter {
  up = true;
  frames: { id: number; data: Uint8Array }[] = [];
  hang = false;
  write(id: number, _ext: boolean, data: Uint8Array): Promise<void> {
    this.frames.push({ id, data: data.slice() });
    return this.hang ? new Promise(() => undefined) : Promise.resolve();
  }
}

function connect(broker: TestBroker, id: string): Promise<MqttClient> {
  const c = broker.certFor(id);
  const client = mqtt.connect({
    protocol: 'mqtts',
    host: 'localhost',
    port: broker.port,
    ca: readFileSync(broker.caFile),
    cert: readFileSync(c.cert),
    key: readFileSync(c.key),
    clientId: `${id}-${Math.random().toString(16).slice(2, 8)}`,
    protocolVersion: 5,
    reconnectPeriod: 200,
  });
  client.on('error', () => undefined);
  return new Promise((resolve) => client.once('connect', () => resolve(client)));
}

function transportOf(client: MqttClient): CommandsTransport {
  return {
    subscribe: (filters, onMessage) =>
      new Promise((resolve, reject) => {
        client.on('message', (t, p) => onMessage(t, p));
        client.subscribe(filters, { qos: 1 }, (err) => (err ? reject(err) : resolve()));
      }),
    publish: (topic, payload) => new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve()))),
  };
}

describe('commands stage over the real broker', () => {
  let broker: TestBroker;
  let cloud: MqttClient;
  let device: MqttClient;
  let stateDir: string;
  let writer: FrameWriter;
  let actuator: Actuator;
  let runner: CommandsRunner;
  let n = 0;

  async function execute(body: unknown, opts: { id?: string; raw?: string } = {}): Promise<{ id: string; answer: any }> {
    const id = opts.id ?? `exec-${++n}`;
    const seen = await broker.subscribe(`$aws/commands/things/${THING}/executions/${id}/response/json`);
    cloud.publish(`$aws/commands/things/${THING}/executions/${id}/request/json`, opts.raw ?? JSON.stringify(body), { qos: 1 });
    const [m] = await seen.waitFor(1, { timeoutMs: 10_000 });
    await seen.close();
    return { id, answer: JSON.parse(m!.payload.toString()) };
  }

  beforeAll(async () => {
    broker = await startBroker();
    cloud = await connect(broker, OBSERVER);
    device = await connect(broker, THING);
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-commands-'));
    writer = new FrameWriter();
    actuator = new Actuator({
      table,
      writer: () => writer,
      allow: {
        TargetTemp: { minIntervalMs: 60_000 },
        FanLevel: { max: 5, minIntervalMs: 0 },
        LockRequest: { minIntervalMs: 0 },
      },
      e2e: { HVAC_CMD: { counterSignal: 'Counter', checksumSignal: 'Checksum', checksumKind: 'xor' } },
    });
    runner = new CommandsRunner({ thing: THING, transport: transportOf(device), stateDir, actuator });
    await runner.start();
  }, 60_000);

  afterAll(async () => {
    await new Promise<void>((r) => device?.end(true, {}, () => r()));
    await new Promise<void>((r) => cloud?.end(true, {}, () => r()));
    await broker?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('sets a signal: the written frame decodes with the DBC to the requested value, other signals kept', async () => {
    actuator.observe(801, false, Uint8Array.of(40, 0x13, 0, 0, 0, 0, 0x05, 0));
    const { answer } = await execute({ actuator: { signals: { TargetTemp: 21.5 } } });
    expect(answer).toEqual({ status: 'SUCCEEDED', result: { TargetTemp: { d: 21.5 } } });
    const f = writer.frames.at(-1)!;
    expect(f.id).toBe(801);
    const d = decodeToObject(table.lookup(801, false)!, f.data).signals!;
    expect(d.TargetTemp).toBe(21.5);
    expect(d.FanLevel).toBe(3); // from the latest received frame (0x13)
    expect(d.Recirc).toBe(1);
    expect(d.Counter).toBe(6); // 5 in the received frame, incremented
    expect(f.data[7]).toBe(f.data.slice(0, 7).reduce((a, b) => a ^ b, 0));
  });

  it('rejects a signal not in the allow-list', async () => {
    const { answer } = await execute({ actuator: { signals: { Recirc: 1 } } });
    expect(answer.status).toBe('REJECTED');
    expect(answer.statusReason.reasonCode).toBe('NOT_ALLOWED');
  });

  it('rejects out of range: the DBC range [16|30] by default, the config range when given', async () => {
    const a = await execute({ actuator: { signals: { TargetTemp: 31 } } });
    expect(a.answer.statusReason.reasonCode).toBe('OUT_OF_RANGE');
    const b = await execute({ actuator: { signals: { FanLevel: 6 } } });
    expect(b.answer.status).toBe('REJECTED');
    expect(b.answer.statusReason.reasonCode).toBe('OUT_OF_RANGE');
  });

  it('rejects a write sooner than the minimum interval', async () => {
    const { answer } = await execute({ actuator: { signals: { TargetTemp: 22 } } });
    expect(answer.status).toBe('REJECTED');
    expect(answer.statusReason.reasonCode).toBe('TOO_FREQUENT');
  });

  it('rejects when the condition does not hold, runs when it does', async () => {
    const holds = compileActuatorCondition('$variable.`VehicleSpeed` == 0', actuator.signalNames(), (s) => actuator.latest(s));
    actuator['o'].allow.LockRequest = { minIntervalMs: 0, condition: { text: '$variable.`VehicleSpeed` == 0', holds } };
    actuator.observe(100, false, Uint8Array.of(0xe8, 0x03)); // 10.00 km/h
    const a = await execute({ actuator: { signals: { LockRequest: 'UNLOCK' } } });
    expect(a.answer.status).toBe('REJECTED');
    expect(a.answer.statusReason.reasonCode).toBe('CONDITION_FALSE');
    actuator.observe(100, false, Uint8Array.of(0, 0));
    const b = await execute({ actuator: { signals: { LockRequest: 'UNLOCK' } } });
    expect(b.answer.status).toBe('SUCCEEDED');
    expect(decodeToObject(table.lookup(802, false)!, writer.frames.at(-1)!.data).signals!.LockRequest).toBe('UNLOCK');
  });

  it('rejects malformed payloads with the reason', async () => {
    const a = await execute(undefined, { raw: '{"actuator": ' });
    expect(a.answer.status).toBe('REJECTED');
    expect(a.answer.statusReason.reasonCode).toBe('MALFORMED_PAYLOAD');
    const b = await execute({ actuator: { signals: {} } });
    expect(b.answer.statusReason.reasonCode).toBe('MALFORMED_PAYLOAD');
    const c = await execute({ bogus: 1 });
    expect(c.answer.statusReason.reasonCode).toBe('MALFORMED_PAYLOAD');
  });

  it('rejects an unknown signal', async () => {
    const { answer } = await execute({ actuator: { signals: { NoSuchSignal: 1 } } });
    expect(answer.status).toBe('REJECTED');
    expect(answer.statusReason.reasonCode).toBe('UNKNOWN_SIGNAL');
  });

  it('rejects when the bus is down and writes nothing', async () => {
    writer.up = false;
    const before = writer.frames.length;
    const { answer } = await execute({ actuator: { signals: { FanLevel: 1 } } });
    writer.up = true;
    expect(answer.status).toBe('REJECTED');
    expect(answer.statusReason.reasonCode).toBe('BUS_DOWN');
    expect(writer.frames.length).toBe(before);
  });

  it('answers a repeated delivery from the record without executing again', async () => {
    const first = await execute({ actuator: { signals: { FanLevel: 2 } } }, { id: 'dup-1' });
    const frames = writer.frames.length;
    const again = await execute({ actuator: { signals: { FanLevel: 2 } } }, { id: 'dup-1' });
    expect(again.answer).toEqual(first.answer);
    expect(writer.frames.length).toBe(frames);
    expect(runner.stats().duplicates).toBeGreaterThanOrEqual(1);
  });

  it('answers TIMED_OUT for an execution that arrives after its timeout', async () => {
    const { answer } = await execute({ timeoutSeconds: 1, issuedAtMs: Date.now() - 5000, actuator: { signals: { FanLevel: 1 } } });
    expect(answer.status).toBe('TIMED_OUT');
  });

  it('a restart in the middle of an execution gives exactly one answer, and no second write', async () => {
    writer.hang = true;
    const id = 'restart-1';
    const seen = await broker.subscribe(`$aws/commands/things/${THING}/executions/${id}/response/json`);
    cloud.publish(`$aws/commands/things/${THING}/executions/${id}/request/json`, JSON.stringify({ timeoutSeconds: 60, actuator: { signals: { FanLevel: 4 } } }), { qos: 1 });
    const t0 = Date.now();
    while (!readFileSync(path.join(stateDir, 'commands.json'), 'utf8').includes(id) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    // The process "dies": its connection goes away without an answer.
    await new Promise<void>((r) => device.end(true, {}, () => r()));
    writer.hang = false;
    const writes = writer.frames.length;
    device = await connect(broker, THING);
    runner = new CommandsRunner({ thing: THING, transport: transportOf(device), stateDir, actuator });
    await runner.start();
    const [m] = await seen.waitFor(1, { timeoutMs: 10_000 });
    expect(JSON.parse(m!.payload.toString()).statusReason.reasonCode).toBe('INTERRUPTED');
    // The cloud delivers it again: same answer, not executed.
    cloud.publish(`$aws/commands/things/${THING}/executions/${id}/request/json`, JSON.stringify({ actuator: { signals: { FanLevel: 4 } } }), { qos: 1 });
    await seen.waitFor(2, { timeoutMs: 10_000 });
    expect(seen.messages.map((x) => JSON.parse(x.payload.toString()).status)).toEqual(['FAILED', 'FAILED']);
    expect(writer.frames.length).toBe(writes);
    await seen.close();
  });
});
