import { DTYPE_SPECS, isElementType } from '@cleave/proto';
import { create, OnnxSchema, TensorProto_DataType, withFields, type onnx } from '../onnx/onnx-schema.js';
import { encodeOnnxModel, type TensorSpec } from '../onnx/onnx-model.js';
import { OnnxModelError, OnnxModelErrorCode } from '../onnx/onnx-errors.js';
import type { GraphIndex } from './graph-index.js';
import type { ProbedTensor } from './shape-probe.js';

/**
 * The two sub-models of one cut and the tensors that cross between them. Serialising copies the
 * weights, so the ONNX bytes are produced on demand rather than for every candidate at once.
 */
export interface SplitModels {
  /** Serialises graph inputs → wire tensors (plus any extra head outputs). */
  readonly head: () => Uint8Array;
  /** Serialises wire tensors → graph outputs. */
  readonly tail: () => Uint8Array;
  /**
   * Tensors that cross the wire: the cut, plus any small integer shape tensors the tail cannot recompute
   * (a Reshape in the tail whose shape came from a tensor that stayed on the edge). Never a float tensor
   * derived from shapes (a positional table sliced to the sequence length): the tail recomputes those.
   */
  readonly wire: readonly TensorSpec[];
  /** Exit outputs the head produces, in model output order. */
  readonly exits: readonly string[];
}

/** Options for {@link splitAtCut}. */
export interface SplitOptions {
  /**
   * Early-exit outputs. Those the head can compute without any of the tail's nodes become extra head
   * outputs; the others are dropped for this split (an exit in the cloud saves nothing). @default none
   */
  readonly exitOutputs?: readonly string[];
}

/** A graph-level ValueInfo with a symbolic batch dim where the probe saw one. */
export function specToValueInfo(spec: TensorSpec): onnx.ValueInfoProto {
  return create(OnnxSchema.ValueInfoProto, {
    name: spec.name,
    type: {
      value: {
        case: 'tensorType',
        value: {
          elemType: isElementType(spec.dtype) ? DTYPE_SPECS[spec.dtype].onnxElemType : TensorProto_DataType.FLOAT,
          shape: {
            dim: spec.shape.map((d) => ({
              value:
                typeof d === 'number'
                  ? { case: 'dimValue' as const, value: BigInt(d) }
                  : { case: 'dimParam' as const, value: d ?? 'batch' },
            })),
          },
        },
      },
    },
  });
}

/** Integer shape tensors up to this many elements may cross the wire (a shape vector, a dim, a size). */
const MAX_SENT_SHAPE_ELEMENTS = 8;
const INTEGER_DTYPES = new Set(['int64', 'int32', 'int16', 'int8', 'uint8', 'uint16', 'uint32', 'uint64', 'bool']);

/**
 * Whether a shape-kind tensor the tail cannot recompute may be sent: a small integer or bool tensor
 * that does not scale with the batch. Shape and Size outputs always qualify, so walking back from any
 * shape tensor ends at something sendable.
 */
function sendableShape(index: GraphIndex, probed: ReadonlyMap<string, ProbedTensor>, t: string): boolean {
  const p = index.producer.get(t);
  const op = p === undefined ? undefined : index.nodes[p]!.opType;
  if (op === 'Shape' || op === 'Size') return true;
  const seen = probed.get(t);
  if (seen === undefined) return false;
  return INTEGER_DTYPES.has(seen.spec.dtype) && !seen.batched && seen.elementsPerSample <= MAX_SENT_SHAPE_ELEMENTS;
}

/** Nodes (in graph order) needed to compute `targets`, treating `available` tensors as given. */
function closure(index: GraphIndex, targets: readonly string[], available: ReadonlySet<string>): number[] {
  const picked = new Set<number>();
  const stack = [...targets];
  const visited = new Set<string>();
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (visited.has(name) || available.has(name)) continue;
    visited.add(name);
    const p = index.producer.get(name);
    if (p === undefined || picked.has(p)) continue;
    picked.add(p);
    stack.push(...index.nodes[p]!.input.filter((n) => n !== ''));
  }
  return [...picked].sort((a, b) => a - b);
}

/** Builds a standalone model from a subset of nodes, keeping only the initializers they read. */
function subModel(
  index: GraphIndex,
  name: string,
  nodeIds: readonly number[],
  inputs: readonly onnx.ValueInfoProto[],
  outputs: readonly onnx.ValueInfoProto[],
): Uint8Array {
  const { model } = index;
  const nodes = nodeIds.map((i) => index.nodes[i]!);
  const used = new Set(nodes.flatMap((n) => n.input));
  const produced = new Set(nodes.flatMap((n) => n.output));
  const graph = create(OnnxSchema.GraphProto, {
    name,
    node: nodes,
    input: [...inputs],
    output: [...outputs],
    initializer: model.graph.initializer.filter((t) => used.has(t.name)),
    valueInfo: model.graph.valueInfo.filter((v) => produced.has(v.name)),
    // Graph metadata describes the whole graph, so both halves carry it, as they carry the model's.
    metadataProps: model.graph.metadataProps,
  });
  // Likewise graph fields newer than the schema: dropping them silently is what the schema avoids.
  if (model.graph.$unknown !== undefined) graph.$unknown = model.graph.$unknown;
  return encodeOnnxModel(withFields(OnnxSchema.ModelProto, model.proto, { graph }));
}

