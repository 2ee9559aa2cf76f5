/**
 * Writes the README's configuration tables from src/config/table.ts (`npm run config-docs`):
 * each group's table goes between `<!-- config:<group>:begin -->` and
 * `<!-- config:<group>:end -->`, and the prose around them is left as it is. CI runs it and
 * fails if README.md changes, so the README cannot disagree with what loadConfig does.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GROUPS, TABLE, type Group, type Variable } from '../src/config/table.js';

export const README = fileURLToPath(new URL('../README.md', import.meta.url));

/** The Default column: the entry's own wording if it has one, else its value, else "—" (unset). */
export function shownDefault(variable: Variable): string {
  if (variable.shown !== undefined) return variable.shown;
  if (!('default' in variable) || variable.default === undefined) {
    if (variable.type === 'string' || variable.type === 'url' || variable.type === 'list') return '—';
    throw new Error(`${variable.env}: a ${variable.type} without a default needs \`shown\``);
  }
  if (typeof variable.default === 'function') throw new Error(`${variable.env}: a derived default needs \`shown\``);
  return `\`${String(variable.default)}\``;
}

export function renderTable(group: Group): string {
  const rows = (TABLE as readonly Variable[])
    .filter((variable) => variable.group === group)
    .map((variable) => `| \`${variable.env}\` | ${shownDefault(variable)} | ${variable.doc} |`);
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** The README with every group's table rewritten; throws if a group's markers are missing. */
export function renderConfigTables(readme: string): string {
  let text = readme;
  for (const group of GROUPS) {
    const begin = `<!-- config:${group}:begin -->`;
    const end = `<!-- config:${group}:end -->`;
    const from = text.indexOf(begin);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new Error(`README.md has no "${begin}" … "${end}" markers`);
    // Blank lines around the table: Markdown ends an HTML comment's block only at one.
    text = `${text.slice(0, from)}${begin}\n\n${renderTable(group)}\n\n${text.slice(to)}`;
  }
  return text;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const before = readFileSync(README, 'utf8');
  const after = renderConfigTables(before);
  if (after !== before) writeFileSync(README, after);
  console.log(after === before ? 'README.md configuration tables are current' : 'rewrote the configuration tables in README.md');
}
