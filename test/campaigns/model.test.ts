import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readdirSync } from 'node:fs';
import { parseCampaign, loadCampaignFile, checkCampaignDocument, validateCampaign, validateCampaignDocument, expandSignalPattern, closestNames, MAX_EXPIRY_MS } from '../../src/campaigns/index.js';
import { loadManifest } from '../../src/manifest/index.js';
import { isEdgewiseError } from '../../src/errors.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A CreateCampaign request as a FleetWise user would keep it (aws iotfleetwise create-campaign --cli-input-json). */
const FLEETWISE_JSON = `{
  "name": "BrakeEventCampaign",
  "description": "Collect brake data when the pedal pressure is high",
  "signalCatalogArn": "arn:aws:iotfleetwise:us-east-1:123456789012:signal-catalog/DefaultSignalCatalog",
  "targetArn": "arn:aws:iotfleetwise:us-east-1:123456789012:fleet/fleet-1",
  "startTime": 1735689600,
  "expiryTime": "2027-01-01T00:00:00Z",
  "postTriggerCollectionDuration": 1000,
  "diagnosticsMode": "OFF",
  "spoolingMode": "TO_DISK",
  "compression": "SNAPPY",
  "priority": 0,
  "signalsToCollect": [
    { "name": "Vehicle.ABS.DemoBrakePedalPressure", "maxSampleCount": 1000, "minimumSamplingIntervalMs": 10 },
    { "name": "Vehicle.ECM.DemoEngineTorque", "maxSampleCount": 1000, "minimumSamplingIntervalMs": 10, "dataPartitionId": "wifi" }
  ],
  "collectionScheme": {
    "conditionBasedCollectionScheme": {
      "conditionLanguageVersion": 1,
      "expression": "$variable.\`Vehicle.ABS.DemoBrakePedalPressure\` > 7000",
      "minimumTriggerIntervalMs": 1000,
      "triggerMode": "ALWAYS"
    }
  },
  "dataExtraDimensions": ["Vehicle.VIN"],
  "dataDestinationConfigs": [
    { "s3Config": { "bucketArn": "arn:aws:s3:::my-bucket", "dataFormat": "PARQUET", "storageCompressionFormat": "GZIP", "prefix": "brake/" } },
    { "timestreamConfig": { "timestreamTableArn": "arn:aws:timestream:us-east-1:123456789012:database/db/table/t", "executionRoleArn": "arn:aws:iam::123456789012:role/fw" } }
  ],
  "dataPartitions": [
    {
      "id": "wifi",
      "storageOptions": {
        "maximumSize": { "unit": "GB", "value": 1 },
        "storageLocation": "wifi",
        "minimumTimeToLive": { "unit": "DAYS", "value": 7 }
      },
      "uploadOptions": { "expression": "$variable.\`Vehicle.Connectivity.WifiConnected\` == true", "conditionLanguageVersion": 1 }
    }
  ],
  "signalsToFetch": [
    {
      "fullyQualifiedName": "Vehicle.ECU1.DTC_INFO",
      "signalFetchConfig": { "timeBased": { "executionFrequencyMs": 10000 } },
      "actions": ["custom_function(\\"DTC_QUERY\\", -1, 2, -1)"]
    }
  ],
  "tags": [{ "Key": "team", "Value": "chassis" }]
}`;

const CATALOG = {
  signals: [
    { name: 'Vehicle.ABS.DemoBrakePedalPressure', type: 'float64' },
    { name: 'Vehicle.ECM.DemoEngineTorque', type: 'float64' },
    { name: 'Vehicle.Connectivity.WifiConnected', type: 'bool' },
    { name: 'Vehicle.Speed', type: 'float64' },
    { name: 'Vehicle.Powertrain.EngineSpeed', type: 'float64' },
  ],
};

function expectCampaignError(fn: () => unknown): { path?: string; problems: { path: string; message: string }[] } {
  try {
    fn();
  } catch (e) {
    expect(isEdgewiseError(e, 'CAMPAIGN_INVALID')).toBe(true);
    return (e as { context: { path?: string; problems: { path: string; message: string }[] } }).context;
  }
  throw new Error('expected CAMPAIGN_INVALID');
}

