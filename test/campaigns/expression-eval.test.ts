import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  compileCondition,
  createFunctionRegistry,
  isTrue,
  registerCustomFunction,
  type CompileEnv,
  type EvalContext,
  type ExprValue,
  type WindowFn,
} from '../../src/campaigns/expression/index.js';
import { isEdgewiseError } from '../../src/errors.js';

const NAMES = ['Vehicle.Speed', 'Vehicle.Rpm', 'Vehicle.Gear', 'Vehicle.Vin', 'Vehicle.Brake', 'Vehicle.Temp'];

/** A plain in-memory context: values per signal id, fixed window aggregates. */
class TableContext implements EvalContext {
  timeMs = 0;
  values = new Map<number, ExprValue>();
  uploaded = new Set<number>();
  windows = new Map<string, number>();
  reported: string[] = [];
  signalValue(id: number): ExprValue {
    return this.values.get(id);
  }
  isNull(id: number): boolean {
    return !this.values.has(id) || this.uploaded.has(id);
  }
  windowValue(id: number, fn: WindowFn): number | undefined {
    return this.windows.get(`${id}:${fn}`);
  }
  reportTrigger(name: string): void {
    this.reported.push(name);
  }
}

const env: CompileEnv = { resolveSignal: (n) => (NAMES.includes(n) ? NAMES.indexOf(n) : undefined) };
const sig = (n: string): string => `$variable.\`Vehicle.${n}\``;

function run(text: string, ctx = new TableContext()): ExprValue {
  return compileCondition(text, env).evaluate(ctx);
}

