import { describe, expect, it } from 'vitest';
import { buildCandidates } from '../src/graph/candidates.js';
import { findCuts } from '../src/graph/cut-analysis.js';
import { indexGraph } from '../src/graph/graph-index.js';
import { splitAtCut } from '../src/graph/graph-surgery.js';
import { probeTensorShapes } from '../src/graph/shape-probe.js';
import { espnetLike, expectExact, maskedEncoder } from './model-fixtures.js';

const tensorBytesOf = (probed: Awaited<ReturnType<typeof probeTensorShapes>>): Map<string, number> =>
  new Map([...probed].map(([n, p]) => [n, p.bytesPerSample]));

describe('shape-derived tensors (a positional table sliced to the sequence length)', () => {
  it('are never sent: the tail recomputes them from a small integer shape tensor', async () => {
    const model = maskedEncoder(1);
    const index = indexGraph(model);
    const probed = await probeTensorShapes(index);
    const slice = index.nodes.find((n) => n.opType === 'Slice' && index.kind.get(n.input[0]!) === 'static')!;
    const pos = slice.output[0]!;
    expect(index.kind.get(pos)).toBe('shape');
    expect(probed.get(pos)?.spec.dtype).toBe('float32');
    // Cut right after the embedding lookup: the tail adds the positional table, which it must recompute.
    const emb = index.nodes.find((n) => n.opType === 'Gather' && n.input[1] === 'input_ids')!.output[0]!;
    const split = splitAtCut(index, probed, [emb, 'attention_mask']);
    expect(split.wire.map((w) => w.name)).not.toContain(pos);
    expect(split.wire.filter((w) => w.dtype === 'float32').map((w) => w.name)).toEqual([emb]);
    // What crosses besides the cut is integer shape data of a few elements.
    for (const w of split.wire.slice(2)) {
      expect(w.dtype).toBe('int64');
      expect(probed.get(w.name)!.elementsPerSample).toBeLessThanOrEqual(8);
    }
    await expectExact(model, [
      { id: 'emb', kind: 'split', wire: split.wire, head: split.head, tail: split.tail, exits: [] } as never,
    ]);
  });
});

describe('more cuts: level cuts between dominators', () => {
  it('a masked transformer encoder gets a cut in every block with at most 3 wire tensors, all exact', async () => {
    const blocks = 4;
    const model = maskedEncoder(blocks);
    const index = indexGraph(model);
    const probed = await probeTensorShapes(index);
    const candidates = buildCandidates(index, probed);
    const splits = candidates.filter((c) => c.kind === 'split');
    // The attention mask reaches every block, so no single tensor dominates inside the encoder.
    const cuts = findCuts(index, { tensorBytes: tensorBytesOf(probed) });
    expect(cuts).toHaveLength(splits.length);
    // Block b spans the nodes after block b-1's last LayerNormalization up to its own.
    const blockEnds = index.nodes
      .flatMap((n, i) => (n.opType === 'LayerNormalization' ? [i] : []))
      .filter((_, k) => k % 2 === 1);
    expect(blockEnds).toHaveLength(blocks);
    // Where a cut is: the node producing its largest tensor (the hidden state, not the mask beside it).
    const bytes = tensorBytesOf(probed);
    const blockOf = (tensors: readonly string[]): number => {
      const at = (t: string): number => index.producer.get(t) ?? -1;
      const main = [...tensors].sort((a, b) => bytes.get(b)! - bytes.get(a)! || at(b) - at(a))[0]!;
      return blockEnds.findIndex((end) => at(main) <= end);
    };
    const covered = new Set(splits.flatMap((c, k) => (c.wire.length <= 3 ? [blockOf(cuts[k]!.tensors)] : [])));
    for (let b = 0; b < blocks; b++) expect(covered.has(b), `a cut in block ${b}`).toBe(true);
    expect(splits.filter((c) => c.origin === 'level').length).toBeGreaterThanOrEqual(blocks);
    await expectExact(model, candidates);
  });

  it('an ESPNet-style net gets at least 4 cuts spread between 10% and 90% of its nodes, all exact', async () => {
    const model = espnetLike();
    const index = indexGraph(model);
    const probed = await probeTensorShapes(index);
    const cuts = findCuts(index, { tensorBytes: tensorBytesOf(probed) });
    const total = index.nodes.length;
    const spread = cuts.filter((c) => c.headNodes >= 0.1 * total && c.headNodes <= 0.9 * total);
    expect(spread.length).toBeGreaterThanOrEqual(4);
    // Spread, not bunched: the middle cuts cover at least half of the network between them.
    const fractions = spread.map((c) => c.headNodes / total);
    expect(Math.max(...fractions) - Math.min(...fractions)).toBeGreaterThanOrEqual(0.5);
    for (const c of cuts) expect(() => splitAtCut(index, probed, c.tensors)).not.toThrow();
    await expectExact(model, buildCandidates(index, probed));
  });

  it('is deterministic, capped per stretch, and maxLevelCutsPerStretch 0 gives the old cuts', async () => {
    const model = espnetLike();
    const index = indexGraph(model);
    const tensorBytes = tensorBytesOf(await probeTensorShapes(index));
    const a = findCuts(index, { tensorBytes });
    const b = findCuts(indexGraph(model), { tensorBytes });
    expect(b).toEqual(a);
    expect(a.filter((c) => c.origin === 'level').length).toBeLessThanOrEqual(
      12 * (a.filter((c) => c.origin === 'min-cut').length + 1),
    );
    const capped = findCuts(index, { tensorBytes, maxLevelCutsPerStretch: 2 });
    expect(capped.filter((c) => c.origin === 'level').length).toBeLessThanOrEqual(
      2 * (capped.filter((c) => c.origin !== 'level').length + 1),
    );
    const old = findCuts(index, { tensorBytes, maxLevelCutsPerStretch: 0 });
    expect(old.every((c) => c.origin !== 'level')).toBe(true);
    expect(a.length).toBeGreaterThan(old.length);
    const keys = a.map((c) => c.tensors.join());
    expect(new Set(keys).size).toBe(keys.length);
  });
});
