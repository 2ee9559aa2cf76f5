/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per
 * package. Usable alone: `node --import tsx bench/profile.ts <file.cpuprofile>`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Time not idle (everything but `(idle)`). */
  busyMs: number;
  functions: SelfTime[];
  /** Self time by the package of the function itself. */
  packages: SelfTime[];
  /**
   * Self time charged to the nearest package on the stack: native and node-internal frames
   * (a socket write, a JSON parse) count for the package that called them.
   */
  callers: SelfTime[];
}

/** A window of the monotonic clock, in µs (process.hrtime.bigint() / 1000): the profile's time base. */
export interface Window {
  fromUs: number;
  toUs: number;
}

const RUNTIME_FRAMES = new Set(['(garbage collector)', '(program)', '(idle)', '(root)']);

/** Which package (or part of the runtime) a script URL belongs to. */
export function packageOf(url: string): string {
  if (url === '') return '(native / V8)';
  if (url.startsWith('wasm://')) return 'undici (fetch): llhttp wasm';
  if (url.startsWith('node:internal/deps/undici')) return 'undici (fetch)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] ?? ''}`.replace(/^node:internal$/, 'node internals');
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const parts = url.slice(modules + '/node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? url);
  }
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return 'gateway (dist/)';
  return url.replace(/^file:\/\//, '');
}

function shortWhere(url: string, line: number): string {
  if (url === '') return '';
  const modules = url.lastIndexOf('/node_modules/');
  const tail = modules !== -1 ? url.slice(modules + '/node_modules/'.length) : url.replace(/^file:\/\/.*\/dist\//, 'dist/');
  return `${tail}:${line + 1}`;
}

export function summarizeProfile(profile: CpuProfile, window?: Window, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // timeDeltas[i] is the time before sample i; attribute the interval after a sample to it.
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    const id = samples[i];
    if (id === undefined) continue;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const next = deltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, next));
  }
  /** The package of the nearest frame (this one or a caller) that belongs to one. */
  const callerPackage = (id: number): string => {
    const own = byId.get(id)?.callFrame.functionName ?? '';
    if (RUNTIME_FRAMES.has(own)) return own;
    for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) {
      const url = byId.get(cur)?.callFrame.url ?? '';
      if (url !== '' && (!url.startsWith('node:') || url.startsWith('node:internal/deps/undici'))) return packageOf(url);
    }
    return 'node internals (no package on the stack)';
  };
  const fns = new Map<string, SelfTime>();
  const pkgs = new Map<string, SelfTime>();
  const callers = new Map<string, SelfTime>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    if (name === '(idle)') {
      idleUs += us;
      continue;
    }
    const where = shortWhere(url, lineNumber);
    const key = `${name}@${where}`;
    const fn = fns.get(key) ?? { name, where, ms: 0, share: 0 };
    fn.ms += us / 1000;
    fns.set(key, fn);
    const pkgName = url === '' && name.startsWith('(') ? name : packageOf(url);
    const pkg = pkgs.get(pkgName) ?? { name: pkgName, where: '', ms: 0, share: 0 };
    pkg.ms += us / 1000;
    pkgs.set(pkgName, pkg);
    const callerName = callerPackage(id);
    const caller = callers.get(callerName) ?? { name: callerName, where: '', ms: 0, share: 0 };
    caller.ms += us / 1000;
    callers.set(callerName, caller);
  }
  const busyMs = (totalUs - idleUs) / 1000;
  const ranked = (map: Map<string, SelfTime>, count: number): SelfTime[] =>
    [...map.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, count)
      .map((entry) => ({ ...entry, share: busyMs > 0 ? entry.ms / busyMs : 0 }));
  return {
    totalMs: totalUs / 1000,
    busyMs,
    functions: ranked(fns, top),
    packages: ranked(pkgs, 15),
    callers: ranked(callers, 15),
  };
}

/** A summary as plain text: busy time, then by package, by caller package and by function. */
export function formatSummary(summary: ProfileSummary): string {
  const rows = (list: SelfTime[], where: boolean): string =>
    list.map((p) => `${(p.share * 100).toFixed(1).padStart(6)}%  ${p.ms.toFixed(0).padStart(7)} ms  ${p.name}${where ? `  ${p.where}` : ''}\n`).join('');
  return (
    `busy ${summary.busyMs.toFixed(0)} ms of ${summary.totalMs.toFixed(0)} ms\n\nBy package:\n${rows(summary.packages, false)}` +
    `\nBy nearest package on the stack:\n${rows(summary.callers, false)}\nBy function (self time):\n${rows(summary.functions, true)}`
  );
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/profile.ts <file.cpuprofile>\n');
    process.exit(2);
  }
  process.stdout.write(formatSummary(summarizeProfile(readProfile(file))));
}
