/**
 * Parser for FleetWise condition expressions (condition language version 1).
 *
 * Grammar, loosest binding first (as FleetWise's reference compiler; note that `!` binds looser
 * than comparisons and arithmetic, so `!a == b` is `!(a == b)`):
 *
 *   or      := and ('||' and)*
 *   and     := not ('&&' not)*
 *   not     := '!' not | compare
 *   compare := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)*
 *   sum     := product (('+' | '-') product)*
 *   product := primary (('*' | '/') primary)*
 *   primary := number | '-' number | string | true | false | signal | name '(' [or (',' or)*] ')' | '(' or ')'
 *   signal  := '$variable.' ( '`' any text but '`' '`' | plain dotted name [A-Za-z0-9_]+('.'[A-Za-z0-9_]+)* )
 *
 * All binary operators are left-associative. There is no unary minus operator (as FleetWise); a
 * `-` directly in front of a number literal makes a negative literal (`x > -5`, `2 * -3`), anything
 * else after a unary `-` is an error that suggests `(0 - x)`. Numbers: `12`, `1.5`, `.5`, `1e-3`.
 * Strings: single or double quotes with `\\`, `\'`, `\"`, `\n`, `\t` escapes. `true` / `false`
 * (any letter case). Names with characters other than letters, digits, `_` and `.` (e.g. `-`)
 * need the back-ticks.
 */
import { EdgewiseError } from '../../errors.js';
import { MAX_EXPRESSION_DEPTH, type BinaryOp, type ExprNode } from './ast.js';

const enum T {
  Num,
  Str,
  Bool,
  Signal,
  Name,
  Op,
  End,
}

interface Token {
  t: T;
  /** Operator text, name, string value or signal name. */
  text: string;
  num: number;
  pos: number;
  /** Offset just after the token. */
  end: number;
}

/** A one-line excerpt of the expression with a caret under `pos` (0-based). */
export function caretExcerpt(expression: string, pos: number): string {
  const flat = expression.replace(/[\r\n\t]/g, ' ');
  let start = 0;
  let text = flat;
  // Keep long expressions readable: show at most ~100 characters around the error.
  if (flat.length > 100) {
    start = Math.max(0, Math.min(pos - 50, flat.length - 100));
    text = (start > 0 ? '...' : '') + flat.slice(start, start + 100) + (start + 100 < flat.length ? '...' : '');
  }
  const caretAt = pos - start + (start > 0 ? 3 : 0);
  return `  ${text}\n  ${' '.repeat(Math.max(0, caretAt))}^`;
}

