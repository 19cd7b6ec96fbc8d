/**
 * Dynamic batching throughput on a mobilenet_v2 tail (a mid split), side by side in one run:
 *   - `cleave cloud` with batching (max batch 32) at concurrency 32,
 *   - the same replica without batching (max batch 1) at concurrency 32,
 *   - a bare onnxruntime-node loop on the same tail at batch 32 (and batch 1), same threads, same machine.
 * Each replica runs as its own process (as in production); clients are closed loops, one sample per request.
 * Targets: batched ≥ 1.8× unbatched, and ≥ 90% of the bare loop at batch 32.
 *
 * Usage: npm run bench:cloud-batching [-- --seconds 4 --rounds 5 --concurrency 32 --threads 2 --delay-us 2000 --split split-17]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { connect } from '@nats-io/transport-node';
import { startEmbeddedNats } from '@cleave/cli';
import { publishBundle } from '@cleave/cloud-service/bundle-store';
import { startCloudProcess } from '../test/harness/cloud-process.js';
import {
  benchSubject,
  closedLoop,
  cutTensors,
  type LoadResult,
  median,
  prepareMobilenetTail,
  printTable,
  quantile,
  requestPayload,
} from './cloud-fixture.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    'delay-us': { type: 'string', default: '2000' },
    'max-batch': { type: 'string', default: '32' },
    split: { type: 'string' },
  },
});
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const concurrency = Number(args.concurrency);
const threads = Number(args.threads);
const maxBatch = Number(args['max-batch']);
const prefix = 'bench';

await using nats = await startEmbeddedNats();
const nc = await connect({ servers: nats.url });
const tail = await prepareMobilenetTail(args.split);
const cut = await cutTensors(tail);
const payload = requestPayload(tail, cut);
process.stdout.write(
  `mobilenet_v2 ${tail.version}, split ${tail.split.id} (cut ${tail.split.cut.join(', ')} ` +
    `[${cut[0]!.dims.join('×')}], ${(payload.byteLength / 1024).toFixed(0)} KiB per request; ` +
    `tail ${tail.split.profile.cloud?.medianMs.toFixed(2)} ms vs whole model ${tail.wholeModelMs.toFixed(2)} ms at batch 1)\n` +
    `concurrency ${concurrency}, ${threads} onnxruntime thread(s), ${rounds} rounds × ${seconds} s, max queue delay ${args['delay-us']} µs\n\n`,
);

/** Samples per second of onnxruntime alone on the tail, at `batch`. */
async function bareOrt(batch: number): Promise<number> {
  const session = await ort.InferenceSession.create(join(tail.dir, tail.split.tail!), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } }, // as the replica runs it
  });
  const feeds = Object.fromEntries(
    cut.map((t) => {
      const data = new Float32Array(t.data.length * batch);
      for (let i = 0; i < batch; i += 1) data.set(t.data, i * t.data.length);
      return [t.name, new ort.Tensor('float32', data, [batch, ...t.dims.slice(1)])];
    }),
  );
  for (let i = 0; i < 3; i += 1) await session.run(feeds);
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await session.run(feeds);
    runs += 1;
  }
  const rate = (runs * batch) / ((performance.now() - start) / 1000);
  await session.release();
  return rate;
}

/** A replica process with max batch `batch`, on its own prefix, alive for the whole bench. */
async function startReplica(batch: number) {
  const replicaPrefix = `${prefix}${batch}`;
  await publishBundle(nc, tail.dir, { prefix: replicaPrefix });
  const replica = await startCloudProcess([
    '--nats-url',
    nats.url,
    '--prefix',
    replicaPrefix,
    '--replica',
    `bench-b${batch}`,
    '--max-batch-size',
    String(batch),
    '--max-queue-delay-us',
    args['delay-us'],
    '--intra-op-threads',
    String(threads),
    '--no-http',
  ]);
  const subject = benchSubject(tail, replicaPrefix);
  await closedLoop(nc, subject, payload, concurrency, 2); // load the tail, warm up
  return { replica, subject };
}

