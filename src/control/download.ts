/**
 * HTTPS downloads for jobs: OTA artifacts (to a file, resumable with HTTP Range, size-capped,
 * free-space checked) and small documents (campaigns by URL, into memory, size-capped).
 * Presigned S3 URLs are never logged (they are credentials until they expire).
 */
import { createHash } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { open, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import { EdgewiseError } from '../errors.js';

export interface HttpsOptions {
  /** Extra CA certificates (PEM) to trust besides the system store (private artifact servers, tests). */
  ca?: string | Buffer;
  /** Socket inactivity timeout (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A download failure; `permanent` ones (403/404, too large) are not retried. */
export class DownloadError extends EdgewiseError {
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly status?: number,
  ) {
    super('IO', message, status === undefined ? {} : { status });
  }
}

/** The URL without its query string (presigned URLs carry credentials there). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '<invalid url>';
  }
}

/**
 * node:https is loaded on the first download, not with the daemon: it brings Node's HTTP and TLS
 * stacks (~0.8 MB RSS, bench/soak) that a vehicle only needs while an OTA job downloads.
 */
let httpsModule: typeof import('node:https') | undefined;

async function request(url: string, headers: Record<string, string>, opts: HttpsOptions, redirects = 3): Promise<IncomingMessage> {
  const https = (httpsModule ??= (await import('node:https')).default);
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new DownloadError('invalid download URL', true));
      return;
    }
    if (u.protocol !== 'https:') {
      reject(new DownloadError(`download URL must be https (got ${u.protocol})`, true));
      return;
    }
    const req = https.get(u, { headers, ca: opts.ca, signal: opts.signal, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects <= 0) reject(new DownloadError('too many redirects', true, status));
        else request(new URL(res.headers.location, u).toString(), headers, opts, redirects - 1).then(resolve, reject);
        return;
      }
      resolve(res);
    });
    req.on('timeout', () => req.destroy(new DownloadError(`no data from ${redactUrl(url)} for ${opts.timeoutMs ?? 30_000} ms`, false)));
    req.on('error', (err) => {
      if (err instanceof DownloadError) reject(err);
      else if (opts.signal?.aborted) reject(new DownloadError('download aborted', true));
      else reject(new DownloadError(`download from ${redactUrl(url)} failed: ${(err as Error).message}`, false));
    });
  });
}

async function readSmall(res: IncomingMessage, cap: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > cap) break;
    parts.push(c as Buffer);
  }
  res.destroy();
  return Buffer.concat(parts).toString('utf8');
}

/** A sentence for an HTTP error; S3's XML error Code/Message are included when present. */
async function httpFailure(res: IncomingMessage, url: string): Promise<DownloadError> {
  const status = res.statusCode ?? 0;
  const body = await readSmall(res, 4096).catch(() => '');
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(body)?.[1];
  const msg = /<Message>([^<]{1,200})<\/Message>/.exec(body)?.[1];
  const s3 = code ? ` (${code}${msg ? `: ${msg}` : ''})` : '';
  if (status === 403) {
    return new DownloadError(
      `download refused with HTTP 403${s3}: the presigned URL has expired or is not authorized — re-run the job or create it with a longer expiresInSec`,
      true,
      status,
    );
  }
  return new DownloadError(`download of ${redactUrl(url)} failed with HTTP ${status}${s3}`, status === 404 || status === 410 || status === 400, status);
}

export interface FileDownload extends HttpsOptions {
  url: string;
  /** Destination (partial content stays there for resume). */
  file: string;
  /** Exact expected size in bytes: the download is capped at it and must reach it. */
  size: number;
  /** Free bytes that must remain on the file system after the download (plus `extraSpace`). Default 16 MiB. */
  reserveBytes?: number;
  /** Additional space needed later (e.g. for extraction). */
  extraSpace?: number;
  onProgress?: (received: number, total: number) => void;
  /** Attempts for transient errors (resuming each time). Default 4. */
  attempts?: number;
}

