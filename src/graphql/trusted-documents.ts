/**
 * Trusted documents (persisted operations): the manifest GraphQL Code Generator's client
 * preset writes with `persistedDocuments: true`, `{ "<id>": "<document text>" }`, loaded
 * once at start, and the one rule every transport applies to what a client sends. HTTP
 * applies it through Yoga's persisted-operations plugin (plugins/use-trusted-documents.ts);
 * graphql-ws and graphql-sse's single-connection mode parse the text themselves, so they
 * call `resolve` first.
 *
 * Ids: the preset (6.x) keys documents `sha256:<hex>` (the GraphQL-over-HTTP persisted
 * documents appendix's form), older presets and Apollo's APQ use the bare hex. Both forms
 * name the same document, here and in the manifest; any other key is a custom id, taken as
 * it is.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { getOperationAST, parse, validate, type DocumentNode, type GraphQLError, type GraphQLSchema } from 'graphql';
import { ConfigError } from '../config/index.js';
import { ErrorCode, gatewayError } from './errors.js';

/** What a client sent, on any transport: the fields the rule reads. */
export interface OperationParams {
  query?: unknown;
  /** GraphQL over HTTP's persisted documents (the client preset's `documentId`). */
  documentId?: unknown;
  extensions?: Readonly<Record<string, unknown>> | null;
}

export type Resolved = { query: string } | { error: GraphQLError };

const SHA256_ID = /^(?:sha256:)?([0-9a-fA-F]{64})$/;

/** One form for `sha256:<hex>` and `<hex>` (lower case); any other id as it is. */
function canonical(id: string): string {
  const hex = SHA256_ID.exec(id)?.[1];
  return hex === undefined ? id : hex.toLowerCase();
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const textOf = (params: OperationParams): string | undefined => (typeof params.query === 'string' && params.query !== '' ? params.query : undefined);

/**
 * Apollo's persisted-queries link retries with the full text on this code or this exact
 * message (as Apollo Server words it), and so do urql's and Relay's clients: not a sentence,
 * on purpose. In ONLY mode the retry is refused too, and the client reports this error.
 */
export function documentNotFound(): GraphQLError {
  return gatewayError(ErrorCode.PERSISTED_QUERY_NOT_FOUND, 'PersistedQueryNotFound');
}

export function operationNotAllowed(): GraphQLError {
  return gatewayError(
    ErrorCode.OPERATION_NOT_ALLOWED,
    "Only trusted documents run here: send the document's id (`documentId`, or `extensions.persistedQuery.sha256Hash`), not its text",
  );
}

export class TrustedDocuments {
  /** @param documents Text by canonical id. @param only TRUSTED_DOCUMENTS_ONLY: refuse operations sent as text. */
  constructor(
    private readonly documents: ReadonlyMap<string, string>,
    readonly only: boolean,
  ) {}

  get size(): number {
    return this.documents.size;
  }

  /**
   * The id a client sent: `documentId` (GraphQL over HTTP, the client preset), the same
   * inside `extensions` (graphql-ws and graphql-sse's single-connection mode pass only query,
   * variables, operationName and extensions along), or Apollo's APQ
   * `extensions.persistedQuery: { version: 1, sha256Hash }`.
   */
  idOf(params: OperationParams): string | undefined {
    if (typeof params.documentId === 'string') return params.documentId;
    const extensions = params.extensions;
    if (!isRecord(extensions)) return undefined;
    if (typeof extensions['documentId'] === 'string') return extensions['documentId'];
    const apq = extensions['persistedQuery'];
    if (isRecord(apq) && apq['version'] === 1 && typeof apq['sha256Hash'] === 'string') return apq['sha256Hash'];
    return undefined;
  }

  lookup(id: string): string | undefined {
    return this.documents.get(canonical(id));
  }

  /**
   * Whether the id, not the text, says what runs. In ONLY mode an id always decides: a known
   * one runs the manifest's text whatever text came beside it (Apollo's links send both, on
   * retry and over WebSocket). Text without an id is refused there even when it is
   * byte-identical to a trusted document, as Yoga's plugin does: one rule on every transport,
   * no hashing of arbitrary client text, and a client that sends text is misconfigured, which
   * is better found at once than when its document changes. Without ONLY, text runs as it
   * always has, and an id runs its document.
   */
  byId(params: OperationParams): boolean {
    return this.idOf(params) !== undefined && (this.only || textOf(params) === undefined);
  }

  /** The text to run for `params`, or why not. Used where the transport parses the text itself. */
  resolve(params: OperationParams): Resolved {
    const id = this.idOf(params);
    if (id === undefined || !this.byId(params)) {
      // Without ONLY and with neither, the text ('') fails to parse as it would without trusted documents.
      return this.only ? { error: operationNotAllowed() } : { query: textOf(params) ?? '' };
    }
    const query = this.lookup(id);
    return query === undefined ? { error: documentNotFound() } : { query };
  }
}

/**
 * Reads the manifest and checks every entry: a string, the sha256 of its text when its id
 * looks like one (else the file is stale or edited), a document that parses and validates
 * against the schema (else the clients were built for another schema). Throws one
 * ConfigError naming every bad entry, so the gateway does not start with half a manifest.
 */
export function loadTrustedDocuments(path: string, only: boolean, schema: GraphQLSchema): TrustedDocuments {
  const where = `TRUSTED_DOCUMENTS_FILE (${path})`;
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const reason = error instanceof SyntaxError ? `is not JSON: ${error.message}` : `cannot be read: ${(error as Error).message}`;
    throw new ConfigError([`${where} ${reason}`]);
  }
  if (!isRecord(manifest)) {
    throw new ConfigError([`${where} must be a JSON object {"<id>": "<document text>"}, as the client preset's persisted-documents.json`]);
  }
  const problems: string[] = [];
  const documents = new Map<string, string>();
  for (const [id, text] of Object.entries(manifest)) {
    const entry = `${where}: entry "${id}"`;
    if (typeof text !== 'string') {
      problems.push(`${entry} must be the document's text (a string), got ${Array.isArray(text) ? 'an array' : typeof text}`);
      continue;
    }
    const problem = checkEntry(id, text, schema);
    if (problem === undefined) documents.set(canonical(id), text);
    else problems.push(`${entry} ${problem}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return new TrustedDocuments(documents, only);
}

function checkEntry(id: string, text: string, schema: GraphQLSchema): string | undefined {
  const sha256 = createHash('sha256').update(text, 'utf8').digest('hex');
  if (SHA256_ID.test(id) && canonical(id) !== sha256) {
    return `is not the sha256 of its text (that is sha256:${sha256}): the file is stale or was edited; generate it again`;
  }
  let document: DocumentNode;
  try {
    document = parse(text);
  } catch (error) {
    return `does not parse: ${(error as GraphQLError).message}`;
  }
  const errors = validate(schema, document);
  if (errors.length === 0) return undefined;
  const name = getOperationAST(document)?.name?.value;
  return `${name ? `(${name}) ` : ''}does not validate against the schema: ${errors.map((e) => e.message).join('; ')}`;
}
