import type { GraphQLError } from 'graphql';
import type { Path } from '@graphql-tools/utils';

/**
 * One event's errors, as graphql-js collects them: an error at or below a position already
 * nulled is dropped. That happens only to list items still pending when a non-null item
 * nulled their list; without this their errors would be pushed after the response is built.
 */
export class FieldErrors {
  readonly list: GraphQLError[] = [];
  private nulled: Set<Path | undefined> | undefined;

  add(error: GraphQLError, path: Path | undefined): void {
    if (this.nulled) {
      for (let at = path; at !== undefined; at = at.prev) if (this.nulled.has(at)) return;
      if (this.nulled.has(undefined)) return;
    }
    (this.nulled ??= new Set()).add(path);
    this.list.push(error);
  }
}
