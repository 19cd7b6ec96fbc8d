import { dataInputs, type GraphIndex } from './graph-index.js';
import { FlowNetwork } from './max-flow.js';

/**
 * How a cut was found: a single tensor every path passes (`dominator`), the cheapest multi-tensor cut
 * between two dominators (`min-cut`), or the cheapest cut at one depth between them (`level`).
 */
export type CutOrigin = 'dominator' | 'min-cut' | 'level';

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
  /**
   * Most `level` cuts offered between two consecutive dominators, spread over the stretch (a long
   * stretch has no dominator inside: a transformer whose attention mask reaches every block, a
   * segmentation net with long skips). 0 offers only the stretch's cheapest cut. @default 12
   */
  readonly maxLevelCutsPerStretch?: number;
}

/** Depth boundaries tried per stretch at most; longer stretches are sampled evenly. */
const MAX_LEVEL_PROBES = 64;
/** A level cut this close (fraction of the graph's nodes) to a cut at least as cheap is dropped. */
const CROWDED_FRACTION = 0.02;

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
 * dense blocks), the multi-tensor cut with the fewest bytes by a min s–t cut, and cuts spread along
 * the stretch: for each depth boundary (longest path from the inputs), the cheapest cut whose head
 * computes the tensors at that depth and whose tail computes everything deeper; of these, the local
 * minima of bytes along the stretch, at most `maxLevelCutsPerStretch`, spread evenly.
 * Graph inputs and outputs themselves are not returned; cloud-only and edge-only are added by callers.
 * Deterministic: the same graph and bytes give the same cuts in the same order.
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

  // Depth: the longest path from the inputs, so parallel branches of one block line up.
  const levelOf = new Map<string, number>([[SOURCE, 0]]);
  for (const t of tensors) levelOf.set(t, 1 + Math.max(...preds.get(t)!.map((p) => levelOf.get(p)!)));
  const maxLevelCuts = options.maxLevelCutsPerStretch ?? 12;
  const weightElements = new Map(
    index.model.graph.initializer.map((t) => [t.name, t.dims.reduce((a, d) => a * Number(d), 1)]),
  );

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
    const stretch = new StretchNetwork(from, to, interior, preds, bytesOf);
    const cut = stretch.minCut();
    if (cut) add(cut, 'min-cut');
    if (maxLevelCuts <= 0) continue;
    const inStretch = new Set(interior);
    for (const c of levelCuts(stretch, interior, levelOf, bytesOf, maxLevelCuts)) {
      add(mergeUnderDominators(c, { index, idom, depth, interior: inStretch, bytesOf, weightElements }), 'level');
    }
  }
  const seen = new Set<string>();
  const unique = cuts.filter((c) => {
    const key = c.tensors.join('\u0001');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return dropCrowdedLevelCuts(unique, index.nodes.length).sort((a, b) => a.headNodes - b.headNodes);
}

/**
 * Level cuts are there to spread the split points; one with a cut at least as cheap within
 * {@link CROWDED_FRACTION} of the nodes of it adds nothing (a cut inside a small block next to the
 * block's boundary). Cheapest first, so of two close level cuts the cheaper stays.
 */
function dropCrowdedLevelCuts(cuts: readonly Cut[], totalNodes: number): Cut[] {
  const window = Math.max(2, CROWDED_FRACTION * totalNodes);
  const kept = cuts.filter((c) => c.origin !== 'level');
  const levels = cuts
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.origin === 'level')
    .sort((a, b) => a.c.bytes - b.c.bytes || a.i - b.i);
  const keptLevels = new Set<number>();
  for (const { c, i } of levels) {
    const crowded = [...kept, ...[...keptLevels].map((k) => cuts[k]!)].some(
      (d) => d.bytes <= c.bytes && Math.abs(d.headNodes - c.headNodes) <= window,
    );
    if (!crowded) keptLevels.add(i);
  }
  return cuts.filter((c, i) => c.origin !== 'level' || keptLevels.has(i));
}

