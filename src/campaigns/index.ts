/** Campaigns: the document model (zod), the decoder manifest, the expression language, the engine, simulation. */
export {
  campaignSchema,
  parseCampaign,
  loadCampaignFile,
  checkCampaignDocument,
  validateCampaign,
  validateCampaignDocument,
  campaignSignalNames,
  expandSignalPattern,
  closestNames,
  editDistance,
  formatPath,
  parsePath,
  parseSourceText,
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
  Problem,
  SignalCatalog,
  CampaignRefs,
  SourceDocument,
} from './model.js';
export { parseManifest, loadManifest, bindManifest, manifestDecoders, manifestFromDbc, SIGNAL_TYPES } from './manifest.js';
export type {
  Manifest,
  ManifestInput,
  ManifestSignal,
  ManifestBinding,
  ManifestSeed,
  CanRoute,
  SampleSink,
  BindOptions,
} from './manifest.js';
export * from './expression/index.js';
export * from './engine/index.js';
export { simulateCampaigns, simulationToJson } from './simulate.js';
export type {
  SimulateOptions,
  SimulationResult,
  SimulationProgress,
  CampaignSimulation,
  SimulatedTrigger,
  SimulatedBatch,
  SignalTrace,
  SimulationJson,
} from './simulate.js';
export { renderSimulationReport, reportSignals, thinSeries } from './simulate-report.js';
export type { ReportOptions } from './simulate-report.js';
