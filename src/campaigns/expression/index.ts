/**
 * FleetWise condition expressions: parse (text -> tree), compile (tree -> closures), evaluate
 * against an `EvalContext` the campaign engine provides.
 */
export { MAX_EXPRESSION_DEPTH, formatExpression, type BinaryOp, type ExprNode } from './ast.js';
export { parseExpression } from './parser.js';
export {
  compileCondition,
  compileExpression,
  isTrue,
  type CompileEnv,
  type CompiledExpression,
  type Evaluator,
} from './compile.js';
export {
  FunctionRegistry,
  WindowFn,
  createFunctionRegistry,
  defaultFunctionRegistry,
  registerCustomFunction,
  type ArgFail,
  type CustomFunction,
  type EvalContext,
  type ExprValue,
} from './functions.js';
