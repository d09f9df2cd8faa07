/**
 * Execution records in `<stateDir>/commands.json` (atomic writes): an execution is recorded
 * IN_PROGRESS before any side effect, and its final answer before the answer is published. A
 * restart therefore finds each execution either finished (answer again from the record), or in
 * progress (never re-executed: past its deadline TIMED_OUT, otherwise FAILED as interrupted).
 * Finished records are kept (bounded, oldest dropped first) so a repeated delivery is answered
 * from the record, not executed again.
 */
import path from 'node:path';
import * as z from 'zod';
import { atomicWriteJson, readJsonFile } from '../../files.js';
import type { CommandAnswer } from './response.js';

const RecordSchema = z.object({
  executionId: z.string(),
  format: z.string(),
  receivedAtMs: z.number(),
  deadlineMs: z.number(),
  answer: z.custom<CommandAnswer>((v) => typeof v === 'object' && v !== null && 'status' in v).optional(),
  /** The final answer was accepted by the broker (PUBACK). */
  delivered: z.boolean().default(false),
});
export type ExecutionRecord = z.infer<typeof RecordSchema>;

const FileSchema = z.object({ executions: z.array(RecordSchema).default([]) });

export class ExecutionStore {
  private readonly file: string;
  private readonly byId = new Map<string, ExecutionRecord>();

  constructor(stateDir: string, private readonly maxFinished = 1000) {
    this.file = path.join(stateDir, 'commands.json');
    const parsed = FileSchema.safeParse(readJsonFile(this.file) ?? {});
    if (parsed.success) for (const r of parsed.data.executions) this.byId.set(r.executionId, r);
  }

  get(id: string): ExecutionRecord | undefined {
    return this.byId.get(id);
  }

  all(): ExecutionRecord[] {
    return [...this.byId.values()];
  }

  put(rec: ExecutionRecord): void {
    this.byId.delete(rec.executionId);
    this.byId.set(rec.executionId, rec);
    let finished = 0;
    for (const r of this.byId.values()) if (r.answer) finished++;
    for (const [id, r] of this.byId) {
      if (finished <= this.maxFinished) break;
      if (r.answer && r.delivered) {
        this.byId.delete(id);
        finished--;
      }
    }
    atomicWriteJson(this.file, { executions: [...this.byId.values()] });
  }
}
