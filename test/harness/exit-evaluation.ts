import { applyExitPolicy, calibrateExits, type LabelledImages, type PreparedModel } from '@cleave/partitioner';

/**
 * Calibrates a prepared model's exits on its hold-out set at `budgetPoints`, then applies that
 * policy unchanged to an evaluation set (t10k) — the measurement every early-exit figure uses.
 */
export async function measureExitPolicy(prepared: PreparedModel, evaluation: LabelledImages, budgetPoints = 1.0) {
  if (!prepared.holdout) throw new TypeError("'prepared' has no hold-out set: prepare it with a calibration set");
  const calibration = await calibrateExits(
    prepared.model.bytes,
    prepared.model.inputs[0]!.shape,
    prepared.holdout,
    prepared.exits,
    prepared.finalOutput,
    { budgetPoints, task: prepared.task },
  );
  const applied = await applyExitPolicy(
    prepared.model.bytes,
    evaluation,
    prepared.exits,
    prepared.finalOutput,
    calibration,
  );
  return { calibration, ...applied };
}
