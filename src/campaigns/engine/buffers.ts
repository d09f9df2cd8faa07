/**
 * Sample storage of the engine: ring buffers shared by campaigns (keyed by signal and sampling
 * interval) and tumbling-window accumulators (one per signal read by a window function).
 */
import type { SignalValue } from '../../types.js';

/** Hard cap of one ring buffer (a campaign's maxSampleCount above it is clamped). */
export const MAX_RING_SAMPLES = 1_000_000;
const INITIAL_ALLOC = 16;

/**
 * Newest-kept samples of one signal at one minimum sampling interval. Storage grows by doubling up
 * to `capacity`, so a rarely seen signal does not pin `maxSampleCount` slots.
 */
export class SampleRing {
  capacity: number;
  times: Float64Array;
  /** Per-signal sequence number of each sample (1, 2, ...; never reused). */
  seqs: Float64Array;
  /** Numeric value (bool as 0/1) of each sample, when the ring stores numbers. */
  nums: Float64Array | null;
  /** Original value (strings, 64-bit integers that may be bigint), when the ring stores raw values. */
  raws: SignalValue[] | null;
  /** Index the next sample is written to. */
  head = 0;
  count = 0;
  /** Time of the last kept sample (decimation). */
  lastKeptMs = -Infinity;
  /** Samples dropped by decimation. */
  decimated = 0;

  constructor(
    readonly signalId: number,
    readonly intervalMs: number,
    capacity: number,
    readonly raw: boolean,
  ) {
    this.capacity = Math.max(1, Math.min(capacity, MAX_RING_SAMPLES));
    const alloc = Math.min(this.capacity, INITIAL_ALLOC);
    this.times = new Float64Array(alloc);
    this.seqs = new Float64Array(alloc);
    this.nums = raw ? null : new Float64Array(alloc);
    this.raws = raw ? new Array<SignalValue>(alloc).fill(0) : null;
  }

  /** Keeps the sample unless it comes sooner than `intervalMs` after the last kept one. */
  push(timeMs: number, num: number, value: SignalValue, seq: number): void {
    if (this.intervalMs > 0 && this.count > 0 && timeMs - this.lastKeptMs < this.intervalMs) {
      this.decimated++;
      return;
    }
    this.lastKeptMs = timeMs;
    let size = this.times.length;
    if (this.count === size && size < this.capacity) {
      this.resize(Math.min(this.capacity, size * 2));
      size = this.times.length;
    }
    const i = this.head;
    this.times[i] = timeMs;
    this.seqs[i] = seq;
    if (this.nums !== null) this.nums[i] = num;
    else this.raws![i] = value;
    this.head = i + 1 === size ? 0 : i + 1;
    if (this.count < size) this.count++;
  }

  /** Changes the capacity, keeping the newest samples. */
  setCapacity(capacity: number): void {
    const cap = Math.max(1, Math.min(capacity, MAX_RING_SAMPLES));
    if (cap === this.capacity) return;
    this.capacity = cap;
    if (this.times.length > cap) this.resize(cap);
  }

  /** Re-allocates to `size` slots, keeping the newest `min(count, size)` samples, oldest at 0. */
  private resize(size: number): void {
    const keep = Math.min(this.count, size);
    const times = new Float64Array(size);
    const seqs = new Float64Array(size);
    const nums = this.nums !== null ? new Float64Array(size) : null;
    const raws = this.raws !== null ? new Array<SignalValue>(size).fill(0) : null;
    const old = this.times.length;
    for (let k = 0; k < keep; k++) {
      const from = (this.head - keep + k + old) % old;
      times[k] = this.times[from];
      seqs[k] = this.seqs[from];
      if (nums !== null) nums[k] = this.nums![from];
      else raws![k] = this.raws![from];
    }
    this.times = times;
    this.seqs = seqs;
    this.nums = nums;
    this.raws = raws;
    this.count = keep;
    this.head = keep === size ? 0 : keep;
  }

  /** Slot index of the k-th newest sample (k = 0 newest). */
  slot(k: number): number {
    const size = this.times.length;
    const i = this.head - 1 - k;
    return i < 0 ? i + size : i;
  }
}

/** Tumbling windows of one signal, started at its first sample; keeps the last two completed ones. */
export class WindowState {
  /** End of the window being accumulated (NaN before the first sample). */
  endMs = NaN;
  accMin = Infinity;
  accMax = -Infinity;
  accSum = 0;
  accCount = 0;
  lastMin = NaN;
  lastMax = NaN;
  lastAvg = NaN;
  lastValid = false;
  prevMin = NaN;
  prevMax = NaN;
  prevAvg = NaN;
  prevValid = false;

  constructor(
    readonly signalId: number,
    readonly windowMs: number,
  ) {}

  /**
   * Adds a sample (rolls the windows first when it lies beyond the current one). Returns true
   * when completed windows changed.
   */
  add(timeMs: number, value: number): boolean {
    let rolled = false;
    if (this.endMs !== this.endMs) this.endMs = timeMs + this.windowMs;
    else if (timeMs >= this.endMs) rolled = this.roll(timeMs);
    if (value === value) {
      // NaN (e.g. a string signal) does not aggregate
      if (value < this.accMin) this.accMin = value;
      if (value > this.accMax) this.accMax = value;
      this.accSum += value;
      this.accCount++;
    }
    return rolled;
  }

  /** Completes every window that ended at or before `timeMs`. Returns true when anything changed. */
  roll(timeMs: number): boolean {
    if (!(timeMs >= this.endMs)) return false;
    const k = Math.floor((timeMs - this.endMs) / this.windowMs) + 1;
    const has = this.accCount > 0;
    const min = this.accMin;
    const max = this.accMax;
    const avg = has ? this.accSum / this.accCount : NaN;
    if (k === 1) {
      this.prevMin = this.lastMin;
      this.prevMax = this.lastMax;
      this.prevAvg = this.lastAvg;
      this.prevValid = this.lastValid;
      this.lastMin = min;
      this.lastMax = max;
      this.lastAvg = avg;
      this.lastValid = has;
    } else {
      // The accumulated window is followed by k - 1 empty ones.
      this.prevMin = min;
      this.prevMax = max;
      this.prevAvg = avg;
      this.prevValid = k === 2 && has;
      this.lastValid = false;
    }
    this.endMs += k * this.windowMs;
    this.accMin = Infinity;
    this.accMax = -Infinity;
    this.accSum = 0;
    this.accCount = 0;
    return true;
  }

  /** `WindowFn` value -> aggregate, undefined for an empty / not yet completed window. */
  get(fn: number): number | undefined {
    switch (fn) {
      case 0:
        return this.lastValid ? this.lastMin : undefined;
      case 1:
        return this.lastValid ? this.lastMax : undefined;
      case 2:
        return this.lastValid ? this.lastAvg : undefined;
      case 3:
        return this.prevValid ? this.prevMin : undefined;
      case 4:
        return this.prevValid ? this.prevMax : undefined;
      default:
        return this.prevValid ? this.prevAvg : undefined;
    }
  }
}
