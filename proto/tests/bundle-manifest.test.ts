import { describe, expect, it } from 'vitest';
import { type BundleManifest, parseBundleManifest } from '../src/bundle-manifest.js';
import { ProtocolError } from '../src/protocol-error.js';

const hash = (c: string): string => c.repeat(64);

/** A small but complete manifest: the three kinds of candidate, a plan for two objectives. */
// Sizes as a bundle written before the compressed codecs has them: parsing fills those in.
const legacySizes = (f32: number, f16: number, int8: number) =>
  ({ f32, f16, int8 }) as unknown as BundleManifest['candidates'][number]['bytesPerSample'];

function manifest(): BundleManifest {
  const image = { name: 'input', dtype: 'float32', shape: ['N', 1, 28, 28] };
  return {
    format: 'cleave.bundle/v1',
    version: '2024-05-01_1',
    createdAt: '2024-05-01T12:00:00.000Z',
    model: {
      id: 'fmnist',
      file: 'model.onnx',
      sha256: hash('a'),
      inputs: [image],
      outputs: [{ name: 'logits', dtype: 'float32', shape: ['N', 10] }],
    },
    files: {
      'model.onnx': { sha256: hash('a'), bytes: 1_200_000 },
      'heads/cut-2.onnx': { sha256: hash('b'), bytes: 300_000 },
      'tails/cut-2.onnx': { sha256: hash('c'), bytes: 900_000 },
    },
    candidates: [
      {
        id: 'edge',
        kind: 'edge-only',
        cut: [],
        head: 'model.onnx',
        tail: null,
        cutTensors: [],
        bytesPerSample: legacySizes(0, 0, 0),
        profile: { edge: { medianMs: 9.5, p90Ms: 11, runs: 50, batch: 1 } },
      },
      {
        id: 'cut-2',
        kind: 'split',
        cut: ['/stage2/Relu_output_0'],
        head: 'heads/cut-2.onnx',
        tail: 'tails/cut-2.onnx',
        cutTensors: [{ name: '/stage2/Relu_output_0', dtype: 'float32', shape: [null, 32, 7, 7] }],
        bytesPerSample: legacySizes(6272, 3136, 1568),
        profile: {
          edge: { medianMs: 2.1, p90Ms: 2.6, runs: 50, batch: 1 },
          cloud: { medianMs: 1.2, p90Ms: 1.5, runs: 50, batch: 8 },
        },
      },
      {
        id: 'cloud',
        kind: 'cloud-only',
        cut: ['input'],
        head: null,
        tail: 'model.onnx',
        cutTensors: [image],
        bytesPerSample: legacySizes(3136, 1568, 784),
        profile: { cloud: { medianMs: 2, p90Ms: 2.4, runs: 50, batch: 8 } },
      },
    ],
    exits: [{ output: 'exit1', kind: 'built-in' as const, attachedTo: null, candidateIds: ['cut-2'] }],
    exitPolicy: {
      measure: 'margin' as const,
      budgetPoints: 1,
      floorAccuracy: 0.89,
      finalAccuracy: 0.92,
      samples: 5000,
      source: 'fashion-mnist train[55000:60000]',
      operatingPoint: {
        budgetPoints: 1,
        thresholds: { exit1: 0.4 },
        exitRate: 0.6,
        accuracy: 0.915,
        perExit: [{ output: 'exit1', rate: 0.6, accuracy: 0.97 }],
      },
      curve: [
        {
          budgetPoints: 0,
          thresholds: { exit1: null },
          exitRate: 0,
          accuracy: 0.92,
          perExit: [{ output: 'exit1', rate: 0, accuracy: 0 }],
        },
      ],
    },
    plan: {
      rttMs: 20,
      maxPayloadBytes: 1_048_576,
      objectives: ['latency', 'energy'],
      ranges: [
        {
          objective: 'latency',
          minMbps: 0,
          maxMbps: 1.1,
          candidate: 'edge',
          codec: 'f32',
          expectedLatencyMs: 9.5,
          expectedEdgeJoules: 0.05,
        },
        {
          objective: 'latency',
          minMbps: 1.1,
          maxMbps: null,
          candidate: 'cut-2',
          codec: 'int8',
          expectedLatencyMs: 7,
          expectedEdgeJoules: 0.02,
        },
        {
          objective: 'energy',
          minMbps: 0,
          maxMbps: null,
          candidate: 'cloud',
          codec: 'int8',
          expectedLatencyMs: 25,
          expectedEdgeJoules: 0.01,
        },
      ],
    },
    profiles: { edge: { cpu: 'cortex-a53', cores: 4 } },
  };
}

function rejection(json: unknown): ProtocolError {
  try {
    parseBundleManifest(json);
  } catch (error) {
    if (error instanceof ProtocolError) return error;
    throw error;
  }
  throw new Error('expected the manifest to be rejected');
}

describe('bundle manifest: valid', () => {
  it('parses a complete manifest, keeping the loose sections', () => {
    const parsed = parseBundleManifest(JSON.parse(JSON.stringify(manifest())));
    // The fixture predates the compressed codecs: their sizes read as their uncompressed codec's.
    const sizes = ({ f32, f16, int8 }: { f32: number; f16: number; int8: number }) => ({
      f32,
      f16,
      int8,
      'u8-deflate': f32,
      'f16-deflate': f16,
      'int8-deflate': int8,
    });
    const expected = manifest();
    expect(parsed).toEqual({
      ...expected,
      candidates: expected.candidates.map((c) => ({ ...c, bytesPerSample: sizes(c.bytesPerSample) })),
    });
    expect(parsed.exits?.[0]).toMatchObject({ output: 'exit1', kind: 'built-in' });
    expect(parsed.exitPolicy?.operatingPoint.thresholds).toEqual({ exit1: 0.4 });
    expect(parsed.exitPolicy?.curve[0]?.thresholds).toEqual({ exit1: null });
    expect(parsed.profiles?.edge).toEqual({ cpu: 'cortex-a53', cores: 4 });
  });

  it('accepts a manifest without the optional sections', () => {
    const minimal: Partial<BundleManifest> = manifest();
    delete minimal.exits;
    delete minimal.exitPolicy;
    delete minimal.profiles;
    expect(parseBundleManifest(minimal).candidates).toHaveLength(3);
  });
});

