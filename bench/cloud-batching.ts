/**
 * Dynamic batching throughput on a mobilenet_v2 tail (a mid split), side by side in one run:
 *   - `cleave cloud` with batching (max batch 32) at concurrency 32,
 *   - the same replica without batching (max batch 1) at concurrency 32,
 *   - a bare onnxruntime-node loop on the same tail at batch 32 (and batch 1), same threads, same machine.
 * Each replica runs as its own process (as in production); clients are closed loops, one sample per request.
 * Targets: batched ≥ 1.8× unbatched, and ≥ 90% of the bare loop at batch 32.
 *
 * Usage: npm run bench:cloud-batching [-- --seconds 4 --rounds 5 --concurrency 32 --threads 2 --delay-us 2000
 *        --split split-17 --semi-space-mb 64]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { connect } from '@nats-io/transport-node';
import { startEmbeddedNats } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { median, quantileOrNaN } from '@cleave/proto';
import { testPublisher } from '../test/harness/bundle-signing.js';
import { startCloudProcess } from '../test/harness/cloud-process.js';
import {
  benchSubject,
  closedLoop,
  cutTensors,
  type LoadResult,
  prepareMobilenetTail,
  printTable,
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
    'semi-space-mb': { type: 'string', default: '64' },
  },
});
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const concurrency = Number(args.concurrency);
const threads = Number(args.threads);
const maxBatch = Number(args['max-batch']);
const prefix = 'bench';
// As deploy/kubernetes/cloud-deployment.yaml runs replicas: a larger young generation halves GC time at these message rates.
const replicaEnv =
  Number(args['semi-space-mb']) > 0 ? { NODE_OPTIONS: `--max-semi-space-size=${args['semi-space-mb']}` } : {};

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

/** One trial: wall-clock throughput, throughput per CPU-second of the process doing the work, and the load run. */
interface Trial {
  readonly rate: number;
  readonly perCpuSecond: number;
  readonly load?: LoadResult;
}

/** CPU seconds (user + system, every thread) used so far by process `pid`. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks
}

/** onnxruntime alone on the tail, at `batch`, with the replica's session options. */
async function bareOrt(batch: number): Promise<Trial> {
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
  const cpuBefore = await cpuSeconds(process.pid);
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await session.run(feeds);
    runs += 1;
  }
  const elapsed = (performance.now() - start) / 1000;
  const cpu = (await cpuSeconds(process.pid)) - cpuBefore;
  await session.release();
  return { rate: (runs * batch) / elapsed, perCpuSecond: (runs * batch) / cpu };
}

/** A replica process with max batch `batch`, on its own prefix, alive for the whole bench. */
async function startReplica(batch: number) {
  const replicaPrefix = `${prefix}${batch}`;
  await publishBundle(nc, tail.dir, { prefix: replicaPrefix, signingKey: testPublisher().seed });
  const replica = await startCloudProcess(
    [
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
    ],
    replicaEnv,
  );
  const subject = benchSubject(tail, replicaPrefix);
  await closedLoop(nc, subject, payload, concurrency, 2); // load the tail, warm up
  return {
    replica,
    /** Closed-loop load on the replica; CPU is the replica process's (event loop and onnxruntime worker). */
    async trial(): Promise<Trial> {
      const cpuBefore = await cpuSeconds(replica.child.pid!);
      const load = await closedLoop(nc, subject, payload, concurrency, seconds);
      const cpu = (await cpuSeconds(replica.child.pid!)) - cpuBefore;
      return { rate: load.ok / load.seconds, perCpuSecond: load.ok / cpu, load };
    },
  };
}