/** True when `ancestor` dominates `v` (appears on v's idom chain). */
function idomChainContains(idom: ReadonlyMap<string, string>, v: string, ancestor: string, root: string): boolean {
  for (let x = v; ; x = idom.get(x)!) {
    if (x === ancestor) return true;
    if (x === root) return false;
  }
}

/**
 * The flow network of one stretch: each interior tensor is a node split in two (in → out) with
 * capacity = its bytes, so a minimum cut is a cheapest set of tensors to send.
 */
class StretchNetwork {
  private readonly id: Map<string, number>;

  constructor(
    private readonly from: string,
    private readonly to: string,
    private readonly interior: readonly string[],
    private readonly preds: ReadonlyMap<string, readonly string[]>,
    private readonly bytesOf: (t: string) => number,
  ) {
    this.id = new Map(interior.map((t, i) => [t, i]));
  }

  /**
   * Cheapest set of interior tensors separating `from` and `to`. Without `forced`, any separator
   * (the tail may recompute what the head computed too). With it, the head is closed under
   * predecessors, `forced.head` tensors are in it and `forced.tail` tensors are not: the cut is the
   * tensors the head computes and the tail reads.
   */
  minCut(forced?: { readonly head: readonly string[]; readonly tail: readonly string[] }): string[] | undefined {
    const { interior, id } = this;
    const n = interior.length;
    const s = 2 * n;
    const t = 2 * n + 1;
    const net = new FlowNetwork(2 * n + 2);
    const INF = Number.POSITIVE_INFINITY;
    interior.forEach((v, i) => net.addEdge(2 * i, 2 * i + 1, this.bytesOf(v)));
    for (const v of [...interior, this.to]) {
      const vi = v === this.to ? t : 2 * id.get(v)!;
      for (const p of this.preds.get(v) ?? []) {
        if (p === this.from) net.addEdge(s, vi, INF);
        else if (id.has(p)) {
          net.addEdge(2 * id.get(p)! + 1, vi, INF);
          // Closure: a tensor computed in the head needs its predecessors computed there too.
          if (forced && v !== this.to) net.addEdge(vi, 2 * id.get(p)!, INF);
        }
      }
    }
    for (const v of forced?.head ?? []) net.addEdge(s, 2 * id.get(v)!, INF);
    for (const v of forced?.tail ?? []) net.addEdge(2 * id.get(v)!, t, INF);
    const { flow, sourceSide } = net.minCut(s, t);
    if (!Number.isFinite(flow) || flow === 0) return undefined;
    return interior.filter((_, i) => sourceSide.has(2 * i) && !sourceSide.has(2 * i + 1));
  }
}

/**
 * Cuts along a stretch: for each boundary between consecutive depths, the cheapest cut whose head
 * computes the tensors at the lower depth (and so everything they depend on) and none deeper.
 * Consecutive boundaries often give the same cut; the distinct ones that are local minima of bytes
 * along the stretch are kept, at most `cap`: the cheapest of each of `cap` equal parts of the stretch.
 */
function levelCuts(
  stretch: StretchNetwork,
  interior: readonly string[],
  levelOf: ReadonlyMap<string, number>,
  bytesOf: (t: string) => number,
  cap: number,
): string[][] {
  const byLevel = new Map<number, string[]>();
  for (const t of interior) {
    const l = levelOf.get(t)!;
    const list = byLevel.get(l);
    if (list) list.push(t);
    else byLevel.set(l, [t]);
  }
  const levels = [...byLevel.keys()].sort((a, b) => a - b);
  const boundaries = levels.length - 1;
  if (boundaries < 1) return [];
  const probes = Math.min(boundaries, MAX_LEVEL_PROBES);
  const found: { at: number; cut: string[]; bytes: number }[] = [];
  for (let k = 0; k < probes; k++) {
    const at = probes === boundaries ? k : Math.round((k * (boundaries - 1)) / Math.max(1, probes - 1));
    const head = byLevel.get(levels[at]!)!;
    const tail = levels.slice(at + 1).flatMap((l) => byLevel.get(l)!);
    const cut = stretch.minCut({ head, tail });
    if (cut === undefined) continue;
    const last = found[found.length - 1];
    if (last !== undefined && last.cut.join('\u0001') === cut.join('\u0001')) continue;
    found.push({ at, cut, bytes: cut.reduce((sum, t) => sum + bytesOf(t), 0) });
  }
  const minima = found.filter(
    (f, i) => (i === 0 || f.bytes <= found[i - 1]!.bytes) && (i === found.length - 1 || f.bytes <= found[i + 1]!.bytes),
  );
  if (minima.length <= cap) return minima.map((f) => f.cut);
  const best = new Map<number, (typeof minima)[number]>();
  for (const f of minima) {
    const bin = Math.min(cap - 1, Math.floor((f.at * cap) / boundaries));
    const held = best.get(bin);
    if (held === undefined || f.bytes < held.bytes) best.set(bin, f);
  }
  return [...best.values()].map((f) => f.cut);
}

