/** Adapts the agent's MQTT connection (src/upload's MqttConnection, which resubscribes on reconnect). */
import type { CommandsTransport } from './runner.js';

export interface SubscribingConnection {
  subscribe(filter: string, handler: (topic: string, payload: Uint8Array, info: { retain: boolean }) => void): Promise<void>;
  publish(topic: string, payload: Uint8Array | string, qos?: 0 | 1, retain?: boolean): Promise<void>;
}

export function mqtt5Transport(conn: SubscribingConnection): CommandsTransport {
  return {
    async subscribe(filters, onMessage) {
      await Promise.all(filters.map((f) => conn.subscribe(f, (t, p) => onMessage(t, p))));
    },
    publish: (topic, payload) => conn.publish(topic, payload, 1, false),
  };
}
