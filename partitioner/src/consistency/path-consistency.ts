import ort from 'onnxruntime-node';
import type { Candidate } from '../graph/candidates.js';
import type { OnnxModel, TensorSpec } from '../onnx/onnx-model.js';
import { OnnxModelError, OnnxModelErrorCode } from '../onnx/onnx-errors.js';
import { concreteDims, syntheticInput } from '../runtime/ort-tensors.js';
import { OUTPUT_AGREEMENT_TOLERANCE, outputDeviation } from '@cleave/proto';

/** onnxruntime graph optimization levels Cleave may run a model at, most optimized first. */
export const OPTIMIZATION_LEVELS = ['all', 'extended', 'basic', 'disabled'] as const;
/** One of {@link OPTIMIZATION_LEVELS}; the value of onnxruntime's `graphOptimizationLevel` session option. */
export type OptimizationLevel = (typeof OPTIMIZATION_LEVELS)[number];

/** Options for {@link checkPathConsistency}. */
export interface PathConsistencyOptions {
  /** Levels to try, in order; the first at which every path agrees wins. @default OPTIMIZATION_LEVELS */
  readonly levels?: readonly OptimizationLevel[];
  /** Largest accepted deviation per output (proto's outputDeviation). @default OUTPUT_AGREEMENT_TOLERANCE */
  readonly tolerance?: number;
  /** Batch of the deterministic input. @default 2 */
  readonly batch?: number;
  readonly onProgress?: (level: OptimizationLevel, done: number, total: number) => void;
}

/** What one optimization level measured. */
export interface LevelCheck {
  readonly level: OptimizationLevel;
  /** Worst relative error over every split's tail outputs and head exits, against the full model at this level. */
  readonly worstError: number;
  /** The candidate and output where it occurred (absent when every path matched exactly). */
  readonly worst?: { readonly candidate: string; readonly output: string };
  readonly consistent: boolean;
}

/** The result of {@link checkPathConsistency}. */
export interface PathConsistency {
  /**
   * The level to create every session with (full model, heads and tails): the first tried at which all
   * paths agree, or the last one tried when none does.
   */
  readonly level: OptimizationLevel;
  readonly consistent: boolean;
  /** Each level tried, in order. */
  readonly checks: readonly LevelCheck[];
}

/** Integer inputs get ones (a valid token id, an all-attending mask); floats and bytes the synthetic pattern. */
function consistencyInput(spec: TensorSpec, batch: number, source: string): ort.Tensor {
  const dims = concreteDims(spec, batch, source);
  const count = dims.reduce((a, b) => a * b, 1);
  if (spec.dtype === 'int64') return new ort.Tensor('int64', new BigInt64Array(count).fill(1n), dims);
  if (spec.dtype === 'int32') return new ort.Tensor('int32', new Int32Array(count).fill(1), dims);
  if (spec.dtype === 'bool') return new ort.Tensor('bool', new Uint8Array(count).fill(1), dims);
  return syntheticInput(spec, batch, source);
}

/** The shared deviation measure (proto's outputDeviation); outputs of other dims deviate infinitely. */
function relativeError(reference: ort.Tensor, got: ort.Tensor): number {
  if (reference.dims.join() !== got.dims.join()) return Number.POSITIVE_INFINITY;
  return outputDeviation(reference.data as ArrayLike<number | bigint>, got.data as ArrayLike<number | bigint>);
}

async function createSession(bytes: Uint8Array, level: OptimizationLevel, what: string): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: level });
  } catch (err) {
    throw new OnnxModelError(
      OnnxModelErrorCode.RuntimeRejected,
      `${what}: onnxruntime cannot load it at optimization level '${level}': ${(err as Error).message.split('\n')[0]}`,
      { cause: err },
    );
  }
}

async function runOnce(
  bytes: Uint8Array,
  level: OptimizationLevel,
  feeds: Record<string, ort.Tensor>,
  what: string,
): Promise<ort.InferenceSession.ReturnType> {
  const session = await createSession(bytes, level, what);
  try {
    return await session.run(feeds);
  } catch (err) {
    throw new OnnxModelError(
      OnnxModelErrorCode.RuntimeRejected,
      `${what}: onnxruntime failed to run it at optimization level '${level}': ${(err as Error).message.split('\n')[0]}`,
      { cause: err },
    );
  } finally {
    await session.release();
  }
}

/** Runs every split head → tail at one level and compares tail outputs and head exits with the full model. */
async function checkLevel(
  model: OnnxModel,
  splits: readonly Candidate[],
  level: OptimizationLevel,
  feeds: Record<string, ort.Tensor>,
  tolerance: number,
  onProgress?: PathConsistencyOptions['onProgress'],
): Promise<LevelCheck> {
  const reference = await runOnce(model.bytes, level, feeds, `${model.source} (full model)`);
  let worstError = 0;
  let worst: LevelCheck['worst'];
  const compare = (candidate: string, outputs: ort.InferenceSession.ReturnType, names: readonly string[]): void => {
    for (const name of names) {
      const ref = reference[name];
      const got = outputs[name];
      if (ref === undefined || got === undefined) continue;
      const error = relativeError(ref, got);
      if (error > worstError) {
        worstError = error;
        worst = { candidate, output: name };
      }
    }
  };
  for (const [k, c] of splits.entries()) {
    onProgress?.(level, k, splits.length);
    const mid = await runOnce(c.head!(), level, feeds, `${model.source} head of ${c.id}`);
    compare(c.id, mid, c.exits);
    const wire = Object.fromEntries(c.wire.map((w) => [w.name, mid[w.name]!]));
    const out = await runOnce(c.tail!(), level, wire, `${model.source} tail of ${c.id}`);
    compare(
      c.id,
      out,
      model.outputs.map((o) => o.name).filter((n) => !c.exits.includes(n)),
    );
  }
  onProgress?.(level, splits.length, splits.length);
  return { level, worstError, ...(worst ? { worst } : {}), consistent: worstError <= tolerance };
}

/**
 * Checks that every way of running the model gives the same numbers. onnxruntime's graph optimizer
 * can change them: a zero Pad fused into a stride-1 MaxPool pads with -inf instead of 0, so where
 * negative values reach the pad the full model moves by percents, while a split at that Pad blocks
 * the fusion. For each level in turn (from 'all' down to 'disabled'), runs the full model and every
 * split candidate head → tail on one deterministic input (batch 2; ones for integer inputs), all at
 * that level, and compares all tail outputs and head exits with the full model's; returns the first
 * level at which all agree within `tolerance` and the worst error of each level tried. One run per
 * candidate per level; later levels are only tried when an earlier one disagrees.
 */
export async function checkPathConsistency(
  model: OnnxModel,
  candidates: readonly Candidate[],
  options: PathConsistencyOptions = {},
): Promise<PathConsistency> {
  const levels = options.levels ?? OPTIMIZATION_LEVELS;
  const tolerance = options.tolerance ?? OUTPUT_AGREEMENT_TOLERANCE;
  const batch = options.batch ?? 2;
  const feeds = Object.fromEntries(model.inputs.map((i) => [i.name, consistencyInput(i, batch, model.source)]));
  const splits = candidates.filter((c) => c.kind === 'split' && c.head !== null && c.tail !== null);
  const checks: LevelCheck[] = [];
  for (const level of levels) {
    const check = await checkLevel(model, splits, level, feeds, tolerance, options.onProgress);
    checks.push(check);
    if (check.consistent) return { level, consistent: true, checks };
  }
  const last = checks[checks.length - 1];
  return { level: last?.level ?? 'all', consistent: last === undefined, checks };
}
