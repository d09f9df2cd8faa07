/**
 * The commands stage: receives AWS IoT command executions for this thing, runs each one at most
 * once and answers each exactly once (see store.ts for how restarts keep that promise).
 *
 *   const r = new CommandsRunner({ thing, transport, stateDir, actuator, ... });
 *   await r.start();   // subscribes, then answers what a previous run left unanswered
 *   r.stats()          // counters for status/metrics
 */
import { errorMessage } from '../log.js';
import { silentLogger, type Logger } from '../../log.js';
import { Rejection, type Actuator } from './actuator.js';
import { parseCommandRequest, type CommandRequest } from './request.js';
import { answer, toResultValue, type CommandAnswer, type ResultValue } from './response.js';
import { ExecutionStore } from './store.js';
import { parseRequestTopic, requestFilter, requestFilterBare, responseTopic } from './topics.js';

/** What the stage needs from MQTT (the daemon adapts the SDK's MQTT 5 client; tests use mqtt.js). */
export interface CommandsTransport {
  subscribe(filters: string[], onMessage: (topic: string, payload: Uint8Array) => void): Promise<void>;
  /** QoS 1; resolves when the broker acknowledged it. */
  publish(topic: string, payload: string): Promise<void>;
}

/** Runs OBD/UDS and state-template commands; absent kinds are REJECTED as NOT_SUPPORTED. */
export interface CommandHandlers {
  obd?: (req: NonNullable<CommandRequest['obd']>) => Promise<Record<string, unknown>>;
  lks?: (req: NonNullable<CommandRequest['lks']>) => Promise<Record<string, unknown>>;
}

export interface CommandsRunnerOptions extends CommandHandlers {
  thing: string;
  transport: CommandsTransport;
  stateDir: string;
  actuator?: Actuator;
  /** Timeout when the request gives none (seconds; default 10). */
  defaultTimeoutSeconds?: number;
  logger?: Logger;
  now?: () => number;
}

export interface CommandsStats {
  received: number;
  succeeded: number;
  failed: number;
  rejected: number;
  timedOut: number;
  duplicates: number;
}

export class CommandsRunner {
  private readonly store: ExecutionStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly running = new Set<string>();
  private readonly counters: CommandsStats = { received: 0, succeeded: 0, failed: 0, rejected: 0, timedOut: 0, duplicates: 0 };

  constructor(private readonly o: CommandsRunnerOptions) {
    this.store = new ExecutionStore(o.stateDir);
    this.log = o.logger ?? silentLogger;
    this.now = o.now ?? Date.now;
  }

  stats(): CommandsStats {
    return { ...this.counters };
  }

  async start(): Promise<void> {
    await this.o.transport.subscribe([requestFilter(this.o.thing), requestFilterBare(this.o.thing)], (t, p) => {
      void this.onMessage(t, p);
    });
    // A previous run stopped mid-execution (crash, kill -9, power loss): never run it again.
    for (const rec of this.store.all()) {
      if (!rec.answer) {
        const a =
          this.now() >= rec.deadlineMs
            ? answer('TIMED_OUT', 'TIMED_OUT', 'the agent restarted and the execution passed its timeout')
            : answer('FAILED', 'INTERRUPTED', 'the agent restarted during the execution; it is not repeated');
        await this.finish(rec.executionId, rec.format, a);
      } else if (!rec.delivered) {
        await this.deliver(rec.executionId, rec.format, rec.answer);
      }
    }
  }

  /** Re-publish finished but unacknowledged answers (call after a reconnect). */
  async redeliver(): Promise<void> {
    for (const rec of this.store.all()) if (rec.answer && !rec.delivered) await this.deliver(rec.executionId, rec.format, rec.answer);
  }

