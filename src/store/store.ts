/**
 * LevelDB store-and-forward: durable, bounded, priority-ordered queue of encoded batches.
 *
 * - `put` assigns the next per-vehicle seq and writes the record, the seq counter and any
 *   evictions in ONE LevelDB batch with `sync: true`: when it resolves the batch is on disk.
 * - An in-memory index (seq → meta; per priority and per partition ascending seq lists) is rebuilt
 *   at open from the keys alone; `next` walks it from the most important, oldest entry.
 * - Mutations (put, remove, expire, limit changes) run one at a time; reads do not wait for them.
 * - A store LevelDB cannot open (corruption, garbage in CURRENT) is renamed to
 *   `<dir>.corrupt-<ms>` and a fresh one is created, so a bad disk never becomes a crash loop.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { partitionKey, type PartitionLimits, type StoredBatch, type UploadQueue } from '../types.js';
import { EdgewiseError } from '../errors.js';
import { SortedNumbers } from './sorted.js';
import {
  RECORD_END,
  RECORD_PREFIX,
  SEQ_KEY,
  decodeRecord,
  decodeSeq,
  encodeRecord,
  encodeSeq,
  parseRecordKey,
  recordKey,
  type RecordMeta,
} from './record.js';
import { silentLogger, type Logger } from '../log.js';

export interface StoreOptions {
  /** Cap on all stored batch bytes (sum of encoded parts). */
  maxBytes: number;
  /** Limits per `<campaign>/<partitionId>` (from the campaigns' dataPartitions). */
  partitions?: Record<string, PartitionLimits>;
  /** Any logger with info/warn/error (the daemon passes its pino child). */
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Clock (default Date.now); names the moved-aside directory. */
  now?: () => number;
}

export interface PutMeta {
  /** Lower number = more important. */
  priority: number;
  campaign: string;
  partitionId: string;
  createdMs: number;
}

export interface StoreStats {
  bytes: number;
  batches: number;
  /** createdMs of the oldest stored batch. */
  oldestMs: number | null;
  /** Batches evicted to make room (global or partition cap, or a lowered limit). */
  evictions: number;
  evictedBytes: number;
  /** Batches deleted by a TTL sweep. */
  expired: number;
  /** 1 when the store found at open was unreadable and moved aside. */
  movedAside: number;
  /** The seq the next put gets. */
  nextSeq: number;
  /** Batches refused by put (STORE_FULL): larger than a cap, or less important than everything stored. */
  rejected: number;
  /** Records found unreadable (bad key, checksum) and dropped. */
  corruptRecords: number;
}

interface Entry extends RecordMeta {
  key: string;
  pkey: string;
}


type Db = ClassicLevel<string, Uint8Array>;

export class BatchStore implements UploadQueue {
  private db!: Db;
  private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>;
  private readonly now: () => number;
  private maxBytes: number;
  private partitionLimits: Record<string, PartitionLimits>;
  private readonly entries = new Map<number, Entry>();
  private readonly byPriority = new Map<number, SortedNumbers>();
  /** Ascending distinct priorities present in byPriority. */
  private priorities: number[] = [];
  private readonly partitions = new Map<string, { bytes: number; seqs: SortedNumbers }>();
  private totalBytes = 0;
  private nextSeq = 0;
  private readonly listeners = new Set<() => void>();
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private counters = { evictions: 0, evictedBytes: 0, expired: 0, movedAside: 0, rejected: 0, corruptRecords: 0 };

  private constructor(
    readonly dir: string,
    opts: StoreOptions,
  ) {
    this.log = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.maxBytes = opts.maxBytes;
    this.partitionLimits = { ...(opts.partitions ?? {}) };
  }

  /** Open (or create) the store in `dir`. An unreadable store is moved aside and a fresh one opened. */
  static async open(dir: string, opts: StoreOptions): Promise<BatchStore> {
    if (!(opts.maxBytes > 0)) throw new EdgewiseError('CONFIG_INVALID', `store maxBytes must be > 0 (got ${opts.maxBytes})`);
    const store = new BatchStore(path.resolve(dir), opts);
    await store.openDb();
    return store;
  }

