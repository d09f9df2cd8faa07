/** "Did you mean": the closest valid names to a wrong one. */

/** Levenshtein distance (small strings; used for "did you mean"). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + cost);
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** The `n` names closest to `name` (case-insensitive edit distance, ties by name). */
export function closestNames(name: string, names: readonly string[], n = 3): string[] {
  const lower = name.toLowerCase();
  return names
    .map((x) => ({ x, d: editDistance(lower, x.toLowerCase()) }))
    .sort((a, b) => a.d - b.d || (a.x < b.x ? -1 : a.x > b.x ? 1 : 0))
    .slice(0, n)
    .map((e) => e.x);
}
