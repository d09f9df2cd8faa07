/** Source texts (JSON or YAML) parsed to a plain value, with line:column for any path on demand. */
import { CORE_SCHEMA, EVENT_ID, constructFromEvents, parseEvents } from 'js-yaml';
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Document } from 'yaml';
import { EdgewiseError } from '../errors.js';
import { MAX_DOCUMENT_NESTING, findExcessNesting } from './nesting.js';

/** A parsed source text: the plain value plus, for YAML/JSON text, a way to find a path's line:column. */
export interface SourceDocument {
  value: unknown;
  /** 1-based line/column of the node at `path`, or the closest existing parent. */
  locate(path: readonly PropertyKey[]): { line: number; column: number } | undefined;
}

/**
 * Parses JSON or YAML text (JSON is read as YAML 1.2, which accepts it); `locate` maps a path back
 * to line:column. Throws EdgewiseError(`code`) with file:line:column on a syntax error.
 *
 * Two parsers, one answer. The value comes from js-yaml (YAML 1.2 core schema, like `yaml`'s
 * default) when it can: it builds plain objects without a syntax tree. `yaml`'s Document keeps
 * every node with its source range, which is what `locate` and the syntax errors need, but takes
 * ~60 bytes of heap per byte of text: 13 MB for a 4 x 380-signal manifest, the daemon's whole
 * start-up peak (bench/soak). So the Document is built only when something must be located (an
 * invalid or warned-about document) and for what the fast path leaves alone: syntax errors,
 * duplicate keys, anchors and aliases (`yaml` caps their expansion), tags, directives and empty
 * or multi-document text. test/campaigns/yaml-parse.test.ts checks both give the same values.
 */
export function parseSourceText(text: string, code: 'CAMPAIGN_INVALID' | 'MANIFEST_INVALID', file?: string): SourceDocument {
  // A `.json` file is JSON: YAML would accept `{"name":"x",}` and other things JSON does not.
  if (file !== undefined && /\.json$/i.test(file)) checkJsonSyntax(text, code, file);
  const deep = findExcessNesting(text);
  if (deep) {
    const msg = `nesting deeper than ${MAX_DOCUMENT_NESTING} levels`;
    throw new EdgewiseError(code, `${file ? '' : `line ${deep.line}: `}${msg}`, { file, line: deep.line, column: deep.column, reason: msg });
  }
  const fast = plainValue(text);
  if (fast === undefined) return locatedDocument(text, code, file);
  let located: SourceDocument | undefined;
  return {
    value: fast.value,
    locate(path) {
      try {
        located ??= locatedDocument(text, code, file);
      } catch {
        return undefined; // js-yaml took what `yaml` calls a syntax error: no positions to give
      }
      return located.locate(path);
    },
  };
}

/** The value by js-yaml, or undefined where only `yaml` gives the answer the project documents (exported for its tests). */
export function plainValue(text: string): { value: unknown } | undefined {
  try {
    const events = parseEvents(text, {});
    let documents = 0;
    for (const e of events) {
      if (e.type === EVENT_ID.DOCUMENT) {
        // `%YAML 1.1` switches `yaml` to the 1.1 schema; `%TAG` only matters with tags
        if (e.directives.length > 0 || ++documents > 1) return undefined;
      } else if (e.type === EVENT_ID.ALIAS) return undefined;
      else if (e.type !== EVENT_ID.POP && (e.tagStart >= 0 || e.anchorStart >= 0)) return undefined;
    }
    if (documents !== 1) return undefined;
    const [value] = constructFromEvents(events, { source: text, schema: CORE_SCHEMA });
    return { value };
  } catch {
    return undefined;
  }
}

/** yaml's alias expansion cap (the 9^9 "billion laughs" bomb stops here with CAMPAIGN_INVALID). */
const MAX_ALIAS_COUNT = 100;

/** Throws `code` with line:column when `text` is not valid JSON. */
function checkJsonSyntax(text: string, code: 'CAMPAIGN_INVALID' | 'MANIFEST_INVALID', file: string): void {
  try {
    JSON.parse(text);
  } catch (e) {
    const raw = (e as Error).message;
    const m = /at position (\d+)/.exec(raw);
    const pos = m ? Number(m[1]) : text.length;
    const before = text.slice(0, pos);
    const line = before.split('\n').length;
    const column = pos - before.lastIndexOf('\n');
    const msg = `invalid JSON: ${raw.replace(/\s*in JSON at position \d+.*$/, '')}`;
    throw new EdgewiseError(code, msg, { file, line, column, reason: msg }, { cause: e });
  }
}

/** `yaml`'s Document: positions for every node, and the syntax errors with line:column. */
function locatedDocument(text: string, code: 'CAMPAIGN_INVALID' | 'MANIFEST_INVALID', file?: string): SourceDocument {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const pos = lineCounter.linePos(err.pos[0]);
    const msg = err.message.split('\n')[0];
    throw new EdgewiseError(code, `${file ? '' : `line ${pos.line}: `}${msg}`, {
      file,
      line: pos.line,
      column: pos.col,
      reason: msg,
    });
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch (e) {
    // `yaml` throws a plain ReferenceError when aliases expand past the cap (an alias bomb)
    const msg = `aliases expand too far (more than ${MAX_ALIAS_COUNT} alias nodes): ${(e as Error).message}`;
    throw new EdgewiseError(code, msg, { file, line: 1, column: 1, reason: msg }, { cause: e });
  }
  return {
    value,
    locate(path) {
      for (let n = path.length; n >= 0; n--) {
        const key = path[n - 1];
        // Prefer the key of a mapping entry (`name:`), so unknown and wrong fields point at their name.
        if (n > 0 && typeof key === 'string') {
          const parent = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1) as unknown[], true);
          if (isMap(parent)) {
            const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === key);
            if (pair && isNode(pair.key) && pair.key.range) {
              const pos = lineCounter.linePos(pair.key.range[0]);
              return { line: pos.line, column: pos.col };
            }
          }
          continue;
        }
        const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
        if (isNode(node) && node.range) {
          const pos = lineCounter.linePos(node.range[0]);
          return { line: pos.line, column: pos.col };
        }
      }
      return undefined;
    },
  };
}
