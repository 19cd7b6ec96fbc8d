// What the console's model view shows of a bundle beyond its raw manifest: the task, every final output, how its
// exit curve is read (accuracy against labels, pixel accuracy, or agreement with the full model) or why it has
// none, and the request and reply sizes of its candidates. Pure, so the page and the API read the same rules.
import {
  type BundleManifest,
  type CodecBytes,
  type Task,
  taskHasConfidence,
  type TensorSpec,
  type TrustedPublisher,
} from '@cleave/proto';

/** One final output of a model: every output that is not an exit comes back on every path. */
export interface FinalOutputView {
  readonly name: string;
  readonly dtype: string;
  readonly shape: TensorSpec['shape'];
  /** The primary final output: the one early exits stand in for. */
  readonly primary: boolean;
}

/** How the exit curve of a bundle is drawn, or why it is not. */
export interface ExitCurveView {
  /** True when the bundle has a calibrated curve that exits may use. */
  readonly available: boolean;
  /** Shown instead of the curve when it is not available, e.g. `splits only (no early exits for detection models)`. */
  readonly note: string | null;
  /** What the curve's y axis measures. */
  readonly metric: 'accuracy' | 'pixel accuracy' | 'agreement with the full model';
  /** What accuracy was measured against; null when the bundle has no exit policy. */
  readonly reference: 'labels' | 'agreement' | null;
}

/** Wire sizes of one candidate, per codec, for one sample. */
export interface CandidateSizeView {
  readonly id: string;
  readonly kind: string;
  readonly requestBytesPerSample: CodecBytes;
  /** Reply bytes (every final output); null in bundles written before replies were costed. */
  readonly replyBytesPerSample: CodecBytes | null;
}

/**
 * Who signed a version: the public key its manifest names, and that key's name when the console is told the trusted
 * publishers. The console shows the claim; agents and replicas verify the signature before loading anything.
 */
export interface SignerView {
  readonly publicKey: string;
  /** The name given to the key in the trusted publishers; null when it has none or is not listed. */
  readonly name: string | null;
  /** Whether the key is among the trusted publishers the console was given (false when it was given none). */
  readonly trusted: boolean;
}

/** The console's summary of one bundle version. */
export interface BundleView {
  readonly model: string;
  readonly version: string;
  /** `model.task`, classification when the manifest predates tasks. */
  readonly task: Task;
  /** False when the manifest has no `model.task` and the task is the classification default. */
  readonly taskDeclared: boolean;
  readonly finals: readonly FinalOutputView[];
  readonly exits: readonly string[];
  readonly exitCurve: ExitCurveView;
  readonly candidates: readonly CandidateSizeView[];
  /** Downlink ÷ uplink bandwidth the plan assumed (1 when the manifest does not say). */
  readonly downlinkRatio: number;
  /** The publisher that signed the manifest; null for an unsigned bundle (which agents and replicas refuse). */
  readonly signedBy: SignerView | null;
}

/** The task of a bundle: `model.task`, or classification for bundles written before tasks. */
export function bundleTask(manifest: BundleManifest): Task {
  return manifest.model.task ?? 'classification';
}

/**
 * Final outputs of a bundle in `model.outputs` order: every output that is not an exit, with `model.final` (if it
 * is missing from them) first, as the edge agent answers.
 */
export function finalOutputNames(manifest: BundleManifest): string[] {
  const exits = new Set((manifest.exits ?? []).map((e) => e.output));
  const finals = manifest.model.outputs.map((o) => o.name).filter((n) => !exits.has(n));
  const primary = manifest.model.final;
  return primary !== undefined && !finals.includes(primary) ? [primary, ...finals] : finals;
}

/** Whether an early exit may answer requests of this bundle: its task has a confidence and it has one final output. */
export function exitsMayAnswer(manifest: BundleManifest): boolean {
  return taskHasConfidence(bundleTask(manifest)) && finalOutputNames(manifest).length === 1;
}

/** The label of the exit curve's y axis for a task and a reference. */
export function exitMetric(task: Task, reference: 'labels' | 'agreement' | undefined): ExitCurveView['metric'] {
  if (reference === 'agreement') return 'agreement with the full model';
  return task === 'segmentation' ? 'pixel accuracy' : 'accuracy';
}

function exitCurveView(manifest: BundleManifest, finals: readonly string[]): ExitCurveView {
  const task = manifest.exitPolicy?.task ?? bundleTask(manifest);
  const reference = manifest.exitPolicy?.reference ?? (manifest.exitPolicy ? 'labels' : null);
  const metric = exitMetric(task, reference ?? undefined);
  const none = (note: string): ExitCurveView => ({ available: false, note, metric, reference });
  if (!taskHasConfidence(bundleTask(manifest))) {
    return none(`splits only (no early exits for ${bundleTask(manifest)} models)`);
  }
  if (finals.length > 1) return none(`splits only (an exit cannot stand in for ${finals.length} final outputs)`);
  if (manifest.exitPolicy === undefined || manifest.exitPolicy.curve.length === 0) {
    return none('splits only (no calibrated early exits in this bundle)');
  }
  return { available: true, note: null, metric, reference };
}

/** Summarises a bundle for the model view; `trusted` names the keys of the signers it knows. */
export function bundleView(manifest: BundleManifest, trusted: readonly TrustedPublisher[] = []): BundleView {
  const names = finalOutputNames(manifest);
  const primary = manifest.model.final ?? names[0];
  const finals = names.map((name): FinalOutputView => {
    const spec = manifest.model.outputs.find((o) => o.name === name);
    return { name, dtype: spec?.dtype ?? 'unknown', shape: spec?.shape ?? [], primary: name === primary };
  });
  return {
    model: manifest.model.id,
    version: manifest.version,
    task: bundleTask(manifest),
    taskDeclared: manifest.model.task !== undefined,
    finals,
    exits: (manifest.exits ?? []).map((e) => e.output),
    exitCurve: exitCurveView(manifest, names),
    candidates: manifest.candidates.map((c) => ({
      id: c.id,
      kind: c.kind,
      requestBytesPerSample: c.bytesPerSample,
      replyBytesPerSample: c.replyBytesPerSample ?? null,
    })),
    downlinkRatio: manifest.plan.downlinkRatio ?? 1,
    signedBy: signerView(manifest, trusted),
  };
}

function signerView(manifest: BundleManifest, trusted: readonly TrustedPublisher[]): SignerView | null {
  const publicKey = manifest.signature?.publicKey;
  if (publicKey === undefined) return null;
  const known = trusted.find((p) => p.publicKey === publicKey);
  return { publicKey, name: known?.name ?? null, trusted: known !== undefined };
}
