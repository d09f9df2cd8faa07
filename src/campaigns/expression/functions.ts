/**
 * `custom_function('name', ...)`: a small registry integrators can extend, with FleetWise's
 * built-ins (math functions and MULTI_RISING_EDGE_TRIGGER) registered in the default registry.
 */
import { EdgewiseError } from '../../errors.js';
import type { ExprNode } from './ast.js';

/** What an expression evaluates to; `undefined` = no value (propagates through operators). */
export type ExprValue = number | boolean | string | undefined;

/** Completed-window aggregates (`last_window_min` ... `prev_last_window_avg`). */
export const WindowFn = {
  LAST_MIN: 0,
  LAST_MAX: 1,
  LAST_AVG: 2,
  PREV_MIN: 3,
  PREV_MAX: 4,
  PREV_AVG: 5,
} as const;
export type WindowFn = (typeof WindowFn)[keyof typeof WindowFn];

/**
 * What a compiled expression reads while it is evaluated. The campaign engine implements it (one
 * object per campaign, reused for every evaluation, so an evaluation allocates nothing).
 */
export interface EvalContext {
  /** Time of this evaluation, ms since the epoch (from sample timestamps). */
  readonly timeMs: number;
  /** Latest value of signal `id`; `undefined` before its first sample. */
  signalValue(id: number): ExprValue;
  /** True when `id` has no sample yet or its newest sample was already uploaded by this campaign. */
  isNull(id: number): boolean;
  /** Aggregate of a completed tumbling window of `id`; `undefined` when that window had no sample. */
  windowValue(id: number, fn: WindowFn): number | undefined;
  /** Custom functions name the conditions that fired (MULTI_RISING_EDGE_TRIGGER). */
  reportTrigger(name: string): void;
}

/** Thrown from `check` by a custom function that rejects its arguments at compile time. */
export type ArgFail = (message: string, node?: ExprNode) => never;

export interface CustomFunction<S = unknown> {
  /** One line shown in error messages / help. */
  description?: string;
  /** Allowed argument counts (without the name argument). */
  minArgs?: number;
  maxArgs?: number;
  /** Compile-time check of the argument trees (e.g. "must be string literals"). */
  check?(args: readonly ExprNode[], fail: ArgFail): void;
  /** Per-call-site state, created once per compiled expression. */
  create?(): S;
  /**
   * Computes the value. `args` is a reused array (copy it to keep it); values may be undefined.
   * Return `undefined` for "no value". An exception counts as `undefined`.
   */
  invoke(args: readonly ExprValue[], state: S, ctx: EvalContext): ExprValue;
  /** True when the result can change without any input signal changing (then evaluated on every advance). */
  volatile?: boolean;
  /** Releases the state when the expression is discarded. */
  cleanup?(state: S): void;
}

export class FunctionRegistry {
  private readonly fns = new Map<string, CustomFunction<unknown>>();

  /** Copy of this registry (to extend without touching the original). */
  clone(): FunctionRegistry {
    const r = new FunctionRegistry();
    for (const [k, v] of this.fns) r.fns.set(k, v);
    return r;
  }

  get(name: string): CustomFunction<unknown> | undefined {
    return this.fns.get(name);
  }

  names(): string[] {
    return [...this.fns.keys()].sort();
  }

  /** @internal use `registerCustomFunction` */
  set(name: string, fn: CustomFunction<unknown>): void {
    this.fns.set(name, fn);
  }
}

/** Adds (or replaces) `custom_function('<name>', ...)` in `registry`. */
export function registerCustomFunction<S>(registry: FunctionRegistry, name: string, fn: CustomFunction<S>): void {
  if (name.length === 0) throw new EdgewiseError('USAGE', 'custom function name must not be empty');
  registry.set(name, fn as CustomFunction<unknown>);
}

const num = (v: ExprValue): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : undefined;

function unary(description: string, f: (x: number) => number): CustomFunction<void> {
  return {
    description,
    minArgs: 1,
    maxArgs: 1,
    invoke(args) {
      const x = num(args[0]);
      return x === undefined ? undefined : f(x);
    },
  };
}

function fold(description: string, f: (a: number, b: number) => number): CustomFunction<void> {
  return {
    description,
    minArgs: 1,
    invoke(args) {
      let acc = num(args[0]);
      if (acc === undefined) return undefined;
      for (let i = 1; i < args.length; i++) {
        const x = num(args[i]);
        if (x === undefined) return undefined;
        acc = f(acc, x);
      }
      return acc;
    },
  };
}

function binary(description: string, f: (a: number, b: number) => number): CustomFunction<void> {
  return {
    description,
    minArgs: 2,
    maxArgs: 2,
    invoke(args) {
      const a = num(args[0]);
      const b = num(args[1]);
      return a === undefined || b === undefined ? undefined : f(a, b);
    },
  };
}

/** Previous truth value per condition; -1 = not evaluated yet. */
interface MultiEdgeState {
  prev: Int8Array;
}

const multiRisingEdge: CustomFunction<MultiEdgeState> = {
  description: "'NAME1', cond1, 'NAME2', cond2, ...: true when any condition goes false -> true; reports the names",
  minArgs: 2,
  check(args, fail) {
    if (args.length % 2 !== 0) fail(`expects pairs of 'NAME', condition (got ${args.length} arguments)`);
    for (let i = 0; i < args.length; i += 2) {
      const a = args[i];
      if (a.kind !== 'string' || a.value === '') fail(`argument ${i + 2} must be a non-empty string literal naming the condition that follows`, a);
    }
  },
  create() {
    return { prev: new Int8Array(0) };
  },
  invoke(args, state, ctx) {
    const n = args.length >> 1;
    if (state.prev.length !== n) state.prev = new Int8Array(n).fill(-1);
    let fired = false;
    for (let i = 0; i < n; i++) {
      const v = args[2 * i + 1];
      const now = v === true || (typeof v === 'number' && v !== 0 && v === v) ? 1 : 0;
      // Like FleetWise: a condition that is true on the very first evaluation counts as a rising edge.
      if (now === 1 && state.prev[i] !== 1) {
        fired = true;
        ctx.reportTrigger(args[2 * i] as string);
      }
      state.prev[i] = now;
    }
    return fired;
  },
};

function withBuiltins(r: FunctionRegistry): FunctionRegistry {
  registerCustomFunction(r, 'abs', unary('abs(x)', Math.abs));
  registerCustomFunction(r, 'ceil', unary('ceil(x)', Math.ceil));
  registerCustomFunction(r, 'floor', unary('floor(x)', Math.floor));
  registerCustomFunction(r, 'min', fold('min(a, b, ...)', Math.min));
  registerCustomFunction(r, 'max', fold('max(a, b, ...)', Math.max));
  registerCustomFunction(r, 'pow', binary('pow(x, y) = x^y', Math.pow));
  registerCustomFunction(r, 'log', binary('log(base, x)', (base, x) => Math.log(x) / Math.log(base)));
  registerCustomFunction(r, 'MULTI_RISING_EDGE_TRIGGER', multiRisingEdge);
  return r;
}

/** A fresh registry holding the built-ins (extend it with `registerCustomFunction`). */
export function createFunctionRegistry(): FunctionRegistry {
  return withBuiltins(new FunctionRegistry());
}

/** The registry used when none is given. Prefer `createFunctionRegistry()` to add functions. */
export const defaultFunctionRegistry: FunctionRegistry = createFunctionRegistry();
