/** SAE J1939 diagnostics: DM1/DM2 decoding and the active-DTC set DM1 broadcasts feed. */
export { PGN_DM1, PGN_DM2, decodeDm, formatJ1939Dtc, type J1939Dtc, type J1939Lamps, type J1939DmMessage } from './dm.js';
export { J1939ActiveDtcs } from './dtcs.js';
