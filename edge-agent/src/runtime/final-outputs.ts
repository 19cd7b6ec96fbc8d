// Which outputs of a model a request answers with, and whether an early exit may stand in for them.
import type { BundleManifest } from '@cleave/proto';

/**
 * The final outputs of a model: every output that is not an exit, in `model.outputs` order. Every path (edge-only,
 * staged, cloud, fallback) returns all of them. `model.final` is the primary one among them: the output an early
 * exit stands in for.
 */
export function finalOutputs(manifest: BundleManifest): string[] {
  const exits = new Set((manifest.exits ?? []).map((e) => e.output));
  const finals = manifest.model.outputs.map((o) => o.name).filter((n) => !exits.has(n));
  // A manifest whose primary output is also listed as an exit (or is missing from outputs) still answers with it.
  const primary = manifest.model.final;
  return primary !== undefined && !finals.includes(primary) ? [primary, ...finals] : finals;
}

/**
 * Whether an early exit may answer a request of this model: an exit's answer can only stand in for the primary
 * output, so a model with several final outputs (boxes and classes, logits and hidden states) always runs them.
 */
export function exitsMayAnswer(manifest: BundleManifest): boolean {
  return finalOutputs(manifest).length === 1;
}
