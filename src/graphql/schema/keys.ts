import { builder, type Context } from '../builder.js';
import { badInput, ErrorCode, gatewayError } from '../errors.js';
import type { ApiKey, KeyLimits } from '../../accounts/keys.js';
import type { UsageBucket } from '../../accounts/ledger.js';
import type { WindowUsage } from '../../accounts/quotas.js';

const ApiKeyLimitsRef = builder.objectRef<KeyLimits>('ApiKeyLimits').implement({
  description: 'What one key may use. A null limit is no limit.',
  fields: (t) => ({
    rpm: t.exposeInt('rpm', { nullable: true, description: 'Requests per minute.' }),
    tpm: t.exposeInt('tpm', {
      nullable: true,
      description: 'Tokens per minute: prompt tokens + maxTokens are reserved at admission, then settled to the real usage.',
    }),
    maxStreams: t.exposeInt('maxStreams', { nullable: true, description: 'Streams open at once.' }),
    dailyBudgetUsd: t.exposeFloat('dailyBudgetUsd', { nullable: true, description: 'USD per UTC day.' }),
    monthlyBudgetUsd: t.exposeFloat('monthlyBudgetUsd', { nullable: true, description: 'USD per UTC month.' }),
  }),
});

const ApiKeyRef = builder.objectRef<ApiKey>('ApiKey').implement({
  description: 'A gateway API key (the key itself is shown only once, when created).',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Stable id, for revokeApiKey and updateApiKeyLimits.' }),
    name: t.exposeString('name', { description: 'What the key is for.' }),
    prefix: t.exposeString('prefix', { description: 'The key’s first characters, to tell keys apart.' }),
    admin: t.exposeBoolean('admin', { description: 'Whether it may manage keys and read every key’s usage.' }),
    createdAt: t.string({ description: 'When it was created (ISO 8601).', resolve: (k) => new Date(k.createdAt).toISOString() }),
    revokedAt: t.string({
      nullable: true,
      description: 'When it was revoked (ISO 8601), or null while it works.',
      resolve: (k) => (k.revokedAt === null ? null : new Date(k.revokedAt).toISOString()),
    }),
    limits: t.field({ type: ApiKeyLimitsRef, description: 'Its limits.', resolve: (k) => k.limits }),
  }),
});

interface MeShape {
  key: ApiKey;
  usage: WindowUsage;
}

const MeRef = builder.objectRef<MeShape>('Me').implement({
  description: 'The calling key, its limits and how much of them it is using.',
  fields: (t) => ({
    key: t.field({ type: ApiKeyRef, description: 'The key.', resolve: (m) => m.key }),
    requestsLastMinute: t.int({ description: 'Requests admitted in the last 60 s.', resolve: (m) => m.usage.requestsLastMinute }),
    tokensLastMinute: t.int({
      description: 'Tokens counted in the last 60 s (reservations of running requests included).',
      resolve: (m) => m.usage.tokensLastMinute,
    }),
    openStreams: t.int({ description: 'Streams open now.', resolve: (m) => m.usage.openStreams }),
    spentTodayUsd: t.float({ description: 'USD spent this UTC day.', resolve: (m) => m.usage.spentTodayUsd }),
    spentThisMonthUsd: t.float({ description: 'USD spent this UTC month.', resolve: (m) => m.usage.spentThisMonthUsd }),
    dailyBudgetLeftUsd: t.float({
      nullable: true,
      description: 'USD left today, or null without a daily budget.',
      resolve: (m) =>
        m.key.limits.dailyBudgetUsd === null ? null : Math.max(0, m.key.limits.dailyBudgetUsd - m.usage.spentTodayUsd),
    }),
    monthlyBudgetLeftUsd: t.float({
      nullable: true,
      description: 'USD left this month, or null without a monthly budget.',
      resolve: (m) =>
        m.key.limits.monthlyBudgetUsd === null ? null : Math.max(0, m.key.limits.monthlyBudgetUsd - m.usage.spentThisMonthUsd),
    }),
  }),
});

