/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query Models {\n    models {\n      id\n      ownedBy\n      contextWindow\n    }\n  }\n": typeof types.ModelsDocument,
    "\n  subscription ChatStream($input: CompletionInput!) {\n    completionStream(input: $input) {\n      id\n      seq\n      model\n      index\n      text\n      accumulatedText\n      refusal\n      finishReason\n      toolCallDeltas {\n        index\n        id\n        name\n        argumentsDelta\n      }\n      toolCalls {\n        id\n        name\n        arguments\n        argumentsJson\n      }\n      usage {\n        promptTokens\n        completionTokens\n        totalTokens\n        cachedPromptTokens\n        reasoningTokens\n        cost\n      }\n    }\n  }\n": typeof types.ChatStreamDocument,
};
const documents: Documents = {
    "\n  query Models {\n    models {\n      id\n      ownedBy\n      contextWindow\n    }\n  }\n": types.ModelsDocument,
    "\n  subscription ChatStream($input: CompletionInput!) {\n    completionStream(input: $input) {\n      id\n      seq\n      model\n      index\n      text\n      accumulatedText\n      refusal\n      finishReason\n      toolCallDeltas {\n        index\n        id\n        name\n        argumentsDelta\n      }\n      toolCalls {\n        id\n        name\n        arguments\n        argumentsJson\n      }\n      usage {\n        promptTokens\n        completionTokens\n        totalTokens\n        cachedPromptTokens\n        reasoningTokens\n        cost\n      }\n    }\n  }\n": types.ChatStreamDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Models {\n    models {\n      id\n      ownedBy\n      contextWindow\n    }\n  }\n"): (typeof documents)["\n  query Models {\n    models {\n      id\n      ownedBy\n      contextWindow\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ChatStream($input: CompletionInput!) {\n    completionStream(input: $input) {\n      id\n      seq\n      model\n      index\n      text\n      accumulatedText\n      refusal\n      finishReason\n      toolCallDeltas {\n        index\n        id\n        name\n        argumentsDelta\n      }\n      toolCalls {\n        id\n        name\n        arguments\n        argumentsJson\n      }\n      usage {\n        promptTokens\n        completionTokens\n        totalTokens\n        cachedPromptTokens\n        reasoningTokens\n        cost\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription ChatStream($input: CompletionInput!) {\n    completionStream(input: $input) {\n      id\n      seq\n      model\n      index\n      text\n      accumulatedText\n      refusal\n      finishReason\n      toolCallDeltas {\n        index\n        id\n        name\n        argumentsDelta\n      }\n      toolCalls {\n        id\n        name\n        arguments\n        argumentsJson\n      }\n      usage {\n        promptTokens\n        completionTokens\n        totalTokens\n        cachedPromptTokens\n        reasoningTokens\n        cost\n      }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;