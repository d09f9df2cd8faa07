import type { CanFrame } from '../types.js';
import { decodeDm, formatJ1939Dtc, PGN_DM1 } from './dm.js';

/**
 * Keeps each ECU's (source address's) latest DM1 and gives the union of their active DTCs when it
 * changes, for `diagnosticsMode: SEND_ACTIVE_DTCS`. Single-frame DM1s only (one DTC per frame);
 * multi-packet DM1s need the transport protocol (not implemented yet).
 */
export class J1939ActiveDtcs {
  private readonly bySource = new Map<number, string[]>();
  private current = '';

  /** True when `frame` is a DM1 (PGN 65226, any source and priority). Cheap: no allocation. */
  static isDm1(frame: CanFrame): boolean {
    return frame.extended && ((frame.id >>> 8) & 0x3ffff) === PGN_DM1;
  }

  /** Feeds a DM1 frame; returns the new union of active DTC texts when it changed, else undefined. */
  onDm1(frame: CanFrame): string[] | undefined {
    const dm = decodeDm(frame.data);
    if (!dm) return undefined;
    this.bySource.set(frame.id & 0xff, dm.dtcs.map(formatJ1939Dtc));
    const all = [...new Set([...this.bySource.values()].flat())].sort();
    const key = all.join(',');
    if (key === this.current) return undefined;
    this.current = key;
    return all;
  }
}
