/**
 * Token counting that is linear in the text and bounded per step.
 *
 * Why this exists: gpt-tokenizer 4.0's `BytePairEncodingCore.bytePairMerge` is O(n²) in
 * the length of ONE pre-token (the pieces its split regex cuts the text into): every merge
 * rescans all pair ranks and splices arrays. Text without spaces is one long pre-token, so
 * a 20 KB prompt took 0.5 s, 100 KB 5.9 s and 1 MB over 6 minutes, all in one turn of the
 * event loop (issue #12). So the library here only ever sees bounded input:
 *
 * - Text is cut into regions of about {@link SLICE} characters at places where every
 *   encoding's split regex must end a pre-token and cannot see past (see {@link SURE_CUT}),
 *   so counting the regions separately gives exactly the library's count of the whole.
 * - A region in which no pre-token can be longer than {@link MAX_EXACT} characters (a cheap
 *   sampled check, {@link mayHoldLongPreToken}) goes to the library in one call: exact.
 * - Any other region is scanned pre-token by pre-token with the encoding's own split regex.
 *   Pre-tokens up to {@link MAX_EXACT} are still counted exactly, in slices; a longer one is
 *   counted as the sum of its pieces of at most {@link MAX_EXACT} characters. That is an
 *   ESTIMATE (the library would merge across the cuts; about 1-2 % more tokens for random
 *   letters), and the only place counts are not exact.
 *
 * Every step the generator yields stands for a few milliseconds of work at most, which lets
 * {@link countTokensAsync} hand the event loop back between them.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { bytePairCount, isAscii } from './byte-pair-count.js';
import { MAX_EXACT, mayHoldLongPreToken, nextCut, SLICE } from './pre-token-cuts.js';

export interface CountingEncoder {
  countTokens(text: string, options: { disallowedSpecial: Set<string> }): number;
}

/** The library's rank table: index = token id, value = its text (or bytes if not UTF-8). */
export type RankTable = readonly (string | readonly number[])[];

/** An encoding's library counter, a private copy of its pre-token split regex, its ranks. */
export interface CountingEncoding {
  readonly encoder: CountingEncoder;
  /** Sticky and unicode, like the library's (which is global): matches at `lastIndex` only. */
  readonly preTokens: RegExp;
  /** The ranks of the ASCII tokens, built on the first long ASCII pre-token. */
  readonly asciiRanks: () => ReadonlyMap<string, number>;
}

export function countingEncoding(encoder: CountingEncoder, splitRegex: RegExp, ranks: RankTable): CountingEncoding {
  let asciiRanks: Map<string, number> | undefined;
  return {
    encoder,
    preTokens: new RegExp(splitRegex.source, 'uy'),
    asciiRanks: () => {
      if (!asciiRanks) {
        asciiRanks = new Map();
        // forEach skips the holes the table has for unused ids.
        ranks.forEach((token, rank) => {
          if (typeof token === 'string' && isAscii(token)) asciiRanks!.set(token, rank);
        });
      }
      return asciiRanks;
    },
  };
}

/** Time spent counting before the async count lets other work run. */
const TURN_BUDGET_MS = 8;

// User text may legitimately contain `<|endoftext|>` and friends; count them as text
// instead of letting the tokenizer throw.
const NO_SPECIAL = { disallowedSpecial: new Set<string>() };

const NON_SPACE = /\S/;

/** Splits the text into bounded steps; each yields the tokens it counted. */
export function* countSteps(encoding: CountingEncoding, text: string): Generator<number, void, undefined> {
  let start = 0;
  while (start < text.length) {
    const end = nextCut(text, start);
    if (end - start <= 2 * SLICE && !mayHoldLongPreToken(text, start, end)) yield library(encoding, text, start, end);
    else yield* countPreTokens(encoding, text, start, end);
    start = end;
  }
}

export function countTokensSync(encoding: CountingEncoding, text: string): number {
  let total = 0;
  for (const tokens of countSteps(encoding, text)) total += tokens;
  return total;
}

