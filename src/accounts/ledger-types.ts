/**
 * The ledger's shared types: what callers record and run, for ledger.ts and
 * ledger-checkpoints.ts alike. No code here, so both import it and neither imports the other
 * back (ledger.ts → ledger-checkpoints.ts → ledger-types.ts).
 */

export type LedgerOutcome =
  | 'completed'
  | 'length'
  | 'cancelled'
  | 'upstream_error'
  | 'timeout'
  | 'shutdown'
  | 'client_too_slow'
  | 'interrupted'
  /** Served from the response cache: no upstream call, cost 0 (issue #16). */
  | 'cached';

export interface LedgerEntry {
  keyId: string | null;
  requestId: string;
  operation: 'complete' | 'completionStream';
  modelRequested: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** Of `promptTokens`, those served from the upstream's prompt cache; null or absent: it did not say. */
  cachedPromptTokens?: number | null;
  /** Of `completionTokens`, those spent reasoning (billed as output); null or absent: it did not say. */
  reasoningTokens?: number | null;
  costUsd: number | null;
  outcome: LedgerOutcome;
  timeToFirstChunkMs: number | null;
  durationMs: number;
  startedAt: number;
  finishedAt: number;
}

/** What a running operation reports as it goes; the detailed counts once the upstream said them. */
export interface Progress {
  model?: string;
  completionTokens: number;
  cachedPromptTokens?: number;
  reasoningTokens?: number;
}

/** An operation that has reached the upstream and is not finished yet. */
export interface RunningOperation {
  /** Cheap (memory only): what it has produced so far; called per streamed delta. */
  progress(update: Progress): void;
  /** Records the final row (as `record` does) and drops the checkpoint. Call exactly once. */
  finish(entry: LedgerEntry): void;
}

/** What `Ledger.start` takes. */
export interface StartedOperation
  extends Pick<LedgerEntry, 'keyId' | 'requestId' | 'operation' | 'modelRequested' | 'model' | 'promptTokens' | 'startedAt'> {
  /** Prices a checkpoint's tokens (the model may change when a fallback serves); `cachedPromptTokens` undefined while not known. */
  cost: (model: string, promptTokens: number, completionTokens: number, cachedPromptTokens?: number) => number | null;
}
