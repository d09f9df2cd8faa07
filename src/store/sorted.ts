/** Ascending array of unique numbers with binary-search insert/remove (seqs arrive in order, so insert is a push). */
export class SortedNumbers {
  readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  get first(): number | undefined {
    return this.items[0];
  }

  insert(n: number): void {
    const a = this.items;
    if (a.length === 0 || a[a.length - 1] < n) {
      a.push(n);
      return;
    }
    const i = this.lowerBound(n);
    if (a[i] !== n) a.splice(i, 0, n);
  }

  remove(n: number): boolean {
    const a = this.items;
    if (a[0] === n) {
      a.shift();
      return true;
    }
    const i = this.lowerBound(n);
    if (a[i] !== n) return false;
    a.splice(i, 1);
    return true;
  }

  /** First index with items[i] >= n. */
  lowerBound(n: number): number {
    const a = this.items;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid] < n) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
