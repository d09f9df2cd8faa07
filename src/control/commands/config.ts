/** The `commands` section of the daemon configuration (every default defined here once). */
import * as z from 'zod';

export const commandsConfigSchema = z
  .strictObject({
    /** Accept AWS IoT command executions ($aws/commands/things/<thing>/...). Default false. */
    enabled: z.boolean().default(false),
    /** The CAN interface actuator frames are written to (its DBC comes from the manifest). */
    interface: z.string().min(1).optional(),
    /** Timeout of an execution whose request gives none. Default 10 s. */
    defaultTimeoutSeconds: z.number().positive().max(86_400).default(10),
    /** The allow-list: only these DBC signals can be written. */
    actuators: z
      .record(
        z.string().min(1),
        z.strictObject({
          /** Allowed range; default the DBC's [minimum|maximum] (when the DBC gives one). */
          min: z.number().optional(),
          max: z.number().optional(),
          /** Minimum time between two writes of the signal. Default 1000 ms. */
          minIntervalMs: z.number().int().min(0).default(1000),
          /** Campaign-language expression that must hold at execution time, e.g. "$variable.`VehicleSpeed` == 0". */
          condition: z.string().min(1).optional(),
        }),
      )
      .default({}),
    /** Per DBC message: a rolling counter and a checksum byte to fill in on every write. */
    e2e: z
      .record(
        z.string().min(1),
        z.strictObject({
          counterSignal: z.string().optional(),
          checksumSignal: z.string().optional(),
          checksumKind: z.enum(['xor', 'sum8']).default('xor'),
        }),
      )
      .default({}),
  })
  .prefault({});

export type CommandsConfig = z.infer<typeof commandsConfigSchema>;
