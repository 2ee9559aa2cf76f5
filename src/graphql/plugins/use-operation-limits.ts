/**
 * graphql-armor's limits on what one operation may ask for, refused at parse or
 * validation time, so an abusive query never reaches a resolver (or the upstream).
 * Armor's errors carry no code; ours get `QUERY_TOO_COMPLEX` and the limit's name.
 */
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Limits } from '../../config/index.js';
import { ErrorCode } from '../errors.js';

/** Armor calls this with the error it is about to report; tagging it in place keeps its message and location. */
function tag(limit: string) {
  return [
    (_context: unknown, error: GraphQLError): void => {
      Object.assign(error.extensions, { code: ErrorCode.QUERY_TOO_COMPLEX, limit });
    },
  ];
}

export function useOperationLimits(limits: Limits): Plugin[] {
  const plugins: Plugin[] = [
    maxTokensPlugin({ n: limits.maxTokens, onReject: tag('maxTokens') }),
    // flattenFragments: a fragment spread costs what its selection costs, no more, so
    // fragment-heavy clients (Apollo, codegen) are measured like everyone else.
    maxDepthPlugin({ n: limits.maxDepth, flattenFragments: true, onReject: tag('maxDepth') }),
    maxAliasesPlugin({ n: limits.maxAliases, onReject: tag('maxAliases') }),
    maxDirectivesPlugin({ n: limits.maxDirectives, onReject: tag('maxDirectives') }),
    costLimitPlugin({ maxCost: limits.maxCost, flattenFragments: true, onReject: tag('maxCost') }),
  ];
  if (limits.hideSuggestions) plugins.push(blockFieldSuggestionsPlugin());
  return plugins;
}
