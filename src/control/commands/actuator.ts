/**
 * Actuator commands: set allow-listed DBC signals on a CAN bus. Safety rules, in order; the first
 * that fails rejects the whole command (nothing is written):
 *  1. every signal is in the DBC (UNKNOWN_SIGNAL) and in the allow-list (NOT_ALLOWED);
 *  2. every value lies in the allowed range: the config's [min, max], else the DBC's when the DBC
 *     gives one (OUT_OF_RANGE); value-table texts are accepted for signals that have them;
 *  3. no signal was written less than its minIntervalMs ago (TOO_FREQUENT);
 *  4. the allow-list entry's condition holds now (CONDITION_FALSE);
 *  5. the signals belong to one DBC message (MULTIPLE_MESSAGES);
 * then the message is encoded: the other signals from the latest received frame of that message,
 * else their initial values; an optional rolling counter and checksum are filled in; the frame is
 * written through the bus writer (BUS_DOWN when the bus is not up or the write fails).
 */
import type { CompiledMessage, DecoderTable } from '../../decode/index.js';
import { decodeToObject, encodeMessage } from '../../decode/index.js';

export interface AllowedSignal {
  /** Allowed physical range; defaults to the DBC's [minimum, maximum] when it is not [0, 0]. */
  min?: number;
  max?: number;
  /** Minimum time between two writes of this signal (ms); default 1000. */
  minIntervalMs?: number;
  /** A predicate compiled from a condition expression; evaluated at execution time. */
  condition?: { text: string; holds: () => boolean };
}

export interface E2eConfig {
  /** Signal that carries a counter incremented (mod 2^length) with every write. */
  counterSignal?: string;
  /** Signal that carries a checksum: xor (or sum mod 256) of the other payload bytes. */
  checksumSignal?: string;
  checksumKind?: 'xor' | 'sum8';
}

export interface CanWriter {
  readonly up: boolean;
  write(id: number, extended: boolean, data: Uint8Array, fd: boolean): Promise<void> | void;
}

export class Rejection extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: 'REJECTED' | 'FAILED' = 'REJECTED',
  ) {
    super(message);
  }
}

export interface ActuatorOptions {
  table: DecoderTable;
  allow: Record<string, AllowedSignal>;
  e2e?: Record<string, E2eConfig>;
  writer: () => CanWriter | undefined;
  now?: () => number;
}

export class Actuator {
  private readonly bySignal = new Map<string, CompiledMessage>();
  private readonly lastFrame = new Map<CompiledMessage, Uint8Array>();
  private readonly lastWrite = new Map<string, number>();
  private readonly counters = new Map<CompiledMessage, number>();
  private readonly now: () => number;

  constructor(private readonly o: ActuatorOptions) {
    this.now = o.now ?? Date.now;
    for (const m of o.table.messages) for (const s of m.signals) if (!this.bySignal.has(s.name)) this.bySignal.set(s.name, m);
  }

  /** Latest decoded physical value of a DBC signal (for conditions), from the latest received frame. */
  latest(name: string): number | undefined {
    const m = this.bySignal.get(name);
    const f = m && this.lastFrame.get(m);
    if (!m || !f) return undefined;
    const v = decodeToObject(m, f, { choices: false }).signals?.[name];
    return v === undefined ? undefined : Number(v);
  }

  /** Every DBC signal name (for compiling conditions). */
  signalNames(): string[] {
    return [...this.bySignal.keys()];
  }

  /** Remember the latest received frame of a DBC message (the bus's other signals are kept). */
  observe(id: number, extended: boolean, data: Uint8Array): void {
    const m = this.o.table.lookup(id, extended);
    if (!m) return;
    const buf = this.lastFrame.get(m);
    // One buffer per message, reused: no allocation per frame after the first of each message.
    if (buf && buf.length === data.length) buf.set(data);
    else this.lastFrame.set(m, data.slice());
  }

