/**
 * IoT Jobs documents edgewise understands (validated with zod; anything else is REJECTED with the
 * reason). See README "Remote control: shadow, jobs and OTA" for examples.
 */
import * as z from 'zod';
import { isVersion } from '../semver.js';

const httpsUrl = z
  .string()
  .max(4096)
  .refine((s) => {
    try {
      return new URL(s).protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an https:// URL');

const sha256 = z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters (SHA-256)');

const isoTime = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 time');

/** `put` carries the campaign inline (`campaign`) or by reference (`url` + `sha256`), never both. */
export const CampaignChangeDocSchema = z
  .discriminatedUnion('op', [
    z.strictObject({
      op: z.literal('put'),
      campaign: z.record(z.string(), z.unknown()).optional(),
      url: httpsUrl.optional(),
      sha256: sha256.optional(),
    }),
    z.strictObject({ op: z.literal('remove'), name: z.string().min(1).max(128) }),
  ])
  .superRefine((c, ctx) => {
    if (c.op !== 'put') return;
    const inline = c.campaign !== undefined;
    const byUrl = c.url !== undefined || c.sha256 !== undefined;
    if (inline === byUrl) ctx.addIssue({ code: 'custom', message: 'a put needs either "campaign" or "url" + "sha256"' });
    else if (byUrl && (c.url === undefined || c.sha256 === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.url === undefined ? 'url' : 'sha256'], message: 'required together with ' + (c.url === undefined ? '"sha256"' : '"url"') });
    }
  });

export const CampaignDeployDocSchema = z.strictObject({
  operation: z.literal('campaign.deploy'),
  changes: z.array(CampaignChangeDocSchema).min(1).max(100),
});

export const UploadDocSchema = z
  .strictObject({
    operation: z.literal('upload'),
    from: isoTime.optional(),
    to: isoTime.optional(),
    partition: z.string().min(1).max(128).optional(),
    campaign: z.string().min(1).max(128).optional(),
  })
  .refine((d) => d.from === undefined || d.to === undefined || Date.parse(d.from) <= Date.parse(d.to), {
    message: '"from" must not be after "to"',
    path: ['from'],
  });

export const OtaDocSchema = z.strictObject({
  operation: z.literal('ota'),
  version: z.string().refine(isVersion, 'must be a version x.y.z[-pre]'),
  url: httpsUrl,
  size: z.number().int().positive().max(4 * 1024 ** 3),
  sha256,
  /** base64 DER ECDSA P-256 signature over SHA-256 of the artifact bytes. */
  signature: z.string().min(16).max(512).regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64'),
  keyId: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
  allowDowngrade: z.boolean().optional(),
});

export const JobDocumentSchema = z.discriminatedUnion('operation', [CampaignDeployDocSchema, UploadDocSchema, OtaDocSchema]);

export type CampaignDeployDoc = z.infer<typeof CampaignDeployDocSchema>;
export type UploadDoc = z.infer<typeof UploadDocSchema>;
export type OtaDoc = z.infer<typeof OtaDocSchema>;
export type JobDocument = z.infer<typeof JobDocumentSchema>;

/** One line naming the first problems: `changes[0].sha256: must be 64 hex characters`. */
export function describeZodError(err: z.ZodError, max = 3): string {
  return err.issues
    .slice(0, max)
    .map((i) => `${i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(document)'}: ${i.message}`)
    .join('; ');
}

export type ParsedJob = { ok: true; doc: JobDocument } | { ok: false; reason: string };

export function parseJobDocument(doc: unknown): ParsedJob {
  let value = doc;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return { ok: false, reason: 'job document is not JSON' };
    }
  }
  const r = JobDocumentSchema.safeParse(value);
  if (r.success) return { ok: true, doc: r.data };
  const op = (value as { operation?: unknown } | null)?.operation;
  if (typeof op === 'string' && !['campaign.deploy', 'upload', 'ota'].includes(op)) {
    return { ok: false, reason: `unknown operation ${JSON.stringify(op).slice(0, 80)} (expected campaign.deploy, upload or ota)` };
  }
  return { ok: false, reason: `invalid job document: ${describeZodError(r.error)}` };
}
