/** edgewise as a library: each pipeline stage's public interface. */
export * from './errors.js';
export type * from './types.js';
export { VERSION } from './version.js';
export * from './upload/index.js';
export * from './batches/index.js';
export * from './store/index.js';
export * from './campaigns/index.js';
