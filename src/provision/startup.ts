/**
 * The daemon's start-up provisioning step: when the config has `provisioning` and no identity
 * has been committed yet, provision by claim; then run with the identity (thing name = vehicle
 * name, device certificate and key for the upload connection).
 */
import { rmSync } from 'node:fs';
import type { DaemonConfig } from '../daemon/index.js';
import { ClaimSession } from './fleet.js';
import { provision, readIdentity, type Identity } from './identity.js';

interface StartupLogger {
  info(obj: object, msg?: string): void;
}

export function withIdentity(cfg: DaemonConfig, id: Identity): DaemonConfig {
  return { ...cfg, vehicle: { ...cfg.vehicle, name: id.thingName }, upload: { ...cfg.upload, certFile: id.certFile, keyFile: id.keyFile } };
}

export async function ensureProvisioned(cfg: DaemonConfig, logger: StartupLogger, onStep?: (step: string) => void): Promise<DaemonConfig> {
  const p = cfg.provisioning;
  if (!p) return cfg;
  const existing = readIdentity(p.dir);
  if (existing) return withIdentity(cfg, existing);
  logger.info({ template: p.template, endpoint: cfg.upload.endpoint }, 'no device identity yet: provisioning by claim');
  const session = await ClaimSession.open({
    host: cfg.upload.endpoint,
    port: cfg.upload.port,
    certFile: p.claimCertFile,
    keyFile: p.claimKeyFile,
    caFile: cfg.upload.caFile,
    timeoutMs: p.timeoutSeconds * 1000,
  });
  let id: Identity;
  try {
    id = await provision(session, { dir: p.dir, template: p.template, parameters: p.parameters, keyType: p.keyType, createKeys: p.createKeys, onStep });
  } finally {
    await session.close();
  }
  logger.info({ thing: id.thingName, certificateId: id.certificateId }, 'provisioned');
  if (p.deleteClaim) {
    rmSync(p.claimCertFile, { force: true });
    rmSync(p.claimKeyFile, { force: true });
  }
  return withIdentity(cfg, id);
}
