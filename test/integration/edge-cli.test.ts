// `cleave edge` as a process: JSON logs, a configuration error reported whole with a non-zero exit, the example
// configuration in deploy/ valid, a graceful stop on SIGTERM after serving requests, and one OpenTelemetry trace
// from the caller through the edge agent and NATS into a `cleave cloud` replica.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { REPO_ROOT } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { EdgeClient, resolveEdgeConfig } from '@cleave/edge-agent';
import {
  buildEdgeBundle,
  type CloudProcess,
  type EdgeBundle,
  fashionSamples,
  runCleave,
  splitWithoutExits,
  startCleave,
  startCloudProcess,
  useTestNats,
  waitFor,
} from '../harness/mod.js';

const nats = useTestNats();
let bundle: EdgeBundle;
let admin: NatsConnection;
let work: string;
let cloud: CloudProcess;
let collector: Server;
let otlp: string;
const exported: { path: string; body: Record<string, unknown> }[] = [];
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'edge-cli-'));
  bundle = await buildEdgeBundle(join(work, 'bundle'), { calibrate: false });
  admin = await connect({ servers: nats().url });
  await publishBundle(admin, bundle.dir, { prefix: nats().prefix });
  // A stand-in OTLP/HTTP collector: the JSON exporters of both processes post to /v1/traces and /v1/metrics.
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      exported.push({ path: req.url ?? '', body: JSON.parse(body || '{}') as Record<string, unknown> });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  otlp = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  const { url, prefix } = nats();
  cloud = await startCloudProcess(['--nats-url', url, '--prefix', prefix, '--http-port', '0', '--otlp-endpoint', otlp]);
}, 120_000);

afterAll(async () => {
  if (cloud?.child.exitCode === null) cloud.child.kill('SIGKILL');
  collector?.close();
  await admin?.close();
});

describe('cleave edge', () => {
  it('reports every configuration problem in one line and exits non-zero', async () => {
    const config = join(work, 'bad.yaml');
    await writeFile(config, 'agentId: "no spaces allowed"\nmodels: []\nhttp: { port: 70000 }\nbatery: {}\n');
    const result = await runCleave(['edge', '--config', config, '--deadline-ms', 'soon'], { timeoutMs: 30_000 });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^cleave: EdgeConfigError: invalid configuration \(5 problems\)/);
    for (const field of ['agentId', 'models', 'http.port', 'batery: unknown setting', 'policy.deadlineMs']) {
      expect(lines[0]).toContain(field);
    }
  });

  it('accepts the example configuration in deploy/', async () => {
    const config = await resolveEdgeConfig({ configPath: join(REPO_ROOT, 'deploy', 'edge.example.yaml') });
    expect(config).toMatchObject({ agentId: 'gw-wifi', http: { host: '127.0.0.1', port: 8470 } });
  });

  it('serves, logs JSON lines, and drains and exits 0 on SIGTERM', async () => {
    const { url, prefix } = nats();
    // Pinned to a split without exits, so the request's tail runs in the cloud replica.
    const pinned = splitWithoutExits(bundle.manifest).id;
    const child = startCleave([
      'edge',
      '--agent-id',
      'gw-cli',
      '--nats-url',
      url,
      '--prefix',
      prefix,
      '--model',
      `fmnist:${pinned}`,
      '--otlp-endpoint',
      otlp,
      '--cache-dir',
      join(work, 'cache'),
      '--http-port',
      '0',
      '--battery-path',
      join(work, 'no-battery'),
    ]);
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const part of parts) lines.push(JSON.parse(part) as Record<string, unknown>);
    });
    const exited = once(child, 'exit');
    try {
      await waitFor(() => lines.some((l) => l['msg'] === 'edge agent started'), 'the start line', 30_000);
      const httpUrl = lines.find((l) => l['msg'] === 'edge agent started')!['http'] as string;
      const client = new EdgeClient({ url: httpUrl });
      await waitFor(() => client.ready(), 'readiness', 30_000, 100);
      const { images } = await fashionSamples(3);
      for (const image of images) {
        const r = await client.infer(
          'fmnist',
          { input: { dims: [1, 1, 28, 28], data: image } },
          // A generous deadline: the replica loads the tail on the first request, and a loaded CI machine must
          // not turn that into a local fallback (which would be correct behaviour, but not what this test checks).
          { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01`, deadlineMs: 20_000 },
        );
        expect(r).toMatchObject({ version: bundle.version, ranOn: 'cloud', split: pinned });
      }
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
      const messages = lines.map((l) => l['msg']);
      expect(messages).toEqual(expect.arrayContaining(['draining', 'edge agent stopped', 'edge agent exited']));
      expect(lines.every((l) => typeof l['time'] === 'number' || typeof l['time'] === 'string')).toBe(true);
      expect(lines.find((l) => l['event'] === 'switch')).toMatchObject({ model: 'fmnist', agentId: 'gw-cli' });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('exports one trace from the caller through the edge agent into the cloud replica', async () => {
    // The edge agent flushed on SIGTERM above; the replica flushes on its own stop.
    cloud.child.kill('SIGTERM');
    expect(await cloud.exited).toBe(0);
    const spans = exported
      .filter((e) => e.path === '/v1/traces')
      .flatMap((e) => (e.body['resourceSpans'] as { scopeSpans: { spans: Record<string, unknown>[] }[] }[]) ?? [])
      .flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans))
      .filter((s) => s['traceId'] === TRACE_ID);
    const attributes = (span: Record<string, unknown>) =>
      Object.fromEntries(
        (span['attributes'] as { key: string; value: Record<string, unknown> }[]).map((a) => [
          a.key,
          Object.values(a.value)[0],
        ]),
      );
    const edge = spans.filter((s) => s['name'] === 'cleave.edge.infer');
    expect(edge).toHaveLength(3);
    expect(edge.every((s) => s['parentSpanId'] === CALLER_SPAN)).toBe(true);
    expect(attributes(edge[0]!)).toMatchObject({
      'cleave.ran_on': 'cloud',
      'cleave.exit': 'none',
      'cleave.codec': 'f32',
    });
    expect(Number(attributes(edge[0]!)['cleave.bytes_sent'])).toBeGreaterThan(0);
    const offloads = spans.filter((s) => s['name'] === 'cleave.edge.offload');
    const cloudRoots = spans.filter((s) => s['name'] === 'cleave.tail.request');
    expect(cloudRoots).toHaveLength(3);
    const offloadIds = new Set(offloads.map((s) => s['spanId']));
    expect(cloudRoots.every((s) => offloadIds.has(s['parentSpanId']))).toBe(true);
  });
});
