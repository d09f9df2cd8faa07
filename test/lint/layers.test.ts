/**
 * The layer rules of eslint.config.js fail a back-arrow and an import that bypasses a folder's
 * index.ts, and accept the allowed direction. The probes are linted as if they were files in
 * src/ (lintText with a filePath), so nothing is written into the tree.
 */
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const eslint = new ESLint({ cwd: root });

async function importErrors(file: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layer rules (eslint.config.js)', () => {
  it('fails a back-import: can/ importing campaigns/', async () => {
    const errs = await importErrors('src/can/probe.ts', "import { CampaignEngine } from '../campaigns/index.js';\nexport const x = CampaignEngine;\n");
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/back-arrow: can\/ is below/);
  });

  it('fails a back-import from a nested file: the engine importing the store', async () => {
    const errs = await importErrors('src/campaigns/engine/probe.ts', "import { BatchStore } from '../../store/index.js';\nexport const x = BatchStore;\n");
    expect(errs.some((m) => /back-arrow: campaigns\//.test(m))).toBe(true);
  });

  it('fails an import that bypasses a folder index.ts', async () => {
    const errs = await importErrors('src/daemon/probe.ts', "import { Uploader } from '../upload/uploader.js';\nexport const x = Uploader;\n");
    expect(errs).toEqual([expect.stringMatching(/only through its index\.ts/)]);
  });

  it('fails a root file importing a folder', async () => {
    const errs = await importErrors('src/probe.ts', "import { BatchStore } from './store/index.js';\nexport const x = BatchStore;\n");
    expect(errs).toHaveLength(1);
  });

  it('accepts the allowed direction through index.ts', async () => {
    const code = "import { Uploader } from '../upload/index.js';\nimport { BatchStore } from '../store/index.js';\nimport type { CanFrame } from '../types.js';\nexport const x = [Uploader, BatchStore];\nexport type F = CanFrame;\n";
    expect(await importErrors('src/daemon/probe.ts', code)).toEqual([]);
  });

  it('src/ as committed passes the layer rules', async () => {
    const results = await eslint.lintFiles(['src']);
    const bad = results.flatMap((r) => r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => `${path.relative(root, r.filePath)}:${m.line}: ${m.message}`));
    expect(bad).toEqual([]);
  });
});
