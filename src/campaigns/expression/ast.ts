/**
 * The syntax tree of a condition expression and a printer for it.
 *
 * Every node carries `pos`, the 0-based offset in the source text of the token that starts it
 * (for a binary node: its operator), so compile errors can point at the right column.
 */

export type BinaryOp = '+' | '-' | '*' | '/' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '&&' | '||';

export type ExprNode =
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'boolean'; value: boolean; pos: number }
  /** `$variable.\`Vehicle.Speed\`` -> name `Vehicle.Speed`. */
  | { kind: 'signal'; name: string; pos: number }
  | { kind: 'not'; operand: ExprNode; pos: number }
  | { kind: 'binary'; op: BinaryOp; left: ExprNode; right: ExprNode; pos: number }
  /** `last_window_avg(...)`, `isNull(...)`, `custom_function('abs', ...)`. */
  | { kind: 'call'; name: string; args: ExprNode[]; pos: number };

/**
 * Deepest accepted tree (root = depth 1). FleetWise's edge caps it at 10, which a real condition
 * (say eight `||`-ed comparisons) already hits; 64 keeps compile/eval recursion trivially safe.
 */
export const MAX_EXPRESSION_DEPTH = 64;

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\t/g, '\\t')}'`;
}

/**
 * Prints a tree back as expression text, every operator parenthesised: `((a + b) * c)`.
 * The output parses back to the same tree (used to show how a condition was understood).
 */
export function formatExpression(node: ExprNode): string {
  switch (node.kind) {
    case 'number':
      if (node.value === Infinity) return '1e999';
      if (node.value === -Infinity) return '-1e999';
      return Object.is(node.value, -0) ? '-0' : String(node.value);
    case 'string':
      return quote(node.value);
    case 'boolean':
      return node.value ? 'true' : 'false';
    case 'signal':
      return `$variable.\`${node.name}\``;
    case 'not':
      return `(!${formatExpression(node.operand)})`;
    case 'binary':
      return `(${formatExpression(node.left)} ${node.op} ${formatExpression(node.right)})`;
    case 'call':
      return `${node.name}(${node.args.map(formatExpression).join(', ')})`;
  }
}
