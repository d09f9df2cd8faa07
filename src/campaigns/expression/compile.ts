/**
 * Compiles a parsed expression ONCE into nested closures; evaluating walks no tree and allocates
 * nothing (except when concatenating strings).
 *
 * Semantics (FleetWise's edge, src/CollectionInspectionEngine.cpp):
 * - a signal evaluates to its latest sample; before the first sample it is `undefined`;
 * - `undefined` propagates through every operator and function; both sides are always evaluated
 *   (no short-circuit), so `false && x` is undefined while `x` has no value;
 * - booleans and numbers cast implicitly (`1 + true == 2`, `false || 3`); a number is true when
 *   it is neither 0 nor NaN;
 * - `==` / `!=` on numbers use a tolerance of 0.001; strings support `==`, `!=` and `+` (concat);
 *   any other mix of a string with a non-string gives `undefined`;
 * - division by zero follows IEEE 754 (Infinity / NaN);
 * - a condition holds only when the result is a defined true value (`isTrue`).
 */
import { EdgewiseError } from '../../errors.js';
import type { ExprNode } from './ast.js';
import { caretExcerpt, parseExpression } from './parser.js';
import {
  defaultFunctionRegistry,
  WindowFn,
  type CustomFunction,
  type EvalContext,
  type ExprValue,
  type FunctionRegistry,
} from './functions.js';

/** Resolves names while compiling. */
export interface CompileEnv {
  /** Signal name -> numeric id; `undefined` for an unknown name. */
  resolveSignal(name: string): number | undefined;
  /** Custom functions (default: `defaultFunctionRegistry`). */
  functions?: FunctionRegistry;
  /** Source text of the tree, used to point at the column in compile errors. */
  source?: string;
  /** Suggestions for an unknown signal name ("did you mean"). */
  suggestSignals?(name: string): string[];
}

export type Evaluator = (ctx: EvalContext) => ExprValue;

export interface CompiledExpression {
  /** Evaluates the expression. */
  readonly evaluate: Evaluator;
  /** Distinct ids of signals whose latest value / freshness is read, ascending. */
  readonly referencedSignals: number[];
  /** Distinct ids of signals read through window functions, ascending. */
  readonly windowSignals: number[];
  /** Distinct ids passed to isNull, ascending. */
  readonly isNullSignals: number[];
  readonly usesIsNull: boolean;
  readonly usesCustomFunctions: boolean;
  /** True when a custom function is volatile: evaluate on every advance, not only on input change. */
  readonly volatile: boolean;
  /** Releases custom-function state. */
  dispose(): void;
}

/** True when `v` is a defined true value (true, or a number other than 0 and NaN). */
export function isTrue(v: ExprValue): boolean {
  return v === true || (typeof v === 'number' && v !== 0 && v === v);
}

const EQ_TOLERANCE = 0.001;

/** The built-in function names besides custom_function. */
const WINDOW_FUNCTIONS: Record<string, WindowFn> = {
  last_window_min: WindowFn.LAST_MIN,
  last_window_max: WindowFn.LAST_MAX,
  last_window_avg: WindowFn.LAST_AVG,
  prev_last_window_min: WindowFn.PREV_MIN,
  prev_last_window_max: WindowFn.PREV_MAX,
  prev_last_window_avg: WindowFn.PREV_AVG,
};
const KNOWN_FUNCTIONS = [...Object.keys(WINDOW_FUNCTIONS), 'isNull', 'custom_function'];

// --- operators on values (the fast path is inlined in the closures; these handle the rest) ---

const toNum = (v: ExprValue): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : undefined;

/** Truth value, or undefined for undefined / strings. */
const toBool = (v: ExprValue): boolean | undefined =>
  typeof v === 'boolean' ? v : typeof v === 'number' ? v !== 0 && v === v : undefined;

function numEq(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) < EQ_TOLERANCE;
}

function slowEq(a: ExprValue, b: ExprValue): boolean | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (typeof a === 'string' || typeof b === 'string') {
    return typeof a === 'string' && typeof b === 'string' ? a === b : undefined;
  }
  return numEq(toNum(a)!, toNum(b)!);
}

function slowArith(op: string, a: ExprValue, b: ExprValue): ExprValue {
  if (a === undefined || b === undefined) return undefined;
  if (typeof a === 'string' || typeof b === 'string') {
    return op === '+' && typeof a === 'string' && typeof b === 'string' ? a + b : undefined;
  }
  const x = toNum(a)!;
  const y = toNum(b)!;
  switch (op) {
    case '+':
      return x + y;
    case '-':
      return x - y;
    case '*':
      return x * y;
    default:
      return x / y;
  }
}