  private async onMessage(topic: string, payload: Uint8Array): Promise<void> {
    const t = parseRequestTopic(this.o.thing, topic);
    if (!t) return;
    const { executionId, format } = t;
    const known = this.store.get(executionId);
    if (known || this.running.has(executionId)) {
      this.counters.duplicates++;
      this.log.info({ executionId }, 'command: repeated delivery, answered from the record');
      if (known?.answer) await this.deliver(executionId, known.format, known.answer);
      return;
    }
    this.counters.received++;
    this.running.add(executionId);
    const receivedAtMs = this.now();
    try {
      let req: CommandRequest;
      try {
        if (format !== '' && format !== 'json') throw new Error(`payload format ${format} is not supported (use json)`);
        req = parseCommandRequest(payload);
      } catch (err) {
        await this.finish(executionId, format, answer('REJECTED', 'MALFORMED_PAYLOAD', errorMessage(err)), receivedAtMs);
        return;
      }
      const deadlineMs = (req.issuedAtMs ?? receivedAtMs) + (req.timeoutSeconds ?? this.o.defaultTimeoutSeconds ?? 10) * 1000;
      if (receivedAtMs >= deadlineMs) {
        await this.finish(executionId, format, answer('TIMED_OUT', 'TIMED_OUT', 'the execution arrived after its timeout'), receivedAtMs, deadlineMs);
        return;
      }
      // Recorded before any side effect: a crash from here on never runs it twice.
      this.store.put({ executionId, format, receivedAtMs, deadlineMs, delivered: false });
      this.log.info({ executionId, request: req }, 'command: executing');
      const a = await this.execute(req, deadlineMs);
      await this.finish(executionId, format, a, receivedAtMs, deadlineMs);
    } finally {
      this.running.delete(executionId);
    }
  }

  private async execute(req: CommandRequest, deadlineMs: number): Promise<CommandAnswer> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CommandAnswer>((resolve) => {
      timer = setTimeout(() => resolve(answer('TIMED_OUT', 'TIMED_OUT', 'the execution did not finish before its timeout')), Math.max(0, deadlineMs - this.now()));
    });
    try {
      return await Promise.race([this.run(req), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async run(req: CommandRequest): Promise<CommandAnswer> {
    try {
      let result: Record<string, unknown>;
      if (req.actuator) {
        if (!this.o.actuator) return answer('REJECTED', 'NOT_SUPPORTED', 'no actuators are configured (commands.actuators)');
        result = await this.o.actuator.set(req.actuator.signals);
      } else if (req.obd) {
        if (!this.o.obd) return answer('REJECTED', 'NOT_SUPPORTED', 'no OBD source is configured');
        result = await this.o.obd(req.obd);
      } else {
        if (!this.o.lks) return answer('REJECTED', 'NOT_SUPPORTED', 'no state templates are deployed');
        result = await this.o.lks(req.lks!);
      }
      const out: Record<string, ResultValue> = {};
      for (const [k, v] of Object.entries(result)) out[k] = toResultValue(v);
      return answer('SUCCEEDED', undefined, undefined, out);
    } catch (err) {
      if (err instanceof Rejection) return answer(err.status, err.code, err.message);
      return answer('FAILED', 'EXECUTION_FAILED', errorMessage(err));
    }
  }

  private async finish(executionId: string, format: string, a: CommandAnswer, receivedAtMs = this.now(), deadlineMs = receivedAtMs): Promise<void> {
    const prev = this.store.get(executionId);
    this.store.put({ executionId, format, receivedAtMs: prev?.receivedAtMs ?? receivedAtMs, deadlineMs: prev?.deadlineMs ?? deadlineMs, answer: a, delivered: false });
    const key = a.status === 'SUCCEEDED' ? 'succeeded' : a.status === 'REJECTED' ? 'rejected' : a.status === 'TIMED_OUT' ? 'timedOut' : 'failed';
    this.counters[key]++;
    this.log.info({ executionId, status: a.status, reason: a.statusReason }, 'command: finished');
    await this.deliver(executionId, format, a);
  }

  private async deliver(executionId: string, format: string, a: CommandAnswer): Promise<void> {
    try {
      await this.o.transport.publish(responseTopic(this.o.thing, executionId, format), JSON.stringify(a));
      const rec = this.store.get(executionId);
      if (rec && !rec.delivered) this.store.put({ ...rec, delivered: true });
    } catch (err) {
      this.log.warn({ executionId, err: errorMessage(err) }, 'command: answer not delivered; retried after reconnect');
    }
  }
}
