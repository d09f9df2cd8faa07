import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { PROTO_PATH, PROTO_SOURCE, SCHEMA_VERSION } from '../../src/batches/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('batch schema', () => {
  it('the schema compiled into the code is exactly proto/edgewise/batch.proto', () => {
    const file = readFileSync(path.join(ROOT, PROTO_PATH), 'utf8');
    expect(PROTO_SOURCE, 'src/batches/schema.ts is out of date: paste proto/edgewise/batch.proto into PROTO_SOURCE').toBe(file);
  });

  it('is package edgewise.v1 with a schema_version field and the documented field numbers', () => {
    const root = protobuf.parse(readFileSync(path.join(ROOT, PROTO_PATH), 'utf8'), { keepCase: true }).root.resolveAll();
    const batch = root.lookupType('edgewise.v1.Batch');
    expect(batch.fields.schema_version.id).toBe(1);
    expect(SCHEMA_VERSION).toBe(1);
    const sig = root.lookupType('edgewise.v1.Signal');
    expect(sig.fields.time_deltas_us.type).toBe('sint64');
    expect(sig.fields.sint64_values.type).toBe('sint64');
    expect(sig.fields.uint64_values.type).toBe('uint64');
    expect(sig.fields.float_values.type).toBe('float');
    // proto3 repeated scalars are packed
    expect(sig.fields.time_deltas_us.packed).toBe(true);
    const header = root.lookupType('edgewise.v1.Header');
    expect(Object.keys(header.fields)).toEqual(
      expect.arrayContaining(['vehicle', 'campaign', 'campaign_version', 'event_id', 'trigger_time_ms', 'seq', 'part_index', 'part_count', 'triggered_by']),
    );
  });
});
