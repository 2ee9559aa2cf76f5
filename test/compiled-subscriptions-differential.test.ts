/**
 * The subscription plan against graphql-js, over a schema that is not the gateway's.
 *
 * `useCompiledSubscriptions` replaces ExecuteSubscriptionEvent (the operation executed
 * again with each event as root value) by a plan made once per subscription. This suite
 * checks it as a black box over a generic schema that uses what the gateway's schema
 * does not: nested objects and lists, non-null fields and items (null propagation up to
 * the root), enums with internal values, a custom scalar, arguments with defaults,
 * resolvers that return promises, throw, reject, or throw non-errors, and abstract types
 * (which the plugin leaves to graphql-tools). Each operation runs as one subscription
 * through Yoga's envelop with the plugin, fed a stream of events from a seeded random
 * generator (right values, nulls, missing values, errors, lazy promises and rejections,
 * wrong shapes); each payload must equal, as JSON (data in key order, errors with
 * message, path, locations and extensions, in order), what graphql-js's `execute` gives
 * for the same operation with that event as root value.
 */
import {
  execute,
  GraphQLBoolean,
  GraphQLEnumType,
  GraphQLError,
  GraphQLFloat,
  GraphQLID,
  GraphQLInt,
  GraphQLInterfaceType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLScalarType,
  GraphQLSchema,
  GraphQLString,
  GraphQLUnionType,
  getNullableType,
  isEnumType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
  parse,
  validate,
  type GraphQLFieldConfigMap,
  type GraphQLOutputType,
  type GraphQLResolveInfo,
} from 'graphql';
import { execute as toolsExecute } from '@graphql-tools/executor';
import { createYoga, isAsyncIterable } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { useCompiledSubscriptions } from '../src/graphql/plugins/use-compiled-subscriptions.js';
import { planSubscription } from '../src/graphql/plugins/compiled-subscriptions/plan.js';

// ---------------------------------------------------------------------------------------
// The schema

/** What graphql's default resolver reads: a property of an object or function, else nothing. */
function prop(source: unknown, key: string): unknown {
  return (typeof source === 'object' && source !== null) || typeof source === 'function'
    ? (source as Record<string, unknown>)[key]
    : undefined;
}

/** A turn of the microtask queue: promises, never timers, so no rejection is left unhandled. */
const later = async <T>(value: T): Promise<T> => {
  await Promise.resolve();
  return value;
};

const Mood = new GraphQLEnumType({
  name: 'Mood',
  // Internal values differ from the names, so serialisation is visible.
  values: { HAPPY: { value: 1 }, SAD: { value: 2 }, MEH: { value: 'meh' } },
});

/** Cents in, "12.34 EUR" out; anything but an integer is refused with a plain error. */
const Money = new GraphQLScalarType({
  name: 'Money',
  serialize(value) {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`Money cannot represent ${JSON.stringify(value)}`);
    return `${(value / 100).toFixed(2)} EUR`;
  },
});

/** Serialises 'hidden' to null (which the executor must refuse) and 'classified' to a coded GraphQLError. */
const Secret = new GraphQLScalarType({
  name: 'Secret',
  serialize(value) {
    if (value === 'hidden') return null;
    if (value === 'classified') throw new GraphQLError('Secret is classified', { extensions: { code: 'CLASSIFIED' } });
    return String(value);
  },
});

const failing = (source: unknown): unknown => prop(source, 'fail');

const Node: GraphQLInterfaceType = new GraphQLInterfaceType({
  name: 'Node',
  fields: { id: { type: new GraphQLNonNull(GraphQLID) } },
  resolveType: (value) => (prop(value, 'kind') === 'robot' ? 'Robot' : 'Person'),
});

const Item = new GraphQLObjectType({
  name: 'Item',
  fields: {
    label: { type: new GraphQLNonNull(GraphQLString) },
    price: { type: Money },
    count: { type: GraphQLInt, resolve: (item) => later(prop(item, 'count')) },
    tags: { type: new GraphQLList(GraphQLString) },
  },
});

