/** Control plane: device shadow, IoT Jobs (campaign deploy, upload, OTA) and self-update with rollback. */
export type { AgentControl, AgentStatus, RuntimeSettings, CampaignChange, DeepPartial } from './agent.js';
export { ControlPlane, type ControlPlaneOptions, type ControlConnection } from './plane.js';
export { ShadowSync, type ShadowSyncOptions, type SettingsError } from './shadow/sync.js';
export { SettingsPatchSchema, buildReported, mergePatch, type ReportedDocument } from './shadow/document.js';
export { JobsRunner, sanitizeDetails, type JobsRunnerOptions, type JobOutcome } from './jobs/runner.js';
export {
  JobDocumentSchema,
  OtaDocSchema,
  UploadDocSchema,
  CampaignDeployDocSchema,
  parseJobDocument,
  type JobDocument,
  type OtaDoc,
  type UploadDoc,
  type CampaignDeployDoc,
} from './jobs/documents.js';
export {
  OtaUpdater,
  otaBootCheck,
  readOtaState,
  RESTART_EXIT_CODE,
  type OtaOptions,
  type OtaPhase,
  type OtaState,
  type OtaOutcome,
  type BootCheckOptions,
  type BootCheckResult,
} from './ota/updater.js';
export { layout as otaLayout, currentVersion, switchCurrent, readReleaseManifest, listReleases, ReleaseManifestSchema, type ReleaseManifest } from './ota/layout.js';
export { extractTarGz, safeEntryPath, type ExtractLimits, type ExtractResult } from './ota/tar.js';
export { verifyArtifact, loadTrustedKeys, type TrustedKey } from './ota/verify.js';
export { ConnectionWatch } from './link.js';
export { startCommands, commandsConfigSchema, type CommandsStage, type CommandsConfig, type CanWriter } from './commands/index.js';
export { compareVersions, isVersion } from './semver.js';
