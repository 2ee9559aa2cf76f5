/**
 * A string that a simple regular expression matches, for JSON Schema's `pattern`: literals,
 * escapes (\d \w \s and the like), classes and ranges, groups with alternatives, anchors and
 * quantifiers. Lookarounds, back-references and other rarities give undefined: the caller
 * then falls back to plain text, and checks the result with the real RegExp either way.
 */
import { intBetween, pick } from './random.js';

type Node =
  | { kind: 'chars'; set: string }
  | { kind: 'empty' }
  | { kind: 'alt'; options: Node[][] }
  | { kind: 'repeat'; node: Node; min: number; max: number };

class Unsupported extends Error {}

const DIGITS = '0123456789';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const WORD = `${LOWER}${LOWER.toUpperCase()}${DIGITS}_`;
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
/** Past an open-ended quantifier, this many more repetitions at most: enough to look plausible. */
const OPEN_EXTRA = 3;

/** Characters an escape stands for (inside or outside a class). */
function escapeSet(c: string): string {
  switch (c) {
    case 'd':
      return DIGITS;
    case 'w':
      return WORD;
    case 's':
      return ' ';
    case 'D':
      return LOWER;
    case 'W':
      return '-';
    case 'S':
      return LOWER;
    case 'n':
      return '\n';
    case 't':
      return '\t';
    case 'r':
      return '\r';
    default:
      if (/[0-9bBkpPcux]/.test(c)) throw new Unsupported(`\\${c}`);
      return c;
  }
}

class Parser {
  private at = 0;
  constructor(private readonly source: string) {}

  parse(): Node[][] {
    const options = this.alternatives();
    if (this.at < this.source.length) throw new Unsupported('unbalanced )');
    return options;
  }

  private peek(): string | undefined {
    return this.source[this.at];
  }

  private next(): string {
    const c = this.source[this.at++];
    if (c === undefined) throw new Unsupported('unexpected end');
    return c;
  }

  private alternatives(): Node[][] {
    const options: Node[][] = [this.sequence()];
    while (this.peek() === '|') {
      this.at++;
      options.push(this.sequence());
    }
    return options;
  }

  private sequence(): Node[] {
    const nodes: Node[] = [];
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) {
      nodes.push(this.quantified(this.atom()));
    }
    return nodes;
  }

  private atom(): Node {
    const c = this.next();
    if (c === '^' || c === '$') return { kind: 'empty' };
    if (c === '.') return { kind: 'chars', set: LOWER };
    if (c === '\\') {
      const escaped = this.next();
      // A word boundary takes no characters; the caller's RegExp test tells whether it held.
      return escaped === 'b' || escaped === 'B' ? { kind: 'empty' } : { kind: 'chars', set: escapeSet(escaped) };
    }
    if (c === '[') return { kind: 'chars', set: this.characterClass() };
    if (c === '(') {
      if (this.peek() === '?') {
        this.at++;
        const kind = this.next();
        // (?:…) and named groups (?<name>…) only: lookarounds cannot be sampled this simply.
        if (kind === '<' && /[A-Za-z]/.test(this.peek() ?? '')) {
          while (this.next() !== '>');
        } else if (kind !== ':') {
          throw new Unsupported(`(?${kind}`);
        }
      }
      const options = this.alternatives();
      if (this.next() !== ')') throw new Unsupported('unclosed group');
      return { kind: 'alt', options };
    }
    if ('*+?{'.includes(c)) throw new Unsupported(`quantifier ${c} without an atom`);
    return { kind: 'chars', set: c };
  }

  private characterClass(): string {
    const negated = this.peek() === '^';
    if (negated) this.at++;
    let set = '';
    for (let c = this.next(); c !== ']'; c = this.next()) {
      const from = c === '\\' ? escapeSet(this.next()) : c;
      if (from.length === 1 && this.peek() === '-' && this.source[this.at + 1] !== ']' && this.source[this.at + 1] !== undefined) {
        this.at++;
        let to = this.next();
        if (to === '\\') to = escapeSet(this.next());
        if (to.length !== 1 || to < from) throw new Unsupported('range');
        for (let code = from.charCodeAt(0); code <= to.charCodeAt(0); code++) set += String.fromCharCode(code);
      } else {
        set += from;
      }
    }
    if (set === '') throw new Unsupported('empty class');
    if (!negated) return set;
    const rest = [...PRINTABLE].filter((ch) => !set.includes(ch)).join('');
    if (rest === '') throw new Unsupported('empty class');
    return rest;
  }

  private quantified(node: Node): Node {
    let min: number;
    let max: number;
    const c = this.peek();
    if (c === '*') [min, max] = [0, OPEN_EXTRA];
    else if (c === '+') [min, max] = [1, 1 + OPEN_EXTRA];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      const match = /^\{(\d+)(,(\d*))?\}/.exec(this.source.slice(this.at));
      if (!match) return node;
      min = Number(match[1]);
      max = match[2] === undefined ? min : match[3] === '' ? min + OPEN_EXTRA : Number(match[3]);
      this.at += match[0].length - 1;
    } else {
      return node;
    }
    this.at++;
    // A lazy quantifier matches the same strings.
    if (this.peek() === '?') this.at++;
    return { kind: 'repeat', node, min, max };
  }
}

function emit(nodes: readonly Node[], random: () => number): string {
  let out = '';
  for (const node of nodes) {
    switch (node.kind) {
      case 'chars':
        out += pick(random, [...node.set]);
        break;
      case 'empty':
        break;
      case 'alt':
        out += emit(pick(random, node.options), random);
        break;
      case 'repeat': {
        const times = intBetween(random, node.min, Math.max(node.min, node.max));
        for (let i = 0; i < times; i++) out += emit([node.node], random);
        break;
      }
    }
  }
  return out;
}

/** A string the pattern should match, or undefined when the pattern is beyond this sampler. */
export function samplePattern(pattern: string, random: () => number): string | undefined {
  try {
    const options = new Parser(pattern).parse();
    return emit(pick(random, options), random);
  } catch (error) {
    if (error instanceof Unsupported) return undefined;
    throw error;
  }
}
