/**
 * The command request edgewise accepts (JSON, validated with zod). One execution is one of:
 *   { "actuator": { "signals": { "<signal>": <value>, ... } } }     set allow-listed CAN signals
 *   { "obd": { "readPid": { "service": 1, "pid": 13 } } }            read a PID (decoded)
 *   { "obd": { "readDtcs": {} } } / { "obd": { "clearDtcs": {} } }    read / clear trouble codes
 *   { "lks": { "activate": "<template>", "durationSeconds"?: n } }    state templates
 *   { "lks": { "deactivate": "<template>" } } / { "lks": { "fetchSnapshot": "<template>" } }
 * plus optional `timeoutSeconds` (the execution's timeout; default from config) and `issuedAtMs`
 * (when the cloud created it; the timeout counts from there when given, else from receipt).
 */
import * as z from 'zod';

const Value = z.union([z.number(), z.boolean(), z.string()]);

export const CommandRequestSchema = z
  .object({
    timeoutSeconds: z.number().positive().max(86_400).optional(),
    issuedAtMs: z.number().int().nonnegative().optional(),
    actuator: z.object({ signals: z.record(z.string().min(1), Value).refine((r) => Object.keys(r).length > 0, 'at least one signal') }).strict().optional(),
    obd: z
      .union([
        z.object({ readPid: z.object({ service: z.number().int().min(1).max(0x0a).default(1), pid: z.number().int().min(0).max(0xff) }).strict() }).strict(),
        z.object({ readDtcs: z.object({}).strict() }).strict(),
        z.object({ clearDtcs: z.object({}).strict() }).strict(),
      ])
      .optional(),
    lks: z
      .union([
        z.object({ activate: z.string().min(1), durationSeconds: z.number().positive().optional() }).strict(),
        z.object({ deactivate: z.string().min(1) }).strict(),
        z.object({ fetchSnapshot: z.string().min(1) }).strict(),
      ])
      .optional(),
  })
  .strict()
  .refine((r) => [r.actuator, r.obd, r.lks].filter((x) => x !== undefined).length === 1, 'exactly one of actuator, obd, lks');

export type CommandRequest = z.infer<typeof CommandRequestSchema>;

/** Parse a request payload; throws a one-line reason on malformed input. */
export function parseCommandRequest(payload: Uint8Array): CommandRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch (err) {
    throw new Error(`payload is not JSON: ${(err as Error).message}`);
  }
  const r = CommandRequestSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`);
  }
  return r.data;
}
