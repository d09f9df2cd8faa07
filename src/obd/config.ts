/**
 * Config of an `obd` source (one entry of the daemon's `sources`), validated with zod.
 *
 * ```yaml
 * sources:
 *   - type: obd
 *     transport: elm327            # or isotp (SocketCAN)
 *     port: /dev/ttyUSB0           # serial device, /dev/rfcomm0, or tcp://192.168.0.10:35000
 *     intervalMs: 1000             # default per PID
 *     pids: { "0C": 100, "0D": { intervalMs: 200, ecu: 7E8 } }
 *     dtcs: { enabled: true, intervalMs: 10000, services: [stored, pending] }
 * ```
 */
import * as z from 'zod';

const pidKey = z.string().regex(/^(0x)?[0-9A-Fa-f]{1,2}$/, 'must be a service 01 PID in hex, like "0C"');

const pidSetting = z.union([
  z.number().int().min(10, 'must be at least 10 ms'),
  z.strictObject({
    /** Poll interval in ms (below 1000 allowed). */
    intervalMs: z.number().int().min(10, 'must be at least 10 ms').optional(),
    /** ECU whose answer feeds the signal when several answer (`7E8`, `7E9`, `18DAF110`). Default: the lowest id supporting the PID. */
    ecu: z.string().regex(/^([0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})$/, 'must be a CAN id like 7E8 or 18DAF110').optional(),
  }),
]);

export const DTC_SERVICE_BY_NAME = { stored: 0x03, pending: 0x07, permanent: 0x0a } as const;

export const obdSourceSchema = z
  .strictObject({
    type: z.literal('obd'),
    /** Source name in status and logs. Default `obd`. */
    name: z.string().min(1).default('obd'),
    /**
     * Serves the manifest signals whose `obd.interface` equals this (and those without one).
     * Default: all OBD signals.
     */
    interface: z.string().min(1).optional(),
    /** `elm327`: an ELM327 adapter (serial or TCP). `isotp`: OBD over ISO-TP on a SocketCAN interface. Default elm327. */
    transport: z.enum(['elm327', 'isotp']).default('elm327'),
    /** ELM327: serial device (`/dev/ttyUSB0`, `/dev/rfcomm0`) or `tcp://host:port` (Wi-Fi adapters). */
    port: z.string().min(1).optional(),
    /** ELM327 serial speed. Default 38400. */
    baudRate: z.number().int().positive().default(38400),
    /** ELM327 protocol: `auto` or the ELM number (6 = CAN 11-bit 500k, 7 = CAN 29-bit 500k, ...). Default auto. */
    protocol: z.union([z.literal('auto'), z.number().int().min(1).max(12)]).default('auto'),
    /** ISO-TP: the SocketCAN interface (`can0`, `vcan0`). */
    canInterface: z.string().min(1).optional(),
    /** ISO-TP addressing: `auto` tries 11-bit (0x7DF) then 29-bit (0x18DB33F1). Default auto. */
    addressing: z.enum(['auto', '11bit', '29bit']).default('auto'),
    /** ISO-TP: functional requests to all ECUs (true) or physical ones per ECU. Default true. */
    broadcast: z.boolean().default(true),
    /** ISO-TP: ms to wait for answers (P2). Default 150. */
    p2Ms: z.number().int().min(10).max(10000).default(150),
    /** ELM327: ms to wait for the `>` prompt. Default 2000. */
    requestTimeoutMs: z.number().int().min(50).default(2000),
    /** Default poll interval of each PID, ms (below 1000 allowed). Default 1000. */
    intervalMs: z.number().int().min(10).default(1000),
    /** Per-PID interval (ms) or `{ intervalMs, ecu }`, keyed by hex PID. */
    pids: z.record(pidKey, pidSetting).default({}),
    /** PIDs per service 01 request (1..6). Default 1 for elm327 (clones mishandle more), 6 for isotp. */
    maxPidsPerRequest: z.number().int().min(1).max(6).optional(),
    /** DTC polling; the codes go to campaigns with `diagnosticsMode: SEND_ACTIVE_DTCS`. */
    dtcs: z
      .strictObject({
        /** Default true. */
        enabled: z.boolean().default(true),
        /** Default 10000 ms. */
        intervalMs: z.number().int().min(100).default(10000),
        /** Which lists make up the active DTCs: stored (03), pending (07), permanent (0A). Default [stored]. */
        services: z.array(z.enum(['stored', 'pending', 'permanent'])).min(1).default(['stored']),
      })
      .prefault({}),
    /** Reopen backoff after the adapter/bus is lost: doubles from minMs to maxMs. Default 1000..30000. */
    reconnect: z
      .strictObject({ minMs: z.number().int().min(10).default(1000), maxMs: z.number().int().min(10).default(30000) })
      .prefault({}),
  })
  .superRefine((s, ctx) => {
    if (s.transport === 'elm327' && s.port === undefined) {
      ctx.addIssue({ code: 'custom', path: ['port'], message: 'an elm327 source needs "port" (serial device or tcp://host:port)' });
    }
    if (s.transport === 'isotp' && s.canInterface === undefined) {
      ctx.addIssue({ code: 'custom', path: ['canInterface'], message: 'an isotp source needs "canInterface" (e.g. can0)' });
    }
  });

export type ObdSourceConfig = z.output<typeof obdSourceSchema>;
