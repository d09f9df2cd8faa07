import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { cli } from '../helpers/cli.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MANIFEST = path.join(REPO, 'examples/manifest.yaml');
const LOG = path.join(REPO, 'examples/drive.log.gz');
const CAMPAIGNS = ['heartbeat.json', 'harsh-braking.yaml', 'overspeed.yaml', 'dtc-snapshot.yaml'].map((f) => path.join(REPO, 'campaigns', f));


let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgewise-campaign-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('edgewise campaign validate', () => {
  it('prints ok per valid file and exits 0', async () => {
    const r = await cli('campaign', 'validate', ...CAMPAIGNS, '--manifest', MANIFEST);
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toEqual(CAMPAIGNS.map((f) => `${f}: ok`));
  });

  it('reports invalid JSON in a .json file as a JSON error with line:col (YAML would accept it)', async () => {
    const bad = path.join(dir, 'trailing-comma.json');
    writeFileSync(bad, '{\n  "name": "x",\n}\n');
    const r = await cli('campaign', 'validate', bad);
    expect(r.code).toBe(1);
    // RFC 8259: no trailing comma in an object; the parser stops at the closing brace, line 3 column 1.
    expect(r.out + r.err).toContain(`${bad}:3:1: (document): invalid JSON`);
    expect(r.out).not.toContain(': ok');
  });

  it('prints every problem as file:line:col: path: message with the closest names, and exits 1', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      [
        'name: speeding',
        'collectionScheme:',
        '  conditionBasedCollectionScheme:',
        '    expression: $variable.`Vehicle.Sped` > 120',
        '    triggerMode: RISING_EDGE',
        'signalsToCollect:',
        '  - name: Vehicle.Speed',
        '  - name: Vehicle.Powertrain.EngineSped',
        '  - name: Vehicle.Speed',
        '    maxSampleCount: 0',
        '',
      ].join('\n'),
    );
    const good = CAMPAIGNS[0];
    const r = await cli('campaign', 'validate', good, bad, '--manifest', MANIFEST);
    expect(r.code).toBe(1);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe(`${good}: ok`);
    expect(lines).toContain(
      `${bad}:4:5: collectionScheme.conditionBasedCollectionScheme.expression: unknown signal "Vehicle.Sped"; closest in the manifest: Vehicle.Speed, Vehicle.Brake.Pressed, Vehicle.Brake.Pressure (at column 1)`,
    );
    expect(lines).toContain(
      `${bad}:8:5: signalsToCollect[1].name: unknown signal "Vehicle.Powertrain.EngineSped"; closest in the manifest: Vehicle.Powertrain.EngineSpeed, Vehicle.Powertrain.EngineTorque, Vehicle.Powertrain.EngineRunning`,
    );
    expect(lines).toContain(`${bad}:10:5: signalsToCollect[2].maxSampleCount: must be >= 1`);
    expect(lines).toContain(`${bad}:9:5: signalsToCollect[2].name: warning: "Vehicle.Speed" is already selected by signalsToCollect[0]; the first entry wins`);
    expect(lines.some((l) => l.startsWith(`${bad}: ok`))).toBe(false);
  });

  it('shows expression syntax errors with a caret and reads FleetWise JSON', async () => {
    const f = path.join(dir, 'syntax.json');
    writeFileSync(
      f,
      JSON.stringify({
        name: 'x',
        signalCatalogArn: 'arn:aws:iotfleetwise:eu-west-1:1:signal-catalog/c',
        targetArn: 'arn:aws:iotfleetwise:eu-west-1:1:vehicle/v',
        collectionScheme: { conditionBasedCollectionScheme: { expression: '$variable.`Vehicle.Speed` >> 3', conditionLanguageVersion: 1 } },
        signalsToCollect: [{ name: 'Vehicle.Speed' }],
      }),
    );
    const r = await cli('campaign', 'validate', f, '--manifest', MANIFEST);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/collectionScheme\.conditionBasedCollectionScheme\.expression: .*column 28/);
    expect(r.out).toMatch(/\n\s+\$variable\.`Vehicle\.Speed` >> 3\n\s+\^/);
    // Ignored FleetWise cloud fields are warnings, not errors.
    expect(r.out).toMatch(/signalCatalogArn: warning: FleetWise cloud field "signalCatalogArn" is ignored/);
  });

  it('checks the schema only without --manifest, and exits 1 on an unreadable file', async () => {
    const r = await cli('campaign', 'validate', CAMPAIGNS[1]);
    expect(r.code).toBe(0);
    expect(r.err).toContain('signal names are not checked');
    const missing = await cli('campaign', 'validate', path.join(dir, 'missing.yaml'), CAMPAIGNS[0]);
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/missing\.yaml: cannot read .*ENOENT/);
    expect(missing.out).toContain(`${CAMPAIGNS[0]}: ok`);
  });
});

