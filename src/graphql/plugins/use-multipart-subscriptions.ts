/**
 * Apollo's multipart HTTP subscriptions: what Apollo Client's `HttpLink` (and Apollo Kotlin
 * and iOS) speak when an app has no WebSocket link. The client POSTs the subscription with
 * `Accept: multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json` and
 * reads each event as a part of one `multipart/mixed` response.
 *
 * Yoga's own `multipart/mixed` processor is for incremental delivery (`@defer`): it writes
 * bare results and Yoga never offers it to subscriptions, so Apollo's request got 406. This
 * plugin only picks how a streamed result is written: the operation has already run through
 * the same Envelop plugins as over SSE and graphql-ws (auth in the context, limits,
 * metrics), and the shutdown drain cuts it the same way. Leaving works the same way too: the
 * client aborting its fetch cancels the body, which returns the event iterator, which
 * aborts the upstream request at once.
 *
 * The protocol (Apollo Router's "Multipart HTTP protocol for GraphQL Subscriptions"):
 * - every part is JSON; an event is `{"payload": <ExecutionResult>}`, with its GraphQL
 *   errors (an upstream failure, SHUTTING_DOWN) inside the payload;
 * - a heartbeat part `{}` keeps proxies from closing a quiet stream; clients ignore it;
 * - a fatal transport error is `{"payload": null, "errors": [...]}` without locations or
 *   path, after which the server closes the response. Here that is the stream itself
 *   failing, which Yoga hands over as a last result with `errors` and no `data`.
 *
 * A subscription that fails before it streams (UNAUTHENTICATED, RATE_LIMITED, a validation
 * error) has a single result, not a stream: Yoga answers it as plain JSON with its HTTP
 * status, which `application/json` in the same Accept header allows and Apollo reads.
 */
import type { ExecutionResult, GraphQLError, GraphQLFormattedError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { ErrorCode } from '../errors.js';

export interface MultipartSubscriptionsOptions {
  /**
   * Milliseconds of silence after which a heartbeat part (`{}`) is sent, and again every as
   * many milliseconds while the stream stays silent. Apollo Router sends one every 5 s;
   * proxies and load balancers commonly close a response idle for 30 to 60 s.
   * @default 5000
   */
  heartbeatMs?: number;
}

const BOUNDARY = 'graphql';
const CONTENT_TYPE = `multipart/mixed;boundary="${BOUNDARY}";subscriptionSpec="1.0"`;
/** Each part is followed at once by the next delimiter: a client only yields a part once it sees one. */
const DELIMITER = `\r\n--${BOUNDARY}`;
const PART_HEADERS = '\r\ncontent-type: application/json; charset=utf-8\r\n\r\n';
const HEARTBEAT = `${PART_HEADERS}{}${DELIMITER}`;
const CLOSE = '--\r\n';

/** Whether the Accept header names Apollo's protocol: `multipart/mixed` with `subscriptionSpec=1.0` (quoted or not). */
export function acceptsMultipartSubscriptions(accept: string | null): boolean {
  if (!accept) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    return type === 'multipart/mixed' && params.some((p) => p.replace(/["\s]/g, '') === 'subscriptionspec=1.0');
  });
}

/**
 * An error as Yoga's own processors write it: without `extensions.http` (status and headers
 * meant for the response) and `extensions.unexpected`; `bare` also drops locations and path.
 */
function formatError(error: GraphQLError, bare: boolean): GraphQLFormattedError {
  const { message, locations, path, extensions } = error.toJSON();
  const kept = { ...extensions };
  delete kept['http'];
  delete kept['unexpected'];
  const withExtensions = Object.keys(kept).length > 0 ? { extensions: kept } : {};
  if (bare) return { message, ...withExtensions };
  return { message, ...(locations && { locations }), ...(path && { path }), ...withExtensions };
}

/** The part for one result of the stream, and whether it is the last. */
function partOf(result: ExecutionResult): { body: string; last: boolean } {
  const errors = result.errors ?? [];
  // Events always carry `data` (null when their field failed); only a failure of the
  // stream itself comes without it.
  if (!('data' in result) && errors.length > 0) {
    return { body: JSON.stringify({ payload: null, errors: errors.map((e) => formatError(e, true)) }), last: true };
  }
  const payload = errors.length > 0 ? { ...result, errors: errors.map((e) => formatError(e, false)) } : result;
  return { body: JSON.stringify({ payload }), last: false };
}

/**
 * Yoga turns every other failure of a stream into a last result and rethrows only an
 * AbortError: the request is gone, so this part is for the record more than for a reader.
 */
const ABORTED = JSON.stringify({ payload: null, errors: [{ message: 'The request was aborted', extensions: { code: ErrorCode.CLIENT_CLOSED } }] });

type ResultProcessor = Parameters<Parameters<NonNullable<Plugin['onResultProcess']>>[0]['setResultProcessor']>[0];

/** Writes a subscription's events as the parts of one `multipart/mixed` response. */
function multipartProcessor(heartbeatMs: number): ResultProcessor {
  return (stream, fetchAPI) => {
    if (!isAsyncIterable(stream)) throw new Error('the multipart subscription processor takes a stream');
    const events = stream[Symbol.asyncIterator]();
    const encoder = new fetchAPI.TextEncoder();
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    let sentSinceTick = false;
    let finished = false;
    const finish = (): void => {
      finished = true;
      clearInterval(heartbeat);
    };
    const body = new fetchAPI.ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(DELIMITER));
        heartbeat = setInterval(() => {
          // A part went out since the last tick: the connection is not idle.
          if (sentSinceTick) {
            sentSinceTick = false;
            return;
          }
          // Null: errored or closed. Zero: the client is not reading; a heartbeat would only queue.
          if ((controller.desiredSize ?? 0) > 0) controller.enqueue(encoder.encode(HEARTBEAT));
        }, heartbeatMs);
      },
      async pull(controller) {
        let part: { body: string; last: boolean } | undefined;
        try {
          const next = await events.next();
          part = next.done ? undefined : partOf(next.value);
        } catch {
          part = { body: ABORTED, last: true };
        }
        // Cancelled while waiting for the event: the response is gone.
        if (finished) return;
        if (part) {
          sentSinceTick = true;
          controller.enqueue(encoder.encode(`${PART_HEADERS}${part.body}${DELIMITER}`));
        }
        if (!part || part.last) {
          finish();
          controller.enqueue(encoder.encode(CLOSE));
          controller.close();
          if (part) await events.return?.();
        }
      },
      // The client aborted its fetch (or the socket dropped): leave the stream at once.
      async cancel() {
        finish();
        await events.return?.();
      },
    });
    return new fetchAPI.Response(body, { status: 200, headers: { 'content-type': CONTENT_TYPE, 'cache-control': 'no-cache' } });
  };
}

export function useMultipartSubscriptions({ heartbeatMs = 5000 }: MultipartSubscriptionsOptions = {}): Plugin {
  const processor = multipartProcessor(heartbeatMs);
  return {
    onResultProcess(payload) {
      // Only streams: a single result (a failure before the stream began) stays plain JSON.
      if (!isAsyncIterable(payload.result) || !acceptsMultipartSubscriptions(payload.request.headers.get('accept'))) return;
      payload.setResultProcessor(processor, 'multipart/mixed');
    },
  };
}