const Person: GraphQLObjectType = new GraphQLObjectType({
  name: 'Person',
  interfaces: [Node],
  fields: (): GraphQLFieldConfigMap<unknown, Context> => ({
    id: { type: new GraphQLNonNull(GraphQLID) },
    name: { type: new GraphQLNonNull(GraphQLString) },
    nick: { type: GraphQLString },
    age: { type: GraphQLInt },
    score: { type: GraphQLFloat },
    admin: { type: GraphQLBoolean },
    // A property every string has: a source of the wrong shape must not expose it.
    length: { type: GraphQLInt },
    mood: { type: Mood },
    moods: { type: new GraphQLList(new GraphQLNonNull(Mood)) },
    balance: { type: Money },
    secret: { type: Secret },
    tags: { type: new GraphQLList(new GraphQLNonNull(GraphQLString)) },
    matrix: { type: new GraphQLList(new GraphQLList(GraphQLInt)) },
    strictMatrix: { type: new GraphQLList(new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(GraphQLInt)))) },
    friends: { type: new GraphQLList(Person) },
    best: { type: new GraphQLNonNull(Person) },
    items: { type: new GraphQLList(new GraphQLNonNull(Item)) },
    looseItems: { type: new GraphQLList(Item), resolve: (p) => prop(p, 'items') },
    greet: {
      type: GraphQLString,
      args: { greeting: { type: GraphQLString, defaultValue: 'Hello' }, loud: { type: GraphQLBoolean, defaultValue: false } },
      resolve: (p, args: { greeting: string | null; loud: boolean }, ctx) =>
        `${args.greeting ?? 'null'}, ${JSON.stringify(prop(p, 'name')) ?? '?'}${args.loud ? '!' : ''} (${ctx.locale})`,
    },
    // Reads what the plan's shared `info` holds exactly as the executor's: not the path, not the root value.
    about: {
      type: GraphQLString,
      resolve: (_p, _args, _ctx, info: GraphQLResolveInfo) =>
        [
          `${info.parentType.name}.${info.fieldName}: ${String(info.returnType)}`,
          info.operation.name?.value ?? 'anonymous',
          info.fieldNodes.length,
          JSON.stringify(info.variableValues),
          Object.keys(info.fragments).join(','),
          info.schema === schema,
        ].join(' | '),
    },
    soon: { type: GraphQLString, resolve: (p) => later(prop(p, 'nick')) },
    soonStrict: { type: new GraphQLNonNull(GraphQLString), resolve: (p) => later(prop(p, 'name')) },
    boom: {
      type: GraphQLString,
      resolve: (p) => {
        if (failing(p)) throw new Error(`boom: ${String(failing(p))}`);
        return 'calm';
      },
    },
    boomStrict: {
      type: new GraphQLNonNull(GraphQLString),
      resolve: (p) => {
        if (failing(p)) throw new Error(`strict boom: ${String(failing(p))}`);
        return 'calm';
      },
    },
    rejects: {
      type: GraphQLString,
      resolve: async (p) => {
        await Promise.resolve();
        if (failing(p)) throw new Error(`rejected: ${String(failing(p))}`);
        return 'kept';
      },
    },
    coded: {
      type: GraphQLString,
      resolve: (p) => {
        if (failing(p)) throw new GraphQLError('coded failure', { extensions: { code: 'CODED', detail: failing(p) } });
        return 'fine';
      },
    },
    odd: {
      type: GraphQLString,
      resolve: (p) => {
        if (failing(p)) throw failing(p);
        return 'even';
      },
    },
    where: {
      type: GraphQLString,
      resolve: (_p, _args, _ctx, info: GraphQLResolveInfo) => pathOf(info.path).join('.'),
    },
  }),
});

