import { EdgewiseError } from '../errors.js';

/** A number as written: its value, and the exact integer when it is one beyond 2^53. */
export interface NumberToken {
  value: number;
  /** Written without fraction or exponent. */
  isInteger: boolean;
  /** Set for integers whose magnitude exceeds Number.MAX_SAFE_INTEGER. */
  big?: bigint;
  text: string;
}

const NAME = /[A-Za-z0-9_]+/y;
const NUMBER = /[+-]?(?:0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)/y;
const TOKEN_PREVIEW = /[^\s]{1,40}/y;

/** A saved lexer position (see `Lexer.mark`). */
export interface LexerMark {
  readonly pos: number;
  readonly line: number;
  readonly lineStart: number;
  readonly lastTokenLine: number;
}

/**
 * A cursor over DBC text. The parser asks for the token it expects next (`name()`, `number()`,
 * `string()`, `expect(':')`); whitespace and `//` line comments between tokens are skipped.
 * Every failure is a DBC_SYNTAX EdgewiseError naming line, column, what was expected and found.
 */
export class Lexer {
  pos = 0;
  private line = 1;
  private lineStart = 0;
  /** Line of the last token read (for "same line" tests). */
  lastTokenLine = 1;

  constructor(
    readonly src: string,
    readonly file: string,
  ) {}

