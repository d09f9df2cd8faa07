/**
 * The daemon's one configuration file (YAML or JSON), validated with zod. Every default lives
 * here and nowhere else; `edgewise config check` prints the effective result. Relative paths
 * resolve against the directory of the config file.
 */
import { commandsConfigSchema } from '../control/commands/config.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { parse as parseYaml } from 'yaml';
import { EdgewiseError } from '../errors.js';
import { obdSourceSchema } from '../sources/obd-config.js';
import { socketcanSourceSchema } from '../sources/socketcan-config.js';

const MiB = 1024 * 1024;

/** Prometheus metrics (see metrics.ts). */
export const metricsConfigSchema = z
  .strictObject({
    /** Serve Prometheus metrics at http://host:port/metrics. Default false. */
    enabled: z.boolean().default(false),
    /** Listen address. Keep it on loopback unless a firewall guards the port. Default 127.0.0.1. */
    host: z.string().min(1).default('127.0.0.1'),
    /** TCP port (9469 is unassigned in Prometheus' default port list). Default 9469. */
    port: z.number().int().min(0).max(65535).default(9469),
  })
  .prefault({});


const logSource = z.strictObject({
  type: z.literal('log'),
  /** candump -L/-l file, plain or gzip. */
  path: z.string().min(1),
  /** Interface rename, e.g. `{ can0: vcan0 }`: frames of `can0` in the log arrive as `vcan0`. Default: none. */
  map: z.record(z.string(), z.string()).default({}),
  /** Playback speed: 1 = original timing, N = N times faster, `max` = as fast as possible. Default 1. */
  speed: z.union([z.literal('max'), z.number().positive()]).default(1),
  /** Start again at the end (timestamps keep increasing). Default false. */
  loop: z.boolean().default(false),
  /**
   * Shift timestamps so the log plays as if recorded now (keeps campaign start/expiry meaningful).
   * Default true.
   */
  rebaseTime: z.boolean().default(true),
});

/** Add a source type: a schema here, a case in `createSource` (sources.ts). */
export const sourceSchema = z.discriminatedUnion('type', [logSource, obdSourceSchema, socketcanSourceSchema]);

export const configSchema = z.strictObject({
  vehicle: z.strictObject({
    /** Thing name in AWS IoT: MQTT client id, topic `{thing}`, batch header. */
    name: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[a-zA-Z0-9:_-]+$/, 'must be an AWS IoT thing name: letters, digits, ":", "_" and "-"'),
  }),
  /** Decoder manifest (signal names -> DBC/OBD sources). */
  manifest: z.string().min(1),
  campaigns: z
    .strictObject({
      /** Directory of campaign files (`*.json`, `*.yaml`, `*.yml`). */
      dir: z.string().min(1),
    })
    .prefault({ dir: 'campaigns' }),
  /** Where frames come from. At least one. */
  sources: z.array(sourceSchema).min(1, 'needs at least one source'),
  store: z
    .strictObject({
      /** LevelDB directory. Default `var/store` (systemd: `/var/lib/edgewise/store`). */
      dir: z.string().default('var/store'),
      /** Cap on stored batch bytes; beyond it the least important, then oldest batches are evicted. Default 256 MiB. */
      maxBytes: z.number().int().positive().default(256 * MiB),
    })
    .prefault({}),
  upload: z
    .strictObject({
      /** Upload at all (false = store only). Default true. */
      enabled: z.boolean().default(true),
      /**
       * Broker: an AWS IoT Core ATS endpoint (`xxxx-ats.iot.<region>.amazonaws.com`), or `local`
       * to start a development broker with generated certificates (needs `mosquitto` on PATH).
       */
      endpoint: z.string().min(1).default('local'),
      /** Default 8883. */
      port: z.number().int().min(1).max(65535).default(8883),
      /** PEM files for mTLS (ignored with `endpoint: local`). */
      caFile: z.string().optional(),
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
      /**
       * Topic template for batches; `{thing}`, `{campaign}`, `{partition}` are replaced. Use
       * `$aws/rules/<rule>/...` for IoT Core Basic Ingest. Default `edgewise/{thing}/batches/{campaign}`.
       */
      topic: z.string().default('edgewise/{thing}/batches/{campaign}'),
      /** Retained online/offline status (also the MQTT will). Default `edgewise/{thing}/status`. */
      statusTopic: z.string().default('edgewise/{thing}/status'),
      /** IoT Core allows 100 publishes/s per connection. Default 100. */
      maxPublishesPerSecond: z.number().positive().default(100),
      /** IoT Core allows 512 KiB/s per connection. Default 524288. */
      maxBytesPerSecond: z.number().positive().default(512 * 1024),
      /** Batches in flight at once. Default 8. */
      maxInFlight: z.number().int().min(1).max(100).default(8),
      /** MQTT keep-alive; loss is detected within ~1.5x. Default 30 (IoT Core's minimum). */
      keepAliveSeconds: z.number().int().min(5).max(1200).default(30),
      /** Largest MQTT payload; IoT Core's limit is 128 KiB. Default 131072. */
      maxPayloadBytes: z.number().int().min(1024).max(131072).default(131072),
      /** Directory for the generated development broker and certificates. Default `var/dev-broker`. */
      localBrokerDir: z.string().default('var/dev-broker'),
    })
    .prefault({}),
  log: z
    .strictObject({
      /** pino level: fatal, error, warn, info, debug, trace. Default info. */
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    })
    .prefault({}),
  /** Device shadow + IoT Jobs over the upload connection (needs MQTT 5, i.e. not the embedded aedes broker). */
  control: z
    .strictObject({
      /** Follow the shadow and run jobs. Default true (only when upload is enabled). */
      enabled: z.boolean().default(true),
      /** Named shadow to use; the classic (unnamed) shadow when absent. */
      shadowName: z
        .string()
        .regex(/^[a-zA-Z0-9:_-]{1,64}$/, 'must be a shadow name: 1-64 letters, digits, ":", "_" or "-"')
        .optional(),
      /** Job state (for resume after a restart). Default `var/control` (systemd: /var/lib/edgewise/control). */
      stateDir: z.string().default('var/control'),
      ota: z
        .strictObject({
          /** Accept `ota` jobs (self-update). Default false: such jobs are REJECTED. */
          enabled: z.boolean().default(false),
          /** Install root with releases/, current and ota/. Default /opt/edgewise. */
          root: z.string().default('/opt/edgewise'),
          /** Trusted release-signing public keys (`<keyId>.pem`). Default /etc/edgewise/ota-keys. */
          trustedKeysDir: z.string().default('/etc/edgewise/ota-keys'),
          /** Boots a new version gets to prove healthy before it is rolled back. Default 3. */
          maxBootAttempts: z.number().int().min(1).max(10).default(3),
          /** Time per boot to become healthy (connected, subscribed, data flowing). Default 180. */
          healthDeadlineSeconds: z.number().int().min(10).max(3600).default(180),
        })
        .prefault({}),
    })
    .prefault({}),
  memory: z
    .strictObject({
      /**
       * Seconds between full garbage collections; 0 turns them off. Default 60. V8 lets a few MB
       * of dead objects pile up in its old generation before it collects on its own; collecting
       * on a timer (like the JVM's G1PeriodicGCInterval) keeps the RSS of a long-running agent
       * at its live heap. One collection of the ~20 MB heap takes ~10 ms.
       */
      gcIntervalSeconds: z.number().int().min(0).max(86_400).default(60),
    })
    .prefault({}),
  /** AWS IoT commands: actuators (allow-listed DBC signals), OBD requests. See docs/commands.md. */
  commands: commandsConfigSchema,
  /** Prometheus metrics on a local port; off by default. */
  metrics: metricsConfigSchema,
  /** Status socket for `edgewise status` (a unix socket path). Default `var/edgewise.sock`. */
  statusSocket: z.string().default('var/edgewise.sock'),
});

