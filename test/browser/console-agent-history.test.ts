// The per-agent page in headless Chromium: a real nats-server, a console process (which records the heartbeat
// history) and a real edge agent beating every 500 ms under Fashion-MNIST traffic. The page's Chart.js charts are
// drawn from the history stream (a point's values are those of the heartbeat written then), an objective change
// set through the policy API appears as a marker, the decision, reason and breaker are shown, and a 390 px phone
// has no horizontal overflow. Code that runs inside the page is passed as strings (see console.test.ts for why).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { REPO_ROOT, startEmbeddedNats, type EmbeddedNats } from '@cleave/cli';
import { openHeartbeatKv, publishBundle } from '@cleave/node-runtime';
import { decodeMessage } from '@cleave/proto';
import { EdgeClient } from '@cleave/edge-agent';
import {
  buildEdgeBundle,
  type ConsoleProcess,
  type EdgeProcess,
  fashionSamples,
  launchChromium,
  startConsoleProcess,
  startEdgeProcess,
  waitFor,
  watchCsp,
} from '../harness/mod.js';

const TOKEN = 'history-test-token-0123456789';
const PREFIX = 'cleave';
const AGENT = 'gw-history';
const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts', 'console');

let work: string;
let nats: EmbeddedNats;
let nc: NatsConnection;
let consoleProc: ConsoleProcess;
let agent: EdgeProcess;
let browser: Browser;
let traffic: Promise<void> | undefined;
let sending = true;
/** Content-Security-Policy violations reported by the pages opened here. */
const cspViolations: string[] = [];

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  work = await mkdtemp(join(tmpdir(), 'cleave-browser-history-'));
  const bundle = await buildEdgeBundle(join(work, 'bundle'), { runs: 1 });
  nats = await startEmbeddedNats();
  nc = await connect({ servers: nats.url });
  await publishBundle(nc, bundle.dir, { prefix: PREFIX, makeCurrent: true });
  // The console first: it creates the history stream, which then mirrors every beat the agent writes.
  consoleProc = await startConsoleProcess(nats.url, PREFIX, TOKEN);
  agent = await startEdgeProcess({ agentId: AGENT, natsUrl: nats.url, prefix: PREFIX, workDir: work });
  const client = new EdgeClient({ url: agent.httpUrl });
  await waitFor(() => client.ready(), `${AGENT} ready`, 60_000, 100);
  const { images } = await fashionSamples(20);
  traffic = (async () => {
    for (let i = 0; sending; i = (i + 1) % images.length) {
      await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: images[i]! } });
      await sleep(25);
    }
  })();
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  sending = false;
  await traffic;
  await browser?.close();
  await consoleProc?.stop();
  await agent?.stop();
  await nc?.close();
  await nats?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const api = (path: string, init: RequestInit = {}) =>
  fetch(`${consoleProc.url}/api${path}`, {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
  });

async function agentPage(width: number, height: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  await watchCsp(page, cspViolations);
  await page.goto(`${consoleProc.url}/login`);
  await page.fill('input[name="name"]', 'history-test');
  await page.fill('input[name="token"]', TOKEN);
  await page.click('button[type="submit"]');
  await page.waitForSelector('#fleet-table');
  // The fleet table's agent id is the way in.
  const link = page.locator(`#fleet-table tbody tr[data-agent="${AGENT}"] td a`);
  await expect.poll(() => link.count(), { timeout: 15_000 }).toBe(1);
  expect(await link.getAttribute('href')).toBe(`/agents/${AGENT}`);
  await link.click();
  await page.waitForSelector('#agent-decision dt');
  return page;
}

/** `[x, y]` of every point of one dataset of one chart, read from the Chart.js instance the page drew. */
const chartPoints = (page: Page, chart: string, dataset: number) =>
  page.evaluate<[number, number | null][]>(
    `window.CleaveAgent.charts.${chart}.data.datasets[${dataset}].data.map((p) => [p.x, p.y])`,
  );

