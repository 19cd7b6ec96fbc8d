import { type CodecBytes, estimateTensorBytes, FLOAT_DTYPE, mapCodecs } from '@cleave/proto';
import type { TensorSpec } from '../onnx/onnx-model.js';
import { dtypeBytes } from '../runtime/ort-tensors.js';
import { findCuts, type Cut } from './cut-analysis.js';
import type { GraphIndex } from './graph-index.js';
import { splitAtCut } from './graph-surgery.js';
import type { ProbedTensor } from './shape-probe.js';

/** Where the work of a candidate runs. */
export type CandidateKind = 'edge-only' | 'cloud-only' | 'split';

/** A way to run the model: a split (head on the edge, tail in the cloud), or all on one side. */
export interface Candidate {
  /** Stable across machines for the same model and options, so separate edge and cloud profiles line up. */
  readonly id: string;
  readonly kind: CandidateKind;
  /** Tensors sent to the cloud ([] for edge-only; the model inputs for cloud-only). */
  readonly wire: readonly TensorSpec[];
  readonly origin: Cut['origin'] | 'whole-model';
  /** Serialises the head ONNX (null for cloud-only). Weights are copied, so call it only when needed. */
  readonly head: (() => Uint8Array) | null;
  /** Serialises the tail ONNX (null for edge-only). */
  readonly tail: (() => Uint8Array) | null;
  readonly bytesPerSample: CodecBytes;
  /** Early-exit outputs this candidate's head computes (all of them for edge-only). */
  readonly exits: readonly string[];
}

/**
 * Bytes per sample on the wire for each codec: float tensors as the codec's spec sizes them (with its per-tensor
 * parameters), other types raw under every codec.
 */
export function wireBytes(wire: readonly TensorSpec[], probed: ReadonlyMap<string, ProbedTensor>): CodecBytes {
  return mapCodecs((codec) => {
    let bytes = 0;
    for (const spec of wire) {
      const p = probed.get(spec.name);
      const elements =
        p?.elementsPerSample ?? spec.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
      bytes +=
        spec.dtype === FLOAT_DTYPE
          ? estimateTensorBytes(codec, elements)
          : (p?.bytesPerSample ?? elements * dtypeBytes(spec.dtype));
    }
    return bytes;
  });
}

/**
 * Every candidate for a model: edge-only, cloud-only, and a split at each cut found by
 * {@link findCuts}, with its head and tail already built.
 */
export function buildCandidates(
  index: GraphIndex,
  probed: ReadonlyMap<string, ProbedTensor>,
  options: { exitOutputs?: readonly string[] } = {},
): Candidate[] {
  const tensorBytes = new Map([...probed].map(([n, p]) => [n, p.bytesPerSample]));
  const exitOutputs = options.exitOutputs ?? [];
  const tailOutputs = index.model.outputs.map((o) => o.name).filter((n) => !exitOutputs.includes(n));
  const cuts = findCuts(index, { tensorBytes, tailOutputs });
  const whole = (): Uint8Array => index.model.bytes;
  const inputs = index.model.inputs.map((i) => probed.get(i.name)?.spec ?? i);
  const candidates: Candidate[] = [
    {
      id: 'edge-only',
      kind: 'edge-only',
      wire: [],
      origin: 'whole-model',
      head: whole,
      tail: null,
      bytesPerSample: wireBytes([], probed),
      exits: [...exitOutputs],
    },
  ];
  cuts.forEach((cut, k) => {
    const split = splitAtCut(index, probed, cut.tensors, { exitOutputs });
    candidates.push({
      id: `split-${String(k + 1).padStart(2, '0')}`,
      kind: 'split',
      wire: split.wire,
      origin: cut.origin,
      head: split.head,
      tail: split.tail,
      bytesPerSample: wireBytes(split.wire, probed),
      exits: split.exits,
    });
  });
  candidates.push({
    id: 'cloud-only',
    kind: 'cloud-only',
    wire: inputs,
    origin: 'whole-model',
    head: null,
    tail: whole,
    bytesPerSample: wireBytes(inputs, probed),
    exits: [],
  });
  return candidates;
}
