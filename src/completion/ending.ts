/** How an operation ends, and what the ledger calls each ending. */
import type { GraphQLError } from 'graphql';
import type { LedgerOutcome } from '../accounts/ledger.js';
import { ErrorCode } from '../graphql/errors.js';
import type { Usage } from '../upstream/provider.js';

/** `produced` is what a failed or cancelled operation had consumed by then. */
export type Ending =
  | { kind: 'ok'; usage: Usage; text: string; length: boolean }
  | { kind: 'error'; error: GraphQLError; produced?: Usage | null }
  | { kind: 'cancelled'; produced?: Usage | null };

export function ledgerOutcome(ending: Ending): LedgerOutcome {
  if (ending.kind === 'ok') return ending.length ? 'length' : 'completed';
  if (ending.kind === 'cancelled') return 'cancelled';
  const code = ending.error.extensions['code'];
  if (code === ErrorCode.UPSTREAM_TIMEOUT) return 'timeout';
  if (code === ErrorCode.SHUTTING_DOWN) return 'shutdown';
  if (code === ErrorCode.CLIENT_TOO_SLOW) return 'client_too_slow';
  return 'upstream_error';
}
