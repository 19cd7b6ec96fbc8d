// The confidence measures live in @cleave/proto, so calibration here and the edge agent's exit decision run the
// same code; this module only keeps the partitioner's historical names.
export {
  EXIT_CONFIDENCE_MEASURES as CONFIDENCE_MEASURES,
  exitConfidence as confidence,
  argmaxRow,
  type ExitConfidenceMeasure as ConfidenceMeasure,
} from '@cleave/proto';
