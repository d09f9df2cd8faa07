/**
 * A strict reader for the tar subset release archives use, with safe extraction.
 *
 * No tar library is installed in this project, so this is a small purpose-built reader for
 * gzip-compressed ustar/pax/GNU archives (what `tar -czf` writes). Accepted entries: regular files,
 * directories and relative symlinks that stay inside the target. Everything else is refused with a
 * reason: absolute paths, `..` segments, symlinks whose target leaves the tree, entries below a
 * symlink, hard links, device/FIFO entries, bad header checksums, truncated archives, and archives
 * exceeding the size/entry limits. Setuid/setgid/sticky bits are dropped.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, symlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { EdgewiseError } from '../../errors.js';

export interface ExtractLimits {
  /** Sum of regular file sizes (default 1 GiB). */
  maxBytes?: number;
  /** Number of entries (default 200 000). */
  maxEntries?: number;
  /** Aborts extraction (the partial tree is left for the caller to delete). */
  signal?: AbortSignal;
}

export interface ExtractResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

const BLOCK = 512;

function bad(reason: string, context: Record<string, unknown> = {}): EdgewiseError {
  return new EdgewiseError('IO', `unsafe or malformed release archive: ${reason}`, context);
}

/** Pulls exact byte counts out of an async iterable of chunks. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    }
    return this.buf.length >= n;
  }

  /** Exactly n bytes, or undefined at a clean end of input (no bytes left). */
  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) {
      if (this.buf.length === 0) return undefined;
      throw bad('archive is truncated');
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Up to n (>0) bytes; throws at end of input. */
  async readSome(n: number): Promise<Buffer> {
    if (this.buf.length === 0 && !(await this.fill(1))) throw bad('archive is truncated');
    const k = Math.min(n, this.buf.length);
    const out = this.buf.subarray(0, k);
    this.buf = this.buf.subarray(k);
    return out;
  }
}

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return (z < 0 ? s : s.subarray(0, z)).toString('utf8');
}