export function syntaxError(expression: string, pos: number, message: string): EdgewiseError {
  const column = pos + 1;
  return new EdgewiseError('EXPRESSION_SYNTAX', `${message} at column ${column}\n${caretExcerpt(expression, pos)}\n`, {
    expression,
    column,
  });
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isWordChar = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;

const VARIABLE_PREFIX = '$variable.';

class Lexer {
  private i = 0;
  constructor(private readonly src: string) {}

  private fail(pos: number, message: string): never {
    throw syntaxError(this.src, pos, message);
  }

  next(): Token {
    const s = this.src;
    let i = this.i;
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
    const pos = i;
    if (i >= s.length) {
      this.i = i;
      return { t: T.End, text: '', num: 0, pos, end: pos };
    }
    const c = s.charCodeAt(i);
    const tok = (t: T, text: string, end: number, num = 0): Token => {
      this.i = end;
      return { t, text, num, pos, end };
    };

    if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(i + 1)))) {
      let j = i;
      while (isDigit(s.charCodeAt(j))) j++;
      if (s[j] === '.') {
        j++;
        while (isDigit(s.charCodeAt(j))) j++;
      }
      if (s[j] === 'e' || s[j] === 'E') {
        let k = j + 1;
        if (s[k] === '+' || s[k] === '-') k++;
        if (!isDigit(s.charCodeAt(k))) this.fail(k, 'Expected digits of the exponent');
        while (isDigit(s.charCodeAt(k))) k++;
        j = k;
      }
      if (j < s.length && (isWordChar(s.charCodeAt(j)) || s[j] === '.')) this.fail(j, `Unexpected '${s[j]}' after number`);
      return tok(T.Num, s.slice(i, j), j, Number(s.slice(i, j)));
    }

    if (c === 39 || c === 34) {
      const q = s[i];
      let out = '';
      let j = i + 1;
      for (;;) {
        if (j >= s.length) this.fail(pos, 'Unterminated string');
        const ch = s[j];
        if (ch === q) break;
        if (ch === '\\') {
          const e = s[j + 1];
          if (e === 'n') out += '\n';
          else if (e === 't') out += '\t';
          else if (e === '\\' || e === "'" || e === '"') out += e;
          else this.fail(j, `Unknown escape '\\${e ?? ''}' in string (known: \\\\ \\' \\" \\n \\t)`);
          j += 2;
          continue;
        }
        out += ch;
        j++;
      }
      return tok(T.Str, out, j + 1);
    }

    if (c === 36 /* $ */) {
      if (!s.startsWith(VARIABLE_PREFIX, i)) {
        this.fail(pos, "Expected '$variable.' followed by a signal name, e.g. $variable.`Vehicle.Speed`");
      }
      let j = i + VARIABLE_PREFIX.length;
      if (s[j] === '`') {
        const close = s.indexOf('`', j + 1);
        if (close < 0) this.fail(j, 'Unterminated `signal name`');
        const name = s.slice(j + 1, close);
        if (name.trim() === '') this.fail(j, 'Empty signal name');
        return tok(T.Signal, name, close + 1);
      }
      const start = j;
      for (;;) {
        if (!isWordChar(s.charCodeAt(j))) this.fail(j, 'Expected a signal name, e.g. $variable.`Vehicle.Speed`');
        while (isWordChar(s.charCodeAt(j))) j++;
        if (s[j] === '.' && isWordChar(s.charCodeAt(j + 1))) {
          j++;
          continue;
        }
        break;
      }
      if (s[j] === '-' && isWordChar(s.charCodeAt(j + 1)) && !isDigit(s.charCodeAt(j + 1))) {
        this.fail(j, "Signal names containing '-' must be written in back-ticks, e.g. $variable.`A.b-c`");
      }
      return tok(T.Signal, s.slice(start, j), j);
    }

    if (isWordChar(c)) {
      let j = i;
      while (isWordChar(s.charCodeAt(j))) j++;
      const word = s.slice(i, j);
      const lower = word.toLowerCase();
      if (lower === 'true' || lower === 'false') return tok(T.Bool, lower, j);
      let k = j;
      while (s[k] === ' ' || s[k] === '\t' || s[k] === '\n' || s[k] === '\r') k++;
      if (s[k] !== '(') {
        this.fail(pos, `Unknown name '${word}'; a signal is written $variable.\`${word}\`, a function call as ${word}(...)`);
      }
      return tok(T.Name, word, j);
    }

    const two = s.slice(i, i + 2);
    if (two === '<=' || two === '>=' || two === '==' || two === '!=' || two === '&&' || two === '||') {
      return tok(T.Op, two, i + 2);
    }
    const one = s[i];
    if ('+-*/<>!(),'.includes(one)) return tok(T.Op, one, i + 1);
    if (one === '=') this.fail(pos, "Unexpected '='; use '==' to compare");
    if (one === '&') this.fail(pos, "Unexpected '&'; use '&&' for logical and");
    if (one === '|') this.fail(pos, "Unexpected '|'; use '||' for logical or");
    if (one === '`') this.fail(pos, "Unexpected '`'; a signal is written $variable.`Vehicle.Speed`");
    return this.fail(pos, `Unexpected character '${one}'`);
  }
}

const COMPARE = new Set(['<', '<=', '>', '>=', '==', '!=']);

class Parser {
  private readonly lexer: Lexer;
  private tok: Token;
  /** Height of every node built (root depth check without recursion). */
  private readonly height = new WeakMap<ExprNode, number>();
  /** Current nesting of parentheses / calls / `!` (bounds the parser's own recursion). */
  private nesting = 0;

  constructor(private readonly src: string) {
    this.lexer = new Lexer(src);
    this.tok = this.lexer.next();
  }

  private fail(pos: number, message: string): never {
    throw syntaxError(this.src, pos, message);
  }

  private advance(): Token {
    const t = this.tok;
    this.tok = this.lexer.next();
    return t;
  }

  private isOp(text: string): boolean {
    return this.tok.t === T.Op && this.tok.text === text;
  }

  private describe(t: Token): string {
    switch (t.t) {
      case T.End:
        return 'end of expression';
      case T.Num:
        return `number ${t.text}`;
      case T.Str:
        return 'string';
      case T.Bool:
        return t.text;
      case T.Signal:
        return `signal \`${t.text}\``;
      case T.Name:
        return `'${t.text}'`;
      case T.Op:
        return `'${t.text}'`;
    }
  }

  private leaf<N extends ExprNode>(n: N): N {
    this.height.set(n, 1);
    return n;
  }

  private node<N extends ExprNode>(n: N, children: readonly ExprNode[]): N {
    let h = 0;
    for (const c of children) h = Math.max(h, this.height.get(c) ?? 1);
    h += 1;
    if (h > MAX_EXPRESSION_DEPTH) {
      this.fail(n.pos, `Expression is nested too deeply (more than ${MAX_EXPRESSION_DEPTH} levels)`);
    }
    this.height.set(n, h);
    return n;
  }

  private enter(pos: number): void {
    if (++this.nesting > MAX_EXPRESSION_DEPTH) {
      this.fail(pos, `Expression is nested too deeply (more than ${MAX_EXPRESSION_DEPTH} levels)`);
    }
  }