/**
 * Splits the model at a cut into a head (graph inputs → cut) and a tail (cut → graph outputs).
 * Weights and constants are copied to whichever side reads them; they never cross the wire.
 * Throws OnnxModelError `bad_cut` when the tensors do not separate inputs from outputs.
 */
export function splitAtCut(
  index: GraphIndex,
  probed: ReadonlyMap<string, ProbedTensor>,
  cut: readonly string[],
  options: SplitOptions = {},
): SplitModels {
  const { model } = index;
  const cutSet = new Set(cut);
  const inputNames = new Set(model.inputs.map((i) => i.name));
  const exitNames = new Set(options.exitOutputs ?? []);
  const tailOutputs = model.outputs.filter((o) => !exitNames.has(o.name));

  // strict: computable from the cut alone. relaxed: also counting shape tensors as available,
  // because a shape tensor the tail cannot recompute is sent along with the cut.
  const memo = { strict: new Map<string, boolean>(), relaxed: new Map<string, boolean>() };
  const computable = (t: string, mode: 'strict' | 'relaxed'): boolean => {
    const cached = memo[mode].get(t);
    if (cached !== undefined) return cached;
    let ok: boolean;
    if (cutSet.has(t) || index.kind.get(t) === 'static') ok = true;
    else if (inputNames.has(t)) ok = false;
    else {
      const p = index.producer.get(t);
      ok =
        p !== undefined &&
        index.nodes[p]!.input.every(
          (n) => n === '' || (mode === 'relaxed' && index.kind.get(n) === 'shape') || computable(n, mode),
        );
    }
    memo[mode].set(t, ok);
    return ok;
  };
  /** The last tensor before a graph input on a path that bypasses the cut, for the error message. */
  const leak = (t: string): string => {
    const p = index.producer.get(t);
    const next = (index.nodes[p ?? -1]?.input ?? []).find(
      (n) => n !== '' && index.kind.get(n) === 'data' && !computable(n, 'relaxed'),
    );
    return next === undefined || inputNames.has(next) ? t : leak(next);
  };

  // Walk back from the tail's outputs. A shape tensor the tail cannot recompute is sent if it is a small
  // integer one (shape arithmetic); any other (a float table sliced or expanded by a shape, a scale from a
  // dim) is recomputed in the tail from the integer shape tensors it reads, which are sent in its place.
  const wireExtra: string[] = [];
  const visited = new Set<string>();
  const stack = tailOutputs.map((o) => o.name);
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (visited.has(t) || cutSet.has(t) || index.kind.get(t) === 'static') continue;
    visited.add(t);
    if (index.kind.get(t) === 'shape' && !computable(t, 'strict') && sendableShape(index, probed, t)) {
      wireExtra.push(t);
      continue;
    }
    if (!computable(t, 'relaxed')) {
      throw new OnnxModelError(
        OnnxModelErrorCode.BadCut,
        `${model.source}: [${cut.join(', ')}] is not a cut: the tail would need '${leak(t)}', which is computed from the graph input without passing through the cut`,
      );
    }
    const p = index.producer.get(t);
    if (p !== undefined) stack.push(...index.nodes[p]!.input.filter((n) => n !== ''));
  }

  const wireNames = [...cut, ...wireExtra.filter((t) => !cutSet.has(t))];
  const wire = wireNames.map((name) => {
    const spec = probed.get(name)?.spec;
    if (spec === undefined) {
      throw new OnnxModelError(
        OnnxModelErrorCode.BadCut,
        `${model.source}: no shape is known for cut tensor '${name}'`,
      );
    }
    return spec;
  });
  const originalOutputs = new Map(model.graph.output.map((o) => [o.name, o]));
  const originalInputs = model.graph.input.filter((i) => inputNames.has(i.name));

  // An exit belongs to the head only if computing it needs none of the tail's nodes.
  const tailNodes = new Set(
    closure(
      index,
      tailOutputs.map((o) => o.name),
      new Set(wireNames),
    ),
  );
  const headExtra = model.outputs
    .map((o) => o.name)
    .filter((n) => exitNames.has(n) && closure(index, [n], inputNames).every((i) => !tailNodes.has(i)));
  const headTargets = [...wireNames, ...headExtra];
  const head = (): Uint8Array =>
    subModel(index, 'cleave_head', closure(index, headTargets, inputNames), originalInputs, [
      ...wire.map(specToValueInfo),
      ...[...headExtra].map((n) => originalOutputs.get(n)!),
    ]);
  const tail = (): Uint8Array =>
    subModel(
      index,
      'cleave_tail',
      closure(
        index,
        tailOutputs.map((o) => o.name),
        new Set(wireNames),
      ),
      wire.map(specToValueInfo),
      tailOutputs.map((o) => originalOutputs.get(o.name)!),
    );
  return { head, tail, wire, exits: headExtra };
}