function octal(b: Buffer, off: number, len: number, field: string): number {
  const f = b.subarray(off, off + len);
  if (f[0] & 0x80) {
    // GNU base-256 (big sizes): positive values only
    if (f[0] & 0x40) throw bad(`negative ${field}`);
    let v = f[0] & 0x3f;
    for (let i = 1; i < f.length; i++) v = v * 256 + f[i];
    if (!Number.isSafeInteger(v)) throw bad(`${field} too large`);
    return v;
  }
  const s = cstr(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw bad(`bad ${field} field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  const stored = octal(h, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return sum === stored;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) throw bad('malformed pax header');
    const len = Number(data.subarray(off, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= sp - off || off + len > data.length) throw bad('malformed pax record length');
    const rec = data.subarray(sp + 1, off + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq < 0) throw bad('malformed pax record');
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

/** Normalized relative path inside the target, or a thrown reason. */
export function safeEntryPath(name: string): string {
  if (name.includes('\0')) throw bad('NUL in path');
  if (name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name) || name.startsWith('\\')) throw bad(`absolute path ${JSON.stringify(name)}`, { entry: name });
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw bad(`path with .. ${JSON.stringify(name)}`, { entry: name });
  if (parts.some((p) => p.includes('\\'))) throw bad(`backslash in path ${JSON.stringify(name)}`, { entry: name });
  return parts.join('/');
}

/** Extract a .tar.gz into `dest` (which must exist and be empty). */
export async function extractTarGz(archive: string, dest: string, limits: ExtractLimits = {}): Promise<ExtractResult> {
  const maxBytes = limits.maxBytes ?? 1024 ** 3;
  const maxEntries = limits.maxEntries ?? 200_000;
  const src = createReadStream(archive).pipe(createGunzip());
  const reader = new ByteReader(src[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
  const result: ExtractResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const symlinks = new Set<string>();
  const seen = new Set<string>();
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let entries = 0;
  let ended = false;

  const readPayload = async (size: number, cap: number): Promise<Buffer> => {
    if (size > cap) throw bad(`metadata entry of ${size} bytes`);
    const data = size > 0 ? await reader.read(size) : Buffer.alloc(0);
    if (!data) throw bad('archive is truncated');
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad && !(await reader.read(pad))) throw bad('archive is truncated');
    return Buffer.from(data);
  };

  try {
    for (;;) {
      if (limits.signal?.aborted) throw new EdgewiseError('IO', 'extraction aborted');
      const h = await reader.read(BLOCK);
      if (!h) break;
      if (h.every((x) => x === 0)) {
        ended = true;
        break;
      }
      if (!checksumOk(h)) throw bad('header checksum mismatch');
      if (++entries > maxEntries) throw bad(`more than ${maxEntries} entries`);
      const type = String.fromCharCode(h[156] || 0x30);
      const size = octal(h, 124, 12, 'size');
      if (type === 'x') {
        pax = { ...pax, ...parsePax(await readPayload(size, 1 << 20)) };
        continue;
      }
      if (type === 'g') {
        await readPayload(size, 1 << 20); // global headers carry nothing we use
        continue;
      }
      if (type === 'L' || type === 'K') {
        const v = cstr(await readPayload(size, 64 * 1024), 0, size);
        if (type === 'L') longName = v;
        else longLink = v;
        continue;
      }
      const magic = h.subarray(257, 262).toString('latin1');
      const prefix = magic === 'ustar' ? cstr(h, 345, 155) : '';
      const rawName = pax.path ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
      const linkName = pax.linkpath ?? longLink ?? cstr(h, 157, 100);
      const entrySize = pax.size !== undefined ? Number(pax.size) : size;
      if (!Number.isSafeInteger(entrySize) || entrySize < 0) throw bad('bad pax size');
      const mode = octal(h, 100, 8, 'mode');
      pax = {};
      longName = undefined;
      longLink = undefined;

      const rel = safeEntryPath(rawName);
      const ctx = { entry: rawName };
      // nothing may be written through a symlink the archive created
      const parts = rel.split('/');
      for (let i = 1; i < parts.length; i++) {
        if (symlinks.has(parts.slice(0, i).join('/'))) throw bad(`entry ${JSON.stringify(rawName)} lies below a symlink`, ctx);
      }
      if (rel !== '' && seen.has(rel) && type !== '5') throw bad(`duplicate entry ${JSON.stringify(rawName)}`, ctx);
      const target = path.join(dest, rel);

      switch (type) {
        case '0':
        case '7': {
          if (rel === '') throw bad('file entry with an empty name', ctx);
          result.bytes += entrySize;
          if (result.bytes > maxBytes) throw bad(`extracted size exceeds ${maxBytes} bytes`);
          await mkdir(path.dirname(target), { recursive: true });
          const fh: FileHandle = await open(target, 'wx', (mode & 0o755) | 0o600);
          try {
            let left = entrySize;
            while (left > 0) {
              const chunk = await reader.readSome(Math.min(left, 1 << 20));
              let off = 0;
              while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
              left -= chunk.length;
            }
            await fh.sync();
          } finally {
            await fh.close();
          }
          const pad = (BLOCK - (entrySize % BLOCK)) % BLOCK;
          if (pad && !(await reader.read(pad))) throw bad('archive is truncated');
          result.files++;
          break;
        }
        case '5':
          if (entrySize) await readPayload(entrySize, 0);
          await mkdir(target, { recursive: true, mode: 0o755 });
          result.dirs++;
          break;
        case '2': {
          if (entrySize) throw bad('symlink entry with data', ctx);
          if (rel === '') throw bad('symlink entry with an empty name', ctx);
          if (linkName === '' || linkName.startsWith('/')) throw bad(`symlink ${JSON.stringify(rawName)} -> ${JSON.stringify(linkName)} is absolute or empty`, ctx);
          const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(rel), linkName));
          if (resolved === '..' || resolved.startsWith('../') || path.posix.isAbsolute(resolved)) {
            throw bad(`symlink ${JSON.stringify(rawName)} -> ${JSON.stringify(linkName)} escapes the release directory`, ctx);
          }
          await mkdir(path.dirname(target), { recursive: true });
          await symlink(linkName, target);
          symlinks.add(rel);
          result.symlinks++;
          break;
        }
        case '1':
          throw bad(`hard link ${JSON.stringify(rawName)} (not supported in releases)`, ctx);
        case '3':
        case '4':
        case '6':
          throw bad(`device or FIFO entry ${JSON.stringify(rawName)}`, ctx);
        default:
          throw bad(`unsupported entry type ${JSON.stringify(type)} for ${JSON.stringify(rawName)}`, ctx);
      }
      seen.add(rel);
    }
    if (!ended) throw bad('archive has no end-of-archive marker (truncated?)');
  } catch (err) {
    src.destroy();
    if (err instanceof EdgewiseError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'Z_DATA_ERROR' || e.code === 'Z_BUF_ERROR' || e.code === 'ERR_STREAM_PREMATURE_CLOSE') {
      throw bad(`not a valid gzip stream (${e.message})`);
    }
    throw new EdgewiseError('IO', `cannot extract ${archive}: ${e.message}`, { archive }, { cause: err });
  }
  src.destroy();
  return result;
}
