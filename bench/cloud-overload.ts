/**
 * Overload: one `cleave cloud` replica (mobilenet_v2 mid-split tail) driven first at its capacity (closed loop,
 * concurrency 32), then by an open loop at 5× that rate. Shows that back-pressure keeps memory flat and the
 * latency of admitted requests bounded, and that the excess is refused at once with explicit `overloaded` replies
 * (no timeouts, no silent drops).
 *
 * Usage: npm run bench:cloud-overload [-- --seconds 15 --factor 5 --max-in-flight 64 --threads 2]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { startEmbeddedNats } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { quantileOrNaN as quantile } from '@cleave/proto';
import { testPublisher } from '../test/harness/bundle-signing.js';
import { startCloudProcess } from '../test/harness/cloud-process.js';
import {
  benchSubject,
  closedLoop,
  cutTensors,
  type LoadResult,
  openLoop,
  prepareMobilenetTail,
  printTable,
  requestPayload,
} from './cloud-fixture.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    factor: { type: 'string', default: '5' },
    'max-in-flight': { type: 'string', default: '64' },
    threads: { type: 'string', default: '2' },
    split: { type: 'string' },
  },
});
const seconds = Number(args.seconds);
const factor = Number(args.factor);
const maxInFlight = Number(args['max-in-flight']);
const prefix = 'overload';

await using nats = await startEmbeddedNats();
const nc = await connect({ servers: nats.url });
const tail = await prepareMobilenetTail(args.split);
await publishBundle(nc, tail.dir, { prefix, signingKey: testPublisher().seed });
const payload = requestPayload(tail, await cutTensors(tail));
const subject = benchSubject(tail, prefix);
const replica = await startCloudProcess(
  [
    '--nats-url',
    nats.url,
    '--prefix',
    prefix,
    '--replica',
    'overload',
    '--max-batch-size',
    '32',
    '--max-in-flight',
    String(maxInFlight),
    '--max-queue-requests',
    String(maxInFlight),
    '--intra-op-threads',
    args.threads,
    '--no-http',
  ],
  { NODE_OPTIONS: '--max-semi-space-size=64' },
); // as deploy/kubernetes/cloud-deployment.yaml runs it
const pid = replica.child.pid!;

/** Resident set size of the replica, MiB. */
async function rssMiB(): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

/** CPU seconds (user + system, every thread) used so far by process `pid`. */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks
}

/** Cores used by the replica, nats-server and this load generator over a phase. */
interface CpuShare {
  readonly replica: number;
  readonly natsServer: number;
  readonly client: number;
}

/** Runs `load` while sampling the replica's RSS every 100 ms, and measures who used the CPU. */
async function sampled(load: () => Promise<LoadResult>): Promise<{ result: LoadResult; rss: number[]; cpu: CpuShare }> {
  const pids = [pid, nats.pid, process.pid];
  const before = await Promise.all(pids.map(cpuSeconds));
  const start = performance.now();
  const rss: number[] = [];
  const timer = setInterval(() => void rssMiB().then((v) => rss.push(v)), 100);
  try {
    const result = await load();
    const after = await Promise.all(pids.map(cpuSeconds));
    const cores = after.map((a, i) => (a - before[i]!) / ((performance.now() - start) / 1000));
    return { result, rss, cpu: { replica: cores[0]!, natsServer: cores[1]!, client: cores[2]! } };
  } finally {
    clearInterval(timer);
  }
}

await closedLoop(nc, subject, payload, 32, 3); // load the tail, warm up
const idleRss = await rssMiB();
const atCapacity = await sampled(() => closedLoop(nc, subject, payload, 32, Math.min(10, seconds)));
const capacity = atCapacity.result.ok / atCapacity.result.seconds;
const rate = Math.round(capacity * factor);
process.stdout.write(
  `mobilenet_v2 split ${tail.split.id}, ${(payload.byteLength / 1024).toFixed(0)} KiB per request; ` +
    `replica: max batch 32, max in flight ${maxInFlight}, ${args.threads} onnxruntime thread(s)\n` +
    `capacity (closed loop, concurrency 32): ${capacity.toFixed(1)} req/s; now offering ${rate} req/s (${factor}×) ` +
    `for ${seconds} s as an open loop\n\n`,
);
const overloaded = await sampled(() => openLoop(nc, subject, payload, rate, seconds, 10_000));
replica.child.kill('SIGTERM');
const exitCode = await replica.exited;
await nc.close();

