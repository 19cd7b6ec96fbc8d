// Prometheus by the book, on real processes: a `cleave cloud` replica and two `cleave edge` agents (with a battery)
// serve requests (early exits, cloud tails, then local fallbacks once the replica is gone), and their /metrics
// pass `promtool check metrics` with no lint output, share one label scheme, start error counters at 0 and resolve
// sub-millisecond latencies. The Grafana dashboard in deploy/grafana names only series these processes export.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { REPO_ROOT } from '@cleave/cli';
import { EdgeClient, EdgeErrorCode } from '@cleave/edge-agent';
import { publishBundle } from '@cleave/node-runtime';
import { WireErrorCode } from '@cleave/proto';
import {
  buildEdgeBundle,
  type CloudProcess,
  type EdgeBundle,
  fashionSamples,
  splitWithAllExits,
  splitWithoutExits,
  startCloudProcess,
  useTestNats,
  waitFor,
} from '../harness/mod.js';
import { startCleaveUntil } from '../harness/run-cli.js';
import { dashboardMetricNames, exportedSeries, parseSamples, type Sample } from './metrics-text.js';

const PROMTOOL = '/usr/bin/promtool';
const nats = useTestNats();

/** One `cleave edge` process, pinned to a split, with what its requests did and its final /metrics. */
interface MeasuredEdge {
  readonly id: string;
  readonly split: string;
  readonly process: Awaited<ReturnType<typeof startCleaveUntil<string>>>;
  readonly ranOn: Map<string, number>;
  text: string;
}

let admin: NatsConnection;
let bundle: EdgeBundle;
let cloud: CloudProcess;
let cloudText = '';
// Exits answer most requests on the first; every request of the second crosses the wire (cloud, then fallback).
let exiting: MeasuredEdge;
let offloading: MeasuredEdge;
const edges = () => [exiting, offloading];
const edgeText = () => edges().map((e) => e.text);

async function startEdge(id: string, split: string, work: string, power: string): Promise<MeasuredEdge> {
  const { url, prefix } = nats();
  const process = await startCleaveUntil(
    [
      'edge',
      ...['--agent-id', id, '--nats-url', url, '--prefix', prefix, '--model', `fmnist:${split}`],
      ...['--cache-dir', join(work, `${id}-cache`), '--http-port', '0', '--battery-path', power],
    ],
    (entry) => (entry['msg'] === 'edge agent started' && typeof entry['http'] === 'string' ? entry['http'] : undefined),
  );
  await waitFor(() => new EdgeClient({ url: process.value }).ready(), `${id} readiness`, 30_000, 100);
  return { id, split, process, ranOn: new Map(), text: '' };
}

async function send(edge: MeasuredEdge, images: readonly Float32Array[]): Promise<void> {
  const client = new EdgeClient({ url: edge.process.value });
  for (const image of images) {
    const r = await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: image } }, { deadlineMs: 20_000 });
    edge.ranOn.set(r.ranOn, (edge.ranOn.get(r.ranOn) ?? 0) + 1);
  }
}

beforeAll(async () => {
  if (!existsSync(PROMTOOL)) throw new Error(`${PROMTOOL} is missing: apt-get install -y prometheus`);
  const work = await mkdtemp(join(tmpdir(), 'metrics-promtool-'));
  bundle = await buildEdgeBundle(join(work, 'bundle'));
  admin = await connect({ servers: nats().url });
  await publishBundle(admin, bundle.dir, { prefix: nats().prefix });
  const { url, prefix } = nats();
  cloud = await startCloudProcess([
    ...['--nats-url', url, '--prefix', prefix, '--replica', 'cloud-a', '--http-port', '0', '--intra-op-threads', '1'],
  ]);
  // A charging battery at 80%: the battery series are exported, and on mains the plan objective stays as is.
  const power = join(work, 'power');
  await mkdir(join(power, 'BAT0'), { recursive: true });
  await mkdir(join(power, 'AC'));
  await writeFile(join(power, 'BAT0', 'type'), 'Battery\n');
  await writeFile(join(power, 'BAT0', 'status'), 'Charging\n');
  await writeFile(join(power, 'BAT0', 'capacity'), '80\n');
  await writeFile(join(power, 'AC', 'type'), 'Mains\n');
  await writeFile(join(power, 'AC', 'online'), '1\n');
  [exiting, offloading] = await Promise.all([
    startEdge('gw-exits', splitWithAllExits(bundle.manifest).id, work, power),
    startEdge('gw-offload', splitWithoutExits(bundle.manifest).id, work, power),
  ]);
  const { images } = await fashionSamples(40);
  await Promise.all(edges().map((edge) => send(edge, images.slice(0, 30))));
  cloudText = await (await fetch(`${cloud.httpUrl}/metrics`)).text();
  // Without the replica the offloads fall back to the local tail: the fallback series appear.
  cloud.child.kill('SIGTERM');
  await cloud.exited;
  await Promise.all(edges().map((edge) => send(edge, images.slice(30))));
  for (const edge of edges()) edge.text = await (await fetch(`${edge.process.value}/metrics`)).text();
  const summary = edges().map((e) => `${e.id} ${JSON.stringify(Object.fromEntries(e.ranOn))}`);
  const size = (text: string) => `${text.length} B, ${parseSamples(text).length} samples`;
  console.log(
    `metrics-promtool: requests by ran_on ${summary.join(', ')}; /metrics ${edges()
      .map((e) => `${e.id} ${size(e.text)}`)
      .join(', ')}, cloud-a ${size(cloudText)}`,
  );
}, 240_000);

