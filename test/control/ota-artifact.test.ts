import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign, createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareVersions, extractTarGz, loadTrustedKeys, otaBootCheck, parseJobDocument, readOtaState, verifyArtifact } from '../../src/control/index.js';
import { atomicWriteJson } from '../../src/files.js';
import { tarGz, type TarEntry } from './support/tar-writer.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-ota-unit-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
async function extract(entries: TarEntry[] | Buffer): Promise<{ dest: string; result?: unknown; error?: Error }> {
  const k = ++n;
  const archive = path.join(dir, `a${k}.tar.gz`);
  writeFileSync(archive, Buffer.isBuffer(entries) ? entries : tarGz(entries));
  const dest = path.join(dir, `x${k}`, 'root');
  mkdirSync(dest, { recursive: true });
  try {
    return { dest, result: await extractTarGz(archive, dest) };
  } catch (error) {
    return { dest, error: error as Error };
  }
}

describe('release archive extraction', () => {
  it('extracts files, directories, relative symlinks and long (pax) names', async () => {
    const long = `dist/${'d'.repeat(120)}/file.js`;
    const { dest, result, error } = await extract([
      { type: 'dir', name: 'dist/' },
      { type: 'file', name: './dist/main.js', data: 'console.log(1)', mode: 0o4755 },
      { type: 'file', name: long, data: 'x' },
      { type: 'symlink', name: 'node_modules/.bin/tool', target: '../tool/cli.js' },
      { type: 'file', name: 'node_modules/tool/cli.js', data: '#!/usr/bin/env node' },
    ]);
    expect(error).toBeUndefined();
    expect(result).toEqual({ files: 3, dirs: 1, symlinks: 1, bytes: 14 + 1 + 19 });
    expect(readFileSync(path.join(dest, 'dist/main.js'), 'utf8')).toBe('console.log(1)');
    expect(statSync(path.join(dest, 'dist/main.js')).mode & 0o7777).toBe(0o755); // setuid dropped
    expect(readFileSync(path.join(dest, long), 'utf8')).toBe('x');
    expect(readlinkSync(path.join(dest, 'node_modules/.bin/tool'))).toBe('../tool/cli.js');
  });

  it('reads what GNU tar writes', async () => {
    const src = path.join(dir, 'gnu-src');
    mkdirSync(path.join(src, 'dist/cli'), { recursive: true });
    writeFileSync(path.join(src, 'dist/cli/main.js'), 'ok');
    writeFileSync(path.join(src, `${'n'.repeat(150)}.txt`), 'long');
    const archive = path.join(dir, 'gnu.tar.gz');
    execFileSync('tar', ['-czf', archive, '-C', src, '.']);
    const dest = path.join(dir, 'gnu-out');
    mkdirSync(dest);
    await extractTarGz(archive, dest);
    expect(readFileSync(path.join(dest, 'dist/cli/main.js'), 'utf8')).toBe('ok');
    expect(readFileSync(path.join(dest, `${'n'.repeat(150)}.txt`), 'utf8')).toBe('long');
  });

  const hostile: [string, TarEntry[], RegExp][] = [
    ['a .. path', [{ type: 'file', name: '../evil.txt', data: 'x' }], /path with \.\./],
    ['a nested .. path', [{ type: 'file', name: 'dist/../../evil.txt', data: 'x' }], /path with \.\./],
    ['an absolute path', [{ type: 'file', name: '/tmp/evil.txt', data: 'x' }], /absolute path/],
    ['an absolute symlink', [{ type: 'symlink', name: 'etc', target: '/etc' }], /absolute/],
    ['a symlink escaping the tree', [{ type: 'symlink', name: 'dist/up', target: '../../..' }], /escapes the release directory/],
    [
      'a write through a symlink',
      [
        { type: 'symlink', name: 'lib', target: 'dist' },
        { type: 'file', name: 'lib/x.js', data: 'x' },
      ],
      /below a symlink/,
    ],
    ['a hard link', [{ type: 'hardlink', name: 'passwd', target: '/etc/passwd' }], /hard link/],
    ['a device file', [{ type: 'chardev', name: 'dev/null' }], /device or FIFO/],
  ];
  for (const [what, entries, reason] of hostile) {
    it(`refuses ${what} and writes nothing outside the target`, async () => {
      const { dest, error } = await extract([{ type: 'file', name: 'release.json', data: '{}' }, ...entries]);
      expect(error?.message).toMatch(reason);
      expect(existsSync(path.join(dest, '..', 'evil.txt'))).toBe(false);
      expect(readdirSync(path.join(dest, '..'))).toEqual(['root']);
    });
  }

  it('refuses truncated archives and non-gzip input', async () => {
    const good = tarGz([{ type: 'file', name: 'a.txt', data: 'x'.repeat(5000) }]);
    const raw = execFileSync('gzip', ['-dc'], { input: good });
    const truncated = await extract(execFileSync('gzip', ['-c'], { input: raw.subarray(0, 2048) }));
    expect(truncated.error?.message).toMatch(/truncated/);
    const notGzip = await extract(Buffer.from('definitely not gzip'));
    expect(notGzip.error?.message).toMatch(/gzip/);
  });
});

