/**
 * The fake upstream's public API (see fake-upstream.ts, which re-exports it): what it
 * records, the failures it can produce, and the script that says what it answers.
 */

/** One HTTP request the fake received. */
export interface RecordedRequest {
  /** 1-based sequence number, in arrival order (survives `reset()`/`script()` without restarting). */
  id: number;
  /** HTTP method, upper-case (`POST`, `GET`). */
  method: string;
  /** URL pathname without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  /** Request headers, names lower-cased; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** The JSON body parsed (field names exactly as on the wire, e.g. `max_tokens`), or `null` when there was no body, it was not valid JSON, or it was not a JSON object. */
  body: Record<string, unknown> | null;
  /** Streams: SSE events written so far and flushed to the socket (a client that stops reading stalls it). */
  eventsSent: number;
}

/** A scripted failure. See each variant for what the fake does. */
export type Fault =
  /**
   * Respond with `status`. `body` (default: an OpenAI error body that fits the status, e.g.
   * 404 → `model_not_found`, 503 → "The server is overloaded or not ready yet.") is sent as JSON,
   * or verbatim as `text/plain` when it is a string (to imitate proxies' non-JSON errors).
   * `headers` are added to the response.
   */
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  /**
   * 429, `type: "requests"`, `code: "rate_limit_exceeded"`, with `retry-after: <retryAfterSeconds>`
   * (default 1) and `x-ratelimit-*` headers. `retryAfterSeconds: 0` makes the SDK retry immediately.
   */
  | { kind: 'rateLimit'; retryAfterSeconds?: number }
  /** 500, `type: "server_error"`, message "The server had an error while processing your request. Sorry about that!". */
  | { kind: 'serverError' }
  /**
   * 401, `code: "invalid_api_key"`, with a message that ECHOES THE FULL KEY from the
   * `Authorization: Bearer …` header (worst case: lets tests prove the gateway never passes it on).
   */
  | { kind: 'unauthorized' }
  /** 403, `code: "model_not_found"`: "Project `proj_fake` does not have access to model `<model>`". */
  | { kind: 'forbidden' }
  /** 400, `type: "invalid_request_error"`, `code: "context_length_exceeded"`, `param: "messages"` (chat) or `"prompt"` (completions). */
  | { kind: 'contextOverflow' }
  /** Read the request, never send anything (not even headers). Only the client can end it (or `close()`). */
  | { kind: 'hang' }
  /** Send 200 and the headers (SSE headers for `stream: true`, JSON otherwise), then silence forever. */
  | { kind: 'hangAfterHeaders' }
  /**
   * Streams: send the role chunk(s) (chat) and then `chunks` content chunks (counted across all
   * choices; text, refusal and tool-call deltas alike), then silence forever — no finish chunk, no `[DONE]`. Non-streaming: like `hangAfterHeaders`.
   */
  | { kind: 'stallAfter'; chunks: number }
  /**
   * Streams: send the role chunk(s) (chat) and then `chunks` content chunks, then destroy the socket
   * (no finish chunk, no `[DONE]`). Non-streaming: send headers and half of the JSON body, then destroy.
   * Not recorded in `aborted` (the fake closed it, not the client).
   */
  | { kind: 'dieAfter'; chunks: number }
  /**
   * Streams: send the role chunk(s) (chat) and then `chunks` content chunks, then an error
   * event in the stream (`data: {"error":{…"type":"server_error"}}`, as vLLM and OpenRouter
   * send when generation fails after the 200) and end the response without `[DONE]`.
   * Non-streaming: like `serverError`.
   */
  | { kind: 'errorAfter'; chunks: number }
  /**
   * An error answer whose body stalls: `status` with `content-type: application/json` and no
   * `content-length`, then the first half of the OpenAI error body `status` would get
   * (`{"error":{"message":…` cut in the middle), then silence forever. Only the client (or
   * `close()`) ends it.
   */
  | { kind: 'stallBody'; status: number }
  /**
   * `status` (default 200) with `content-type: text/html; charset=utf-8` and a small HTML page
   * (`<!DOCTYPE html><html>…Bad gateway…</html>`), as a proxy in front of the model sends;
   * for streaming and non-streaming requests alike.
   */
  | { kind: 'html'; status?: number }
  /** 200 with `content-type: text/event-stream`, but the body is an HTML page; then the response ends. */
  | { kind: 'htmlAsEventStream' }
  /**
   * Streams: 200 with SSE headers, then `data: {"choices":[{"delta":{"content":"` and an endless
   * run of `x` with no newline (an event that never ends), in 64 KiB writes as fast as the
   * client reads (waits for `drain`), until the client goes or `close()`.
   * Non-streaming: like `hugeBody` of unbounded size (a JSON answer that never ends).
   */
  | { kind: 'endlessEvent' }
  /**
   * Streams: valid content chunks forever (role chunk first for chat; no finish, no `[DONE]`),
   * each with `chunkText` (default `'x'.repeat(64)`) as its text, one event per write, waiting
   * for `drain` when the socket is full and for a turn of the event loop between writes (so
   * the fake never starves the process it shares), until the client goes or `close()`.
   * Non-streaming: like `endlessEvent`.
   */
  | { kind: 'endlessEvents'; chunkText?: string }
  /**
   * Non-streaming: 200 `application/json`, a valid chat completion (or text completion, or
   * model list for `GET /v1/models`) of about `bytes` bytes, the first choice's text (the
   * first model's `owned_by`) padded with `x` to that size, written in 64 KiB pieces as fast
   * as the client reads. Streaming: like `endlessEvents`.
   */
  | { kind: 'hugeBody'; bytes: number }
  /**
   * Streams: the role chunk(s) (chat) and `chunks` content chunks (default 0), then a TCP
   * reset (`socket.resetAndDestroy()`: the client sees ECONNRESET, not a clean close).
   * Non-streaming: the headers only, then the reset. Not recorded in `aborted`.
   */
  | { kind: 'reset'; chunks?: number };

