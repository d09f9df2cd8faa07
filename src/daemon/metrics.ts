/**
 * Prometheus metrics over HTTP (`GET /metrics`), off by default, bound to localhost.
 *
 * Nothing on the data path calls into this module: at scrape time the server takes one
 * `AgentStatus` snapshot through the `collect` callback and turns it into gauges and counters
 * (prom-client `collect` hooks). Process metrics (RSS, CPU, heap, event-loop lag, GC) come from
 * prom-client's default collectors on a private registry.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as z from 'zod';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { AgentStatus } from '../control/index.js';
import { EdgewiseError } from '../errors.js';

/** Config fragment for the daemon's `metrics:` block. */
export { metricsConfigSchema } from './config.js';

export type MetricsConfig = z.output<typeof import('./config.js').metricsConfigSchema>;

export interface MetricsServerOptions {
  host: string;
  /** 0 = any free port (see `port` after start). */
  port: number;
  collect: () => AgentStatus;
  /** Prefix of the product metrics. Default `edgewise_`. */
  prefix?: string;
}

const UPLOAD_STATES = ['connected', 'connecting', 'disconnected', 'disabled'] as const;
const CAMPAIGN_STATES = ['waiting', 'active', 'expired', 'disabled'] as const;

export class MetricsServer {
  readonly registry = new Registry();
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly collectStatus: () => AgentStatus;
  private server: http.Server | undefined;
  /** The snapshot of the scrape in progress; every metric reads this one object. */
  private snap: AgentStatus | undefined;

  constructor(options: MetricsServerOptions) {
    this.host = options.host;
    this.requestedPort = options.port;
    this.collectStatus = options.collect;
    this.define(options.prefix ?? 'edgewise_');
  }

