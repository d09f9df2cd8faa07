import type { DbcSignal } from '../dbc/index.js';
import { extractRawBig, rawKey } from './bits.js';
import { DECODE_OK, type CompiledMessage } from './types.js';

const scratch = new DataView(new ArrayBuffer(8));

/** The raw value of a signal as a choice-table key (IEEE floats by their value). */
function choiceKey(sig: DbcSignal, data: Uint8Array): number | bigint {
  const bits = extractRawBig({ ...sig, signed: sig.valueType === 'integer' && sig.signed }, data);
  if (sig.valueType === 'float32') {
    scratch.setUint32(0, Number(BigInt.asUintN(32, bits)));
    return scratch.getFloat32(0);
  }
  if (sig.valueType === 'float64') {
    scratch.setBigUint64(0, BigInt.asUintN(64, bits));
    return scratch.getFloat64(0);
  }
  return rawKey(bits);
}

/**
 * Decodes one frame into a plain object: present signals in DBC order; with `choices` (default
 * on) a raw value found in the signal's value table gives its text. Allocates (CLI and tests).
 */
export function decodeToObject(
  msg: CompiledMessage,
  data: Uint8Array,
  opts: { choices?: boolean } = {},
): { status: 'ok' | 'error'; signals: Record<string, number | bigint | string> | null; error?: string } {
  const out = msg.createOutput();
  const status = msg.decode(data, out);
  if (status !== DECODE_OK) return { status: 'error', signals: null, error: out.error };
  const withChoices = opts.choices ?? true;
  const signals: Record<string, number | bigint | string> = {};
  msg.signals.forEach((sig, i) => {
    if (!out.present[i]) return;
    if (withChoices && sig.choices) {
      const text = sig.choices.get(choiceKey(sig, data));
      if (text !== undefined) {
        signals[sig.name] = text;
        return;
      }
    }
    signals[sig.name] = out.big[i] ?? out.values[i];
  });
  return { status: 'ok', signals };
}
