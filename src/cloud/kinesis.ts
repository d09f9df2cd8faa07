/**
 * Kinesis Data Streams consumer Lambda: decodes the rule messages of a batch of stream records and
 * writes the latest value per vehicle and signal to DynamoDB (LATEST_TABLE). Uses the partial batch
 * response (ReportBatchItemFailures): when a DynamoDB write fails, the failing record and the ones
 * after it are retried; an undecodable record is logged and acknowledged (retrying cannot fix it,
 * and it must not block the shard). The Parquet lake is fed by Firehose from the same stream.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { decodeRuleMessage } from './record.js';
import { latestOf, writeLatest, type WriteResult } from './latest.js';
import { toLakeRows, type LakeRow } from './rows.js';

export interface KinesisStreamEvent {
  Records: { eventID: string; kinesis: { data: string; sequenceNumber: string; partitionKey: string } }[];
}

export interface KinesisBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface ConsumeResult extends WriteResult {
  response: KinesisBatchResponse;
  /** Records that could not be decoded (logged, not retried). */
  undecodable: number;
  /** Duplicate (vehicle, seq, part) records in this invocation, ignored. */
  duplicates: number;
}

export async function consume(event: KinesisStreamEvent, client: DynamoDBClient, table: string): Promise<ConsumeResult> {
  const seen = new Set<string>();
  let undecodable = 0;
  let duplicates = 0;
  let written = 0;
  let skipped = 0;
  // Records are processed in stream order in groups so that a failure reports the first
  // unprocessed record's sequence number (Lambda retries from there).
  const groups: { seqNo: string; rows: LakeRow[] }[] = [];
  for (const rec of event.Records) {
    try {
      const { message, batch } = decodeRuleMessage(Buffer.from(rec.kinesis.data, 'base64'));
      const key = `${message.thing}\u0000${batch.seq}\u0000${batch.partIndex}`;
      if (seen.has(key)) {
        duplicates++;
        continue;
      }
      seen.add(key);
      groups.push({ seqNo: rec.kinesis.sequenceNumber, rows: toLakeRows(batch, message.thing, message.receivedAt) });
    } catch (e) {
      undecodable++;
      console.error(JSON.stringify({ msg: 'undecodable record', sequenceNumber: rec.kinesis.sequenceNumber, err: (e as Error).message }));
    }
  }
  const CHUNK = 100;
  for (let i = 0; i < groups.length; i += CHUNK) {
    const part = groups.slice(i, i + CHUNK);
    try {
      const r = await writeLatest(client, table, latestOf(part.flatMap((g) => g.rows)));
      written += r.written;
      skipped += r.skipped;
    } catch (e) {
      console.error(JSON.stringify({ msg: 'latest-value write failed', err: (e as Error).message }));
      return { written, skipped, undecodable, duplicates, response: { batchItemFailures: [{ itemIdentifier: part[0].seqNo }] } };
    }
  }
  return { written, skipped, undecodable, duplicates, response: { batchItemFailures: [] } };
}

let client: DynamoDBClient | undefined;

export const handler = async (event: KinesisStreamEvent): Promise<KinesisBatchResponse> => {
  const table = process.env.LATEST_TABLE;
  if (!table) throw new Error('LATEST_TABLE is not set');
  client ??= new DynamoDBClient({});
  return (await consume(event, client, table)).response;
};
