// A tiny model with several inputs of different dtypes and several final outputs of different dtypes, built here
// in TypeScript (no fixture file): x float32 [N, 4], ids int64 [N, 3] and flag bool [N, 1] in; score float32
// [N, 2], top_ids int64 [N, 3] (TopK indices, like a detector's class ids) and embed float32 [N, 5] out, and
// optionally a wide float32 [N, W] output whose reply is big. Every input reaches every output, so a wrong id or
// flag anywhere on a path changes every answer.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { EXAMPLE_MODEL_BACKBONE } from '@cleave/cli';
import {
  encodeOnnxModel,
  loadOnnxModel,
  OnnxSchema,
  partitionModel,
  specToValueInfo,
  withFields,
} from '@cleave/partitioner';
import { signBundleDir } from '@cleave/node-runtime';
import { type BundleManifest, parseBundleManifest, seededRandom } from '@cleave/proto';
import { testPublisher } from '../harness/mod.js';

/** A bundle on disk with its manifest. */
export interface MultiBundle {
  readonly dir: string;
  readonly manifest: BundleManifest;
  readonly version: string;
}

const FLOAT = 1;
const INT64 = 7;
const ATTR_INT = 2;

/** Inputs of one request, as the edge client takes them. */
export interface MultiInputs {
  readonly x: { dims: number[]; data: Float32Array };
  readonly ids: { dims: number[]; data: BigInt64Array };
  readonly flag: { dims: number[]; data: Uint8Array; dtype: 'bool' };
}

/** Writes the model to `path`. `wide` adds an output `wide` float32 [N, wide] (a multiple of 8). */
export async function writeMultiOutputModel(path: string, options: { wide?: number } = {}): Promise<string> {
  // Any valid model serves as the template: only its proto's defaults are kept, the graph is replaced.
  const base = await loadOnnxModel(EXAMPLE_MODEL_BACKBONE);
  const random = seededRandom(7);
  const weights = (name: string, rows: number, cols: number) => ({
    name,
    dataType: FLOAT,
    dims: [BigInt(rows), BigInt(cols)],
    floatData: Array.from({ length: rows * cols }, () => random() * 2 - 1),
  });
  const int = (name: string, values: number[]) => ({
    name,
    dataType: INT64,
    dims: [BigInt(values.length)],
    int64Data: values.map(BigInt),
  });
  const attr = (name: string, i: number) => ({ name, type: ATTR_INT, i: BigInt(i) });
  const node = (opType: string, input: string[], output: string[], attribute: object[] = []) => ({
    name: `${opType}_${output[0]}`,
    opType,
    input,
    output,
    attribute,
  });
  const wide = options.wide;
  const outputs = [
    { name: 'score', dtype: 'float32', shape: ['N', 2] },
    { name: 'top_ids', dtype: 'int64', shape: ['N', 3] },
    { name: 'embed', dtype: 'float32', shape: ['N', 5] },
    ...(wide === undefined ? [] : [{ name: 'wide', dtype: 'float32', shape: ['N', wide] }]),
  ];
  const graph = {
    name: 'multi',
    node: [
      node('MatMul', ['x', 'w1'], ['h0']),
      node('Relu', ['h0'], ['h1']),
      node('Cast', ['ids'], ['ids_f'], [attr('to', FLOAT)]),
      node('Mul', ['ids_f', 'id_scale'], ['ids_s']),
      node('Cast', ['flag'], ['flag_f'], [attr('to', FLOAT)]),
      node('Concat', ['h1', 'ids_s', 'flag_f'], ['cat'], [attr('axis', 1)]),
      node('MatMul', ['cat', 'w2'], ['h2']),
      node('Tanh', ['h2'], ['h3']),
      node('MatMul', ['h3', 'w3'], ['score']),
      node('TopK', ['h3', 'k'], ['top_vals', 'top_ids'], [attr('axis', 1)]),
      node('MatMul', ['h3', 'w4'], ['e0']),
      node('Tanh', ['e0'], ['embed']),
      ...(wide === undefined ? [] : [node('Tile', ['h3', 'repeats'], ['wide'])]),
    ],
    input: [
      specToValueInfo({ name: 'x', dtype: 'float32', shape: ['N', 4] }),
      specToValueInfo({ name: 'ids', dtype: 'int64', shape: ['N', 3] }),
      specToValueInfo({ name: 'flag', dtype: 'bool', shape: ['N', 1] }),
    ],
    output: outputs.map(specToValueInfo),
    initializer: [
      weights('w1', 4, 8),
      weights('w2', 12, 8),
      weights('w3', 8, 2),
      weights('w4', 8, 5),
      { name: 'id_scale', dataType: FLOAT, dims: [1n], floatData: [0.05] },
      int('k', [3]),
      ...(wide === undefined ? [] : [int('repeats', [1, wide / 8])]),
    ],
  };
  const model = withFields(OnnxSchema.ModelProto, base.proto, {
    irVersion: 8n,
    opsetImport: [{ domain: '', version: 17n }],
    producerName: 'cleave-tests',
    metadataProps: [],
    graph,
  });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, encodeOnnxModel(model));
  return path;
}

/** Partitions the model into `dir` (quick profiles, no calibration: the model has no exits). */
export async function partitionMulti(
  modelPath: string,
  dir: string,
  modelId: string,
  options: { maxPayloadBytes?: number } = {},
): Promise<MultiBundle> {
  await partitionModel({
    modelPath,
    outDir: dir,
    modelId,
    force: true,
    rttMs: 1,
    profile: { runs: 2, warmup: 1, nodeBreakdown: false },
    ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
  });
  await signBundleDir(dir, testPublisher().seed);
  const manifest = parseBundleManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
  return { dir, manifest, version: manifest.version };
}

/** Deterministic inputs for a batch of `n`: ids in [0, 50), flags alternating. */
export function multiInputs(n: number, seed: number): MultiInputs {
  const random = seededRandom(seed);
  return {
    x: { dims: [n, 4], data: Float32Array.from({ length: n * 4 }, () => random() * 2 - 1) },
    ids: { dims: [n, 3], data: BigInt64Array.from({ length: n * 3 }, () => BigInt(Math.floor(random() * 50))) },
    flag: { dims: [n, 1], data: Uint8Array.from({ length: n }, (_, i) => i % 2), dtype: 'bool' },
  };
}

/** An output as the full model computes it. */
export interface ReferenceOutput {
  readonly dtype: string;
  readonly dims: number[];
  readonly data: Float32Array | BigInt64Array;
}

/** Runs the full model on `inputs` with onnxruntime: what every path must answer. */
export async function referenceOutputs(
  modelPath: string,
  inputs: MultiInputs,
): Promise<Record<string, ReferenceOutput>> {
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  try {
    const result = await session.run({
      x: new ort.Tensor('float32', inputs.x.data, inputs.x.dims),
      ids: new ort.Tensor('int64', inputs.ids.data, inputs.ids.dims),
      flag: new ort.Tensor('bool', inputs.flag.data, inputs.flag.dims),
    });
    return Object.fromEntries(
      session.outputNames.map((name) => {
        const t = result[name]!;
        return [name, { dtype: t.type, dims: [...t.dims], data: t.data as Float32Array | BigInt64Array }];
      }),
    );
  } finally {
    await session.release();
  }
}

/** Largest absolute difference between two float arrays (Infinity when their lengths differ). */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
