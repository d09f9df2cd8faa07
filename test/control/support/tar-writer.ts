/**
 * Minimal tar writer for tests: builds ustar archives (pax headers for long names) including the
 * hostile entries the extractor must refuse (absolute paths, `..`, escaping symlinks, devices).
 */
import { gzipSync } from 'node:zlib';

export type TarEntry =
  | { type: 'file'; name: string; data: Buffer | string; mode?: number }
  | { type: 'dir'; name: string }
  | { type: 'symlink'; name: string; target: string }
  | { type: 'hardlink'; name: string; target: string }
  | { type: 'chardev'; name: string };

function header(name: string, typeflag: string, size: number, mode: number, link = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 100), 0, 'utf8');
  h.write(mode.toString(8).padStart(7, '0') + '\0', 100, 'ascii');
  h.write('0000000\0', 108, 'ascii');
  h.write('0000000\0', 116, 'ascii');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write(Math.floor(Date.now() / 1000).toString(8).padStart(11, '0') + '\0', 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(typeflag, 156, 'ascii');
  h.write(link.slice(0, 100), 157, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

export function tar(entries: TarEntry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const link = e.type === 'symlink' || e.type === 'hardlink' ? e.target : '';
    if (Buffer.byteLength(e.name) > 100 || Buffer.byteLength(link) > 100) {
      const pax = Buffer.from(paxRecord('path', e.name) + (link ? paxRecord('linkpath', link) : ''));
      out.push(header('PaxHeader', 'x', pax.length, 0o644), pax, pad(pax.length));
    }
    switch (e.type) {
      case 'file': {
        const data = typeof e.data === 'string' ? Buffer.from(e.data) : e.data;
        out.push(header(e.name, '0', data.length, e.mode ?? 0o644), data, pad(data.length));
        break;
      }
      case 'dir':
        out.push(header(e.name, '5', 0, 0o755));
        break;
      case 'symlink':
        out.push(header(e.name, '2', 0, 0o777, link));
        break;
      case 'hardlink':
        out.push(header(e.name, '1', 0, 0o644, link));
        break;
      case 'chardev':
        out.push(header(e.name, '3', 0, 0o644));
        break;
    }
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

export function tarGz(entries: TarEntry[]): Buffer {
  return gzipSync(tar(entries));
}