  /** Skips whitespace and comments; returns true when text remains. */
  skip(): boolean {
    const s = this.src;
    let p = this.pos;
    for (;;) {
      const c = s.charCodeAt(p);
      if (c === 10) {
        p++;
        this.line++;
        this.lineStart = p;
      } else if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) {
        p++;
      } else if (c === 47 && s.charCodeAt(p + 1) === 47) {
        while (p < s.length && s.charCodeAt(p) !== 10) p++;
      } else break;
    }
    this.pos = p;
    return p < s.length;
  }

  /** The lexer's whole position (offset, line, line start), for backtracking with `reset`. */
  mark(): LexerMark {
    return { pos: this.pos, line: this.line, lineStart: this.lineStart, lastTokenLine: this.lastTokenLine };
  }

  /** Returns to a `mark()`: line and column stay right even when the skipped text had newlines. */
  reset(m: LexerMark): void {
    this.pos = m.pos;
    this.line = m.line;
    this.lineStart = m.lineStart;
    this.lastTokenLine = m.lastTokenLine;
  }

  atEnd(): boolean {
    return !this.skip();
  }

  /** Next significant character ('' at end) without consuming it. */
  peek(): string {
    this.skip();
    return this.pos < this.src.length ? this.src[this.pos] : '';
  }

  /** 1-based column of the next token (after skipping). */
  column(): number {
    this.skip();
    return this.pos - this.lineStart + 1;
  }

  currentLine(): number {
    this.skip();
    return this.line;
  }

  /** The next token is on the same line as the previous one. */
  sameLine(): boolean {
    this.skip();
    return this.line === this.lastTokenLine;
  }

  peekName(): string | undefined {
    this.skip();
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.src);
    return m ? m[0] : undefined;
  }

  /** Consumes `ch` when it is next; returns whether it was. */
  accept(ch: string): boolean {
    if (this.peek() === ch) {
      this.lastTokenLine = this.line;
      this.pos++;
      return true;
    }
    return false;
  }

  expect(ch: string): void {
    if (!this.accept(ch)) this.fail(`'${ch}'`);
  }

  name(what = 'a name'): string {
    this.skip();
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.src);
    if (!m) this.fail(what);
    this.lastTokenLine = this.line;
    this.pos += m[0].length;
    return m[0];
  }

  /** Consumes the keyword `kw` (a whole name). */
  keyword(kw: string): void {
    const n = this.peekName();
    if (n !== kw) this.fail(`'${kw}'`);
    this.name();
  }

  isNumberNext(): boolean {
    this.skip();
    NUMBER.lastIndex = this.pos;
    return NUMBER.test(this.src);
  }

  number(what = 'a number'): NumberToken {
    this.skip();
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.src);
    if (!m) this.fail(what);
    const text = m[0];
    // A number must not run into a name (`12abc`).
    const next = this.src.charCodeAt(this.pos + text.length);
    if ((next >= 65 && next <= 90) || (next >= 97 && next <= 122) || next === 95) this.fail(what);
    this.lastTokenLine = this.line;
    this.pos += text.length;
    return parseNumberText(text);
  }

  /** An integer (no fraction); `what` names it in errors. */
  integer(what = 'an integer'): NumberToken {
    this.skip();
    const save = this.pos;
    const n = this.number(what);
    if (!n.isInteger) {
      this.pos = save;
      this.fail(what);
    }
    return n;
  }

  /** An unsigned integer that fits a JS number exactly. */
  uint(what = 'an unsigned integer'): number {
    this.skip();
    const save = this.pos;
    const n = this.number(what);
    if (!n.isInteger || n.big !== undefined || n.value < 0 || n.text.startsWith('-')) {
      this.pos = save;
      this.fail(what);
    }
    return n.value;
  }

  /** A double-quoted string; `\"` and `\\` are escapes; may span lines (CRLF becomes LF). */
  string(what = 'a string'): string {
    if (this.peek() !== '"') this.fail(what);
    const s = this.src;
    const opening = { line: this.line, column: this.pos - this.lineStart + 1 };
    let p = this.pos + 1;
    let out = '';
    let chunk = p;
    for (;;) {
      if (p >= s.length) {
        this.pos = p;
        this.fail(`'"' closing the string opened at line ${opening.line} column ${opening.column}`, opening);
      }
      const c = s.charCodeAt(p);
      if (c === 34) break;
      if (c === 92 && p + 1 < s.length && (s.charCodeAt(p + 1) === 34 || s.charCodeAt(p + 1) === 92)) {
        out += s.slice(chunk, p);
        p++;
        chunk = p;
      } else if (c === 10) {
        this.line++;
        this.lineStart = p + 1;
      }
      p++;
    }
    out += s.slice(chunk, p);
    this.lastTokenLine = this.line;
    this.pos = p + 1;
    return out.includes('\r\n') ? out.replace(/\r\n/g, '\n') : out;
  }

  /** Skips to just after the next `;` outside strings (for sections edgewise does not model). */
  skipStatement(): void {
    for (;;) {
      const c = this.peek();
      if (c === '') this.fail("';'");
      if (c === '"') this.string();
      else if (c === ';') {
        this.pos++;
        return;
      } else {
        const n = this.peekName();
        if (n !== undefined) this.name();
        else this.pos++;
      }
    }
  }

  /** Describes the next token for an error message. */
  found(): string {
    if (!this.skip()) return 'end of file';
    TOKEN_PREVIEW.lastIndex = this.pos;
    const m = TOKEN_PREVIEW.exec(this.src);
    const t = m ? m[0] : this.src[this.pos];
    // Show the name or number itself (the longer match: '1.5' is a number, '12abc' a name), or the
    // single punctuation character.
    NAME.lastIndex = this.pos;
    const nm = NAME.exec(this.src)?.[0] ?? '';
    NUMBER.lastIndex = this.pos;
    const nu = NUMBER.exec(this.src)?.[0] ?? '';
    if (nm || nu) return nu.length > nm.length ? nu : nm;
    return t[0] === '"' ? t : t[0];
  }

  fail(expected: string, at?: { line: number; column: number }): never {
    const found = this.found();
    const line = at?.line ?? this.line;
    const column = at?.column ?? this.pos - this.lineStart + 1;
    const shownFound = found === 'end of file' ? found : `'${found}'`;
    throw new EdgewiseError('DBC_SYNTAX', `expected ${expected} but found ${shownFound}`, {
      file: this.file,
      line,
      column,
      expected,
      found,
    });
  }

  /** Position of the next token, for errors reported after reading further. */
  where(): { line: number; column: number } {
    this.skip();
    return { line: this.line, column: this.pos - this.lineStart + 1 };
  }
}

export function parseNumberText(text: string): NumberToken {
  const hex = /^[+-]?0[xX]/.test(text);
  const isInteger = hex || !/[.eE]/.test(text);
  let value: number;
  let big: bigint | undefined;
  if (hex) {
    const neg = text.startsWith('-');
    const digits = text.replace(/^[+-]?0[xX]/, '');
    const b = BigInt('0x' + digits) * (neg ? -1n : 1n);
    value = Number(b);
    if (!Number.isSafeInteger(value)) big = b;
  } else {
    value = Number(text);
    if (isInteger && !Number.isSafeInteger(value)) big = BigInt(text.startsWith('+') ? text.slice(1) : text);
  }
  return { value, isInteger, big, text };
}