describe('bundle manifest: expected failure', () => {
  it('reports every problem at once, schema and cross-field alike', () => {
    const bad = manifest() as unknown as {
      version: string;
      files: Record<string, unknown>;
      candidates: Record<string, unknown>[];
      plan: { ranges: Record<string, unknown>[] };
    };
    bad.version = 'v1.2';
    bad.files['../escape.onnx'] = { sha256: hash('d'), bytes: 1 };
    bad.candidates[1] = { ...bad.candidates[1], id: 'edge', tail: 'tails/missing.onnx' };
    bad.candidates[2] = { ...bad.candidates[2], head: 'model.onnx' };
    bad.plan.ranges[0] = { ...bad.plan.ranges[0], candidate: 'nope', codec: 'bf16' };
    const error = rejection(bad);
    expect(error.name).toBe('ProtocolError');
    expect(error.code).toBe('bad_message');
    expect(error.issues).toEqual([
      'version: must be 1-128 characters of A-Z a-z 0-9 _ -',
      'plan.ranges.0.codec: Invalid option: expected one of "f32"|"f16"|"int8"|"u8-deflate"|"f16-deflate"|"int8-deflate"',
      `files["../escape.onnx"]: must be a relative '/'-separated path without empty, '.' or '..' segments, backslashes, drive letters or control characters`,
      'candidates.1.id: duplicate candidate id "edge"',
      'candidates.1.tail: "tails/missing.onnx" is not listed in files',
      'candidates.2.head: must be null for a cloud-only candidate',
      'plan.ranges.0.candidate: "nope" is not a candidate id',
      // The duplicate id replaced "cut-2", so the range that used it now dangles too.
      'plan.ranges.1.candidate: "cut-2" is not a candidate id',
    ]);
    expect(error.message).toBe(
      `bundle manifest is invalid (8 problems):\n${error.issues.map((issue) => `  - ${issue}`).join('\n')}`,
    );
  });

  it('checks that kinds, cuts and files agree', () => {
    const bad = manifest() as unknown as {
      model: { file: string };
      candidates: Record<string, unknown>[];
      plan: Record<string, unknown>;
    };
    bad.model.file = 'other.onnx';
    bad.candidates[0] = {
      ...bad.candidates[0],
      cut: ['x'],
      cutTensors: [{ name: 'x', dtype: 'float32', shape: [1] }],
      tail: 'model.onnx',
    };
    bad.candidates[1] = { ...bad.candidates[1], cutTensors: [], head: null };
    bad.candidates[2] = {
      ...bad.candidates[2],
      cut: ['pixels'],
      cutTensors: [{ name: 'pixels', dtype: 'float32', shape: [1] }],
    };
    bad.plan = {
      ...bad.plan,
      ranges: [{ ...(bad.plan.ranges as object[])[0], objective: 'fun', minMbps: 5, maxMbps: 2 }],
    };
    expect(rejection(bad).issues).toEqual([
      // An unknown objective fails the schema as well: it is never planned or looked up as another one.
      'plan.ranges.0.objective: Invalid option: expected one of "latency"|"energy"|"balanced"',
      'model.file: "other.onnx" is not listed in files',
      'candidates.0.tail: must be null for a edge-only candidate',
      'candidates.0.cut: must be empty for an edge-only candidate',
      'candidates.1.head: must be a file for a split candidate',
      'candidates.1.cutTensors: names [] must match cut [/stage2/Relu_output_0]',
      'candidates.2.cut: must be the model inputs [input] for a cloud-only candidate',
      'plan.ranges.0.objective: "fun" is not one of plan.objectives',
      'plan.ranges.0.maxMbps: 2 must be greater than minMbps 5',
    ]);
  });

  it('rejects bad hashes, times, shapes and a missing plan', () => {
    const bad = manifest() as unknown as Record<string, unknown> & { model: Record<string, unknown> };
    bad.createdAt = 'yesterday';
    bad.model.sha256 = 'ABC';
    bad.model.inputs = [{ name: 'input', dtype: 'float32', shape: [-1, 28] }];
    delete bad.plan;
    expect(rejection(bad).issues).toEqual([
      'createdAt: Invalid ISO datetime',
      'model.sha256: must be 64 lowercase hex digits',
      'model.inputs.0.shape.0: Too small: expected number to be >=0',
      'plan: Invalid input: expected object, received undefined',
    ]);
  });

  it('rejects a value that is not an object', () => {
    const error = rejection('manifest.json');
    expect(error.code).toBe('bad_message');
    expect(error.message).toBe(
      'bundle manifest is invalid (1 problem):\n  - (root): Invalid input: expected object, received string',
    );
  });

  it('refuses another bundle format as a version problem', () => {
    const error = rejection({ ...manifest(), format: 'cleave.bundle/v2' });
    expect(error.code).toBe('unsupported_version');
    expect(error.message).toBe('bundle manifest has format "cleave.bundle/v2"; this build reads "cleave.bundle/v1"');
  });
});
