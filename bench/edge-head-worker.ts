/**
 * Runs every candidate's head of a model in this (possibly CPU-throttled) process, and writes
 * each head's real output tensors to a directory so the cloud side can run the tails on them.
 * Usage: tsx bench/edge-head-worker.ts <model.onnx> <out-dir> <runs>
 * Prints one JSON object: { heads: { [candidateId]: { medianMs, tensors: [...] } } }.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { prepareModel, summarise } from '@cleave/partitioner';
import { benchInput } from './bench-input.js';

const [modelPath, outDir, runsArg] = process.argv.slice(2);
if (!modelPath || !outDir) {
  process.stderr.write('usage: edge-head-worker <model.onnx> <out-dir> [runs]\n');
  process.exit(2);
}
const runs = Number(runsArg ?? 10);
const { model, candidates } = await prepareModel(modelPath);
const feeds = benchInput(model);
const heads: Record<
  string,
  { medianMs: number; tensors: { name: string; file: string; type: string; dims: readonly number[] }[] }
> = {};
for (const c of candidates) {
  if (!c.head) continue;
  const session = await ort.InferenceSession.create(c.head(), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  let out = await session.run(feeds);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = await session.run(feeds);
    samples.push(performance.now() - t0);
  }
  await session.release();
  const tensors = [];
  for (const [k, w] of c.wire.entries()) {
    const t = out[w.name]!;
    const file = join(outDir, `${c.id}-${k}.bin`);
    const data = t.data as ArrayBufferView;
    await writeFile(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    tensors.push({ name: w.name, file, type: t.type, dims: t.dims });
  }
  heads[c.id] = { medianMs: summarise(samples, 1).medianMs, tensors };
}
process.stdout.write(JSON.stringify({ heads }) + '\n');