class Compiler {
  readonly refs = new Set<number>();
  readonly windows = new Set<number>();
  readonly isNulls = new Set<number>();
  usesCustom = false;
  volatile = false;
  readonly cleanups: (() => void)[] = [];

  constructor(private readonly env: CompileEnv) {}

  fail(node: ExprNode, message: string): never {
    const src = this.env.source;
    const column = node.pos + 1;
    const where = src !== undefined ? ` at column ${column}\n${caretExcerpt(src, node.pos)}\n` : '';
    throw new EdgewiseError('EXPRESSION_TYPE', `${message}${where}`, { expression: src, column });
  }

  signalId(node: ExprNode & { kind: 'signal' }): number {
    const id = this.env.resolveSignal(node.name);
    if (id === undefined) {
      const alt = this.env.suggestSignals?.(node.name) ?? [];
      const hint = alt.length > 0 ? ` (did you mean ${alt.map((a) => `'${a}'`).join(', ')}?)` : '';
      this.fail(node, `Unknown signal '${node.name}'${hint}`);
    }
    return id;
  }

  compile(node: ExprNode): Evaluator {
    switch (node.kind) {
      case 'number': {
        const v = node.value;
        return () => v;
      }
      case 'string': {
        const v = node.value;
        return () => v;
      }
      case 'boolean': {
        const v = node.value;
        return () => v;
      }
      case 'signal': {
        const id = this.signalId(node);
        this.refs.add(id);
        return (ctx) => ctx.signalValue(id);
      }
      case 'not': {
        const f = this.compile(node.operand);
        return (ctx) => {
          const v = f(ctx);
          if (typeof v === 'boolean') return !v;
          const b = toBool(v);
          return b === undefined ? undefined : !b;
        };
      }
      case 'binary':
        return this.binary(node);
      case 'call':
        return this.call(node);
    }
  }

  private binary(node: ExprNode & { kind: 'binary' }): Evaluator {
    const l = this.compile(node.left);
    const r = this.compile(node.right);
    switch (node.op) {
      case '+':
        return (ctx) => {
          const a = l(ctx);
          const b = r(ctx);
          return typeof a === 'number' && typeof b === 'number' ? a + b : slowArith('+', a, b);
        };
      case '-':
        return (ctx) => {
          const a = l(ctx);
          const b = r(ctx);
          return typeof a === 'number' && typeof b === 'number' ? a - b : slowArith('-', a, b);
        };
      case '*':
        return (ctx) => {
          const a = l(ctx);
          const b = r(ctx);
          return typeof a === 'number' && typeof b === 'number' ? a * b : slowArith('*', a, b);
        };
      case '/':
        return (ctx) => {
          const a = l(ctx);
          const b = r(ctx);
          return typeof a === 'number' && typeof b === 'number' ? a / b : slowArith('/', a, b);
        };
      case '==':
        return (ctx) => {
          const a = l(ctx);
          const b = r(ctx);
          return typeof a === 'number' && typeof b === 'number' ? numEq(a, b) : slowEq(a, b);
        };
      case '!=':
        return (ctx) => {
          const a = l(ctx);
          const b = r(ctx);
          if (typeof a === 'number' && typeof b === 'number') return !numEq(a, b);
          const e = slowEq(a, b);
          return e === undefined ? undefined : !e;
        };
      case '<':
      case '<=':
      case '>':
      case '>=':
        return this.relational(node.op, l, r);
      case '&&':
        return (ctx) => {
          const a = toBool(l(ctx));
          const b = toBool(r(ctx));
          return a === undefined || b === undefined ? undefined : a && b;
        };
      case '||':
        return (ctx) => {
          const a = toBool(l(ctx));
          const b = toBool(r(ctx));
          return a === undefined || b === undefined ? undefined : a || b;
        };
    }
  }