  private async openDb(): Promise<void> {
    await mkdir(path.dirname(this.dir), { recursive: true });
    try {
      await this.load();
      return;
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const code = cause?.code ?? (e as { code?: string }).code;
      const message = `${(e as Error).message ?? ''} ${cause?.message ?? ''}`;
      if (code === 'LEVEL_LOCKED') {
        throw new EdgewiseError('IO', `store ${this.dir} is in use by another process`, { file: undefined, dir: this.dir }, { cause: e });
      }
      if (/permission denied|read-only file system|EACCES|EROFS/i.test(message)) {
        throw new EdgewiseError('IO', `store ${this.dir} is not accessible: ${message.trim()}`, { dir: this.dir }, { cause: e });
      }
      let aside = `${this.dir}.corrupt-${this.now()}`;
      for (let k = 1; existsSync(aside); k++) aside = `${this.dir}.corrupt-${this.now()}-${k}`;
      this.log.error({ dir: this.dir, movedTo: aside, err: message.trim() }, 'store unreadable; moving it aside and starting a fresh one');
      try {
        await rename(this.dir, aside);
      } catch (re) {
        throw new EdgewiseError('STORE_CORRUPT', `store ${this.dir} is unreadable and could not be moved aside`, { dir: this.dir }, { cause: re });
      }
      this.counters.movedAside++;
      this.resetIndex();
      try {
        await this.load();
      } catch (e2) {
        throw new EdgewiseError('STORE_CORRUPT', `a fresh store in ${this.dir} could not be opened`, { dir: this.dir }, { cause: e2 });
      }
    }
  }

  private resetIndex(): void {
    this.entries.clear();
    this.byPriority.clear();
    this.priorities = [];
    this.partitions.clear();
    this.totalBytes = 0;
    this.nextSeq = 0;
  }

