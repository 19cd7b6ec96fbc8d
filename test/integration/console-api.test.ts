import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { ReadableStream } from 'node:stream/web';
import { join } from 'node:path';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { EXAMPLE_MODEL_WITH_EXITS } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { createConsoleApp, createConsoleAuth, createConsoleData, CSRF_HEADER } from '@cleave/console';
import { loadMnistSplit, partitionModel } from '@cleave/partitioner';
import { testPublisher, useTestNats } from '../harness/mod.js';

const nats = useTestNats();
const TOKEN = 'console-test-token-0123456789';
let nc: NatsConnection;
let app: Awaited<ReturnType<typeof createConsoleApp>>;
let version: string;

beforeAll(async () => {
  const { url, prefix } = nats();
  nc = await connect({ servers: url });
  const out = join(await mkdtemp(join(tmpdir(), 'cleave-console-')), 'bundle');
  const train = await loadMnistSplit('train');
  const result = await partitionModel({
    modelPath: EXAMPLE_MODEL_WITH_EXITS,
    outDir: out,
    modelId: 'fmnist',
    profile: { runs: 2, nodeBreakdown: false },
    calibration: { data: train, source: 'train', holdoutSamples: 2000 },
  });
  version = result.version;
  await publishBundle(nc, out, { prefix, signingKey: testPublisher().seed });
  app = await createConsoleApp({
    data: createConsoleData(nc, { prefix }),
    auth: createConsoleAuth({ token: TOKEN, secret: 'test-secret' }),
    eventIntervalMs: 200,
  });
});
afterAll(async () => {
  await nc?.close();
});

const bearer = { authorization: `Bearer ${TOKEN}` };

