import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLE_MODEL_WITH_EXITS } from '@cleave/cli';
import { partitionModel } from '@cleave/partitioner';
import { type BundleManifest, canonicalJson, parseBundleManifest } from '@cleave/proto';
import { ensureFamilyModel, ensureZooModel, relativeTensorError } from '../harness/mod.js';

/**
 * Lean bundles: every weight is stored once, in weights.bin, and the graphs (model.onnx and each split's head and
 * tail) reference it through ONNX external data, so a bundle costs about the model's own bytes plus small graph
 * files, however many candidates it keeps. And onnxruntime, opening those files by path as a loader does, still
 * reproduces the full model on every path.
 */

const MAX_WEIGHTS_RATIO = 1.15;
const TOLERANCE = 1e-4;
// Exporting a zoo model (first run) plus partitioning with one timed run per stage, on 2 shared cores.
const TIMEOUT = 600_000;

const MODELS = {
  'fmnist-exits': () => Promise.resolve(EXAMPLE_MODEL_WITH_EXITS),
  squeezenet1_1: () => ensureZooModel('squeezenet1_1'),
  posenet: () => ensureFamilyModel('posenet'),
  espnet_seg: () => ensureFamilyModel('espnet_seg'),
} as const;
type ModelName = keyof typeof MODELS;

interface Partitioned {
  readonly modelPath: string;
  readonly dir: string;
  readonly manifest: BundleManifest;
}

const root = mkdtemp(join(tmpdir(), 'cleave-bundle-size-'));
const bundles = new Map<ModelName, Promise<Partitioned>>();
function partitioned(name: ModelName): Promise<Partitioned> {
  let p = bundles.get(name);
  if (p === undefined) {
    p = (async () => {
      const modelPath = await MODELS[name]();
      const dir = join(await root, name);
      await partitionModel({ modelPath, outDir: dir, force: true, profile: { runs: 1, warmup: 1 } });
      const manifest = parseBundleManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
      return { modelPath, dir, manifest };
    })();
    bundles.set(name, p);
  }
  return p;
}

afterAll(async () => {
  await rm(await root, { recursive: true, force: true });
});

describe('lean bundles: the weights once', () => {
  it.each(Object.keys(MODELS) as ModelName[])(
    '%s: weights.bin ≤ 1.15 × the model, flat layout, every candidate lists its files',
    async (name) => {
      const { modelPath, dir, manifest } = await partitioned(name);
      const modelBytes = (await stat(modelPath)).size;
      const entries = await readdir(dir, { recursive: true, withFileTypes: true });
      const files = new Map<string, number>();
      for (const e of entries.filter((x) => x.isFile())) {
        const rel = join(e.parentPath, e.name).slice(dir.length + 1);
        files.set(rel, (await stat(join(dir, rel))).size);
      }
      const sum = (pick: (rel: string) => boolean): number =>
        [...files].filter(([rel]) => pick(rel)).reduce((n, [, bytes]) => n + bytes, 0);
      const total = sum(() => true);
      const weights = files.get('weights.bin') ?? 0;
      const graphs = sum((rel) => rel.endsWith('.onnx'));
      const rest = total - graphs - sum((rel) => rel.startsWith('profiles/')) - (files.get('manifest.json') ?? 0);
      const table = `${name}: model ${modelBytes} B, bundle ${total} B = weights.bin ${weights} + graphs ${graphs} + rest; weights/model ${(weights / modelBytes).toFixed(3)}`;

      expect(manifest.weights?.file, table).toBe('weights.bin');
      expect(manifest.weights?.tensors, table).toBeGreaterThan(0);
      expect(weights / modelBytes, table).toBeLessThanOrEqual(MAX_WEIGHTS_RATIO);
      expect(rest / modelBytes, table).toBeLessThanOrEqual(MAX_WEIGHTS_RATIO);

      // Flat: every graph beside weights.bin (onnxruntime rejects '..' in external data locations).
      const nested = [...files.keys()].filter((rel) => rel.includes('/') && !rel.startsWith('profiles/'));
      expect(nested, table).toEqual([]);
      // The manifest lists every file it did not write itself, with the bytes on disk.
      expect(Object.keys(manifest.files).sort()).toEqual([...files.keys()].filter((r) => r !== 'manifest.json').sort());
      for (const [rel, entry] of Object.entries(manifest.files)) expect(entry.bytes, rel).toBe(files.get(rel));
      const weightsSha = createHash('sha256')
        .update(await readFile(join(dir, 'weights.bin')))
        .digest('hex');
      expect(manifest.files['weights.bin']!.sha256).toBe(weightsSha);
      // The version is the hash of the canonical manifest without its version and signature: it covers every
      // file's sha256 (weights.bin included), and the plan and thresholds too.
      const raw = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
      delete raw['version'];
      delete raw['signature'];
      expect(manifest.version).toBe(`v${createHash('sha256').update(canonicalJson(raw)).digest('hex').slice(0, 12)}`);

      for (const c of manifest.candidates) {
        const expected =
          c.kind === 'split'
            ? [`${c.id}.head.onnx`, `${c.id}.tail.onnx`, 'weights.bin']
            : ['model.onnx', 'weights.bin'];
        expect(c.files, c.id).toEqual(expected);
        if (c.kind === 'split') expect([c.head, c.tail], c.id).toEqual(expected.slice(0, 2));
      }
      expect(manifest.candidates.some((c) => c.kind === 'split')).toBe(true);
    },
    TIMEOUT,
  );
});

