// A small, hand-written bundle manifest for controller tests: three candidates and a plan whose latency objective
// changes split at 2 and 12 Mbps. The numbers are invented to exercise the controller, not measured.
import { type BundleManifest, parseBundleManifest } from '@cleave/proto';

const SHA = 'a'.repeat(64);

/** Operating points of the invented exit curve: stricter budgets exit less and are more accurate. */
const curve = [0, 1, 2, 3].map((budgetPoints) => ({
  budgetPoints,
  thresholds: { exit_1: 0.9 - budgetPoints * 0.1 },
  exitRate: 0.5 + budgetPoints * 0.1,
  accuracy: 0.92 - budgetPoints * 0.01,
  perExit: [{ output: 'exit_1', rate: 0.5 + budgetPoints * 0.1, accuracy: 0.95 }],
}));

/** Builds the manifest; `version` distinguishes two "bundles". */
export function syntheticManifest(version = 'v000000000001'): BundleManifest {
  const tensor = (name: string) => ({ name, dtype: 'float32', shape: ['N', 4] });
  const candidate = (
    id: string,
    kind: 'edge-only' | 'split' | 'cloud-only',
    head: string | null,
    tail: string | null,
  ) => ({
    id,
    kind,
    cut: kind === 'edge-only' ? [] : kind === 'cloud-only' ? ['input'] : [`${id}_cut`],
    cutTensors: kind === 'edge-only' ? [] : [tensor(kind === 'cloud-only' ? 'input' : `${id}_cut`)],
    head,
    tail,
    bytesPerSample: { f32: 16, f16: 8, int8: 4 },
    profile: {},
    exits: kind === 'split' ? ['exit_1'] : [],
  });
  const files = Object.fromEntries(
    ['model.onnx', 'candidates/split-a/head.onnx', 'candidates/split-a/tail.onnx'].map((p) => [
      p,
      { sha256: SHA, bytes: 1 },
    ]),
  );
  const range = (objective: string, minMbps: number, maxMbps: number | null, candidate: string, codec: string) => ({
    objective,
    minMbps,
    maxMbps,
    candidate,
    codec,
    expectedLatencyMs: 1,
    expectedEdgeJoules: 0.001,
  });
  return parseBundleManifest({
    format: 'cleave.bundle/v1',
    version,
    createdAt: '2026-01-01T00:00:00.000Z',
    model: {
      id: 'synth',
      file: 'model.onnx',
      sha256: SHA,
      inputs: [tensor('input')],
      outputs: [tensor('exit_1'), tensor('logits')],
      final: 'logits',
    },
    files,
    candidates: [
      candidate('edge-only', 'edge-only', 'model.onnx', null),
      candidate('split-a', 'split', 'candidates/split-a/head.onnx', 'candidates/split-a/tail.onnx'),
      candidate('cloud-only', 'cloud-only', null, 'model.onnx'),
    ],
    exits: [{ output: 'exit_1', kind: 'built-in' }],
    exitPolicy: {
      measure: 'max-prob',
      budgetPoints: 1,
      floorAccuracy: 0.89,
      finalAccuracy: 0.92,
      samples: 1000,
      source: 'invented',
      operatingPoint: curve[1],
      curve,
    },
    plan: {
      rttMs: 5,
      maxPayloadBytes: 1 << 20,
      objectives: ['latency', 'energy', 'balanced'],
      ranges: [
        range('latency', 0, 2, 'edge-only', 'f32'),
        range('latency', 2, 12, 'split-a', 'f16'),
        range('latency', 12, null, 'cloud-only', 'f16'),
        range('energy', 0, 30, 'edge-only', 'f32'),
        range('energy', 30, null, 'split-a', 'int8'),
        range('balanced', 0, 5, 'edge-only', 'f32'),
        range('balanced', 5, null, 'split-a', 'f16'),
      ],
    },
  });
}
