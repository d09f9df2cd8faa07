/** LevelDB store-and-forward (implements the uploader's UploadQueue). */
export { BatchStore, partitionKey } from './store.js';
export type { StoreOptions, StoreStats, StoreLogger, PartitionLimits, PutMeta } from './store.js';
