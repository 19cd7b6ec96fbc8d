// A thousand agents: simulated agents (simulated-agents.ts, in several processes) against the 3-node JetStream
// cluster of deploy/nats/jwt/cluster/ in operator/JWT mode, two real `cleave cloud` replicas and a real
// `cleave console`. Every agent has its own creds from `cleave fleet add-agent`, writes real heartbeats and sends
// real tail requests. Prints: heartbeat writes, tail answers, the console's fleet API latency and how many agents it
// flags stale, the live stream's bytes per second, the fleet page's load time in Chromium, and the CPU of the
// console, of each nats-server, of the cloud replicas and of the simulators over the measured window.
//
//   npm run bench:fleet -- --agents 1000 --seconds 60
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, publishBundle } from '@cleave/node-runtime';
import { testPublisher, testTrustEnv } from '../../test/harness/bundle-signing.js';
import { buildExampleBundle, exampleImages, runHead } from '../../test/harness/cloud-fixtures.js';
import { startCloudProcess } from '../../test/harness/cloud-process.js';
import { startConsoleProcess } from '../../test/harness/console-process.js';
import { readDeployStreams, startDeployNats } from '../../test/harness/nats-cluster.js';
import { runCleave } from '../../test/harness/run-cli.js';
import { measureConsole } from './console-probe.js';
import { cpuSeconds } from './process-cpu.js';
import { startSimulators } from './simulator-processes.js';

