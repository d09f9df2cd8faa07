/**
 * Durable file helpers (control-plane state, deployed campaigns): crash-safe JSON writes (tmp + fsync + rename + fsync
 * of the directory) and tolerant reads (a missing or torn file reads as `undefined`).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { EdgewiseError } from './errors.js';

/** fsync a directory so a rename inside it survives power loss (best effort on platforms without it). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* not supported (e.g. some network file systems): rename is still atomic */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Write `data` to `file` atomically: readers see either the old or the new content, never a mix. */
export function atomicWriteFile(file: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    fsyncDir(dir);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new EdgewiseError('IO', `cannot write ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
}

export function atomicWriteJson(file: string, value: unknown): void {
  atomicWriteFile(file, JSON.stringify(value, null, 2) + '\n');
}

/** Parsed JSON of `file`, or undefined when it does not exist or cannot be parsed. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
