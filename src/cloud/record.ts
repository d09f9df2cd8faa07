/**
 * What the IoT rule puts on the Kinesis stream for each batch, and decoding it. The rule
 * (cloud/infra, RULE_SQL) selects the binary payload base64-encoded plus the topic, the thing
 * name from the topic and IoT Core's receive time, as one JSON document:
 *   {"data":"<base64 batch>","topic":"edgewise/veh-1/batches/c","thing":"veh-1","receivedAt":1700000000000}
 */
import { decodeBatch, type DecodedBatch } from '../batches/index.js';
import { EdgewiseError } from '../errors.js';

/** AWS IoT SQL (version 2016-03-23): the binary payload is only reachable through encode(*, 'base64'). */
export const RULE_SQL =
  "SELECT encode(*, 'base64') AS data, topic() AS topic, topic(2) AS thing, timestamp() AS receivedAt FROM 'edgewise/+/batches/#'";

export interface RuleMessage {
  data: string;
  topic: string;
  thing: string;
  receivedAt: number;
}

export interface DecodedRecord {
  message: RuleMessage;
  batch: DecodedBatch;
}

/** Parse and decode one rule message (the bytes of a Kinesis record). Throws BATCH_FORMAT with the reason. */
export function decodeRuleMessage(bytes: Uint8Array): DecodedRecord {
  let m: Partial<RuleMessage>;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<RuleMessage>;
  } catch (e) {
    throw new EdgewiseError('BATCH_FORMAT', `record is not the IoT rule's JSON: ${(e as Error).message}`);
  }
  if (!m || typeof m !== 'object' || typeof m.data !== 'string' || typeof m.thing !== 'string' || typeof m.topic !== 'string') {
    throw new EdgewiseError('BATCH_FORMAT', 'record lacks the rule fields data/topic/thing (strings)');
  }
  const receivedAt = typeof m.receivedAt === 'number' ? m.receivedAt : Number(m.receivedAt);
  if (!Number.isFinite(receivedAt)) throw new EdgewiseError('BATCH_FORMAT', 'record lacks receivedAt (ms since the epoch)');
  const batch = decodeBatch(Buffer.from(m.data, 'base64'));
  // The topic's thing is what IoT Core authenticated (the policy allows a thing only its own topic);
  // a header naming another vehicle is refused rather than attributed.
  if (batch.vehicle !== m.thing) {
    throw new EdgewiseError('BATCH_FORMAT', `batch header names vehicle ${JSON.stringify(batch.vehicle)} but it was published by ${JSON.stringify(m.thing)}`);
  }
  return { message: { data: m.data, topic: m.topic, thing: m.thing, receivedAt }, batch };
}