const { values: args } = parseArgs({
  options: {
    agents: { type: 'string', default: '1000' },
    processes: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '60' },
    rate: { type: 'string', default: '0.2' },
    'heartbeat-ms': { type: 'string', default: '5000' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(
    'usage: npm run bench:fleet -- [--agents 1000] [--processes 4] [--seconds 60] [--rate 0.2 (tail requests/s per agent)] [--heartbeat-ms 5000]',
  );
  process.exit(0);
}
const agents = Number(args.agents);
const seconds = Number(args.seconds);
const heartbeatMs = Number(args['heartbeat-ms']);
const rate = Number(args.rate);
const processes = Number(args.processes);
for (const [flag, value] of Object.entries({ agents, seconds, 'heartbeat-ms': heartbeatMs, processes })) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${flag}: expected a positive integer`);
}
if (!(rate >= 0)) throw new Error('--rate: expected a number ≥ 0');

const PREFIX = 'cleave';
const TOKEN = 'fleet-scale-bench-token';
const work = await mkdtemp(join(tmpdir(), 'cleave-fleet-scale-'));
const agentIds = Array.from({ length: agents }, (_, i) => `gw-${String(i + 1).padStart(4, '0')}`);
let fleetDir = '';

async function cleave(...cli: string[]): Promise<void> {
  const result = await runCleave(cli, { timeoutMs: 300_000 });
  if (result.code !== 0)
    throw new Error(`cleave ${cli.slice(0, 3).join(' ')} failed (${result.code}): ${result.stderr}`);
}

const phase = (what: string) => console.error(`fleet-scale: ${what}`);
phase(`issuing ${agents} agents and starting the 3-node JWT cluster`);
const nats = await startDeployNats({
  configs: ['jwt/cluster/node-a.conf', 'jwt/cluster/node-b.conf', 'jwt/cluster/node-c.conf'],
  readyTimeoutMs: 60_000,
  prepare: async (copy) => {
    fleetDir = join(copy, 'jwt', 'fleet');
    await cleave('fleet', 'init', '--dir', fleetDir);
    await cleave('fleet', 'add-agent', ...agentIds, '--dir', fleetDir);
    for (const [name, role] of [
      ['cloud-1', 'cloud'],
      ['cloud-2', 'cloud'],
      ['console', 'console'],
      ['publisher', 'publisher'],
    ]) {
      await cleave('fleet', 'add-user', '--role', role!, name!, '--dir', fleetDir);
    }
  },
});
const creds = (user: string) => join(fleetDir, 'creds', `${user}.creds`);
const urls = nats.urls.join(',');
const connections: NatsConnection[] = [];
const connectAs = async (user: string) => {
  const nc = await connectNats(
    { servers: [...nats.urls], credsFile: creds(user) } as Parameters<typeof connectNats>[0],
    user,
  );
  connections.push(nc);
  return nc;
};

try {
  // Provisioned the way deploy/README.md says: the streams of deploy/nats/streams/ (three replicas each), created by
  // the roles that own them.
  const streams = await readDeployStreams();
  const publisher = await connectAs('publisher');
  const pjsm = await jetstreamManager(publisher);
  for (const name of ['OBJ_cleave_bundles', 'KV_cleave_current']) await pjsm.streams.add(streams.get(name)!);
  const cjsm = await jetstreamManager(await connectAs('console'));
  for (const name of ['KV_cleave_heartbeats', 'KV_cleave_policies', 'KV_cleave_audit']) {
    await cjsm.streams.add(streams.get(name)!);
  }

  phase('partitioning and publishing the example');
  const bundle = await buildExampleBundle(join(work, 'bundle'));
  await publishBundle(publisher, bundle.dir, { prefix: PREFIX, signingKey: testPublisher().seed });
  const split = [...bundle.splits.keys()].at(-1)!;
  const cut = (await runHead(bundle, split, exampleImages(1, 7), 1)).map((t) => ({
    name: t.name,
    dims: t.dims,
    data: [...t.data],
  }));

  phase('starting 2 replicas and the console');
  const replicas = await Promise.all(
    ['cloud-1', 'cloud-2'].map((name) =>
      startCloudProcess(
        ['--nats-url', urls, '--prefix', PREFIX, '--replica', name, '--creds', creds(name), '--http-port', '0'],
        {
          ...process.env,
          ...testTrustEnv(),
        },
      ),
    ),
  );
  const console_ = await startConsoleProcess(urls, PREFIX, TOKEN, process.env, ['--creds', creds('console')]);

  phase(`starting ${agents} simulated agents in ${processes} processes`);
  const specFile = (i: number) => join(work, `sim-${i}.json`);
  const perProcess = Math.ceil(agents / processes);
  for (let i = 0; i < processes; i += 1) {
    const spec = {
      servers: nats.urls,
      credsDir: join(fleetDir, 'creds'),
      prefix: PREFIX,
      agentIds: agentIds.slice(i * perProcess, (i + 1) * perProcess),
      heartbeatMs,
      requestsPerSecond: rate,
      // Past the warm-up, the window and the page load: finish() stops them with SIGTERM once measured.
      seconds: seconds + (2 * heartbeatMs) / 1000 + 120,
      model: { model: bundle.model, version: bundle.version, split },
      cut,
    };
    await writeFile(specFile(i), JSON.stringify(spec));
  }
  const sims = await startSimulators(
    Array.from({ length: processes }, (_, i) => specFile(i)),
    join(import.meta.dirname, 'simulated-agents.ts'),
  );
  phase(`${sims.connected} agents connected; warming up for two heartbeat intervals`);
  await new Promise((resolve) => setTimeout(resolve, 2 * heartbeatMs));

  phase(`measuring for ${seconds} s`);
  const pids = {
    console: console_.child.pid!,
    ...Object.fromEntries(nats.nodes.map((n) => [n.name, n.pid])),
    ...Object.fromEntries(replicas.map((r, i) => [`cloud-${i + 1}`, r.child.pid!])),
  };
  const cpuBefore = await cpuSeconds([...Object.values(pids), ...sims.pids]);
  const started = performance.now();
  const probe = await measureConsole({ url: console_.url, token: TOKEN, seconds, expectedAgents: agents });
  const elapsed = (performance.now() - started) / 1000;
  const cpuAfter = await cpuSeconds([...Object.values(pids), ...sims.pids]);
  const figures = await sims.finish();

  const used = (pid: number) => (cpuAfter.get(pid)! - cpuBefore.get(pid)!) / elapsed;
  const cpu = {
    ...Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, used(pid)])),
    // Summed over the simulator processes: on a small machine they compete with the console and the cluster.
    simulators: sims.pids.reduce((sum, pid) => sum + used(pid), 0),
  };
  const report = {
    agents,
    connected: sims.connected,
    seconds: Math.round(elapsed),
    heartbeats: figures.heartbeats,
    tails: figures.tails,
    console: probe,
    cpuCoresPerSecond: cpu,
  };
  printReport(report);
  await writeFile(
    join(import.meta.dirname, '..', 'results', 'fleet-scale.json'),
    `${JSON.stringify(report, null, 2)}\n`,
  );
  await console_.stop();
  for (const r of replicas) r.child.kill('SIGTERM');
  await Promise.all(replicas.map((r) => r.exited));
} finally {
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  await nats.stop();
}

function printReport(r: {
  agents: number;
  connected: number;
  seconds: number;
  heartbeats: { attempted: number; written: number; failed: number; putP50Ms: number; putP95Ms: number };
  tails: { sent: number; answered: number; failed: number; p50Ms: number; p95Ms: number; errors: object };
  console: Awaited<ReturnType<typeof measureConsole>>;
  cpuCoresPerSecond: Record<string, number>;
}): void {
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const rows: [string, string][] = [
    ['agents connected', `${r.connected} of ${r.agents}`],
    ['window', `${r.seconds} s`],
    [
      'heartbeat writes',
      `${r.heartbeats.written} of ${r.heartbeats.attempted} (failed ${r.heartbeats.failed}); put p50 ${f(r.heartbeats.putP50Ms)} ms, p95 ${f(r.heartbeats.putP95Ms)} ms`,
    ],
    [
      'tail requests',
      `${r.tails.answered} of ${r.tails.sent} answered (failed ${r.tails.failed} ${JSON.stringify(r.tails.errors)}); p50 ${f(r.tails.p50Ms)} ms, p95 ${f(r.tails.p95Ms)} ms`,
    ],
    [
      'fleet API',
      `${r.console.fleetRequests} requests, p50 ${f(r.console.fleetP50Ms)} ms, p95 ${f(r.console.fleetP95Ms)} ms (console's own time p95 ${f(r.console.fleetServerP95Ms, 2)} ms), ${f(r.console.fleetBytes / 1024, 0)} KiB each`,
    ],
    ['agents listed / flagged stale (worst sample)', `${r.console.minAgentsListed} / ${r.console.maxStale}`],
    ['live stream', `${f(r.console.streamBytesPerSecond / 1024)} KiB/s, ${r.console.streamEvents} events`],
    ['fleet page load (Chromium)', `${f(r.console.pageLoadMs, 0)} ms to ${r.console.pageRows} rows`],
    ...Object.entries(r.cpuCoresPerSecond).map(([name, c]): [string, string] => [
      `CPU ${name}`,
      `${f(c * 100)} % of a core`,
    ]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}