const Robot = new GraphQLObjectType({
  name: 'Robot',
  interfaces: [Node],
  fields: { id: { type: new GraphQLNonNull(GraphQLID) }, model: { type: GraphQLString }, owner: { type: Person } },
});

// The default type resolver: the value's own __typename.
const Thing = new GraphQLUnionType({ name: 'Thing', types: [Person, Robot, Item] });

interface Context {
  locale: string;
  events?: AsyncIterable<unknown>;
}

function pathOf(path: GraphQLResolveInfo['path'] | undefined): (string | number)[] {
  return path ? [...pathOf(path.prev), path.key] : [];
}

/** Every root field streams the context's events; each event is then resolved as graphql does. */
const fromEvents = (_root: unknown, _args: unknown, ctx: Context): AsyncIterable<unknown> => {
  if (!ctx.events) throw new Error('no events');
  return ctx.events;
};

const Subscription = new GraphQLObjectType<unknown, Context>({
  name: 'Subscription',
  fields: {
    person: { type: Person, subscribe: fromEvents },
    strictPerson: { type: new GraphQLNonNull(Person), subscribe: fromEvents },
    people: {
      type: new GraphQLList(new GraphQLNonNull(Person)),
      args: { first: { type: GraphQLInt } },
      subscribe: fromEvents,
      resolve: (event, args: { first?: number | null }) => {
        const people = prop(event, 'people');
        return Array.isArray(people) && args.first != null ? people.slice(0, args.first) : people;
      },
    },
    crowd: { type: new GraphQLList(new GraphQLList(Person)), subscribe: fromEvents },
    numbers: { type: new GraphQLNonNull(new GraphQLList(new GraphQLNonNull(GraphQLInt))), subscribe: fromEvents },
    mood: { type: new GraphQLNonNull(Mood), subscribe: fromEvents },
    slow: { type: Person, subscribe: fromEvents, resolve: (event) => later(prop(event, 'person')) },
    node: { type: Node, subscribe: fromEvents },
    things: { type: new GraphQLList(Thing), subscribe: fromEvents },
  },
});

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLBoolean } } }),
  subscription: Subscription,
  types: [Robot],
});

// ---------------------------------------------------------------------------------------
// Seeded random events

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const pick = <T>(rng: Rng, values: readonly T[]): T => values[Math.floor(rng() * values.length)] as T;

const WORDS = ['ada', 'grace', 'linus', '', 'ünï', 'x'.repeat(12)];
const WRONG: readonly unknown[] = ['abc', 1.5, 7, -3, true, false, {}, [1, 2], { length: 3 }];

function scalarValue(type: GraphQLScalarType | GraphQLEnumType, rng: Rng): unknown {
  if (isEnumType(type)) return pick(rng, [1, 2, 'meh', 1, 2, 'HAPPY']); // 'HAPPY' is a name, not a value
  switch (type.name) {
    case 'Int':
      return pick(rng, [0, 1, -7, 42, '12', 2 ** 40, 3.5]);
    case 'Float':
      return pick(rng, [0, 2.5, -1e-3, '3.25', Number.NaN]);
    case 'String':
      return pick(rng, [...WORDS, 5, true]);
    case 'Boolean':
      return pick(rng, [true, false, 0]);
    case 'ID':
      return pick(rng, ['p1', 17, 'r-2']);
    case 'Money':
      return pick(rng, [0, 1234, -5, 99, 1.5, '10']);
    case 'Secret':
      return pick(rng, ['open', 'also open', 'hidden']); // 'classified' has its own case below
    default:
      throw new Error(`no values for ${type.name}`);
  }
}

/**
 * A value for a field of `type`: mostly right, sometimes null, missing, an Error, a method
 * (which the default resolver calls) returning a value, a promise or a rejection, or of
 * the wrong shape. Promises are made only when a resolver calls for them, so none is left
 * rejected without a handler.
 */
