/**
 * Byte-pair counting of long ASCII pre-tokens, for the estimate in token-count.ts: the
 * library's merge order at a fraction of its cost.
 */

/**
 * The number of tokens byte-pair encoding makes of one ASCII pre-token: the library's
 * algorithm (merge the lowest-ranked adjacent pair, leftmost first, until none is a token)
 * on strings, with a heap instead of a scan per merge. The library spends about 1.5 µs per
 * character turning each candidate pair's bytes back into a string; this is several times
 * faster, which keeps a megabyte of random letters or symbols near a second or less.
 */
export function bytePairCount(piece: string, ranks: ReadonlyMap<string, number>): number {
  const n = piece.length;
  if (n <= 1 || ranks.has(piece)) return n === 0 ? 0 : 1;
  // Parts are identified by where they start; next[i] is where the part after i starts.
  const next = new Int32Array(n + 1);
  const prev = new Int32Array(n + 1);
  for (let i = 0; i <= n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  const merged = new Uint8Array(n);
  // pairRank[i]: the rank of part i joined with the next part; heap entries rank * (n + 1) + i
  // order by rank, then leftmost, as the library does. Outdated entries are skipped on pop.
  const pairRank = new Float64Array(n);
  const heap = new MinHeap();
  const rate = (i: number): void => {
    const j = next[i]!;
    const rank = j < n ? ranks.get(piece.slice(i, next[j])) : undefined;
    pairRank[i] = rank ?? Infinity;
    if (rank !== undefined) heap.push(rank * (n + 1) + i);
  };
  for (let i = 0; i < n; i++) rate(i);
  let parts = n;
  for (let top = heap.pop(); top !== undefined; top = heap.pop()) {
    const i = top % (n + 1);
    if (merged[i] || pairRank[i] !== (top - i) / (n + 1)) continue;
    const j = next[i]!;
    merged[j] = 1;
    next[i] = next[j]!;
    prev[next[j]!] = i;
    parts--;
    rate(i);
    if (i > 0) rate(prev[i]!);
  }
  return parts;
}

/** A binary min-heap of numbers. */
class MinHeap {
  private readonly items: number[] = [];

  push(value: number): void {
    const items = this.items;
    let at = items.push(value) - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (items[parent]! <= value) break;
      items[at] = items[parent]!;
      at = parent;
    }
    items[at] = value;
  }

  pop(): number | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= items.length) break;
      if (child + 1 < items.length && items[child + 1]! < items[child]!) child++;
      if (items[child]! >= last) break;
      items[at] = items[child]!;
      at = child;
    }
    items[at] = last;
    return top;
  }
}

export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
