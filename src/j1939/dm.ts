/*
 * SAE J1939-73 diagnostic messages DM1 (active DTCs, PGN 65226) and DM2 (previously active, PGN 65227).
 * Layout (bytes 1-based, bits 8..1):
 *   byte 1: bits 8-7 malfunction indicator lamp, 6-5 red stop lamp, 4-3 amber warning lamp, 2-1 protect lamp
 *   byte 2: the same four lamps' flash status
 *   then 4 bytes per DTC:
 *     a: SPN bits 8-1, b: SPN bits 16-9, c: bits 8-6 SPN bits 19-17, bits 5-1 FMI,
 *     d: bit 8 SPN conversion method (CM), bits 7-1 occurrence count (OC; 127 = not available).
 * CM = 1 marks the older conversion methods (J1939-73 versions 1-3), where the 19 SPN bits are sent
 * most significant first: SPN = a<<11 | b<<3 | c>>5. A DM1 with no active DTC carries SPN 0 FMI 0;
 * unused bytes of a single-frame DM1 are 0xFF. Neither is a DTC.
 */

export const PGN_DM1 = 65226;
export const PGN_DM2 = 65227;

export interface J1939Dtc {
  spn: number;
  fmi: number;
  oc: number;
  cm: number;
}

/** Two-bit lamp states: 0 off, 1 on, 2 error, 3 not available (flash: 0 slow, 1 fast, 2 reserved, 3 none). */
export interface J1939Lamps {
  mil: number;
  redStop: number;
  amberWarning: number;
  protect: number;
}

export interface J1939DmMessage {
  lamps: J1939Lamps;
  flash: J1939Lamps;
  dtcs: J1939Dtc[];
}

function lamps(b: number): J1939Lamps {
  return { mil: (b >> 6) & 3, redStop: (b >> 4) & 3, amberWarning: (b >> 2) & 3, protect: b & 3 };
}

/** Decodes a DM1/DM2 payload (single frame or reassembled); returns undefined when shorter than 2 bytes. */
export function decodeDm(data: Uint8Array): J1939DmMessage | undefined {
  if (data.length < 2) return undefined;
  const dtcs: J1939Dtc[] = [];
  for (let i = 2; i + 4 <= data.length; i += 4) {
    const a = data[i];
    const b = data[i + 1];
    const c = data[i + 2];
    const d = data[i + 3];
    if (a === 0xff && b === 0xff && c === 0xff && d === 0xff) continue; // padding
    const cm = d >> 7;
    const spn = cm === 1 ? (a << 11) | (b << 3) | (c >> 5) : a | (b << 8) | ((c >> 5) << 16);
    const fmi = c & 0x1f;
    if (spn === 0 && fmi === 0) continue; // "no active DTC"
    dtcs.push({ spn, fmi, oc: d & 0x7f, cm });
  }
  return { lamps: lamps(data[0]), flash: lamps(data[1]), dtcs };
}

/** The DTC text edgewise reports for a J1939 DTC (e.g. in `SEND_ACTIVE_DTCS`): `SPN110-FMI0`. */
export function formatJ1939Dtc(d: J1939Dtc): string {
  return `SPN${d.spn}-FMI${d.fmi}`;
}
