/**
 * Where text may be cut for counting (see token-count.ts for the design): the sure cuts
 * that bound the regions counted separately, and the cheap check for a region that may
 * hold a pre-token too long to count exactly.
 */

/**
 * Longest pre-token counted exactly. The library's cost per character is flat up to a few
 * hundred characters (about 1.5 µs for random letters) and grows linearly past that.
 */
export const MAX_EXACT = 256;
/** Characters per library call: a few milliseconds even when every pre-token is long. */
export const SLICE = 2_048;

/**
 * A letter or number followed by anything but a letter, mark, number or apostrophe. In all
 * three split regexes a pre-token containing a letter or number cannot continue into such
 * a character, so a pre-token ends there; and since that pre-token is not whitespace, none
 * of the regexes' look-aheads (`\s+(?!\S)`, `\s+$`) was evaluated at the cut, so the text
 * before it splits the same on its own as inside the whole.
 */
const SURE_CUT = /[\p{L}\p{N}](?=[^\p{L}\p{M}\p{N}'])/gu;

/** The first sure cut at least {@link SLICE} characters on, or the end of the text. */
export function nextCut(text: string, start: number): number {
  if (text.length - start <= SLICE) return text.length;
  SURE_CUT.lastIndex = start + SLICE;
  return SURE_CUT.exec(text) ? SURE_CUT.lastIndex : text.length;
}

// Character classes, as bits: which runs a character can belong to.
const LETTER = 1;
const MARK = 2;
const NUMBER = 4;
const OTHER = 8;
/** The runs a long pre-token must contain: letters (with marks), numbers, everything else. */
const RUNS = [LETTER | MARK, NUMBER, MARK | OTHER] as const;
/**
 * A pre-token longer than {@link MAX_EXACT} holds a run of at least this many characters
 * of one of {@link RUNS}: at most one prefix character and a 3-character contraction
 * (`'ll`) surround the letters of a word; everything else is one class throughout.
 */
const LONG_RUN = MAX_EXACT - 4;

const classCache = new Uint8Array(0x10000);
const IS_LETTER = /\p{L}/u;
const IS_MARK = /\p{M}/u;
const IS_NUMBER = /\p{N}/u;

function classOf(code: number): number {
  let cls = classCache[code]!;
  if (cls === 0) {
    const char = String.fromCharCode(code);
    // Half of a surrogate pair says nothing alone: let it extend any run (over-detecting only costs time).
    if (code >= 0xd800 && code <= 0xdfff) cls = LETTER | MARK | NUMBER | OTHER;
    else cls = IS_LETTER.test(char) ? LETTER : IS_MARK.test(char) ? MARK : IS_NUMBER.test(char) ? NUMBER : OTHER;
    classCache[code] = cls;
  }
  return cls;
}

/**
 * Whether `text[start, end)` may hold a pre-token longer than {@link MAX_EXACT}. Any run of
 * {@link LONG_RUN} characters covers one of the positions sampled every {@link LONG_RUN}
 * characters, so measuring the runs through those positions finds every long pre-token
 * (and a few harmless false alarms) in time proportional to the text.
 */
export function mayHoldLongPreToken(text: string, start: number, end: number): boolean {
  for (let sample = start + LONG_RUN - 1; sample < end; sample += LONG_RUN) {
    const cls = classOf(text.charCodeAt(sample));
    for (const run of RUNS) {
      if ((cls & run) === 0) continue;
      let from = sample;
      while (from > start && (classOf(text.charCodeAt(from - 1)) & run) !== 0) from--;
      let to = sample + 1;
      while (to < end && to - from < LONG_RUN && (classOf(text.charCodeAt(to)) & run) !== 0) to++;
      if (to - from >= LONG_RUN) return true;
    }
  }
  return false;
}
