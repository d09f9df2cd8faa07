/**
 * The decoder manifest: which signal comes from which DBC message on which interface, its type,
 * and the binding that routes frames to the decoders the campaigns need. Below campaigns/ and
 * obd/ (both read it), above dbc/ and decode/.
 */
export { parseManifest, loadManifest, bindManifest, manifestDecoders, manifestFromDbc, SIGNAL_TYPES } from './manifest.js';
export type {
  Manifest,
  ManifestInput,
  ManifestSignal,
  ManifestBinding,
  ManifestSeed,
  CanRoute,
  BindOptions,
} from './manifest.js';
