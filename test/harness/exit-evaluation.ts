import {
  collectLogits,
  evidenceFromLogits,
  simulate,
  type ExitCalibration,
  type LabelledImages,
  type OperatingPoint,
} from '@cleave/partitioner';

/** Applies calibrated thresholds to a labelled evaluation set (t10k) and reports what happens there. */
export async function evaluateExitPolicy(
  model: Uint8Array,
  data: LabelledImages,
  exits: readonly string[],
  finalOutput: string,
  calibration: ExitCalibration,
  point: OperatingPoint = calibration.operatingPoint,
): Promise<{ point: OperatingPoint; finalAccuracy: number }> {
  const collected = await collectLogits(model, data, [...exits, finalOutput]);
  const evidence = evidenceFromLogits(
    exits.map((output) => ({ output, logits: collected.logits.get(output)! })),
    collected.logits.get(finalOutput)!,
    data.labels,
    collected.classes,
    calibration.measure,
  );
  const thresholds = exits.map((e) => point.thresholds[e] ?? Infinity);
  return {
    point: simulate(evidence, thresholds, point.budgetPoints),
    finalAccuracy: evidence.finalCorrect.reduce((a, b) => a + b, 0) / evidence.samples,
  };
}
