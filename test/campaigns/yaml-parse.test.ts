/**
 * parseSourceText reads values with js-yaml (no syntax tree, ~1/4 of the heap) and falls back to
 * `yaml`'s Document for positions and for what the fast path leaves alone. The two must agree:
 * every value the fast path returns is compared with `yaml`'s on tricky scalars, the repo's own
 * files and generated documents.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as yamlParse, stringify as yamlStringify } from 'yaml';
import { parseSourceText, plainValue } from '../../src/documents/index.js';
import { isEdgewiseError } from '../../src/errors.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('YAML fast path (js-yaml) agrees with yaml', () => {
  // Plain scalars where YAML 1.1, YAML 1.2 core and JSON schemas disagree.
  const scalars = [
    '1_000', '0o17', '0O17', '0x1F', '0X1F', '0b101', '012', '-012', '+12', '-0x1', '1e3', '1E-3', '-1.5e+3', '3.', '.5', '-.5',
    '.inf', '-.Inf', '+.INF', '.nan', '.NaN', '1.0', '-0', '0', '12345678901234567890', '9007199254740993', '1:20', '1:20:30.5',
    'yes', 'no', 'on', 'off', 'y', 'n', 'True', 'TRUE', 'tRue', 'false', 'FALSE', '~', 'null', 'Null', 'NULL', 'nULL', '',
    '2026-01-01', '2026-01-01T10:00:00Z', '"quoted 12"', "'single ''x'''", 'a # comment', 'x:y', 'http://a.b/c?d=e',
    '"\\u00e9\\t\\x41"', '<<', '=', '"hello!"', 'don\'t!', '[1, 0x10, .inf, ~]', '{a: 1, "b": [true, null]}', '|\n  block\n  text\n',
    '>-\n  folded\n  text\n', 'Vehicle.Speed > 80 && $variable.`A.B` < 3',
  ];
  it.each(scalars)('plain scalar %j', (s) => {
    const text = `v: ${s}\n`;
    const fast = plainValue(text);
    expect(fast, 'the fast path should take this document').toBeDefined();
    const expected = yamlParse(text) as { v: unknown };
    expect(fast!.value).toEqual(expected);
    const v = (fast!.value as { v: unknown }).v;
    if (typeof v !== 'object') expect(Object.is(v, expected.v), 'same number, -0 included').toBe(true);
  });

  it('gives the same values for every YAML and JSON file in the repository', () => {
    const files = [
      'campaigns/dtc-snapshot.yaml',
      'campaigns/harsh-braking.yaml',
      'campaigns/heartbeat.json',
      'campaigns/overspeed.yaml',
      'examples/config/bench.yaml',
      'examples/config/goldbox.yaml',
      'examples/config/raspberry-pi.yaml',
      'examples/manifest.yaml',
    ];
    for (const f of files) {
      const text = readFileSync(path.join(ROOT, f), 'utf8');
      const fast = plainValue(text);
      expect(fast, f).toBeDefined();
      expect(fast!.value, f).toEqual(yamlParse(text));
    }
  });

  it('gives the same values for 600 generated documents in block, flow and JSON style', () => {
    const random = rng(0x5eed);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(random() * a.length)];
    const keys = ['name', 'type', 'a b', '1', '0x10', 'true', 'null', 'on', '-', 'key: x', "it's", 'é', '#x', '__proto__x'];
    const strings = ['', ' ', 'x', '12', '0o7', '1e3', 'yes', 'null', '~', '- a', 'a: b', '#c', '"q"', "'s'", '|', '>', '@x', '`x`', 'é\u2028', 'tab\there', 'nl\nx', ' lead', 'trail '];
    const scalar = (): unknown => {
      switch (Math.floor(random() * 7)) {
        case 0: return Math.floor(random() * 2 ** 40) - 2 ** 39;
        case 1: return pick([0.5, -1.25, 1e21, 1e-7, 3.14159, 100, -0.0001, Infinity, -Infinity]);
        case 2: return random() < 0.5;
        case 3: return null;
        default: return pick(strings);
      }
    };
    const value = (depth: number): unknown => {
      const r = random();
      if (depth > 3 || r < 0.4) return scalar();
      if (r < 0.7) return Array.from({ length: Math.floor(random() * 5) }, () => value(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 6); i > 0; i--) o[pick(keys)] = value(depth + 1);
      return o;
    };
    let fastCount = 0;
    for (let i = 0; i < 600; i++) {
      const v = { doc: value(0) };
      const style = i % 3;
      const text =
        style === 2
          ? JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2)
          : yamlStringify(v, { collectionStyle: style === 0 ? 'block' : 'flow', defaultStringType: i % 2 ? 'PLAIN' : 'QUOTE_DOUBLE' });
      const fast = plainValue(text);
      if (!fast) continue;
      fastCount++;
      expect(fast.value, text).toEqual(yamlParse(text));
    }
    // No anchors, tags or directives: every document must have taken the fast path.
    expect(fastCount).toBe(600);
  });
});

describe('what the fast path leaves to yaml', () => {
  it.each([
    ['anchors and aliases', 'a: &x [1, 2]\nb: *x\n', { a: [1, 2], b: [1, 2] }],
    ['tags', 'a: !!str 12\nb: !!int "7"\n', { a: '12', b: 7 }],
    ['a %YAML 1.1 directive (1.1 schema)', '%YAML 1.1\n---\na: yes\nb: 0b11\n', { a: true, b: 3 }],
    ['an empty document', '', null],
  ])('%s: same value as before', (_what, text, expected) => {
    expect(plainValue(text)).toBeUndefined();
    expect(parseSourceText(text, 'CAMPAIGN_INVALID').value).toEqual(expected);
  });

  it('more than one document is still an error', () => {
    const text = 'a: 1\n---\na: 2\n';
    expect(plainValue(text)).toBeUndefined();
    expect(() => parseSourceText(text, 'CAMPAIGN_INVALID')).toThrow(/document/i);
  });

  it('duplicate keys are still an error with line and column', () => {
    const text = 'name: a\nperiod: 1\nname: b\n';
    expect(plainValue(text)).toBeUndefined();
    let err: unknown;
    try {
      parseSourceText(text, 'CAMPAIGN_INVALID', 'x.yaml');
    } catch (e) {
      err = e;
    }
    expect(isEdgewiseError(err) && err.code).toBe('CAMPAIGN_INVALID');
    expect((err as { context: { line: number } }).context.line).toBe(3);
  });

  it('alias bombs are still refused (yaml caps the expansion)', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      lines.push(`${cur}: &${cur} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const text = lines.join('\n') + '\n';
    expect(plainValue(text)).toBeUndefined();
    expect(() => parseSourceText(text, 'CAMPAIGN_INVALID')).toThrow(/alias/i);
  });

  it('locates paths on a fast-path document (built on demand)', () => {
    const text = 'name: x\nsignals:\n  - name: a\n  - name: b\n    bogus: 1\n';
    const src = parseSourceText(text, 'MANIFEST_INVALID', 'm.yaml');
    expect(plainValue(text)).toBeDefined();
    expect(src.locate(['signals', 1, 'bogus'])).toEqual({ line: 5, column: 5 });
    expect(src.locate(['signals', 0])).toEqual({ line: 3, column: 5 });
  });
});
