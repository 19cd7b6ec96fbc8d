import { dataInputs, type GraphIndex } from './graph-index.js';
import { FlowNetwork } from './max-flow.js';

/** How a cut was found. */
export type CutOrigin = 'dominator' | 'min-cut';

/** A set of data tensors that separates every graph input from every graph output. */
export interface Cut {
  /** Tensor names in production order. */
  readonly tensors: readonly string[];
  readonly origin: CutOrigin;
  /** Bytes per sample of all cut tensors as float32. */
  readonly bytes: number;
  /** Number of nodes the head runs; orders cuts from the input towards the output. */
  readonly headNodes: number;
}

/** Options for {@link findCuts}. */
export interface FindCutsOptions {
  /** float32 bytes per sample of each data tensor (from a shape probe). */
  readonly tensorBytes: ReadonlyMap<string, number>;
  /** Graph outputs the tail must produce. @default all graph outputs */
  readonly tailOutputs?: readonly string[];
}

/** Data tensors in production order, restricted to those that lead to a tail output. */
function relevantTensors(index: GraphIndex, outputs: readonly string[]): string[] {
  const needed = new Set<string>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (needed.has(name) || index.kind.get(name) !== 'data') continue;
    needed.add(name);
    const p = index.producer.get(name);
    if (p !== undefined) stack.push(...dataInputs(index, index.nodes[p]!));
  }
  const ordered = index.model.inputs.map((i) => i.name).filter((n) => needed.has(n));
  for (const node of index.nodes) for (const o of node.output ?? []) if (needed.has(o)) ordered.push(o);
  return ordered;
}

/** Immediate data predecessors of each tensor; graph inputs get the virtual source. */
function predecessors(index: GraphIndex, tensors: readonly string[], source: string): Map<string, string[]> {
  const preds = new Map<string, string[]>();
  for (const t of tensors) {
    const p = index.producer.get(t);
    const ins = p === undefined ? [source] : dataInputs(index, index.nodes[p]!);
    preds.set(t, ins.length > 0 ? ins : [source]);
  }
  return preds;
}

/** Number of nodes needed to compute `tensors` from the graph inputs (the head's size). */
function headNodeCount(index: GraphIndex, tensors: readonly string[]): number {
  const seen = new Set<number>();
  const stack = [...tensors];
  while (stack.length > 0) {
    const p = index.producer.get(stack.pop()!);
    if (p === undefined || seen.has(p)) continue;
    seen.add(p);
    stack.push(...(index.nodes[p]!.input ?? []).filter((n) => n !== ''));
  }
  return seen.size;
}

/**
 * Finds split points: every single tensor that dominates the outputs, plus, inside each stretch
 * of the graph with parallel branches between two dominators (residual blocks, inception modules,
 * dense blocks), the multi-tensor cut with the fewest bytes by a min s–t cut.
 * Graph inputs and outputs themselves are not returned; cloud-only and edge-only are added by callers.
 */
export function findCuts(index: GraphIndex, options: FindCutsOptions): Cut[] {
  const SOURCE = '\u0000source';
  const SINK = '\u0000sink';
  const outputs = options.tailOutputs ?? index.model.outputs.map((o) => o.name);
  const tensors = relevantTensors(index, outputs);
  const preds = predecessors(index, tensors, SOURCE);
  preds.set(SINK, [...outputs]);

  // Dominators on a DAG: visiting in topological order, idom(v) is the LCA of v's predecessors.
  const idom = new Map<string, string>([[SOURCE, SOURCE]]);
  const depth = new Map<string, number>([[SOURCE, 0]]);
  const lca = (x: string, y: string): string => {
    let a = x;
    let b = y;
    while (a !== b) {
      const da = depth.get(a)!;
      const db = depth.get(b)!;
      if (da >= db) a = idom.get(a)!;
      if (db >= da) b = idom.get(b)!;
    }
    return a;
  };
  for (const v of [...tensors, SINK]) {
    const ps = preds.get(v)!;
    const d = ps.reduce((acc, p) => lca(acc, p));
    idom.set(v, d);
    depth.set(v, depth.get(d)! + 1);
  }
  const chain: string[] = [];
  for (let v = idom.get(SINK)!; v !== SOURCE; v = idom.get(v)!) chain.unshift(v);

  const bytesOf = (t: string): number => options.tensorBytes.get(t) ?? Number.POSITIVE_INFINITY;
  const inputNames = new Set(index.model.inputs.map((i) => i.name));
  const outputNames = new Set(outputs);
  const cuts: Cut[] = [];
  const add = (ts: string[], origin: CutOrigin): void => {
    if (ts.every((t) => inputNames.has(t)) || ts.every((t) => outputNames.has(t))) return;
    const order = new Map(tensors.map((t, i) => [t, i]));
    const sorted = [...ts].sort((a, b) => order.get(a)! - order.get(b)!);
    const bytes = sorted.reduce((s, t) => s + bytesOf(t), 0);
    if (!Number.isFinite(bytes)) return;
    cuts.push({ tensors: sorted, origin, bytes, headNodes: headNodeCount(index, sorted) });
  };
  for (const d of chain) add([d], 'dominator');

  // Between consecutive dominators, any remaining tensor lies on a parallel branch.
  const position = new Map(tensors.map((t, i) => [t, i]));
  const stops = [SOURCE, ...chain, SINK];
  for (let k = 0; k + 1 < stops.length; k++) {
    const from = stops[k]!;
    const to = stops[k + 1]!;
    const lo = from === SOURCE ? -1 : position.get(from)!;
    const hi = to === SINK ? tensors.length : position.get(to)!;
    const interior = tensors.slice(lo + 1, hi).filter((t) => idomChainContains(idom, t, from, SOURCE));
    if (interior.length < 2) continue;
    const cut = segmentMinCut(from, to, interior, preds, bytesOf);
    if (cut) add(cut, 'min-cut');
  }
  const seen = new Set<string>();
  return cuts
    .filter((c) => {
      const key = c.tensors.join('\u0001');
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.headNodes - b.headNodes);
}

/** True when `ancestor` dominates `v` (appears on v's idom chain). */
function idomChainContains(idom: ReadonlyMap<string, string>, v: string, ancestor: string, root: string): boolean {
  for (let x = v; ; x = idom.get(x)!) {
    if (x === ancestor) return true;
    if (x === root) return false;
  }
}

/** Cheapest set of interior tensors separating `from` and `to`; each tensor is a node split in two with capacity = its bytes. */
function segmentMinCut(
  from: string,
  to: string,
  interior: readonly string[],
  preds: ReadonlyMap<string, readonly string[]>,
  bytesOf: (t: string) => number,
): string[] | undefined {
  const id = new Map(interior.map((t, i) => [t, i]));
  const n = interior.length;
  const s = 2 * n;
  const t = 2 * n + 1;
  const net = new FlowNetwork(2 * n + 2);
  const INF = Number.POSITIVE_INFINITY;
  interior.forEach((v, i) => net.addEdge(2 * i, 2 * i + 1, bytesOf(v)));
  for (const v of [...interior, to]) {
    const vi = v === to ? t : 2 * id.get(v)!;
    for (const p of preds.get(v) ?? []) {
      if (p === from) net.addEdge(s, vi, INF);
      else if (id.has(p)) net.addEdge(2 * id.get(p)! + 1, vi, INF);
    }
  }
  const { flow, sourceSide } = net.minCut(s, t);
  if (!Number.isFinite(flow) || flow === 0) return undefined;
  return interior.filter((_, i) => sourceSide.has(2 * i) && !sourceSide.has(2 * i + 1));
}
