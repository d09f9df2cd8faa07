import { describe, expect, it } from 'vitest';
import { buildReported, mergePatch, SettingsPatchSchema } from '../../src/control/index.js';
import { TestAgent } from './support/test-agent.js';

describe('shadow documents', () => {
  it('merge patches follow shadow rules: removed keys become null, arrays are replaced whole', () => {
    const prev = { a: 1, s: { x: { enabled: true }, y: { enabled: false } }, list: [1, 2], gone: 'x', wasNull: null };
    const next = { a: 1, s: { x: { enabled: true } }, list: [1, 2, 3], err: null };
    expect(mergePatch(prev, next)).toEqual({ s: { y: null }, list: [1, 2, 3], gone: null });
    expect(mergePatch(next, next)).toBeUndefined();
  });

  it('keeps the reported document under the size limit by dropping list entries, and says so', () => {
    const agent = new TestAgent('/nonexistent');
    const st = agent.status();
    st.sources = Array.from({ length: 400 }, (_, i) => ({ name: `can${i}`, kind: 'socketcan', state: 'running', frames: 1, framesPerSecond: 1, errors: 0 }));
    const doc = buildReported(st, null, 7000);
    expect(Buffer.byteLength(JSON.stringify(doc))).toBeLessThanOrEqual(7000);
    expect(doc.truncated!.sources).toBe(400 - doc.sources.length);
    expect(doc.sources.length).toBeGreaterThan(10);
  });

  it('validates desired settings strictly (typos are errors, not ignored)', () => {
    expect(SettingsPatchSchema.safeParse({ logLevel: 'debug', upload: { enabled: false } }).success).toBe(true);
    expect(SettingsPatchSchema.safeParse({ loglevel: 'debug' }).success).toBe(false);
    expect(SettingsPatchSchema.safeParse({ upload: { maxBytesPerSecond: 10 * 1024 * 1024 } }).success).toBe(false);
    expect(SettingsPatchSchema.safeParse({ campaigns: { a: { enabled: 'no' } } }).success).toBe(false);
  });
});
