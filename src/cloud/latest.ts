/**
 * Latest value per vehicle and signal in DynamoDB (pk = vehicle, sk = signal). Each batch is first
 * reduced to its newest sample per signal; every item is then written with a condition so a value
 * only replaces an older one: newer sample time wins, and for the same time the higher batch seq
 * wins. Re-delivered batches (at-least-once, same (vehicle, seq)) compare equal and change nothing,
 * so the table is idempotent under duplicates and under out-of-order delivery.
 *
 * DynamoDB's BatchWriteItem cannot carry conditions and a TransactWriteItems fails whole when any
 * condition fails, so each item is an UpdateItem with a ConditionExpression; calls run with bounded
 * concurrency and a failed condition is the expected "older value" outcome, not an error.
 */
import { ConditionalCheckFailedException, type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { LakeRow } from './rows.js';

export interface LatestValue {
  vehicle: string;
  signal: string;
  time_us: number;
  seq: number;
  campaign: string;
  value: number | string | boolean;
}

/** Newest sample per (vehicle, signal) over the rows; ties on time go to the higher seq. */
export function latestOf(rows: Iterable<LakeRow>): LatestValue[] {
  const best = new Map<string, LatestValue>();
  for (const r of rows) {
    const key = `${r.vehicle}\u0000${r.signal}`;
    const cur = best.get(key);
    if (cur && (cur.time_us > r.time_us || (cur.time_us === r.time_us && cur.seq >= r.seq))) continue;
    const value = r.value_double ?? r.value_string ?? r.value_bool;
    if (value === null) continue;
    best.set(key, { vehicle: r.vehicle, signal: r.signal, time_us: r.time_us, seq: r.seq, campaign: r.campaign, value });
  }
  return [...best.values()];
}

function attr(v: number | string | boolean): { N: string } | { S: string } | { BOOL: boolean } {
  return typeof v === 'number' ? { N: String(v) } : typeof v === 'string' ? { S: v } : { BOOL: v };
}

export interface WriteResult {
  written: number;
  /** Items whose stored value was as new or newer (condition failed: nothing changed). */
  skipped: number;
}

/** Conditionally write each latest value; at most `concurrency` requests in flight. */
export async function writeLatest(client: DynamoDBClient, table: string, values: readonly LatestValue[], concurrency = 16): Promise<WriteResult> {
  let written = 0;
  let skipped = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < values.length) {
      const v = values[next++];
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: table,
            Key: { vehicle: { S: v.vehicle }, signal: { S: v.signal } },
            UpdateExpression: 'SET #v = :v, time_us = :t, seq = :s, campaign = :c',
            ConditionExpression: 'attribute_not_exists(time_us) OR time_us < :t OR (time_us = :t AND seq < :s)',
            ExpressionAttributeNames: { '#v': 'value' },
            ExpressionAttributeValues: { ':v': attr(v.value), ':t': { N: String(v.time_us) }, ':s': { N: String(v.seq) }, ':c': { S: v.campaign } },
          }),
        );
        written++;
      } catch (e) {
        if (e instanceof ConditionalCheckFailedException || (e as { name?: string }).name === 'ConditionalCheckFailedException') skipped++;
        else throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, values.length) }, worker));
  return { written, skipped };
}
