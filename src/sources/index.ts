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
  newCanFrame,
  copyCanFrame,
} from './candump.js';
export type { CandumpStats, CandumpBadLine, CandumpOptions, CandumpInput, CandumpChunk } from './candump.js';
export { LogSource, type LogSourceOptions } from './log-source.js';
export type { FrameSource, SourceStatus, SignalSink, SignalSource } from './source.js';
export { SocketCanSource, SocketCanWriter, logSocketCanEvents } from './socketcan.js';
