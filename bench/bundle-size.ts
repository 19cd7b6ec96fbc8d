/**
 * Bundle size before and after storing the weights once ("lean bundles").
 *
 * For each model: `partitionModel` (one timed run per stage) into a temp directory, then
 * - model bytes: the user's ONNX file;
 * - before: the embedded layout the partitioner wrote until now, model.onnx with its weights plus, per kept split,
 *   a head and a tail each embedding the weights it reads: the bytes of the in-memory (embedded) model, heads and
 *   tails of the same candidates, plus this bundle's manifest and profiles;
 * - after: every file of the bundle as written (weights.bin, graphs, manifest, profiles);
 * - ratio: weights.bin ÷ model bytes (the target is ≤ 1.15).
 *
 * Usage, from a built repository root: npx tsx bench/bundle-size.ts   (or npm run bench:bundle-size)
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLE_MODEL_WITH_EXITS } from '@cleave/cli';
import { partitionModel } from '@cleave/partitioner';
import { ensureFamilyModel, ensureZooModel } from '../test/harness/zoo-models.js';

const MODELS: readonly [string, () => Promise<string>][] = [
  ['fmnist-exits', () => Promise.resolve(EXAMPLE_MODEL_WITH_EXITS)],
  ['squeezenet1_1', () => ensureZooModel('squeezenet1_1')],
  ['posenet', () => ensureFamilyModel('posenet')],
  ['espnet_seg', () => ensureFamilyModel('espnet_seg')],
];

interface Row {
  readonly model: string;
  readonly modelBytes: number;
  readonly before: number;
  readonly after: number;
  readonly weights: number;
  readonly graphs: number;
  readonly splits: number;
}

async function measure(name: string, modelPath: string, root: string): Promise<Row> {
  const outDir = join(root, name);
  const result = await partitionModel({ modelPath, outDir, force: true, profile: { runs: 1, warmup: 1 } });
  const sizes = new Map<string, number>();
  for (const e of await readdir(outDir, { recursive: true, withFileTypes: true })) {
    if (e.isFile())
      sizes.set(join(e.parentPath, e.name).slice(outDir.length + 1), (await stat(join(e.parentPath, e.name))).size);
  }
  const sum = (pick: (rel: string) => boolean): number =>
    [...sizes].filter(([rel]) => pick(rel)).reduce((n, [, bytes]) => n + bytes, 0);
  const after = sum(() => true);
  const graphs = sum((rel) => rel.endsWith('.onnx'));
  const weights = sizes.get('weights.bin') ?? 0;
  const kept = result.prepared.candidates.filter((c) => c.kind === 'split' && result.plan.candidates.includes(c.id));
  let embedded = result.prepared.model.bytes.length;
  for (const c of kept) embedded += c.head!().length + c.tail!().length;
  const before = embedded + (after - graphs - weights);
  return { model: name, modelBytes: (await stat(modelPath)).size, before, after, weights, graphs, splits: kept.length };
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;
const root = await mkdtemp(join(tmpdir(), 'cleave-bench-bundle-size-'));
try {
  const rows: Row[] = [];
  for (const [name, path] of MODELS) {
    process.stderr.write(`partitioning ${name} ...\n`);
    rows.push(await measure(name, await path(), root));
  }
  const lines = [
    '| model | model bytes | bundle bytes before (embedded) | bundle bytes after | weights.bin | graphs | ratio (weights.bin ÷ model) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.model} (${r.splits} splits) | ${mb(r.modelBytes)} | ${mb(r.before)} (${(r.before / r.modelBytes).toFixed(1)}×) | ` +
        `${mb(r.after)} (${(r.after / r.modelBytes).toFixed(2)}×) | ${mb(r.weights)} | ${mb(r.graphs)} | ${(r.weights / r.modelBytes).toFixed(3)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await rm(root, { recursive: true, force: true });
}
