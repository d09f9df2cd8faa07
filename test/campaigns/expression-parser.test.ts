import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatExpression, MAX_EXPRESSION_DEPTH, parseExpression } from '../../src/campaigns/expression/index.js';
import { EdgewiseError, isEdgewiseError } from '../../src/errors.js';

const fmt = (s: string): string => formatExpression(parseExpression(s));

function syntaxErrorOf(text: string): EdgewiseError {
  try {
    parseExpression(text);
  } catch (e) {
    if (isEdgewiseError(e, 'EXPRESSION_SYNTAX')) return e;
    throw e;
  }
  throw new Error(`expected a syntax error for: ${text}`);
}

describe('expression parser: precedence and associativity (FleetWise order)', () => {
  const cases: [string, string][] = [
    ['1 + 2 * 3', '(1 + (2 * 3))'],
    ['1 * 2 + 3', '((1 * 2) + 3)'],
    ['8 / 4 / 2', '((8 / 4) / 2)'],
    ['1 - 2 - 3', '((1 - 2) - 3)'],
    ['1 + 2 < 3 * 4', '((1 + 2) < (3 * 4))'],
    ['1 < 2 == true', '((1 < 2) == true)'],
    // `!` binds looser than comparisons:
    ['!1 == 2', '(!(1 == 2))'],
    ['!true && false', '((!true) && false)'],
    ['!!true', '(!(!true))'],
    ['true || false && false', '(true || (false && false))'],
    ['true && false || true', '((true && false) || true)'],
    ['(1 + 2) * 3', '((1 + 2) * 3)'],
    ['a() || b(1, 2 + 3)', "(a() || b(1, (2 + 3)))"],
    ['$variable.`Vehicle.Speed` > 100', '($variable.`Vehicle.Speed` > 100)'],
    ['$variable.Vehicle.Speed>100', '($variable.`Vehicle.Speed` > 100)'],
    ['$variable.`A.b-c [0]` == 1', '($variable.`A.b-c [0]` == 1)'],
    ["custom_function('abs', -5)", "custom_function('abs', -5)"],
    ['x(1 - -5)', 'x((1 - -5))'],
    ['2 * -3.5e2', '(2 * -350)'],
    ['.5 + 1.', '(0.5 + 1)'],
    ['1e-3', '0.001'],
    ['TRUE == False', '(true == false)'],
    [`'it\\'s' + "a\\"b"`, `('it\\'s' + 'a"b')`],
    ['  1\n+\t2  ', '(1 + 2)'],
    ['isNull($variable.`X`) && last_window_avg($variable.`Y`) > prev_last_window_avg($variable.`Y`)',
      '(isNull($variable.`X`) && (last_window_avg($variable.`Y`) > prev_last_window_avg($variable.`Y`)))'],
  ];
  it.each(cases)('%s  ->  %s', (src, want) => {
    expect(fmt(src)).toBe(want);
  });

  it('formatted output parses back to the same tree', () => {
    for (const [src] of cases) {
      const once = fmt(src);
      expect(fmt(once)).toBe(once);
    }
  });

  it('records the column of each node', () => {
    const n = parseExpression('1 +  $variable.`A`');
    expect(n.kind).toBe('binary');
    if (n.kind !== 'binary') return;
    expect(n.pos).toBe(2);
    expect(n.right.pos).toBe(5);
  });
});

