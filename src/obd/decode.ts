/**
 * `edgewise obd decode`: a pasted adapter response -> JSON objects (the contract other tools read).
 *
 *   PID           {"pid": "0C", "name": "Engine speed", "value": 1726, "unit": "rpm"}
 *   PID 01        {"mil": true, "dtc_count": 1, "ignition_type": "spark"}
 *   bitmaps       {"supported_pids": ["01", "03", ...]}
 *   DTCs          {"dtcs": ["P0133", ...]}
 *   VIN           {"value": "WP0ZZZ99ZTS390000"}
 *   errors        {"error": "NO_DATA" | "UNKNOWN_COMMAND" | "CAN_ERROR" | ...}
 *
 * One object per PID and per answering ECU; when several ECUs answered each object also names
 * its `ecu`.
 */
import { EdgewiseError } from '../errors.js';
import { parseElmResponse, type EcuMessage, type ElmFraming } from './elm-response.js';
import { hex2, type PidStatus } from './pids.js';
import {
  asciiField,
  decodeCurrentData,
  decodeDtcs,
  decodeVin,
  isBitmapPid,
  negativeResponse,
  NRC_NAMES,
  parseRequest,
  supportedPids,
  vehicleInfoPayload,
  type ObdRequest,
} from './services.js';

export type DecodedObject = Record<string, unknown>;

function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, hex2).join('');
}

/** Objects for the messages of one ECU answering `req`. */
export function decodeMessages(req: ObdRequest, messages: Uint8Array[]): DecodedObject[] {
  const out: DecodedObject[] = [];
  const wantSid = (req.service + 0x40) & 0xff;
  for (const m of messages) {
    const nrc = negativeResponse(m);
    if (nrc !== undefined && m[1] === req.service) {
      out.push({ error: 'NEGATIVE_RESPONSE', nrc: hex2(nrc), ...(NRC_NAMES[nrc] ? { reason: NRC_NAMES[nrc] } : {}) });
    }
  }
  const positive = messages.filter((m) => m[0] === wantSid);
  if (positive.length === 0) {
    if (out.length === 0) out.push({ error: 'UNEXPECTED_RESPONSE', raw: messages.map(hexOf) });
    return out;
  }
  switch (req.service) {
    case 0x01:
    case 0x02:
      for (const m of positive) {
        for (const r of decodeCurrentData(m)) {
          if (!r.def) out.push({ pid: hex2(r.pid), raw: hexOf(r.raw) });
          else if (r.def.kind === 'bitmap') out.push({ supported_pids: supportedPids(r.pid, r.raw).map(hex2) });
          else if (r.def.kind === 'status') {
            const s = r.value as PidStatus;
            out.push({ mil: s.mil, dtc_count: s.dtc_count, ignition_type: s.ignition_type });
          } else {
            const o: DecodedObject = { pid: r.def.hex, name: r.def.name, value: r.value };
            if (r.def.unit) o.unit = r.def.unit;
            out.push(o);
          }
        }
      }
      break;
    case 0x03:
    case 0x07:
    case 0x0a: {
      const dtcs: string[] = [];
      for (const m of positive) for (const d of decodeDtcs(m)) if (!dtcs.includes(d)) dtcs.push(d);
      out.push({ dtcs });
      break;
    }
    case 0x09: {
      const pid = req.pids[0];
      if (isBitmapPid(pid)) {
        const p = vehicleInfoPayload(positive, pid);
        out.push({ supported_pids: p && p.length >= 4 ? supportedPids(pid, p).map(hex2) : [] });
      } else if (pid === 0x02) {
        const vin = decodeVin(positive);
        out.push(vin !== undefined ? { value: vin } : { error: 'UNEXPECTED_RESPONSE', raw: positive.map(hexOf) });
      } else {
        const p = vehicleInfoPayload(positive, pid) ?? new Uint8Array();
        // 04 calibration id, 0A ECU name: text; others (06 CVN, ...): hex.
        out.push(pid === 0x04 || pid === 0x0a ? { pid: hex2(pid), value: asciiField(p) } : { pid: hex2(pid), raw: hexOf(p) });
      }
      break;
    }
    default:
      for (const m of positive) out.push({ raw: hexOf(m) });
  }
  return out;
}

/**
 * Decodes what an adapter printed for `request`. Adapter error words become `{"error": CODE}`;
 * a response with no recognisable content throws USAGE.
 */
export function decodeAdapterResponse(request: string, response: string, framing: ElmFraming = 'auto'): DecodedObject[] {
  const req = parseRequest(request);
  const parsed = parseElmResponse(response, { request, framing });
  if (parsed.messages.length === 0) {
    if (parsed.error) return [{ error: parsed.error }];
    throw new EdgewiseError(
      'USAGE',
      parsed.unparsed.length
        ? `cannot read the response: ${parsed.unparsed.map((l) => JSON.stringify(l)).join(', ')}`
        : 'the response is empty',
    );
  }
  checkAnswers(req, parsed.messages);
  return decodeEcuMessages(req, parsed.messages);
}

/**
 * Throws USAGE when a positive response answers a different PID than `req` asked for
 * (`010C` answered by `41 0D ...`): decoding it as the other PID would print a wrong value.
 */
function checkAnswers(req: ObdRequest, messages: EcuMessage[]): void {
  const sid = (req.service + 0x40) & 0xff;
  const asked = new Set(req.pids);
  for (const m of messages) {
    if (m.data[0] !== sid || m.data.length < 2) continue;
    let answered: number[] = [];
    if (req.service === 0x01 || req.service === 0x02) answered = decodeCurrentData(m.data).map((r) => r.pid);
    else if (req.service === 0x09) answered = [m.data[1]];
    const wrong = answered.filter((p) => !asked.has(p));
    if (wrong.length > 0) {
      throw new EdgewiseError(
        'USAGE',
        `the response answers PID ${wrong.map(hex2).join(', ')}, not the requested ${req.pids.map(hex2).join(', ')} (request ${hexOf(req.bytes)})`,
      );
    }
  }
}

/** Groups messages by ECU and decodes each group; adds `ecu` when more than one ECU answered. */
export function decodeEcuMessages(req: ObdRequest, messages: EcuMessage[]): DecodedObject[] {
  const groups = new Map<string, Uint8Array[]>();
  for (const m of messages) {
    const key = m.ecu ?? '';
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(m.data);
  }
  // Without headers, each line is one ECU's answer unless the parts belong together (legacy VIN).
  if (groups.size === 1 && groups.has('') && req.service !== 0x09 && messages.length > 1) {
    const sid = (req.service + 0x40) & 0xff;
    const positives = messages.filter((m) => m.data[0] === sid);
    if (positives.length > 1 && (req.service === 0x01 || req.service === 0x02)) {
      // Several headerless answers: keep them apart, numbered in order of arrival.
      groups.clear();
      messages.forEach((m, i) => groups.set(`#${i + 1}`, [m.data]));
    }
  }
  const out: DecodedObject[] = [];
  const multi = groups.size > 1;
  const keys = [...groups.keys()].sort();
  for (const k of keys) {
    for (const o of decodeMessages(req, groups.get(k)!)) out.push(multi ? { ecu: k, ...o } : o);
  }
  return out;
}
