/**
 * End-of-message markers that some upstreams (ChatML-era models, llama.cpp and vLLM with
 * raw templates) leak into the text. They are never meant for the reader.
 */
export const END_SENTINELS = ['<|im_end|>', '<|endoftext|>', '<|eot_id|>', '<|end_of_text|>', '<|end|>'] as const;

export function stripSentinels(text: string): string {
  if (!text.includes('<|')) return text;
  let out = text;
  for (const sentinel of END_SENTINELS) out = out.split(sentinel).join('');
  return out;
}

/**
 * Streaming version: a sentinel can arrive split across chunks (`<|im` + `_end|>`), so a
 * tail that could still become one is held back until the next chunk decides it.
 */
export class SentinelFilter {
  private pending = '';

  push(chunk: string): string {
    // Nearly every chunk: nothing held back and nothing that could start a sentinel.
    if (this.pending === '' && !chunk.includes('<')) return chunk;
    const text = stripSentinels(this.pending + chunk);
    const hold = heldTail(text);
    this.pending = text.slice(text.length - hold);
    return text.slice(0, text.length - hold);
  }

  /** The end of the stream: whatever was held back was not a sentinel after all. */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of some sentinel. */
function heldTail(text: string): number {
  const start = text.lastIndexOf('<');
  if (start === -1) return 0;
  const tail = text.slice(start);
  return END_SENTINELS.some((s) => s.length > tail.length && s.startsWith(tail)) ? tail.length : 0;
}
