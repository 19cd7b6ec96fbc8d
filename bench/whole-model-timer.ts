/**
 * Times one whole model in this (possibly CPU-throttled) process: onnxruntime-node, 1 intra-op thread, batch 1.
 * Usage: tsx bench/whole-model-timer.ts <model.onnx> <runs> [warmup]
 * Loads the model, prints `ready`, waits for one line on stdin (the caller moves it into a CPU quota group meanwhile:
 * start-up and protobuf parsing under a 0.05-core quota would take minutes), then warms up, times, and prints one
 * JSON line: { samplesMs: number[] }.
 */
import { once } from 'node:events';
import ort from 'onnxruntime-node';
import { loadOnnxModel } from '@cleave/partitioner';
import { benchInput } from './bench-input.js';

const [modelPath, runsArg, warmupArg] = process.argv.slice(2);
if (!modelPath || !runsArg) {
  process.stderr.write('usage: whole-model-timer <model.onnx> <runs> [warmup]\n');
  process.exit(2);
}
const feeds = benchInput(await loadOnnxModel(modelPath));
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
process.stdout.write('ready\n');
await once(process.stdin, 'data');
process.stdin.pause();
for (let i = 0; i < Number(warmupArg ?? 3); i++) await session.run(feeds);
const samplesMs: number[] = [];
for (let i = 0; i < Number(runsArg); i++) {
  const t0 = performance.now();
  await session.run(feeds);
  samplesMs.push(performance.now() - t0);
}
await session.release();
process.stdout.write(`${JSON.stringify({ samplesMs })}\n`);