async function login(): Promise<{ cookie: string; csrf: string }> {
  const res = await app.request('/login', {
    method: 'POST',
    body: new URLSearchParams({ token: TOKEN, name: 'alice' }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect(res.status).toBe(303);
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
  const page = await (await app.request('/', { headers: { cookie } })).text();
  const csrf = /name="cleave-csrf" content="([^"]+)"/.exec(page)![1]!;
  return { cookie, csrf };
}

describe('console API (through app.request)', () => {
  it('requires authentication on every route except health and login', async () => {
    expect((await app.request('/healthz')).status).toBe(200);
    expect((await app.request('/login')).status).toBe(200);
    for (const path of ['/api/fleet', '/api/cloud', '/api/bundles', '/api/policies', '/api/audit']) {
      const res = await app.request(path);
      expect(res.status, path).toBe(401);
      expect(await res.json()).toEqual({ error: 'authentication required' });
    }
    expect(
      (await app.request('/api/fleet', { headers: { authorization: 'Bearer wrong-token-xxxxxxxxxx' } })).status,
    ).toBe(401);
    const page = await app.request('/');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login');
    const bad = await app.request('/login', {
      method: 'POST',
      body: new URLSearchParams({ token: 'nope' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(bad.status).toBe(401);
  });

  it('rejects a malformed policy with 400 and an error per field', async () => {
    const res = await app.request('/api/policies/fleet', {
      method: 'PUT',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ objective: 'fastest', floorAccuracy: 1.5, deadlineMs: 'soon', turbo: true }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { fieldErrors: Record<string, string[]> };
    expect(Object.keys(body.fieldErrors).sort()).toEqual(['deadlineMs', 'floorAccuracy', 'objective', 'turbo']);
    const notJson = await app.request('/api/policies/fleet', { method: 'PUT', headers: bearer, body: '{oops' });
    expect(notJson.status).toBe(400);
    const badAgent = await app.request('/api/policies/agents/bad.agent', {
      method: 'PUT',
      headers: bearer,
      body: JSON.stringify({}),
    });
    expect(badAgent.status).toBe(400);
  });

  it('cookie sessions must send the CSRF header on writes; valid changes are recorded with who and when', async () => {
    const { cookie, csrf } = await login();
    const body = JSON.stringify({ objective: 'energy', budgetPoints: 2 });
    const forged = await app.request('/api/policies/agents/gw-1', { method: 'PUT', headers: { cookie }, body });
    expect(forged.status).toBe(403);
    const ok = await app.request('/api/policies/agents/gw-1', {
      method: 'PUT',
      headers: { cookie, [CSRF_HEADER]: csrf },
      body,
    });
    expect(ok.status).toBe(200);
    const policies = (await (await app.request('/api/policies', { headers: { cookie } })).json()) as {
      agents: Record<string, unknown>;
    };
    expect(policies.agents['gw-1']).toEqual({ objective: 'energy', budgetPoints: 2 });
    const audit = (await (await app.request('/api/audit', { headers: bearer })).json()) as {
      entries: { who: string; action: string; target: string; at: string }[];
    };
    expect(audit.entries[0]).toMatchObject({ who: 'alice', action: 'set-policy', target: 'agent gw-1' });
    expect(Date.parse(audit.entries[0]!.at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('lists bundles, explains the split at a bandwidth, and promotes only versions that exist', async () => {
    const bundles = (await (await app.request('/api/bundles', { headers: bearer })).json()) as {
      models: { model: string; current: string; versions: string[] }[];
    };
    expect(bundles.models).toEqual([{ model: 'fmnist', current: version, versions: [version] }]);
    const costs = (await (
      await app.request(`/api/bundles/fmnist/${version}/costs?mbps=5.85&objective=latency`, { headers: bearer })
    ).json()) as {
      best: string;
      downlinkRatio: number;
      bars: {
        candidate: string;
        edgeMs: number;
        transferMs: number;
        cloudMs: number;
        latencyMs: number;
        payloadBytes: number;
        replyPayloadBytes: number;
      }[];
    };
    expect(costs.bars.length).toBeGreaterThan(1);
    // Replies are costed: every option that sends a request also brings back every final output.
    for (const bar of costs.bars) {
      if (bar.payloadBytes > 0) expect(bar.replyPayloadBytes).toBeGreaterThan(1024);
      else expect(bar.replyPayloadBytes).toBe(0);
    }
    expect(costs.downlinkRatio).toBeGreaterThan(0);
    expect(costs.best).toBe(costs.bars[0]!.candidate);
    for (const bar of costs.bars) expect(bar.latencyMs).toBeGreaterThanOrEqual(costs.bars[0]!.latencyMs);
    expect((await app.request(`/api/bundles/fmnist/${version}/costs?mbps=-1`, { headers: bearer })).status).toBe(400);
    expect((await app.request('/api/bundles/fmnist/v000000000000', { headers: bearer })).status).toBe(404);
    const promote = await app.request('/api/models/fmnist/current', {
      method: 'PUT',
      headers: bearer,
      body: JSON.stringify({ version: 'v000000000000' }),
    });
    expect(promote.status).toBe(404);
    const again = await app.request('/api/models/fmnist/current', {
      method: 'PUT',
      headers: bearer,
      body: JSON.stringify({ version }),
    });
    expect(again.status).toBe(200);
  });

  it("shows a version's task, its final outputs and how its exit curve reads, next to the unchanged manifest", async () => {
    const manifest = (await (await app.request(`/api/bundles/fmnist/${version}`, { headers: bearer })).json()) as {
      format: string;
      model: { task?: string; final?: string };
    };
    expect(manifest.format).toBe('cleave.bundle/v1');
    const res = await app.request(`/api/bundles/fmnist/${version}/view`, { headers: bearer });
    expect(res.status).toBe(200);
    const view = (await res.json()) as {
      task: string;
      taskDeclared: boolean;
      finals: { name: string; dtype: string; shape: unknown[]; primary: boolean }[];
      exits: string[];
      exitCurve: { available: boolean; note: string | null; metric: string; reference: string | null };
      candidates: { id: string; kind: string; replyBytesPerSample: Record<string, number> | null }[];
    };
    expect(view.task).toBe(manifest.model.task ?? 'classification');
    expect(view.task).toBe('classification');
    // The example model has one final output, [N, 10] class logits, and two built-in exits calibrated on labels.
    expect(view.finals).toEqual([
      { name: manifest.model.final, dtype: 'float32', shape: [expect.anything(), 10], primary: true },
    ]);
    expect(view.exits.length).toBeGreaterThan(0);
    expect(view.exitCurve).toEqual({ available: true, note: null, metric: 'accuracy', reference: 'labels' });
    for (const c of view.candidates) {
      if (c.kind === 'edge-only') continue;
      expect(c.replyBytesPerSample?.f32).toBe(40);
    }
    expect((await app.request('/api/bundles/fmnist/bad.version/view', { headers: bearer })).status).toBe(400);
    expect((await app.request('/api/bundles/fmnist/v000000000000/view', { headers: bearer })).status).toBe(404);
  });

  it('streams live snapshots over server-sent events', async () => {
    const res = await app.request('/api/events', { headers: bearer });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const chunk = await reader.read();
    // The fleet page first (read from memory), the replicas after them (they answer within the discovery wait).
    let text = new TextDecoder().decode(chunk.value);
    while (!text.includes('event: replicas')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toMatch(/event: snapshot\ndata: \{"total":\d+,"offset":0,"agents":\[.*\],"summary":\{.*\}\}\n/);
    expect(text).toMatch(/event: replicas\ndata: \{"replicas":\[.*\]\}\n/);
    await reader.cancel();
  });
});