export type DaemonConfig = z.output<typeof configSchema>;
export type SourceConfig = z.output<typeof sourceSchema>;

function formatIssues(error: z.ZodError, file: string): string {
  return error.issues
    .map((i) => {
      const p = i.path.length ? i.path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${String(s)}`)).join('').replace(/^\./, '') : '(root)';
      return `${file}: ${p}: ${i.message}`;
    })
    .join('\n');
}

/** Resolve every path in the config against `baseDir`. */
function resolvePaths(cfg: DaemonConfig, baseDir: string): DaemonConfig {
  const r = (p: string): string => (path.isAbsolute(p) ? p : path.resolve(baseDir, p));
  const ro = (p: string | undefined): string | undefined => (p === undefined ? undefined : r(p));
  return {
    ...cfg,
    manifest: r(cfg.manifest),
    campaigns: { dir: r(cfg.campaigns.dir) },
    sources: cfg.sources.map((s) => (s.type === 'log' ? { ...s, path: s.path === '-' ? s.path : r(s.path) } : s)),
    store: { ...cfg.store, dir: r(cfg.store.dir) },
    upload: {
      ...cfg.upload,
      caFile: ro(cfg.upload.caFile),
      certFile: ro(cfg.upload.certFile),
      keyFile: ro(cfg.upload.keyFile),
      localBrokerDir: r(cfg.upload.localBrokerDir),
    },
    statusSocket: r(cfg.statusSocket),
    control: {
      ...cfg.control,
      stateDir: r(cfg.control.stateDir),
      ota: { ...cfg.control.ota, root: r(cfg.control.ota.root), trustedKeysDir: r(cfg.control.ota.trustedKeysDir) },
    },
  };
}

/** Validate a parsed config object; throws CONFIG_INVALID naming every problem with its path. */
export function parseConfig(input: unknown, file = '<config>', baseDir = process.cwd()): DaemonConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new EdgewiseError('CONFIG_INVALID', `invalid configuration:\n${formatIssues(result.error, file)}`, { file });
  }
  const cfg = result.data;
  if (cfg.upload.enabled && cfg.upload.endpoint !== 'local') {
    const missing = (['caFile', 'certFile', 'keyFile'] as const).filter((k) => !cfg.upload[k]);
    if (missing.length) {
      throw new EdgewiseError(
        'CONFIG_INVALID',
        `invalid configuration:\n${file}: upload: ${missing.join(', ')} required for endpoint ${cfg.upload.endpoint} (mTLS)`,
        { file },
      );
    }
  }
  return resolvePaths(cfg, baseDir);
}

/** Read and validate a YAML or JSON config file. */
export function loadConfig(file: string): DaemonConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EdgewiseError('IO', `cannot read config ${file}: ${(e as Error).message}`, { file });
  }
  let data: unknown;
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new EdgewiseError('CONFIG_INVALID', `${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`, {
      file,
    });
  }
  return parseConfig(data, file, path.dirname(path.resolve(file)));
}
