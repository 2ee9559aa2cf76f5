/** The simulator's seeded randomness: a pure function of a string key, so replies repeat. */

/** FNV-1a: a tiny, stable string hash, enough to seed the PRNG. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A PRNG seeded by `key`. */
export function seeded(key: string): () => number {
  return mulberry32(fnv1a(key));
}

/** An integer in [min, max] (both included). */
export function intBetween(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** One element of a non-empty list. */
export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `length` characters of [A-Za-z0-9], like the suffix of OpenAI's `call_…` ids. */
export function alphanumeric(random: () => number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ID_ALPHABET.charAt(Math.floor(random() * ID_ALPHABET.length));
  return out;
}
