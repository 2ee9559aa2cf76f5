import type { CodegenConfig } from '@graphql-codegen/cli';
import { addTypenameSelectionDocumentTransform } from '@graphql-codegen/client-preset';

/**
 * Typed `graphql()` for the app's operations (in src/**, beside the components that use
 * them), from the gateway's committed SDL. `npm run codegen -w examples/chat` (or
 * `npm run codegen:chat` from the root); CI fails when src/gql/ is stale.
 */
const config: CodegenConfig = {
  schema: '../../schema/schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**'],
  ignoreNoDocuments: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: {
        // Also writes src/gql/persisted-documents.json: the trusted-documents manifest the
        // gateway reads with TRUSTED_DOCUMENTS_FILE ({ "sha256:<hex>": "<document>" }).
        persistedDocuments: true,
        fragmentMasking: false,
      },
      // Apollo's cache adds __typename to every selection before it sends a document: the
      // manifest must hold the documents as they are sent, or their hashes never match.
      documentTransforms: [addTypenameSelectionDocumentTransform],
      config: {
        useTypeImports: true,
        enumType: 'string-literal',
        scalars: { JSON: 'unknown', JSONObject: 'Record<string, unknown>' },
      },
    },
  },
};

export default config;
