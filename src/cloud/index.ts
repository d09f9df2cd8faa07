/** Cloud side of edgewise: Lambda handlers, the lake's row shape, the local Parquet lake. No device dependencies. */
export { RULE_SQL, decodeRuleMessage, type RuleMessage, type DecodedRecord } from './record.js';
export { LAKE_COLUMNS, PARTITION_KEYS, partitionOf, partitionPath, toLakeRows, type LakeRow, type Partition } from './rows.js';
export { transform as firehoseTransform, rowsToNdjson, type FirehoseTransformEvent, type FirehoseTransformResult } from './firehose.js';
export { latestOf, writeLatest, type LatestValue, type WriteResult } from './latest.js';
export { consume as consumeKinesis, type KinesisStreamEvent, type KinesisBatchResponse } from './kinesis.js';
