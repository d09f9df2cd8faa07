import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/daemon/config.js';
import { cli } from './helpers.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EXAMPLES = path.join(REPO, 'examples/config');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ew-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('edgewise config check', () => {
  it('prints the effective configuration with every default filled in and paths resolved', async () => {
    const file = path.join(dir, 'minimal.yaml');
    writeFileSync(file, 'vehicle: { name: van-0042 }\nmanifest: manifest.yaml\nsources:\n  - { type: socketcan, interface: can0 }\n');
    const r = await cli('config', 'check', file);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe(`# effective configuration of ${file}`);
    const eff = parseYaml(r.out) as Record<string, any>;
    expect(eff.vehicle).toEqual({ name: 'van-0042' });
    expect(eff.manifest).toBe(path.join(dir, 'manifest.yaml'));
    expect(eff.sources).toEqual([
      { type: 'socketcan', interface: 'can0', fd: true, map: {}, receiveBufferBytes: 8 * 1024 * 1024, errorFrames: true, checkIntervalMs: 1000 },
    ]);
    expect(eff.store).toEqual({ dir: path.join(dir, 'var/store'), maxBytes: 256 * 1024 * 1024 });
    expect(eff.upload).toMatchObject({ enabled: true, endpoint: 'local', port: 8883, maxPublishesPerSecond: 100, keepAliveSeconds: 30 });
    expect(eff.log).toEqual({ level: 'info' });
    expect(eff.statusSocket).toBe(path.join(dir, 'var/edgewise.sock'));
    // The manifest does not exist here: a warning on stderr, not a failure.
    expect(r.err).toContain(`edgewise: warning: manifest: ${path.join(dir, 'manifest.yaml')} does not exist`);
  });

  it('prints JSON with --json and nothing with --quiet', async () => {
    const file = path.join(dir, 'json.yaml');
    writeFileSync(file, 'vehicle: { name: v1 }\nmanifest: /dev/null\nsources: [{ type: log, path: /dev/null }]\n');
    const j = await cli('config', 'check', '--json', file);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.out).sources[0]).toEqual({ type: 'log', path: '/dev/null', map: {}, speed: 1, loop: false, rebaseTime: true });
    const q = await cli('config', 'check', '--quiet', file);
    expect([q.code, q.out]).toEqual([0, '']);
  });

  it('lists every problem with its path and exits 1', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'vehicle: { name: "has space" }\nsources: []\nupload: { endpoint: a-ats.iot.eu-west-1.amazonaws.com, port: 99999 }\nstore: { maxbytes: 5 }\n');
    const r = await cli('config', 'check', file);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain(`${file}: vehicle.name: must be an AWS IoT thing name`);
    expect(r.err).toContain(`${file}: manifest:`);
    expect(r.err).toContain(`${file}: sources: needs at least one source`);
    expect(r.err).toContain(`${file}: upload.port:`);
    expect(r.err).toMatch(/store: .*maxbytes/);
  });

  it('reports unreadable files and broken YAML', async () => {
    const missing = await cli('config', 'check', path.join(dir, 'nope.yaml'));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('cannot read config');
    const file = path.join(dir, 'broken.yaml');
    writeFileSync(file, 'vehicle: [\n');
    const broken = await cli('config', 'check', file);
    expect(broken.code).toBe(1);
    expect(broken.err).toContain('not valid YAML');
  });
});

describe('example configs', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));

  it('has the bench, Raspberry Pi and GoldBox examples', () => {
    expect(files.sort()).toEqual(['bench.yaml', 'goldbox.yaml', 'raspberry-pi.yaml']);
  });

  it.each(files)('%s is accepted by the daemon config schema', (f) => {
    const cfg = loadConfig(path.join(EXAMPLES, f));
    expect(cfg.sources.length).toBeGreaterThan(0);
  });

  it('the service examples keep state, sockets and credentials where the systemd unit allows them', () => {
    for (const f of ['raspberry-pi.yaml', 'goldbox.yaml']) {
      const cfg = loadConfig(path.join(EXAMPLES, f));
      expect(cfg.store.dir).toBe('/var/lib/edgewise/store'); // StateDirectory (ProtectSystem=strict elsewhere)
      expect(cfg.campaigns.dir).toBe('/var/lib/edgewise/campaigns');
      expect(cfg.statusSocket).toBe('/run/edgewise/status.sock'); // RuntimeDirectory
      expect(cfg.upload.keyFile).toBe(path.join(EXAMPLES, 'certs/private.pem.key')); // relative to /etc/edgewise once installed
    }
    const gb = loadConfig(path.join(EXAMPLES, 'goldbox.yaml'));
    expect(gb.sources.map((s) => (s.type === 'socketcan' ? s.interface : s.type))).toEqual(['can0', 'can1', 'can2', 'can3']);
  });

  it('the bench example points at files that exist in the repository', async () => {
    const r = await cli('config', 'check', '--quiet', path.join(EXAMPLES, 'bench.yaml'));
    expect(r.code).toBe(0);
    expect(r.err.split('\n').filter((l) => l.includes('warning') && !l.includes('statusSocket'))).toEqual([]);
  });
});