afterAll(async () => {
  for (const edge of edges()) if (edge?.process.child.exitCode === null) edge.process.child.kill('SIGKILL');
  if (cloud?.child.exitCode === null) cloud.child.kill('SIGKILL');
  await admin?.close();
});

/** Runs `promtool check metrics` on `text`: its exit code and everything it printed. */
async function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  child.stdin.end(text);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, output };
}

const count = (edge: MeasuredEdge, where: string) => edge.ranOn.get(where) ?? 0;
const sum = (samples: readonly Sample[]) => samples.reduce((total, s) => total + s.value, 0);

describe('/metrics of real edge agents and a cloud replica', () => {
  it('served early exits, cloud tails and local fallbacks (what the series below describe)', () => {
    expect(count(exiting, 'edge')).toBeGreaterThan(0);
    expect(count(offloading, 'cloud')).toBe(30);
    expect(count(offloading, 'fallback')).toBe(10);
  });

  it.each([
    ['edge gw-exits', () => exiting.text],
    ['edge gw-offload', () => offloading.text],
    ['cloud', () => cloudText],
  ])('%s: promtool check metrics passes with no lint output', async (side, text) => {
    const { code, output } = await promtoolCheck(text());
    console.log(`promtool check metrics (${side}): exit ${code}, ${output.length} characters of output`);
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('uses base units and one label scheme: agent on every edge series, replica on every cloud series', () => {
    const pages = [
      ...edgeText().map((text) => [text, 'agent', 'cleave_edge_'] as const),
      [cloudText, 'replica', 'cleave_tail_'] as const,
    ];
    for (const [text, instance, prefix] of pages) {
      const samples = parseSamples(text);
      expect(samples.filter((s) => /_ms(_|$)|milli/.test(s.name))).toEqual([]);
      const own = samples.filter((s) => s.name.startsWith(prefix) || /^(process|nodejs)_/.test(s.name));
      expect(own.length).toBeGreaterThan(20);
      expect(own.filter((s) => s.labels[instance] === undefined)).toEqual([]);
    }
    const edgeRequests = parseSamples(offloading.text).find((s) => s.name === 'cleave_edge_requests_total')!;
    // Both agents offload some requests, so the replica has one series per split: take the offloading agent's.
    const cloudRequests = parseSamples(cloudText).find(
      (s) => s.name === 'cleave_tail_requests_total' && s.labels['split'] === offloading.split,
    )!;
    const tail = (l: Readonly<Record<string, string>>) => ({
      model: l['model'],
      version: l['version'],
      split: l['split'],
    });
    expect(tail(edgeRequests.labels)).toEqual({ model: 'fmnist', version: bundle.version, split: offloading.split });
    expect(cloudRequests, `no cleave_tail_requests_total with split="${offloading.split}"`).toBeDefined();
    expect(tail(cloudRequests.labels)).toEqual(tail(edgeRequests.labels));
    expect(edgeRequests.labels['agent']).toBe('gw-offload');
    expect(cloudRequests.labels['replica']).toBe('cloud-a');
    expect(sum(parseSamples(cloudText).filter((s) => s.name === 'cleave_tail_requests_total'))).toBe(
      count(exiting, 'cloud') + count(offloading, 'cloud'),
    );
  });

  it('exports every error code from the start (0 when none happened)', () => {
    const codes = (text: string, name: string) =>
      new Set(parseSamples(text).flatMap((s) => (s.name === name ? [s.labels['code']] : [])));
    expect([...codes(cloudText, 'cleave_tail_errors_total')].sort()).toEqual(Object.values(WireErrorCode).sort());
    for (const text of edgeText()) {
      expect([...codes(text, 'cleave_edge_errors_total')].sort()).toEqual(Object.values(EdgeErrorCode).sort());
    }
  });

  it('starts the exit and fallback series of the split in use at 0, before any such event', () => {
    const series = (text: string, name: string, label: string) =>
      new Set(parseSamples(text).flatMap((s) => (s.name === name ? [s.labels[label]] : [])));
    const exitsOfSplit = bundle.manifest.candidates.find((c) => c.id === exiting.split)?.exits ?? [];
    expect(exitsOfSplit.length).toBeGreaterThan(0);
    expect([...series(exiting.text, 'cleave_edge_exits_total', 'exit')].sort()).toEqual([...exitsOfSplit].sort());
    // Reasons that never happened here are exported too, at 0: an alert on rate() needs the series to exist.
    for (const edge of edges()) {
      const reasons = series(edge.text, 'cleave_edge_fallbacks_total', 'reason');
      expect(reasons).toContain('circuit_open');
      expect(reasons).toContain('timeout');
      expect(reasons).toContain('overloaded');
    }
  });

  it('resolves sub-millisecond edge latencies', () => {
    const buckets = parseSamples(exiting.text).filter((s) => s.name === 'cleave_edge_request_duration_seconds_bucket');
    const bounds = [...new Set(buckets.map((s) => Number(s.labels['le'])))].sort((a, b) => a - b);
    const below = (seconds: number) =>
      sum(buckets.filter((s) => s.labels['ran_on'] === 'edge' && Number(s.labels['le']) === seconds));
    console.log(
      `edge latency buckets: first ${bounds[0]} s, ${bounds.filter((b) => b < 0.001).length} below 1 ms; ` +
        `early exits under 0.5 ms ${below(0.0005)} / under 1 ms ${below(0.001)} of ${count(exiting, 'edge')}`,
    );
    expect(bounds[0]).toBe(0.00005);
    expect(bounds.filter((b) => b < 0.001).length).toBeGreaterThanOrEqual(4);
  });

  it('reports the state of each agent: what it runs, battery, breaker, exits and fallbacks by name', () => {
    for (const edge of edges()) {
      const samples = parseSamples(edge.text);
      const info = samples.filter((s) => s.name === 'cleave_edge_model_info');
      expect(info).toHaveLength(1);
      expect(info[0]!.labels).toMatchObject({
        agent: edge.id,
        model: 'fmnist',
        version: bundle.version,
        split: edge.split,
      });
      expect(info[0]!.value).toBe(1);
      expect(samples.find((s) => s.name === 'cleave_edge_battery_level_ratio')?.value).toBe(0.8);
      const breaker = samples.filter((s) => s.name === 'cleave_edge_breaker_state');
      expect(breaker.map((s) => s.labels['state']).sort()).toEqual(['closed', 'half-open', 'open']);
      expect(sum(breaker)).toBe(1);
      expect(sum(samples.filter((s) => s.name === 'cleave_edge_exits_total'))).toBe(count(edge, 'edge'));
      expect(sum(samples.filter((s) => s.name === 'cleave_edge_fallbacks_total'))).toBe(count(edge, 'fallback'));
      expect(samples.find((s) => s.name === 'process_resident_memory_bytes')!.value).toBeGreaterThan(10e6);
    }
    const sent = parseSamples(offloading.text).find((s) => s.name === 'cleave_edge_sent_bytes_total');
    expect(sent?.value).toBeGreaterThan(0);
  });
});

describe('deploy/grafana/cleave-dashboard.json', () => {
  it('names only series the running edges and cloud export', async () => {
    const dashboard: unknown = JSON.parse(
      await readFile(join(REPO_ROOT, 'deploy/grafana/cleave-dashboard.json'), 'utf8'),
    );
    const named = dashboardMetricNames(dashboard);
    const exported = new Set([...edgeText(), cloudText].flatMap((text) => [...exportedSeries(text)]));
    const missing = [...named.keys()].filter((name) => !exported.has(name));
    console.log(
      `grafana dashboard: ${named.size} metric names in its queries, ${missing.length} not exported` +
        (missing.length === 0 ? '' : `: ${missing.map((m) => `${m} (${named.get(m)})`).join(', ')}`),
    );
    expect(named.size).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });
});