  private relational(op: '<' | '<=' | '>' | '>=', l: Evaluator, r: Evaluator): Evaluator {
    // Strings do not order (FleetWise: ==, != and + only): toNum gives undefined for them.
    switch (op) {
      case '<':
        return (ctx) => {
          const a = l(ctx);
          const b = r(ctx);
          if (typeof a === 'number' && typeof b === 'number') return a < b;
          const x = toNum(a);
          const y = toNum(b);
          return x === undefined || y === undefined ? undefined : x < y;
        };
      case '<=':
        return (ctx) => {
          const a = l(ctx);
          const b = r(ctx);
          if (typeof a === 'number' && typeof b === 'number') return a <= b;
          const x = toNum(a);
          const y = toNum(b);
          return x === undefined || y === undefined ? undefined : x <= y;
        };
      case '>':
        return (ctx) => {
          const a = l(ctx);
          const b = r(ctx);
          if (typeof a === 'number' && typeof b === 'number') return a > b;
          const x = toNum(a);
          const y = toNum(b);
          return x === undefined || y === undefined ? undefined : x > y;
        };
      case '>=':
        return (ctx) => {
          const a = l(ctx);
          const b = r(ctx);
          if (typeof a === 'number' && typeof b === 'number') return a >= b;
          const x = toNum(a);
          const y = toNum(b);
          return x === undefined || y === undefined ? undefined : x >= y;
        };
    }
  }

  private call(node: ExprNode & { kind: 'call' }): Evaluator {
    const win = WINDOW_FUNCTIONS[node.name];
    if (win !== undefined || node.name === 'isNull') {
      if (node.args.length !== 1 || node.args[0].kind !== 'signal') {
        this.fail(node, `${node.name}() takes exactly one signal, e.g. ${node.name}($variable.\`Vehicle.Speed\`)`);
      }
      const id = this.signalId(node.args[0]);
      if (win !== undefined) {
        this.windows.add(id);
        return (ctx) => ctx.windowValue(id, win);
      }
      this.isNulls.add(id);
      this.refs.add(id);
      return (ctx) => ctx.isNull(id);
    }
    if (node.name !== 'custom_function') {
      this.fail(node, `Unknown function '${node.name}' (known: ${KNOWN_FUNCTIONS.join(', ')})`);
    }
    const registry = this.env.functions ?? defaultFunctionRegistry;
    const first = node.args[0];
    if (first === undefined || first.kind !== 'string') {
      this.fail(node, `custom_function() needs the function name as a string literal first, e.g. custom_function('abs', x)`);
    }
    const fn = registry.get(first.value);
    if (fn === undefined) {
      this.fail(first, `Unknown custom function '${first.value}' (known: ${registry.names().join(', ')})`);
    }
    const argNodes = node.args.slice(1);
    const n = argNodes.length;
    if ((fn.minArgs !== undefined && n < fn.minArgs) || (fn.maxArgs !== undefined && n > fn.maxArgs)) {
      const want =
        fn.minArgs === fn.maxArgs ? `${fn.minArgs}` : fn.maxArgs === undefined ? `at least ${fn.minArgs}` : `${fn.minArgs ?? 0} to ${fn.maxArgs}`;
      this.fail(node, `custom_function('${first.value}') takes ${want} argument(s) after the name, got ${n}`);
    }
    fn.check?.(argNodes, (message, at) => this.fail(at ?? node, `custom_function('${first.value}'): ${message}`));
    this.usesCustom = true;
    if (fn.volatile) this.volatile = true;
    const args = argNodes.map((a) => this.compile(a));
    return this.customCall(fn, args);
  }

  private customCall(fn: CustomFunction<unknown>, args: Evaluator[]): Evaluator {
    const state = fn.create?.();
    if (fn.cleanup) this.cleanups.push(() => fn.cleanup!(state));
    const argv: ExprValue[] = new Array<ExprValue>(args.length).fill(undefined);
    const n = args.length;
    return (ctx) => {
      for (let i = 0; i < n; i++) argv[i] = args[i](ctx);
      try {
        return fn.invoke(argv, state, ctx);
      } catch {
        return undefined;
      }
    };
  }
}

const sorted = (s: Set<number>): number[] => [...s].sort((a, b) => a - b);

/**
 * Compiles a tree into closures, resolving signal names through `env`. Throws EdgewiseError
 * `EXPRESSION_TYPE` for an unknown signal or function or bad function arguments.
 */
export function compileExpression(node: ExprNode, env: CompileEnv): CompiledExpression {
  const c = new Compiler(env);
  const evaluate = c.compile(node);
  const cleanups = c.cleanups;
  return {
    evaluate,
    referencedSignals: sorted(c.refs),
    windowSignals: sorted(c.windows),
    isNullSignals: sorted(c.isNulls),
    usesIsNull: c.isNulls.size > 0,
    usesCustomFunctions: c.usesCustom,
    volatile: c.volatile,
    dispose() {
      for (const f of cleanups.splice(0)) f();
    },
  };
}

/** `parseExpression` + `compileExpression` with the source attached for error carets. */
export function compileCondition(text: string, env: CompileEnv): CompiledExpression {
  return compileExpression(parseExpression(text), { ...env, source: text });
}