  async set(values: Record<string, number | boolean | string>): Promise<Record<string, number | string>> {
    let msg: CompiledMessage | undefined;
    const now = this.now();
    const wanted: Record<string, number | string> = {};
    for (const [name, v] of Object.entries(values)) {
      const m = this.bySignal.get(name);
      if (!m) throw new Rejection('UNKNOWN_SIGNAL', `no signal ${name} in the DBC`);
      const rule = this.o.allow[name];
      if (!rule) throw new Rejection('NOT_ALLOWED', `${name} is not in commands.actuators (allow-list)`);
      const sig = m.signals.find((s) => s.name === name)!;
      const value = typeof v === 'boolean' ? (v ? 1 : 0) : v;
      if (typeof value === 'number') {
        const hasDbcRange = !(sig.minimum === 0 && sig.maximum === 0);
        const min = rule.min ?? (hasDbcRange ? sig.minimum : -Infinity);
        const max = rule.max ?? (hasDbcRange ? sig.maximum : Infinity);
        if (!Number.isFinite(value) || value < min || value > max) throw new Rejection('OUT_OF_RANGE', `${name} = ${value} is outside [${min}, ${max}]`);
      } else if (!sig.choices || ![...sig.choices.values()].includes(value)) {
        throw new Rejection('OUT_OF_RANGE', `${name} = "${value}" is not one of the signal's value descriptions`);
      }
      const last = this.lastWrite.get(name);
      const gap = rule.minIntervalMs ?? 1000;
      if (last !== undefined && now - last < gap) throw new Rejection('TOO_FREQUENT', `${name} was written ${now - last} ms ago (minimum interval ${gap} ms)`);
      if (rule.condition && !rule.condition.holds()) throw new Rejection('CONDITION_FALSE', `condition for ${name} does not hold: ${rule.condition.text}`);
      if (msg && msg !== m) throw new Rejection('MULTIPLE_MESSAGES', `${name} is in ${m.message.name}, not ${msg.message.name}; one command writes one message`);
      msg = m;
      wanted[name] = value;
    }
    const m = msg!;
    const writer = this.o.writer();
    if (!writer || !writer.up) throw new Rejection('BUS_DOWN', `the CAN bus for ${m.message.name} is not up`);
    const base: Record<string, number | bigint | string> = {};
    const prev = this.lastFrame.get(m);
    if (prev) {
      const d = decodeToObject(m, prev, { choices: false });
      if (d.signals) Object.assign(base, d.signals);
    }
    const e2e = this.o.e2e?.[m.message.name];
    if (e2e?.counterSignal) {
      const s = m.signals.find((x) => x.name === e2e.counterSignal);
      if (s) {
        const next = ((this.counters.get(m) ?? Number(base[s.name] ?? -1)) + 1) % 2 ** s.length;
        this.counters.set(m, next);
        base[s.name] = next;
      }
    }
    if (e2e?.checksumSignal) base[e2e.checksumSignal] = 0;
    let data: Uint8Array;
    try {
      data = encodeMessage(m, { ...base, ...wanted });
    } catch (err) {
      throw new Rejection('ENCODE_FAILED', (err as Error).message);
    }
    if (e2e?.checksumSignal) {
      const s = m.signals.find((x) => x.name === e2e.checksumSignal);
      if (s && s.length === 8 && s.startBit % 8 === 0) {
        const at = s.byteOrder === 'little_endian' ? s.startBit / 8 : (s.startBit - 7) / 8;
        let c = 0;
        data.forEach((b, i) => {
          if (i !== at) c = e2e.checksumKind === 'sum8' ? (c + b) & 0xff : c ^ b;
        });
        data[at] = c;
      }
    }
    try {
      await writer.write(m.message.id, m.message.extended, data, data.length > 8);
    } catch (err) {
      throw new Rejection('BUS_DOWN', `write to the CAN bus failed: ${(err as Error).message}`, 'FAILED');
    }
    for (const name of Object.keys(wanted)) this.lastWrite.set(name, now);
    this.lastFrame.set(m, data.slice());
    return wanted;
  }
}