describe('campaign documents in FleetWise CreateCampaign format', () => {
  it('accepts a FleetWise CreateCampaign JSON unchanged, normalising times to ms and dropping cloud-only fields', () => {
    const { campaign, warnings } = parseCampaign(FLEETWISE_JSON, 'brake.json');
    expect(campaign.name).toBe('BrakeEventCampaign');
    expect(campaign.startTime).toBe(1735689600000);
    expect(campaign.expiryTime).toBe(Date.UTC(2027, 0, 1));
    expect(campaign.postTriggerCollectionDuration).toBe(1000);
    expect(campaign.spoolingMode).toBe('TO_DISK');
    expect(campaign.collectionScheme.conditionBasedCollectionScheme?.expression).toContain('DemoBrakePedalPressure');
    expect(campaign.signalsToCollect[1]).toEqual({
      name: 'Vehicle.ECM.DemoEngineTorque',
      maxSampleCount: 1000,
      minimumSamplingIntervalMs: 10,
      dataPartitionId: 'wifi',
    });
    expect(campaign.dataPartitions[0].storageOptions.maximumSize).toEqual({ unit: 'GB', value: 1 });
    for (const k of ['signalCatalogArn', 'targetArn', 'dataDestinationConfigs', 'tags', 'dataExtraDimensions', 'signalsToFetch']) {
      expect(campaign).not.toHaveProperty(k);
      expect(warnings.map((w) => w.path)).toContain(k);
    }
    expect(warnings.every((w) => w.severity === 'warning')).toBe(true);
    // And it validates against a manifest that has its signals.
    expect(validateCampaign(campaign, CATALOG).filter((p) => p.severity === 'error')).toEqual([]);
  });

  it('fills FleetWise defaults for a minimal document', () => {
    const { campaign } = parseCampaign({ name: 'min', collectionScheme: { timeBasedCollectionScheme: { periodMs: 60000 } } });
    expect(campaign).toMatchObject({
      version: 0,
      startTime: 0,
      expiryTime: MAX_EXPIRY_MS,
      postTriggerCollectionDuration: 0,
      diagnosticsMode: 'OFF',
      spoolingMode: 'OFF',
      compression: 'SNAPPY',
      priority: 0,
      signalsToCollect: [],
      dataPartitions: [],
    });
    const c = parseCampaign({
      name: 'x',
      collectionScheme: { conditionBasedCollectionScheme: { expression: 'true' } },
      signalsToCollect: [{ name: 'A.B' }],
    }).campaign;
    expect(c.collectionScheme.conditionBasedCollectionScheme).toEqual({
      expression: 'true',
      minimumTriggerIntervalMs: 0,
      triggerMode: 'ALWAYS',
      conditionLanguageVersion: 1,
    });
    expect(c.signalsToCollect[0]).toEqual({ name: 'A.B', maxSampleCount: 1000, minimumSamplingIntervalMs: 0, dataPartitionId: 'default' });
  });

  it('reads YAML with edgewise extensions (version, BROTLI) and warns, not fails, below FleetWise period limits', () => {
    const { campaign, warnings } = parseCampaign(
      'name: fast-heartbeat\nversion: 3\ncompression: BROTLI\ncollectionScheme:\n  timeBasedCollectionScheme: { periodMs: 1000 }\nsignalsToCollect:\n  - name: Vehicle.Speed\n',
    );
    expect(campaign.version).toBe(3);
    expect(campaign.compression).toBe('BROTLI');
    expect(campaign.collectionScheme.timeBasedCollectionScheme?.periodMs).toBe(1000);
    const w = warnings.find((x) => x.path === 'collectionScheme.timeBasedCollectionScheme.periodMs');
    expect(w?.message).toMatch(/below FleetWise's minimum of 10000/);
    expect(w?.line).toBe(5);
  });

  it('reports errors with their JSON path, reason and YAML position', () => {
    const ctx = expectCampaignError(() =>
      parseCampaign(
        [
          'name: ok-name',
          'collectionScheme:',
          '  conditionBasedCollectionScheme:',
          '    expression: "true"',
          '    triggerMode: SOMETIMES',
          'signalsToCollect:',
          '  - name: Vehicle.Speed',
          '  - name: Vehicle.Rpm',
          '    maxSampleCount: 0',
          '  - nmae: typo',
        ].join('\n'),
        'c.yaml',
      ),
    );
    const byPath = Object.fromEntries(ctx.problems.map((p) => [p.path, p]));
    expect(byPath['collectionScheme.conditionBasedCollectionScheme.triggerMode'].message).toMatch(/ALWAYS.*RISING_EDGE/);
    expect(byPath['signalsToCollect[1].maxSampleCount'].message).toBe('must be >= 1');
    expect(byPath['signalsToCollect[2].nmae'].message).toBe('unknown field "nmae"');
    expect(byPath['signalsToCollect[2].name'].message).toBe('is required');
    expect((byPath['signalsToCollect[1].maxSampleCount'] as { line?: number }).line).toBe(9);
  });

  it('requires exactly one collection scheme and a valid time range', () => {
    let ctx = expectCampaignError(() =>
      parseCampaign({
        name: 'x',
        collectionScheme: { timeBasedCollectionScheme: { periodMs: 1 }, conditionBasedCollectionScheme: { expression: 'true' } },
      }),
    );
    expect(ctx.problems[0]).toMatchObject({ path: 'collectionScheme', message: expect.stringMatching(/exactly one.*found 2/) });
    ctx = expectCampaignError(() => parseCampaign({ name: 'x', collectionScheme: {} }));
    expect(ctx.problems[0].message).toMatch(/found 0/);
    ctx = expectCampaignError(() =>
      parseCampaign({ name: 'x', startTime: '2026-02-01T00:00:00Z', expiryTime: 1700000000, collectionScheme: { timeBasedCollectionScheme: { periodMs: 1 } } }),
    );
    expect(ctx.problems[0]).toMatchObject({ path: 'expiryTime', message: 'must be after startTime' });
    ctx = expectCampaignError(() => parseCampaign({ name: 'x', startTime: 1767225600000, collectionScheme: { timeBasedCollectionScheme: { periodMs: 1 } } }));
    expect(ctx.problems[0].message).toMatch(/milliseconds given/);
    // Without an offset a date-time is UTC, whatever the machine's time zone.
    const utc = parseCampaign({ name: 'x', startTime: '2026-03-01T12:00:00', expiryTime: '2026-03-02T00:00:00+01:00', collectionScheme: { timeBasedCollectionScheme: { periodMs: 1 } } }).campaign;
    expect(utc.startTime).toBe(Date.UTC(2026, 2, 1, 12));
    expect(utc.expiryTime).toBe(Date.UTC(2026, 2, 1, 23));
  });

  it('rejects signals assigned to a partition that is not defined', () => {
    const ctx = expectCampaignError(() =>
      parseCampaign({
        name: 'x',
        collectionScheme: { timeBasedCollectionScheme: { periodMs: 10000 } },
        signalsToCollect: [{ name: 'A', dataPartitionId: 'cold' }],
      }),
    );
    expect(ctx.problems[0]).toMatchObject({ path: 'signalsToCollect[0].dataPartitionId', message: expect.stringContaining('"cold" is not defined') });
  });

  it('reports YAML syntax errors with line and column', () => {
    const r = checkCampaignDocument('name: x\ncollectionScheme: [\n', 'broken.yaml');
    expect(r.campaign).toBeUndefined();
    expect(r.problems[0].severity).toBe('error');
    expect(r.problems[0].line).toBeGreaterThanOrEqual(2);
  });
});

describe('checking a campaign against the manifest', () => {
  const doc = (expression: string, names: string[]): object => ({
    name: 'x',
    collectionScheme: { conditionBasedCollectionScheme: { expression } },
    signalsToCollect: names.map((name) => ({ name })),
  });

  it('lists the three closest manifest names for an unknown signal, in signalsToCollect and in the expression', () => {
    const r = validateCampaignDocument(doc('$variable.`Vehicle.Sped` > 120', ['Vehicle.Speeed', 'Vehicle.Speed']), CATALOG);
    const errors = r.problems.filter((p) => p.severity === 'error');
    expect(errors).toHaveLength(2);
    expect(errors.find((p) => p.path === 'signalsToCollect[0].name')?.message).toBe(
      'unknown signal "Vehicle.Speeed"; closest in the manifest: Vehicle.Speed, Vehicle.ECM.DemoEngineTorque, Vehicle.Powertrain.EngineSpeed',
    );
    const ex = errors.find((p) => p.path === 'collectionScheme.conditionBasedCollectionScheme.expression');
    expect(ex?.message).toMatch(/^unknown signal "Vehicle.Sped"; closest in the manifest: Vehicle.Speed, /);
    expect(ex?.message).toContain('(at column 1)');
  });

  it('shows expression syntax errors with a caret under the column', () => {
    const r = validateCampaignDocument(doc('$variable.`Vehicle.Speed` > > 3', ['Vehicle.Speed']), CATALOG);
    const e = r.problems.find((p) => p.severity === 'error');
    expect(e?.path).toBe('collectionScheme.conditionBasedCollectionScheme.expression');
    const lines = e!.message.split('\n');
    expect(lines[0]).toMatch(/column 29/);
    expect(lines[2].indexOf('^')).toBe(lines[1].indexOf('>') + 2);
  });

  it('reports compile errors (unknown functions) of a well-formed expression', () => {
    const r = validateCampaignDocument(doc('last_window_median($variable.`Vehicle.Speed`) > 3', ['Vehicle.Speed']), CATALOG);
    expect(r.problems.filter((p) => p.severity === 'error').map((p) => p.message).join('\n')).toMatch(/last_window_median/);
  });

  it('still checks names when the schema fails, so every problem is reported at once', () => {
    const r = validateCampaignDocument(
      { name: 'bad name!', collectionScheme: { conditionBasedCollectionScheme: { expression: '$variable.`Nope` > 1' } }, signalsToCollect: [{ name: 'Vehicle.Sped' }] },
      CATALOG,
    );
    expect(r.campaign).toBeUndefined();
    expect(r.problems.map((p) => p.path).sort()).toEqual(['collectionScheme.conditionBasedCollectionScheme.expression', 'name', 'signalsToCollect[0].name']);
  });

  it('errors on a wildcard matching nothing and warns on signals selected twice', () => {
    const r = validateCampaignDocument(doc('true', ['Vehicle.Nothing*', 'Vehicle.*', 'Vehicle.Speed']), CATALOG);
    expect(r.problems.find((p) => p.path === 'signalsToCollect[0].name')).toMatchObject({ severity: 'error', message: expect.stringMatching(/matches no signal/) });
    expect(r.problems.find((p) => p.path === 'signalsToCollect[2].name')).toMatchObject({ severity: 'warning' });
  });

  it('warns when a partition upload condition uses a signal that is not collected', () => {
    const { campaign } = parseCampaign(FLEETWISE_JSON);
    const w = validateCampaign(campaign, CATALOG).find((p) => p.path === 'dataPartitions[0].uploadOptions.expression');
    expect(w).toMatchObject({ severity: 'warning', message: expect.stringContaining('Vehicle.Connectivity.WifiConnected') });
  });
});

describe('signal name patterns and suggestions', () => {
  const names = ['Vehicle.Speed', 'Vehicle.Chassis.Axle.Row1.Wheel.Left.Speed', 'Vehicle.Chassis.Axle.Row2.Wheel.Right.Speed', 'Vehicle.Brake.Pressed', 'Other.Speed'];
  it('* matches within a name part and across dots; names without * match exactly', () => {
    expect(expandSignalPattern('Vehicle.*', names)).toEqual(names.slice(0, 4));
    expect(expandSignalPattern('Vehicle.Chassis.Axle.*.Speed', names)).toEqual(names.slice(1, 3));
    expect(expandSignalPattern('*Speed', names)).toEqual(['Vehicle.Speed', names[1], names[2], 'Other.Speed']);
    expect(expandSignalPattern('Vehicle.Brake.Press*', names)).toEqual(['Vehicle.Brake.Pressed']);
    expect(expandSignalPattern('Vehicle.Speed', names)).toEqual(['Vehicle.Speed']);
    expect(expandSignalPattern('Vehicle.Spee', names)).toEqual([]);
    expect(expandSignalPattern('Vehicle-*', ['Vehicle-1', 'VehicleX1'])).toEqual(['Vehicle-1']);
  });
  it('closest names are ordered by edit distance', () => {
    expect(closestNames('vehicle.speed', names, 2)).toEqual(['Vehicle.Speed', 'Other.Speed']);
  });
});

describe('the example campaigns', () => {
  it('all validate against examples/manifest.yaml without errors or warnings', async () => {
    const manifest = await loadManifest(path.join(REPO, 'examples/manifest.yaml'));
    const files = readdirSync(path.join(REPO, 'campaigns')).filter((f) => /\.(json|ya?ml)$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      const file = path.join(REPO, 'campaigns', f);
      const { campaign, warnings } = await loadCampaignFile(file);
      expect(warnings, f).toEqual([]);
      expect(validateCampaign(campaign, manifest), f).toEqual([]);
    }
  });
});
