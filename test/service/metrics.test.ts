import { describe, it, expect, afterEach } from 'vitest';
import http from 'node:http';
import { MetricsServer, metricsConfigSchema } from '../../src/daemon/metrics.js';
import { isEdgewiseError } from '../../src/errors.js';
import { sampleStatus } from './helpers.js';

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

/** The value of one series in Prometheus text format (exact label set as printed). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('Prometheus metrics', () => {
  it('is off by default and listens on loopback port 9469', () => {
    expect(metricsConfigSchema.parse(undefined)).toEqual({ enabled: false, host: '127.0.0.1', port: 9469 });
    expect(metricsConfigSchema.parse({ enabled: true, port: 9100 })).toEqual({ enabled: true, host: '127.0.0.1', port: 9100 });
    expect(metricsConfigSchema.safeParse({ enabled: true, prot: 1 }).success).toBe(false);
  });

  it('turns the status snapshot into metrics at scrape time, over HTTP', async () => {
    const status = sampleStatus();
    server = new MetricsServer({ host: '127.0.0.1', port: 0, collect: () => status });
    await server.start();
    const r = await get(server.url);
    expect(r.status).toBe(200);
    expect(r.type).toContain('text/plain');
    const t = r.body;

    expect(t).toContain('# TYPE edgewise_source_frames_total counter');
    expect(value(t, 'edgewise_source_frames_total{source="can0",kind="socketcan"}')).toBe(5_432_100);
    expect(value(t, 'edgewise_source_frames_per_second{source="can0"}')).toBe(1234.4);
    expect(value(t, 'edgewise_source_errors_total{source="can0"}')).toBe(2);
    expect(value(t, 'edgewise_source_dropped_total{source="can0"}')).toBe(7);
    expect(value(t, 'edgewise_source_dropped_total{source="can1"}')).toBeUndefined(); // can1 cannot tell
    expect(value(t, 'edgewise_source_state{source="can1",state="down"}')).toBe(1);
    expect(value(t, 'edgewise_decode_unknown_total')).toBe(54_321);
    expect(value(t, 'edgewise_decode_errors_total')).toBe(3);
    expect(value(t, 'edgewise_campaign_triggers_total{campaign="harsh-braking"}')).toBe(17);
    expect(value(t, 'edgewise_campaign_state{campaign="harsh-braking",version="3",state="active"}')).toBe(1);
    expect(value(t, 'edgewise_campaign_state{campaign="harsh-braking",version="3",state="waiting"}')).toBe(0);
    expect(value(t, 'edgewise_batches_stored_total')).toBe(15);
    expect(value(t, 'edgewise_batches_uploaded_total')).toBe(118);
    expect(value(t, 'edgewise_store_evictions_total')).toBe(4);
    expect(value(t, 'edgewise_store_bytes')).toBe(64 * 1024 * 1024);
    expect(value(t, 'edgewise_store_oldest_age_seconds')).toBe(303);
    expect(value(t, 'edgewise_upload_connected')).toBe(0);
    expect(value(t, 'edgewise_upload_state{state="connecting"}')).toBe(1);
    expect(value(t, 'edgewise_upload_reconnects_total')).toBe(5);
    expect(value(t, 'edgewise_info{version="0.1.0",vehicle="van-0042",config_hash="3f2a9c0d11be47a8"}')).toBe(1);
    // Process metrics from prom-client's default collectors.
    expect(value(t, 'process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
    expect(t).toMatch(/^nodejs_eventloop_lag_seconds [0-9.e-]+$/m);
    expect(t).toMatch(/^nodejs_eventloop_lag_p99_seconds [0-9.e-]+$/m);
  });

  it('follows the daemon between scrapes: new totals, vanished campaigns, empty store', async () => {
    const status = sampleStatus();
    server = new MetricsServer({ host: '127.0.0.1', port: 0, collect: () => status });
    await server.start();
    await get(server.url);

    status.sources[0].frames += 1000;
    status.campaigns = status.campaigns.filter((c) => c.name !== 'harsh-braking');
    status.store.oldestAgeSeconds = null;
    status.upload.state = 'connected';
    const t = (await get(server.url)).body;
    expect(value(t, 'edgewise_source_frames_total{source="can0",kind="socketcan"}')).toBe(5_433_100);
    expect(t).not.toContain('campaign="harsh-braking"');
    expect(value(t, 'edgewise_campaign_triggers_total{campaign="battery-health"}')).toBe(0);
    expect(value(t, 'edgewise_store_oldest_age_seconds')).toBe(0);
    expect(value(t, 'edgewise_upload_connected')).toBe(1);
    expect(value(t, 'edgewise_upload_state{state="connecting"}')).toBe(0);
  });

  it('answers 404 off /metrics and 500 when the snapshot fails, and keeps serving', async () => {
    let fail = true;
    server = new MetricsServer({
      host: '127.0.0.1',
      port: 0,
      collect: () => {
        if (fail) throw new Error('shutting down');
        return sampleStatus();
      },
    });
    await server.start();
    expect((await get(server.url.replace('/metrics', '/'))).status).toBe(404);
    const bad = await get(server.url);
    expect(bad.status).toBe(500);
    expect(bad.body).toContain('shutting down');
    fail = false;
    expect((await get(server.url)).status).toBe(200);
  });

  it('reports a port already in use as an IO error', async () => {
    server = new MetricsServer({ host: '127.0.0.1', port: 0, collect: sampleStatus });
    await server.start();
    const clash = new MetricsServer({ host: '127.0.0.1', port: server.port, collect: sampleStatus });
    const err = await clash.start().then(() => undefined, (e: unknown) => e);
    expect(isEdgewiseError(err, 'IO')).toBe(true);
    expect((err as Error).message).toContain(`127.0.0.1:${server.port}`);
  });
});
