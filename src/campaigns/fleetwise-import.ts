/**
 * FleetWise decoder manifest import: a `create-decoder-manifest` input (or the bare
 * `networkInterfaces` / `signalDecoders` arrays FleetWise's tools and console export) becomes an
 * edgewise manifest. `canSignal`s are described by their own fields, so they are written into a
 * generated DBC (FleetWise's `startBit` is always the LSB; DBC wants the MSB for big-endian
 * signals, converted here). `obdSignal`s map to service/PID entries.
 */
import { EdgewiseError } from '../errors.js';
import { pidDef } from '../obd/index.js';

/** FleetWise documents write numbers and booleans as strings too ("8", "true"). */
function num(v: unknown, what: string): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new EdgewiseError('MANIFEST_INVALID', `${what}: expected a number, got ${JSON.stringify(v)}`);
  return n;
}
function bool(v: unknown): boolean {
  return v === true || v === 'true' || v === 'TRUE';
}

export interface FleetwiseImport {
  manifest: { dbc?: Record<string, string>; signals: Record<string, unknown>[] };
  /** Generated DBC text per CAN interface name (from canSignal fields). */
  dbcs: Map<string, string>;
  warnings: string[];
}

/** DBC Motorola start bit (MSB, sawtooth numbering) from FleetWise's LSB start bit. */
export function dbcStartBit(lsb: number, length: number, bigEndian: boolean): number {
  if (!bigEndian) return lsb;
  let p = lsb;
  for (let i = 1; i < length; i++) p = p % 8 === 7 ? p - 15 : p + 1;
  return p;
}

/** Collects interfaces and decoders from one or more documents. */
export function importFleetwise(docs: unknown[], dbcFileName: (iface: string) => string): FleetwiseImport {
  const ifaces: Record<string, unknown>[] = [];
  const decoders: Record<string, unknown>[] = [];
  for (const d of docs) {
    if (Array.isArray(d)) {
      for (const e of d as Record<string, unknown>[]) (e && typeof e === 'object' && 'fullyQualifiedName' in e ? decoders : ifaces).push(e);
    } else if (d && typeof d === 'object') {
      const o = d as Record<string, unknown>;
      if (Array.isArray(o.networkInterfaces)) ifaces.push(...(o.networkInterfaces as Record<string, unknown>[]));
      if (Array.isArray(o.signalDecoders)) decoders.push(...(o.signalDecoders as Record<string, unknown>[]));
    }
  }
  const byId = new Map<string, Record<string, unknown>>();
  for (const i of ifaces) byId.set(String(i.interfaceId), i);
  const warnings: string[] = [];
  const signals: Record<string, unknown>[] = [];
  // iface -> messageId -> signal lines
  const can = new Map<string, Map<number, string[]>>();
  const wide = new Set<number>();
  for (const d of decoders) {
    const name = String(d.fullyQualifiedName);
    const iface = byId.get(String(d.interfaceId));
    if (!iface) throw new EdgewiseError('MANIFEST_INVALID', `${name}: interfaceId ${String(d.interfaceId)} is not among the network interfaces (${[...byId.keys()].join(', ') || 'none given: pass the network interface file with another --fleetwise'})`);
    if (d.canSignal) {
      const c = d.canSignal as Record<string, unknown>;
      const ifName = String((iface.canInterface as Record<string, unknown> | undefined)?.name ?? `can${String(d.interfaceId)}`);
      const id = num(c.messageId, `${name}: messageId`);
      const len = num(c.length, `${name}: length`);
      const be = bool(c.isBigEndian);
      const start = dbcStartBit(num(c.startBit, `${name}: startBit`), len, be);
      const sig = (c.name ? String(c.name) : name.split('.').pop()!).replace(/[^A-Za-z0-9_]/g, '_');
      const float = c.signalValueType === 'FLOATING_POINT';
      const factor = num(c.factor ?? 1, `${name}: factor`);
      const offset = num(c.offset ?? 0, `${name}: offset`);
      if (num(c.startBit, name) + len > 64 || start + len > 64) wide.add(id);
      const m = can.get(ifName) ?? new Map<number, string[]>();
      can.set(ifName, m);
      const lines = m.get(id) ?? [];
      m.set(id, lines);
      lines.push(` SG_ ${sig} : ${start}|${len}@${be ? 0 : 1}${bool(c.isSigned) ? '-' : '+'} (${factor},${offset}) [0|0] "" Vector__XXX`);
      if (float) warnings.push(`${name}: FLOATING_POINT CAN signals are decoded as IEEE floats only when length is 32 or 64`);
      signals.push({ name, type: 'float64', can: { interface: ifName, message: id, signal: sig } });
    } else if (d.obdSignal) {
      const o = d.obdSignal as Record<string, unknown>;
      const service = num(o.serviceMode, `${name}: serviceMode`);
      const pid = num(o.pid, `${name}: pid`);
      if (service === 1 && !pidDef(pid)) {
        warnings.push(`${name}: service 01 PID ${pid.toString(16).toUpperCase()} has no J1979 formula in edgewise; decoding from FleetWise byte fields is not implemented yet, signal not imported`);
        continue;
      }
      const def = service === 1 ? pidDef(pid) : undefined;
      if (def) {
        // Import only where edgewise's J1979 formula is the decoder FleetWise describes; otherwise a
        // multi-value PID (O2 sensors, status bitmaps) would be silently misread.
        const same =
          def.kind === 'linear' &&
          num(o.startByte ?? 0, `${name}: startByte`) === 0 &&
          num(o.byteLength, `${name}: byteLength`) === def.bytes &&
          num(o.bitRightShift ?? 0, `${name}: bitRightShift`) === 0 &&
          Math.abs(num(o.scaling, `${name}: scaling`) - def.scale) <= Math.abs(def.scale) * 1e-3 &&
          Math.abs(num(o.offset, `${name}: offset`) - def.offset) < 1e-6;
        if (!same) {
          warnings.push(`${name}: PID ${def.hex} bytes ${String(o.startByte)}+${String(o.byteLength)} x${String(o.scaling)}${Number(o.offset) < 0 ? '' : '+'}${String(o.offset)} differ from edgewise's J1979 formula (${def.name}); decoding from FleetWise byte fields is not implemented yet, signal not imported`);
          continue;
        }
      }
      signals.push({ name, type: 'float64', obd: { service, pid } });
    } else if (d.customDecodingSignal || d.type === 'CUSTOM_DECODING_SIGNAL') {
      warnings.push(`${name}: customDecodingSignal (signal produced by a custom decoder) is not imported yet`);
    } else {
      warnings.push(`${name}: decoder type ${String(d.type)} is not supported by edgewise (CAN and OBD signals are)`);
    }
  }
  const dbcs = new Map<string, string>();
  const dbc: Record<string, string> = {};
  for (const [ifName, msgs] of can) {
    let text = 'VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_:\n\n';
    for (const [id, lines] of msgs) {
      const ext = id > 0x7ff;
      text += `BO_ ${ext ? (id | 0x80000000) >>> 0 : id} MSG_${id.toString(16).toUpperCase()}: ${wide.has(id) ? 64 : 8} Vector__XXX\n${lines.join('\n')}\n\n`;
    }
    dbcs.set(ifName, text);
    dbc[ifName] = dbcFileName(ifName);
  }
  return { manifest: can.size ? { dbc, signals } : { signals }, dbcs, warnings };
}
