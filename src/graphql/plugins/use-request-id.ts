/**
 * A request id per HTTP request: the client's `x-request-id` when it sent a sane one (so
 * ids flow through proxies and into the client's own logs), else a new UUID. It is
 * returned in the response header and put in every log line about the operation.
 */
import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';

const ids = new WeakMap<Request, string>();
const SANE = /^[\w.:@/+=-]{1,128}$/;

export function newRequestId(offered?: string | null): string {
  return offered && SANE.test(offered) ? offered : randomUUID();
}

/** The id given to `request` by the plugin. */
export function requestIdOf(request: Request): string {
  let id = ids.get(request);
  if (!id) {
    id = newRequestId(request.headers.get('x-request-id'));
    ids.set(request, id);
  }
  return id;
}

export function useRequestId(): Plugin {
  return {
    onResponse({ request, response }) {
      response.headers.set('x-request-id', requestIdOf(request));
    },
  };
}
