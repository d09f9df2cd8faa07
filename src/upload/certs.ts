/**
 * Development PKI for local brokers and tests: a CA, a server certificate for localhost/127.0.0.1
 * and client certificates whose CN is the thing name (what AWS IoT Core and our mosquitto ACLs use
 * as the identity). Generated with the `openssl` command line, EC P-256, no passphrases.
 *
 * Not for production: AWS IoT Core issues (or registers) the device certificates there.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EdgewiseError } from '../errors.js';

export interface CertPair {
  cert: string;
  key: string;
}

export interface DevPki {
  dir: string;
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** Client certificate (CN = thing) signed by this CA; created on first use, then reused. */
  certFor(thing: string): CertPair;
}

const OPENSSL_HELP =
  'openssl is required to create development certificates: install it (Debian/Ubuntu: `apt-get install openssl`, ' +
  'macOS: `brew install openssl`) or provide your own certificate files';

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new EdgewiseError('IO', OPENSSL_HELP, { command: 'openssl' }, { cause: err });
    throw new EdgewiseError(
      'IO',
      `openssl ${args[0]} failed: ${e.stderr?.toString().trim() || e.message}`,
      { command: `openssl ${args.join(' ')}`, dir: cwd },
      { cause: err },
    );
  }
}

/** True when the `openssl` command can be run. */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function serial(): string {
  // positive 63-bit serial; `-set_serial` avoids a shared serial file (safe with parallel issuing)
  const b = randomBytes(8);
  b[0] &= 0x7f;
  return '0x' + b.toString('hex');
}

const SAFE_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

function signedByCa(
  dir: string,
  caCrt: string,
  caKey: string,
  name: string,
  cn: string,
  ext: string,
  days: number,
): CertPair {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  if (existsSync(key) && existsSync(cert)) return { cert, key };
  const csr = path.join(dir, `${name}.csr`);
  const extFile = path.join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`],
    dir,
  );
  openssl(
    ['x509', '-req', '-in', csr, '-CA', caCrt, '-CAkey', caKey, '-set_serial', serial(), '-out', cert, '-days', String(days), '-extfile', extFile],
    dir,
  );
  rmSync(csr, { force: true });
  rmSync(extFile, { force: true });
  chmodSync(key, 0o600);
  return { cert, key };
}

/**
 * Create (or reuse, when the files exist) a development PKI in `dir`.
 * `serverNames` become DNS subjectAltNames of the server certificate (IP 127.0.0.1 and ::1 always).
 */
export function createDevPki(dir: string, opts: { caName?: string; serverNames?: string[]; days?: number } = {}): DevPki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const days = opts.days ?? 825;
  const caFile = path.join(dir, 'ca.crt');
  const caKeyFile = path.join(dir, 'ca.key');
  if (!existsSync(caFile) || !existsSync(caKeyFile)) {
    openssl(
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', caKeyFile, '-out', caFile, '-days', String(days * 2), '-subj', `/CN=${opts.caName ?? 'edgewise dev CA'}`,
      ],
      dir,
    );
    chmodSync(caKeyFile, 0o600);
  }
  const names = ['localhost', ...(opts.serverNames ?? [])];
  const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1', 'IP:::1'].join(',');
  const server = signedByCa(
    dir,
    caFile,
    caKeyFile,
    'server',
    names[0],
    `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyAgreement\n`,
    days,
  );
  const thingsDir = path.join(dir, 'things');
  mkdirSync(thingsDir, { recursive: true, mode: 0o700 });
  return {
    dir,
    caFile,
    caKeyFile,
    serverCertFile: server.cert,
    serverKeyFile: server.key,
    certFor(thing: string): CertPair {
      if (!SAFE_NAME.test(thing)) {
        throw new EdgewiseError('USAGE', `thing name ${JSON.stringify(thing)} must match ${SAFE_NAME.source}`, { thing });
      }
      return signedByCa(thingsDir, caFile, caKeyFile, thing, thing, 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n', days);
    },
  };
}
