import type { AgentStatus } from '../../src/control/agent.js';
export { cli } from '../helpers/cli.js';


/** A full, realistic status snapshot (two buses, one OBD adapter, two campaigns). */
export function sampleStatus(): AgentStatus {
  return {
    agent: {
      version: '0.1.0',
      configHash: '3f2a9c0d11be47a8',
      startedAt: '2026-11-21T21:00:00.000Z',
      uptimeSeconds: 3 * 3600 + 12 * 60 + 5,
      pid: 4242,
      vehicle: 'van-0042',
    },
    memory: { rssBytes: 81_500_000, heapUsedBytes: 18_200_000, externalBytes: 3_500_000, periodicGcs: 191 },
    campaigns: [
      { name: 'harsh-braking', version: 3, state: 'active', triggers: 17, batches: 15 },
      { name: 'battery-health', version: 1, state: 'waiting', triggers: 0, batches: 0 },
    ],
    sources: [
      { name: 'can0', kind: 'socketcan', state: 'open', frames: 5_432_100, framesPerSecond: 1234.4, errors: 2, dropped: 7 },
      { name: 'can1', kind: 'socketcan', state: 'down', frames: 0, framesPerSecond: 0, errors: 0 },
    ],
    decode: { frames: 5_432_100, unknown: 54_321, errors: 3 },
    store: { bytes: 64 * 1024 * 1024, maxBytes: 256 * 1024 * 1024, batches: 123, oldestAgeSeconds: 303, evictions: 4, movedAside: 0 },
    upload: {
      enabled: true,
      state: 'connecting',
      endpoint: 'a1b2c3-ats.iot.eu-west-1.amazonaws.com',
      lastConnect: '2026-11-22T00:01:02.000Z',
      reconnects: 5,
      published: 120,
      acked: 118,
      failed: 1,
      inFlight: 1,
      lastError: 'TLS handshake failed: certificate expired',
    },
    settings: {
      logLevel: 'info',
      upload: { maxPublishesPerSecond: 100, maxBytesPerSecond: 524288, enabled: true },
      store: { maxBytes: 256 * 1024 * 1024 },
      campaigns: {},
    },
    lastOta: null,
  };
}
