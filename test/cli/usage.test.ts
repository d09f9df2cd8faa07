import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';

describe('command-line usage errors', () => {
  it.each([
    [['bogus']],
    [['decode', '--format', 'xml', 'x.log']],
    [['campaign', 'validate']],
    [['run', '--config']],
    [['batch', 'decode', 'a', 'b']],
  ])('%j exits 2 with one line', async (argv) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/^edgewise: .*\(see --help\)\n$/);
  });

  it('prints help for every command with exit 0', async () => {
    for (const argv of [['--help'], ['run', '--help'], ['campaign', 'simulate', '--help'], ['obd', 'decode', '--help'], ['replay', '--help']]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.out).toMatch(/Usage: edgewise/);
    }
  });
});
