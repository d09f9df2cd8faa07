/**
 * The cloud pipeline with real parts: the real daemon replays the example drive and publishes
 * batches to a real mosquitto; the observer plays the IoT rule (RULE_SQL's JSON document) and puts
 * each message on a Kinesis stream in kinesalite through @aws-sdk/client-kinesis. The records read
 * back from the stream feed (1) the Kinesis consumer Lambda writing latest values to dynalite
 * through @aws-sdk/client-dynamodb, and (2) the Firehose transform Lambda, invoked with Firehose's
 * documented event shape, whose output goes through the local equivalent of Firehose's Parquet
 * conversion; DuckDB reads the Parquet back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import kinesalite from 'kinesalite';
import { CreateStreamCommand, DescribeStreamCommand, GetRecordsCommand, GetShardIteratorCommand, KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { CreateTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DuckDBInstance } from '@duckdb/node-api';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { batchToRows, decodeBatch } from '../../src/batches/index.js';
import { consume } from '../../src/cloud/kinesis.js';
import { transform, type FirehoseTransformEvent } from '../../src/cloud/firehose.js';
import { writePartitionFile } from '../../src/cloud/parquet.js';
import { partitionPath, type LakeRow } from '../../src/cloud/rows.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { pulseCampaign, startDaemon, writeSetup } from '../daemon/harness.js';

const creds = { accessKeyId: 'local', secretAccessKey: 'local' };
const THING = 'veh-cloud-1';
let broker: TestBroker;
let kin: ReturnType<typeof kinesalite>;
let dyn: ReturnType<typeof dynalite>;
let kinesis: KinesisClient;
let ddb: DynamoDBClient;
const dirs: string[] = [];
/** Batch payloads exactly as the daemon published them. */
let payloads: Buffer[] = [];
/** Kinesis records read back from the stream (what the Lambdas receive). */
const records: { data: Uint8Array; sequenceNumber: string; partitionKey: string; arrival: number }[] = [];

function listen(server: { listen: (port: number, host: string, cb: () => void) => unknown; address: () => AddressInfo | string | null }): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

beforeAll(async () => {
  broker = await startBroker();
  kin = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0 });
  dyn = dynalite({ createTableMs: 0 });
  const [kp, dp] = await Promise.all([listen(kin as never), listen(dyn as never)]);
  kinesis = new KinesisClient({ endpoint: `http://127.0.0.1:${kp}`, region: 'us-east-1', credentials: creds, requestHandler: new NodeHttpHandler() }); // HTTP/1.1: kinesalite has no HTTP/2
  ddb = new DynamoDBClient({ endpoint: `http://127.0.0.1:${dp}`, region: 'us-east-1', credentials: creds });

  // The daemon: the example drive at full speed, a batch of speed and engine speed every 5 s.
  const setup = writeSetup({ broker, thing: THING, campaigns: [pulseCampaign('pulse', 5000)] });
  dirs.push(setup.dir);
  const obs = await broker.subscribe(`edgewise/${THING}/batches/#`);
  const d = startDaemon(setup.configFile, ['--exit-when-done', '--drain-timeout', '30']);
  const { code } = await d.exited;
  expect(code, d.stderr()).toBe(0);
  const triggers = d.logs.filter((l) => l.msg === 'trigger').length;
  await obs.waitFor(triggers, { pred: (m) => !m.retain });
  const msgs = obs.messages.filter((m) => !m.retain);
  await obs.close();
  payloads = msgs.map((m) => m.payload);

  // The IoT rule's action: one JSON document per message on the stream, partition key = thing.
  await kinesis.send(new CreateStreamCommand({ StreamName: 'edgewise-batches', ShardCount: 1 }));
  const desc = await kinesis.send(new DescribeStreamCommand({ StreamName: 'edgewise-batches' }));
  const shard = desc.StreamDescription!.Shards![0].ShardId!;
  const put = async (topic: string, payload: Buffer, receivedAt: number): Promise<void> => {
    const doc = { data: payload.toString('base64'), topic, thing: topic.split('/')[1], receivedAt };
    await kinesis.send(new PutRecordCommand({ StreamName: 'edgewise-batches', PartitionKey: doc.thing, Data: Buffer.from(JSON.stringify(doc)) }));
  };
  const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
  for (let i = 0; i < msgs.length; i++) await put(msgs[i].topic, msgs[i].payload, t0 + i);
  // At-least-once delivery: the first three messages arrive again.
  for (let i = 0; i < 3; i++) await put(msgs[i].topic, msgs[i].payload, t0 + 10_000 + i);
  // A record that is not a batch.
  await put(`edgewise/${THING}/batches/pulse`, Buffer.from('not a batch'), t0 + 20_000);

  const it0 = await kinesis.send(new GetShardIteratorCommand({ StreamName: 'edgewise-batches', ShardId: shard, ShardIteratorType: 'TRIM_HORIZON' }));
  let iter = it0.ShardIterator;
  while (iter) {
    const r = await kinesis.send(new GetRecordsCommand({ ShardIterator: iter, Limit: 1000 }));
    for (const rec of r.Records ?? []) {
      records.push({ data: rec.Data!, sequenceNumber: rec.SequenceNumber!, partitionKey: rec.PartitionKey!, arrival: rec.ApproximateArrivalTimestamp!.getTime() });
    }
    if (!r.Records?.length) break;
    iter = r.NextShardIterator;
  }
}, 120_000);

