/**
 * CAN below everything that reads or writes a bus: the frame objects, the SocketCAN reader
 * (a FrameSource) and writer over the native binding, and the SocketCAN source's config schema.
 * sources/ and obd/ build on it; it imports nothing but src/types.ts and src/errors.ts.
 */
export { newCanFrame, copyCanFrame } from './frame.js';
export { SocketCanSource, SocketCanWriter, logSocketCanEvents } from './socketcan.js';
export type { SocketCanOptions, SocketCanEvent, SocketCanInterfaceStatus } from './socketcan.js';
export { socketcanSourceSchema, socketcanInterfaces, type SocketcanSourceConfig } from './config.js';