/** How SSE events are written (every field optional; the default is OpenAI's own framing). */
export interface Framing {
  /** Line ending of every line, blank separator line included. Default `'\n'`. */
  lineEnding?: '\n' | '\r\n' | '\r';
  /** Send a `: keep-alive` comment line before every event. Default false. */
  comments?: boolean;
  /** Split each event into writes of this many bytes, a turn of the event loop apart (cuts lines, line endings and UTF-8 characters). Default: one write per event. */
  splitBytes?: number;
}

/** A tool call the fake's model makes (see `Script.toolCalls`). */
export interface ScriptedToolCall {
  /** Default: `call_` and 24 random letters and digits, as OpenAI's. */
  id?: string;
  name: string;
  /** The arguments' text in the fragments it is streamed in (split it anywhere, mid-JSON included). */
  arguments: string[];
}

/** What the fake does. Every field is optional; `script()` starts from the defaults. */
export interface Script {
  /**
   * Per choice, the text pieces streamed, one chunk (and one "token") per piece; non-streaming
   * responses join them. Default: one choice, `['Hello', ' from', ' the', ' fake', ' upstream', '.']`.
   * The response always has as many choices as the request asks for (`n`, default 1; times the
   * number of prompts when a completions request sends an array of prompts): extra scripted choices
   * are ignored, and when there are fewer, choice `i` reuses the last scripted pieces with
   * `` ` (choice i)` `` appended as one more piece. When `toolCalls` or `refusals` is set and
   * `choices` is not, chat choices have no text at all (`content: null`).
   */
  choices?: string[][];
  /**
   * Chat only: per choice, the tool calls the model makes (choice `i` gets `toolCalls[i]`, extra
   * choices the last entry's calls, with ids of their own). Non-streamed: `message.tool_calls`
   * (`{id, type: "function", function: {name, arguments}}`, the fragments joined). Streamed after
   * the choice's text and refusal, as OpenAI does: a call's first delta has `index`, `id`,
   * `type: "function"` and `function: {name, arguments: ""}`, each later one only `index` and
   * `function.arguments` (one fragment); parallel calls are interleaved by index (call 0's first
   * delta, call 1's first delta, call 0's first fragment, …). A choice with no text and no refusal
   * carries its role on its first call delta (`{role: "assistant", content: null, tool_calls: [...],
   * refusal: null}`) instead of a role chunk of its own; that delta counts as content for `stallAfter`
   * and the like. Every call delta is one "token" for the computed usage, its first one excepted.
   * A choice with calls finishes with `tool_calls` unless `finishReason` says otherwise. Default: none.
   */
  toolCalls?: ScriptedToolCall[][];
  /**
   * Chat only: per choice, the refusal pieces (choice `i` gets `refusals[i]`, extra choices the last
   * entry). Non-streamed: `message.refusal` (joined; `content: null` when the choice has no text).
   * Streamed after the choice's text, one `{refusal: piece}` delta (and one "token") per piece; a choice
   * with no text opens with `{role: "assistant", content: null, refusal: ""}`. Default: none.
   */
  refusals?: string[][];
  /**
   * `finish_reason` of every choice. Default `'tool_calls'` for a choice that calls tools, else `'stop'`.
   * `null`: non-streamed bodies say `finish_reason: null`, and streams send no finish chunk at all
   * (their usage chunk and `[DONE]` still come), as some compatible servers end.
   */
  finishReason?: string | null;
  /**
   * Token usage reported. Default: computed — `prompt_tokens` 7, `completion_tokens` = total number
   * of pieces (text, refusal, argument fragments) across all returned choices, `total_tokens` = their
   * sum, no details. Given: `total_tokens` is computed, and `prompt_tokens_details` /
   * `completion_tokens_details` are sent as given (in non-stream bodies and in the usage chunk alike).
   * `'omit'`: never send usage — not in non-stream bodies, and no usage chunk (nor `"usage": null`)
   * even when the stream request asks for `stream_options.include_usage` (like servers that ignore it).
   */
  usage?:
    | {
        prompt_tokens: number;
        completion_tokens: number;
        /** Of the prompt tokens, those served from the prompt cache. */
        prompt_tokens_details?: { cached_tokens: number };
        /** Of the completion tokens, those spent reasoning. */
        completion_tokens_details?: { reasoning_tokens: number };
      }
    | 'omit';
  /** `model` reported in responses. Default: the request's `model`. */
  model?: string;
  /** The completion's `id` in every answer and chunk; `''` as servers that send none. Default: `chatcmpl-` and 29 random letters and digits. */
  completionId?: string;
  /** Milliseconds to wait between streamed chunks (not before the first one). Default 0. Has no effect on non-streaming responses. */
  chunkDelayMs?: number;
  /**
   * Generation requests wait, sending nothing, until this settles, then get the normal
   * response (planned when they arrived): holds requests open, as `hang` does, but lets
   * them finish. Default: none.
   */
  holdUntil?: Promise<void>;
  /** A failure to produce instead of the normal response. Default: none. */
  fault?: Fault;
  /** How many requests get `fault` before the fake behaves normally again (for retry tests). Default: every request. */
  faultTimes?: number;
  /**
   * Which requests `fault` applies to. `'generation'` (default): only `POST /v1/chat/completions`
   * and `POST /v1/completions` (so a gateway's `GET /v1/models` neither fails nor uses up `faultTimes`).
   * `'all'`: every request, `/v1/models` included.
   */
  faultOn?: 'generation' | 'all';
  /** How stream events are framed. Default: OpenAI's (`data: …\n\n`, one write per event). */
  framing?: Framing;
  /** Model ids listed by `GET /v1/models`. Default `['gpt-4o-mini', 'gpt-4o', 'gpt-3.5-turbo-instruct']`. */
  models?: string[];
}

