/**
 * What the side-by-side bench compares between strategies, read from the bundle's task rather than assuming class
 * logits: every final output of every request (a strategy that drops one fails), the primary output's prediction
 * where the task defines one (a class for classification, a class per pixel for segmentation), and each final
 * output's values. Pure, so it is unit-tested (bench/side-by-side/final-answers.test.ts).
 */
import {
  type BundleManifest,
  DTYPE_SPECS,
  isTensorDtype,
  type Task,
  taskHasConfidence,
  type TensorSpec,
} from '@cleave/proto';

/** The outputs a request of a model answers with, as the bundle says. */
export interface BenchFinals {
  /** `model.task`; classification for bundles written before tasks. */
  readonly task: Task;
  /** Every output that is not an exit, in model order. */
  readonly names: readonly string[];
  /** The primary final output (`model.final`, else the first final output). */
  readonly primary: string;
}

/** The final outputs of a bundle: every output that is not an exit, as the edge agent answers. */
export function benchFinals(manifest: BundleManifest): BenchFinals {
  const exits = new Set((manifest.exits ?? []).map((e) => e.output));
  const finals = manifest.model.outputs.map((o) => o.name).filter((n) => !exits.has(n));
  const primary = manifest.model.final ?? finals[0]!;
  const names = finals.includes(primary) ? finals : [primary, ...finals];
  return { task: manifest.model.task ?? 'classification', names, primary };
}

/** One output tensor as a strategy returned it. */
export interface BenchTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: ArrayLike<number | bigint>;
}

/** One final output of one request, as the bench keeps it (values strided down to at most {@link MAX_VALUES}). */
export interface OutputAnswer {
  readonly dims: readonly number[];
  readonly values: readonly number[];
}

/** What one request answered: every final output, and the primary's prediction where the task defines one. */
export interface RequestAnswer {
  /** Class (classification) or class per pixel (segmentation) of the primary output; null for other tasks. */
  readonly predicted: readonly number[] | null;
  readonly outputs: Readonly<Record<string, OutputAnswer>>;
}

/** Values kept per output and request: enough to compare, small enough for IPC. */
export const MAX_VALUES = 4096;

function argmaxAt(data: ArrayLike<number | bigint>, offset: number, count: number, stride: number): number {
  let best = 0;
  let bestValue = Number(data[offset]);
  for (let k = 1; k < count; k += 1) {
    const v = Number(data[offset + k * stride]);
    if (v > bestValue) [best, bestValue] = [k, v];
  }
  return best;
}

/**
 * The prediction of the primary output for a task with a confidence: the argmax over classes of `[N, K]` logits
 * (one per sample), or over the channel dim of `[N, K, H, W]` logits (one per pixel). Null for the other tasks,
 * whose outputs have no class to read.
 */
export function predictionOf(task: Task, tensor: BenchTensor): number[] | null {
  if (!taskHasConfidence(task)) return null;
  const [n = 1, k = tensor.data.length, ...rest] = tensor.dims;
  const pixels = task === 'segmentation' ? rest.reduce((a, b) => a * b, 1) : 1;
  const out: number[] = [];
  for (let s = 0; s < n; s += 1) {
    for (let p = 0; p < pixels; p += 1) out.push(argmaxAt(tensor.data, s * k * pixels + p, k, pixels));
  }
  return out;
}

/**
 * Summarises one request's outputs. Outputs are matched by name, else by position (a whole-model file whose output
 * names differ from the bundle's); a final output missing from `outputs` throws, so no strategy passes with a
 * partial answer.
 */
export function answerOf(finals: BenchFinals, outputs: readonly BenchTensor[], what: string): RequestAnswer {
  const byName = new Map(outputs.map((o) => [o.name, o]));
  const samePosition = outputs.length === finals.names.length;
  const answers: Record<string, OutputAnswer> = {};
  let primary: BenchTensor | undefined;
  finals.names.forEach((name, i) => {
    const tensor = byName.get(name) ?? (samePosition ? outputs[i] : undefined);
    if (tensor === undefined) {
      throw new Error(`${what}: no final output '${name}' (got ${outputs.map((o) => o.name).join(', ') || 'none'})`);
    }
    if (name === finals.primary) primary = tensor;
    const stride = Math.max(1, Math.ceil(tensor.data.length / MAX_VALUES));
    const values: number[] = [];
    for (let j = 0; j < tensor.data.length; j += stride) values.push(Number(tensor.data[j]));
    answers[name] = { dims: [...tensor.dims], values };
  });
  return { predicted: primary === undefined ? null : predictionOf(finals.task, primary), outputs: answers };
}

