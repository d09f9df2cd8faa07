import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadDbcFile } from '../../src/dbc/index.js';
import { compileDatabase, signalType } from '../../src/decode/index.js';
import { DBC_DIR, dbcPath, HAVE_SHARED, sharedDbcFiles } from '../decode/shared.js';

interface ManifestEntry {
  file: string;
  messages: number;
  signals: number;
  extended: number;
  gt8: number;
  big_endian: number;
  signed: number;
  float: number;
  with_choices: number;
}

describe.skipIf(!HAVE_SHARED)('the 39 corpus DBC files load', () => {
  const manifest: ManifestEntry[] = HAVE_SHARED ? JSON.parse(readFileSync(`${DBC_DIR}/MANIFEST.json`, 'utf8')) : [];

  it('has all 39 files', () => {
    expect(sharedDbcFiles().length).toBe(39);
  });

  for (const e of manifest) {
    it(`${e.file}: counts match the corpus manifest; only signals past the message end are left out`, () => {
      const db = loadDbcFile(dbcPath(e.file));
      const sigs = db.messages.flatMap((m) => m.signals);
      const dropped = db.warnings.filter((w) => /does not fit the \d+-byte message; left out$/.test(w)).length;
      for (const w of db.warnings) expect(w).toMatch(/does not fit the \d+-byte message; left out$|VAL_ names? an unknown message or signal|is not marked M; never decoded$/);
      expect(db.messages.length).toBe(e.messages);
      expect(sigs.length + dropped).toBe(e.signals);
      expect(db.messages.filter((m) => m.extended).length).toBe(e.extended);
      expect(db.messages.filter((m) => m.length > 8 && m.fd).length).toBe(e.gt8);
      expect(sigs.filter((s) => s.signed).length).toBeLessThanOrEqual(e.signed);
      expect(sigs.filter((s) => s.valueType !== 'integer').length).toBe(e.float);
      expect(sigs.filter((s) => s.choices).length).toBeLessThanOrEqual(e.with_choices);
      const table = compileDatabase(db);
      for (const m of db.messages) expect(table.lookup(m.id, m.extended)?.message).toBe(m);
      for (const s of sigs) expect(signalType(s)).toMatch(/^(u?int(8|16|32|64)|float(32|64))$/);
    });
  }

  it('knows the files that have signals past the message end', () => {
    const warned = manifest
      .filter((e) => loadDbcFile(dbcPath(e.file)).warnings.some((w) => w.endsWith('left out')))
      .map((e) => e.file)
      .sort();
    expect(warned).toEqual(['FORD_CADS_64.dbc', 'mazda_3_2019.dbc', 'vw_pq.dbc']);
  });
});
