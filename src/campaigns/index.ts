/** Campaigns: the document model (zod) and its validation, the expression language, the engine. */
export {
  campaignSchema,
  parseCampaign,
  loadCampaignFile,
  checkCampaignDocument,
  validateCampaign,
  validateCampaignDocument,
  campaignSignalNames,
  expandSignalPattern,
  IGNORED_FLEETWISE_FIELDS,
  MAX_EXPIRY_MS,
  FLEETWISE_MIN_PERIOD_MS,
  DEFAULT_MAX_SAMPLE_COUNT,
  DEFAULT_PARTITION_ID,
} from './model.js';
export type {
  Campaign,
  CampaignInput,
  CampaignCheck,
  CollectionScheme,
  TimeBasedCollectionScheme,
  ConditionBasedCollectionScheme,
  SignalToCollect,
  DataPartition,
  SignalCatalog,
  CampaignRefs,
} from './model.js';
export { importFleetwise, dbcStartBit, type FleetwiseImport } from './fleetwise-import.js';
export * from './expression/index.js';
export * from './engine/index.js';
// The document helpers campaign validation reports with (defined in documents/).
export { closestNames, editDistance, formatPath, parsePath, parseSourceText, type Problem, type SourceDocument } from '../documents/index.js';
