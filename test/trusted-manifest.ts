/**
 * A trusted documents manifest written by GraphQL Code Generator's real client preset
 * (`persistedDocuments: true`) over operations/completion.graphql, into a temporary
 * directory, with the typed documents it emits beside it (each carries its id in
 * `__meta__.hash`, as an app built with the preset would send it). Apollo's cache needs
 * `__typename`, so the preset's own transform adds it, as the preset's docs advise for Apollo.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { addTypenameSelectionDocumentTransform } from '@graphql-codegen/client-preset';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type {
  CompleteMutation,
  CompleteMutationVariables,
  CompletionStreamSubscription,
  CompletionStreamSubscriptionVariables,
  ModelsQuery,
  ModelsQueryVariables,
} from '../src/generated/operations.js';

/** A document as the preset emits it: the AST, plus its manifest id. */
export type PresetDocument<TData, TVariables> = TypedDocumentNode<TData, TVariables> & { __meta__: { hash: string } };

export interface PresetOutput {
  dir: string;
  /** persisted-documents.json */
  file: string;
  /** Its content: document text by id. */
  manifest: Record<string, string>;
  CompleteDocument: PresetDocument<CompleteMutation, CompleteMutationVariables>;
  CompletionStreamDocument: PresetDocument<CompletionStreamSubscription, CompletionStreamSubscriptionVariables>;
  ModelsDocument: PresetDocument<ModelsQuery, ModelsQueryVariables>;
  remove(): Promise<void>;
}

export async function generateWithClientPreset(): Promise<PresetOutput> {
  const dir = await mkdtemp(join(tmpdir(), 'trusted-documents-'));
  await generate(
    {
      schema: 'schema/schema.graphql',
      documents: ['operations/completion.graphql'],
      silent: true,
      generates: {
        [`${dir}/`]: {
          preset: 'client',
          presetConfig: { persistedDocuments: true, fragmentMasking: false },
          documentTransforms: [addTypenameSelectionDocumentTransform],
        },
      },
    },
    true,
  );
  const file = join(dir, 'persisted-documents.json');
  const manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
  const emitted = (await import(join(dir, 'graphql.ts'))) as Pick<PresetOutput, 'CompleteDocument' | 'CompletionStreamDocument' | 'ModelsDocument'>;
  return {
    dir,
    file,
    manifest,
    CompleteDocument: emitted.CompleteDocument,
    CompletionStreamDocument: emitted.CompletionStreamDocument,
    ModelsDocument: emitted.ModelsDocument,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