  /** The port actually listened on (after `start`). */
  get port(): number {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a ? a.port : this.requestedPort;
  }

  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${h}:${this.port}/metrics`;
  }

  private define(p: string): void {
    const registers = [this.registry];
    const s = (): AgentStatus | undefined => this.snap;
    // Counters are exported from the daemon's absolute totals: reset, then add the total.
    const counter = <L extends string>(name: string, help: string, labelNames: L[], fill: (c: Counter<L>, st: AgentStatus) => void): void => {
      new Counter<L>({
        name: p + name,
        help,
        labelNames,
        registers,
        collect(this: Counter<L>) {
          this.reset();
          const st = s();
          if (st) fill(this, st);
        },
      });
    };
    const gauge = <L extends string>(name: string, help: string, labelNames: L[], fill: (g: Gauge<L>, st: AgentStatus) => void): void => {
      new Gauge<L>({
        name: p + name,
        help,
        labelNames,
        registers,
        collect(this: Gauge<L>) {
          this.reset();
          const st = s();
          if (st) fill(this, st);
        },
      });
    };

    gauge('info', 'Agent build and identity (always 1)', ['version', 'vehicle', 'config_hash'], (g, st) =>
      g.set({ version: st.agent.version, vehicle: st.agent.vehicle, config_hash: st.agent.configHash }, 1),
    );
    gauge('uptime_seconds', 'Seconds since the agent started', [], (g, st) => g.set(st.agent.uptimeSeconds));

    // Sources (one series per bus / OBD adapter / log).
    counter('source_frames_total', 'Frames received per source', ['source', 'kind'], (c, st) => {
      for (const x of st.sources) c.inc({ source: x.name, kind: x.kind }, x.frames);
    });
    gauge('source_frames_per_second', 'Recent frame rate per source', ['source'], (g, st) => {
      for (const x of st.sources) g.set({ source: x.name }, x.framesPerSecond);
    });
    counter('source_errors_total', 'Read errors per source (bad log lines, bus errors)', ['source'], (c, st) => {
      for (const x of st.sources) c.inc({ source: x.name }, x.errors);
    });
    counter('source_dropped_total', 'Frames lost where the source can tell (kernel drops, queue overflow)', ['source'], (c, st) => {
      for (const x of st.sources) if (x.dropped !== undefined) c.inc({ source: x.name }, x.dropped);
    });
    gauge('source_state', 'Source state (1 for the current state)', ['source', 'state'], (g, st) => {
      for (const x of st.sources) g.set({ source: x.name, state: x.state }, 1);
    });

    // Decoding.
    counter('decode_frames_total', 'Frames given to the decoders', [], (c, st) => c.inc(st.decode.frames));
    counter('decode_unknown_total', 'Frames with an identifier no DBC/manifest describes', [], (c, st) => c.inc(st.decode.unknown));
    counter('decode_errors_total', 'Frames that could not be decoded', [], (c, st) => c.inc(st.decode.errors));

    // Campaigns.
    counter('campaign_triggers_total', 'Times a campaign condition fired', ['campaign'], (c, st) => {
      for (const x of st.campaigns) c.inc({ campaign: x.name }, x.triggers);
    });
    counter('campaign_batches_total', 'Batches a campaign produced (handed to the store)', ['campaign'], (c, st) => {
      for (const x of st.campaigns) c.inc({ campaign: x.name }, x.batches);
    });
    gauge('campaign_state', 'Campaign state (1 for the current state)', ['campaign', 'version', 'state'], (g, st) => {
      for (const x of st.campaigns)
        for (const state of CAMPAIGN_STATES) g.set({ campaign: x.name, version: String(x.version), state }, x.state === state ? 1 : 0);
    });
    counter('batches_stored_total', 'Batches handed to the store (all campaigns)', [], (c, st) =>
      c.inc(st.campaigns.reduce((n, x) => n + x.batches, 0)),
    );

    // Store.
    gauge('store_bytes', 'Bytes of batches in the store', [], (g, st) => g.set(st.store.bytes));
    gauge('store_max_bytes', 'Store capacity in bytes (beyond it batches are evicted)', [], (g, st) => g.set(st.store.maxBytes));
    gauge('store_batches', 'Batches waiting in the store', [], (g, st) => g.set(st.store.batches));
    gauge('store_oldest_age_seconds', 'Age of the oldest stored batch (0 when the store is empty)', [], (g, st) =>
      g.set(st.store.oldestAgeSeconds ?? 0),
    );
    counter('store_evictions_total', 'Batches evicted because the store was full', [], (c, st) => c.inc(st.store.evictions));
    counter('store_moved_aside_total', 'Corrupt records moved aside at open', [], (c, st) => c.inc(st.store.movedAside));

    // Upload.
    gauge('upload_connected', '1 while the MQTT connection is up', [], (g, st) => g.set(st.upload.state === 'connected' ? 1 : 0));
    gauge('upload_state', 'MQTT connection state (1 for the current state)', ['state'], (g, st) => {
      for (const state of UPLOAD_STATES) g.set({ state }, st.upload.state === state ? 1 : 0);
    });
    counter('upload_reconnects_total', 'MQTT reconnects since start', [], (c, st) => c.inc(st.upload.reconnects));
    counter('upload_published_total', 'Batch publishes sent', [], (c, st) => c.inc(st.upload.published));
    counter('batches_uploaded_total', 'Batches acknowledged by the broker (PUBACK)', [], (c, st) => c.inc(st.upload.acked));
    counter('upload_failed_total', 'Publishes that failed (retried later)', [], (c, st) => c.inc(st.upload.failed));
    gauge('upload_in_flight', 'Publishes waiting for PUBACK', [], (g, st) => g.set(st.upload.inFlight));

    // Process: RSS, CPU, heap, GC, event-loop lag (nodejs_eventloop_lag_*), open fds.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
  }

  /** Render the metrics text for one scrape (also what GET /metrics returns). */
  async render(): Promise<string> {
    this.snap = this.collectStatus();
    try {
      return await this.registry.metrics();
    } finally {
      this.snap = undefined;
    }
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (url !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('edgewise: metrics are at /metrics\n');
        return;
      }
      this.render().then(
        (text) => {
          res.writeHead(200, { 'content-type': this.registry.contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (e: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`edgewise: cannot collect metrics: ${e.message}\n`);
        },
      );
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(new EdgewiseError('IO', `cannot serve metrics on ${this.host}:${this.requestedPort}: ${e.message}`, { host: this.host, port: this.requestedPort })),
      );
      server.listen(this.requestedPort, this.host, () => resolve());
    });
    server.on('error', () => undefined);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
