import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed operations (TypedDocumentNode) from the committed SDL and the operation
 * documents in operations/. `npm run codegen`; CI fails when the output is stale.
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['operations/**/*.graphql'],
  generates: {
    'src/generated/operations.ts': {
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        avoidOptionals: { field: true, inputValue: false, object: false },
        maybeValue: 'T | null',
        inputMaybeValue: 'T | null | undefined',
        scalars: { ID: 'string' },
      },
    },
  },
};

export default config;