const UsageGroupByRef = builder.enumType('UsageGroupBy', {
  description: 'How `usage` groups the ledger.',
  values: {
    MODEL: { value: 'MODEL', description: 'By the model that served.' },
    DAY: { value: 'DAY', description: 'By UTC day (YYYY-MM-DD).' },
    KEY: { value: 'KEY', description: 'By key id (empty for requests made while the gateway ran open).' },
  } as const,
});

const UsageBucketRef = builder.objectRef<UsageBucket>('UsageBucket').implement({
  description: 'Usage of one group.',
  fields: (t) => ({
    group: t.exposeString('group', { description: 'The model, the day or the key id, by groupBy.' }),
    requests: t.exposeInt('requests', { description: 'Operations that reached the upstream.' }),
    promptTokens: t.exposeInt('promptTokens', { description: 'Prompt tokens.' }),
    completionTokens: t.exposeInt('completionTokens', { description: 'Completion tokens.' }),
    cachedPromptTokens: t.exposeInt('cachedPromptTokens', {
      description:
        'Of the prompt tokens, those the upstream served from its prompt cache (billed at the cached-input price). Operations whose upstream did not report it count 0.',
    }),
    reasoningTokens: t.exposeInt('reasoningTokens', {
      description:
        'Of the completion tokens, those spent reasoning (billed as output, already in completionTokens). Operations whose upstream did not report it count 0.',
    }),
    costUsd: t.exposeFloat('costUsd', { description: 'USD (models without a price count 0).' }),
  }),
});

const ApiKeyLimitsInput = builder.inputType('ApiKeyLimitsInput', {
  description: 'Limits to set. An omitted field is left as it is; null removes that limit.',
  fields: (t) => ({
    rpm: t.int({ description: 'Requests per minute (>= 1).' }),
    tpm: t.int({ description: 'Tokens per minute (>= 1).' }),
    maxStreams: t.int({ description: 'Streams open at once (>= 1).' }),
    dailyBudgetUsd: t.float({ description: 'USD per UTC day (>= 0).' }),
    monthlyBudgetUsd: t.float({ description: 'USD per UTC month (>= 0).' }),
  }),
});

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  description: 'A new key.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'What the key is for.' }),
    admin: t.boolean({ description: 'May manage keys and read all usage (default false).' }),
    limits: t.field({ type: ApiKeyLimitsInput, description: 'Its limits (default none).' }),
  }),
});

interface CreatedKey {
  key: string;
  apiKey: ApiKey;
}

const CreatedApiKeyRef = builder.objectRef<CreatedKey>('CreatedApiKey').implement({
  description: 'A key just created: the only time its plaintext is shown.',
  fields: (t) => ({
    key: t.exposeString('key', { description: 'The key itself (`gk_…`). Store it now: it cannot be shown again.' }),
    apiKey: t.field({ type: ApiKeyRef, description: 'Its record.', resolve: (c) => c.apiKey }),
  }),
});

type LimitsArg = {
  rpm?: number | null;
  tpm?: number | null;
  maxStreams?: number | null;
  dailyBudgetUsd?: number | null;
  monthlyBudgetUsd?: number | null;
} | null | undefined;

/** Checks limits and keeps only the fields the client set (undefined = leave as is). */
function limitsFrom(input: LimitsArg): Partial<KeyLimits> {
  const limits: Partial<KeyLimits> = {};
  if (!input) return limits;
  for (const field of ['rpm', 'tpm', 'maxStreams'] as const) {
    const value = input[field];
    if (value === undefined) continue;
    if (value !== null && value < 1) throw badInput(`limits.${field}`, `must be at least 1, or null for no limit; got ${value}`);
    limits[field] = value;
  }
  for (const field of ['dailyBudgetUsd', 'monthlyBudgetUsd'] as const) {
    const value = input[field];
    if (value === undefined) continue;
    if (value !== null && !(value >= 0)) throw badInput(`limits.${field}`, `must be 0 or more, or null for no budget; got ${value}`);
    limits[field] = value;
  }
  return limits;
}