type Level = NonNullable<ort.InferenceSession.SessionOptions['graphOptimizationLevel']>;

/** Deterministic batch-2 inputs of every model input (floats in [0, 1), int64 ids in [1, 100)). */
function inputsFor(manifest: BundleManifest): Record<string, ort.Tensor> {
  return Object.fromEntries(
    manifest.model.inputs.map((spec): [string, ort.Tensor] => {
      const dims = spec.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 2));
      const n = dims.reduce((a, b) => a * b, 1);
      if (spec.dtype === 'int64') {
        return [
          spec.name,
          new ort.Tensor(
            'int64',
            BigInt64Array.from({ length: n }, (_, i) => BigInt(1 + (i % 99))),
            dims,
          ),
        ];
      }
      expect(spec.dtype, `input ${spec.name}`).toBe('float32');
      const data = Float32Array.from({ length: n }, (_, i) => (Math.sin(i * 12.9898) + 1) / 2);
      return [spec.name, new ort.Tensor('float32', data, dims)];
    }),
  );
}

async function runFile(
  path: string,
  level: Level,
  feeds: Record<string, ort.Tensor>,
): Promise<ort.InferenceSession.ReturnType> {
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, graphOptimizationLevel: level });
  try {
    return await session.run(Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]!])));
  } finally {
    await session.release();
  }
}

describe('lean bundles: every candidate, opened from disk, reproduces the full model', () => {
  it.each(['fmnist-exits', 'posenet'] as const)(
    '%s: head then tail, by path, within 1e-4 on every output',
    async (name) => {
      const { modelPath, dir, manifest } = await partitioned(name);
      const level: Level = manifest.model.sessionOptions?.graphOptimizationLevel ?? 'all';
      const feeds = inputsFor(manifest);
      // The user's own file, weights embedded: what the bundle must reproduce.
      const reference = await runFile(modelPath, level, feeds);
      const exits = new Set((manifest.exits ?? []).map((e) => e.output));
      const finals = manifest.model.outputs.map((o) => o.name).filter((o) => !exits.has(o));
      expect(Object.keys(reference).sort()).toEqual(manifest.model.outputs.map((o) => o.name).sort());
      let checked = 0;
      for (const c of manifest.candidates) {
        const produced: Record<string, ort.Tensor> = {};
        if (c.head !== null) Object.assign(produced, await runFile(join(dir, c.head), level, feeds));
        if (c.tail !== null) {
          const wire = c.kind === 'cloud-only' ? feeds : produced;
          Object.assign(produced, await runFile(join(dir, c.tail), level, wire));
        }
        // A split's head computes its own exits; the whole model (edge-only, cloud-only) computes every output.
        const outputs = c.kind === 'split' ? [...finals, ...(c.exits ?? [])] : [...finals, ...exits];
        for (const output of new Set(outputs)) {
          expect(produced[output], `${c.id}: ${output}`).toBeDefined();
          expect(relativeTensorError(reference[output]!, produced[output]!), `${c.id}: ${output}`).toBeLessThan(
            TOLERANCE,
          );
          checked += 1;
        }
      }
      expect(checked).toBeGreaterThan(manifest.candidates.length);
    },
    TIMEOUT,
  );
});
