/**
 * The configuration table against the code and the README: every variable the source reads
 * is declared once, documented once, and the README's tables are what `npm run config-docs`
 * would write (CI checks that too; this makes it fail locally first).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { README, renderConfigTables, shownDefault } from '../scripts/config-docs.js';
import { GROUPS, TABLE, type Variable } from '../src/config/table.js';

const SRC = fileURLToPath(new URL('../src', import.meta.url));
const table = TABLE as readonly Variable[];
const readme = readFileSync(README, 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Variable names read by name anywhere in src: `env['X']`, `process.env['X']`, and config.ts's `get('X')`. */
function namesReadBySource(): Set<string> {
  const names = new Set<string>();
  for (const file of sources(SRC)) {
    for (const match of readFileSync(file, 'utf8').matchAll(/(?:env\[|\bget\()\s*['"]([A-Z][A-Z0-9_]*)['"]/g)) {
      names.add(match[1] as string);
    }
  }
  return names;
}

const count = <T>(items: readonly T[], item: T): number => items.filter((i) => i === item).length;

describe('the configuration table', () => {
  const names = table.map((variable) => variable.env);

  it('declares every variable once', () => {
    for (const name of names) expect(count(names, name), name).toBe(1);
  });

  it('holds every variable the source reads by name', () => {
    const read = namesReadBySource();
    expect(read.size).toBeGreaterThan(5); // the scan itself works
    expect([...read].filter((name) => !names.includes(name))).toEqual([]);
  });

  it('has no entry that nothing reads: each lands in Config or is read by name', () => {
    const read = namesReadBySource();
    expect(table.filter((v) => v.field === undefined && !read.has(v.env)).map((v) => v.env)).toEqual([]);
  });

  it('places each Config field once', () => {
    const fields = table.flatMap((variable) => (variable.field === undefined ? [] : [variable.field]));
    for (const field of fields) expect(count(fields, field), field).toBe(1);
  });

  it('gives every entry a group, a one-line doc and a Default column', () => {
    for (const variable of table) {
      expect(GROUPS, variable.env).toContain(variable.group);
      expect(variable.doc.trim().length, variable.env).toBeGreaterThan(10);
      expect(variable.doc, variable.env).not.toMatch(/[\n|]/); // one table cell
      expect(() => shownDefault(variable), variable.env).not.toThrow();
    }
  });

  it('keeps integer defaults inside their own ranges', () => {
    for (const variable of table) {
      if (variable.type !== 'integer') continue;
      expect(variable.default, variable.env).toBeGreaterThanOrEqual(variable.min);
      expect(variable.default, variable.env).toBeLessThanOrEqual(variable.max);
    }
  });
});

describe('the README', () => {
  it('documents every variable in exactly one table row', () => {
    const rows = readme.split('\n').flatMap((line) => /^\| `([A-Z][A-Z0-9_]*)` \|/.exec(line)?.slice(1) ?? []);
    for (const name of table.map((variable) => variable.env)) expect(count(rows, name), name).toBe(1);
  });

  it('has the configuration tables `npm run config-docs` writes', () => {
    // On failure: run `npm run config-docs` and commit README.md.
    expect(renderConfigTables(readme)).toBe(readme);
  });
});
