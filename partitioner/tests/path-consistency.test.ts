import { describe, expect, it } from 'vitest';
import { mapCodecs } from '@cleave/proto';
import { checkPathConsistency } from '../src/consistency/path-consistency.js';
import { buildCandidates, type Candidate } from '../src/graph/candidates.js';
import { indexGraph } from '../src/graph/graph-index.js';
import { splitAtCut } from '../src/graph/graph-surgery.js';
import { probeTensorShapes } from '../src/graph/shape-probe.js';
import { decodeModel, encodeModel } from '../src/onnx/onnx-schema.js';
import { GraphBuilder, padMaxPool } from './model-fixtures.js';

describe('path consistency across onnxruntime optimization levels', () => {
  it('a zero Pad fused into a stride-1 MaxPool makes the full model disagree with a split at the Pad; a lower level agrees', async () => {
    const model = padMaxPool();
    const index = indexGraph(model);
    const probed = await probeTensorShapes(index);
    const candidates = buildCandidates(index, probed);
    const pad = index.nodes.find((n) => n.opType === 'Pad')!.output[0]!;
    const atPad = candidates.find((c) => c.wire.length === 1 && c.wire[0]!.name === pad);
    expect(atPad).toBeDefined();

    const result = await checkPathConsistency(model, candidates);
    const [all] = result.checks;
    expect(all!.level).toBe('all');
    expect(all!.consistent).toBe(false);
    expect(all!.worstError).toBeGreaterThan(1e-2);
    expect(all!.worst?.output).toBe('out');
    expect(result.consistent).toBe(true);
    expect(result.level).not.toBe('all');
    const chosen = result.checks[result.checks.length - 1]!;
    expect(chosen.level).toBe(result.level);
    expect(chosen.worstError).toBeLessThanOrEqual(1e-4);
    // Levels are tried in order and the search stops at the first consistent one.
    expect(result.checks.map((c) => c.level)).toEqual(
      ['all', 'extended', 'basic', 'disabled'].slice(0, result.checks.length),
    );
    expect(result.checks.slice(0, -1).every((c) => !c.consistent)).toBe(true);
  });

  it('a model without such a fusion is consistent at "all", checked once', async () => {
    const g = new GraphBuilder(5);
    const x = g.input('input', 'float32', ['N', 3, 8, 8]);
    const a = g.op('Relu', [g.conv(x, 3, 4, 3)]);
    g.op('Relu', [g.conv(a, 4, 4, 3)], {}, ['out']);
    g.output('out', 'float32', ['N', 4, 8, 8]);
    const model = g.build();
    const index = indexGraph(model);
    const result = await checkPathConsistency(model, buildCandidates(index, await probeTensorShapes(index)));
    expect(result).toMatchObject({ level: 'all', consistent: true });
    expect(result.checks).toHaveLength(1);
  });

  it('compares the exits a head computes with the full model too', async () => {
    // x → Relu → a → Relu → out, and an exit from a. A head whose exit is computed wrongly is caught.
    const g = new GraphBuilder(2);
    const x = g.input('input', 'float32', ['N', 4]);
    const a = g.op('Relu', [g.op('MatMul', [x, g.weight([4, 4], 1)])]);
    g.op('MatMul', [a, g.weight([4, 3], 1)], {}, ['exit1']);
    g.op('Relu', [g.op('MatMul', [a, g.weight([4, 3], 1)])], {}, ['out']);
    g.output('exit1', 'float32', ['N', 3]);
    g.output('out', 'float32', ['N', 3]);
    const model = g.build();
    const index = indexGraph(model);
    const probed = await probeTensorShapes(index);
    const split = splitAtCut(index, probed, [a], { exitOutputs: ['exit1'] });
    expect(split.exits).toEqual(['exit1']);
    const candidate = (head: () => Uint8Array): Candidate => ({
      id: 'split-01',
      kind: 'split',
      wire: split.wire,
      origin: 'dominator',
      head,
      tail: split.tail,
      bytesPerSample: mapCodecs(() => 0),
      exits: split.exits,
    });
    const good = await checkPathConsistency(model, [candidate(split.head)], { levels: ['all'] });
    expect(good.consistent).toBe(true);
    // The same head with the exit's weights scaled: only the exit differs.
    const broken = (): Uint8Array => {
      const head = decodeModel(split.head());
      const exitNode = head.graph!.node.find((n) => n.output[0] === 'exit1')!;
      const weight = head.graph!.initializer.find((t) => t.name === exitNode.input[1])!;
      weight.floatData = weight.floatData.map((v) => v * 1.5);
      return encodeModel(head);
    };
    const bad = await checkPathConsistency(model, [candidate(broken)], { levels: ['all'] });
    expect(bad.consistent).toBe(false);
    expect(bad.checks[0]!.worst).toEqual({ candidate: 'split-01', output: 'exit1' });
  });
});
