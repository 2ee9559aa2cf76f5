import { builder } from '../builder.js';
import type { ModelInfo } from '../../upstream/provider.js';
import { contextWindow } from '../../completion/tokens.js';

const ModelRef = builder.objectRef<ModelInfo>('Model').implement({
  description: 'A model the upstream offers.',
  fields: (t) => ({
    id: t.exposeString('id', { description: 'The id to pass as `CompletionInput.model`.' }),
    ownedBy: t.exposeString('ownedBy', { description: 'Who owns it, as the upstream says (the simulator says so here).' }),
    created: t.exposeInt('created', { nullable: true, description: 'When it was created, in Unix seconds, if known.' }),
    contextWindow: t.int({
      nullable: true,
      description: 'Prompt + completion token limit, when the gateway knows it (it then refuses requests that exceed it).',
      resolve: (m) => contextWindow(m.id),
    }),
  }),
});

builder.queryType({ description: 'Read-only information.' });

builder.queryField('models', (t) =>
  t.field({
    type: [ModelRef],
    description: 'The models the configured upstream lists (the built-in simulator lists its own).',
    resolve: (_root, _args, ctx) => ctx.completions.models(),
  }),
);
