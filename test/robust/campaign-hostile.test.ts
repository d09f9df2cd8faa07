// Issue #12 findings 3 and 4: hostile campaign text gets CAMPAIGN_INVALID, never a crash.
import { describe, expect, it } from 'vitest';
import { checkCampaignDocument, parseCampaign } from '../../src/campaigns/model.js';
import { findExcessNesting, MAX_DOCUMENT_NESTING } from '../../src/documents/nesting.js';
import { isEdgewiseError } from '../../src/errors.js';

function aliasBomb(): string {
  // the classic "billion laughs": 9 levels of 9 aliases each (9^9 nodes when expanded)
  const lines = ['name: c', 'a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]'];
  for (let i = 1; i <= 9; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(',')}]`);
  lines.push('tags: *a9');
  return lines.join('\n') + '\n';
}

describe('hostile campaign documents (issue #12)', () => {
  it('a YAML alias bomb is CAMPAIGN_INVALID with a reason, not a TypeError', () => {
    const r = checkCampaignDocument(aliasBomb(), 'bomb.yaml');
    expect(r.campaign).toBeUndefined();
    expect(r.problems[0].message).toMatch(/alias/i);
    try {
      parseCampaign(aliasBomb(), 'bomb.yaml');
      expect.unreachable();
    } catch (e) {
      expect(isEdgewiseError(e, 'CAMPAIGN_INVALID')).toBe(true);
    }
  });

  it('2 KB of nested JSON is CAMPAIGN_INVALID at the line:column where the limit is passed', () => {
    const text = '{"name":"c","x":' + '['.repeat(1000) + ']'.repeat(1000) + '}';
    const r = checkCampaignDocument(text, 'deep.json');
    expect(r.campaign).toBeUndefined();
    expect(r.problems[0].message).toMatch(/nesting deeper than 64/);
    expect(r.problems[0].line).toBe(1);
    // the outer `{` is level 1, so level 65 is the 64th `[` after `"x":` (column 17 is the first)
    expect(r.problems[0].column).toBe(17 + MAX_DOCUMENT_NESTING - 1);
  });

  it('brackets inside quotes and comments do not count', () => {
    const inner = '['.repeat(200);
    expect(findExcessNesting(`a: "${inner}"\nb: '${inner}'\n# ${inner}\n`)).toBeUndefined();
    expect(findExcessNesting('['.repeat(65))).toEqual({ line: 1, column: 65 });
  });
});
