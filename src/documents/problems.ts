/** Findings about a document (campaign, manifest): a JSON path, a reason, and line:column when known. */
import type * as z from 'zod';
import type { SourceDocument } from './source.js';

/** One finding about a campaign (or manifest) document. */
export interface Problem {
  /** JSON path inside the document, e.g. `signalsToCollect[2].name` (`` for the whole document). */
  path: string;
  message: string;
  severity: 'error' | 'warning';
  /** 1-based position in the source text when known. */
  line?: number;
  column?: number;
}

/** `a.b[2].c` from a zod / yaml path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s === '' ? String(p) : `.${String(p)}`;
  }
  return s;
}

/** Inverse of `formatPath`. */
export function parsePath(path: string): PropertyKey[] {
  const out: PropertyKey[] = [];
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path)) !== null) out.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  return out;
}

/** Turns zod issues into problems (JSON path + reason), with source positions when known. */
export function zodProblems(error: z.ZodError, source?: SourceDocument): Problem[] {
  const out: Problem[] = [];
  const visit = (issue: z.core.$ZodIssue, base: readonly PropertyKey[]): void => {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && 'errors' in issue && issue.errors.length > 0 && issue.errors.every((e) => e.length > 0)) {
      // A union of alternatives: report the alternative that got furthest (fewest issues).
      const best = [...issue.errors].sort((a, b) => a.length - b.length)[0];
      best.forEach((i) => visit(i, path));
      return;
    }
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys: string[] }).keys;
      for (const k of keys) {
        const p = [...path, k];
        out.push({ path: formatPath(p), message: `unknown field "${k}"`, severity: 'error', ...source?.locate(p) });
      }
      return;
    }
    if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'is required';
    out.push({ path: formatPath(path), message, severity: 'error', ...source?.locate(path) });
  };
  for (const issue of error.issues) visit(issue, []);
  return out;
}
