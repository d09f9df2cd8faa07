/**
 * Actuator conditions in the campaign expression language, e.g. `$variable.\`Speed\` == 0`.
 * Names resolve to DBC signals (`Signal` or `Message.Signal`); values are the signals decoded from
 * the latest received frames (unknown before a frame of that message was seen, which makes the
 * condition not hold).
 */
import { compileCondition } from '../../campaigns/index.js';
import { isTrue } from '../../campaigns/index.js';
import type { ExprValue } from '../../campaigns/index.js';

export function compileActuatorCondition(text: string, names: readonly string[], latest: (name: string) => number | undefined): () => boolean {
  const ids = new Map<string, number>();
  names.forEach((n, i) => ids.set(n, i));
  const expr = compileCondition(text, {
    resolveSignal: (name) => ids.get(name) ?? ids.get(name.split('.').pop() ?? name),
    suggestSignals: (name) => names.filter((n) => n.toLowerCase().includes(name.toLowerCase())).slice(0, 3),
  });
  return () => {
    const v = expr.evaluate({
      timeMs: Date.now(),
      signalValue: (id: number): ExprValue => latest(names[id]!),
      isNull: (id: number) => latest(names[id]!) === undefined,
      windowValue: () => undefined,
      reportTrigger: () => undefined,
    });
    return isTrue(v);
  };
}