/** Paces several counts (a request's messages) as one: the budget spans all of them. */
export class Turn {
  private started = performance.now();

  async yieldIfDue(): Promise<void> {
    if (performance.now() - this.started < TURN_BUDGET_MS) return;
    await nextTurn();
    this.started = performance.now();
  }
}

export async function countTokensAsync(encoding: CountingEncoding, text: string, turn = new Turn()): Promise<number> {
  let total = 0;
  for (const tokens of countSteps(encoding, text)) {
    total += tokens;
    await turn.yieldIfDue();
  }
  return total;
}


/** The library's exact count of `text[start, end)`, which must lie between sure cuts. */
function library(encoding: CountingEncoding, text: string, start: number, end: number): number {
  return encoding.encoder.countTokens(detached(text.slice(start, end)), NO_SPECIAL);
}

/**
 * A copy of `s` that shares no memory with the string it was sliced from. The library's
 * merge cache keeps its keys (pre-tokens), and V8 represents a substring of 13 or more
 * characters as a view of its parent: without the copy one cached pre-token kept a whole
 * prompt alive (measured: 50 one-MB prompts, one new long word each, held 50 MB).
 */
function detached(s: string): string {
  return (' ' + s).slice(1);
}

/**
 * Counts a region pre-token by pre-token: exact slices between long pre-tokens, which are
 * estimated. Slices end only after a pre-token that is not all whitespace (see
 * {@link SURE_CUT} for why that keeps them exact); the few whitespace pre-tokens between
 * the last such end and a long pre-token are counted one by one, each exactly.
 */
function* countPreTokens(encoding: CountingEncoding, text: string, start: number, end: number): Generator<number, void, undefined> {
  const regex = encoding.preTokens;
  let sliceStart = start;
  let safeEnd = start;
  const spaceEnds: number[] = [];
  let at = start;
  while (at < end) {
    // Set on every call: another count may have used the shared regex while this one waited.
    regex.lastIndex = at;
    const match = regex.exec(text);
    // Every character matches some alternative; this only guards against an endless loop.
    const next = match ? regex.lastIndex : end;
    if (next - at > MAX_EXACT) {
      if (safeEnd > sliceStart) yield library(encoding, text, sliceStart, safeEnd);
      let from = safeEnd;
      for (const spaceEnd of spaceEnds) {
        yield library(encoding, text, from, spaceEnd);
        from = spaceEnd;
      }
      yield* estimateLong(encoding, text, at, next);
      sliceStart = safeEnd = next;
      spaceEnds.length = 0;
    } else if (!match || NON_SPACE.test(match[0])) {
      safeEnd = next;
      spaceEnds.length = 0;
      if (next - sliceStart >= SLICE) {
        yield library(encoding, text, sliceStart, next);
        sliceStart = next;
      }
    } else {
      spaceEnds.push(next);
    }
    at = next;
  }
  if (end > sliceStart) yield library(encoding, text, sliceStart, end);
}

/** The estimate for one over-long pre-token: the sum of its bounded pieces' counts. */
function* estimateLong(encoding: CountingEncoding, text: string, start: number, end: number): Generator<number, void, undefined> {
  let tokens = 0;
  let stepStart = start;
  // Runs of one character (spaces, '=====') cut into identical pieces: count each once.
  let lastPiece = '';
  let lastCount = 0;
  for (let at = start; at < end; ) {
    let cut = Math.min(end, at + MAX_EXACT);
    // Never split a surrogate pair: half an emoji would be counted as two broken ones.
    if (cut < end && isHighSurrogate(text.charCodeAt(cut - 1))) cut--;
    const piece = text.slice(at, cut);
    if (piece !== lastPiece) {
      lastPiece = piece;
      lastCount = isAscii(piece) ? bytePairCount(piece, encoding.asciiRanks()) : library(encoding, text, at, cut);
    }
    tokens += lastCount;
    at = cut;
    if (at - stepStart >= SLICE || at === end) {
      yield tokens;
      tokens = 0;
      stepStart = at;
    }
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