function arbitrary(type: GraphQLOutputType, rng: Rng, depth: number, syncOnly = false): unknown {
  const r = rng();
  if (r < 0.06) return null;
  if (r < 0.09) return undefined;
  if (r < 0.11) return new Error('an Error as value');
  if (r < 0.13) return syncOnly ? new Error('an Error as value') : (): Promise<never> => Promise.reject(new Error('a rejected value'));
  if (r < 0.14) {
    return (): never => {
      throw new Error('a method that throws');
    };
  }
  if (r < 0.17) return pick(rng, WRONG);
  const value = right(getNullableType(type), rng, depth, syncOnly);
  if (r < 0.27 && !syncOnly) return (): Promise<unknown> => later(value);
  if (r < 0.3) return (): unknown => value;
  return value;
}

/**
 * `syncOnly`: below a non-null list item, values settle synchronously. When such an item
 * nulls its list, graphql-js and graphql-tools leave the items still pending without a
 * handler, so a later rejection among them is an unhandled rejection (the plan handles
 * them); that is their defect, and it would fail this suite, not the comparison.
 */
function right(type: GraphQLOutputType, rng: Rng, depth: number, syncOnly = false): unknown {
  if (isNonNullType(type)) return right(type.ofType, rng, depth, syncOnly);
  if (isListType(type)) {
    if (depth > 4) return [];
    const strictItems = syncOnly || isNonNullType(type.ofType);
    const items = Array.from({ length: Math.floor(rng() * 4) }, () => arbitrary(type.ofType, rng, depth + 1, strictItems));
    return rng() < 0.1 ? new Set(items) : items; // any iterable is a list
  }
  if (isScalarType(type) || isEnumType(type)) return scalarValue(type, rng);
  if (depth > 4) return null;
  if (isInterfaceType(type) || isUnionType(type)) {
    const concrete = pick(rng, schema.getPossibleTypes(type));
    const value = right(concrete, rng, depth, syncOnly) as Record<string, unknown>;
    value.kind = concrete === Robot ? 'robot' : 'person';
    // Sometimes a __typename the union does not have, or none.
    value.__typename = rng() < 0.9 ? concrete.name : pick(rng, ['Query', undefined, 'Nope']);
    return value;
  }
  if (!isObjectType(type)) throw new Error(`unexpected type ${String(type)}`);
  const value: Record<string, unknown> = {};
  for (const field of Object.values(type.getFields())) value[field.name] = arbitrary(field.type, rng, depth + 1, syncOnly);
  if (rng() < 0.25) value.fail = pick(rng, ['once', 'twice', 42]);
  return value;
}

/** The event with that seed: an object with a value for every root field, or (rarely) not an object at all. */
function event(seed: number): unknown {
  const rng = random(seed);
  if (rng() < 0.05) return pick(rng, [null, 'a string', 12, [], true]);
  const value: Record<string, unknown> = {};
  for (const field of Object.values(Subscription.getFields())) value[field.name] = arbitrary(field.type, rng, 0);
  return value;
}

// ---------------------------------------------------------------------------------------
// Running both

const yoga = createYoga<Context>({ schema, plugins: [useCompiledSubscriptions()], maskedErrors: false, logging: false });
const LOCALE = 'en-GB';

/**
 * A result as JSON once the work of its event has settled. When a non-null list item fails
 * while other items are still pending, graphql-js, graphql-tools and the plan alike leave
 * those items running and return: errors they raise later are pushed onto the response's
 * errors after it is built. Both sides are therefore read after a macrotask (resolvers
 * here only use microtasks; the source stream yields its next event only when asked).
 */
async function settled(result: unknown): Promise<string> {
  await new Promise((resolve) => setImmediate(resolve));
  return json(result);
}

