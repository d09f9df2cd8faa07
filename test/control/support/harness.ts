/** Shared setup for control-plane tests: real mosquitto (mTLS) + fake cloud + a device connection. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ControlPlane, type ControlPlaneOptions } from '../../../src/control/index.js';
import type { Logger as ControlLogger } from '../../../src/log.js';
import { MqttConnection } from '../../../src/upload/index.js';
import { startBroker, type TestBroker } from '../../helpers/broker.js';
import { startFakeCloud, type FakeCloud } from '../../helpers/fake-cloud.js';
import { TestAgent } from './test-agent.js';

export interface Env {
  broker: TestBroker;
  cloud: FakeCloud;
  dir: string;
  close(): Promise<void>;
}

export async function startEnv(): Promise<Env> {
  const broker = await startBroker();
  const cloud = await startFakeCloud(broker);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-control-'));
  return {
    broker,
    cloud,
    dir,
    close: async () => {
      await cloud.close();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Device {
  thing: string;
  agent: TestAgent;
  connection: MqttConnection;
  plane: ControlPlane;
  stateDir: string;
  /** Stop the control plane and the connection (like a process exit). */
  stop(): Promise<void>;
}

let n = 0;

function debugLogger(thing: string): ControlLogger {
  const out = (lvl: string) => (obj: object, msg?: string) => console.error(`[${thing}] ${lvl} ${msg ?? ''} ${JSON.stringify(obj)}`);
  return { debug: out('debug'), info: out('info'), warn: out('warn'), error: out('error') };
}

export async function startDevice(env: Env, thing: string, opts: Partial<ControlPlaneOptions> & { agent?: TestAgent; stateDir?: string } = {}): Promise<Device> {
  const { cert, key } = env.broker.certFor(thing);
  const stateDir = opts.stateDir ?? path.join(env.dir, `${thing}-state-${++n}`);
  mkdirSync(stateDir, { recursive: true });
  const campaignsDir = path.join(env.dir, `${thing}-campaigns`);
  mkdirSync(campaignsDir, { recursive: true });
  const agent = opts.agent ?? new TestAgent(campaignsDir);
  const connection = new MqttConnection({
    host: 'localhost',
    port: env.broker.port,
    thingName: thing,
    certFile: cert,
    keyFile: key,
    caFile: env.broker.caFile,
    statusTopic: false,
  });
  connection.start();
  const plane = new ControlPlane({
    thing,
    connection,
    agent,
    stateDir,
    ota: false,
    // short request timeouts: after a broker restart the fake cloud may resubscribe after the device asked
    shadow: { checkMs: 200, minIntervalMs: 50, periodicMs: 60_000, operationTimeoutSeconds: 4 },
    jobs: { retryBaseMs: 100, operationTimeoutSeconds: 4 },
    logger: process.env.DEBUG_CONTROL ? debugLogger(thing) : undefined,
    ...opts,
  });
  agent.subscribed = () => plane.subscribed;
  agent.connected = () => connection.connected;
  plane.start();
  return {
    thing,
    agent,
    connection,
    plane,
    stateDir,
    stop: async () => {
      await plane.stop();
      await connection.close();
    },
  };
}

export async function until(pred: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
