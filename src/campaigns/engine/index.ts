/** The campaign engine: sample history, condition evaluation, collection events -> batches. */
export {
  CampaignEngine,
  type CampaignState,
  type CampaignStatus,
  type EngineOptions,
  type EngineSignal,
  type EngineStats,
  type TriggerEvent,
} from './engine.js';
export { MAX_RING_SAMPLES } from './buffers.js';