/** How a strategy's final outputs compare with the full model's on the same requests. */
export interface OutputComparison {
  readonly output: string;
  readonly primary: boolean;
  /** Requests compared. */
  readonly n: number;
  /** Percent of predictions (samples, or pixels for segmentation) equal to the full model's; null without one. */
  readonly agreementPct: number | null;
  /** Largest |a − b| over every compared value, relative to the full model's largest |b| (0 when both are 0). */
  readonly maxRelativeError: number;
  /** Requests whose output had other dims than the full model's. */
  readonly dimMismatches: number;
}

/** Compares `answers` with the full model's `reference` answers, request by request, for every final output. */
export function compareAnswers(
  finals: BenchFinals,
  reference: readonly RequestAnswer[],
  answers: readonly RequestAnswer[],
): OutputComparison[] {
  const n = Math.min(reference.length, answers.length);
  return finals.names.map((name) => {
    let same = 0;
    let total = 0;
    let maxDiff = 0;
    let maxRef = 0;
    let dimMismatches = 0;
    const primary = name === finals.primary;
    for (let r = 0; r < n; r += 1) {
      const a = answers[r]!;
      const b = reference[r]!;
      const ao = a.outputs[name];
      const bo = b.outputs[name];
      if (ao === undefined || bo === undefined) continue;
      if (ao.dims.join('x') !== bo.dims.join('x')) {
        dimMismatches += 1;
        continue;
      }
      for (let j = 0; j < Math.min(ao.values.length, bo.values.length); j += 1) {
        maxDiff = Math.max(maxDiff, Math.abs(ao.values[j]! - bo.values[j]!));
        maxRef = Math.max(maxRef, Math.abs(bo.values[j]!));
      }
      if (primary && a.predicted !== null && b.predicted !== null) {
        const m = Math.min(a.predicted.length, b.predicted.length);
        for (let j = 0; j < m; j += 1) if (a.predicted[j] === b.predicted[j]) same += 1;
        total += Math.max(a.predicted.length, b.predicted.length);
      }
    }
    return {
      output: name,
      primary,
      n,
      agreementPct: primary && taskHasConfidence(finals.task) && total > 0 ? (100 * same) / total : null,
      maxRelativeError: maxRef === 0 ? (maxDiff === 0 ? 0 : Infinity) : maxDiff / maxRef,
      dimMismatches,
    };
  });
}

/**
 * The cloud-only baselines' reply: every final output's elements, little-endian, one after the other in final
 * order, with no envelope (one float32 output is exactly its f32 bytes). `specs` are the final outputs' specs.
 */
export function splitRawReply(specs: readonly TensorSpec[], bytes: Uint8Array): BenchTensor[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  const out = specs.map((spec): BenchTensor => {
    const dims = spec.shape.map((d, i) => (i === 0 ? 1 : d));
    if (!dims.every((d): d is number => typeof d === 'number')) {
      throw new Error(`cloud-only baseline: output '${spec.name}' has symbolic dims [${spec.shape.join(', ')}]`);
    }
    if (!isTensorDtype(spec.dtype)) throw new Error(`cloud-only baseline: output '${spec.name}' is ${spec.dtype}`);
    const count = dims.reduce((a, b) => a * b, 1);
    const width = DTYPE_SPECS[spec.dtype].bytes;
    if (offset + count * width > bytes.byteLength) {
      throw new Error(`cloud-only baseline: a ${bytes.byteLength}-byte reply is too short for output '${spec.name}'`);
    }
    const data: number[] = new Array<number>(count);
    for (let i = 0; i < count; i += 1, offset += width) {
      data[i] =
        spec.dtype === 'float32'
          ? view.getFloat32(offset, true)
          : spec.dtype === 'int64'
            ? Number(view.getBigInt64(offset, true))
            : spec.dtype === 'int32'
              ? view.getInt32(offset, true)
              : view.getUint8(offset);
    }
    return { name: spec.name, dims, data };
  });
  if (offset !== bytes.byteLength) {
    throw new Error(`cloud-only baseline: ${bytes.byteLength - offset} bytes left after every final output`);
  }
  return out;
}

/** One line per strategy: how its final outputs compare with the full model's (edge-only) on the same requests. */
export function comparisonLine(strategy: string, comparisons: readonly OutputComparison[]): string {
  const parts = comparisons.map((c) => {
    const agreement = c.agreementPct === null ? '' : `${c.agreementPct.toFixed(2)}% agreement, `;
    const dims = c.dimMismatches > 0 ? `, ${c.dimMismatches} with other dims` : '';
    return `${c.output}${c.primary ? ' (primary)' : ''}: ${agreement}max rel. error ${c.maxRelativeError.toFixed(4)}${dims}`;
  });
  return `${strategy} vs edge-only on ${comparisons[0]?.n ?? 0} requests — ${parts.join('; ')}`;
}