/** Most nodes the tail recomputes to replace cut tensors by their dominator. */
const MAX_RECOMPUTED_NODES = 16;
/** A node reading an initializer larger than this is not cheap to recompute (a conv, a matmul, an embedding). */
const MAX_RECOMPUTED_WEIGHT_ELEMENTS = 64;

/** What {@link mergeUnderDominators} needs to know about the graph. */
interface MergeContext {
  readonly index: GraphIndex;
  readonly idom: ReadonlyMap<string, string>;
  /** Depth in the dominator tree. */
  readonly depth: ReadonlyMap<string, number>;
  readonly interior: ReadonlySet<string>;
  readonly bytesOf: (t: string) => number;
  /** Element count of each initializer. */
  readonly weightElements: ReadonlyMap<string, number>;
}

/** Whether the nodes computing `targets` from `from` are few and read no real weights. */
function cheapToRecompute(ctx: MergeContext, targets: readonly string[], from: string): boolean {
  const { index } = ctx;
  const seen = new Set<number>();
  const stack = [...targets];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (name === from || index.kind.get(name) !== 'data') continue;
    const p = index.producer.get(name);
    if (p === undefined || seen.has(p)) continue;
    seen.add(p);
    const node = index.nodes[p]!;
    if (seen.size > MAX_RECOMPUTED_NODES) return false;
    if (node.input.some((n) => (ctx.weightElements.get(n) ?? 0) > MAX_RECOMPUTED_WEIGHT_ELEMENTS)) return false;
    stack.push(...dataInputs(index, node));
  }
  return true;
}

/**
 * Sends fewer tensors for no more bytes: cut tensors that share a dominator inside the stretch (the
 * attention bias and the pooling mask, both computed from the attention mask input) are replaced by
 * it when it is no larger than they are together and they are cheap to recompute from it (a few
 * nodes without weights); the tail recomputes them. Every path to a replaced tensor passes its
 * dominator, so the result is still a cut.
 */
function mergeUnderDominators(cut: readonly string[], ctx: MergeContext): string[] {
  const { idom, depth, interior, bytesOf } = ctx;
  let current = [...cut];
  for (;;) {
    // Every interior dominator of two or more cut tensors, with the tensors it dominates.
    const under = new Map<string, string[]>();
    for (const c of current) {
      for (let a = idom.get(c)!; interior.has(a); a = idom.get(a)!) under.set(a, [...(under.get(a) ?? []), c]);
    }
    let best: { a: string; covered: string[]; saving: number } | undefined;
    for (const [a, covered] of under) {
      if (covered.length < 2) continue;
      const saving = covered.reduce((sum, c) => sum + bytesOf(c), 0) - bytesOf(a);
      // Deepest first on ties, so the replacement stays as close to the cut as it can.
      const better = !best || saving > best.saving || (saving === best.saving && depth.get(a)! > depth.get(best.a)!);
      if (saving >= 0 && better && cheapToRecompute(ctx, covered, a)) {
        best = { a, covered, saving };
      }
    }
    if (!best) return current;
    const covered = new Set(best.covered);
    current = [...current.filter((c) => !covered.has(c)), best.a];
  }
}
