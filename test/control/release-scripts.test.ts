import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { extractTarGz, loadTrustedKeys, parseJobDocument, readReleaseManifest, verifyArtifact } from '../../src/control/index.js';
import { atomicWriteJson } from '../../src/files.js';


const SCRIPTS = path.resolve(import.meta.dirname, '../../scripts/release');
const node = (script: string, args: string[]): string => execFileSync(process.execPath, [path.join(SCRIPTS, script), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-release-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('release tooling (scripts/release)', () => {
  it('builds, signs and describes a release the device accepts', async () => {
    const repo = path.join(dir, 'repo');
    mkdirSync(path.join(repo, 'dist/cli'), { recursive: true });
    writeFileSync(path.join(repo, 'package.json'), JSON.stringify({ name: 'edgewise', version: '2.3.4', type: 'module', files: ['dist', 'campaigns'], engines: { node: '>=20' } }));
    writeFileSync(path.join(repo, 'dist/cli/main.js'), 'console.log("edgewise")\n');
    writeFileSync(path.join(repo, 'dist/cli/main.js.map'), '{}');
    const built = JSON.parse(node('build.mjs', ['--repo', repo, '--out', path.join(dir, 'out'), '--no-build', '--no-install', '--file-hashes'])) as { artifact: string; version: string; size: number; sha256: string };
    expect(built.version).toBe('2.3.4');

    const keys = path.join(dir, 'keys');
    const kg = JSON.parse(node('keygen.mjs', ['--out', keys, '--name', 'rel-1'])) as { privateKey: string; publicKey: string };
    expect((await import('node:fs')).statSync(kg.privateKey).mode & 0o777).toBe(0o600);
    // refuses to overwrite a key
    expect(spawnSync(process.execPath, [path.join(SCRIPTS, 'keygen.mjs'), '--out', keys, '--name', 'rel-1']).status).toBe(1);

    const jobFile = path.join(dir, 'job.json');
    node('job.mjs', ['ota', '--artifact', built.artifact, '--version', '2.3.4', '--url', 'https://example.com/r.tgz', '--key', kg.privateKey, '--key-id', 'rel-1', '--out', jobFile]);
    const doc = JSON.parse(readFileSync(jobFile, 'utf8')) as Record<string, unknown>;
    const parsed = parseJobDocument(doc);
    expect(parsed.ok).toBe(true);
    expect(doc).toMatchObject({ size: built.size, sha256: built.sha256, keyId: 'rel-1' });

    // the device-side checks accept it with only the public key installed
    rmSync(kg.privateKey);
    const verdict = await verifyArtifact(built.artifact, { sha256: doc.sha256 as string, signature: doc.signature as string, keyId: 'rel-1' }, loadTrustedKeys(keys));
    expect(verdict).toMatchObject({ ok: true, keyId: 'rel-1' });
    const dest = path.join(dir, 'installed');
    mkdirSync(dest);
    await extractTarGz(built.artifact, dest);
    const manifest = readReleaseManifest(dest);
    expect(manifest.version).toBe('2.3.4');
    expect(Object.keys(manifest.files ?? {})).toEqual(['dist/cli/main.js', 'package.json']);
    expect(readFileSync(path.join(dest, 'dist/cli/main.js'), 'utf8')).toContain('edgewise');
  });

  it('build.mjs --key signs each tarball as openssl does, and release.json names the architecture', () => {
    const repo = path.join(dir, 'repo-signed');
    mkdirSync(path.join(repo, 'dist/cli'), { recursive: true });
    writeFileSync(path.join(repo, 'package.json'), JSON.stringify({ name: 'edgewise', version: '2.4.0', type: 'module', files: ['dist'], engines: { node: '>=20' } }));
    writeFileSync(path.join(repo, 'dist/cli/main.js'), 'console.log("edgewise")\n');
    const keys = path.join(dir, 'keys-signed');
    const kg = JSON.parse(node('keygen.mjs', ['--out', keys, '--name', 'rel-2'])) as { privateKey: string; publicKey: string };
    const out = path.join(dir, 'out-signed');
    const lines = node('build.mjs', ['--repo', repo, '--out', out, '--no-build', '--no-install', '--arch', 'arm64,x64', '--key', kg.privateKey]).trim().split('\n');
    const built = lines.map((l) => JSON.parse(l) as { artifact: string; arch: string; signature: string });
    expect(built.map((b) => [b.arch, path.basename(b.artifact)])).toEqual([
      ['arm64', 'edgewise-2.4.0-linux-arm64.tar.gz'],
      ['x64', 'edgewise-2.4.0-linux-x64.tar.gz'],
    ]);
    for (const b of built) {
      // The reference check: openssl verifies the DER signature over the artifact with the public key.
      const sig = path.join(dir, `${b.arch}.der`);
      writeFileSync(sig, Buffer.from(readFileSync(`${b.artifact}.sig`, 'utf8').trim(), 'base64'));
      expect(readFileSync(`${b.artifact}.sig`, 'utf8').trim()).toBe(b.signature);
      const v = spawnSync('openssl', ['dgst', '-sha256', '-verify', kg.publicKey, '-signature', sig, b.artifact], { encoding: 'utf8' });
      expect(v.stdout.trim()).toBe('Verified OK');
      const listed = execFileSync('tar', ['-xzOf', b.artifact, './release.json'], { encoding: 'utf8' });
      expect(JSON.parse(listed)).toMatchObject({ version: '2.4.0', arch: b.arch, platform: 'linux', runtime: { bundled: false } });
    }
    // A key that is not EC P-256 is refused before anything is built.
    const rsa = path.join(dir, 'rsa.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsa], { stdio: 'ignore' });
    const bad = spawnSync(process.execPath, [path.join(SCRIPTS, 'build.mjs'), '--repo', repo, '--out', out, '--no-build', '--no-install', '--key', rsa], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('the key must be an EC P-256 private key');
  });

  it('writes deploy and upload documents and the S3 presigned placeholder', () => {
    const camp = path.join(dir, 'c.json');
    writeFileSync(camp, JSON.stringify({ name: 'c1' }));
    const deploy = JSON.parse(node('job.mjs', ['deploy', '--campaign', camp, '--remove', 'old'])) as unknown;
    expect(deploy).toEqual({ operation: 'campaign.deploy', changes: [{ op: 'put', campaign: { name: 'c1' } }, { op: 'remove', name: 'old' }] });
    const upload = JSON.parse(node('job.mjs', ['upload', '--from', '2026-01-01T00:00:00Z', '--partition', 'default'])) as unknown;
    expect(parseJobDocument(upload)).toMatchObject({ ok: true });
    const keys = JSON.parse(node('keygen.mjs', ['--out', path.join(dir, 'keys2')])) as { privateKey: string };
    const art = path.join(dir, 'a.tgz');
    writeFileSync(art, 'artifact');
    const ota = JSON.parse(node('job.mjs', ['ota', '--artifact', art, '--version', '1.0.0', '--s3', 'my-bucket/edgewise-1.0.0.tar.gz', '--region', 'eu-west-1', '--key', keys.privateKey])) as { url: string };
    expect(ota.url).toBe('${aws:iot:s3-presigned-url:https://s3.eu-west-1.amazonaws.com/my-bucket/edgewise-1.0.0.tar.gz}');
    const bad = spawnSync(process.execPath, [path.join(SCRIPTS, 'job.mjs'), 'upload', '--from', 'yesterday']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.toString()).toMatch(/ISO 8601/);
  });

  it('edgewise release verify / status check artifacts and show the OTA state', async () => {
    const repo = path.join(dir, 'repo3');
    mkdirSync(path.join(repo, 'dist/cli'), { recursive: true });
    writeFileSync(path.join(repo, 'package.json'), JSON.stringify({ name: 'edgewise', version: '3.0.0', files: ['dist'] }));
    writeFileSync(path.join(repo, 'dist/cli/main.js'), '//');
    const built = JSON.parse(node('build.mjs', ['--repo', repo, '--out', path.join(dir, 'out3'), '--no-build', '--no-install'])) as { artifact: string };
    const keys = path.join(dir, 'keys3');
    const kg = JSON.parse(node('keygen.mjs', ['--out', keys, '--name', 'k3'])) as { privateKey: string };
    const jobFile = path.join(dir, 'job3.json');
    node('job.mjs', ['ota', '--artifact', built.artifact, '--version', '3.0.0', '--url', 'https://example.com/a.tgz', '--key', kg.privateKey, '--out', jobFile]);
    const ok = await cli('release', 'verify', '--job', jobFile, '--keys', keys, built.artifact);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^ok: .* is release 3\.0\.0 .* signed by k3/);

    const doc = JSON.parse(readFileSync(jobFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(jobFile, JSON.stringify({ ...doc, version: '3.0.1' }));
    const wrong = await cli('release', 'verify', '--job', jobFile, '--keys', keys, built.artifact);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/refused: release\.json says 3\.0\.0, the job says 3\.0\.1/);

    const root = path.join(dir, 'root3');
    mkdirSync(path.join(root, 'releases/2.9.0'), { recursive: true });
    mkdirSync(path.join(root, 'releases/3.0.0'), { recursive: true });
    symlinkSync('releases/3.0.0', path.join(root, 'current'));
    const t = new Date().toISOString();
    atomicWriteJson(path.join(root, 'ota/state.json'), { jobId: 'ota-3', from: '2.9.0', to: '3.0.0', doc: { ...doc, version: '3.0.0' }, phase: 'confirming', bootAttempts: 1, startedAt: t, updatedAt: t });
    const st = await cli('release', 'status', '--root', root);
    expect(st.code).toBe(0);
    expect(st.out).toMatch(/current  3\.0\.0/);
    expect(st.out).toMatch(/job ota-3: 2\.9\.0 -> 3\.0\.0, phase confirming \(boot 1\)/);
    const none = await cli('release', 'status', '--root', path.join(dir, 'nothing'));
    expect(none.code).toBe(2);
  });
});
