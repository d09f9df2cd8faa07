import path from 'node:path';
import type { Command } from 'commander';
import { EdgewiseError } from '../../errors.js';
import { ClaimSession } from '../../provision/index.js';
import { provision, type KeyType } from '../../provision/index.js';

function param(v: string, acc: Record<string, string>): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new EdgewiseError('USAGE', `--param ${JSON.stringify(v)} must be KEY=VALUE`, {});
  acc[v.slice(0, i)] = v.slice(i + 1);
  return acc;
}

/**
 * Fault injection for the crash-safety tests: EDGEWISE_PROVISION_KILL_AT=<step> makes the process
 * SIGKILL itself right after that durable step (key, certificate, registered, committed).
 */
function crashHook(): ((step: string) => void) | undefined {
  const at = process.env.EDGEWISE_PROVISION_KILL_AT;
  if (!at) return undefined;
  return (step) => {
    if (step === at) process.kill(process.pid, 'SIGKILL');
  };
}

export function register(program: Command): void {
  program
    .command('provision')
    .description('Fleet provisioning by claim: make a key on this device, get its certificate and register the thing')
    .requiredOption('--claim-cert <file>', 'claim certificate (PEM)')
    .requiredOption('--claim-key <file>', 'claim private key (PEM)')
    .requiredOption('--template <name>', 'provisioning template name')
    .option('--param <K=V>', 'template parameter (repeatable), e.g. SerialNumber=VIN123', param, {})
    .requiredOption('--endpoint <host[:port]>', 'AWS IoT data endpoint (xxxx-ats.iot.<region>.amazonaws.com)')
    .option('--ca <file>', 'CA bundle for the endpoint (Amazon Root CA 1)')
    .option('--dir <dir>', 'where the device identity is written (next to the config)', '/etc/edgewise')
    .option('--key-type <type>', 'ec-p256 or rsa-2048', 'ec-p256')
    .option('--create-keys', 'use CreateKeysAndCertificate (key made by AWS) instead of a CSR')
    .option('--timeout <seconds>', 'connect and reply timeout', '30')
    .action(async (o) => {
      const [host, port] = String(o.endpoint).split(':');
      if (o.keyType !== 'ec-p256' && o.keyType !== 'rsa-2048') throw new EdgewiseError('USAGE', `--key-type ${o.keyType}: use ec-p256 or rsa-2048`, {});
      const session = await ClaimSession.open({
        host,
        port: port ? Number(port) : undefined,
        certFile: o.claimCert,
        keyFile: o.claimKey,
        caFile: o.ca,
        timeoutMs: Number(o.timeout) * 1000,
      });
      try {
        const id = await provision(session, {
          dir: path.resolve(o.dir),
          template: o.template,
          parameters: o.param,
          keyType: o.keyType as KeyType,
          createKeys: Boolean(o.createKeys),
          onStep: crashHook(),
        });
        process.stdout.write(`provisioned ${id.thingName} (certificate ${id.certificateId}): ${id.certFile}\n`);
      } finally {
        await session.close();
      }
    });
}
