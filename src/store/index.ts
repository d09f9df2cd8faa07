/** LevelDB store-and-forward (implements the uploader's UploadQueue). */
export { BatchStore } from './store.js';
export type { StoreOptions, StoreStats, PutMeta } from './store.js';
export { partitionKey, type PartitionLimits } from '../types.js';
