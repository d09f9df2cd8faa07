/**
 * Runs a local mosquitto (Debian package `mosquitto`, 2.x) as a child process with the same rules as
 * AWS IoT Core uses for devices: mutual TLS, the certificate CN is the identity (thing name), and
 * per-thing topic ACLs. Used by the test harness, the upload bench and `--local-broker mosquitto`
 * style development setups. MQTT 5 capable (unlike the embedded aedes broker).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { EdgewiseError } from '../errors.js';
import { createDevPki, type DevPki } from './certs.js';

export interface MosquittoOptions {
  /** Working directory: PKI, config, ACL file. */
  dir: string;
  /** Port on 127.0.0.1; a free one is picked when absent. */
  port?: number;
  /** Existing PKI (else one is created in `dir/pki`). */
  pki?: DevPki;
  /** Identities (certificate CNs) that may read and write every topic, e.g. a test observer. */
  superUsers?: string[];
  /** Give every identity its own topic trees by `pattern` lines (default true); false = only explicit `user` blocks. */
  thingPatterns?: boolean;
  /** Extra lines appended to the ACL file. */
  aclExtra?: string[];
  /** Executable (default `mosquitto` on PATH, or `/usr/sbin/mosquitto`). */
  executable?: string;
  /** Largest MQTT packet the broker accepts (advertised in CONNACK); e.g. 131072 + headers to mimic IoT Core. */
  maxPacketSize?: number;
  /** Keep sessions/retained messages across restarts in `dir` (default off). */
  persistence?: boolean;
}

export interface MosquittoBroker {
  host: 'localhost';
  port: number;
  pki: DevPki;
  caFile: string;
  /** Collected stderr of the broker (for diagnostics). */
  log(): string;
  running(): boolean;
  /** Start again on the same port (after stop/kill). */
  start(): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit (no clean shutdown). */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Rewrite the ACL file with these extra lines and make the running broker re-read it (SIGHUP). */
  reloadAcl(extra: string[]): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The ACL rules: every thing may use its own topic trees (the IoT policy we document for AWS). */
export function thingAclLines(): string[] {
  return [
    'pattern readwrite edgewise/%u/#',
    'pattern readwrite $aws/things/%u/#',
    'pattern write $aws/rules/#',
    'pattern readwrite $aws/iotfleetwise/vehicles/%u/#',
    'pattern readwrite $aws/commands/things/%u/#',
  ];
}

export async function startMosquitto(opts: MosquittoOptions): Promise<MosquittoBroker> {
  const pki = opts.pki ?? createDevPki(path.join(opts.dir, 'pki'));
  let port = opts.port ?? (await freePort());
  const aclFile = path.join(opts.dir, 'acl');
  const writeAcl = (extra: string[]): void => {
    const acl = opts.thingPatterns === false ? [] : [...thingAclLines()];
    for (const u of opts.superUsers ?? []) acl.push(`user ${u}`, 'topic readwrite #', 'topic readwrite $aws/#', 'topic read $SYS/#');
    acl.push(...extra);
    writeFileSync(aclFile, acl.join('\n') + '\n');
  };
  writeAcl(opts.aclExtra ?? []);
  const confFile = path.join(opts.dir, 'mosquitto.conf');
  const writeConf = (): void => {
    const conf = [
      // Started as root, mosquitto drops to user `mosquitto` before reading the key files and then
      // cannot read our 0600 root-owned keys: stay root in that case (it prints a warning).
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'per_listener_settings false',
      'allow_anonymous false',
      ...(opts.persistence ? ['persistence true', `persistence_location ${opts.dir}/`, 'autosave_interval 0'] : ['persistence false']),
      ...(opts.maxPacketSize ? [`max_packet_size ${opts.maxPacketSize}`] : []),
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information', // "Reloading config." (reloadAcl waits for it)
      'connection_messages true',
      'max_inflight_messages 100',
      'max_queued_messages 100000',
      `acl_file ${aclFile}`,
      `listener ${port} 127.0.0.1`,
      `cafile ${pki.caFile}`,
      `certfile ${pki.serverCertFile}`,
      `keyfile ${pki.serverKeyFile}`,
      'require_certificate true',
      'use_identity_as_username true',
      'tls_version tlsv1.2',
      'set_tcp_nodelay true',
    ];
    writeFileSync(confFile, conf.join('\n') + '\n');
  };
  writeConf();

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let log = '';

  const start = async (): Promise<void> => {
    if (child) return;
    const exe = opts.executable ?? 'mosquitto';
    const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/usr/local/sbin` };
    const c = spawn(exe, ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'], env });
    child = c;
    // do not leave a broker behind when this process exits normally
    const reap = (): void => {
      c.kill('SIGKILL');
    };
    process.once('exit', reap);
    c.once('exit', () => process.removeListener('exit', reap));
    let exitInfo: string | undefined;
    exited = new Promise((resolve) => {
      c.once('exit', (code, signal) => {
        exitInfo = `exit code ${code ?? ''} signal ${signal ?? ''}`;
        if (child === c) child = undefined;
        resolve();
      });
    });
    const spawnErr = new Promise<Error>((resolve) => c.once('error', resolve));
    c.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.length > 200_000) log = log.slice(-100_000);
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const err = await Promise.race([spawnErr, new Promise<undefined>((r) => setTimeout(r, 25, undefined))]);
      if (err) {
        child = undefined;
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        throw new EdgewiseError(
          'IO',
          missing ? 'mosquitto is not installed (Debian/Ubuntu: `apt-get install mosquitto`)' : `cannot start mosquitto: ${err.message}`,
          { executable: exe },
          { cause: err },
        );
      }
      if (exitInfo) throw new EdgewiseError('IO', `mosquitto exited during start (${exitInfo}): ${log.trim()}`, { confFile });
      if (await canConnect(port)) return;
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new EdgewiseError('IO', `mosquitto did not listen on port ${port} within 10 s: ${log.trim()}`, { confFile });
      }
    }
  };

  const signalAndWait = async (sig: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c) return;
    c.kill(sig);
    await exited;
  };

  // a port picked by freePort() can be taken by someone else before mosquitto binds it: try another
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (e) {
      if (opts.port !== undefined || attempt >= 3 || !/exited during start/.test((e as Error).message)) throw e;
      port = await freePort();
      writeConf();
    }
  }
  return {
    host: 'localhost',
    port,
    pki,
    caFile: pki.caFile,
    log: () => log,
    running: () => child !== undefined,
    start,
    stop: () => signalAndWait('SIGTERM'),
    kill: () => signalAndWait('SIGKILL'),
    reloadAcl: async (extra) => {
      writeAcl(extra);
      if (!child) return;
      const before = log.length;
      child.kill('SIGHUP');
      // mosquitto logs "Reloading config." once it has re-read the files
      for (let i = 0; !/Reloading config/.test(log.slice(before)); i++) {
        if (i >= 500) throw new EdgewiseError('IO', 'mosquitto did not reload its configuration within 5 s after SIGHUP', { aclFile });
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    restart: async () => {
      await signalAndWait('SIGTERM');
      await start();
    },
  };
}
