import type { OnnxModel, TensorSpec } from '../onnx/onnx-model.js';
import { valueInfoToSpec } from '../onnx/onnx-model.js';
import type { onnx } from '../onnx/onnx-schema.js';
import { OnnxModelError, OnnxModelErrorCode } from '../onnx/onnx-errors.js';

/**
 * How a tensor's value depends on the model input:
 * - `static`: weights and constants, and anything computed only from them. Never crosses the wire;
 *   whichever side needs it computes or stores it.
 * - `shape`: depends on the input's shape but not its values: shape arithmetic (Shape → Gather →
 *   Concat feeding a Reshape), and also tensors computed from weights and such shapes (a positional
 *   table sliced to the sequence length, ConstantOfShape, a 1/sqrt(dim) scale). Never a cut tensor:
 *   the tail recomputes it from its shape sources; only small integer shape tensors whose source
 *   stayed on the edge cross the wire (see splitAtCut), never a float one.
 * - `data`: depends on input values. Only these can be cut tensors.
 */
export type TensorKind = 'static' | 'shape' | 'data';

/** Producer/consumer maps and tensor classification over a model's main graph, nodes in topological order. */
export interface GraphIndex {
  readonly model: OnnxModel;
  readonly nodes: readonly onnx.NodeProto[];
  /** Node index producing each tensor (graph inputs and initializers have none). */
  readonly producer: ReadonlyMap<string, number>;
  /** Node indices reading each tensor. */
  readonly consumers: ReadonlyMap<string, readonly number[]>;
  readonly kind: ReadonlyMap<string, TensorKind>;
  /** Specs known from the model's inputs, outputs and value_info. */
  readonly specs: ReadonlyMap<string, TensorSpec>;
}

const SHAPE_SOURCES = new Set(['Shape', 'Size']);

/** Orders nodes so each comes after the producers of its inputs (ONNX requires it, but exporters slip). */
function topologicalOrder(nodes: readonly onnx.NodeProto[], ready: Set<string>, source: string): onnx.NodeProto[] {
  const pending = [...nodes];
  const ordered: onnx.NodeProto[] = [];
  const available = new Set(ready);
  while (pending.length > 0) {
    const before = pending.length;
    for (let i = 0; i < pending.length;) {
      const node = pending[i]!;
      if (node.input.every((n) => n === '' || available.has(n))) {
        ordered.push(node);
        for (const o of node.output) available.add(o);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) {
      throw new OnnxModelError(
        OnnxModelErrorCode.DanglingReference,
        `${source}: the graph has a cycle or unresolvable inputs around node '${pending[0]?.name}'`,
      );
    }
  }
  return ordered;
}

/** Builds the {@link GraphIndex} of a validated model. */
export function indexGraph(model: OnnxModel): GraphIndex {
  const ready = new Set<string>([...model.initializerNames, ...model.inputs.map((i) => i.name)]);
  const nodes = topologicalOrder(model.graph.node, ready, model.source);
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  const kind = new Map<string, TensorKind>();
  for (const name of model.initializerNames) kind.set(name, 'static');
  for (const input of model.inputs) kind.set(input.name, 'data');
  nodes.forEach((node, i) => {
    const inputs = node.input.filter((n) => n !== '');
    for (const name of inputs) {
      const list = consumers.get(name) ?? [];
      list.push(i);
      consumers.set(name, list);
    }
    const inputKinds = inputs.map((n) => kind.get(n) ?? 'static');
    let outKind: TensorKind;
    if (SHAPE_SOURCES.has(node.opType)) outKind = inputKinds.every((k) => k === 'static') ? 'static' : 'shape';
    else if (inputKinds.includes('data')) outKind = 'data';
    else if (inputKinds.includes('shape')) outKind = 'shape';
    else outKind = 'static';
    for (const out of node.output) {
      if (out === '') continue;
      producer.set(out, i);
      kind.set(out, outKind);
    }
  });
  const specs = new Map<string, TensorSpec>();
  for (const info of [...model.graph.valueInfo, ...model.graph.output, ...model.graph.input]) {
    if (info.name) specs.set(info.name, valueInfoToSpec(info));
  }
  return { model, nodes, producer, consumers, kind, specs };
}

/** Data tensors read by a node (static and shape inputs are recomputed locally, never cut). */
export function dataInputs(index: GraphIndex, node: onnx.NodeProto): string[] {
  return node.input.filter((n) => n !== '' && index.kind.get(n) === 'data');
}