  parse(): ExprNode {
    if (this.tok.t === T.End) this.fail(this.tok.pos, 'Empty expression');
    const e = this.parseOr();
    const t = this.tok as Token;
    if (t.t !== T.End) {
      if (t.t === T.Op && t.text === ')') this.fail(t.pos, "Unmatched ')'");
      this.fail(t.pos, `Expected an operator or end of expression, found ${this.describe(t)}`);
    }
    return e;
  }

  private parseOr(): ExprNode {
    let left = this.parseAnd();
    while (this.isOp('||')) {
      const op = this.advance();
      const right = this.parseAnd();
      left = this.node({ kind: 'binary', op: '||', left, right, pos: op.pos }, [left, right]);
    }
    return left;
  }

  private parseAnd(): ExprNode {
    let left = this.parseNot();
    while (this.isOp('&&')) {
      const op = this.advance();
      const right = this.parseNot();
      left = this.node({ kind: 'binary', op: '&&', left, right, pos: op.pos }, [left, right]);
    }
    return left;
  }

  private parseNot(): ExprNode {
    if (this.isOp('!')) {
      const op = this.advance();
      this.enter(op.pos);
      const operand = this.parseNot();
      this.nesting--;
      return this.node({ kind: 'not', operand, pos: op.pos }, [operand]);
    }
    return this.parseCompare();
  }

  private parseCompare(): ExprNode {
    let left = this.parseSum();
    while (this.tok.t === T.Op && COMPARE.has(this.tok.text)) {
      const op = this.advance();
      const right = this.parseSum();
      left = this.node({ kind: 'binary', op: op.text as BinaryOp, left, right, pos: op.pos }, [left, right]);
    }
    return left;
  }

  private parseSum(): ExprNode {
    let left = this.parseProduct();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.advance();
      const right = this.parseProduct();
      left = this.node({ kind: 'binary', op: op.text as BinaryOp, left, right, pos: op.pos }, [left, right]);
    }
    return left;
  }

  private parseProduct(): ExprNode {
    let left = this.parsePrimary();
    while (this.isOp('*') || this.isOp('/')) {
      const op = this.advance();
      const right = this.parsePrimary();
      left = this.node({ kind: 'binary', op: op.text as BinaryOp, left, right, pos: op.pos }, [left, right]);
    }
    return left;
  }

  private parsePrimary(): ExprNode {
    const t = this.tok;
    switch (t.t) {
      case T.Num:
        this.advance();
        return this.leaf({ kind: 'number', value: t.num, pos: t.pos });
      case T.Str:
        this.advance();
        return this.leaf({ kind: 'string', value: t.text, pos: t.pos });
      case T.Bool:
        this.advance();
        return this.leaf({ kind: 'boolean', value: t.text === 'true', pos: t.pos });
      case T.Signal:
        this.advance();
        return this.leaf({ kind: 'signal', name: t.text, pos: t.pos });
      case T.Name:
        return this.parseCall();
      case T.Op:
        if (t.text === '(') {
          this.advance();
          this.enter(t.pos);
          const inner = this.parseOr();
          this.nesting--;
          if (!this.isOp(')')) this.fail(this.tok.pos, `Expected ')' to close the '(' at column ${t.pos + 1}, found ${this.describe(this.tok)}`);
          this.advance();
          return inner;
        }
        if (t.text === '-') {
          this.advance();
          const n = this.tok;
          if (n.t === T.Num) {
            this.advance();
            return this.leaf({ kind: 'number', value: -n.num, pos: t.pos });
          }
          this.fail(t.pos, "Unary '-' applies only to number literals; write (0 - x)");
        }
        if (t.text === '!') {
          this.fail(t.pos, "'!' binds looser than comparisons and arithmetic; put it in parentheses, e.g. a == (!b)");
        }
        return this.fail(t.pos, `Expected a value, found ${this.describe(t)}`);
      case T.End:
        return this.fail(t.pos, 'Unexpected end of expression, expected a value');
    }
  }

  private parseCall(): ExprNode {
    const name = this.advance(); // the lexer made sure '(' follows
    const open = this.advance();
    this.enter(open.pos);
    const args: ExprNode[] = [];
    if (!this.isOp(')')) {
      for (;;) {
        args.push(this.parseOr());
        if (this.isOp(',')) {
          this.advance();
          continue;
        }
        break;
      }
      if (!this.isOp(')')) {
        this.fail(this.tok.pos, `Expected ',' or ')' in the arguments of ${name.text}(, found ${this.describe(this.tok)}`);
      }
    }
    this.advance();
    this.nesting--;
    const node: ExprNode = { kind: 'call', name: name.text, args, pos: name.pos };
    return args.length === 0 ? this.leaf(node) : this.node(node, args);
  }
}

/**
 * Parses a condition expression. Throws EdgewiseError `EXPRESSION_SYNTAX` with context
 * `{ expression, column }` (1-based) and a message that quotes the expression with a caret.
 */
export function parseExpression(text: string): ExprNode {
  return new Parser(text).parse();
}
