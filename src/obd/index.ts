/** OBD-II: J1979 decoding, ELM327 and ISO-TP transports, the poller, simulators. */
export { PIDS, pidDef, hex2, isBitmapPid, supportedFromBitmap, bitmapFor, encodePid, FUEL_TYPES } from './pids.js';
export type { PidDef, PidValue, PidStatus } from './pids.js';
export {
  parseRequest,
  decodeCurrentData,
  decodeDtcs,
  dtcText,
  decodeVin,
  asciiField,
  vehicleInfoPayload,
  negativeResponse,
  supportedPids,
  NRC_NAMES,
  DTC_SERVICES,
} from './services.js';
export type { ObdRequest, PidReading } from './services.js';
export { parseElmResponse, elmLines, elmErrorCode } from './elm-response.js';
export type { EcuMessage, ElmErrorCode, ElmFraming, ParsedElmResponse, ParseElmOptions } from './elm-response.js';
export { decodeAdapterResponse, decodeMessages, decodeEcuMessages } from './decode.js';
export type { DecodedObject } from './decode.js';
export {
  IsoTpChannel,
  ObdIsoTpClient,
  isObdResponseId,
  physicalRequestId,
  formatCanId,
  stMinMs,
  ISOTP_MAX,
  OBD_FUNCTIONAL_11,
  OBD_FUNCTIONAL_29,
} from './isotp.js';
export type { CanPort, CanTxFrame, CanRxFrame, IsoTpOptions, IsoTpChannelOptions, ObdAddressing, ObdIsoTpOptions, IsoTpResponse } from './isotp.js';
export { Elm327, openElmStream, framingOf } from './elm327.js';
export type { ElmOptions, ElmInfo, ElmAnswer } from './elm327.js';
export { ElmTransport, IsoTpTransport } from './transport.js';
export type { ObdTransport, ObdAnswer, ElmTransportOptions, IsoTpTransportOptions } from './transport.js';
export { ObdPoller } from './poller.js';
export type { PollSignal, PollerOptions, PollerState } from './poller.js';
export { parseSimTable, simTableSchema, simEcus, DEMO_SIM_TABLE, dtcBytes } from './simulator/table.js';
export type { SimTable, SimTableInput, SimEcu } from './simulator/table.js';
export { ecuResponse } from './simulator/ecu.js';
export { Elm327Session, serveElm327, startElmSimulator } from './simulator/elm327.js';
export type { ElmSimulator, ElmSimulatorOptions } from './simulator/elm327.js';
export { startIsoTpEcus, VirtualCanBus } from './simulator/isotp-ecu.js';
export type { IsoTpEcuSimulator } from './simulator/isotp-ecu.js';
export { openSocketCanPort } from './socketcan-port.js';
export { ObdSource, obdSignalsFor, type ObdSourceOptions } from './source.js';
export { obdSourceSchema, DTC_SERVICE_BY_NAME, type ObdSourceConfig } from './config.js';
