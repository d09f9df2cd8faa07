import type { AttributeValue, DbcDatabase, DbcMessage } from '../dbc/index.js';

/*
 * SAE J1939-21 identifier fields of a 29-bit CAN id:
 *   bits 28..26 priority, 25 extended data page (EDP), 24 data page (DP),
 *   23..16 PDU format (PF), 15..8 PDU specific (PS), 7..0 source address (SA).
 * PF < 240 is PDU1: PS is the destination address and not part of the PGN.
 * PF >= 240 is PDU2: PS is the group extension, part of the PGN; the destination is global (255).
 * PGN = EDP<<17 | DP<<16 | PF<<8 | (PDU2 ? PS : 0).
 */

/** Parameter group number of a 29-bit id. */
export function pgnOf(id: number): number {
  const pf = (id >>> 16) & 0xff;
  const base = (id >>> 8) & 0x3ff00; // EDP, DP, PF
  return pf < 240 ? base : base | ((id >>> 8) & 0xff);
}

export function priorityOf(id: number): number {
  return (id >>> 26) & 7;
}

export function sourceAddressOf(id: number): number {
  return id & 0xff;
}

/** True for PDU1 (destination-specific) ids. */
export function isPdu1(id: number): boolean {
  return ((id >>> 16) & 0xff) < 240;
}

/** Destination address: PS for PDU1, 255 (global) for PDU2. */
export function destinationOf(id: number): number {
  return isPdu1(id) ? (id >>> 8) & 0xff : 0xff;
}

/** The 29-bit id of a parameter group sent with the given priority, destination (PDU1 only) and source. */
export function j1939Id(pgn: number, priority: number, source: number, destination = 0xff): number {
  const pf = (pgn >>> 8) & 0xff;
  const ps = pf < 240 ? destination & 0xff : pgn & 0xff;
  return (((priority & 7) << 26) | ((pgn & 0x30000) << 8) | (pf << 16) | (ps << 8) | (source & 0xff)) >>> 0;
}

function enumText(db: DbcDatabase | undefined, name: string, v: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof v !== 'number') return v;
  // Without the definition, Vector's VFrameFormat order (StandardCAN, ExtendedCAN, reserved, J1939PG, ...).
  if (!db) return name === 'VFrameFormat' && v === 3 ? 'J1939PG' : v;
  const def = db.attributeDefinitions.get(name);
  return def && def.type.kind === 'ENUM' ? (def.type.values[v] ?? v) : v;
}

/**
 * A DBC message (extended id) is a J1939 parameter group when its `VFrameFormat` (its own value,
 * else the `BA_DEF_DEF_` default) is `J1939PG`, or when it has no `VFrameFormat` at all and the
 * database's `ProtocolType` (value or default) is `J1939`.
 */
export function isJ1939Message(m: DbcMessage, db?: DbcDatabase): boolean {
  if (!m.extended) return false;
  const ff = enumText(db, 'VFrameFormat', m.attributes.get('VFrameFormat') ?? db?.attributeDefinitions.get('VFrameFormat')?.default);
  if (ff === 'J1939PG') return true;
  if (ff !== undefined) return false;
  const proto = db?.attributes.get('ProtocolType') ?? db?.attributeDefinitions.get('ProtocolType')?.default;
  return typeof proto === 'string' && proto.toUpperCase() === 'J1939';
}
