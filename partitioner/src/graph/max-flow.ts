/**
 * Dinic's max-flow on a small directed graph, returning the source side of a minimum cut. Used to
 * find the cheapest set of tensors to send (DADS-style min s–t cut over the model DAG).
 */
export class FlowNetwork {
  private readonly head: number[][] = [];
  private readonly to: number[] = [];
  private readonly cap: number[] = [];

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) this.head.push([]);
  }

  /** Adds edge u→v with capacity `capacity`; returns the edge id. */
  addEdge(u: number, v: number, capacity: number): number {
    const id = this.to.length;
    this.to.push(v, u);
    this.cap.push(capacity, 0);
    this.head[u]!.push(id);
    this.head[v]!.push(id + 1);
    return id;
  }

  /** Runs max-flow from `s` to `t`; returns the flow value and the vertices reachable from `s` afterwards. */
  minCut(s: number, t: number): { flow: number; sourceSide: Set<number> } {
    let flow = 0;
    for (;;) {
      const level = this.bfs(s);
      if (level[t] === -1) break;
      const it = new Array<number>(this.size).fill(0);
      for (;;) {
        const pushed = this.dfs(s, t, Infinity, level, it);
        if (pushed === 0) break;
        flow += pushed;
        if (!Number.isFinite(flow)) return { flow, sourceSide: new Set() };
      }
    }
    const level = this.bfs(s);
    const sourceSide = new Set<number>();
    level.forEach((l, v) => l !== -1 && sourceSide.add(v));
    return { flow, sourceSide };
  }

  private bfs(s: number): number[] {
    const level = new Array<number>(this.size).fill(-1);
    level[s] = 0;
    const queue = [s];
    for (let q = 0; q < queue.length; q++) {
      const u = queue[q]!;
      for (const e of this.head[u]!) {
        const v = this.to[e]!;
        if (this.cap[e]! > 0 && level[v] === -1) {
          level[v] = level[u]! + 1;
          queue.push(v);
        }
      }
    }
    return level;
  }

  private dfs(u: number, t: number, limit: number, level: number[], it: number[]): number {
    if (u === t) return limit;
    const edges = this.head[u]!;
    for (; it[u]! < edges.length; it[u]!++) {
      const e = edges[it[u]!]!;
      const v = this.to[e]!;
      if (this.cap[e]! <= 0 || level[v] !== level[u]! + 1) continue;
      const pushed = this.dfs(v, t, Math.min(limit, this.cap[e]!), level, it);
      if (pushed > 0) {
        this.cap[e]! -= pushed;
        this.cap[e ^ 1]! += pushed;
        return pushed;
      }
    }
    return 0;
  }
}
