/**
 * The development broker behind `upload.endpoint: local`: mosquitto (MQTT 5, mTLS, per-thing ACL)
 * when it is installed, otherwise the embedded aedes broker (MQTT 3.1.1, mTLS), which is loaded
 * only then. Either way the agent gets a host, a CA and a client certificate for its thing.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { startMosquitto } from './mosquitto.js';

export interface DevBrokerOptions {
  /** State directory (PKI, broker config). Created when missing. */
  dir: string;
  /** The thing the client certificate is issued for. */
  thing: string;
  /** Called for every message the embedded broker receives (mosquitto: subscribe instead). */
  onMessage?: (topic: string, payload: Uint8Array) => void;
}

export interface DevBroker {
  kind: 'mosquitto' | 'aedes';
  protocol: 'mqtt5' | 'mqtt311';
  host: string;
  port: number;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Whether `onMessage` is served by the broker itself (aedes) rather than by a subscription. */
  deliversMessages: boolean;
  close(): Promise<void>;
}

/** Whether `cmd` can be run (found on PATH). */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync(cmd, ['-h'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** Start the development broker for `upload.endpoint: local`. */
export async function startDevBroker(o: DevBrokerOptions): Promise<DevBroker> {
  mkdirSync(o.dir, { recursive: true });
  if (hasCommand('mosquitto')) {
    const b = await startMosquitto({ dir: o.dir });
    const pair = b.pki.certFor(o.thing);
    return {
      kind: 'mosquitto',
      protocol: 'mqtt5',
      host: b.host,
      port: b.port,
      caFile: b.caFile,
      certFile: pair.cert,
      keyFile: pair.key,
      deliversMessages: false,
      close: () => b.stop(),
    };
  }
  const { startLocalBroker } = await import('./local-broker.js');
  const b = await startLocalBroker({ dir: o.dir, port: 0, thingName: o.thing });
  if (o.onMessage) {
    const cb = o.onMessage;
    b.on('message', (m) => cb(m.topic, m.payload));
  }
  return {
    kind: 'aedes',
    protocol: 'mqtt311',
    host: b.host,
    port: b.port,
    caFile: b.caFile,
    certFile: b.certFile,
    keyFile: b.keyFile,
    deliversMessages: o.onMessage !== undefined,
    close: () => b.close(),
  };
}
