/** edgewise as a library: each pipeline stage's public interface. */
export * from './errors.js';
export type * from './types.js';
export { VERSION } from './version.js';
