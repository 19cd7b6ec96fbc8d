/**
 * Dynamic batching throughput on a mobilenet_v2 tail (a mid split), side by side in one run, for each max batch size
 * (8, 16, 32) and each onnxruntime thread count (1, 2):
 *   - `cleave cloud` with batching (max batch B) under a closed loop of 2 × B clients (so that a batch fills while
 *     the one before it runs; at B clients half of them wait for the running batch, and batches alternate in halves),
 *   - the same replica without batching (max batch 1) under the same kind of load,
 *   - a bare onnxruntime-node loop on the same tail at batch B and at batch 1, same threads, same machine.
 * Each replica runs as its own process (as in production); clients send one sample per request.
 * Targets: batched ≥ 2× unbatched, and ≥ 0.9× the bare loop at the same batch.
 *
 * Usage: npm run bench:cloud-batching [-- --seconds 3 --rounds 3 --batches 8,16,32 --threads 1,2
 *        --load-factor 2 --delay-us 2000 --split split-17 --semi-space-mb 64 --memory-arena]
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    batches: { type: 'string', default: '8,16,32' },
    threads: { type: 'string', default: '1,2' },
    'load-factor': { type: 'string', default: '2' },
    'delay-us': { type: 'string', default: '2000' },
    split: { type: 'string' },
    'semi-space-mb': { type: 'string', default: '64' },
    // Replicas run with onnxruntime's arena off by default, so that memory comes back after a burst.
    'memory-arena': { type: 'boolean', default: false },
  },
});
/** A comma-separated list of positive integers from flag `name`. */
function integers(name: 'batches' | 'threads'): number[] {
  const values = args[name].split(',').map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < 1)) {
    process.stderr.write(`--${name}: expected positive integers separated by commas, got ${args[name]}\n`);
    process.exit(2);
  }
  return values;
}
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const batches = integers('batches');
const threadCounts = integers('threads');
const loadFactor = Number(args['load-factor']);
const prefix = 'bench';
// As deploy/kubernetes/cloud-deployment.yaml runs replicas: a larger young generation halves GC time at these message rates.
const replicaEnv =
  Number(args['semi-space-mb']) > 0 ? { NODE_OPTIONS: `--max-semi-space-size=${args['semi-space-mb']}` } : {};

// The replicas' configuration file: only what differs from the defaults.
const configFile = join(await mkdtemp(join(tmpdir(), 'cleave-bench-batching-')), 'cloud.yaml');
await writeFile(configFile, `onnx:\n  memoryArena: ${args['memory-arena']}\n`);

