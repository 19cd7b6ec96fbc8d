// Two `cleave cloud` processes in one queue group: they share the load, expose health and metrics over HTTP,
// export traces that continue the caller's trace over OTLP, and one of them drains on SIGTERM while requests are in
// flight without losing or duplicating a reply.
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import { tailSubject } from '@cleave/proto';
import {
  buildExampleBundle,
  type CloudProcess,
  createRetryingTailClient,
  exampleImages,
  inferRequest,
  maxAbsDiff,
  replyLogits,
  runHead,
  runTailLocally,
  startCloudProcess,
  type TestBundle,
  useTestNats,
} from '../harness/mod.js';

const nats = useTestNats();
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';
let nc: NatsConnection;
let bundle: TestBundle;
let split: string;
let payload: Uint8Array;
let expected: Float32Array;
let replicaA: CloudProcess;
let replicaB: CloudProcess;
let collector: Server;
const exported: { path: string; body: Record<string, unknown> }[] = [];

beforeAll(async () => {
  const work = await mkdtemp(join(tmpdir(), 'cleave-replicas-'));
  nc = await connect({ servers: nats().url });
  bundle = await buildExampleBundle(join(work, 'bundle'));
  await publishBundle(nc, bundle.dir, { prefix: nats().prefix });
  split = [...bundle.splits.keys()][Math.floor(bundle.splits.size / 2)]!;
  const cut = await runHead(bundle, split, exampleImages(2, 3), 2);
  expected = await runTailLocally(bundle, split, cut);
  payload = inferRequest({ model: bundle.model, version: bundle.version, split }, 'x', cut);

  // A stand-in OTLP/HTTP collector: the JSON exporter posts to /v1/traces and /v1/metrics.
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
  const otlp = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  const common = ['--nats-url', nats().url, '--prefix', nats().prefix, '--http-port', '0', '--intra-op-threads', '1'];
  [replicaA, replicaB] = await Promise.all([
    startCloudProcess([...common, '--replica', 'A', '--otlp-endpoint', otlp]),
    startCloudProcess([...common, '--replica', 'B']),
  ]);
});
afterAll(async () => {
  for (const r of [replicaA, replicaB]) if (r?.child.exitCode === null) r.child.kill('SIGKILL');
  collector?.close();
  await nc?.close();
});

const subject = () => tailSubject({ prefix: nats().prefix, model: bundle.model, version: bundle.version, split });

describe('cleave cloud replicas', () => {
  it('share the load of one queue group', async () => {
    const client = createRetryingTailClient(nc);
    const byReplica = new Map<string, number>();
    const ids = Array.from({ length: 300 }, (_, i) => `share-${i}`);
    for (let i = 0; i < ids.length; i += 12) {
      const results = await Promise.all(ids.slice(i, i + 12).map((id) => client.request(subject(), id, payload)));
      for (const { reply } of results) {
        expect(maxAbsDiff(replyLogits(reply), expected)).toBeLessThan(1e-4);
        const name = reply.kind === 'infer_reply' ? (reply.replica ?? '?') : '?';
        byReplica.set(name, (byReplica.get(name) ?? 0) + 1);
      }
    }
    client.close();
    expect(byReplica.get('A')! + byReplica.get('B')!).toBe(300);
    expect(byReplica.get('A')).toBeGreaterThan(300 * 0.2);
    expect(byReplica.get('B')).toBeGreaterThan(300 * 0.2);
  });

  it('report live and ready over HTTP and expose Prometheus metrics', async () => {
    for (const r of [replicaA, replicaB]) {
      const live = await fetch(`${r.httpUrl}/livez`);
      expect(live.status).toBe(200);
      const ready = await fetch(`${r.httpUrl}/readyz`);
      expect(await ready.json()).toEqual({ status: 'ready', reasons: [] });
      const metrics = await (await fetch(`${r.httpUrl}/metrics`)).text();
      expect(metrics).toMatch(
        new RegExp(
          `cleave_tail_requests_total\\{replica="[AB]",model="fmnist",version="${bundle.version}",split="${split}"[^}]*\\} \\d+`,
        ),
      );
      expect(metrics).toMatch(/cleave_tail_batch_size_bucket\{/);
      expect(metrics).toMatch(/cleave_tail_queue_depth\{[^}]*\} 0/);
    }
  });

  it('lose no request and answer none twice when one replica drains on SIGTERM mid-load', async () => {
    const client = createRetryingTailClient(nc);
    const total = 400;
    let answered = 0;
    let sigtermAt = Number.POSITIVE_INFINITY;
    let next = 0;
    const results: Awaited<ReturnType<typeof client.request>>[] = [];
    const worker = async () => {
      while (next < total) {
        const id = `drain-${next++}`;
        results.push(await client.request(subject(), id, payload, { traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` }));
        answered += 1;
        if (answered === 80) {
          sigtermAt = Date.now();
          replicaA.child.kill('SIGTERM');
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    client.close();

    expect(await replicaA.exited).toBe(0);
    expect(replicaA.logs.map((l) => l['msg'])).toEqual(
      expect.arrayContaining(['draining', 'tail service drained', 'cloud replica stopped']),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(total);
    for (const r of results) {
      expect(r.reply.kind).toBe('infer_reply');
      expect(maxAbsDiff(replyLogits(r.reply), expected)).toBeLessThan(1e-4);
    }
    expect([...client.repliesPerAttempt.values()].every((n) => n === 1)).toBe(true);
    const fromA = results.filter((r) => r.reply.kind === 'infer_reply' && r.reply.replica === 'A');
    expect(fromA.some((r) => r.receivedAt >= sigtermAt)).toBe(true); // it finished what it held after the signal
    const afterDrain = results.filter((r) => r.receivedAt > sigtermAt + 2000);
    expect(afterDrain.every((r) => r.reply.kind === 'infer_reply' && r.reply.replica === 'B')).toBe(true);
  });

  it('exported spans over OTLP that continue the caller trace: request, decode, queue, batch run, encode', () => {
    const spans = exported
      .filter((e) => e.path === '/v1/traces')
      .flatMap((e) => (e.body['resourceSpans'] as { scopeSpans: { spans: Record<string, unknown>[] }[] }[]) ?? [])
      .flatMap((rs) => rs.scopeSpans.flatMap((s) => s.spans));
    const roots = spans.filter((s) => s['name'] === 'cleave.tail.request' && s['traceId'] === TRACE_ID);
    expect(roots.length).toBeGreaterThan(0);
    expect(roots.every((s) => s['parentSpanId'] === PARENT_SPAN)).toBe(true);
    const children = new Set(spans.filter((s) => s['parentSpanId'] === roots[0]!['spanId']).map((s) => s['name']));
    expect([...children].sort()).toEqual(
      [
        'cleave.tail.batch_run',
        'cleave.tail.check',
        'cleave.tail.decode',
        'cleave.tail.encode',
        'cleave.tail.queue',
      ].sort(),
    );
    expect(exported.some((e) => e.path === '/v1/metrics')).toBe(true);
  });

  it('the remaining replica drains on SIGTERM and exits 0', async () => {
    replicaB.child.kill('SIGTERM');
    expect(await replicaB.exited).toBe(0);
    expect(replicaB.stderr()).toBe('');
  });
});
