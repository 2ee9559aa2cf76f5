/** End-sentinel stripping (src/completion/sentinels.ts), whole and streamed, at memory speed. */
import { describe, expect, it } from 'vitest';
import { END_SENTINELS, SentinelFilter, stripSentinels } from '../src/completion/sentinels.js';

/** Runs `pieces` through a fresh filter and returns what came out, flush included. */
function filtered(pieces: string[]): { out: string[]; flushed: string } {
  const filter = new SentinelFilter();
  const out = pieces.map((p) => filter.push(p));
  return { out, flushed: filter.flush() };
}

describe('stripSentinels', () => {
  it('removes every end sentinel wherever it is, and leaves other text alone', () => {
    for (const sentinel of END_SENTINELS) expect(stripSentinels(`a${sentinel}b${sentinel}`)).toBe('ab');
    expect(stripSentinels('a <|b|> c < d')).toBe('a <|b|> c < d');
  });
});

describe('SentinelFilter', () => {
  it('passes text without "<" straight through', () => {
    expect(filtered(['Hello', ' world'])).toEqual({ out: ['Hello', ' world'], flushed: '' });
  });

  it('strips a sentinel however it is cut into two pieces', () => {
    for (const sentinel of END_SENTINELS) {
      const text = `Done.${sentinel}`;
      for (let i = 0; i <= text.length; i++) {
        const { out, flushed } = filtered([text.slice(0, i), text.slice(i)]);
        expect(out.join('') + flushed, `${sentinel} cut at ${i}`).toBe('Done.');
      }
    }
  });

  it('holds back a tail that could start a sentinel and lets it out when the next piece decides', () => {
    const filter = new SentinelFilter();
    expect(filter.push('a <|im')).toBe('a ');
    expect(filter.push('age')).toBe('<|image');
    expect(filter.push('x<')).toBe('x');
    expect(filter.push('|eot_id|>y')).toBe('y');
  });

  it('gives back on flush what it held when the stream ends on the start of a sentinel', () => {
    for (const tail of ['<', '<|', '<|im', '<|im_end|', '<|end']) {
      const { out, flushed } = filtered(['text ', tail]);
      expect(out.join(''), tail).toBe('text ');
      expect(flushed, tail).toBe(tail);
    }
  });

  it('holds nothing once flushed', () => {
    const filter = new SentinelFilter();
    filter.push('<|im');
    expect(filter.flush()).toBe('<|im');
    expect(filter.flush()).toBe('');
    expect(filter.push('next')).toBe('next');
  });
});