await using nats = await startEmbeddedNats();
const nc = await connect({ servers: nats.url });
const tail = await prepareMobilenetTail(args.split);
const cut = await cutTensors(tail);
const payload = requestPayload(tail, cut);
process.stdout.write(
  `mobilenet_v2 ${tail.version}, split ${tail.split.id} (cut ${tail.split.cut.join(', ')} ` +
    `[${cut[0]!.dims.join('×')}], ${(payload.byteLength / 1024).toFixed(0)} KiB per request; ` +
    `tail ${tail.split.profile.cloud?.medianMs.toFixed(2)} ms vs whole model ${tail.wholeModelMs.toFixed(2)} ms at batch 1)\n` +
    `max batch ${batches.join(', ')} × ${threadCounts.join(', ')} onnxruntime thread(s), ${loadFactor} × max batch ` +
    `clients, ${rounds} rounds × ${seconds} s, max queue delay ${args['delay-us']} µs, replicas' memory arena ` +
    `${args['memory-arena'] ? 'on' : 'off (the default)'}\n\n`,
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
async function bareOrt(batch: number, threads: number): Promise<Trial> {
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
async function startReplica(batch: number, threads: number) {
  const replicaPrefix = `${prefix}b${batch}t${threads}`;
  await publishBundle(nc, tail.dir, { prefix: replicaPrefix, signingKey: testPublisher().seed });
  const replica = await startCloudProcess(
    [
      '--config',
      configFile,
      '--nats-url',
      nats.url,
      '--prefix',
      replicaPrefix,
      '--replica',
      `bench-b${batch}-t${threads}`,
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
  await closedLoop(nc, subject, payload, 2 * batch, 2); // load the tail, warm up
  return {
    replica,
    /** Closed-loop load on the replica; CPU is the replica process's (event loop and onnxruntime worker). */
    async trial(concurrency: number): Promise<Trial> {
      const cpuBefore = await cpuSeconds(replica.child.pid!);
      const load = await closedLoop(nc, subject, payload, concurrency, seconds);
      const cpu = (await cpuSeconds(replica.child.pid!)) - cpuBefore;
      return { rate: load.ok / load.seconds, perCpuSecond: load.ok / cpu, load };
    },
  };
}

/** The trials of one (max batch, threads) cell, taken one round at a time. */
interface Cell {
  readonly batch: number;
  readonly threads: number;
  readonly batched: Trial[];
  readonly unbatched: Trial[];
  readonly bare: Trial[];
  readonly bare1: Trial[];
}
const cells: Cell[] = [];
const replicas: Awaited<ReturnType<typeof startReplica>>[] = [];
const trials: (() => Promise<void>)[] = [];
for (const threads of threadCounts) {
  // One unbatched replica per thread count, loaded like each batched one in turn.
  const withoutBatching = await startReplica(1, threads);
  replicas.push(withoutBatching);
  for (const batch of batches) {
    const concurrency = loadFactor * batch;
    const cell: Cell = { batch, threads, batched: [], unbatched: [], bare: [], bare1: [] };
    const withBatching = await startReplica(batch, threads);
    replicas.push(withBatching);
    cells.push(cell);
    trials.push(
      async () => void cell.batched.push(await withBatching.trial(concurrency)),
      async () => void cell.unbatched.push(await withoutBatching.trial(concurrency)),
      async () => void cell.bare.push(await bareOrt(batch, threads)),
      async () => void cell.bare1.push(await bareOrt(1, threads)),
    );
  }
}
// The configurations take turns, in a rotating order, so that load from anything else on the machine spreads over
// all of them instead of biasing one; ratios are taken within a round.
for (let round = 0; round < rounds; round += 1) {
  for (let i = 0; i < trials.length; i += 1) await trials[(round + i) % trials.length]!();
  process.stderr.write(`round ${round + 1}/${rounds} done\n`);
}
for (const { replica } of replicas) {
  replica.child.kill('SIGTERM');
  await replica.exited;
}
await nc.close();

const fmt = (n: number, digits = 1) => n.toFixed(digits);
const meanBatch = (r: LoadResult) => r.batchSizes.reduce((a, b) => a + b, 0) / Math.max(1, r.batchSizes.length);
const errorsOf = (ts: readonly Trial[]) =>
  ts.reduce((n, t) => n + Object.values(t.load!.errors).reduce((a, b) => a + b, 0), 0);
/** Median over rounds of a/b, each pair measured in the same round. */
const ratio = (a: readonly Trial[], b: readonly Trial[], key: 'rate' | 'perCpuSecond') =>
  median(a.map((t, i) => t[key] / b[i]![key]));
const rate = (ts: readonly Trial[]) => fmt(median(ts.map((t) => t.rate)), 0);
const perCpu = (ts: readonly Trial[]) => fmt(median(ts.map((t) => t.perCpuSecond)), 0);

printTable(
  [
    'max batch',
    'threads',
    'clients',
    'batched /s',
    'per CPU-s',
    'mean batch',
    'p50 ms',
    'p99 ms',
    'unbatched /s',
    'bare B /s',
    'per CPU-s',
    'bare 1 /s',
    'errors',
  ],
  cells.map((c) => [
    String(c.batch),
    String(c.threads),
    String(loadFactor * c.batch),
    rate(c.batched),
    perCpu(c.batched),
    fmt(median(c.batched.map((t) => meanBatch(t.load!)))),
    fmt(median(c.batched.map((t) => quantileOrNaN(t.load!.latencies, 0.5)))),
    fmt(median(c.batched.map((t) => quantileOrNaN(t.load!.latencies, 0.99)))),
    rate(c.unbatched),
    rate(c.bare),
    perCpu(c.bare),
    rate(c.bare1),
    String(errorsOf(c.batched) + errorsOf(c.unbatched)),
  ]),
);

const verdict = (value: number, target: number) => `${value.toFixed(2)}× ${value >= target ? 'MET' : 'MISSED'}`;
process.stdout.write(
  '\nratios: medians of per-round ratios; CPU-seconds are the working process only (the replica, or the bare loop)\n',
);
printTable(
  [
    'max batch',
    'threads',
    'vs unbatched, wall (≥ 2×)',
    'vs unbatched, per CPU-s',
    'vs bare, wall (≥ 0.9×)',
    'vs bare, per CPU-s (≥ 0.9×)',
    'bare B vs bare 1, per CPU-s',
  ],
  cells.map((c) => [
    String(c.batch),
    String(c.threads),
    verdict(ratio(c.batched, c.unbatched, 'rate'), 2),
    ratio(c.batched, c.unbatched, 'perCpuSecond').toFixed(2),
    verdict(ratio(c.batched, c.bare, 'rate'), 0.9),
    verdict(ratio(c.batched, c.bare, 'perCpuSecond'), 0.9),
    ratio(c.bare, c.bare1, 'perCpuSecond').toFixed(2),
  ]),
);
