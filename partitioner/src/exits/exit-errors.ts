import { CodedError } from '@cleave/proto';

/** Why early-exit training or calibration cannot proceed. */
export const ExitErrorCode = {
  EmptyCalibration: 'empty_calibration',
  ShapeMismatch: 'shape_mismatch',
  LabelMismatch: 'label_mismatch',
  NotClassifier: 'not_classifier',
  UnknownOutput: 'unknown_output',
} as const;
/** One of {@link ExitErrorCode}. */
export type ExitErrorCode = (typeof ExitErrorCode)[keyof typeof ExitErrorCode];

/** A calibration set or exit choice that does not fit the model; the message says what to change. */
export class ExitError extends CodedError<ExitErrorCode> {
  override readonly name = 'ExitError';
}