const withBatching = await startReplica(maxBatch);
const withoutBatching = await startReplica(1);
const bare32: number[] = [];
const bare1: number[] = [];
const batched: LoadResult[] = [];
const unbatched: LoadResult[] = [];
// The configurations take turns, in a rotating order, so that load from anything else on the machine spreads over
// all of them instead of biasing one; ratios are taken within a round.
const trials: (() => Promise<void>)[] = [
  async () => void batched.push(await closedLoop(nc, withBatching.subject, payload, concurrency, seconds)),
  async () => void unbatched.push(await closedLoop(nc, withoutBatching.subject, payload, concurrency, seconds)),
  async () => void bare32.push(await bareOrt(maxBatch)),
  async () => void bare1.push(await bareOrt(1)),
];
for (let round = 0; round < rounds; round += 1) {
  for (let i = 0; i < trials.length; i += 1) await trials[(round + i) % trials.length]!();
  process.stderr.write(`round ${round + 1}/${rounds} done\n`);
}
for (const { replica } of [withBatching, withoutBatching]) {
  replica.child.kill('SIGTERM');
  await replica.exited;
}

const rate = (r: LoadResult) => r.ok / r.seconds;
const meanBatch = (r: LoadResult) => r.batchSizes.reduce((a, b) => a + b, 0) / Math.max(1, r.batchSizes.length);
const errors = (rs: LoadResult[]) => rs.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0);
const perRound = (a: readonly number[], b: readonly number[]) => a.map((x, i) => x / b[i]!);
const speedups = perRound(batched.map(rate), unbatched.map(rate));
const ofBares = perRound(batched.map(rate), bare32);
const batchedRate = median(batched.map(rate));
const unbatchedRate = median(unbatched.map(rate));
const bareRate = median(bare32);
const fmt = (n: number, digits = 1) => n.toFixed(digits);
printTable(
  ['configuration', 'samples/s (median)', 'per round', 'p50 ms', 'p99 ms', 'mean batch', 'errors'],
  [
    [
      `cleave cloud, batching (max ${maxBatch})`,
      fmt(batchedRate),
      batched.map((r) => fmt(rate(r))).join(' / '),
      fmt(median(batched.map((r) => quantile(r.latencies, 0.5)))),
      fmt(median(batched.map((r) => quantile(r.latencies, 0.99)))),
      fmt(median(batched.map(meanBatch))),
      String(errors(batched)),
    ],
    [
      'cleave cloud, no batching (max 1)',
      fmt(unbatchedRate),
      unbatched.map((r) => fmt(rate(r))).join(' / '),
      fmt(median(unbatched.map((r) => quantile(r.latencies, 0.5)))),
      fmt(median(unbatched.map((r) => quantile(r.latencies, 0.99)))),
      fmt(median(unbatched.map(meanBatch))),
      String(errors(unbatched)),
    ],
    [
      `bare onnxruntime loop, batch ${maxBatch}`,
      fmt(bareRate),
      bare32.map((r) => fmt(r)).join(' / '),
      '',
      '',
      String(maxBatch),
      '',
    ],
    ['bare onnxruntime loop, batch 1', fmt(median(bare1)), bare1.map((r) => fmt(r)).join(' / '), '', '', '1', ''],
  ],
);
const speedup = median(speedups);
const ofBare = median(ofBares);
process.stdout.write(
  `\nratios are medians of per-round ratios (each round runs every configuration back to back):\n` +
    `batching vs no batching: ${speedup.toFixed(2)}× [${speedups.map((x) => x.toFixed(2)).join(', ')}] ` +
    `(target ≥ 1.80×) ${speedup >= 1.8 ? 'MET' : 'MISSED'}\n` +
    `batching vs bare onnxruntime at batch ${maxBatch}: ${(ofBare * 100).toFixed(1)}% ` +
    `[${ofBares.map((x) => (x * 100).toFixed(0)).join(', ')}] (target ≥ 90%) ${ofBare >= 0.9 ? 'MET' : 'MISSED'}\n` +
    `bare onnxruntime batch ${maxBatch} vs batch 1: ${median(perRound(bare32, bare1)).toFixed(2)}× ` +
    `(the compute-side gain batching can harvest on this CPU)\n`,
);
await nc.close();