/** Free bytes available to unprivileged users on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/**
 * Download `url` to `file`, resuming from what is already there (HTTP Range). Resolves when the file
 * has exactly `size` bytes (content is verified by the caller).
 */
export async function downloadToFile(d: FileDownload): Promise<{ resumedFrom: number }> {
  let have = await stat(d.file).then((s) => s.size, () => -1);
  if (have > d.size) {
    await truncate(d.file, 0);
    have = 0;
  }
  const resumedFrom = Math.max(0, have);
  if (have === d.size) return { resumedFrom };
  const needed = d.size - Math.max(0, have) + (d.extraSpace ?? 0) + (d.reserveBytes ?? 16 * 1024 * 1024);
  const free = freeBytes(path.dirname(d.file));
  if (free < needed) {
    throw new DownloadError(`not enough free space in ${path.dirname(d.file)}: ${free} bytes free, ${needed} needed`, true);
  }
  const attempts = d.attempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    try {
      await downloadOnce(d);
      return { resumedFrom };
    } catch (err) {
      if (d.signal?.aborted) throw new DownloadError('download aborted', true);
      const permanent = err instanceof DownloadError ? err.permanent : false;
      if (permanent || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
    }
  }
}

async function downloadOnce(d: FileDownload): Promise<void> {
  const have = await stat(d.file).then((s) => s.size, () => 0);
  if (have === d.size) return;
  const headers: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
  const res = await request(d.url, headers, d);
  const status = res.statusCode ?? 0;
  let offset: number;
  if (status === 206 && have > 0) {
    const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
    if (!m || Number(m[1]) !== have) {
      res.destroy();
      await truncate(d.file, 0);
      throw new DownloadError('server answered the range request with a different range; restarting from 0', false);
    }
    offset = have;
  } else if (status === 200) {
    offset = 0;
  } else if (status === 416 && have > 0) {
    res.resume();
    await truncate(d.file, 0); // we hold more/other bytes than the server has: start over
    throw new DownloadError('server rejected the resume range; restarting from 0', false, status);
  } else {
    throw await httpFailure(res, d.url);
  }
  const len = res.headers['content-length'];
  if (len !== undefined && offset + Number(len) > d.size) {
    res.destroy();
    throw new DownloadError(`artifact is larger than the declared ${d.size} bytes`, true);
  }
  const fh = await open(d.file, offset === 0 ? 'w' : 'r+');
  let pos = offset;
  try {
    for await (const chunk of res) {
      const c = chunk as Buffer;
      if (pos + c.length > d.size) {
        res.destroy();
        throw new DownloadError(`artifact is larger than the declared ${d.size} bytes`, true);
      }
      let off = 0;
      while (off < c.length) off += (await fh.write(c, off, c.length - off, pos + off)).bytesWritten;
      pos += c.length;
      d.onProgress?.(pos, d.size);
    }
    await fh.sync();
  } catch (err) {
    if (err instanceof DownloadError) throw err;
    if (d.signal?.aborted) throw new DownloadError('download aborted', true);
    throw new DownloadError(`download interrupted at ${pos} of ${d.size} bytes: ${(err as Error).message}`, false);
  } finally {
    await fh.close();
  }
  if (pos !== d.size) throw new DownloadError(`download ended at ${pos} of ${d.size} bytes`, false);
}

/** GET a small document (≤ `maxBytes`) and check its SHA-256. */
export async function fetchVerified(url: string, sha256: string, maxBytes: number, opts: HttpsOptions = {}): Promise<Buffer> {
  const res = await request(url, {}, opts);
  if (res.statusCode !== 200) throw await httpFailure(res, url);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > maxBytes) {
      res.destroy();
      throw new DownloadError(`document at ${redactUrl(url)} is larger than ${maxBytes} bytes`, true);
    }
    parts.push(c as Buffer);
  }
  const body = Buffer.concat(parts);
  const got = createHash('sha256').update(body).digest('hex');
  if (got !== sha256.toLowerCase()) throw new DownloadError(`sha256 mismatch for ${redactUrl(url)}: expected ${sha256.toLowerCase()}, got ${got}`, true);
  return body;
}
