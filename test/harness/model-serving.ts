// Serving any model end to end, for the suites that check "the answer does not depend on the path": partition a
// model into a bundle, build deterministic inputs of every dtype it takes, compute the full model's outputs, and
// compare what an agent answers with them, output by output.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { expect } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { EdgeClient } from '@cleave/edge-agent';
import { publishBundle, signBundleDir } from '@cleave/node-runtime';
import { partitionModel } from '@cleave/partitioner';
import {
  type BundleManifest,
  OUTPUT_AGREEMENT_TOLERANCE,
  outputDeviation,
  parseBundleManifest,
  type TensorSpec,
} from '@cleave/proto';
import { testPublisher } from './bundle-signing.js';
import { startTestReplica, testServiceSettings } from './cloud-fixtures.js';
import { type EdgeBundle, startTestAgent } from './edge-fixtures.js';

/** An input or output tensor as the edge client takes and gives it. */
export interface ServingTensor {
  readonly dtype: 'float32' | 'int64' | 'int32' | 'uint8' | 'bool';
  readonly dims: number[];
  readonly data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

/** Options of {@link partitionForServing}. */
export interface ServingBundleOptions {
  readonly modelId: string;
  /** `--input-shape` entries (`NAME=3x224x224`). */
  readonly inputShapes?: readonly string[];
  readonly maxPayloadBytes?: number;
  readonly runs?: number;
}

/** Partitions `modelPath` into `dir` with quick profiles (no calibration), for serving tests. */
export async function partitionForServing(
  modelPath: string,
  dir: string,
  options: ServingBundleOptions,
): Promise<EdgeBundle> {
  await partitionModel({
    modelPath,
    outDir: dir,
    modelId: options.modelId,
    force: true,
    rttMs: 1,
    ...(options.inputShapes ? { inputShapes: options.inputShapes } : {}),
    ...(options.maxPayloadBytes ? { maxPayloadBytes: options.maxPayloadBytes } : {}),
    profile: { runs: options.runs ?? 2, warmup: 1 },
  });
  await signBundleDir(dir, testPublisher().seed);
  const manifest = parseBundleManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
  return { dir, manifest, version: manifest.version };
}

/** A fixed batch size for symbolic dims other than the batch; the batch is `batch`. */
function concreteDims(spec: TensorSpec, batch: number): number[] {
  return spec.shape.map((d, i) => (typeof d === 'number' ? d : i === 0 ? batch : 1));
}

/**
 * Deterministic inputs for every model input: floats in [0, 1), token ids in [1, 100), masks as ones with the last
 * quarter of each row zero (padding), booleans alternating. Names ending in `mask` get the mask pattern.
 */
export function servingInputs(manifest: BundleManifest, batch = 1): Record<string, ServingTensor> {
  return Object.fromEntries(
    manifest.model.inputs.map((spec) => {
      const dims = concreteDims(spec, batch);
      const n = dims.reduce((a, b) => a * b, 1);
      const row = dims.at(-1) ?? 1;
      const isMask = /mask$/i.test(spec.name);
      const value = (i: number): number => (isMask ? (i % row < (3 * row) / 4 ? 1 : 0) : 1 + ((i * 7919) % 99));
      let data: ServingTensor['data'];
      if (spec.dtype === 'int64') data = BigInt64Array.from({ length: n }, (_, i) => BigInt(value(i)));
      else if (spec.dtype === 'int32') data = Int32Array.from({ length: n }, (_, i) => value(i));
      else if (spec.dtype === 'bool') data = Uint8Array.from({ length: n }, (_, i) => (isMask ? value(i) : i % 2));
      else data = Float32Array.from({ length: n }, (_, i) => (Math.sin(i * 12.9898) + 1) / 2);
      return [spec.name, { dtype: spec.dtype as ServingTensor['dtype'], dims, data }];
    }),
  );
}

/** The full model's outputs on `inputs`, run in onnxruntime as the user would (default session options). */
export async function fullModelOutputs(
  bundle: EdgeBundle,
  inputs: Readonly<Record<string, ServingTensor>>,
): Promise<Record<string, ServingTensor>> {
  const level = bundle.manifest.model.sessionOptions?.graphOptimizationLevel ?? 'all';
  const session = await ort.InferenceSession.create(join(bundle.dir, bundle.manifest.model.file), {
    intraOpNumThreads: 1,
    graphOptimizationLevel: level,
  });
  try {
    const feeds = Object.fromEntries(
      Object.entries(inputs).map(([name, t]) => [name, new ort.Tensor(t.dtype, t.data, t.dims)]),
    );
    const out = await session.run(feeds);
    return Object.fromEntries(
      Object.entries(out).map(([name, t]) => [
        name,
        { dtype: t.type as ServingTensor['dtype'], dims: [...t.dims], data: t.data as ServingTensor['data'] },
      ]),
    );
  } finally {
    await session.release();
  }
}

/** proto's outputDeviation for float32 (the partitioner's measure); 1 for integer tensors that differ anywhere. */
export function relativeDifference(expected: ServingTensor, actual: ServingTensor): number {
  if (expected.dims.join('x') !== actual.dims.join('x') || expected.data.length !== actual.data.length) return Infinity;
  const deviation = outputDeviation(expected.data, actual.data);
  return expected.dtype === 'float32' ? deviation : deviation === 0 ? 0 : 1;
}

/** Checks every output of `answer` against the full model's, by name, dtype, dims and value. */
export function expectSameOutputs(
  answer: Record<string, ServingTensor>,
  reference: Record<string, ServingTensor>,
  path: string,
): void {
  expect(Object.keys(answer).sort(), `${path}: output names`).toEqual(Object.keys(reference).sort());
  for (const [name, ref] of Object.entries(reference)) {
    expect(answer[name]!.dtype, `${path}: ${name} dtype`).toBe(ref.dtype);
    expect(answer[name]!.dims, `${path}: ${name} dims`).toEqual(ref.dims);
    expect(relativeDifference(ref, answer[name]!), `${path}: ${name}`).toBeLessThan(OUTPUT_AGREEMENT_TOLERANCE);
  }
}

/**
 * Publishes `bundle`, then asks a real agent pinned to edge-only, one pinned to cloud-only and one pinned to a split
 * without exits, both in the f32 codec (so lossless) and backed by a real replica, then the split's agent again after
 * the replica is gone (fallback): every output of every path must match the full model's.
 */
export async function serveAndCompare(
  nats: { readonly admin: NatsConnection; readonly url: string; readonly prefix: string },
  bundle: EdgeBundle,
  modelId: string,
): Promise<void> {
  const { url, prefix, admin } = nats;
  await publishBundle(admin, bundle.dir, { prefix });
  const split = bundle.manifest.candidates.find((c) => c.kind === 'split' && (c.exits ?? []).length === 0);
  expect(split, 'a split without exits is kept').toBeDefined();
  const replica = await startTestReplica(url, testServiceSettings(prefix, `r-${modelId}`));
  const edgeOnly = await startTestAgent({
    natsUrl: url,
    prefix,
    config: { agentId: `gw-${modelId}-edge`, models: [{ id: modelId, pin: 'edge-only' }] },
  });
  const offloading = await startTestAgent({
    natsUrl: url,
    prefix,
    config: {
      agentId: `gw-${modelId}-split`,
      models: [{ id: modelId, pin: split!.id, codec: 'f32' }],
      breaker: { failureThreshold: 100, probeIntervalMs: 500, probeTimeoutMs: 500 },
    },
  });
  const cloudOnly = await startTestAgent({
    natsUrl: url,
    prefix,
    config: { agentId: `gw-${modelId}-cloud`, models: [{ id: modelId, pin: 'cloud-only', codec: 'f32' }] },
  });
  try {
    await Promise.all([edgeOnly, offloading, cloudOnly].map((a) => a.agent.whenServing(modelId, bundle.version)));
    const inputs = servingInputs(bundle.manifest, 2);
    const reference = await fullModelOutputs(bundle, inputs);
    expect(Object.keys(reference).length).toBe(bundle.manifest.model.outputs.length);

    const local = await new EdgeClient({ url: edgeOnly.agent.httpUrl! }).infer(modelId, inputs);
    expect(local.ranOn).toBe('edge');
    expectSameOutputs(local.outputs, reference, 'edge-only');

    const client = new EdgeClient({ url: offloading.agent.httpUrl!, format: 'json' });
    // The replica loads a tail on its first request; a long deadline keeps that load from reading as a timeout.
    const cloud = await client.infer(modelId, inputs, { deadlineMs: 30_000 });
    expect(cloud.ranOn, JSON.stringify(cloud.fallbackReason)).toBe('cloud');
    expect(cloud.bytes.sent).toBeGreaterThan(0);
    expectSameOutputs(cloud.outputs, reference, `${split!.id} on the cloud`);

    const whole = await new EdgeClient({ url: cloudOnly.agent.httpUrl! }).infer(modelId, inputs, {
      deadlineMs: 30_000,
    });
    expect(whole.ranOn, JSON.stringify(whole.fallbackReason)).toBe('cloud');
    expectSameOutputs(whole.outputs, reference, 'cloud-only');

    await replica.close();
    const fallback = await client.infer(modelId, inputs);
    expect(fallback.ranOn).toBe('fallback');
    expectSameOutputs(fallback.outputs, reference, `${split!.id} fallback`);
  } finally {
    await Promise.allSettled([edgeOnly.close(), offloading.close(), cloudOnly.close(), replica.close()]);
  }
}

/** max |a − b| / max |a| of one onnxruntime output; Infinity when the dims differ or a NaN appears. */
export function relativeTensorError(ref: ort.Tensor, got: ort.Tensor): number {
  if (ref.dims.join('x') !== got.dims.join('x')) return Number.POSITIVE_INFINITY;
  const a = ref.data as ArrayLike<number | bigint>;
  const b = got.data as ArrayLike<number | bigint>;
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(Number(a[i]) - Number(b[i])));
    scale = Math.max(scale, Math.abs(Number(a[i])));
  }
  return Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff / scale;
}
