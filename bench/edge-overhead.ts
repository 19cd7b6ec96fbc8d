/**
 * Edge agent orchestration overhead on loopback, with no link shaping.
 *
 * Overhead = end-to-end latency − head compute − tail compute (local, or the cloud's reported processing and
 * queue time) − the encode/decode the agent measured. What is left is the agent's own work: validation, control,
 * exit decision, NATS and the replica's request handling, and (for the HTTP column) the HTTP API and client.
 * The cloud replica runs in this process with no batching delay, so the cloud column is compute, not policy.
 * The third row of each scenario runs as in production: a `cleave edge` process and a `cleave cloud` process (no
 * batching delay either), with this process as the load generator over HTTP. That row also reports the CPU time
 * each process spent per request (all its threads, from /proc): on a slower device the agent's share is what
 * stretches, about 1 / cores of it under a CPU quota, so it says more about a Pi-class gateway than wall time.
 *
 * Scenarios: edge-only, an early exit, an offload to the cloud, and a local fallback with the cloud gone (the
 * circuit breaker open).
 * Requests are sequential (one at a time), real Fashion-MNIST t10k images.
 *
 * Usage: npm run bench:edge [-- --requests 2000 --warmup 200]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { startEmbeddedNats } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { EdgeClient, type InferResult } from '@cleave/edge-agent';
import { quantileOrNaN as quantile } from '@cleave/proto';
import { startCloudProcess } from '../test/harness/cloud-process.js';
import { startEdgeProcess } from '../test/harness/edge-process.js';
import {
  buildEdgeBundle,
  fashionSamples,
  splitWithAllExits,
  splitWithoutExits,
  startTestAgent,
} from '../test/harness/edge-fixtures.js';
import { startTestReplica, testServiceSettings } from '../test/harness/cloud-fixtures.js';

const { values: args } = parseArgs({
  options: { requests: { type: 'string', default: '2000' }, warmup: { type: 'string', default: '200' } },
});
const requests = Number(args.requests);
const warmup = Number(args.warmup);

const prefix = 'bench';
const work = await mkdtemp(join(tmpdir(), 'cleave-bench-edge-'));
const nats = await startEmbeddedNats();
const admin = await connect({ servers: nats.url });
process.stderr.write('building the example bundle (calibrated exits)\n');
const bundle = await buildEdgeBundle(join(work, 'bundle'));
await publishBundle(admin, bundle.dir, { prefix });
const replica = await startTestReplica(
  nats.url,
  testServiceSettings(prefix, 'bench', { batching: { maxBatchSize: 1, maxQueueDelayUs: 0, maxQueueRequests: 64 } }),
);
const { images } = await fashionSamples(500);
// The processes' replica serves a prefix of its own, so the in-process rows never reach it.
const processPrefix = `${prefix}p`;
await publishBundle(admin, bundle.dir, { prefix: processPrefix });
const cloudProcess = await startCloudProcess(
  ['--nats-url', nats.url, '--prefix', processPrefix, '--replica', 'bench-process', '--no-http'].concat([
    '--max-batch-size',
    '1',
    '--max-queue-delay-us',
    '0',
  ]),
);

interface Row {
  scenario: string;
  via: string;
  n: number;
  e2e: number[];
  head: number[];
  tail: number[];
  codec: number[];
  overhead: number[];
  kinds: Map<string, number>;
  /** CPU ms per timed request of the agent's and the replica's processes; only when they run on their own. */
  cpu?: { agent: number; replica: number | undefined };
}

// Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks.
const TICKS_PER_SECOND = 100;

/** CPU time of process `pid` so far, in ms, all threads (utime + stime of /proc/<pid>/stat). */
async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after it are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** Compute that is not orchestration: the head, the tail (wherever it ran), and encode/decode. */
function compute(r: InferResult | { timings: Record<string, number> }) {
  const t = r.timings as Record<string, number>;
  const tail = (t['tailMs'] ?? 0) + (t['cloudMs'] ?? 0) + (t['cloudQueueMs'] ?? 0);
  return { head: t['headMs'] ?? 0, tail, codec: (t['encodeMs'] ?? 0) + (t['decodeMs'] ?? 0) };
}

type Keep = (ranOn: string, exit: string | null) => boolean;

function emptyRow(scenario: string, via: string): Row {
  return { scenario, via, n: 0, e2e: [], head: [], tail: [], codec: [], overhead: [], kinds: new Map() };
}

/** Counts the answer's kind; after the warm-up, keeps the figures of answers the scenario is about. */
function record(
  row: Row,
  keep: Keep,
  e2e: number,
  r: { timings: object; ranOn: string; exit: string | null },
  i: number,
): void {
  const kind = `${r.ranOn}${r.exit ? `:${r.exit}` : ''}`;
  row.kinds.set(kind, (row.kinds.get(kind) ?? 0) + 1);
  if (i < warmup || !keep(r.ranOn, r.exit)) return;
  const c = compute(r as { timings: Record<string, number> });
  row.n += 1;
  row.e2e.push(e2e);
  row.head.push(c.head);
  row.tail.push(c.tail);
  row.codec.push(c.codec);
  row.overhead.push(e2e - c.head - c.tail - c.codec);
}

/**
 * Sequential requests over the agent's HTTP API, each timed at the client; with `pids`, the CPU the agent's and the
 * replica's processes spent over the timed requests.
 */
