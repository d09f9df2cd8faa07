import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, parseConfig } from '../../src/daemon/config.js';
import { isEdgewiseError } from '../../src/errors.js';

const minimal = { vehicle: { name: 'veh-1' }, manifest: 'manifest.yaml', sources: [{ type: 'log', path: 'drive.log.gz' }] };

function problem(input: unknown): string {
  try {
    parseConfig(input, 'cfg.yaml', '/etc/edgewise');
  } catch (e) {
    if (isEdgewiseError(e, 'CONFIG_INVALID')) return e.detail;
    throw e;
  }
  throw new Error('config was accepted');
}

describe('daemon configuration', () => {
  it('fills every default and resolves paths against the config file directory', () => {
    const c = parseConfig(minimal, 'cfg.yaml', '/etc/edgewise');
    expect(c.manifest).toBe('/etc/edgewise/manifest.yaml');
    expect(c.campaigns.dir).toBe('/etc/edgewise/campaigns');
    expect(c.sources[0]).toEqual({ type: 'log', path: '/etc/edgewise/drive.log.gz', map: {}, speed: 1, loop: false, rebaseTime: true });
    expect(c.store).toEqual({ dir: '/etc/edgewise/var/store', maxBytes: 256 * 1024 * 1024 });
    expect(c.upload).toMatchObject({
      enabled: true,
      endpoint: 'local',
      port: 8883,
      topic: 'edgewise/{thing}/batches/{campaign}',
      maxPublishesPerSecond: 100,
      maxBytesPerSecond: 512 * 1024,
      maxInFlight: 8,
      maxPayloadBytes: 131072,
    });
    expect(c.metrics).toEqual({ enabled: false, host: '127.0.0.1', port: 9469 });
    expect(c.log.level).toBe('info');
  });

  it('names the path and the reason of every problem', () => {
    const msg = problem({ ...minimal, vehicle: { name: 'bad name!' }, sources: [{ type: 'log', path: 'x', speed: -1 }], upload: { port: 0 } });
    expect(msg).toContain('cfg.yaml: vehicle.name: must be an AWS IoT thing name');
    expect(msg).toContain('cfg.yaml: sources[0].speed:');
    expect(msg).toContain('cfg.yaml: upload.port:');
  });

  it('rejects unknown keys instead of ignoring a typo', () => {
    expect(problem({ ...minimal, stroe: {} })).toMatch(/stroe/);
  });

  it('requires the mTLS files for a real endpoint', () => {
    expect(problem({ ...minimal, upload: { endpoint: 'abc-ats.iot.eu-west-1.amazonaws.com' } })).toMatch(
      /upload: caFile, certFile, keyFile required/,
    );
  });

  it('reads YAML and JSON files and reports unreadable ones', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-cfg-'));
    writeFileSync(path.join(dir, 'a.yaml'), 'vehicle: { name: v }\nmanifest: m.yaml\nsources: [{ type: log, path: l.log }]\n');
    writeFileSync(path.join(dir, 'b.json'), JSON.stringify(minimal));
    writeFileSync(path.join(dir, 'c.yaml'), 'vehicle: [\n');
    expect(loadConfig(path.join(dir, 'a.yaml')).manifest).toBe(path.join(dir, 'm.yaml'));
    expect(loadConfig(path.join(dir, 'b.json')).vehicle.name).toBe('veh-1');
    expect(() => loadConfig(path.join(dir, 'c.yaml'))).toThrow(/not valid YAML/);
    expect(() => loadConfig(path.join(dir, 'missing.yaml'))).toThrow(/cannot read config/);
  });
});
