/** Frame sources: candump logs (plain / gzip / stdin). */
export {
  readCandump,
  candumpChunks,
  candumpPacked,
  PackedFrames,
  parseCandumpLine,
  formatCandumpLine,
  formatCandumpTime,
  formatCandumpId,
  hexBytes,
} from './candump.js';
export type { CandumpStats, CandumpBadLine, CandumpOptions, CandumpInput, CandumpChunk } from './candump.js';
export { LogSource, type LogSourceOptions } from './log-source.js';
export type { FrameSource, SourceStatus, SignalSink, SignalSource } from '../types.js';