/** The payloads the plugin gives for one subscription fed these events (made as they are read). */
async function viaPlugin(query: string, variables: Record<string, unknown>, events: Iterable<unknown>): Promise<string[]> {
  async function* source(): AsyncGenerator<unknown> {
    for (const event of events) yield await Promise.resolve(event); // a turn per event, as a socket gives
  }
  const { subscribe } = yoga.getEnveloped({});
  const result: unknown = await subscribe({
    schema,
    document: parse(query),
    variableValues: variables,
    contextValue: { locale: LOCALE, events: source() },
  });
  if (!isAsyncIterable(result)) return [json(result)];
  const payloads: string[] = [];
  for await (const payload of result) payloads.push(await settled(payload));
  return payloads;
}

function* eventsOf(seeds: readonly number[]): Generator<unknown> {
  for (const seed of seeds) yield event(seed);
}

/** ExecuteSubscriptionEvent by graphql-js itself. */
async function viaGraphqlJs(query: string, variables: Record<string, unknown>, seed: number): Promise<string> {
  const document = parse(query);
  return settled(await execute({ schema, document, rootValue: event(seed), variableValues: variables, contextValue: { locale: LOCALE } }));
}

const json = (value: unknown): string => JSON.stringify(value);

interface Case {
  name: string;
  query: string;
  variables?: Record<string, unknown>[];
  /** False: an abstract type; the plugin must leave it to graphql-tools. */
  planned: boolean;
}

const cases: Case[] = [
  {
    name: 'scalars, an enum with internal values, a custom scalar, a property strings also have',
    query: 'subscription { person { id name nick age score admin length mood moods balance secret } }',
    planned: true,
  },
  {
    name: 'aliases, __typename and the same field selected twice',
    query: 'subscription Aliased { who: person { __typename n: name name nick alias: nick friends { t: __typename name } } }',
    planned: true,
  },
  {
    name: 'lists of scalars, of non-null items, nested lists and lists of objects',
    query: 'subscription { person { tags moods matrix strictMatrix friends { name age friends { name tags } } } }',
    planned: true,
  },
  {
    name: 'non-null fields: null propagates to the nearest nullable parent, or to the root',
    query: 'subscription { strictPerson { id best { name best { name boomStrict } } soonStrict nick } }',
    planned: true,
  },
  {
    name: 'non-null list items fail the whole list; nullable items fail alone',
    query: `subscription Items($n: Int) {
      people(first: $n) { name boomStrict items { label price count } looseItems { label tags } }
    }`,
    variables: [{ n: 2 }, { n: null }, {}],
    planned: true,
  },
  {
    name: 'a list of lists of objects',
    query: 'subscription { crowd { name best { name } friends { nick } } }',
    planned: true,
  },
  {
    name: 'a non-null list of non-null scalars at the root',
    query: 'subscription { numbers }',
    planned: true,
  },
  {
    name: 'a non-null enum at the root',
    query: 'subscription Moody { feeling: mood }',
    planned: true,
  },
  {
    name: 'named and inline fragments, @include and @skip with variables and defaults',
    query: `subscription Fragments($withAge: Boolean!, $skipNick: Boolean = false) {
      person {
        ...Basics
        ... on Person @include(if: $withAge) { age best { ...Basics } }
        nick @skip(if: $skipNick)
        ... @skip(if: $withAge) { score nick }
        friends { ...Basics ... on Person { age } }
        literal: admin @include(if: false)
      }
    }
    fragment Basics on Person { id name mood }`,
    variables: [{ withAge: true }, { withAge: false, skipNick: true }, { withAge: false }],
    planned: true,
  },
  {
    name: 'resolver errors: sync throw, rejected promise, coded GraphQLError, non-error thrown, in lists',
    query: 'subscription { person { boom rejects coded odd soon boomStrict friends { boom odd rejects } items { label } } }',
    planned: true,
  },
  {
    name: 'arguments from literals, variables and defaults, with the context',
    query: 'subscription Greet($g: String) { person { greet loud: greet(greeting: $g, loud: true) other: greet(greeting: "Hi") about } }',
    variables: [{ g: 'Hey' }, { g: null }, {}],
    planned: true,
  },
  {
    name: 'resolvers that return promises, at the root and below',
    query: 'subscription { slow { soon soonStrict best { soon soonStrict } friends { soonStrict } items { count } } }',
    planned: true,
  },
  {
    name: 'an interface (left to graphql-tools)',
    query: `subscription { node { id __typename ... on Person { name friends { name } } ... on Robot { model owner { name boom } } } }`,
    planned: false,
  },
  {
    name: 'a union in a list (left to graphql-tools)',
    query: `subscription { things { __typename ... on Item { label price } ... on Person { name mood } ... on Robot { model } } }`,
    planned: false,
  },
];

