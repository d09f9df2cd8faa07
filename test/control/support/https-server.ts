/**
 * A local HTTPS artifact server on 127.0.0.1 (certificate from the dev PKI made by openssl), playing
 * S3 presigned URLs: Range requests (206), 403 with S3's XML error for "expired" paths, optional
 * slow streaming so downloads can be interrupted mid-way.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createDevPki } from '../../../src/upload/certs.js';

export interface ArtifactServer {
  /** Base URL, e.g. https://127.0.0.1:4443 */
  url: string;
  caFile: string;
  put(path: string, body: Buffer): string;
  /** Requests seen: path and Range header. */
  requests: { path: string; range?: string }[];
  /** Bytes/chunk and delay between chunks (default: all at once). */
  throttle: { chunk: number; delayMs: number } | undefined;
  close(): Promise<void>;
}

export async function startArtifactServer(pkiDir: string): Promise<ArtifactServer> {
  const pki = createDevPki(pkiDir);
  const files = new Map<string, Buffer>();
  const requests: ArtifactServer['requests'] = [];
  const state: { throttle: ArtifactServer['throttle'] } = { throttle: undefined };
  const server = https.createServer({ cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) }, (req, res) => {
    const u = new URL(req.url ?? '/', 'https://x');
    requests.push({ path: u.pathname, range: req.headers.range });
    if (u.pathname.startsWith('/expired/')) {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
      return;
    }
    const body = files.get(u.pathname);
    if (!body) {
      res.writeHead(404);
      res.end('<Error><Code>NoSuchKey</Code></Error>');
      return;
    }
    let start = 0;
    let status = 200;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` });
        res.end();
        return;
      }
      status = 206;
    }
    const part = body.subarray(start);
    res.writeHead(status, {
      'content-length': String(part.length),
      ...(status === 206 ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    const t = state.throttle;
    if (!t) {
      res.end(part);
      return;
    }
    let off = 0;
    const pump = (): void => {
      if (res.destroyed) return;
      if (off >= part.length) {
        res.end();
        return;
      }
      res.write(part.subarray(off, off + t.chunk));
      off += t.chunk;
      setTimeout(pump, t.delayMs);
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  return {
    url,
    caFile: pki.caFile,
    requests,
    get throttle() {
      return state.throttle;
    },
    set throttle(v) {
      state.throttle = v;
    },
    put(p, body) {
      files.set(p, body);
      return `${url}${p}?X-Amz-Signature=secret&X-Amz-Expires=3600`;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
