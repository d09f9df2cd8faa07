/**
 * Firehose data-transformation Lambda (https://docs.aws.amazon.com/firehose/latest/dev/data-transformation.html).
 * Each input record (a rule message from the Kinesis stream) becomes one output record holding the
 * batch's rows as newline-delimited JSON (LakeRow), with the record's Hive partition as dynamic
 * partitioning keys. A record that cannot be decoded gets `ProcessingFailed` (Firehose writes it to
 * the error prefix); the other records of the invocation are unaffected.
 */
import { decodeRuleMessage } from './record.js';
import { partitionOf, toLakeRows, type Partition } from './rows.js';

export interface FirehoseTransformEvent {
  invocationId: string;
  deliveryStreamArn: string;
  region: string;
  records: { recordId: string; approximateArrivalTimestamp: number; data: string; kinesisRecordMetadata?: Record<string, unknown> }[];
}

export interface FirehoseTransformResult {
  records: {
    recordId: string;
    result: 'Ok' | 'Dropped' | 'ProcessingFailed';
    data: string;
    metadata?: { partitionKeys: Partition };
  }[];
}

/** JSON text of rows, one object per line (what Firehose's OpenX JSON deserializer reads). */
export function rowsToNdjson(rows: readonly object[]): string {
  let s = '';
  for (const r of rows) s += JSON.stringify(r) + '\n';
  return s;
}

export function transform(event: FirehoseTransformEvent): FirehoseTransformResult {
  const seen = new Set<string>();
  return {
    records: event.records.map((rec) => {
      try {
        const { message, batch } = decodeRuleMessage(Buffer.from(rec.data, 'base64'));
        // At-least-once duplicates within one invocation are dropped here; across invocations the
        // lake keeps them and queries de-duplicate by (vehicle, seq, part) (docs/cloud.md).
        const key = `${message.thing}\u0000${batch.seq}\u0000${batch.partIndex}`;
        if (seen.has(key)) return { recordId: rec.recordId, result: 'Dropped' as const, data: rec.data };
        seen.add(key);
        const rows = toLakeRows(batch, message.thing, message.receivedAt);
        return {
          recordId: rec.recordId,
          result: 'Ok' as const,
          data: Buffer.from(rowsToNdjson(rows)).toString('base64'),
          metadata: { partitionKeys: partitionOf(batch.triggerTimeMs) },
        };
      } catch (e) {
        console.error(JSON.stringify({ msg: 'undecodable record', recordId: rec.recordId, err: (e as Error).message }));
        return { recordId: rec.recordId, result: 'ProcessingFailed' as const, data: rec.data };
      }
    }),
  };
}

export const handler = async (event: FirehoseTransformEvent): Promise<FirehoseTransformResult> => transform(event);