describe('artifact signatures', () => {
  const keyPair = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  it('accepts the signature of a trusted key (rotation: any of several) and refuses others', async () => {
    const keysDir = path.join(dir, 'keys');
    mkdirSync(keysDir);
    const oldKey = keyPair();
    const newKey = keyPair();
    const rogue = keyPair();
    writeFileSync(path.join(keysDir, 'old.pem'), oldKey.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(path.join(keysDir, 'new.pem'), newKey.publicKey.export({ type: 'spki', format: 'pem' }));
    const file = path.join(dir, 'artifact.bin');
    const data = Buffer.from('release bytes '.repeat(1000));
    writeFileSync(file, data);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const keys = loadTrustedKeys(keysDir);
    const sig = (k: ReturnType<typeof keyPair>) => sign('sha256', data, k.privateKey).toString('base64');

    expect(await verifyArtifact(file, { sha256, signature: sig(newKey) }, keys)).toMatchObject({ ok: true, keyId: 'new' });
    expect(await verifyArtifact(file, { sha256, signature: sig(oldKey) }, keys)).toMatchObject({ ok: true, keyId: 'old' });
    expect(await verifyArtifact(file, { sha256, signature: sig(oldKey), keyId: 'new' }, keys)).toMatchObject({ ok: false });
    const bad = await verifyArtifact(file, { sha256, signature: sig(rogue) }, keys);
    expect(bad).toMatchObject({ ok: false, reason: expect.stringMatching(/does not verify with any of the 2 trusted/) });
    const hash = await verifyArtifact(file, { sha256: 'f'.repeat(64), signature: sig(newKey) }, keys);
    expect(hash).toMatchObject({ ok: false, reason: expect.stringMatching(/sha256 mismatch/) });
    // openssl interoperability: `openssl dgst -sha256 -sign` makes the same kind of signature
    const pem = path.join(dir, 'new.key');
    writeFileSync(pem, newKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const osig = execFileSync('openssl', ['dgst', '-sha256', '-sign', pem, file]).toString('base64');
    expect(await verifyArtifact(file, { sha256, signature: osig }, keys)).toMatchObject({ ok: true });
  });

  it('validates OTA job documents', () => {
    const good = { operation: 'ota', version: '1.2.0', url: 'https://x/y.tgz', size: 10, sha256: 'a'.repeat(64), signature: 'MEUCIQ'.padEnd(40, 'A') };
    expect(parseJobDocument(good).ok).toBe(true);
    expect(parseJobDocument({ ...good, url: 'http://x/y' })).toMatchObject({ ok: false, reason: expect.stringMatching(/url: must be an https/) });
    expect(parseJobDocument({ ...good, version: 'latest' })).toMatchObject({ ok: false, reason: expect.stringMatching(/version/) });
    expect(parseJobDocument({ ...good, extra: 1 })).toMatchObject({ ok: false, reason: expect.stringMatching(/extra/) });
    expect(compareVersions('1.10.0', '1.9.9')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0-rc.1', '1.0.0')).toBeLessThan(0);
    expect(lstatSync(dir).isDirectory()).toBe(true);
  });
});

describe('boot check and the systemd rollback backstop', () => {
  function layoutWithTrial(name: string): string {
    const root = path.join(dir, name);
    for (const v of ['1.0.0', '1.1.0']) mkdirSync(path.join(root, 'releases', v), { recursive: true });
    symlinkSync('releases/1.1.0', path.join(root, 'current'));
    const t = new Date().toISOString();
    atomicWriteJson(path.join(root, 'ota/state.json'), {
      jobId: 'j1',
      from: '1.0.0',
      to: '1.1.0',
      doc: { operation: 'ota', version: '1.1.0', url: 'https://x/y', size: 1, sha256: 'a'.repeat(64), signature: 'A'.repeat(40) },
      phase: 'confirming',
      bootAttempts: 0,
      startedAt: t,
      updatedAt: t,
    });
    return root;
  }

  it('counts boots of a version on trial and rolls back past the limit', () => {
    const root = layoutWithTrial('boots');
    const exits: number[] = [];
    const opts = { root, runningVersion: '1.1.0', maxBootAttempts: 2, healthDeadlineMs: 60_000, exit: (c: number) => exits.push(c) };
    expect(otaBootCheck(opts)).toMatchObject({ action: 'continue', trial: { attempt: 1, of: 2 } });
    expect(otaBootCheck(opts)).toMatchObject({ action: 'continue', trial: { attempt: 2, of: 2 } });
    expect(otaBootCheck(opts)).toMatchObject({ action: 'exit', code: 75, reason: expect.stringMatching(/crash loop/) });
    expect(readlinkSync(path.join(root, 'current'))).toBe('releases/1.0.0');
    expect(readOtaState(root)).toMatchObject({ phase: 'rolled-back' });
    // the previous version then starts normally
    expect(otaBootCheck({ ...opts, runningVersion: '1.0.0' })).toEqual({ action: 'continue' });
  });

  it('systemd/edgewise-rollback.sh (OnFailure backstop) moves current back; the old version records it', () => {
    const script = path.resolve(import.meta.dirname, '../../systemd/edgewise-rollback.sh');
    // A tracked file of this repository: its absence is a failure, not a reason to pass.
    expect(existsSync(script), `${script} missing`).toBe(true);
    const root = layoutWithTrial('shell');
    const run = (): string => execFileSync('sh', [script, root], { encoding: 'utf8', env: { ...process.env, EDGEWISE_RETRY_SEC: '0' } });
    expect(run()).toMatch(/release 1\.1\.0 failed to start repeatedly; current -> releases\/1\.0\.0/);
    expect(readlinkSync(path.join(root, 'current'))).toBe('releases/1.0.0');
    expect(otaBootCheck({ root, runningVersion: '1.0.0', maxBootAttempts: 3, healthDeadlineMs: 180_000 })).toEqual({ action: 'continue' });
    expect(readOtaState(root)).toMatchObject({ phase: 'rolled-back', reason: expect.stringMatching(/rolled back outside the agent/) });
    expect(run()).not.toMatch(/failed to start repeatedly/); // nothing left to roll back
  });
});
