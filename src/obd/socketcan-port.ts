/**
 * A `CanPort` on a SocketCAN interface, built on edgewise's own SocketCAN source and writer
 * (`src/can/socketcan.ts`, native helper loaded on demand, so nothing native is touched
 * unless an `isotp` OBD source is configured). Reading and writing use two raw sockets; the
 * kernel's loopback shows the reader our own requests, which the OBD client ignores (it only
 * listens to ECU response ids).
 */
import { EdgewiseError } from '../errors.js';
import type { CanFrame } from '../types.js';
import type { CanPort, CanRxFrame } from './isotp.js';

export interface SocketCanPort extends CanPort {
  close(): Promise<void>;
  onDown(cb: (e: Error) => void): void;
}

/** Opens `iface` (`can0`, `vcan0`) for OBD: classic CAN frames, no error frames. */
export async function openSocketCanPort(iface: string): Promise<SocketCanPort> {
  const { SocketCanSource, SocketCanWriter } = await import('../can/index.js');
  const listeners = new Set<(f: CanRxFrame) => void>();
  const source = new SocketCanSource({ interfaces: [iface], fd: false, errorFrames: false, receiveBufferBytes: 0 });
  const writer = new SocketCanWriter(iface, { fd: false });
  let down: ((e: Error) => void) | undefined;
  let closed = false;
  await source.start((f) => {
    for (const l of listeners) l(f);
  });
  const watch = setInterval(() => {
    const st = source.status();
    if (st.state === 'down' && !closed) down?.(new EdgewiseError('IO', `CAN interface ${iface} is down`, { iface }));
  }, 1000);
  watch.unref();
  const out: CanFrame = { timeMs: 0, iface, id: 0, extended: false, fd: false, brs: false, esi: false, remote: false, error: false, data: new Uint8Array(0) };
  return {
    async send(frame) {
      if (closed) throw new EdgewiseError('IO', `CAN port ${iface} is closed`);
      out.id = frame.id;
      out.extended = frame.extended;
      out.data = frame.data;
      const dropped = writer.dropped;
      writer.add(out);
      // A full transmit queue (ENOBUFS / EAGAIN) leaves the frame queued: retry briefly.
      for (let i = 0; i < 50; i++) {
        if (writer.flush() === 0) {
          if (writer.dropped > dropped) throw new EdgewiseError('IO', `CAN send on ${iface} refused: ${writer.lastDropReason ?? 'error'}`, { iface });
          return;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      writer.discard('transmit queue full');
      throw new EdgewiseError('IO', `CAN send on ${iface} failed: transmit queue full`, { iface });
    },
    onFrame(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    onDown(cb) {
      down = cb;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(watch);
      await source.stop();
      writer.close();
    },
  };
}
