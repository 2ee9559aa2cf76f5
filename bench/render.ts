/**
 * Re-renders bench/RESULTS.md from bench/results.json (after a change to the report's
 * wording, without running the benchmark again):
 * `node --import tsx bench/render.ts [results.json] [RESULTS.md]`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderMarkdown, type Results } from './report.js';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
const input = process.argv[2] ?? here('results.json');
const output = process.argv[3] ?? here('RESULTS.md');
const results = JSON.parse(readFileSync(input, 'utf8')) as Results;
writeFileSync(output, renderMarkdown(results));
process.stderr.write(`wrote ${output}\n`);