const withBatching = await startReplica(maxBatch);
const withoutBatching = await startReplica(1);
const results = { batched: [] as Trial[], unbatched: [] as Trial[], bareMax: [] as Trial[], bare1: [] as Trial[] };
// The configurations take turns, in a rotating order, so that load from anything else on the machine spreads over
// all of them instead of biasing one; ratios are taken within a round.
const trials: (() => Promise<void>)[] = [
  async () => void results.batched.push(await withBatching.trial()),
  async () => void results.unbatched.push(await withoutBatching.trial()),
  async () => void results.bareMax.push(await bareOrt(maxBatch)),
  async () => void results.bare1.push(await bareOrt(1)),
];
for (let round = 0; round < rounds; round += 1) {
  for (let i = 0; i < trials.length; i += 1) await trials[(round + i) % trials.length]!();
  process.stderr.write(`round ${round + 1}/${rounds} done\n`);
}
for (const { replica } of [withBatching, withoutBatching]) {
  replica.child.kill('SIGTERM');
  await replica.exited;
}
await nc.close();

const fmt = (n: number, digits = 1) => n.toFixed(digits);
const loadColumns = (ts: readonly Trial[]) => {
  const loads = ts.map((t) => t.load!);
  const meanBatch = (r: LoadResult) => r.batchSizes.reduce((a, b) => a + b, 0) / Math.max(1, r.batchSizes.length);
  const errors = loads.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0);
  return [
    fmt(median(loads.map((r) => quantileOrNaN(r.latencies, 0.5)))),
    fmt(median(loads.map((r) => quantileOrNaN(r.latencies, 0.99)))),
    fmt(median(loads.map(meanBatch))),
    String(errors),
  ];
};
const row = (name: string, ts: readonly Trial[], extra: string[]) => [
  name,
  fmt(median(ts.map((t) => t.rate))),
  ts.map((t) => fmt(t.rate, 0)).join(' / '),
  fmt(median(ts.map((t) => t.perCpuSecond))),
  ...extra,
];
printTable(
  ['configuration', 'samples/s', 'per round', 'samples/CPU-s', 'p50 ms', 'p99 ms', 'mean batch', 'errors'],
  [
    row(`cleave cloud, batching (max ${maxBatch})`, results.batched, loadColumns(results.batched)),
    row('cleave cloud, no batching (max 1)', results.unbatched, loadColumns(results.unbatched)),
    row(`bare onnxruntime loop, batch ${maxBatch}`, results.bareMax, ['', '', String(maxBatch), '']),
    row('bare onnxruntime loop, batch 1', results.bare1, ['', '', '1', '']),
  ],
);

/** Median over rounds of a/b, each pair measured back to back in the same round. */
function ratio(
  a: readonly Trial[],
  b: readonly Trial[],
  key: 'rate' | 'perCpuSecond',
): { median: number; all: string } {
  const values = a.map((t, i) => t[key] / b[i]![key]);
  return { median: median(values), all: values.map((v) => v.toFixed(2)).join(', ') };
}
const verdict = (value: number, target: number) => (value >= target ? 'MET' : 'MISSED');
const lines: [string, ReturnType<typeof ratio>, number][] = [
  ['batching vs no batching, wall clock', ratio(results.batched, results.unbatched, 'rate'), 1.8],
  ['batching vs no batching, per CPU-second', ratio(results.batched, results.unbatched, 'perCpuSecond'), 1.8],
  [
    `batching vs bare onnxruntime at batch ${maxBatch}, wall clock`,
    ratio(results.batched, results.bareMax, 'rate'),
    0.9,
  ],
  [
    `batching vs bare onnxruntime at batch ${maxBatch}, per CPU-second`,
    ratio(results.batched, results.bareMax, 'perCpuSecond'),
    0.9,
  ],
];
process.stdout.write('\nratios: median of per-round ratios [each round]; CPU-seconds are the working process only\n');
for (const [name, r, target] of lines) {
  process.stdout.write(
    `${name}: ${r.median.toFixed(2)}× [${r.all}] (target ≥ ${target.toFixed(2)}×) ${verdict(r.median, target)}\n`,
  );
}
const ceiling = ratio(results.bareMax, results.bare1, 'perCpuSecond');
process.stdout.write(
  `compute-side gain of batch ${maxBatch} over batch 1 in bare onnxruntime, per CPU-second: ${ceiling.median.toFixed(2)}× [${ceiling.all}]\n`,
);
