/**
 * ECUs answering OBD over ISO-TP on a `CanPort` (a virtual bus in tests, vcan0 on a bench):
 * each listens on the functional id (0x7DF / 0x18DB33F1, single frames) and on its physical
 * request id, and answers on its response id with full ISO-TP (multi-frame VIN, flow control).
 */
import { IsoTpChannel, OBD_FUNCTIONAL_11, OBD_FUNCTIONAL_29, type CanPort, type CanRxFrame, type CanTxFrame, type IsoTpOptions } from '../isotp.js';
import { ecuResponse } from './ecu.js';
import { simEcus, type SimTable } from './table.js';

export interface IsoTpEcuSimulator {
  /** Requests answered so far. */
  readonly answered: number;
  close(): void;
}

/** Starts the table's ECUs on `port`. `isotp` sets the flow control they ask of a tester (block size, STmin). */
export function startIsoTpEcus(port: CanPort, table: SimTable, isotp: IsoTpOptions = {}): IsoTpEcuSimulator {
  const ecus = simEcus(table);
  let answered = 0;
  const channels: IsoTpChannel[] = [];
  const unsubs: (() => void)[] = [];
  for (const ecu of ecus) {
    const answer = (req: Uint8Array): void => {
      const resp = ecuResponse(ecu, req);
      if (!resp) return;
      answered++;
      void ch.send(resp).catch(() => undefined);
    };
    const ch = new IsoTpChannel(port, { ...isotp, rxId: ecu.txId, txId: ecu.rxId, extended: ecu.extended }, { message: answer });
    channels.push(ch);
    const functional = ecu.extended ? OBD_FUNCTIONAL_29 : OBD_FUNCTIONAL_11;
    unsubs.push(
      port.onFrame((f) => {
        if (f.id !== functional || f.extended !== ecu.extended || f.error || f.remote) return;
        const len = f.data[0];
        // Functional requests are single frames only.
        if (len >= 1 && len <= 7 && len < f.data.length) answer(f.data.slice(1, 1 + len));
      }),
    );
  }
  return {
    get answered() {
      return answered;
    },
    close() {
      for (const c of channels) c.close();
      for (const u of unsubs) u();
    },
  };
}

/**
 * An in-process CAN bus: every frame a port sends reaches every other port (on a later tick,
 * like a real bus). For tests and demos without SocketCAN.
 */
export class VirtualCanBus {
  private readonly ports = new Set<{ listeners: Set<(f: CanRxFrame) => void> }>();
  /** Frames sent on the bus. */
  frames = 0;
  /** Optional tap on every frame (tracing, fault injection: return false to drop it). */
  tap: ((frame: CanTxFrame) => boolean | void) | undefined;

  port(): CanPort & { close(): void } {
    const me = { listeners: new Set<(f: CanRxFrame) => void>() };
    this.ports.add(me);
    return {
      send: (frame) => {
        if (!this.ports.has(me)) throw new Error('virtual CAN port closed');
        this.frames++;
        if (this.tap?.(frame) === false) return;
        const copy: CanRxFrame = { id: frame.id, extended: frame.extended, data: frame.data.slice() };
        setImmediate(() => {
          for (const p of this.ports) if (p !== me) for (const l of p.listeners) l(copy);
        });
      },
      onFrame: (cb) => {
        me.listeners.add(cb);
        return () => me.listeners.delete(cb);
      },
      close: () => {
        this.ports.delete(me);
      },
    };
  }
}
