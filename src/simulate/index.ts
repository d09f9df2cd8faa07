/**
 * Simulation (`edgewise campaign simulate`): its own stage that composes the others — a candump
 * log through the manifest's decoders into the campaign engine and the batch encoder — with no
 * store, broker or daemon. Nothing below it imports it.
 */
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
export { renderSimulationReport, reportSignals, thinSeries } from './report.js';
export type { ReportOptions } from './report.js';
