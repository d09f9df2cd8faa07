/**
 * edgewise as a library: the public API, stage by stage in the order data flows
 * (sources -> decode -> campaigns -> batches -> store -> upload, control plane beside it).
 * Each stage's folder index.ts has more (for the CLI and tests); what is here is what a program
 * embedding edgewise needs and what semver covers. Development brokers, simulators and test PKI
 * are in `edgewise/dev` (src/dev.ts), never here.
 */

// Shared: errors, the hand-over types between stages, the one logger shape.
export { EdgewiseError, isEdgewiseError, type ErrorCode } from './errors.js';
export type * from './types.js';
export { partitionKey } from './types.js';
export { silentLogger, type Logger } from './log.js';
export { VERSION } from './version.js';

// DBC files and compiled decoders.
export { parseDbc, loadDbcFile } from './dbc/index.js';
export type { DbcDatabase, DbcMessage, DbcSignal } from './dbc/index.js';
export { compileDatabase, compileMessage, decodeToObject, encodeMessage } from './decode/index.js';
export type { DecoderTable, CompiledMessage, DecodeOutput } from './decode/index.js';

// Frame sources: SocketCAN and candump logs.
export { SocketCanSource, SocketCanWriter, newCanFrame, copyCanFrame } from './can/index.js';
export type { SocketCanOptions, SocketCanEvent } from './can/index.js';
export { LogSource, readCandump, parseCandumpLine, formatCandumpLine } from './sources/index.js';
export type { LogSourceOptions, CandumpStats, CandumpOptions, CandumpInput } from './sources/index.js';

// The decoder manifest.
export { parseManifest, loadManifest, bindManifest, manifestDecoders, manifestFromDbc } from './manifest/index.js';
export type { Manifest, ManifestInput, ManifestSignal, ManifestBinding } from './manifest/index.js';

// OBD-II.
export { ObdSource, ObdPoller, ElmTransport, IsoTpTransport, Elm327, PIDS, decodeCurrentData, decodeDtcs } from './obd/index.js';
export type { ObdTransport, PollSignal, PollerOptions } from './obd/index.js';

// Campaigns: documents, validation, the engine.
export { parseCampaign, loadCampaignFile, validateCampaign, validateCampaignDocument, campaignSchema, CampaignEngine } from './campaigns/index.js';
export type { Campaign, CampaignInput, CampaignCheck, Problem } from './campaigns/index.js';
export { simulateCampaigns, simulationToJson } from './simulate/index.js';
export type { SimulateOptions, SimulationResult } from './simulate/index.js';

// Batches, the store, upload.
export { encodeBatch, decodeBatch, batchToRows } from './batches/index.js';
export { PartitionGates, partitionLimits, splitByPartition } from './partitions/index.js';
export type { EncodeOptions, DecodedBatch, BatchRow } from './batches/index.js';
export { BatchStore, type StoreOptions, type StoreStats } from './store/index.js';
export { MqttConnection, Uploader, compileTopicTemplate } from './upload/index.js';
export type { ConnectionOptions, ConnectionFailure, UploaderOptions, UploaderStats } from './upload/index.js';

// Control plane: shadow, jobs, OTA.
export { ControlPlane, ShadowSync, JobsRunner, OtaUpdater, otaBootCheck, RESTART_EXIT_CODE } from './control/index.js';
export type { AgentControl, AgentStatus, RuntimeSettings, CampaignChange, ControlPlaneOptions, OtaOptions } from './control/index.js';

// The daemon that wires all of it, and its one configuration file.
export { Daemon, loadConfig, parseConfig, configSchema, type DaemonOptions, type DaemonConfig } from './daemon/index.js';