afterAll(async () => {
  kinesis?.destroy();
  ddb?.destroy();
  await new Promise((r) => (kin ? kin.close(r) : r(undefined)));
  await new Promise((r) => (dyn ? dyn.close(r) : r(undefined)));
  await broker?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Every sample of the published batches, each once (from decodeBatch/batchToRows directly). */
function sourceSamples(): { key: string; value: number | string | boolean | bigint }[] {
  return payloads.flatMap((p) => batchToRows(decodeBatch(p)).map((r) => ({ key: `${r.seq}|${r.signal}|${Math.round(r.time * 1000)}`, value: r.value })));
}

describe('cloud pipeline: daemon -> broker -> Kinesis -> Lambdas', () => {
  it('the stream holds every message, the duplicates and the bad record', () => {
    expect(payloads.length).toBeGreaterThan(100);
    expect(records.length).toBe(payloads.length + 4);
    expect(new Set(records.map((r) => r.partitionKey))).toEqual(new Set([THING]));
  });

  it('the Kinesis consumer writes the newest value per signal; re-delivery and older batches change nothing', async () => {
    await ddb.send(
      new CreateTableCommand({
        TableName: 'latest',
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'vehicle', KeyType: 'HASH' },
          { AttributeName: 'signal', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'vehicle', AttributeType: 'S' },
          { AttributeName: 'signal', AttributeType: 'S' },
        ],
      }),
    );
    const ev = (recs: typeof records) => ({
      Records: recs.map((r) => ({ eventID: `shardId-000000000000:${r.sequenceNumber}`, kinesis: { data: Buffer.from(r.data).toString('base64'), sequenceNumber: r.sequenceNumber, partitionKey: r.partitionKey } })),
    });
    // Newest batches first (out of order), in Lambda-sized slices of 100 records.
    const reversed = [...records].reverse();
    let undecodable = 0;
    for (let i = 0; i < reversed.length; i += 100) {
      const r = await consume(ev(reversed.slice(i, i + 100)), ddb, 'latest');
      expect(r.response.batchItemFailures).toEqual([]);
      undecodable += r.undecodable;
    }
    expect(undecodable).toBe(1);
    // The whole stream once more (at-least-once re-delivery): nothing may be written.
    let written = 0;
    for (let i = 0; i < records.length; i += 100) written += (await consume(ev(records.slice(i, i + 100)), ddb, 'latest')).written;
    expect(written).toBe(0);

    const items = (await ddb.send(new ScanCommand({ TableName: 'latest' }))).Items!;
    // Expected: for each signal, the value of its sample with the greatest time across all batches.
    const newest = new Map<string, { t: number; v: unknown; seq: number }>();
    for (const p of payloads) {
      for (const r of batchToRows(decodeBatch(p))) {
        const t = Math.round(r.time * 1000);
        const cur = newest.get(r.signal);
        if (!cur || t > cur.t || (t === cur.t && r.seq > cur.seq)) newest.set(r.signal, { t, v: r.value, seq: r.seq });
      }
    }
    expect(items.length).toBe(newest.size);
    for (const it of items) {
      const want = newest.get(it.signal.S!)!;
      expect(it.vehicle.S).toBe(THING);
      expect(Number(it.time_us.N)).toBe(want.t);
      expect(Number(it.seq.N)).toBe(want.seq);
      expect(Number(it.value.N)).toBe(Number(want.v));
    }
  });

  it('the Firehose transform answers every record; Parquet read back with DuckDB has every sample once', async () => {
    // Firehose's event for a Kinesis-stream source, in Lambda's 6 MB slices (here 200 records).
    const out: { rows: LakeRow[]; partition: Record<string, string> }[] = [];
    const results: Record<string, number> = {};
    for (let i = 0; i < records.length; i += 200) {
      const slice = records.slice(i, i + 200);
      const event: FirehoseTransformEvent = {
        invocationId: `inv-${i}`,
        deliveryStreamArn: 'arn:aws:firehose:us-east-1:123456789012:deliverystream/edgewise-lake',
        region: 'us-east-1',
        records: slice.map((r, j) => ({
          recordId: `rec-${i + j}`,
          approximateArrivalTimestamp: r.arrival,
          data: Buffer.from(r.data).toString('base64'),
          kinesisRecordMetadata: { sequenceNumber: r.sequenceNumber, partitionKey: r.partitionKey, shardId: 'shardId-000000000000', approximateArrivalTimestamp: r.arrival, subsequenceNumber: 0 },
        })),
      };
      const res = transform(event);
      expect(res.records.map((r) => r.recordId)).toEqual(event.records.map((r) => r.recordId));
      for (const r of res.records) {
        results[r.result] = (results[r.result] ?? 0) + 1;
        if (r.result !== 'Ok') continue;
        // Firehose's JSON deserializer reads concatenated documents; one per line here.
        const rows = Buffer.from(r.data, 'base64').toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as LakeRow);
        out.push({ rows, partition: r.metadata!.partitionKeys as never });
      }
    }
    expect(results.ProcessingFailed).toBe(1);
    // The three duplicates fall in the last slice with their originals only if they share it; the
    // lake is at-least-once across invocations and queries de-duplicate by (vehicle, seq, part).
    const lake = mkdtempSync(path.join(os.tmpdir(), 'edgewise-lake-'));
    dirs.push(lake);
    // Firehose buffers records per partition into objects: group Ok records by partition.
    const byPart = new Map<string, { partition: Record<string, string>; rows: LakeRow[] }>();
    for (const o of out) {
      const k = partitionPath(o.partition as never);
      let g = byPart.get(k);
      if (!g) byPart.set(k, (g = { partition: o.partition, rows: [] }));
      g.rows.push(...o.rows);
    }
    for (const [, g] of byPart) writePartitionFile(lake, g.partition as never, 'edgewise-lake-1', g.rows);
    expect(readdirSync(lake)).toEqual(expect.arrayContaining([expect.stringMatching(/^year=\d{4}$/)]));

    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    const glob = path.join(lake, '**/*.parquet');
    const types = await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${glob}', hive_partitioning = true)`);
    const typeOf = Object.fromEntries(types.getRowObjects().map((r) => [r.column_name as string, r.column_type as string]));
    expect(typeOf).toMatchObject({
      vehicle: 'VARCHAR',
      campaign: 'VARCHAR',
      campaign_version: 'INTEGER',
      seq: 'BIGINT',
      part: 'INTEGER',
      signal: 'VARCHAR',
      time: 'TIMESTAMP', // DuckDB reads Parquet TIMESTAMP_MILLIS as its TIMESTAMP
      time_us: 'BIGINT',
      value_double: 'DOUBLE',
      value_string: 'VARCHAR',
      value_bool: 'BOOLEAN',
    });
    // De-duplicated as the documented Athena query does it.
    const q = await c.runAndReadAll(`
      SELECT vehicle, seq, signal, time_us, value_double, year, month, day, hour, epoch_ms(time) AS t_ms
      FROM (SELECT *, row_number() OVER (PARTITION BY vehicle, seq, part, signal, time_us ORDER BY received_at) AS n
            FROM read_parquet('${glob}', hive_partitioning = true))
      WHERE n = 1`);
    const rows = q.getRowObjects();
    const src = sourceSamples();
    expect(rows.length).toBe(src.length);
    const got = new Map(rows.map((r) => [`${r.seq}|${r.signal}|${r.time_us}`, r]));
    expect(got.size).toBe(src.length);
    for (const s of src) {
      const r = got.get(s.key);
      expect(r, s.key).toBeDefined();
      expect(r!.vehicle).toBe(THING);
      expect(r!.value_double).toBe(Number(s.value));
      expect(Number(r!.t_ms)).toBe(Math.floor(Number(r!.time_us) / 1000));
    }
    // Partitions are the UTC hour of each batch's trigger time.
    for (const p of payloads) {
      const b = decodeBatch(p);
      const d = new Date(b.triggerTimeMs);
      const r = got.get(`${b.seq}|${b.signals[0].name}|${Math.round(b.signals[0].timesMs[0] * 1000)}`)!;
      expect([r.year, r.month, r.day, r.hour].map(Number)).toEqual([d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours()]);
    }
    c.closeSync();
  });
});
