/**
 * A bound on flow-collection nesting (`[` / `{`) in campaign and manifest text, checked before
 * any YAML/JSON parser sees it: ~1,000 nested brackets (2 KB) aborted V8 inside the parsers
 * (issue #12, finding 4). Quoted strings and comments are skipped; the scan is linear and
 * allocation-free. Real FleetWise documents nest a handful of levels.
 */
export const MAX_DOCUMENT_NESTING = 64;

/** The 1-based line:column where nesting first exceeds `max`, or undefined when it never does. */
export function findExcessNesting(text: string, max = MAX_DOCUMENT_NESTING): { line: number; column: number } | undefined {
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      lineStart = i + 1;
    } else if (c === 34 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 34; i++) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i++;
        else if (d === 10) {
          line++;
          lineStart = i + 1;
        }
      }
    } else if (c === 39 /* ' */) {
      // YAML single quotes escape ' as '', which this loop treats as two adjacent strings
      for (i++; i < text.length && text.charCodeAt(i) !== 39; i++) {
        if (text.charCodeAt(i) === 10) {
          line++;
          lineStart = i + 1;
        }
      }
    } else if (c === 35 /* # */ && (i === 0 || text.charCodeAt(i - 1) <= 32)) {
      while (i + 1 < text.length && text.charCodeAt(i + 1) !== 10) i++;
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return { line, column: i - lineStart + 1 };
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      if (depth > 0) depth--;
    }
  }
  return undefined;
}
