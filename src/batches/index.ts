/** Batch wire format (proto/edgewise/batch.proto): encode, split, compress, decode, flatten. */
export { encodeBatch, decodeBatch, batchToRows, IOT_MAX_PAYLOAD_BYTES, DTC_SIGNAL } from './codec.js';
export type { EncodeOptions, DecodedBatch, DecodedSignal, BatchRow } from './codec.js';
export { MAGIC as BATCH_MAGIC, MAX_DECOMPRESSED_BYTES } from './envelope.js';
export { PROTO_SOURCE, PROTO_PATH, SCHEMA_VERSION } from './schema.js';