function errorOf(fn: () => unknown, code: 'EXPRESSION_TYPE' | 'EXPRESSION_SYNTAX' = 'EXPRESSION_TYPE') {
  try {
    fn();
  } catch (e) {
    if (isEdgewiseError(e, code)) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('expression evaluation: values, casting, tolerance (table)', () => {
  const cases: [string, ExprValue][] = [
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['10 - 4 - 3', 3],
    ['8 / 4 / 2', 1],
    ['1 + true == 2', true],
    ['true + true', 2],
    ['false || 3 == true', false],
    ['false || 3', true],
    ['3 && 0', false],
    ['0.1 + 0.2 == 0.3', true],
    ['1 == 1.0009', true],
    ['1 == 1.002', false],
    ['1 != 1.0009', false],
    ['1 != 1.002', true],
    ['1 / 0', Infinity],
    ['-1 / 0', -Infinity],
    ['0 / 0 == 0 / 0', false],
    ['!(0 / 0)', true], // NaN is false
    ['1 < 2', true],
    ['2 <= 2', true],
    ['3 > 4', false],
    ['4 >= 4.0', true],
    ['true > false', true],
    ["'ab' + 'cd'", 'abcd'],
    ["'ab' + 'cd' == 'abcd'", true],
    ["'a' != 'b'", true],
    ["'a' == 1", undefined],
    ["'a' + 1", undefined],
    ["'a' < 'b'", undefined],
    ["!'a'", undefined],
    ["'a' && true", undefined],
    ['!1 == 2', true], // !(1 == 2)
    ['-5 + 2', -3],
    ['2 * -3', -6],
    ["custom_function('abs', -2.5)", 2.5],
    ["custom_function('min', 3, -1, 2)", -1],
    ["custom_function('max', 3, -1, 2)", 3],
    ["custom_function('pow', 2, 10)", 1024],
    ["custom_function('log', 10, 1000) == 3", true],
    ["custom_function('ceil', 1.2)", 2],
    ["custom_function('floor', -1.2)", -2],
    ["custom_function('abs', true)", 1],
    ["custom_function('abs', 'x')", undefined],
  ];
  it.each(cases)('%s  =>  %s', (text, want) => {
    expect(run(text)).toStrictEqual(want);
  });
});

describe('expression evaluation: signals and undefined propagation', () => {
  const ctx = new TableContext();
  ctx.values.set(0, 120); // Speed
  ctx.values.set(2, true); // Gear (bool)
  ctx.values.set(3, 'WVW123'); // Vin
  // Rpm (1) has no sample yet.
  const cases: [string, ExprValue][] = [
    [`${sig('Speed')} > 100`, true],
    [`${sig('Speed')} + ${sig('Gear')}`, 121],
    [`${sig('Vin')} == 'WVW123'`, true],
    [`${sig('Rpm')} > 0`, undefined],
    [`${sig('Rpm')} + 1`, undefined],
    // no short-circuit: an undefined side makes the whole result undefined
    [`false && ${sig('Rpm')} > 0`, undefined],
    [`true || ${sig('Rpm')} > 0`, undefined],
    [`!(${sig('Rpm')} > 0)`, undefined],
    [`${sig('Rpm')} == ${sig('Rpm')}`, undefined],
    [`isNull(${sig('Rpm')})`, true],
    [`!isNull(${sig('Rpm')})`, false],
    [`isNull(${sig('Speed')})`, false],
    [`custom_function('max', ${sig('Speed')}, ${sig('Rpm')})`, undefined],
    [`last_window_avg(${sig('Speed')})`, undefined],
  ];
  it.each(cases)('%s  =>  %s', (text, want) => {
    expect(run(text, ctx)).toStrictEqual(want);
  });

  it('a condition holds only for a defined true value', () => {
    expect([true, 1, -2, 0.5].map(isTrue)).toEqual([true, true, true, true]);
    expect([false, 0, NaN, undefined, 'true', ''].map(isTrue)).toEqual([false, false, false, false, false, false]);
  });

  it('window functions read the context per function', () => {
    const c = new TableContext();
    c.windows.set('0:2', 50);
    c.windows.set('0:5', 40);
    expect(run(`last_window_avg(${sig('Speed')}) - prev_last_window_avg(${sig('Speed')})`, c)).toBe(10);
    expect(run(`last_window_min(${sig('Speed')})`, c)).toBeUndefined();
  });

  it('int16 values below zero compare as negative numbers', () => {
    const c = new TableContext();
    c.values.set(5, -32768);
    expect(run(`${sig('Temp')} < -100`, c)).toBe(true);
    expect(run(`${sig('Temp')} == -32768`, c)).toBe(true);
    c.values.set(5, -1);
    expect(run(`${sig('Temp')} < 0 && ${sig('Temp')} > -2`, c)).toBe(true);
  });
});

describe('expression compilation', () => {
  it('lists the signals it reads', () => {
    const e = compileCondition(
      `${sig('Speed')} > 1 && last_window_max(${sig('Rpm')}) > 3000 && !isNull(${sig('Vin')}) && ${sig('Speed')} < 300`,
      env,
    );
    expect(e.referencedSignals).toEqual([0, 3]);
    expect(e.windowSignals).toEqual([1]);
    expect(e.isNullSignals).toEqual([3]);
    expect(e.usesIsNull).toBe(true);
    expect(e.usesCustomFunctions).toBe(false);
    expect(compileCondition("custom_function('abs', 1) > 0", env).usesCustomFunctions).toBe(true);
  });

  it('an unknown signal is an EXPRESSION_TYPE error naming it, with a caret and suggestions', () => {
    const text = `${sig('Speed')} > 1 && $variable.\`Vehicle.Sped\` > 2`;
    const e = errorOf(() =>
      compileCondition(text, { ...env, suggestSignals: (n) => (n === 'Vehicle.Sped' ? ['Vehicle.Speed'] : []) }),
    );
    expect(e.message).toContain("Unknown signal 'Vehicle.Sped'");
    expect(e.message).toContain("did you mean 'Vehicle.Speed'");
    expect(e.context.column).toBe(text.indexOf('$variable.`Vehicle.Sped`') + 1);
    expect(e.message).toContain(`\n  ${' '.repeat(text.indexOf('$variable.`Vehicle.Sped`'))}^`);
  });

  it('unknown functions list the known ones', () => {
    expect(errorOf(() => compileCondition('foo(1)', env)).message).toMatch(/Unknown function 'foo' \(known: last_window_min.*isNull, custom_function\)/);
    const e = errorOf(() => compileCondition("custom_function('sqrt', 4)", env));
    expect(e.message).toMatch(/Unknown custom function 'sqrt' \(known: .*MULTI_RISING_EDGE_TRIGGER, abs, ceil, floor, log, max, min, pow\)/);
  });

  it.each([
    [`isNull(1)`, /takes exactly one signal/],
    [`last_window_avg(${sig('Speed')}, 2)`, /takes exactly one signal/],
    [`custom_function()`, /function name as a string literal/],
    [`custom_function(${sig('Speed')})`, /function name as a string literal/],
    [`custom_function('pow', 2)`, /takes 2 argument/],
    [`custom_function('abs')`, /takes 1 argument/],
    [`custom_function('MULTI_RISING_EDGE_TRIGGER', 'A')`, /at least 2|pairs/],
    [`custom_function('MULTI_RISING_EDGE_TRIGGER', 'A', true, 'B')`, /pairs/],
    [`custom_function('MULTI_RISING_EDGE_TRIGGER', 1, true)`, /string literal/],
  ])('rejects %s', (text, re) => {
    expect(errorOf(() => compileCondition(text, env)).message).toMatch(re);
  });

  it('registered custom functions get per-expression state and may be volatile', () => {
    const registry = createFunctionRegistry();
    let cleaned = 0;
    registerCustomFunction<{ n: number }>(registry, 'count', {
      maxArgs: 0,
      volatile: true,
      create: () => ({ n: 0 }),
      invoke: (_args, state) => ++state.n,
      cleanup: () => cleaned++,
    });
    registerCustomFunction(registry, 'boom', { invoke: () => { throw new Error('x'); } });
    const a = compileCondition("custom_function('count')", { ...env, functions: registry });
    const b = compileCondition("custom_function('count')", { ...env, functions: registry });
    const ctx = new TableContext();
    expect([a.evaluate(ctx), a.evaluate(ctx), b.evaluate(ctx)]).toEqual([1, 2, 1]);
    expect(a.volatile).toBe(true);
    a.dispose();
    a.dispose();
    expect(cleaned).toBe(1);
    // A throwing function gives "no value" instead of breaking evaluation.
    expect(compileCondition("custom_function('boom') || true", { ...env, functions: registry }).evaluate(ctx)).toBeUndefined();
    // The default registry is untouched.
    expect(() => compileCondition("custom_function('count')", env)).toThrow(/Unknown custom function/);
  });

  it('MULTI_RISING_EDGE_TRIGGER fires on any rising edge and reports the names', () => {
    const e = compileCondition(
      `custom_function('MULTI_RISING_EDGE_TRIGGER', 'FAST', ${sig('Speed')} > 100, 'BRAKE', ${sig('Brake')})`,
      env,
    );
    const ctx = new TableContext();
    const steps: [number | undefined, boolean | undefined, boolean, string[]][] = [
      // speed, brake -> result, names
      [undefined, undefined, false, []],
      [50, false, false, []],
      [150, false, true, ['FAST']],
      [160, false, false, []],
      [160, true, true, ['BRAKE']],
      [50, false, false, []],
      [150, true, true, ['FAST', 'BRAKE']],
    ];
    for (const [speed, brake, want, names] of steps) {
      if (speed === undefined) ctx.values.delete(0);
      else ctx.values.set(0, speed);
      if (brake === undefined) ctx.values.delete(4);
      else ctx.values.set(4, brake);
      ctx.reported = [];
      expect(e.evaluate(ctx)).toBe(want);
      expect(ctx.reported).toEqual(names);
    }
  });
});

describe('expression evaluation: fuzz', () => {
  it('any well-formed expression compiles once and evaluates without throwing', () => {
    const { letrec } = fc;
    const tree = letrec<{ e: string }>((tie) => ({
      e: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constantFrom('0', '1', '-2.5', '1e3', 'true', 'false', "'a'", "''", ...NAMES.map((n) => `$variable.\`${n}\``)),
        fc.tuple(tie('e'), fc.constantFrom('+', '-', '*', '/', '<', '<=', '>', '>=', '==', '!=', '&&', '||'), tie('e')).map(([a, op, b]) => `(${a} ${op} ${b})`),
        tie('e').map((a) => `(!${a})`),
        fc.constantFrom(...NAMES).map((n) => `isNull($variable.\`${n}\`)`),
        fc.constantFrom(...NAMES).map((n) => `last_window_avg($variable.\`${n}\`)`),
        fc.tuple(fc.constantFrom('abs', 'ceil', 'floor'), tie('e')).map(([f, a]) => `custom_function('${f}', ${a})`),
        fc.tuple(fc.constantFrom('min', 'max', 'pow', 'log'), tie('e'), tie('e')).map(([f, a, b]) => `custom_function('${f}', ${a}, ${b})`),
      ),
    })).e;
    const value = fc.option(fc.oneof(fc.double(), fc.boolean(), fc.string({ maxLength: 3 }), fc.integer({ min: -32768, max: 32767 })), { nil: undefined });
    fc.assert(
      fc.property(tree, fc.array(value, { minLength: NAMES.length, maxLength: NAMES.length }), (text, vals) => {
        let compiled;
        try {
          compiled = compileCondition(text, env);
        } catch (e) {
          // Only the depth limit may reject a generated expression.
          if (isEdgewiseError(e, 'EXPRESSION_SYNTAX') && /nested too deeply/.test(e.message)) return;
          throw e;
        }
        const ctx = new TableContext();
        vals.forEach((x, i) => x !== undefined && ctx.values.set(i, x));
        const r = compiled.evaluate(ctx);
        expect(['number', 'boolean', 'string', 'undefined']).toContain(typeof r);
      }),
      { numRuns: 1500 },
    );
  });
});