describe('the per-agent page', () => {
  it('validates the agent id and gives an empty series for an agent without history', async () => {
    const bad = await api('/agents/bad.agent/history');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { fieldErrors: Record<string, string[]> }).fieldErrors['agentId']).toHaveLength(1);
    const tooLong = await api(`/agents/${AGENT}/history?minutes=1441`);
    expect(tooLong.status).toBe(400);
    const none = await api('/agents/gw-nobody/history');
    expect(none.status).toBe(200);
    expect(await none.json()).toMatchObject({ agentId: 'gw-nobody', points: [], markers: [], beats: 0 });
    expect((await api('/agents/gw-nobody')).status).toBe(404);
  });

  it('draws the history from live data, marks an objective change and shows decision, reason and breaker', async () => {
    const startedAt = Date.now();
    await expect
      .poll(async () => ((await (await api(`/agents/${AGENT}/history`)).json()) as { beats: number }).beats, {
        timeout: 20_000,
      })
      .toBeGreaterThanOrEqual(8);
    // A different objective for this agent: its next decision and heartbeats carry it.
    const put = await api(`/policies/agents/${AGENT}`, {
      method: 'PUT',
      body: JSON.stringify({ objective: 'energy' }),
    });
    expect(put.status).toBe(200);

    const page = await agentPage(1280, 900);
    const objectiveRows = page.locator('#marker-table tbody tr.marker-objective');
    await expect.poll(() => objectiveRows.count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
    expect(await objectiveRows.first().textContent()).toContain('energy');
    const annotations = await page.evaluate<number>(
      'Object.keys(window.CleaveAgent.charts.latency.options.plugins.annotation.annotations).length',
    );
    expect(annotations).toBeGreaterThanOrEqual(1);

    // A point of every chart is the heartbeat written then: take the latest one from KV and find it on the page.
    const entry = (await (await openHeartbeatKv(nc, PREFIX)).get(AGENT))!;
    const hb = decodeMessage(entry.value);
    if (hb.kind !== 'heartbeat') throw new Error('not a heartbeat');
    const model = hb.models[0]!;
    const writtenAt = entry.created.getTime();
    // Mirrored beats keep their server timestamp; 250 ms (half an interval) tells neighbours apart either way.
    const near = (points: [number, number | null][]) => points.find(([x]) => Math.abs(x - writtenAt) < 250);
    await expect
      .poll(async () => near(await chartPoints(page, 'latency', 0)) !== undefined, { timeout: 10_000 })
      .toBe(true);
    const latency = await chartPoints(page, 'latency', 0);
    expect(latency.length).toBeGreaterThanOrEqual(8);
    console.log(`latest beat ${writtenAt}, chart point at ${near(latency)![0]}; ${latency.length} points`);
    expect(near(latency)![1]).toBe(model.requests === 0 ? null : model.p50Ms);
    expect(near(await chartPoints(page, 'latency', 1))![1]).toBe(model.requests === 0 ? null : model.p95Ms);
    expect(near(await chartPoints(page, 'exit', 0))![1]).toBeCloseTo(
      model.requests === 0 ? Number.NaN : ((model.exits ?? 0) / model.requests) * 100,
      6,
    );
    expect(near(await chartPoints(page, 'ranOn', 0))![1]).toBe(model.exits);
    expect(near(await chartPoints(page, 'ranOn', 2))![1]).toBe(model.cloud);
    expect(near(await chartPoints(page, 'ranOn', 3))![1]).toBe(model.fallbacks);
    expect(near(await chartPoints(page, 'link', 0))![1]).toBe(hb.bandwidthMbps ?? null);
    // Requests ran through the agent in the window, not only idle beats.
    const ran = await chartPoints(page, 'ranOn', 0);
    expect(
      ran.some(([, y]) => (y ?? 0) > 0) || (await chartPoints(page, 'ranOn', 1)).some(([, y]) => (y ?? 0) > 0),
    ).toBe(true);

    expect(await page.locator('#field-decision').textContent()).toContain(`${model.split}`);
    await expect.poll(() => page.locator('#field-objective').textContent(), { timeout: 10_000 }).toContain('energy');
    // The page refreshes every 3 s from the latest heartbeat: it catches up with the one read above.
    await expect.poll(() => page.locator('#field-breaker').textContent(), { timeout: 10_000 }).toBe(hb.breaker ?? '–');
    await expect.poll(() => page.locator('#field-reason').textContent(), { timeout: 10_000 }).toBe(model.reason ?? '–');
    expect(await page.locator('#switch-table tbody tr').count()).toBeGreaterThanOrEqual(1);
    await page.screenshot({ path: join(ARTIFACTS, 'agent-history-1280x900.png'), fullPage: true });
    await page.close();

    const phone = await agentPage(390, 844);
    await expect
      .poll(() => chartPoints(phone, 'latency', 0).then((p) => p.length), { timeout: 10_000 })
      .toBeGreaterThan(0);
    const overflow = await phone.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    await phone.screenshot({ path: join(ARTIFACTS, 'agent-history-390.png'), fullPage: true });
    expect(overflow).toBeLessThanOrEqual(1);
    await phone.close();
    expect(cspViolations).toEqual([]);
    console.log(`agent page test body took ${Date.now() - startedAt} ms`);
  }, 60_000);
});
