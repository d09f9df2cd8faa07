/**
 * The device's answer: { status, statusReason: { reasonCode, reasonDescription }, result }.
 * reasonCode matches [A-Z0-9_-]+ (≤ 64), reasonDescription ≤ 1024 printable characters; result
 * entries are typed values ({ s } string, { b } boolean, { d } double).
 */
export type ExecutionStatus = 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'REJECTED' | 'TIMED_OUT';
export type ResultValue = { s: string } | { b: boolean } | { d: number };

export interface CommandAnswer {
  status: ExecutionStatus;
  statusReason?: { reasonCode: string; reasonDescription?: string };
  result?: Record<string, ResultValue>;
}

export function answer(status: ExecutionStatus, reasonCode?: string, reasonDescription?: string, result?: Record<string, ResultValue>): CommandAnswer {
  const a: CommandAnswer = { status };
  if (reasonCode) {
    const code = reasonCode.toUpperCase().replace(/[^A-Z0-9_-]/g, '_').slice(0, 64);
    a.statusReason = { reasonCode: code };
    // eslint-disable-next-line no-control-regex
    if (reasonDescription) a.statusReason.reasonDescription = reasonDescription.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 1024);
  }
  if (result && Object.keys(result).length) a.result = result;
  return a;
}

export function toResultValue(v: unknown): ResultValue {
  if (typeof v === 'boolean') return { b: v };
  if (typeof v === 'number') return { d: v };
  if (typeof v === 'bigint') return { s: v.toString() };
  return { s: typeof v === 'string' ? v : JSON.stringify(v) };
}
