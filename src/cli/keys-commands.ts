/** The key CLI's commands, carried out on a KeyStore; each returns the text to print. */
import type { KeyStore, ApiKey } from '../accounts/keys.js';
import { LIMIT_OPTIONS, type Action } from './keys-args.js';
import { allLimits, describeDatabase, describeKey, json, limitValue, printable, setLimits, table, time } from './keys-output.js';

/** The command is well formed but cannot be carried out: exit 1. */
class CommandError extends Error {}

async function findKey(store: KeyStore, target: string): Promise<ApiKey> {
  const found = await store.find(target);
  if (found) return found;
  // A whole key pasted here would otherwise end up in an error message (and in logs).
  if (target.startsWith('gk_') && target.length > 20) {
    throw new CommandError('that looks like a whole key: give its id or its prefix (the first characters, as `list` shows)');
  }
  const sharing = (await store.list()).filter((key) => key.prefix === target).length;
  if (sharing > 1) throw new CommandError(`${sharing} keys have the prefix "${printable(target)}": give the id instead (see \`list\`)`);
  throw new CommandError(`no key has the id or prefix "${printable(target)}" (see \`list\`)`);
}

export async function run(action: Exclude<Action, { command: 'help' }>, store: KeyStore, databaseUrl: string): Promise<string> {
  switch (action.command) {
    case 'create': {
      const created = await store.create({ name: action.name, admin: action.admin, limits: action.limits });
      if (action.json) return json(created);
      const { key, apiKey } = created;
      return [
        `Created key ${describeKey(apiKey)}`,
        `  id        ${apiKey.id}`,
        `  prefix    ${apiKey.prefix}`,
        `  admin     ${apiKey.admin ? 'yes' : 'no'}`,
        `  limits    ${allLimits(apiKey.limits)}`,
        `  database  ${describeDatabase(databaseUrl)}`,
        '',
        'The key, to send as "Authorization: Bearer <key>":',
        '',
        `  ${key}`,
        '',
        'This is the only time it is shown: it will not be shown again, only its hash is stored. Keep it now.',
      ].join('\n');
    }
    case 'list': {
      const keys = await store.list();
      if (action.json) return json(keys);
      if (keys.length === 0) return `No keys in ${describeDatabase(databaseUrl)}. Create one with: npm run keys -- create --name NAME`;
      const rows = keys.map((key) => [
        key.id,
        printable(key.name),
        key.prefix,
        key.admin ? 'yes' : 'no',
        time(key.createdAt),
        key.revokedAt === null ? '-' : time(key.revokedAt),
        setLimits(key.limits),
      ]);
      return `${table([['ID', 'NAME', 'PREFIX', 'ADMIN', 'CREATED', 'REVOKED', 'LIMITS'], ...rows])}\n\n${keys.length} key(s) in ${describeDatabase(databaseUrl)}`;
    }
    case 'revoke': {
      const key = await findKey(store, action.target);
      if (key.revokedAt !== null) throw new CommandError(`key ${describeKey(key)} was already revoked at ${time(key.revokedAt)}`);
      const revoked = await store.revoke(key.id);
      if (!revoked) throw new CommandError(`key ${describeKey(key)} was revoked by someone else meanwhile`);
      if (action.json) return json(revoked);
      // Servers cache lookups for KEY_CACHE_TTL_MS, so the refusal is not instant there.
      return `Revoked key ${describeKey(revoked)}. Running servers refuse it within KEY_CACHE_TTL_MS (2 s by default).`;
    }
    case 'set-limits': {
      const key = await findKey(store, action.target);
      const updated = await store.setLimits(key.id, action.limits);
      if (!updated) throw new CommandError(`key ${describeKey(key)} disappeared while its limits were set`);
      if (action.json) return json(updated);
      const lines = [`Limits of key ${describeKey(updated)} are now:`];
      for (const limit of LIMIT_OPTIONS) lines.push(`  ${limit.label.padEnd(8)}  ${limitValue(limit, updated.limits[limit.field])}`);
      if (updated.revokedAt !== null) lines.push(`(This key is revoked: its limits apply to nothing.)`);
      return lines.join('\n');
    }
  }
}