async function overHttp(
  client: EdgeClient,
  row: Row,
  keep: Keep,
  pids?: { agent: number; replica: number | undefined },
): Promise<void> {
  let from: { agent: number; replica: number | undefined } | undefined;
  const cpuNow = async (p: NonNullable<typeof pids>) => ({
    agent: await cpuMsOf(p.agent),
    replica: p.replica === undefined ? undefined : await cpuMsOf(p.replica),
  });
  for (let i = 0; i < warmup + requests; i += 1) {
    if (i === warmup && pids !== undefined) from = await cpuNow(pids);
    const data = images[i % images.length]!;
    const started = performance.now();
    const r = await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data } });
    record(row, keep, performance.now() - started, r, i);
  }
  if (pids !== undefined && from !== undefined) {
    const to = await cpuNow(pids);
    row.cpu = {
      agent: (to.agent - from.agent) / requests,
      replica:
        to.replica === undefined || from.replica === undefined ? undefined : (to.replica - from.replica) / requests,
    };
  }
}

/** The scenario as deployed: `cleave edge` in a process of its own, pinned to `pin`, this process the client. */
async function inProcesses(name: string, pin: string, keep: Keep): Promise<Row> {
  const agent = await startEdgeProcess({
    agentId: `bench-${pin}`,
    natsUrl: nats.url,
    prefix: processPrefix,
    workDir: work,
    pin,
  });
  const client = new EdgeClient({ url: agent.httpUrl });
  const deadline = Date.now() + 60_000;
  while (!(await client.ready())) {
    if (Date.now() > deadline) throw new Error(`the agent at ${agent.httpUrl} was not ready within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const row = emptyRow(name, 'HTTP msgpack, own processes');
  const alive = cloudProcess.child.exitCode === null && cloudProcess.child.signalCode === null;
  const replicaPid = alive ? cloudProcess.child.pid : undefined;
  await overHttp(client, row, keep, { agent: agent.child.pid!, replica: replicaPid });
  await agent.stop();
  return row;
}

async function scenario(name: string, pin: string, natsUrl: string | undefined, keep: Keep): Promise<Row[]> {
  const edge = await startTestAgent({ natsUrl, prefix, config: { models: [{ id: 'fmnist', pin }] } });
  await edge.agent.whenServing('fmnist', bundle.version);
  const client = new EdgeClient({ url: edge.agent.httpUrl! });
  const rows: Row[] = ['in-process', 'HTTP msgpack'].map((via) => emptyRow(name, via));
  for (let i = 0; i < warmup + requests; i += 1) {
    const data = images[i % images.length]!;
    const started = performance.now();
    const r = await edge.agent.infer('fmnist', { input: { dims: [1, 1, 28, 28], data } });
    record(rows[0]!, keep, performance.now() - started, r, i);
  }
  await overHttp(client, rows[1]!, keep);
  await edge.close();
  await rm(edge.cacheDir, { recursive: true, force: true });
  return [...rows, await inProcesses(name, pin, keep)];
}

const withExits = splitWithAllExits(bundle.manifest).id;
const noExits = splitWithoutExits(bundle.manifest).id;
const rows: Row[] = [
  ...(await scenario('edge-only', 'edge-only', nats.url, () => true)),
  ...(await scenario(`early exit (${withExits})`, withExits, nats.url, (_r, e) => e !== null)),
  ...(await scenario(`cloud tail (${noExits}, f32)`, noExits, nats.url, (r) => r === 'cloud')),
];
// The cloud goes away: the breaker opens after a few failures and the tail runs here at once.
await replica.close();
cloudProcess.child.kill('SIGTERM');
await cloudProcess.exited;
rows.push(...(await scenario(`local fallback (${noExits}, cloud gone)`, noExits, nats.url, (r) => r === 'fallback')));

const f = (x: number) => x.toFixed(3);
const lines = [
  '| scenario | via | n | e2e p50 ms | head p50 | tail p50 | enc+dec p50 | **overhead p50** | overhead p90 | agent CPU ms/req | replica CPU ms/req |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.scenario} | ${r.via} | ${r.n} | ${f(quantile(r.e2e, 0.5))} | ${f(quantile(r.head, 0.5))} | ` +
      `${f(quantile(r.tail, 0.5))} | ${f(quantile(r.codec, 0.5))} | **${f(quantile(r.overhead, 0.5))}** | ${f(quantile(r.overhead, 0.9))} | ` +
      `${r.cpu ? f(r.cpu.agent) : '-'} | ${r.cpu?.replica === undefined ? '-' : f(r.cpu.replica)} |`,
  ),
];
process.stdout.write(`\n${lines.join('\n')}\n\n`);
process.stdout.write(
  `Answers per scenario (all requests, warm-up included): ${rows
    .filter((r) => r.via === 'in-process')
    .map((r) => `${r.scenario}: ${[...r.kinds].map(([k, v]) => `${k} ${v}`).join(', ')}`)
    .join('; ')}\n`,
);
const worstOf = (via: string) => Math.max(...rows.filter((r) => r.via === via).map((r) => quantile(r.overhead, 0.5)));
process.stdout.write(`Median in-process overhead, worst scenario: ${f(worstOf('in-process'))} ms (target ≤ 1 ms).\n`);
const processes = worstOf('HTTP msgpack, own processes');
process.stdout.write(
  `Median overhead with the agent, the replica and the load generator in their own processes, worst scenario: ` +
    `${f(processes)} ms (target ≤ 0.5 ms) ${processes <= 0.5 ? 'MET' : 'MISSED'}.\n`,
);

await admin.close();
await nats.stop();
await rm(work, { recursive: true, force: true });
