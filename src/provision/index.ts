/**
 * Fleet provisioning by claim: a claim certificate gets the device its own identity (key, CSR,
 * certificate, thing) before the daemon starts. Above the daemon's config, used by `edgewise run`
 * and `edgewise provision`.
 */
export { ClaimSession, provisioningTopics, type ClaimConnectionOptions, type CertificateResponse, type RegisterThingResponse, type ProvisioningError } from './fleet.js';
export { provision, readIdentity, identityFiles, generateKeyPem, makeCsr, type KeyType, type Identity, type ProvisionOptions } from './identity.js';
export { ensureProvisioned, withIdentity } from './startup.js';
