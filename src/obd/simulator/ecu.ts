/**
 * What a simulated ECU answers to an OBD request (J1979 semantics, transport-free): shared by
 * the ELM327 simulator and the ISO-TP ECU simulator.
 */
import { bitmapFor, isBitmapPid } from '../pids.js';
import { dtcBytes, simPidData, simSupported, type SimEcu } from './table.js';

/** The response payload (from the response SID on), or undefined when this ECU stays silent. */
export function ecuResponse(ecu: SimEcu, req: Uint8Array): Uint8Array | undefined {
  if (req.length === 0) return undefined;
  const sid = req[0];
  const cfg = ecu.config;
  switch (sid) {
    case 0x01: {
      if (req.length < 2 || req.length > 7) return undefined;
      const out: number[] = [0x41];
      const supported = simSupported(ecu);
      for (const pid of req.subarray(1)) {
        if (isBitmapPid(pid)) {
          // Bitmap 00 always answers; later ones only when announced by the previous one.
          let announced = pid === 0;
          for (const p of supported) if (p > pid) announced = true;
          if (!announced) continue;
          out.push(pid, ...bitmapFor(pid, supported));
          continue;
        }
        const data = simPidData(ecu, pid);
        if (data) out.push(pid, ...data);
      }
      return out.length > 1 ? Uint8Array.from(out) : undefined;
    }
    case 0x03:
    case 0x07:
    case 0x0a: {
      const list = cfg.dtcs ? (sid === 0x03 ? cfg.dtcs.stored : sid === 0x07 ? cfg.dtcs.pending : cfg.dtcs.permanent) : [];
      const out = [sid + 0x40, list.length];
      for (const c of list) out.push(...dtcBytes(c));
      return Uint8Array.from(out);
    }
    case 0x04:
      if (cfg.dtcs) {
        cfg.dtcs.stored = [];
        cfg.dtcs.pending = [];
      }
      return Uint8Array.of(0x44);
    case 0x09: {
      if (req.length !== 2) return undefined;
      const pid = req[1];
      const text = pid === 0x02 ? cfg.vin : pid === 0x0a ? cfg.name : undefined;
      if (pid === 0x00) {
        const s = new Set<number>();
        if (cfg.vin) s.add(0x02);
        if (cfg.name) s.add(0x0a);
        if (s.size === 0) return undefined;
        return Uint8Array.of(0x49, 0x00, ...bitmapFor(0, s));
      }
      if (text === undefined) return undefined;
      const bytes = Buffer.from(pid === 0x0a ? text.padEnd(20, '\0') : text, 'latin1');
      return Uint8Array.of(0x49, pid, 0x01, ...bytes);
    }
    default:
      return Uint8Array.of(0x7f, sid, 0x11);
  }
}