export interface FakeUpstream {
  /** Base URL ending in `/v1`, e.g. `http://127.0.0.1:PORT/v1` — what `OPENAI_BASE_URL` / `baseURL` is set to. */
  readonly url: string;
  /** Every request received, in order, body parsed. Recorded once the body has been read. */
  readonly requests: RecordedRequest[];
  /**
   * Requests whose client closed the connection before the fake finished its response (hangs and
   * stalls included: that is how tests prove the gateway aborted the upstream). Each at most once.
   * Sockets the fake destroys itself (`dieAfter`, `close()`) are not counted.
   */
  readonly aborted: RecordedRequest[];
  /** TCP connections accepted so far (keep-alive reuse shows as fewer connections than requests). */
  readonly connections: number;
  /** TCP connections open now, busy or idle. */
  readonly openConnections: number;
  /** Closes every keep-alive connection that has no request in flight, as servers do after their idle timeout. */
  dropIdleConnections(): void;
  /** Replace the current script (starting from the defaults) and restart the `faultTimes` count. Keeps recorded requests. */
  script(s: Script): void;
  /** Back to the default script; clears `requests` and `aborted`. */
  reset(): void;
  /** Resolves with a copy of `requests` once `requests.length >= count`; rejects after `timeoutMs` (default 2000) with a clear message. */
  waitForRequests(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Resolves with the first aborted request (immediately if there already is one); rejects after `timeoutMs` (default 2000) with a clear message. */
  waitForAbort(timeoutMs?: number): Promise<RecordedRequest>;
  /** Closes the server, destroying open sockets (hung responses included) and rejecting pending waits, so tests never hang. Idempotent. */
  close(): Promise<void>;
}