const EVENTS_PER_SUBSCRIPTION = 150;

describe('a planned subscription gives, event by event, what graphql-js execute gives', () => {
  it.each(cases)('$name', async ({ query, variables = [{}], planned }) => {
    expect(validate(schema, parse(query))).toEqual([]);
    for (const [v, vars] of variables.entries()) {
      const plan = planSubscription({ schema, document: parse(query), variableValues: vars, contextValue: {} });
      expect('unplannable' in plan).toBe(!planned);
      const seeds = Array.from({ length: EVENTS_PER_SUBSCRIPTION }, (_, i) => 1_000 * (v + 1) + i);
      const payloads = await viaPlugin(query, vars, eventsOf(seeds));
      expect(payloads).toHaveLength(seeds.length);
      for (const [i, seed] of seeds.entries()) {
        const expected = await viaGraphqlJs(query, vars, seed);
        // The seed in the message reproduces a failing event.
        expect({ seed, payload: payloads[i] }).toEqual({ seed, payload: expected });
      }
    }
  });
});

describe('where the plan differs, deliberately or with graphql-tools', () => {
  it('a resolver reading info.path sees no list indices; everything else in info is the same', async () => {
    const query = 'subscription { people { where about friends { where } } }';
    const rootValue = { people: [{ friends: [{}, {}] }, { friends: [] }] };
    const [payload] = await viaPlugin(query, {}, [rootValue]);
    const expected = await execute({ schema, document: parse(query), rootValue, contextValue: { locale: LOCALE } });
    const about = 'Person.about: String | anonymous | 1 | {} |  | true';
    // graphql-js: people.0.where; the plan's info is built once per field, without indices.
    expect(expected.data).toEqual({
      people: [
        { where: 'people.0.where', about, friends: [{ where: 'people.0.friends.0.where' }, { where: 'people.0.friends.1.where' }] },
        { where: 'people.1.where', about, friends: [] },
      ],
    });
    expect(JSON.parse(payload ?? 'null')).toEqual({
      data: {
        people: [
          { where: 'people.where', about, friends: [{ where: 'people.friends.where' }, { where: 'people.friends.where' }] },
          { where: 'people.where', about, friends: [] },
        ],
      },
    });
  });

  it('a scalar that throws a coded GraphQLError loses its code, as graphql-tools (not graphql-js) does', async () => {
    const query = 'subscription { person { secret } }';
    const rootValue = { person: { secret: 'classified' } };
    const payloads = await viaPlugin(query, {}, [rootValue]);
    const tools = await toolsExecute({ schema, document: parse(query), rootValue, contextValue: { locale: LOCALE } });
    const js = await execute({ schema, document: parse(query), rootValue, contextValue: { locale: LOCALE } });
    expect(payloads).toEqual([json(tools)]);
    expect(json(tools)).toBe(
      json({ errors: [{ message: 'Secret is classified', locations: [{ line: 1, column: 25 }], path: ['person', 'secret'] }], data: { person: { secret: null } } }),
    );
    expect(json(js)).toContain('"extensions":{"code":"CLASSIFIED"}');
  });
});