  /** Open LevelDB and rebuild the index from keys only. Closes the db again on failure. */
  private async load(): Promise<void> {
    // Batches are written once and read once: a block cache buys nothing, and a small write buffer
    // keeps the agent's memory small (defaults are 8 MiB and 4 MiB).
    const db: Db = new ClassicLevel<string, Uint8Array>(this.dir, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
      cacheSize: 512 * 1024,
      writeBufferSize: 1024 * 1024,
      maxOpenFiles: 200,
    });
    try {
      await db.open();
      const counter = decodeSeq(await db.get(SEQ_KEY));
      const bad: string[] = [];
      let maxSeq = -1;
      for await (const key of db.keys({ gte: RECORD_PREFIX, lt: RECORD_END })) {
        const m = parseRecordKey(key);
        if (!m) {
          bad.push(key);
          continue;
        }
        this.addToIndex(m, key);
        if (m.seq > maxSeq) maxSeq = m.seq;
      }
      if (bad.length > 0) {
        this.counters.corruptRecords += bad.length;
        this.log.error({ dir: this.dir, count: bad.length }, 'dropping store records with unreadable keys');
        await db.batch(bad.map((key) => ({ type: 'del' as const, key })));
      }
      this.nextSeq = Math.max(counter ?? 0, maxSeq + 1);
      if (counter === undefined && maxSeq >= 0) this.log.warn({ dir: this.dir, nextSeq: this.nextSeq }, 'store seq counter missing; continuing after the newest record');
      this.db = db;
      this.log.info({ dir: this.dir, batches: this.entries.size, bytes: this.totalBytes, nextSeq: this.nextSeq }, 'store opened');
    } catch (e) {
      this.resetIndex();
      await db.close().catch(() => {});
      throw e;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // index

  private addToIndex(m: RecordMeta, key: string): Entry {
    const pkey = partitionKey(m.campaign, m.partitionId);
    const e: Entry = { ...m, key, pkey };
    this.entries.set(m.seq, e);
    let list = this.byPriority.get(m.priority);
    if (!list) {
      list = new SortedNumbers();
      this.byPriority.set(m.priority, list);
      const i = lowerBound(this.priorities, m.priority);
      this.priorities.splice(i, 0, m.priority);
    }
    list.insert(m.seq);
    let part = this.partitions.get(pkey);
    if (!part) {
      part = { bytes: 0, seqs: new SortedNumbers() };
      this.partitions.set(pkey, part);
    }
    part.seqs.insert(m.seq);
    part.bytes += m.bytes;
    this.totalBytes += m.bytes;
    return e;
  }

  private dropFromIndex(e: Entry): void {
    if (!this.entries.delete(e.seq)) return;
    const list = this.byPriority.get(e.priority);
    if (list) {
      list.remove(e.seq);
      if (list.size === 0) {
        this.byPriority.delete(e.priority);
        const i = lowerBound(this.priorities, e.priority);
        if (this.priorities[i] === e.priority) this.priorities.splice(i, 1);
      }
    }
    const part = this.partitions.get(e.pkey);
    if (part) {
      part.seqs.remove(e.seq);
      part.bytes -= e.bytes;
      if (part.seqs.size === 0) this.partitions.delete(e.pkey);
    }
    this.totalBytes -= e.bytes;
  }

  /** Run mutations one at a time, in call order. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => {});
    return run;
  }

  private assertOpen(): void {
    if (this.closed) throw new EdgewiseError('IO', 'store is closed', { dir: this.dir });
  }

  // ---------------------------------------------------------------------------------------------
  // writes

  /**
   * Store a batch. `encode(seq)` produces its parts with the seq this call assigns. Resolves with
   * the seq once the batch is durably on disk. Throws STORE_FULL when it cannot fit.
   */
  put(meta: PutMeta, encode: (seq: number) => Uint8Array[]): Promise<number> {
    this.assertOpen();
    return this.exclusive(async () => {
      this.assertOpen();
      const seq = this.nextSeq;
      const parts = encode(seq);
      let bytes = 0;
      for (const p of parts) bytes += p.length;
      const pkey = partitionKey(meta.campaign, meta.partitionId);
      const plan = this.planRoom(meta.priority, pkey, bytes);
      // The seq is consumed from here on, stored or not: it is never handed out again.
      this.nextSeq = seq + 1;
      if (typeof plan === 'string') {
        this.counters.rejected++;
        this.log.warn({ seq, campaign: meta.campaign, partitionId: meta.partitionId, bytes, reason: plan }, 'batch rejected: store full');
        throw new EdgewiseError('STORE_FULL', `batch of ${bytes} bytes does not fit the store: ${plan}`, {
          seq,
          campaign: meta.campaign,
          bytes,
        });
      }
      const m: RecordMeta = { seq, priority: meta.priority, createdMs: meta.createdMs, bytes, campaign: meta.campaign, partitionId: meta.partitionId };
      const key = recordKey(m);
      const ops: ({ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string })[] = plan.victims.map((v) => ({
        type: 'del' as const,
        key: v.entry.key,
      }));
      ops.push({ type: 'put', key: SEQ_KEY, value: encodeSeq(this.nextSeq) });
      ops.push({ type: 'put', key, value: encodeRecord(parts) });
      try {
        await this.db.batch(ops, { sync: true });
      } catch (e) {
        throw new EdgewiseError('IO', `store write failed: ${(e as Error).message}`, { seq, dir: this.dir }, { cause: e });
      }
      for (const v of plan.victims) this.evicted(v.entry, v.reason);
      this.addToIndex(m, key);
      this.notify();
      return seq;
    });
  }

  /**
   * Which batches must go so that `bytes` more fit (partition cap first, then the global cap), or
   * the reason the new batch is refused. Pure: changes nothing.
   */
  private planRoom(priority: number, pkey: string, bytes: number): { victims: { entry: Entry; reason: string }[] } | string {
    if (bytes > this.maxBytes) return `larger than the whole store cap (${this.maxBytes} bytes)`;
    const pcap = this.partitionLimits[pkey]?.maxBytes;
    if (pcap !== undefined && bytes > pcap) return `larger than the cap of partition ${pkey} (${pcap} bytes)`;
    const victims: { entry: Entry; reason: string }[] = [];
    const taken = new Set<number>();
    let freed = 0;
    const part = this.partitions.get(pkey);
    if (pcap !== undefined && part) {
      let pbytes = part.bytes;
      // within a partition (one campaign, one priority) the oldest go first
      for (const seq of part.seqs.items) {
        if (pbytes + bytes <= pcap) break;
        const e = this.entries.get(seq)!;
        victims.push({ entry: e, reason: 'partition-full' });
        taken.add(seq);
        pbytes -= e.bytes;
        freed += e.bytes;
      }
    }
    let total = this.totalBytes - freed;
    if (total + bytes <= this.maxBytes) return { victims };
    // least important (highest priority number) first, oldest first within a priority
    for (let pi = this.priorities.length - 1; pi >= 0 && total + bytes > this.maxBytes; pi--) {
      const p = this.priorities[pi];
      if (p < priority) {
        return `store full of more important batches (priority < ${priority}); ${this.maxBytes} byte cap`;
      }
      for (const seq of this.byPriority.get(p)!.items) {
        if (total + bytes <= this.maxBytes) break;
        if (taken.has(seq)) continue;
        const e = this.entries.get(seq)!;
        victims.push({ entry: e, reason: 'store-full' });
        taken.add(seq);
        total -= e.bytes;
      }
    }
    return total + bytes <= this.maxBytes ? { victims } : `store full (${this.maxBytes} byte cap)`;
  }

  private evicted(e: Entry, reason: string): void {
    this.dropFromIndex(e);
    this.counters.evictions++;
    this.counters.evictedBytes += e.bytes;
    this.log.warn({ seq: e.seq, campaign: e.campaign, partitionId: e.partitionId, priority: e.priority, bytes: e.bytes, reason }, 'batch evicted');
  }

  private notify(): void {
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (e) {
        this.log.error({ err: (e as Error)?.message ?? String(e) }, 'store onAppend listener threw');
      }
    }
  }

