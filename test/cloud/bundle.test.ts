/**
 * The Lambda bundle (tsup.lambda.config.ts) is self-contained and device-free: built here from the
 * current source, its only imports are Node built-ins and the AWS SDK v3 the Lambda runtime provides,
 * and none of the device-side packages or stages is inside it.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from '../helpers/cli.js';

const DEVICE = /(aws-crt|aws-iot-device-sdk|classic-level|(^|\/)level|leveldown|serialport|mqtt|aedes|pino|prom-client|src\/(store|sources|upload|daemon|control|obd|dbc|decode|campaigns|cli)\/)/;

describe('Lambda bundle', () => {
  execFileSync(process.execPath, [path.join(REPO, 'node_modules/tsup/dist/cli-default.js'), '--config', 'tsup.lambda.config.ts', '--silent'], { cwd: REPO, stdio: 'pipe' });
  const meta = JSON.parse(readFileSync(path.join(REPO, 'dist/metafile-esm.json'), 'utf8')) as {
    inputs: Record<string, unknown>;
    outputs: Record<string, { imports: { path: string; external?: boolean }[]; inputs: Record<string, unknown> }>;
  };
  const outs = Object.entries(meta.outputs).filter(([o]) => /dist\/lambda\/\w+\.mjs$/.test(o));

  it('has one file per handler, importing only Node built-ins and @aws-sdk/*', () => {
    expect(outs.map(([o]) => path.basename(o)).sort()).toEqual(['firehose.mjs', 'kinesis.mjs']);
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    for (const [, o] of outs) {
      for (const i of o.imports) {
        expect(i.external, i.path).toBe(true);
        expect(builtins.has(i.path) || i.path.startsWith('@aws-sdk/'), i.path).toBe(true);
      }
    }
  });

  it('contains no device-side package or stage', () => {
    for (const [, o] of outs) {
      const bad = Object.keys(o.inputs).filter((f) => DEVICE.test(f));
      expect(bad).toEqual([]);
      expect(Object.keys(o.inputs)).toContain('src/batches/codec.ts');
    }
  });

  it('the built Firehose handler answers a bad record with ProcessingFailed', async () => {
    const mod = (await import(pathToFileURL(path.join(REPO, 'dist/lambda/firehose.mjs')).href)) as {
      handler: (e: unknown) => Promise<{ records: { recordId: string; result: string; data: string }[] }>;
    };
    const data = Buffer.from('{"data":"AAAA","topic":"edgewise/v/batches/c","thing":"v","receivedAt":1}').toString('base64');
    const res = await mod.handler({ invocationId: 'i', deliveryStreamArn: 'arn', region: 'us-east-1', records: [{ recordId: 'r1', approximateArrivalTimestamp: 1, data }] });
    expect(res.records).toEqual([{ recordId: 'r1', result: 'ProcessingFailed', data }]);
  });
});
