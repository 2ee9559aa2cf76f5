/**
 * What an entry of the configuration table is made of: the README table it belongs to, the
 * context a derived default may depend on, and the shape of one variable. The group files
 * (`general.ts`, `limits.ts`, `resilience.ts`, `advanced.ts`, `keys.ts`, `shared-state.ts`, `cache.ts`) declare their
 * entries with these; `table.ts` joins them into the table and parses by it.
 */

/** The README's configuration tables, in the order the README has them. */
export const GROUPS = ['general', 'limits', 'resilience', 'advanced', 'keys', 'shared-state', 'cache'] as const;
export type Group = (typeof GROUPS)[number];

/** What a derived default may depend on; both are known before any variable is parsed. */
export interface DefaultContext {
  /** NODE_ENV is exactly `production` (Node's convention: no trimming, no case folding). */
  production: boolean;
  /** Neither OPENAI_API_KEY nor OPENAI_BASE_URL is set, so the built-in simulator answers. */
  simulator: boolean;
}

export type Derived<T> = T | ((context: DefaultContext) => T);

interface Common {
  readonly env: string;
  readonly group: Group;
  /** The README's Meaning column: one line, Markdown. */
  readonly doc: string;
  /** The README's Default column, when the default value alone would not say it (derived, "off", units). */
  readonly shown?: string;
  /**
   * Where the value lands in `Config`: a field name, or `section.field`. Variables without
   * one are combined with others by `loadConfig` (the upstream, the fallback upstream, OTLP).
   */
  readonly field?: string;
}

/** One variable, as the group files declare it. */
export type Variable = Common &
  (
    | { readonly type: 'integer'; readonly min: number; readonly max: number; readonly default: number }
    | { readonly type: 'boolean'; readonly default: Derived<boolean> }
    | {
        readonly type: 'string';
        readonly default?: Derived<string>;
        /** A value must match it; `expected` completes "NAME must be …". */
        readonly pattern?: RegExp;
        readonly expected?: string;
        /** A value that fails is not quoted back (it is a secret, and config errors are logged). */
        readonly secret?: boolean;
      }
    | { readonly type: 'url' }
    | { readonly type: 'enum'; readonly values: readonly string[]; readonly default: string; readonly ignoreCase?: boolean }
    | { readonly type: 'list' }
    | { readonly type: 'prices' }
  );
