/**
 * Summarizes a V8 heap snapshot (`node --heapsnapshot-signal=…`): self size and count per
 * constructor (objects) or per kind (strings, arrays, code, closures by function name).
 * Usable alone: `node --import tsx bench/heap.ts <file.heapsnapshot>`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface HeapSnapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] };
    node_count: number;
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface HeapEntry {
  /** `Constructor` for objects, `(kind) name` otherwise. */
  name: string;
  count: number;
  bytes: number;
}

export interface HeapSummary {
  totalBytes: number;
  objects: number;
  /** By constructor (objects) or kind. */
  top: HeapEntry[];
  /**
   * By owner: every node's self size charged to the nearest object up its first-retainer
   * chain that has a specific constructor name (not Object, Array, closures, contexts, …).
   * A heuristic, but it names the library classes that hold the memory.
   */
  owners: HeapEntry[];
}

/** Constructor names too generic to say who owns the memory. */
const GENERIC = new Set([
  'Object',
  'Array',
  'system',
  'Promise',
  'Map',
  'Set',
  'WeakMap',
  'WeakSet',
  'Generator',
  'AsyncGenerator',
  'ArrayBuffer',
  'SharedArrayBuffer',
  'Uint8Array',
  'Buffer',
  'FastBuffer',
  'DataView',
  'Function',
  'Error',
  'Arguments',
]);

export function summarizeHeap(snapshot: HeapSnapshot, top = 25): HeapSummary {
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const edgeCountAt = fields.indexOf('edge_count');
  const { nodes, edges, strings } = snapshot;
  const edgeFields = snapshot.snapshot.meta.edge_fields;
  const edgeWidth = edgeFields.length;
  const edgeTypeAt = edgeFields.indexOf('type');
  const toAt = edgeFields.indexOf('to_node');
  const edgeTypes = snapshot.snapshot.meta.edge_types[0];
  const skipEdge = new Set([edgeTypes.indexOf('weak'), edgeTypes.indexOf('shortcut')]);
  const count = nodes.length / width;
  // The first strong retainer of each node, in snapshot order (roughly breadth-first from the roots).
  const retainer = new Int32Array(count).fill(-1);
  for (let n = 0, e = 0; n < count; n++) {
    const edgeCount = nodes[n * width + edgeCountAt] ?? 0;
    for (let k = 0; k < edgeCount; k++, e += edgeWidth) {
      if (skipEdge.has(edges[e + edgeTypeAt] ?? -1)) continue;
      const to = (edges[e + toAt] ?? 0) / width;
      if (retainer[to] === -1 && to !== n) retainer[to] = n;
    }
  }
  const specificName = (n: number): string | undefined => {
    if (types[nodes[n * width + typeAt] ?? 0] !== 'object') return undefined;
    const name = (strings[nodes[n * width + nameAt] ?? 0] ?? '').split(' ')[0] ?? '';
    return name && !GENERIC.has(name) && !name.startsWith('(') ? name : undefined;
  };
  const ownerOf = (n: number): string => {
    for (let cur = n, depth = 0; cur !== -1 && depth < 64; cur = retainer[cur] ?? -1, depth++) {
      const name = specificName(cur);
      if (name) return name;
    }
    return `(no named owner) ${types[nodes[n * width + typeAt] ?? 0] ?? '?'}`;
  };
  const owners = new Map<string, HeapEntry>();
  const groups = new Map<string, HeapEntry>();
  let totalBytes = 0;
  let objects = 0;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt] ?? 0] ?? '?';
    const size = nodes[i + sizeAt] ?? 0;
    totalBytes += size;
    objects++;
    const rawName = strings[nodes[i + nameAt] ?? 0] ?? '';
    let name: string;
    if (type === 'object') name = rawName.split(' ')[0] || '(object)';
    else if (type === 'closure') name = `(closure) ${rawName || 'anonymous'}`;
    else if (type === 'native') name = `(native) ${rawName.split(' ')[0] ?? ''}`;
    else if (type === 'hidden' || type === 'object shape') name = `(${type}) ${rawName.split(' ')[0] ?? ''}`;
    else name = `(${type})`;
    const group = groups.get(name) ?? { name, count: 0, bytes: 0 };
    group.count++;
    group.bytes += size;
    groups.set(name, group);
    const ownerName = ownerOf(i / width);
    const owner = owners.get(ownerName) ?? { name: ownerName, count: 0, bytes: 0 };
    owner.count++;
    owner.bytes += size;
    owners.set(ownerName, owner);
  }
  const ranked = (map: Map<string, HeapEntry>): HeapEntry[] => [...map.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top);
  return { totalBytes, objects, top: ranked(groups), owners: ranked(owners) };
}

export function readHeapSnapshot(file: string): HeapSnapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/heap.ts <file.heapsnapshot>\n');
    process.exit(2);
  }
  const summary = summarizeHeap(readHeapSnapshot(file), 40);
  process.stdout.write(`${(summary.totalBytes / 1048576).toFixed(1)} MiB in ${summary.objects} heap objects\n`);
  for (const e of summary.top) {
    process.stdout.write(`${(e.bytes / 1048576).toFixed(2).padStart(9)} MiB ${String(e.count).padStart(9)}  ${e.name}\n`);
  }
  process.stdout.write('\nBy nearest named owner:\n');
  for (const e of summary.owners) {
    process.stdout.write(`${(e.bytes / 1048576).toFixed(2).padStart(9)} MiB ${String(e.count).padStart(9)}  ${e.name}\n`);
  }
}
