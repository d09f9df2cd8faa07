/** DBC files -> `DbcDatabase` (model + parser). */
export type {
  ByteOrder,
  SignalValueType,
  AttributeValue,
  MuxRange,
  DbcSignal,
  DbcMessage,
  DbcSignalGroup,
  DbcNode,
  AttributeObjectType,
  AttributeValueType,
  DbcAttributeDefinition,
  DbcRelationAttribute,
  DbcEnvironmentVariable,
  DbcDatabase,
} from './model.js';
export { parseDbc, loadDbcFile, decodeCp1252 } from './parser.js';
