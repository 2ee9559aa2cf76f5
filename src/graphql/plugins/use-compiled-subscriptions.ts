/**
 * Subscription events without a full GraphQL execution each.
 *
 * The spec maps every event of a subscription through ExecuteSubscriptionEvent: the
 * operation's selection set executed again with the event as root value. graphql-tools
 * does exactly that, so every chunk of every stream pays for a fresh execution context,
 * field collection, a resolve info per field, argument coercion and promise checks; at
 * 10,000 chunks/s that was about a quarter of the gateway's CPU. Nothing of it changes
 * between the events of one subscription, so this plugin works it out once, when the
 * subscription starts (a plan), and per event only runs the plan: the same resolvers, the
 * same scalar and enum serialisation, the same null propagation and the same located
 * errors as the executor, with none of the per-event set-up.
 *
 * A plan covers object types (without `isTypeOf`), lists, non-null, scalars, enums,
 * `__typename`, aliases, fragments and `@skip`/`@include`; resolvers may return promises.
 * Anything else (a union or interface, `@defer`/`@stream`, variables that do not coerce)
 * keeps graphql-tools' own subscribe for the whole operation.
 *
 * One difference is deliberate: a resolver's `info` is built once per field per
 * subscription, so `info.path` has no list indices and `info.rootValue` is the
 * operation's root value rather than the event (the event is the resolver's `source`).
 * The schema's resolvers read neither.
 */
import type { ExecutionResult } from 'graphql';
import { isAsyncIterable } from '@graphql-tools/utils';
import type { Plugin } from 'graphql-yoga';
import { planSubscription } from './compiled-subscriptions/plan.js';
import type { FieldPlan, MaybePromise } from './compiled-subscriptions/types.js';
import { mapEvents, sourceStream } from './compiled-subscriptions/execute.js';

/**
 * @param enabled Default true. False leaves every subscription to graphql-tools, event by
 *   event; the plan's results are the same, so this exists for comparison and as an escape hatch.
 */
export function useCompiledSubscriptions(enabled = true): Plugin {
  if (!enabled) return {};
  return {
    onSubscribe({ subscribeFn, setSubscribeFn }) {
      setSubscribeFn((args) => {
        const planned = planSubscription(args);
        if ('unplannable' in planned) return subscribeFn(args) as MaybePromise<AsyncIterable<ExecutionResult> | ExecutionResult>;
        const { exe, root } = planned;
        const [rootField] = root as [FieldPlan];
        // The subscribe resolver runs once; what it yields runs through the plan.
        return sourceStream(exe, rootField).then((stream) =>
          isAsyncIterable(stream) ? mapEvents(exe, stream, root) : stream,
        );
      });
    },
  };
}
