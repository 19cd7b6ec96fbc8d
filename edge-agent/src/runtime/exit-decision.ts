import { type ExitConfidenceMeasure, exitConfidence } from '@cleave/proto';
import type { AgentTensor } from './tensor-io.js';

/** The exits a head computes, in order, with their outputs for one request. */
export interface ExitOutputs {
  readonly names: readonly string[];
  readonly tensors: ReadonlyMap<string, AgentTensor>;
}

/** An early answer for a whole request. */
export interface EarlyAnswer {
  /** The deepest exit any sample left at (for a batch of one, the exit it left at). */
  readonly exit: string;
  /** Per sample, the exit it left at. */
  readonly perSample: readonly string[];
  /** Rows of the chosen exits, stacked like the final output ([N, classes]). */
  readonly logits: Float32Array;
  readonly dims: number[];
}

/**
 * Applies the operating point: each sample leaves at the first exit (in order) whose confidence reaches its
 * threshold. The request is answered early only when every sample of it leaves somewhere; a batch with one
 * hard sample goes on whole, which keeps a request's answers from one source. Exits without a threshold (null)
 * or with outputs that are not [N, classes] float rows are skipped.
 */
export function decideEarlyExit(
  exits: ExitOutputs,
  thresholds: Readonly<Record<string, number | null>>,
  measure: ExitConfidenceMeasure,
): EarlyAnswer | undefined {
  const usable = exits.names
    .map((name) => ({ name, tensor: exits.tensors.get(name), threshold: thresholds[name] }))
    .filter(
      (e): e is { name: string; tensor: AgentTensor & { dtype: 'float32' }; threshold: number } =>
        e.tensor !== undefined &&
        e.tensor.dtype === 'float32' &&
        e.tensor.dims.length === 2 &&
        typeof e.threshold === 'number',
    );
  if (usable.length === 0) return undefined;
  const [samples, classes] = usable[0]!.tensor.dims as [number, number];
  if (samples === 0 || usable.some((e) => e.tensor.dims[0] !== samples || e.tensor.dims[1] !== classes)) {
    return undefined;
  }
  const logits = new Float32Array(samples * classes);
  const perSample: string[] = [];
  let deepest = 0;
  for (let i = 0; i < samples; i++) {
    const offset = i * classes;
    const k = usable.findIndex((e) => exitConfidence(e.tensor.data, offset, classes, measure) >= e.threshold);
    if (k < 0) return undefined;
    deepest = Math.max(deepest, k);
    perSample.push(usable[k]!.name);
    logits.set(usable[k]!.tensor.data.subarray(offset, offset + classes), offset);
  }
  return { exit: usable[deepest]!.name, perSample, logits, dims: [samples, classes] };
}
