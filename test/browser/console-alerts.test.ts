// Alerts in the console, in headless Chromium: two real agents (one behind a userspace-emulated link) and a real
// tail replica. Cutting the link raises a stale-agent alert with its reason on the page and as a gauge on
// /metrics; restoring it clears the alert (listed as cleared, the gauge at 0). Stopping the replica raises
// "no replica". The page has no horizontal overflow on a 390 px phone while alerts are shown.
// Code that runs inside the page is passed as strings (see console.test.ts for why).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { REPO_ROOT, startEmbeddedNats, type EmbeddedNats } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { EdgeClient } from '@cleave/edge-agent';
import {
  buildEdgeBundle,
  type CloudProcess,
  type ConsoleProcess,
  type EdgeProcess,
  launchChromium,
  type LinkEmulator,
  startCloudProcess,
  startConsoleProcess,
  startEdgeProcess,
  startLinkEmulator,
  waitFor,
} from '../harness/mod.js';

const TOKEN = 'alerts-test-token-0123456789';
const PREFIX = 'cleave';
const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts', 'console');

let work: string;
let nats: EmbeddedNats;
let nc: NatsConnection;
let link: LinkEmulator;
let cloud: CloudProcess;
let consoleProc: ConsoleProcess;
let browser: Browser;
const agents: EdgeProcess[] = [];

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  work = await mkdtemp(join(tmpdir(), 'cleave-browser-alerts-'));
  const bundle = await buildEdgeBundle(join(work, 'bundle'), { runs: 1 });
  nats = await startEmbeddedNats();
  nc = await connect({ servers: nats.url });
  await publishBundle(nc, bundle.dir, { prefix: PREFIX, makeCurrent: true });
  cloud = await startCloudProcess(['--nats-url', nats.url, '--prefix', PREFIX, '--http-port', '0']);
  link = await startLinkEmulator({ host: '127.0.0.1', port: nats.port }, { rateMbps: 20, delayMs: 5 });
  for (const [agentId, natsUrl] of [
    ['gw-linked', link.url],
    ['gw-direct', nats.url],
  ] as const) {
    agents.push(await startEdgeProcess({ agentId, natsUrl, prefix: PREFIX, workDir: work, heartbeatIntervalMs: 500 }));
  }
  for (const agent of agents) {
    const client = new EdgeClient({ url: agent.httpUrl });
    await waitFor(() => client.ready(), `${agent.agentId} ready`, 60_000, 100);
  }
  consoleProc = await startConsoleProcess(nats.url, PREFIX, TOKEN);
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await consoleProc?.stop();
  await Promise.all(agents.map((a) => a.stop()));
  await link?.close();
  if (cloud && cloud.child.exitCode === null) {
    cloud.child.kill('SIGTERM');
    await cloud.exited;
  }
  await nc?.close();
  await nats?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function loggedInPage(width: number, height: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  await page.goto(`${consoleProc.url}/login`);
  await page.fill('input[name="name"]', 'alerts-test');
  await page.fill('input[name="token"]', TOKEN);
  await page.click('button[type="submit"]');
  await page.waitForSelector('#alert-list');
  return page;
}

/** The console's /metrics, scraped as Prometheus would (bearer token). */
async function scrape(): Promise<string> {
  const res = await fetch(`${consoleProc.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
  return res.text();
}
const gauge = (metrics: string, alert: string, agent: string) =>
  new RegExp(`^cleave_console_alerts\\{alert="${alert}",agent="${agent}",[^}]*\\} (\\d)$`, 'm').exec(metrics)?.[1];

const staleItem = (page: Page, list: string) =>
  page.locator(`${list} li[data-alert="stale_agent"][data-agent="gw-linked"]`);

describe('alerts in the console', () => {
  it('raises a stale-agent alert when its link is cut, with the reason, and clears it once restored', async () => {
    const page = await loggedInPage(1280, 800);
    await expect.poll(() => page.locator('#alert-list .alert-none').count(), { timeout: 15_000 }).toBe(1);
    expect(gauge(await scrape(), 'stale_agent', 'gw-linked')).toBeUndefined();

    const cutAt = Date.now();
    link.cut();
    await expect.poll(() => staleItem(page, '#alert-list').count(), { timeout: 20_000 }).toBe(1);
    const raisedAfterMs = Date.now() - cutAt;
    const reason = (await staleItem(page, '#alert-list').textContent()) ?? '';
    console.log(`link cut: alert shown after ${raisedAfterMs} ms: "${reason}"`);
    expect(reason).toMatch(/stale agent · gw-linked no heartbeat for \d+ intervals of 500 ms \(last [\d.]+ s ago\)/);
    expect(await page.locator('#alert-count').textContent()).toBe('1');
    expect(await page.locator('#alert-list li[data-agent="gw-direct"]').count()).toBe(0);
    expect(gauge(await scrape(), 'stale_agent', 'gw-linked')).toBe('1');
    await page.screenshot({ path: join(ARTIFACTS, 'alert-stale-1280x800.png'), fullPage: true });

    const phone = await loggedInPage(390, 844);
    await expect.poll(() => staleItem(phone, '#alert-list').count(), { timeout: 10_000 }).toBe(1);
    const overflow = await phone.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    await phone.screenshot({ path: join(ARTIFACTS, 'alert-stale-390.png'), fullPage: true });
    expect(overflow).toBeLessThanOrEqual(1);
    await phone.close();

    const restoredAt = Date.now();
    link.restore();
    await expect.poll(() => staleItem(page, '#alert-list').count(), { timeout: 30_000 }).toBe(0);
    const clearedAfterMs = Date.now() - restoredAt;
    expect(await staleItem(page, '#alert-cleared').count()).toBe(1);
    expect(await staleItem(page, '#alert-cleared').textContent()).toMatch(/raised \d+ s ago, cleared \d+ s ago/);
    expect(gauge(await scrape(), 'stale_agent', 'gw-linked')).toBe('0');
    console.log(`link restored: alert cleared after ${clearedAfterMs} ms`);
    await page.close();
  }, 90_000);

  it('raises "no replica" once the tail replica stops', async () => {
    const page = await loggedInPage(1280, 800);
    cloud.child.kill('SIGTERM');
    await cloud.exited;
    const item = page.locator('#alert-list li[data-alert="no_replica"]');
    await expect.poll(() => item.count(), { timeout: 20_000 }).toBe(1);
    const text = (await item.textContent()) ?? '';
    console.log(`replica stopped: "${text}"`);
    expect(text).toContain('no tail replica answers $SRV while 1 model(s) are current');
    expect(await scrape()).toMatch(/^cleave_console_alerts\{alert="no_replica",[^}]*severity="critical"\} 1$/m);
    await page.close();
  }, 60_000);
});