  /** Delete a batch (after the broker acknowledged all its parts). Unknown seqs are ignored. */
  remove(seq: number): Promise<void> {
    this.assertOpen();
    return this.exclusive(async () => {
      const e = this.entries.get(seq);
      if (!e || this.closed) return;
      // Not synced: after a power loss a removed batch may come back and be sent again; the cloud
      // de-duplicates on seq. The record write itself (put) is always synced.
      await this.db.del(e.key);
      this.dropFromIndex(e);
    });
  }

  /** Change the caps live (device shadow). Batches beyond the new caps are evicted in the background. */
  setLimits(maxBytes: number, partitions?: Record<string, PartitionLimits>): void {
    if (!(maxBytes > 0)) throw new EdgewiseError('CONFIG_INVALID', `store maxBytes must be > 0 (got ${maxBytes})`);
    this.maxBytes = maxBytes;
    if (partitions) this.partitionLimits = { ...partitions };
    if (this.closed) return;
    void this.exclusive(() => this.enforceLimits()).catch((e) =>
      this.log.error({ err: (e as Error)?.message ?? String(e) }, 'store: applying new limits failed'),
    );
  }

  private async enforceLimits(): Promise<void> {
    if (this.closed) return;
    const victims: { entry: Entry; reason: string }[] = [];
    const taken = new Set<number>();
    for (const [pkey, part] of this.partitions) {
      const cap = this.partitionLimits[pkey]?.maxBytes;
      if (cap === undefined) continue;
      let b = part.bytes;
      for (const seq of part.seqs.items) {
        if (b <= cap) break;
        const e = this.entries.get(seq)!;
        victims.push({ entry: e, reason: 'partition-limit-lowered' });
        taken.add(seq);
        b -= e.bytes;
      }
    }
    let total = this.totalBytes - victims.reduce((a, v) => a + v.entry.bytes, 0);
    for (let pi = this.priorities.length - 1; pi >= 0 && total > this.maxBytes; pi--) {
      for (const seq of this.byPriority.get(this.priorities[pi])!.items) {
        if (total <= this.maxBytes) break;
        if (taken.has(seq)) continue;
        const e = this.entries.get(seq)!;
        victims.push({ entry: e, reason: 'limit-lowered' });
        total -= e.bytes;
      }
    }
    if (victims.length === 0) return;
    await this.db.batch(victims.map((v) => ({ type: 'del' as const, key: v.entry.key })), { sync: true });
    for (const v of victims) this.evicted(v.entry, v.reason);
  }