describe('edgewise campaign simulate', () => {
  it('--format json prints the contract for every campaign', async () => {
    const r = await cli('campaign', 'simulate', ...CAMPAIGNS, '--manifest', MANIFEST, '--log', LOG, '--format', 'json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { campaigns: { name: string; triggers: { time: number; triggeredBy: string[] }[]; batches: number; samples: Record<string, number>; bytes: number; bytesPerHour: number }[]; log: { start: number } };
    expect(j.campaigns.map((c) => c.name)).toEqual(['heartbeat', 'harsh-braking', 'overspeed', 'dtc-snapshot']);
    const hb = j.campaigns[0];
    expect(hb.triggers).toHaveLength(59);
    expect(hb.triggers[1].time - hb.triggers[0].time).toBeCloseTo(10, 5);
    expect(hb.triggers[0].time - j.log.start).toBeCloseTo(10, 5);
    expect(hb.batches).toBe(59);
    expect(j.campaigns[2].triggers).toHaveLength(3);
    expect(j.campaigns[3].triggers[0].triggeredBy).toEqual(['ENGINE_START']);
    for (const c of j.campaigns) {
      expect(c.bytes).toBeGreaterThan(0);
      expect(c.bytesPerHour).toBeCloseTo(c.bytes * 6, -2);
      expect(Object.values(c.samples).every((n) => Number.isInteger(n))).toBe(true);
    }
    expect(r.err).not.toMatch(/simulating \[/); // no progress bar when stderr is not a terminal
  });

  it('prints a readable summary by default', async () => {
    const r = await cli('campaign', 'simulate', CAMPAIGNS[2], '--manifest', MANIFEST, '--log', LOG);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^.*drive\.log\.gz: 129600 frames, 600\.0 s of driving/);
    expect(r.out).toContain('overspeed  (RISING_EDGE: $variable.`Vehicle.Speed` > 120)');
    expect(r.out).toMatch(/triggers {2}3:\n {4}08:02:5\d\.\d{3} \(\+2:5\d\.\d\d\)/);
    expect(r.out).toMatch(/batches {3}3, 915 samples, \d+ bytes SNAPPY \([\d.]+ KiB per hour of driving\)/);
  });

  it('refuses a campaign with unknown signals before reading the log', async () => {
    const f = path.join(dir, 'unknown.yaml');
    writeFileSync(f, 'name: u\ncollectionScheme:\n  timeBasedCollectionScheme: { periodMs: 10000 }\nsignalsToCollect:\n  - name: Vehicle.Sped\n');
    const r = await cli('campaign', 'simulate', f, '--manifest', MANIFEST, '--log', path.join(dir, 'no-such.log'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('signalsToCollect[0].name: unknown signal "Vehicle.Sped"; closest in the manifest: Vehicle.Speed');
  });

  it('requires --manifest and --log (usage error, exit 2)', async () => {
    expect((await cli('campaign', 'simulate', CAMPAIGNS[0], '--log', LOG)).code).toBe(2);
    expect((await cli('campaign', 'simulate', CAMPAIGNS[0], '--manifest', MANIFEST)).code).toBe(2);
  });
});

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!chromium) console.warn('SKIP: the HTML report rendering test needs Debian `chromium` (apt-get install chromium)');

describe.skipIf(!chromium)('the simulation HTML report in headless Chromium', () => {
  const flags = (profile: string): string[] => [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--user-data-dir=${profile}`,
    '--window-size=1200,900',
  ];

  it('is one self-contained file that renders a chart per campaign with one marker per trigger', async () => {
    const report = path.join(dir, 'report.html');
    const json = await cli('campaign', 'simulate', ...CAMPAIGNS, '--manifest', MANIFEST, '--log', LOG, '--format', 'json', '--report', report);
    expect(json.code).toBe(0);
    const html = readFileSync(report, 'utf8');
    // Self-contained: no external resources.
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    expect(html).not.toMatch(/@import|url\(/);
    const expected = (JSON.parse(json.out) as { campaigns: { name: string; triggers: unknown[]; batches: number }[] }).campaigns;

    const profile = mkdtempSync(path.join(tmpdir(), 'edgewise-chromium-'));
    try {
      const png = path.join(dir, 'report.png');
      const shot = spawnSync(chromium!, [...flags(profile), `--screenshot=${png}`, `file://${report}`], { timeout: 60_000, encoding: 'utf8' });
      expect(shot.status, shot.stderr).toBe(0);
      expect(statSync(png).size).toBeGreaterThan(20_000);
      expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');

      const dom = spawnSync(chromium!, [...flags(profile), '--dump-dom', `file://${report}`], { timeout: 60_000, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      expect(dom.status, dom.stderr).toBe(0);
      const out = dom.stdout;
      expect(out).toContain('data-rendered="true"');
      for (const c of expected) {
        const markers = out.match(new RegExp(`class="trigger-marker"[^>]*data-campaign="${c.name}"`, 'g')) ?? [];
        expect(markers.length, c.name).toBe(c.triggers.length);
      }
      // Collected windows are shaded: one rect per batch.
      const windows = out.match(/<rect class="window"/g) ?? [];
      expect(windows.length).toBe(expected.reduce((n, c) => n + c.batches, 0));
      // The condition's signals are drawn as paths with data.
      expect(out).toMatch(/<path class="series" d="M[\d.]+ [\d.]+L[^"]{1000,}" [^>]*data-signal="Vehicle.Speed"/);
      expect(out).toContain('data-signal="Vehicle.Brake.Pressure"');
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