describe('expression parser: errors point at the column with a caret', () => {
  const cases: [string, number, RegExp][] = [
    ['1 +', 4, /end of expression/],
    ['(1 + 2', 7, /Expected '\)'/],
    ['1 + 2)', 6, /Unmatched '\)'/],
    ['1 = 2', 3, /use '=='/],
    ['a & b', 1, /Unknown name 'a'/],
    ['1 & 2', 3, /use '&&'/],
    ['1 | 2', 3, /use '\|\|'/],
    ["'abc", 1, /Unterminated string/],
    ['$variable.`abc', 11, /Unterminated/],
    ['$var.x', 1, /\$variable\./],
    ['$variable.A.b-c > 1', 14, /back-ticks/],
    ['Vehicle.Speed > 1', 1, /Unknown name 'Vehicle'/],
    ['1 == !true', 6, /binds looser/],
    ['-$variable.`A`', 1, /Unary '-'/],
    ['1 2', 3, /Expected an operator/],
    ['12abc', 3, /after number/],
    ['1e+', 4, /exponent/],
    ['f(1,', 5, /end of expression/],
    ['f(1 2)', 5, /Expected ',' or '\)'/],
    ['', 1, /Empty expression/],
    ['1 # 2', 3, /Unexpected character '#'/],
    ["'a\\q'", 3, /Unknown escape/],
  ];
  it.each(cases)('%j -> column %i', (src, column, re) => {
    const e = syntaxErrorOf(src);
    expect(e.context.column).toBe(column);
    expect(e.context.expression).toBe(src);
    expect(e.message).toMatch(re);
    // The message shows the expression and a caret under the column on the next line.
    const lines = e.message.split('\n');
    const exprLine = lines.findIndex((l) => l === `  ${src.replace(/[\r\n\t]/g, ' ')}`);
    expect(exprLine).toBeGreaterThan(0);
    expect(lines[exprLine + 1]).toBe(`  ${' '.repeat(column - 1)}^`);
  });

  it(`rejects trees deeper than ${MAX_EXPRESSION_DEPTH} and accepts that depth`, () => {
    const nested = (d: number): string => '('.repeat(d) + '1' + ')'.repeat(d);
    expect(fmt(nested(MAX_EXPRESSION_DEPTH))).toBe('1');
    expect(syntaxErrorOf(nested(MAX_EXPRESSION_DEPTH + 1)).message).toMatch(/nested too deeply/);
    const chain = (n: number): string => Array.from({ length: n }, () => '1').join(' + ');
    expect(() => parseExpression(chain(MAX_EXPRESSION_DEPTH))).not.toThrow(); // depth 64: 63 operators
    expect(syntaxErrorOf(chain(MAX_EXPRESSION_DEPTH + 1)).message).toMatch(/nested too deeply/);
    // Very deep input fails cleanly instead of overflowing the stack.
    expect(syntaxErrorOf('!'.repeat(100_000) + 'true').code).toBe('EXPRESSION_SYNTAX');
    expect(syntaxErrorOf('('.repeat(100_000)).code).toBe('EXPRESSION_SYNTAX');
  });

  it('long expressions show an excerpt around the error with the caret aligned', () => {
    const src = `${'1 + '.repeat(40)}) + 2`;
    const e = syntaxErrorOf(src);
    const lines = e.message.split('\n');
    const caretLine = lines.findIndex((l) => /^\s*\^$/.test(l));
    const shown = lines[caretLine - 1];
    expect(shown[lines[caretLine].indexOf('^')]).toBe(')');
  });
});

describe('expression parser: fuzz', () => {
  const alphabet = [
    '$variable.`A`', '$variable.B.c', '1', '2.5', '-', '+', '*', '/', '<', '<=', '==', '!=', '!', '&&', '||',
    '(', ')', ',', "'s'", 'true', 'isNull(', 'custom_function(', ' ', '=', '&', '`', '$', '"', '.', 'e', '9e', '#',
  ];
  it('random token soup either parses or throws EXPRESSION_SYNTAX', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (parts) => {
        const text = parts.join('');
        try {
          const tree = parseExpression(text);
          // Whatever parsed must print and re-parse to the same thing.
          expect(fmt(formatExpression(tree))).toBe(formatExpression(tree));
        } catch (e) {
          if (!isEdgewiseError(e, 'EXPRESSION_SYNTAX')) throw e;
          const col = e.context.column as number;
          expect(col).toBeGreaterThanOrEqual(1);
          expect(col).toBeLessThanOrEqual(text.length + 1);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('random strings either parse or throw EXPRESSION_SYNTAX', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        try {
          parseExpression(text);
        } catch (e) {
          if (!isEdgewiseError(e, 'EXPRESSION_SYNTAX')) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
