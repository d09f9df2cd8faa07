/** CAN frame objects: the one shape every reader fills and every consumer reads (`CanFrame`, src/types.ts). */
import type { CanFrame } from '../types.js';

/** A fresh frame object (all fields set, so its hidden class stays stable). */
export function newCanFrame(): CanFrame {
  return {
    timeMs: 0,
    iface: '',
    id: 0,
    extended: false,
    fd: false,
    brs: false,
    esi: false,
    remote: false,
    error: false,
    data: new Uint8Array(0),
  };
}

/** Copies a frame (its data too): for consumers that keep frames. */
export function copyCanFrame(f: CanFrame): CanFrame {
  return {
    timeMs: f.timeMs,
    iface: f.iface,
    id: f.id,
    extended: f.extended,
    fd: f.fd,
    brs: f.brs,
    esi: f.esi,
    remote: f.remote,
    error: f.error,
    data: f.data.slice(),
  };
}