/** The q-quantile of each third of a series, to show whether it drifts over the run. */
function byThird(values: readonly number[], q: number): string {
  return [0, 1, 2]
    .map((i) => values.slice((i * values.length) / 3, ((i + 1) * values.length) / 3))
    .map((part) => quantile(part, q).toFixed(0))
    .join(' / ');
}

const row = (
  name: string,
  offered: string,
  { result, rss, cpu }: { result: LoadResult; rss: number[]; cpu: CpuShare },
) => {
  const overloadedReplies = result.errors['overloaded'] ?? 0;
  const other = Object.values(result.errors).reduce((a, b) => a + b, 0) - overloadedReplies;
  return [
    name,
    offered,
    (result.ok / result.seconds).toFixed(1),
    String(overloadedReplies),
    String(other),
    quantile(result.latencies, 0.99).toFixed(0),
    quantile(result.serverLatencies, 0.99).toFixed(0),
    byThird(
      result.timeline.map((t) => t.serverMs),
      0.99,
    ),
    Math.max(...rss).toFixed(0),
    byThird(rss, 1),
    `${cpu.replica.toFixed(2)} / ${cpu.natsServer.toFixed(2)} / ${cpu.client.toFixed(2)}`,
  ];
};
printTable(
  [
    'phase',
    'offered req/s',
    'served req/s',
    'overloaded',
    'other',
    'client p99 ms',
    'replica p99 ms',
    'replica p99 by third',
    'peak RSS MiB',
    'peak RSS by third',
    'cores: replica / nats / client',
  ],
  [
    row('at capacity (closed loop)', '32 clients', atCapacity),
    row(`${factor}× capacity (open loop)`, String(rate), overloaded),
  ],
);
const r = overloaded.result;
const served = r.ok / r.seconds;
const other = Object.entries(r.errors).filter(([code]) => code !== 'overloaded');
// Worst case inside the replica: the in-flight window ahead of a request runs as full batches, then its own batch.
const runP99 = quantile(
  r.timeline.map((t) => t.runMs),
  0.99,
);
const boundMs = (Math.ceil(maxInFlight / 32) + 1) * runP99;
const p99 = quantile(r.serverLatencies, 0.99);
const peakGrowth = Math.max(...overloaded.rss) - Math.max(...atCapacity.rss);
const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED');
process.stdout.write(
  `\nidle RSS after warm-up ${idleRss.toFixed(0)} MiB; the replica exited ${exitCode} after SIGTERM\n` +
    `excess refused explicitly: ${r.errors['overloaded'] ?? 0} overloaded replies, no other outcome ` +
    `${JSON.stringify(Object.fromEntries(other))}: ${verdict(other.length === 0 && (r.errors['overloaded'] ?? 0) > 0)}\n` +
    `admitted p99 inside the replica ${p99.toFixed(0)} ms vs (max in flight / max batch + 1) × p99 batch run ` +
    `${runP99.toFixed(0)} ms = ${boundMs.toFixed(0)} ms: ${verdict(p99 <= boundMs)}; flat over the run (p99 by third above)\n` +
    `peak RSS at ${factor}× minus peak at capacity: ${peakGrowth >= 0 ? '+' : ''}${peakGrowth.toFixed(0)} MiB ` +
    `(flat over the run, see by third): ${verdict(peakGrowth <= 64)} (met = within 64 MiB)\n` +
    `served at ${factor}× vs at capacity: ${((served / capacity) * 100).toFixed(0)}% ` +
    `(replica, nats-server and this load generator share the machine's cores; see the cores column)\n`,
);