function requireAdmin(ctx: Context): void {
  if (!ctx.apiKey?.admin) throw gatewayError(ErrorCode.FORBIDDEN, 'This needs an admin gateway key');
}

function parseTime(field: string, value: string): number {
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw badInput(field, `must be an ISO 8601 date or time, got "${value}"`);
  return time;
}

builder.queryField('me', (t) =>
  t.field({
    type: MeRef,
    nullable: true,
    description: 'The calling key and its usage; null while the gateway runs open (no keys).',
    resolve: async (_root, _args, ctx) => {
      if (!ctx.apiKey) return null;
      return { key: ctx.apiKey, usage: await ctx.quotas.usage(ctx.apiKey) };
    },
  }),
);

builder.queryField('usage', (t) =>
  t.field({
    type: [UsageBucketRef],
    description:
      'Ledger totals between two times, grouped. A key sees its own usage; an admin key sees every key’s (or one, with keyId).',
    args: {
      from: t.arg.string({ required: true, description: 'Start (inclusive), ISO 8601.' }),
      to: t.arg.string({ required: true, description: 'End (exclusive), ISO 8601.' }),
      groupBy: t.arg({ type: UsageGroupByRef, required: true, description: 'How to group.' }),
      keyId: t.arg.id({ description: 'Only this key (admins; a key may name itself).' }),
    },
    resolve: (_root, args, ctx) => {
      const from = parseTime('from', args.from);
      const to = parseTime('to', args.to);
      if (to <= from) throw badInput('to', 'must be after from');
      const keyId = args.keyId === null || args.keyId === undefined ? undefined : String(args.keyId);
      let scope: string | undefined = keyId;
      if (ctx.apiKey && !ctx.apiKey.admin) {
        if (keyId !== undefined && keyId !== ctx.apiKey.id) {
          throw gatewayError(ErrorCode.FORBIDDEN, 'A key can only read its own usage');
        }
        scope = ctx.apiKey.id;
      }
      return ctx.ledger.usage({ from, to, groupBy: args.groupBy, keyId: scope });
    },
  }),
);

builder.mutationField('createApiKey', (t) =>
  t.field({
    type: CreatedApiKeyRef,
    description: 'Creates a gateway key (admin only). The plaintext key is in the result, and nowhere else, ever.',
    args: { input: t.arg({ type: CreateApiKeyInput, required: true, description: 'The key to create.' }) },
    resolve: async (_root, { input }, ctx) => {
      requireAdmin(ctx);
      if (input.name.trim() === '') throw badInput('name', 'must not be empty');
      const maxChars = ctx.input.maxIdentifierChars;
      if (input.name.length > maxChars) throw badInput('name', `at most ${maxChars} characters, got ${input.name.length}`);
      return ctx.keys.create({ name: input.name.trim(), admin: input.admin ?? false, limits: limitsFrom(input.limits) });
    },
  }),
);

builder.mutationField('revokeApiKey', (t) =>
  t.field({
    type: ApiKeyRef,
    description: 'Revokes a key at once (admin only): it stops working for new requests, also on open sockets.',
    args: { id: t.arg.id({ required: true, description: 'The key’s id.' }) },
    resolve: async (_root, { id }, ctx) => {
      requireAdmin(ctx);
      const key = await ctx.keys.revoke(String(id));
      if (!key) throw badInput('id', `no live key with id ${String(id)}`);
      return key;
    },
  }),
);

builder.mutationField('updateApiKeyLimits', (t) =>
  t.field({
    type: ApiKeyRef,
    description: 'Changes a key’s limits (admin only).',
    args: {
      id: t.arg.id({ required: true, description: 'The key’s id.' }),
      limits: t.arg({ type: ApiKeyLimitsInput, required: true, description: 'The limits to change.' }),
    },
    resolve: async (_root, { id, limits }, ctx) => {
      requireAdmin(ctx);
      const key = await ctx.keys.setLimits(String(id), limitsFrom(limits));
      if (!key) throw badInput('id', `no key with id ${String(id)}`);
      return key;
    },
  }),
);