  /** Delete batches older than their partition's ttlMs. Returns how many were deleted. */
  expire(nowMs: number): Promise<number> {
    this.assertOpen();
    return this.exclusive(async () => {
      if (this.closed) return 0;
      const gone: Entry[] = [];
      for (const [pkey, part] of this.partitions) {
        const ttl = this.partitionLimits[pkey]?.ttlMs;
        if (ttl === undefined) continue;
        for (const seq of part.seqs.items) {
          const e = this.entries.get(seq)!;
          if (e.createdMs + ttl <= nowMs) gone.push(e);
        }
      }
      if (gone.length === 0) return 0;
      await this.db.batch(gone.map((e) => ({ type: 'del' as const, key: e.key })));
      for (const e of gone) {
        this.dropFromIndex(e);
        this.counters.expired++;
        this.log.info({ seq: e.seq, campaign: e.campaign, partitionId: e.partitionId, bytes: e.bytes, reason: 'ttl' }, 'batch expired');
      }
      return gone.length;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // reads

  async next(
    exclude: ReadonlySet<number>,
    accept?: (batch: { seq: number; partitionId: string; campaign: string; priority: number; createdMs: number }) => boolean,
  ): Promise<StoredBatch | undefined> {
    this.assertOpen();
    for (;;) {
      const e = this.firstCandidate(exclude, accept);
      if (!e) return undefined;
      let value: Uint8Array | undefined;
      try {
        value = await this.db.get(e.key);
      } catch (err) {
        if (this.closed) return undefined;
        this.dropCorrupt(e, (err as Error).message);
        continue;
      }
      if (value === undefined) {
        // removed or evicted meanwhile
        if (this.entries.get(e.seq) === e) this.dropFromIndex(e);
        continue;
      }
      const parts = decodeRecord(value);
      if (typeof parts === 'string') {
        this.dropCorrupt(e, parts);
        continue;
      }
      return { seq: e.seq, priority: e.priority, createdMs: e.createdMs, campaign: e.campaign, partitionId: e.partitionId, parts, bytes: e.bytes };
    }
  }

  private firstCandidate(
    exclude: ReadonlySet<number>,
    accept?: (batch: { seq: number; partitionId: string; campaign: string; priority: number; createdMs: number }) => boolean,
  ): Entry | undefined {
    for (const p of this.priorities) {
      const list = this.byPriority.get(p);
      if (!list) continue;
      for (const seq of list.items) {
        if (exclude.has(seq)) continue;
        const e = this.entries.get(seq)!;
        if (accept && !accept({ seq: e.seq, partitionId: e.partitionId, campaign: e.campaign, priority: e.priority, createdMs: e.createdMs })) continue;
        return e;
      }
    }
    return undefined;
  }

  private dropCorrupt(e: Entry, why: string): void {
    this.counters.corruptRecords++;
    this.log.error({ seq: e.seq, campaign: e.campaign, bytes: e.bytes, err: why }, 'store record unreadable; dropping it');
    this.dropFromIndex(e);
    void this.exclusive(() => this.db.del(e.key)).catch(() => {});
  }

  /** Whether a batch with this seq is stored (not yet removed, evicted or expired). */
  has(seq: number): boolean {
    return this.entries.has(seq);
  }

  /**
   * Seqs of the stored batches matching every given filter (createdMs within [fromMs, toMs],
   * campaign, partitionId), ascending. Index only; used for job-requested uploads.
   */
  select(filter: { fromMs?: number; toMs?: number; campaign?: string; partitionId?: string } = {}): number[] {
    const out: number[] = [];
    for (const e of this.entries.values()) {
      if (filter.fromMs !== undefined && e.createdMs < filter.fromMs) continue;
      if (filter.toMs !== undefined && e.createdMs > filter.toMs) continue;
      if (filter.campaign !== undefined && e.campaign !== filter.campaign) continue;
      if (filter.partitionId !== undefined && e.partitionId !== filter.partitionId) continue;
      out.push(e.seq);
    }
    return out.sort((a, b) => a - b);
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  stats(): StoreStats {
    let oldest: number | null = null;
    for (const e of this.entries.values()) if (oldest === null || e.createdMs < oldest) oldest = e.createdMs;
    return {
      bytes: this.totalBytes,
      batches: this.entries.size,
      oldestMs: oldest,
      evictions: this.counters.evictions,
      evictedBytes: this.counters.evictedBytes,
      expired: this.counters.expired,
      movedAside: this.counters.movedAside,
      nextSeq: this.nextSeq,
      rejected: this.counters.rejected,
      corruptRecords: this.counters.corruptRecords,
    };
  }

  /** Current caps. */
  limits(): { maxBytes: number; partitions: Record<string, PartitionLimits> } {
    return { maxBytes: this.maxBytes, partitions: { ...this.partitionLimits } };
  }

  /** Wait for pending writes, then close LevelDB. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.tail;
    this.closed = true;
    this.listeners.clear();
    await this.db.close();
  }
}

function lowerBound(a: number[], n: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < n) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
